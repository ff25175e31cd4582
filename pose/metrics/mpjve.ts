/**
 * MPJVE: mean per-joint velocity error of a sequence (VideoPose3D's `mean_velocity_error`).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Alignment } from "./joint_errors.ts";
import { checkJointIndex, type PoseArray, type PoseLayout, posePairFrames } from "./pose_array.ts";

/** Options of `mpjve`. */
export interface MpjveOptions extends PoseLayout {
  /** `"root"` (default) measures velocities of root-relative poses; `"none"` of the poses as given. */
  alignment?: Extract<Alignment, "none" | "root">;
  /** Index of the root joint (default 0). */
  root?: number;
}

/**
 * Mean over frame pairs and joints of ‖(p̂ₜ₊₁ − p̂ₜ) − (pₜ₊₁ − pₜ)‖ for one sequence `[frames, J, 3]`,
 * in units per frame (mm/frame for mm input; multiply by the frame rate for mm/s). Needs ≥ 2 frames.
 */
export function mpjve(predicted: PoseArray, target: PoseArray, options: MpjveOptions = {}): number {
  const joints = options.joints ?? 17;
  const frames = posePairFrames(predicted, target, { joints, dims: 3 });
  if (frames < 2) throw new InputError(`mpjve: a sequence needs at least 2 frames, got ${frames}`);
  const rootAlign = (options.alignment ?? "root") === "root";
  const root = options.root ?? 0;
  checkJointIndex(root, { joints, what: "root joint" });
  const stride = joints * 3;
  // Relative position of (joint, dim) in frame f, after optional root subtraction.
  const rel = (a: PoseArray, f: number, j: number, d: number): number =>
    a[f * stride + j * 3 + d] - (rootAlign ? a[f * stride + root * 3 + d] : 0);
  let sum = 0;
  for (let f = 0; f + 1 < frames; f++) {
    for (let j = 0; j < joints; j++) {
      let sq = 0;
      for (let d = 0; d < 3; d++) {
        const vp = rel(predicted, f + 1, j, d) - rel(predicted, f, j, d);
        const vt = rel(target, f + 1, j, d) - rel(target, f, j, d);
        sq += (vp - vt) * (vp - vt);
      }
      sum += Math.sqrt(sq);
    }
  }
  return sum / ((frames - 1) * joints);
}
