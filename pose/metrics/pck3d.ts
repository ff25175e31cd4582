/**
 * 3D PCK and AUC (MPI-INF-3DHP style): the percentage of joints whose error is below a threshold, and its
 * mean over thresholds `linspace(0, 150, 31)` mm.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { type JointErrorOptions, jointErrors } from "./joint_errors.ts";
import type { PoseArray } from "./pose_array.ts";

/** Options of `pck3d` and `auc3d`. */
export interface Pck3dOptions extends JointErrorOptions {
  /** Only these joints count (default all). */
  jointIndices?: readonly number[];
}

/** The AUC thresholds `linspace(0, 150, 31)` in mm. */
export const AUC_THRESHOLDS: readonly number[] = Array.from({ length: 31 }, (_, i) => i * 5);

function selectedErrors(predicted: PoseArray, target: PoseArray, options: Pck3dOptions): Float64Array {
  const joints = options.joints ?? 17;
  const errors = jointErrors(predicted, target, options);
  const pick = options.jointIndices;
  if (pick === undefined) return errors;
  for (const j of pick) {
    if (!Number.isInteger(j) || j < 0 || j >= joints) {
      throw new InputError(`pck3d: jointIndices holds ${j}, not a joint index in [0, ${joints})`);
    }
  }
  const frames = errors.length / joints;
  const out = new Float64Array(frames * pick.length);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < pick.length; k++) out[f * pick.length + k] = errors[f * joints + pick[k]];
  }
  return out;
}

function percentBelow(errors: Float64Array, threshold: number): number {
  let n = 0;
  for (let i = 0; i < errors.length; i++) if (errors[i] < threshold) n++;
  return errors.length === 0 ? NaN : (100 * n) / errors.length;
}

/**
 * 3D PCK: percentage (0–100) of joints with error strictly below `threshold` mm (default 150) after
 * `options.alignment` (default root alignment).
 */
export function pck3d(
  predicted: PoseArray,
  target: PoseArray,
  options: Pck3dOptions & { threshold?: number } = {},
): number {
  return percentBelow(selectedErrors(predicted, target, options), options.threshold ?? 150);
}

/** AUC: mean of the 3D PCK (percent) over `thresholds` (default `AUC_THRESHOLDS`, 0..150 mm step 5). */
export function auc3d(
  predicted: PoseArray,
  target: PoseArray,
  options: Pck3dOptions & { thresholds?: readonly number[] } = {},
): number {
  const errors = selectedErrors(predicted, target, options);
  const thresholds = options.thresholds ?? AUC_THRESHOLDS;
  let s = 0;
  for (const t of thresholds) s += percentBelow(errors, t);
  return s / thresholds.length;
}
