// `--weights-dtype f16|f32` on `posegpu lift` and `posegpu eval h36m`: f16 output equals the library's f16
// lifter on the same input (and stays within 1 mm of f32), bad values exit 1 before any work.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { loadLifter } from "../../models/lifter.ts";
import { loadDemoSample } from "../../pose/demo_sample.ts";
import { readPoseDocument, writePoseDocument } from "../../pose/formats/detect.ts";
import { posegpu, shippedWeights } from "./_lifter.ts";

await initEngine();
const dir = await Deno.makeTempDir({ prefix: "posegpu_weights_dtype_test_" });

Deno.test("lift --weights-dtype f16: the library's f16 lifter output; within 1 mm of f32", async () => {
  const weights = shippedWeights("martinez_gt");
  if (!weights) return;
  const sample = await loadDemoSample();
  const input = `${dir}/walk2d.json`;
  await writePoseDocument(input, {
    ...sample.doc,
    people: [{ ...sample.doc.people[0], keypoints3d: null, meta: undefined }],
  });
  const out: Record<string, Float32Array> = {};
  for (const dtype of ["f16", "f32"]) {
    const path = `${dir}/walk3d_${dtype}.json`;
    const r = await posegpu(["lift", input, "--weights", weights, "--out", path, "--weights-dtype", dtype]);
    assert.equal(r.code, 0, r.err);
    out[dtype] = (await readPoseDocument(path)).people[0].keypoints3d!.coords;
  }
  const k2 = sample.keypoints2d;
  const lifter = await loadLifter(weights, { weightsDtype: "f16" });
  const ref = await lifter.lift(k2.coords, { mask: k2.mask, normalizeInput: "auto" });
  lifter.dispose();
  const worst = (a: Float32Array, b: Float32Array): number =>
    a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(worst(ref, out.f16) <= 1e-3, `CLI f16 vs library f16: ${worst(ref, out.f16)} mm`);
  assert.ok(worst(out.f16, out.f32) <= 1, `f16 vs f32: ${worst(out.f16, out.f32)} mm`);
});

Deno.test("--weights-dtype with a bad value exits 1 naming the flag (lift, eval h36m)", async () => {
  const r = await posegpu(["lift", `${dir}/absent.json`, "--weights-dtype", "f8"]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /--weights-dtype f8: expected f32 or f16/);
  const e = await posegpu([
    "eval",
    "h36m",
    "--data",
    `${dir}/no_data`,
    "--weights",
    `${dir}/no.safetensors`,
    "--weights-dtype",
    "bf16",
  ]);
  assert.equal(e.code, 1, e.err);
  assert.match(e.err, /--weights-dtype must be f32 or f16, got "bf16"/);
});
