import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D } from "../../pose/convert.ts";
import { createPoseDocument } from "../../pose/formats/pose_json.ts";
import {
  OneEuroFilter,
  oneEuroFilterDocument,
  oneEuroFilterKeypoints,
  smoothingFactor,
} from "../../pose/filters/one_euro.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("One-Euro: hand-computed steps (fps 10, minCutoff 1, beta 0.5, dCutoff 1)", () => {
  // dt = 0.1 s; α(f) = 2πf·0.1 / (2πf·0.1 + 1).
  const a1 = smoothingFactor(1, 0.1);
  close(a1, 0.6283185307179586 / 1.6283185307179586);
  close(a1, 0.3858695450950375);
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0.5, dCutoff: 1 });
  // x = 0: passes through.
  assert.equal(f.filter(0, 0), 0);
  // x = 1: dx = 10, d̂x = α(1)·10 = 3.858695…, cutoff = 1 + 0.5·3.858695… = 2.929348…,
  // α = 2π·2.929348·0.1 / (… + 1) = 0.647957…, x̂ = 0.647957…
  close(f.filter(1, 0.1), 0.6479571695923358);
  // x = 1: dx = (1 − 0.647957)/0.1 = 3.520428, d̂x = 3.858695 + α(1)(3.520428 − 3.858695) = 3.728168,
  // cutoff = 2.864084, α = 0.642801, x̂ = 0.647957 + 0.642801·0.352043 = 0.874251.
  close(f.filter(1, 0.2), 0.874250531129969);
  // x = 3: dx = 21.257495, d̂x = 10.492202, cutoff = 6.246101, α = 0.796935, x̂ = 2.568336.
  close(f.filter(3, 0.3), 2.5683355013096465);
  f.reset();
  assert.equal(f.filter(42, 7), 42);
  assert.throws(() => f.filter(1, 7), InputError, "timestamps must increase");
});

Deno.test("One-Euro: beta 0 is a plain first-order low-pass; a constant stays exactly constant", () => {
  const f = new OneEuroFilter();
  const a = smoothingFactor(1, 0.1);
  f.filter(0, 0);
  close(f.filter(1, 0.1), a);
  close(f.filter(1, 0.2), a + a * (1 - a));
  const kp: Keypoints2D = {
    skeleton: "h36m17",
    frames: 50,
    joints: 17,
    coords: Float32Array.from({ length: 50 * 34 }, (_, i) => 100 + (i % 34) * 7.25),
    scores: null,
    mask: new Uint8Array(50 * 17).fill(1),
  };
  const out = oneEuroFilterKeypoints(kp, { fps: 30, minCutoff: 0.5, beta: 0.3 });
  assert.deepEqual(out.coords, kp.coords);
});

/** Seeded standard normal samples (LCG + Box–Muller), so the test is repeatable. */
function normals(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

Deno.test("One-Euro: jitter on noisy keypoints drops at least 4× and the error to the truth 2×", () => {
  // 17 joints moving slowly on circles (radius 20 px, 0.1 Hz: 12.6 px/s) at 30 fps, plus σ = 3 px noise.
  const T = 300, J = 17, fps = 30, R = 20, HZ = 0.1;
  const noise = normals(T * J * 2, 7);
  const truth = new Float32Array(T * J * 2), noisy = new Float32Array(T * J * 2);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < J; j++) {
      const ph = 2 * Math.PI * HZ * (t / fps) + j;
      const i = (t * J + j) * 2;
      truth[i] = 500 + 10 * j + R * Math.cos(ph);
      truth[i + 1] = 500 + R * Math.sin(ph);
      noisy[i] = truth[i] + 3 * noise[i];
      noisy[i + 1] = truth[i + 1] + 3 * noise[i + 1];
    }
  }
  const kp: Keypoints2D = {
    skeleton: "h36m17",
    frames: T,
    joints: J,
    coords: noisy,
    scores: null,
    mask: new Uint8Array(T * J).fill(1),
  };
  const out = oneEuroFilterKeypoints(kp, { fps, minCutoff: 1, beta: 0.01 });
  // Error = RMS distance to the truth; jitter = RMS frame-to-frame change of that error (the noise's
  // share of the motion). The first second (filter warm-up) is skipped.
  const rms = (a: Float32Array, lag: number) => {
    let s = 0, n = 0;
    for (let i = fps * J * 2; i < a.length; i++) {
      const e = a[i] - truth[i];
      s += (lag ? e - (a[i - J * 2] - truth[i - J * 2]) : e) ** 2;
      n++;
    }
    return Math.sqrt(s / n);
  };
  const jitterRaw = rms(noisy, 1), jitterOut = rms(out.coords, 1);
  const errRaw = rms(noisy, 0), errOut = rms(out.coords, 0);
  assert.ok(jitterOut < jitterRaw / 4, `jitter ${jitterOut} vs ${jitterRaw}`);
  assert.ok(errOut < errRaw / 2, `error ${errOut} vs ${errRaw}`);
});

Deno.test("One-Euro: missing joints stay missing; reset restarts, hold filters across the gap", () => {
  const x = [0, 10, 10, 10, 10];
  const mask = new Uint8Array([1, 1, 0, 1, 1]);
  const kp = {
    skeleton: "h36m17",
    frames: 5,
    joints: 17,
    coords: new Float32Array(5 * 17 * 3),
    mask: new Uint8Array(5 * 17),
  };
  for (let f = 0; f < 5; f++) {
    kp.mask[f * 17] = mask[f];
    if (mask[f]) kp.coords[f * 51] = x[f];
  }
  const reset = oneEuroFilterKeypoints(kp, { fps: 10 });
  const hold = oneEuroFilterKeypoints(kp, { fps: 10, missing: "hold" });
  assert.deepEqual(reset.mask, kp.mask);
  assert.equal(reset.coords[2 * 51], 0, "missing joint keeps coordinates 0");
  assert.equal(reset.coords[3 * 51], 10, "reset: the reappearing joint passes through");
  // hold: frame 3 is filtered against frame 1's state over dt = 0.2 s.
  const ref = new OneEuroFilter();
  ref.filter(0, 0);
  const y1 = ref.filter(10, 0.1);
  close(hold.coords[51], y1, 1e-5);
  close(hold.coords[3 * 51], ref.filter(10, 0.3), 1e-5);
  assert.ok(hold.coords[3 * 51] < 10);
  // Frame indices with a gap lengthen dt just the same.
  const gap = oneEuroFilterKeypoints({
    ...kp,
    frames: 2,
    coords: kp.coords.slice(0, 102),
    mask: kp.mask.slice(0, 34),
  }, {
    fps: 10,
    frames: [0, 3],
  });
  const r2 = new OneEuroFilter();
  r2.filter(0, 0);
  close(gap.coords[51], r2.filter(10, 0.3), 1e-5);
});

Deno.test("One-Euro: documents use their fps and track frames; bad options throw", () => {
  const kp2: Keypoints2D = {
    skeleton: "h36m17",
    frames: 3,
    joints: 17,
    coords: Float32Array.from({ length: 3 * 34 }, (_, i) => (i < 34 ? 0 : 10)),
    scores: new Float32Array(51).fill(0.9),
    mask: new Uint8Array(51).fill(1),
  };
  const doc = createPoseDocument({
    skeleton: "h36m17",
    fps: 10,
    people: [{ track: 0, frames: [0, 2, 3], keypoints2d: kp2, keypoints3d: null }],
  });
  const out = oneEuroFilterDocument(doc).people[0].keypoints2d!;
  const ref = new OneEuroFilter();
  ref.filter(0, 0);
  close(out.coords[34], ref.filter(10, 0.2), 1e-5);
  assert.deepEqual(out.scores, kp2.scores);
  assert.equal(doc.people[0].keypoints2d!.coords[34], 10, "input untouched");
  assert.throws(() => oneEuroFilterDocument({ ...doc, fps: null }), /no fps/);
  assert.throws(() => oneEuroFilterKeypoints(kp2, { fps: 0 }), InputError);
  assert.throws(() => oneEuroFilterKeypoints(kp2, { fps: 10, minCutoff: -1 }), InputError);
  assert.throws(() => oneEuroFilterKeypoints(kp2, { fps: 10, beta: NaN }), InputError);
  assert.throws(() => oneEuroFilterKeypoints(kp2, { fps: 10, frames: [0, 1] }), InputError);
  assert.throws(() => oneEuroFilterKeypoints(kp2, { fps: 10, frames: [0, 2, 2] }), InputError);
});

Deno.test("One-Euro: beta cuts the lag on fast motion (a 300 px/s ramp)", () => {
  const lag = (beta: number) => {
    const f = new OneEuroFilter({ minCutoff: 1, beta });
    let y = 0;
    for (let t = 0; t <= 60; t++) y = f.filter(300 * (t / 30), t / 30);
    return 300 * 2 - y;
  };
  // beta 0: the steady-state lag of a discrete low-pass on a ramp is v·dt·(1 − α)/α = 10 px · 4.77 ≈ 48 px;
  // beta 0.05 lifts the cutoff to ≈ 1 + 0.05·300 = 16 Hz (α ≈ 0.77), a lag of ≈ 2.4 px.
  assert.ok(lag(0) > 40, `lag ${lag(0)}`);
  assert.ok(lag(0.05) < lag(0) / 5, `lag ${lag(0.05)} vs ${lag(0)}`);
});
