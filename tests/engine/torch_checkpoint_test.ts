// PyTorch checkpoints read without Python (engine/torch_checkpoint.ts, zip_reader.ts, pickle.ts), against
// files torch 1.13 wrote and the values it says they hold (tests/fixtures/gen_torch_checkpoints.py):
// every storage dtype in both torch.save formats, strided and shared-storage views, every pickle
// protocol, nested training checkpoints and where their state dict is, and corrupt or hostile files
// (InputErrors naming the file and the fault; nothing is ever executed).
import assert from "node:assert/strict";
import {
  findStateDict,
  type HostTensor,
  InputError,
  PickleObject,
  readSafetensors,
  readTorchCheckpoint,
} from "../../engine/mod.ts";
import { fixture } from "../_shared.ts";

const T = (name: string) => fixture(`torch/${name}`);

interface Expected {
  dtype: string;
  shape: number[];
  f32_bits?: number[];
  ints?: number[];
}

const stateDictExpected: Record<string, Expected> = JSON.parse(
  await Deno.readTextFile(T("state_dict_expected.json")),
);

/** Compares a decoded tensor with what torch says it holds: floats bit for bit (as f32), ints exactly. */
function assertTensor(t: HostTensor | undefined, want: Expected, what: string): void {
  assert.ok(t, `${what}: missing`);
  assert.equal(t.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual(t.shape, want.shape, `${what}: shape`);
  if (want.f32_bits) {
    assert.ok(t.data instanceof Float32Array, `${what}: float data`);
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    assert.deepEqual(Array.from(bits), want.f32_bits, `${what}: values (f32 bit patterns)`);
  } else {
    assert.ok(t.data instanceof Int32Array, `${what}: integer data`);
    assert.deepEqual(Array.from(t.data), want.ints, `${what}: values`);
  }
}

function asMap(x: unknown, what: string): Map<unknown, unknown> {
  assert.ok(x instanceof Map, `${what} is a dict`);
  return x as Map<unknown, unknown>;
}

/** Asserts that `fn` rejects with an InputError whose message matches every pattern. */
async function assertInputError(fn: () => Promise<unknown>, patterns: (string | RegExp)[], what: string) {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InputError, `${what}: expected an InputError, got ${caught}`);
  for (const p of patterns) {
    if (typeof p === "string") {
      assert.ok(caught.message.includes(p), `${what}: "${caught.message}" lacks ${p}`);
    } else assert.match(caught.message, p, what);
  }
  return caught;
}

for (
  const file of ["state_dict.pth", "state_dict_legacy.pth", "state_dict_deflate.pth", "state_dict_zip64.pth"]
) {
  Deno.test(`torch checkpoint ${file}: every dtype and view equals what torch saved, in order`, async () => {
    const tree = asMap(await readTorchCheckpoint(T(file)), file);
    assert.deepEqual([...tree.keys()], Object.keys(stateDictExpected), "names in OrderedDict order");
    for (const [name, want] of Object.entries(stateDictExpected)) {
      assertTensor(tree.get(name) as HostTensor, want, `${file}: ${name}`);
    }
    // The fixture really has the cases the test is about (stated, not assumed).
    assert.deepEqual(
      ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"].filter((d) =>
        !Object.values(stateDictExpected).some((e) => e.dtype === d)
      ),
      [],
    );
    const sd = findStateDict(tree, undefined, { name: file });
    assert.equal(sd.key, "");
    assert.equal(sd.tensors.size, Object.keys(stateDictExpected).length);
  });
}

Deno.test("torch checkpoint: strided, expanded and shared-storage views are copied into C order", async () => {
  for (const file of ["state_dict.pth", "state_dict_legacy.pth"]) {
    const tree = asMap(await readTorchCheckpoint(T(file)), file);
    const views = [
      "transposed",
      "f16_transposed",
      "permuted",
      "expanded",
      "shared_a",
      "shared_b",
      "shared_strided",
      "i64_view",
    ];
    for (const name of views) {
      assertTensor(tree.get(name) as HostTensor, stateDictExpected[name], `${file}: ${name}`);
    }
    // shared_a = base[2:8], shared_b = base[10:20].view(2, 5), shared_strided = base[1::3] of one storage
    // base = arange(20) * 0.5: each is that window of the same values.
    const values = (n: string) => Array.from((tree.get(n) as HostTensor).data);
    assert.deepEqual(values("shared_a"), [1, 1.5, 2, 2.5, 3, 3.5]);
    assert.deepEqual(values("shared_b"), [5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5]);
    assert.deepEqual(values("shared_strided"), [0.5, 2, 3.5, 5, 6.5, 8, 9.5]);
    assert.deepEqual(values("i64_view"), [-1, 0, 1, 2]);
  }
});

// The canonical JSON form of gen_torch_checkpoints.py's `canonical`.
function canonical(x: unknown): unknown {
  if (x === null || typeof x === "boolean" || typeof x === "string") return x;
  if (typeof x === "bigint") return { bigint: x.toString() };
  if (typeof x === "number") {
    if (Number.isFinite(x)) return x;
    return { float: Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf" };
  }
  if (x instanceof Uint8Array) return { bytes: Array.from(x) };
  if (Array.isArray(x)) return { list: x.map(canonical) };
  if (x instanceof Set) {
    return { set: [...x].map(canonical).sort((a, b) => (a as number) - (b as number)) };
  }
  if (x instanceof Map) return { dict: [...x].map(([k, v]) => [canonical(k), canonical(v)]) };
  const t = x as HostTensor;
  if (t && typeof t === "object" && (t.data instanceof Float32Array || t.data instanceof Int32Array)) {
    const body: Record<string, unknown> = { dtype: t.dtype, shape: t.shape };
    if (t.data instanceof Float32Array) body.f32_bits = Array.from(new Uint32Array(t.data.buffer));
    else body.ints = Array.from(t.data);
    return { tensor: body };
  }
  throw new Error(`unexpected value ${Deno.inspect(x)}`);
}

Deno.test("torch checkpoint: pickle protocols 0-5 decode to what Python pickled", async () => {
  const expected = JSON.parse(await Deno.readTextFile(T("protocols_expected.json")));
  for (let p = 0; p <= 5; p++) {
    const tree = await readTorchCheckpoint(T(`protocol_${p}.pt`));
    assert.deepEqual(canonical(tree), expected[p], `protocol ${p}`);
    // The memo: the list stored twice is one object.
    const shared = asMap(tree, "protocol").get("shared") as unknown[][];
    assert.equal(shared[0], shared[1], `protocol ${p}: memoised list shared`);
  }
});

Deno.test("torch checkpoint: a VideoPose3D-style training checkpoint (numpy, argparse, optimiser state)", async () => {
  const want = JSON.parse(await Deno.readTextFile(T("nested_expected.json")));
  const tiny = await readSafetensors(T("tiny_expected.safetensors"));
  const tree = asMap(await readTorchCheckpoint(T("nested.pth.tar")), "nested");
  assert.equal(tree.get("epoch"), want.epoch);
  assert.equal(tree.get("lr"), want.lr);
  assert.equal(tree.get("err"), want.err, "numpy float64 scalar decoded");
  assert.equal(tree.get("name"), want.name);
  assert.deepEqual([...(tree.get("flags") as Set<number>)].sort(), want.flags);
  assert.deepEqual(Array.from(tree.get("blob") as Uint8Array), want.blob);
  const args = tree.get("args");
  assert.ok(args instanceof PickleObject, "argparse.Namespace stays an opaque object");
  assert.equal(`${args.module}.${args.name}`, "argparse.Namespace");
  assert.deepEqual(Object.fromEntries(asMap(args.state, "args state")), want.args);
  const rs = tree.get("random_state") as unknown[];
  assert.equal(rs[0], "MT19937");
  assert.ok(rs[1] instanceof PickleObject, "a numpy array stays an opaque object");
  assert.equal(rs[2], want.random_state_pos);
  const keyState = (rs[1] as PickleObject).state as unknown[];
  assert.equal(new DataView((keyState[4] as Uint8Array).buffer).getUint32(0, true), want.random_state_key0);
  const optState = asMap(asMap(tree.get("optimizer"), "optimizer").get("state"), "optimizer state");
  assert.deepEqual(
    [...optState.values()].map((s) => (asMap(s, "param state").get("step") as HostTensor).data[0]),
    want.optimizer_steps,
  );

  // model_pos is preferred over model_traj by its name; model_traj is there with --key.
  const sd = findStateDict(tree, undefined, { name: "nested.pth.tar" });
  assert.equal(sd.key, "model_pos");
  assert.deepEqual(sd.alternatives, ["model_traj"]);
  assert.deepEqual([...sd.tensors.keys()], JSON.parse(tiny.metadata.keys));
  for (const [k, t] of sd.tensors) assertSameTensor(t, tiny.tensors.get(k)!, `model_pos.${k}`);
  const traj = findStateDict(tree, "model_traj");
  assert.equal(traj.key, "model_traj");
  for (const [k, t] of traj.tensors) assertSameTensor(t, tiny.tensors.get(`traj.${k}`)!, `model_traj.${k}`);
});

function assertSameTensor(got: HostTensor, want: HostTensor, what: string): void {
  assert.ok(want, `${what}: not in the expected file`);
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.deepEqual(Array.from(got.data), Array.from(want.data), `${what}: values`);
}

Deno.test("findStateDict: state_dict (legacy file), model, top level, module. prefixes, a pickled module", async () => {
  const want = JSON.parse(await Deno.readTextFile(T("nested_expected.json")));
  const tiny = await readSafetensors(T("tiny_expected.safetensors"));
  const keys: string[] = JSON.parse(tiny.metadata.keys);
  const check = (sd: ReturnType<typeof findStateDict>, what: string) => {
    assert.deepEqual([...sd.tensors.keys()], keys, what);
    for (const [k, t] of sd.tensors) assertSameTensor(t, tiny.tensors.get(k)!, `${what}: ${k}`);
  };
  const legacy = asMap(await readTorchCheckpoint(T("nested_legacy.pth.tar")), "legacy");
  assert.equal(legacy.get("epoch"), want.legacy_epoch);
  assert.equal(legacy.get("best_err"), want.legacy_best_err);
  const a = findStateDict(legacy);
  assert.equal(a.key, "state_dict");
  check(a, "nested_legacy state_dict");

  const modelKey = asMap(await readTorchCheckpoint(T("model_key.pt")), "model_key");
  assert.equal(modelKey.get("iteration"), want.iteration);
  const b = findStateDict(modelKey);
  assert.equal(b.key, "model");
  check(b, "model_key.pt model");

  const dp = await readTorchCheckpoint(T("dataparallel.pth"));
  const c = findStateDict(dp);
  assert.equal(c.key, "");
  assert.equal(c.strippedPrefix, "module.");
  assert.equal(c.stripped, keys.length);
  check(c, "dataparallel.pth");
  const kept = findStateDict(dp, undefined, { stripPrefix: "" });
  assert.deepEqual([...kept.tensors.keys()], keys.map((k) => `module.${k}`));
  assert.equal(kept.stripped, 0);

  // torch.save(model): its class (__main__.TinyNet) is not whitelisted unless allowed.
  await assertInputError(
    () => readTorchCheckpoint(T("whole_model.pth")),
    [T("whole_model.pth"), "global __main__.TinyNet is not allowed", "--allow-global"],
    "whole model without allowGlobals",
  );
  const whole = await readTorchCheckpoint(T("whole_model.pth"), { allowGlobals: ["__main__.TinyNet"] });
  assert.ok(whole instanceof PickleObject);
  check(findStateDict(whole), "whole_model.pth");
});

Deno.test("findStateDict: errors name the file, the key and what is there", async () => {
  const tree = await readTorchCheckpoint(T("nested.pth.tar"));
  const fail = (key: string | undefined, patterns: (string | RegExp)[], what: string, t: unknown = tree) =>
    assertInputError(() => Promise.resolve(findStateDict(t, key, { name: "ck.pth" })), patterns, what);
  await fail("model", ["ck.pth", 'no key "model"', '"model_pos"', '"optimizer"'], "absent key");
  await fail(
    "optimizer",
    ["ck.pth", '"optimizer" is a dict of 2, not a state dict', '"param_groups"'],
    "not tensors",
  );
  await fail("model_pos.bn", ["ck.pth", 'no key "bn" in "model_pos"'], "dotted path");
  const flat = new Map<unknown, unknown>([["epoch", 3], ["lr", 0.1]]);
  await fail(undefined, ["ck.pth", "no state dict of tensors", '"epoch"'], "no state dict", flat);
  const two = new Map<unknown, unknown>([
    ["a", asMap(tree, "t").get("model_pos")],
    ["b", asMap(tree, "t").get("model_traj")],
  ]);
  await fail(undefined, ["ck.pth", 'several state dicts: "a", "b"', "--key"], "ambiguous", two);
});

Deno.test("torch checkpoint: corrupt files are InputErrors naming the file and the fault", async () => {
  const zip = await Deno.readFile(T("state_dict.pth"));
  const legacy = await Deno.readFile(T("state_dict_legacy.pth"));
  await assertInputError(
    () => readTorchCheckpoint(zip.slice(0, zip.length >> 1), { name: "half.pth" }),
    ["half.pth", "end-of-central-directory", "truncated"],
    "truncated zip",
  );
  await assertInputError(
    () => readTorchCheckpoint(T("bad_crc.pth")),
    [T("bad_crc.pth"), "state_dict/data/0", "CRC-32", "does not match"],
    "wrong CRC",
  );
  await assertInputError(
    () => readTorchCheckpoint(T("bad_opcode.pth")),
    [T("bad_opcode.pth"), "bad_opcode/data.pkl", "pickle byte 5", "unknown or unsupported opcode 0xfe"],
    "unknown opcode",
  );
  await assertInputError(
    () => readTorchCheckpoint(legacy.slice(0, 600), { name: "cut.pth" }),
    ["cut.pth", "truncated", "checkpoint object"],
    "legacy file cut inside the pickle",
  );
  await assertInputError(
    () => readTorchCheckpoint(legacy.slice(0, legacy.length - 3), { name: "cut.pth" }),
    ["cut.pth", "truncated: storage"],
    "legacy file cut inside the storages",
  );
  await assertInputError(
    () => readTorchCheckpoint(new TextEncoder().encode("hello, not a checkpoint\n"), { name: "x.pth" }),
    ["x.pth", "not a PyTorch checkpoint"],
    "text",
  );
  await assertInputError(
    () => readTorchCheckpoint(fixture("safetensors_multi.safetensors")),
    ["safetensors_multi.safetensors", "not a PyTorch checkpoint", "safetensors file already"],
    "a safetensors file",
  );
  await assertInputError(
    () => readTorchCheckpoint(new Uint8Array(0), { name: "e.pth" }),
    ["e.pth", "empty"],
    "empty",
  );
  await assertInputError(
    () => readTorchCheckpoint(T("absent.pth")),
    [T("absent.pth"), "no such file"],
    "absent",
  );
});

Deno.test("torch checkpoint: every truncation and byte flip is a clean InputError or a valid read", async () => {
  for (
    const file of [
      "state_dict.pth",
      "state_dict_legacy.pth",
      "nested_legacy.pth.tar",
      "state_dict_deflate.pth",
    ]
  ) {
    const bytes = await Deno.readFile(T(file));
    const outcomes = { ok: 0, inputError: 0 };
    const attempt = async (b: Uint8Array, what: string) => {
      try {
        const tree = await readTorchCheckpoint(b, { name: "fuzz.pth" });
        // Decode every tensor too (their layout was checked at read time).
        const stack = [tree];
        while (stack.length) {
          const v = stack.pop();
          if (v instanceof Map) stack.push(...v.values());
          else if (Array.isArray(v)) stack.push(...v);
          else if (v && typeof v === "object" && "shape" in v && "dtype" in v) void (v as HostTensor).data;
        }
        outcomes.ok++;
      } catch (e) {
        if (!(e instanceof InputError)) throw new Error(`${file} ${what}: ${e}`, { cause: e });
        assert.ok(
          e.message.startsWith("fuzz.pth"),
          `${file} ${what}: message does not start with the file: ${e.message}`,
        );
        outcomes.inputError++;
      }
    };
    for (let n = 0; n < bytes.length; n += file.endsWith(".pth") && bytes.length > 4000 ? 7 : 3) {
      await attempt(bytes.slice(0, n), `cut at ${n}`);
    }
    for (let i = 0; i < bytes.length; i += 5) {
      const b = bytes.slice();
      b[i] ^= 0xa5;
      await attempt(b, `byte ${i} flipped`);
    }
    assert.ok(outcomes.inputError > 0, `${file}: ${JSON.stringify(outcomes)}`);
  }
});

Deno.test("torch checkpoint: hostile pickles are refused and nothing runs", async () => {
  const markers = ["_zip", "_popen", "_legacy"].map((s) => `/tmp/posegpu_torch_pwned${s}`);
  for (const m of markers) await Deno.remove(m).catch(() => {});
  await assertInputError(
    () => readTorchCheckpoint(T("evil_os_system.pth")),
    [T("evil_os_system.pth"), "evil_os_system/data.pkl", "(GLOBAL)", "global os.system is not allowed"],
    "os.system through GLOBAL",
  );
  await assertInputError(
    () => readTorchCheckpoint(T("evil_popen.pth")),
    [T("evil_popen.pth"), "(STACK_GLOBAL)", "global subprocess.Popen is not allowed"],
    "subprocess.Popen through STACK_GLOBAL",
  );
  await assertInputError(
    () => readTorchCheckpoint(T("evil_legacy.pt")),
    [T("evil_legacy.pt"), "global os.system is not allowed", "checkpoint object"],
    "os.system in a legacy file",
  );
  // Allowing a global only keeps it an opaque object: still nothing is called.
  const tree = asMap(
    await readTorchCheckpoint(T("evil_os_system.pth"), { allowGlobals: ["os.system"] }),
    "evil",
  );
  const obj = tree.get("state_dict");
  assert.ok(obj instanceof PickleObject, "an opaque object");
  assert.equal(`${obj.module}.${obj.name}`, "os.system");
  assert.deepEqual(obj.args, ["touch /tmp/posegpu_torch_pwned_zip"]);
  for (const m of markers) await assert.rejects(() => Deno.stat(m), `${m} was created`);
});
