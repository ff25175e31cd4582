// 3D metrics against the NumPy oracle (tests/fixtures/gen_metrics.py) and hand-computed cases.
import assert from "node:assert/strict";
import { fixture } from "../_shared.ts";
import { InputError } from "../../engine/errors.ts";
import {
  actionOfSequence,
  actionTable,
  auc3d,
  boneLengthRmse,
  limbSegmentRmse,
  mpjpe,
  mpjpePerFrame,
  mpjve,
  nMpjpe,
  nMpjpePerFrame,
  pck3d,
  perJointError,
  pMpjpe,
  pMpjpePerFrame,
  procrustesAlign,
  similarityTransform,
  svd3,
} from "../../pose/metrics/mod.ts";

interface Case {
  name: string;
  frames: number;
  predicted: number[];
  target: number[];
  mpjpe: number[];
  p_mpjpe: number[];
  n_mpjpe: number[];
  mpjve: number | null;
  per_joint: number[];
  pck150: number;
  auc: number;
  bone_rmse: (number | null)[];
}

const { cases } = JSON.parse(
  Deno.readTextFileSync(fixture("metrics_cases.json")),
) as { cases: Case[] };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`,
    );
  }
}

Deno.test("fixture holds reflected and degenerate cases", () => {
  const names = cases.map((c) => c.name);
  for (const n of ["reflected", "coplanar", "collinear", "isotropic"]) assert.ok(names.includes(n), n);
});

for (const c of cases) {
  Deno.test(`metrics agree with NumPy: ${c.name}`, () => {
    const p = Float64Array.from(c.predicted);
    const t = Float64Array.from(c.target);
    close(pMpjpePerFrame(p, t), c.p_mpjpe, 1e-6, "P-MPJPE");
    close(nMpjpePerFrame(p, t), c.n_mpjpe, 1e-6, "N-MPJPE");
    close(mpjpePerFrame(p, t), c.mpjpe, 1e-9, "MPJPE");
    close([pMpjpe(p, t)], [c.p_mpjpe.reduce((a, b) => a + b) / c.frames], 1e-6, "P-MPJPE mean");
    close([nMpjpe(p, t)], [c.n_mpjpe.reduce((a, b) => a + b) / c.frames], 1e-6, "N-MPJPE mean");
    close([mpjpe(p, t)], [c.mpjpe.reduce((a, b) => a + b) / c.frames], 1e-9, "MPJPE mean");
    close(perJointError(p, t), c.per_joint, 1e-9, "per-joint");
    if (c.mpjve !== null) close([mpjve(p, t)], [c.mpjve], 1e-9, "MPJVE");
    close([pck3d(p, t)], [c.pck150], 1e-9, "PCK@150");
    close([auc3d(p, t)], [c.auc], 1e-9, "AUC");
    const bones = boneLengthRmse(p, t).perBone;
    close(bones.slice(1), c.bone_rmse.slice(1) as number[], 1e-9, "bone RMSE");
    assert.ok(Number.isNaN(bones[0]));
  });
}

Deno.test("P-MPJPE in single precision input stays within float32 rounding of the oracle", () => {
  const c = cases.find((x) => x.name === "random")!;
  const got = pMpjpePerFrame(Float32Array.from(c.predicted), Float32Array.from(c.target));
  close(got, c.p_mpjpe, 1e-3, "P-MPJPE f32");
});

function matmul(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 3; k++) for (let j = 0; j < 3; j++) out[i * 3 + k] += a[i * 3 + j] * b[j * 3 + k];
  }
  return out;
}
const transpose = (a: ArrayLike<number>): number[] => [0, 3, 6, 1, 4, 7, 2, 5, 8].map((i) => a[i]);

Deno.test("svd3 reconstructs A with orthogonal factors and sorted singular values", () => {
  const mats = [
    [4, 1, -2, 3, 0, 5, -1, 2, 2],
    [1, 2, 3, 2, 4, 6, 3, 6, 9], // rank 1
    [1, 0, 0, 0, 1, 0, 0, 0, 0], // rank 2, repeated singular value
    [0, 0, 0, 0, 0, 0, 0, 0, 0],
    [2, 0, 0, 0, 2, 0, 0, 0, 2], // all equal
  ];
  for (const a of mats) {
    const { u, s, v } = svd3(a);
    assert.ok(s[0] >= s[1] && s[1] >= s[2] && s[2] >= 0, `sorted ${s}`);
    const us = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => u[i] * s[i % 3]);
    close(matmul(us, transpose(v)), a, 1e-12, `U S Vt of ${a}`);
    close(matmul(transpose(u), u), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12, "UtU");
    close(matmul(transpose(v), v), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12, "VtV");
  }
  // Hand-computed: diag(3, -5, 1) has singular values 5, 3, 1.
  close(svd3([3, 0, 0, 0, -5, 0, 0, 0, 1]).s, [5, 3, 1], 1e-15, "diag");
});

Deno.test("similarity transform recovers a known rotation, scale and translation", () => {
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const r = [c, -s, 0, s, c, 0, 0, 0, 1];
  const pts = [0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 0, 300, 50, 60, 70];
  // target = 2 · p · R + (1, 2, 3)
  const target = [];
  for (let j = 0; j < 5; j++) {
    for (let k = 0; k < 3; k++) {
      let m = 0;
      for (let i = 0; i < 3; i++) m += pts[j * 3 + i] * r[i * 3 + k];
      target.push(2 * m + [1, 2, 3][k]);
    }
  }
  const tf = similarityTransform(pts, target);
  close(tf.rotation, r, 1e-12, "rotation");
  close([tf.scale], [2], 1e-12, "scale");
  close(tf.translation, [1, 2, 3], 1e-9, "translation");
  close(
    procrustesAlign(Float64Array.from(pts), Float64Array.from(target), { joints: 5 }),
    target,
    1e-9,
    "aligned",
  );
});

Deno.test("a mirrored prediction is aligned with a proper rotation, not the reflection", () => {
  const target = Float64Array.from([0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 100]);
  const mirrored = target.map((v, i) => (i % 3 === 0 ? -v : v));
  const { rotation } = similarityTransform(mirrored, target);
  const det = rotation[0] * (rotation[4] * rotation[8] - rotation[5] * rotation[7]) -
    rotation[1] * (rotation[3] * rotation[8] - rotation[5] * rotation[6]) +
    rotation[2] * (rotation[3] * rotation[7] - rotation[4] * rotation[6]);
  close([det], [1], 1e-12, "det");
  assert.ok(pMpjpe(mirrored, target, { joints: 4 }) > 1, "a reflection would give 0");
});

Deno.test("collapsed prediction: P-MPJPE is the mean distance to the target centroid", () => {
  // Target joints at ±10 on x around 0: centroid 0, every joint 10 mm away.
  const target = Float64Array.from([-10, 0, 0, 10, 0, 0]);
  const predicted = Float64Array.from([5, 5, 5, 5, 5, 5]);
  close([pMpjpe(predicted, target, { joints: 2 })], [10], 1e-12, "collapsed");
});

Deno.test("hand-computed MPJPE, N-MPJPE, PCK and MPJVE", () => {
  // Root at origin; joint 1 at (0, 0, 100) in the target and (0, 0, 50) in the prediction.
  const target = Float64Array.from([0, 0, 0, 0, 0, 100]);
  const predicted = Float64Array.from([7, 7, 7, 7, 7, 57]);
  close([mpjpe(predicted, target, { joints: 2 })], [25], 1e-12, "MPJPE (0 + 50)/2");
  close([nMpjpe(predicted, target, { joints: 2 })], [0], 1e-12, "N-MPJPE scale 2 fixes it");
  close([pck3d(predicted, target, { joints: 2, threshold: 50 })], [50], 0, "50 is not < 50");
  close([pck3d(predicted, target, { joints: 2, threshold: 50.0001 })], [100], 0, "PCK");
  // Two frames: the target stands still, the prediction's joint 1 moves by 3 mm relative to the root.
  const seqT = Float64Array.from([0, 0, 0, 0, 0, 100, 10, 0, 0, 10, 0, 100]);
  const seqP = Float64Array.from([0, 0, 0, 0, 0, 100, 10, 0, 0, 10, 3, 100]);
  close([mpjve(seqP, seqT, { joints: 2 })], [1.5], 1e-12, "MPJVE (0 + 3)/2");
  close([mpjve(seqP, seqT, { joints: 2, alignment: "none" })], [1.5], 1e-12, "MPJVE no root");
});

Deno.test("limb segments report the dual-channel paper's eight bones", () => {
  const c = cases.find((x) => x.name === "random")!;
  const p = Float64Array.from(c.predicted), t = Float64Array.from(c.target);
  const { segments, average } = limbSegmentRmse(p, t);
  assert.deepEqual(segments.map((s) => s.name), [
    "left upper arm",
    "right upper arm",
    "left lower arm",
    "right lower arm",
    "left upper leg",
    "right upper leg",
    "left lower leg",
    "right lower leg",
  ]);
  const child = [12, 15, 13, 16, 5, 2, 6, 3];
  close(segments.map((s) => s.rmse), child.map((j) => c.bone_rmse[j] as number), 1e-9, "segments");
  close([average], [child.reduce((s, j) => s + (c.bone_rmse[j] as number), 0) / 8], 1e-9, "average");
});

Deno.test("per-action table: frame-weighted per action, unweighted over actions", () => {
  const table = actionTable([
    { action: actionOfSequence("Walking 1"), frameErrors: [10, 20] },
    { action: actionOfSequence("Walking"), frameErrors: [30, 40, 50, 60] },
    { action: actionOfSequence("Directions 2"), frameErrors: [5] },
    { action: actionOfSequence("TakingPhoto 1"), frameErrors: [] },
  ]);
  assert.deepEqual(table.rows.map((r) => [r.action, r.error, r.frames, r.units]), [
    ["Directions", 5, 1, 1],
    ["Walking", 35, 6, 2],
  ]);
  assert.equal(table.average, 20);
  assert.equal(table.pooled, 215 / 7);
  assert.equal(actionOfSequence("TakingPhoto 2"), "Photo");
  assert.equal(actionOfSequence("WalkingDog"), "WalkDog");
});

Deno.test("mismatched shapes throw InputError", () => {
  assert.throws(() => mpjpe(new Float32Array(51), new Float32Array(102)), InputError);
  assert.throws(() => mpjpe(new Float32Array(50), new Float32Array(50)), InputError);
  assert.throws(() => mpjpe(new Float32Array(6), new Float32Array(6), { joints: 2, root: 2 }), InputError);
  assert.throws(() => mpjve(new Float32Array(51), new Float32Array(51)), InputError);
});
