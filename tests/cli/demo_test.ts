// posegpu demo and posegpu view: the files they write, the numbers they print, narrow permissions,
// exit codes; with the shipped weights (once trained), an MPJPE bound on the sample clip.
import assert from "node:assert/strict";
import { readPoseDocument } from "../../pose/formats/detect.ts";
import { posegpu, shippedWeights, writeTestCheckpoint } from "./_lifter.ts";

const dir = await Deno.makeTempDir({ prefix: "posegpu_demo_test_" });
const weights = `${dir}/test.safetensors`;
await writeTestCheckpoint(weights);

Deno.test("demo: writes the poses, viewer and SVG and prints its numbers (test weights, deno task permissions)", async () => {
  const out = `${dir}/demo`;
  // The permissions of `deno task demo`: read and write only.
  const r = await posegpu(["demo", "--weights", weights, "--out-dir", out, "--json"], {
    permissions: ["--allow-read", "--allow-write"],
  });
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.frames, 83);
  assert.equal(s.normalize, "auto");
  for (const k of ["posesPerSecond", "firstPassSeconds", "mpjpe", "pMpjpe", "worstFrameMpjpe"]) {
    assert.ok(Number.isFinite(s[k]) && s[k] > 0, `${k} = ${s[k]}`);
  }
  assert.ok(s.pMpjpe <= s.mpjpe + 1e-6, "Procrustes never increases the error");
  assert.ok(s.adapter.length > 0);
  const doc = await readPoseDocument(`${out}/demo.json`);
  assert.equal(doc.people[0].keypoints3d!.frames, 83);
  assert.ok(doc.people[0].keypoints2d, "the 2D input is kept");
  const html = await Deno.readTextFile(`${out}/demo.html`);
  assert.match(html, /posegpu-data/);
  assert.match(html, /"gt":\[/, "ground truth in the viewer");
  const svg = await Deno.readTextFile(`${out}/demo.svg`);
  assert.match(svg, /^<svg/);
  assert.equal((svg.match(/data-view=/g) ?? []).length, 3, "front, side, top");
  assert.match(svg, /class="gt-bone"/);
  assert.match(svg, /data-error=/);
  // Plain output: the numbers a user reads.
  const plain = await posegpu([
    "demo",
    "--weights",
    weights,
    "--out-dir",
    out,
    "--frame",
    "10",
    "--normalize",
    "h36m-camera",
  ]);
  assert.equal(plain.code, 0, plain.err);
  for (const label of ["frames:", "poses/s", "adapter:", "MPJPE:", "P-MPJPE:"]) {
    assert.ok(plain.out.includes(label), `prints ${label}\n${plain.out}`);
  }
  assert.match(plain.err, /first pass/, "progress on stderr");
});

Deno.test("demo: bad arguments exit 1, no WebGPU exits 2", async () => {
  for (
    const [args, re] of [
      [["demo", "--frame", "83", "--weights", weights], /--frame 83/],
      [["demo", "--model", "nope"], /unknown model "nope"/],
      [["demo", "extra"], /unexpected argument extra/],
      [["demo", "--normalize", "fisheye", "--weights", weights], /--normalize fisheye/],
      [["demo", "--weights", `${dir}/absent.safetensors`], /absent\.safetensors/],
    ] as [string[], RegExp][]
  ) {
    const r = await posegpu(args);
    assert.equal(r.code, 1, `${args.join(" ")}\n${r.err}`);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /internal error/);
  }
  const r = await posegpu(["demo", "--weights", weights, "--out-dir", `${dir}/x`], {
    env: { POSEGPU_NO_WEBGPU: "1" },
  });
  assert.equal(r.code, 2, r.err);
});

Deno.test("demo: the shipped weights lift the sample clip well (MPJPE bound)", async () => {
  const shipped = shippedWeights("martinez_sh");
  if (!shipped) return;
  const r = await posegpu(["demo", "--out-dir", `${dir}/shipped`, "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  // The CMU skeleton's joint centres differ from Human3.6M's, so this is looser than H36M numbers.
  assert.ok(s.mpjpe < 150, `MPJPE ${s.mpjpe.toFixed(1)} mm`);
  assert.ok(s.pMpjpe < 100, `P-MPJPE ${s.pMpjpe.toFixed(1)} mm`);
});

Deno.test("view: writes the viewer with a ground truth; errors exit 1", async () => {
  const sample = new URL("../../pose/data/cmu_131_01_2d.json", import.meta.url).pathname;
  const out = `${dir}/view.html`;
  const r = await posegpu(["view", sample, "--out", out, "--gt", sample, "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.frames, 83);
  assert.equal(s.people, 1);
  assert.match(await Deno.readTextFile(out), /posegpu-data/);
  for (
    const [args, re] of [
      [["view", sample], /--out/],
      [["view", `${dir}/absent.json`, "--out", out], /absent\.json/],
      [["view", sample, "--out", out, "--up", "w"], /--up w/],
      [["view", sample, "--out", out, "--gt", `${dir}/absent_gt.json`], /absent_gt\.json/],
    ] as [string[], RegExp][]
  ) {
    const e = await posegpu(args);
    assert.equal(e.code, 1, `${args.join(" ")}\n${e.err}`);
    assert.match(e.err, re);
  }
});
