/**
 * Per-joint Euclidean errors between predicted and ground-truth 3D poses after one of the standard
 * alignments; the MPJPE family, per-joint errors and 3D PCK are all means or counts over these.
 * @module
 */

import { procrustesAlign } from "./procrustes.ts";
import { checkJointIndex, type PoseArray, type PoseLayout, posePairFrames } from "./pose_array.ts";

/**
 * How the prediction is aligned to the ground truth before measuring:
 * - `"none"`: as given;
 * - `"root"`: both poses translated so their root joints coincide (Protocol #1, MPJPE);
 * - `"scale"`: root-aligned, then the prediction scaled per frame by `s = Σ(p·p̂) / Σ(p̂·p̂)` (N-MPJPE);
 * - `"procrustes"`: per-frame similarity Procrustes with a proper rotation (Protocol #2, P-MPJPE).
 */
export type Alignment = "none" | "root" | "scale" | "procrustes";

/** Options of the error functions. */
export interface JointErrorOptions extends PoseLayout {
  /** Alignment before measuring (default `"root"`). */
  alignment?: Alignment;
  /** Index of the root joint for `"root"` and `"scale"` (default 0, the H36M pelvis). */
  root?: number;
}

/**
 * Euclidean distance of every joint of every frame, `[frames, J]` flat, after `options.alignment`.
 * Inputs are `[frames, J, 3]` flat (mm in, mm out). Throws `InputError` on mismatched shapes.
 */
export function jointErrors(
  predicted: PoseArray,
  target: PoseArray,
  options: JointErrorOptions = {},
): Float64Array {
  const joints = options.joints ?? 17;
  const frames = posePairFrames(predicted, target, { joints, dims: 3 });
  const alignment = options.alignment ?? "root";
  const root = options.root ?? 0;
  if (alignment === "root" || alignment === "scale") checkJointIndex(root, { joints, what: "root joint" });
  const out = new Float64Array(frames * joints);
  if (alignment === "procrustes") {
    const aligned = procrustesAlign(predicted, target, { joints });
    for (let i = 0; i < out.length; i++) {
      const b = i * 3;
      out[i] = Math.hypot(
        aligned[b] - target[b],
        aligned[b + 1] - target[b + 1],
        aligned[b + 2] - target[b + 2],
      );
    }
    return out;
  }
  const p = new Float64Array(joints * 3);
  const t = new Float64Array(joints * 3);
  for (let f = 0; f < frames; f++) {
    const o = f * joints * 3;
    const rp = alignment === "none" ? o : o + root * 3;
    const pr = alignment === "none" ? [0, 0, 0] : [predicted[rp], predicted[rp + 1], predicted[rp + 2]];
    const tr = alignment === "none" ? [0, 0, 0] : [target[rp], target[rp + 1], target[rp + 2]];
    for (let j = 0; j < joints; j++) {
      for (let d = 0; d < 3; d++) {
        p[j * 3 + d] = predicted[o + j * 3 + d] - pr[d];
        t[j * 3 + d] = target[o + j * 3 + d] - tr[d];
      }
    }
    let s = 1;
    if (alignment === "scale") {
      let pt = 0, pp = 0;
      for (let i = 0; i < joints * 3; i++) {
        pt += p[i] * t[i];
        pp += p[i] * p[i];
      }
      // A prediction collapsed onto its root has no defined scale; leave it unscaled.
      s = pp > 0 ? pt / pp : 1;
    }
    for (let j = 0; j < joints; j++) {
      const b = j * 3;
      out[f * joints + j] = Math.hypot(s * p[b] - t[b], s * p[b + 1] - t[b + 1], s * p[b + 2] - t[b + 2]);
    }
  }
  return out;
}
