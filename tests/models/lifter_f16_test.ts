// f16 weights (`setWeightDtype`, `loadLifter(…, { weightsDtype: "f16" })`): the Linear layers read f16
// copies of their (folded) weights in eval mode, training and the f32 switch stay exact, and the shipped
// Martinez lifters move by far less than the 0.1 mm MPJPE budget on real Human3.6M S8 frames.
import assert from "node:assert/strict";
import { f16Supported, initEngine, InputError, tensor } from "../../engine/mod.ts";
import { Rng } from "../../engine/random.ts";
import { Linear, setWeightDtype } from "../../layers/mod.ts";
import { loadLifter, meanPose2d } from "../../models/lifter.ts";
import { Martinez } from "../../models/martinez.ts";
import { meanMpjpe } from "../../models/training/codec.ts";
import { sharedData } from "../_shared.ts";

await initEngine();
const F16 = f16Supported();
if (!F16) console.warn("note: no shader-f16 on this adapter: f16 weights fall back to f32 (outputs equal)");

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("setWeightDtype: eval-mode Linear weights become f16; training and switching back stay exact f32", async () => {
  const rng = new Rng(11);
  const model = new Martinez({ linear_size: 64, p_dropout: 0 });
  // Non-trivial BatchNorm statistics, so the fold (f32, then rounded) matters.
  const sd = await model.stateDict();
  for (const [name, t] of sd) {
    if (name.endsWith("running_var")) t.data = Float32Array.from(t.data, () => 0.5 + rng.uniform());
    if (name.endsWith("running_mean")) t.data = Float32Array.from(t.data, () => rng.uniform() - 0.5);
  }
  await model.loadStateDict(sd, { fold: true });
  const x = tensor(Float32Array.from({ length: 9 * 32 }, () => rng.uniform() * 2 - 1), [9, 32]);
  const f32 = await model.forward(x).read();
  assert.equal(setWeightDtype(model, "f16"), 6); // w1, 2 stages × (w1, w2), w2
  const linears = model.modules().filter((m): m is Linear => m instanceof Linear);
  assert.ok(linears.every((l) => l.weightDtype === "f16"));
  const f16 = await model.forward(x).read();
  assert.equal(linears[0].weightInOut().dtype, F16 ? "f16" : "f32");
  // Each weight moves by ≤ 2⁻¹¹ relative; through 6 layers the outputs move by well under 1% of their scale.
  const scale = Math.sqrt(f32.reduce((s, v) => s + v * v, 0) / f32.length);
  const d = maxAbsDiff(f16, f32);
  assert.ok(d <= 5e-3 * scale, `f16 vs f32: max |Δ| ${d} > 0.5% of RMS ${scale}`);
  if (F16) assert.ok(d > 0, "f16 weights should round something");
  else assert.equal(d, 0);
  setWeightDtype(model, "f32");
  assert.deepEqual([...await model.forward(x).read()], [...f32], "back to f32: the f32 outputs exactly");
  // Folding with f16 already set keeps only the f16 [in, out] copy on the GPU: the same rounded weights
  // (same outputs, bit for bit), half the bytes; switching back rebuilds the f32 fold from the host values.
  setWeightDtype(model, "f16");
  await model.foldBatchNorm();
  const w = linears[1].weightInOut();
  assert.deepEqual([w.dtype, ...w.shape], [F16 ? "f16" : "f32", 64, 64]);
  assert.deepEqual([...await model.forward(x).read()], [...f16], "f16 fold: the f16 outputs exactly");
  setWeightDtype(model, "f32");
  assert.deepEqual([...await model.forward(x).read()], [...f32], "f16 fold, back to f32: exact");
  // Training uses the f32 parameters whatever the inference dtype (same outputs as an f32 model's; the
  // batch statistics, not the running ones, normalise in training mode).
  setWeightDtype(model, "f16");
  model.train();
  const trainF16 = await model.forward(x).read();
  setWeightDtype(model, "f32");
  const trainF32 = await model.forward(x).read();
  assert.deepEqual([...trainF16], [...trainF32]);
  assert.throws(() => setWeightDtype(model, "bf16" as "f16"), /weight dtype must be "f32" or "f16"/);
  x.dispose();
  model.dispose();
});

Deno.test("shipped lifters with f16 weights: outputs within 1 mm (mean 0.05 mm) of f32 on in-distribution poses", async () => {
  for (const name of ["martinez_gt", "martinez_sh"]) {
    const bytes = await Deno.readFile(new URL(`../../weights/${name}.safetensors`, import.meta.url));
    const a = await loadLifter(bytes), b = await loadLifter(bytes, { weightsDtype: "f16" });
    // The training set's mean pose, jittered by up to ±40 px per coordinate: 512 poses a network has seen the like of.
    const mean = meanPose2d(a.meta.model, a.meta);
    const rng = new Rng(3);
    const kp = Float32Array.from({ length: 512 * 34 }, (_, i) => mean[i % 34] + (rng.uniform() * 2 - 1) * 40);
    const ya = await a.lift(kp), yb = await b.lift(kp);
    const max = maxAbsDiff(ya, yb);
    let sum = 0;
    for (let i = 0; i < ya.length; i++) sum += Math.abs(ya[i] - yb[i]);
    const meanDiff = sum / ya.length;
    console.log(`${name}: f16 vs f32 max |Δ| ${max.toFixed(3)} mm, mean ${meanDiff.toFixed(4)} mm`);
    assert.ok(max <= 1, `${name}: max |Δ| ${max} mm > 1 mm`);
    assert.ok(meanDiff <= 0.05, `${name}: mean |Δ| ${meanDiff} mm > 0.05 mm`);
    if (F16) assert.ok(max > 0, `${name}: f16 weights should change something`);
    a.dispose();
    b.dispose();
  }
  await assert.rejects(
    () =>
      loadLifter(new URL("../../weights/martinez_gt.safetensors", import.meta.url).pathname, {
        weightsDtype: "f8" as "f16",
      }),
    (e) => e instanceof InputError && /weightsDtype must be "f32" or "f16", got "f8"/.test(e.message),
  );
});

Deno.test("martinez_gt with f16 weights changes S8 MPJPE by ≤ 0.1 mm (needs ../shared/data)", async () => {
  const data = sharedData("h36m/S8.safetensors");
  if (!data) return;
  const { loadH36mPoses } = await import("../../models/training/h36m_data.ts");
  const dir = data.replace(/\/S8\.safetensors$/, "");
  const set = await loadH36mPoses(dir, { subjects: ["S8"], input: "gt" });
  // Every 20th sample of S8 (2,589 poses of 51,784; a training subject, so this is a parity check).
  const idx = Array.from({ length: Math.floor(set.count / 20) }, (_, i) => i * 20);
  const kp = new Float32Array(idx.length * 34), gt = new Float32Array(idx.length * 51);
  idx.forEach((s, i) => {
    kp.set(set.input2d.subarray(s * 34, s * 34 + 34), i * 34);
    gt.set(set.target3d.subarray(s * 51, s * 51 + 51), i * 51);
  });
  const bytes = await Deno.readFile(new URL("../../weights/martinez_gt.safetensors", import.meta.url));
  const a = await loadLifter(bytes), b = await loadLifter(bytes, { weightsDtype: "f16" });
  const ya = await a.lift(kp), yb = await b.lift(kp);
  const ea = meanMpjpe(ya, gt), eb = meanMpjpe(yb, gt);
  console.log(
    `S8 (${idx.length} poses): MPJPE f32 ${ea.toFixed(4)} mm, f16 ${eb.toFixed(4)} mm, Δ ${
      (eb - ea).toFixed(4)
    } mm; ` +
      `max |Δ coordinate| ${maxAbsDiff(ya, yb).toFixed(3)} mm`,
  );
  assert.ok(ea < 80, `f32 MPJPE ${ea} mm: the pipeline is broken, not the f16 path`);
  assert.ok(Math.abs(eb - ea) <= 0.1, `|ΔMPJPE| ${Math.abs(eb - ea)} mm > 0.1 mm`);
  assert.ok(maxAbsDiff(ya, yb) <= 1, "f16 vs f32 coordinates within 1 mm");
  a.dispose();
  b.dispose();
});
