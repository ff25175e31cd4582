/**
 * Similarity Procrustes alignment (rotation, uniform scale, translation) of a predicted pose onto the
 * ground truth, as in Protocol #2 (P-MPJPE) of VideoPose3D's `p_mpjpe`, with a proper rotation.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { type PoseArray, type PoseLayout, posePairFrames } from "./pose_array.ts";
import { svd3 } from "./svd3.ts";

/** A similarity transform applied to row vectors: `aligned = scale · p · rotation + translation`. */
export interface SimilarityTransform {
  /** Proper rotation (det +1), row-major 3×3, applied on the right of row vectors. */
  rotation: Float64Array;
  /** Uniform scale. */
  scale: number;
  /** Translation added after rotation and scale. */
  translation: Float64Array;
}

/**
 * The least-squares similarity transform taking one predicted frame (`J × 3` values) onto one target frame.
 * The rotation is proper: when `det(V·Uᵀ) < 0` the last singular vector and value change sign. When either
 * pose has all joints at one point the scale is 0 and every aligned joint lands on the target's centroid
 * (NumPy would give NaN there).
 */
export function similarityTransform(
  predicted: ArrayLike<number>,
  target: ArrayLike<number>,
): SimilarityTransform {
  if (predicted.length !== target.length || predicted.length % 3 !== 0 || predicted.length === 0) {
    throw new InputError(
      `procrustes: frames must both hold J × 3 values ` +
        `(got predicted ${predicted.length}, target ${target.length})`,
    );
  }
  return frameTransform(predicted, target, 0, predicted.length / 3);
}

function frameTransform(
  y: ArrayLike<number>,
  x: ArrayLike<number>,
  offset: number,
  joints: number,
): SimilarityTransform {
  const muX = [0, 0, 0], muY = [0, 0, 0];
  for (let j = 0; j < joints; j++) {
    for (let d = 0; d < 3; d++) {
      muX[d] += x[offset + j * 3 + d];
      muY[d] += y[offset + j * 3 + d];
    }
  }
  for (let d = 0; d < 3; d++) {
    muX[d] /= joints;
    muY[d] /= joints;
  }
  // h = X0ᵀ·Y0 (target rows × prediction columns), as NumPy's `np.matmul(X0.T, Y0)`.
  const h = new Float64Array(9);
  let normX = 0, normY = 0;
  for (let j = 0; j < joints; j++) {
    const b = offset + j * 3;
    const x0 = [x[b] - muX[0], x[b + 1] - muX[1], x[b + 2] - muX[2]];
    const y0 = [y[b] - muY[0], y[b + 1] - muY[1], y[b + 2] - muY[2]];
    for (let r = 0; r < 3; r++) {
      normX += x0[r] * x0[r];
      normY += y0[r] * y0[r];
      for (let c = 0; c < 3; c++) h[r * 3 + c] += x0[r] * y0[c];
    }
  }
  const rotation = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  let scale = 0;
  if (normX > 0 && normY > 0) {
    const { u, s, v } = svd3(h);
    const r = rotationFrom(v, u);
    if (det3(r) < 0) {
      for (let i = 0; i < 3; i++) v[i * 3 + 2] = -v[i * 3 + 2];
      s[2] = -s[2];
    }
    rotation.set(rotationFrom(v, u));
    // NumPy normalises X0, Y0 first: a = tr(s)·‖X0‖/‖Y0‖ with s of the normalised H = tr(s_raw)/‖Y0‖².
    scale = (s[0] + s[1] + s[2]) / normY;
  }
  const translation = new Float64Array(3);
  for (let c = 0; c < 3; c++) {
    let m = 0;
    for (let i = 0; i < 3; i++) m += muY[i] * rotation[i * 3 + c];
    translation[c] = muX[c] - scale * m;
  }
  return { rotation, scale, translation };
}

/** R = V·Uᵀ. */
function rotationFrom(v: Float64Array, u: Float64Array): Float64Array {
  const r = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 3; k++) {
      r[i * 3 + k] = v[i * 3] * u[k * 3] + v[i * 3 + 1] * u[k * 3 + 1] + v[i * 3 + 2] * u[k * 3 + 2];
    }
  }
  return r;
}

function det3(m: Float64Array): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
    m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/**
 * Aligns every frame of `predicted` onto the same frame of `target` with its own similarity transform
 * (see `similarityTransform`); returns the aligned prediction `[frames, J, 3]` in double precision.
 */
export function procrustesAlign(
  predicted: PoseArray,
  target: PoseArray,
  layout: PoseLayout = {},
): Float64Array {
  const joints = layout.joints ?? 17;
  const frames = posePairFrames(predicted, target, { joints, dims: 3 });
  const out = new Float64Array(predicted.length);
  for (let f = 0; f < frames; f++) {
    const o = f * joints * 3;
    const { rotation: r, scale, translation: t } = frameTransform(predicted, target, o, joints);
    for (let j = 0; j < joints; j++) {
      const b = o + j * 3;
      const p0 = predicted[b], p1 = predicted[b + 1], p2 = predicted[b + 2];
      for (let c = 0; c < 3; c++) {
        out[b + c] = scale * (p0 * r[c] + p1 * r[3 + c] + p2 * r[6 + c]) + t[c];
      }
    }
  }
  return out;
}
