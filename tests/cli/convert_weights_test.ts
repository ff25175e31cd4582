// posegpu convert-weights: PyTorch checkpoints written by torch 1.13 (tests/fixtures/gen_torch_checkpoints.py)
// to safetensors. A Martinez port checkpoint, converted with --model, gives PyTorch's forward through
// `posegpu run` and (with --stats-from) PyTorch's lift through `posegpu lift`, within 1e-4; a state dict
// whose keys differ from the model's is refused naming every key; plain conversions keep names, dtypes
// and values; bad inputs exit 1 with the file and the fault named.
import assert from "node:assert/strict";
import { type HostTensor, readSafetensors, readSafetensorsHeader, roundToF16 } from "../../engine/mod.ts";
import { readPoseDocument, writePoseDocument } from "../../pose/formats/detect.ts";
import { fixture } from "../_shared.ts";
import { assertCleanFailure, cli as posegpu } from "./_cli.ts";
import { h36mPoses2d } from "./_lifter.ts";

const T = (name: string) => fixture(`torch/${name}`);
const dir = await Deno.makeTempDir({ prefix: "posegpu_convert_weights_test_" });
const at = (name: string) => `${dir}/${name}`;
const expected = await readSafetensors(T("martinez_small_expected.safetensors"));
const CONFIG = JSON.parse(expected.metadata.config) as Record<string, number>;
const configArgs = Object.entries(CONFIG).map(([k, v]) => `${k}=${v}`);

/** `posegpu convert-weights --in FIXTURE --out OUT --model martinez [EXTRA] --config <the fixture's>`. */
function convertMartinez(fixtureName: string, out: string, extra: string[] = []): ReturnType<typeof posegpu> {
  return posegpu([
    "convert-weights",
    "--in",
    T(fixtureName),
    "--out",
    out,
    "--model",
    "martinez",
    ...extra,
    "--config",
    ...configArgs,
  ]);
}

function assertClose(got: Float32Array, want: HostTensor, what: string): void {
  assert.equal(got.length, want.data.length, `${what}: length`);
  let worst = 0, where = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want.data[i]) / Math.max(1, Math.abs(want.data[i]));
    if (!(err <= worst)) [worst, where] = [err, i];
  }
  assert.ok(
    worst <= 1e-4,
    `${what}: relative error ${worst} at ${where} (${got[where]} vs ${want.data[where]})`,
  );
}

Deno.test("convert-weights --model martinez: posegpu run gives PyTorch's output within 1e-4", async () => {
  const out = at("martinez.safetensors");
  const r = await convertMartinez("martinez_small.pth.tar", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /state dict at "state_dict": 37 tensors/);
  assert.match(r.out, /matches martinez .*every key and shape/);
  const header = await readSafetensorsHeader(out);
  assert.equal(header.metadata.model, "martinez");
  assert.deepEqual(
    Object.fromEntries(Object.keys(CONFIG).map((k) => [k, JSON.parse(header.metadata.config)[k]])),
    CONFIG,
  );
  assert.equal(header.metadata.source, "martinez_small.pth.tar:state_dict");
  assert.equal(header.entries.get("w1.weight")?.dtype, "F32");
  assert.equal(header.entries.get("batch_norm1.num_batches_tracked")?.dtype, "I64");

  const y = at("martinez_y.safetensors");
  const run = await posegpu([
    "run",
    "martinez",
    "--weights",
    out,
    "--input",
    T("martinez_small_expected.safetensors"),
    "--output",
    y,
  ]);
  assert.equal(run.code, 0, run.err);
  const got = (await readSafetensors(y)).tensors.get("output")!;
  assert.deepEqual(got.shape, expected.tensors.get("output")!.shape);
  assertClose(got.data as Float32Array, expected.tensors.get("output")!, "run output");
});

Deno.test("convert-weights --stats-from: posegpu lift gives PyTorch's lift within 1e-4", async () => {
  const out = at("martinez_lift.safetensors");
  const r = await convertMartinez("martinez_small.pth.tar", out, [
    "--stats-from",
    T("martinez_small_stats.safetensors"),
  ]);
  assert.equal(r.code, 0, r.err);
  const meta = (await readSafetensorsHeader(out)).metadata;
  assert.equal(meta.format, "posegpu-checkpoint/1");
  assert.equal(meta.epoch, "5", "the checkpoint's own epoch");
  const stats = (await readSafetensorsHeader(T("martinez_small_stats.safetensors"))).metadata;
  assert.deepEqual(JSON.parse(meta.normalization), JSON.parse(stats.normalization));

  const input = expected.tensors.get("lift_input")!;
  const frames = input.shape[0];
  const poses = at("poses2d.json");
  await writePoseDocument(poses, h36mPoses2d(input.data as Float32Array));
  const lifted = at("lifted.json");
  const lift = await posegpu([
    "lift",
    poses,
    "--weights",
    out,
    "--normalize",
    "h36m-camera",
    "--out",
    lifted,
  ]);
  assert.equal(lift.code, 0, lift.err);
  const xyz = (await readPoseDocument(lifted)).people[0].keypoints3d!;
  assert.equal(xyz.frames, frames);
  assertClose(xyz.coords, expected.tensors.get("lift_output")!, "lift output (mm)");
});

Deno.test("convert-weights --model: a renamed and a missing key are named, exit 1, nothing written", async () => {
  const out = at("renamed.safetensors");
  const r = await convertMartinez("martinez_renamed.pth", out);
  assertCleanFailure(r, { names: T("martinez_renamed.pth"), what: "renamed key" });
  assert.match(r.err, /does not match martinez/);
  assert.match(
    r.err,
    /2 missing keys:\n\s+linear_stages\.1\.batch_norm2\.running_var \[32\]\n\s+w2\.weight \[48, 32\]/,
  );
  assert.match(r.err, /1 unexpected key:\n\s+w3\.weight \[48, 32\]/);
  assert.doesNotMatch(r.err, /wrong-shape/);
  await assert.rejects(() => Deno.stat(out), "no output written");

  // The right names with the wrong configuration: every shape that differs, and a hint.
  const wide = await posegpu([
    "convert-weights",
    "--in",
    T("martinez_small.pth.tar"),
    "--out",
    out,
    "--model",
    "martinez",
  ]);
  assertCleanFailure(wide, {
    names: /wrong-shape keys:\n\s+w1\.weight: got \[32, 32\], expected \[1024, 32\]/,
    what: "shapes",
  });
  assert.match(wide.err, /is the configuration right\?/);
  await assert.rejects(() => Deno.stat(out), "no output written");
});

Deno.test("convert-weights without --model: names (module. removed), dtypes and values as saved", async () => {
  const tiny = await readSafetensors(T("tiny_expected.safetensors"));
  const keys: string[] = JSON.parse(tiny.metadata.keys);
  const out = at("dp.safetensors");
  const r = await posegpu(["convert-weights", "--in", T("dataparallel.pth"), "--out", out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /removed "module\." from 9 names/);
  const got = await readSafetensors(out);
  assert.deepEqual([...got.tensors.keys()].sort(), [...keys].sort());
  for (const k of keys) {
    const [a, b] = [got.tensors.get(k)!, tiny.tensors.get(k)!];
    assert.equal(a.dtype, b.dtype, k);
    assert.deepEqual(a.shape, b.shape, k);
    assert.deepEqual(Array.from(a.data), Array.from(b.data), k);
  }
  assert.equal(
    got.tensors.get("bn.num_batches_tracked")!.dtype,
    "I64",
    "num_batches_tracked stays an integer",
  );

  const kept = at("dp_kept.safetensors");
  assert.equal(
    (await posegpu(["convert-weights", "--in", T("dataparallel.pth"), "--out", kept, "--strip-prefix="]))
      .code,
    0,
  );
  assert.ok((await readSafetensorsHeader(kept)).entries.has("module.bn.weight"));

  // Every dtype: integers keep theirs, floats become F32 (exact for F16/BF16, f32-rounded for F64) or F16.
  const want = JSON.parse(await Deno.readTextFile(T("state_dict_expected.json")));
  const all = at("all.safetensors");
  assert.equal(
    (await posegpu(["convert-weights", "--in", T("state_dict_legacy.pth"), "--out", all])).code,
    0,
  );
  const file = await readSafetensors(all);
  const half = at("all_f16.safetensors");
  const h = await posegpu(["convert-weights", "--in", T("state_dict.pth"), "--out", half, "--dtype", "f16"]);
  assert.equal(h.code, 0, h.err);
  const file16 = await readSafetensors(half);
  for (
    const [name, e] of Object.entries(want) as [
      string,
      { dtype: string; f32_bits?: number[]; ints?: number[] },
    ][]
  ) {
    const t = file.tensors.get(name)!;
    const t16 = file16.tensors.get(name)!;
    if (e.f32_bits) {
      assert.equal(t.dtype, "F32", name);
      assert.equal(t16.dtype, "F16", name);
      const f32 = new Float32Array(Uint32Array.from(e.f32_bits).buffer);
      assert.deepEqual(
        Array.from(new Uint32Array((t.data as Float32Array).slice().buffer)),
        e.f32_bits,
        name,
      );
      assert.deepEqual(Array.from(t16.data), Array.from(roundToF16(f32)), `${name} as f16`);
    } else {
      assert.equal(t.dtype, e.dtype, `${name} keeps its integer dtype`);
      assert.deepEqual(Array.from(t.data), e.ints, name);
    }
  }
});

Deno.test("convert-weights: bad inputs exit 1 naming the file or option, nothing written", async () => {
  const out = at("bad.safetensors");
  const cases: [string[], string | RegExp][] = [
    [["--in", T("evil_os_system.pth"), "--out", out], /global os\.system is not allowed/],
    [["--in", T("bad_crc.pth"), "--out", out], /CRC-32/],
    [["--in", T("nested.pth.tar"), "--out", out, "--key", "model"], /no key "model"; it holds .*"model_pos"/],
    [
      ["--in", T("nested.pth.tar"), "--out", out, "--key", "optimizer"],
      /"optimizer" is a dict of 2, not a state dict/,
    ],
    [["--in", T("whole_model.pth"), "--out", out], /--allow-global __main__\.TinyNet/],
    [["--in", fixture("safetensors_multi.safetensors"), "--out", out], /safetensors file already/],
    [["--in", at("absent.pth"), "--out", out], at("absent.pth")],
    [["--in", T("nested.pth.tar"), "--out", out, "--model", "nope"], /unknown model "nope"/],
    [["--in", T("nested.pth.tar"), "--out", out, "--dtype", "bf16"], /--dtype bf16: expected f32 or f16/],
    [
      ["--in", T("nested.pth.tar"), "--out", out, "--stats-from", T("martinez_small_stats.safetensors")],
      /--stats-from needs --model/,
    ],
    [["--in", T("nested.pth.tar"), "--out", out, "--config", "linear_size=3"], /--config needs --model/],
    [["--in", T("nested.pth.tar")], /--in and --out are both required/],
  ];
  // Three processes at a time (a small machine runs the suite two files at a time).
  for (let i = 0; i < cases.length; i += 3) {
    const batch = cases.slice(i, i + 3);
    const results = await Promise.all(batch.map(([args]) => posegpu(["convert-weights", ...args])));
    results.forEach((r, j) => assertCleanFailure(r, { names: batch[j][1], what: batch[j][0].join(" ") }));
  }
  await assert.rejects(() => Deno.stat(out), "no output written");
  // A pickled whole model converts once its class is allowed (it is never run).
  const whole = await posegpu([
    "convert-weights",
    "--in",
    T("whole_model.pth"),
    "--out",
    out,
    "--allow-global",
    "__main__.TinyNet",
  ]);
  assert.equal(whole.code, 0, whole.err);
  assert.equal((await readSafetensorsHeader(out)).entries.size, 9);
});

Deno.test("convert-weights: clean up", async () => {
  await Deno.remove(dir, { recursive: true });
});
