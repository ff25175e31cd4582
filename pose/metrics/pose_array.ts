/**
 * Shape checks shared by the 3D metrics: poses are flat typed arrays laid out `[frames, joints, dims]`.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/** A flat pose array `[frames, joints, dims]` (dims 3 for 3D poses), single or double precision. */
export type PoseArray = Float32Array | Float64Array;

/** Options naming the layout of a pose array. */
export interface PoseLayout {
  /** Joints per frame (default 17, the Human3.6M skeleton). */
  joints?: number;
  /** Coordinates per joint (default 3). */
  dims?: number;
}

/**
 * Checks that `predicted` and `target` hold the same whole number of frames of `joints × dims` values and
 * returns that frame count. Throws `InputError` naming the array at fault.
 */
export function posePairFrames(predicted: PoseArray, target: PoseArray, layout: PoseLayout = {}): number {
  const joints = layout.joints ?? 17;
  const dims = layout.dims ?? 3;
  if (!Number.isInteger(joints) || joints < 1) {
    throw new InputError(`metrics: joints must be a positive integer, got ${joints}`);
  }
  const stride = joints * dims;
  for (const [name, a] of [["predicted", predicted], ["target", target]] as const) {
    if (a.length % stride !== 0) {
      throw new InputError(
        `metrics: ${name} has ${a.length} values, expected a multiple of ${joints} joints × ${dims}`,
      );
    }
  }
  if (predicted.length !== target.length) {
    throw new InputError(
      `metrics: predicted has ${predicted.length / stride} frames but target has ${target.length / stride}` +
        ` (${joints} joints × ${dims})`,
    );
  }
  return predicted.length / stride;
}

/** Checks a joint index (e.g. the root) against the joint count; throws `InputError` if out of range. */
export function checkJointIndex(index: number, options: { joints: number; what: string }): void {
  const { joints, what } = options;
  if (!Number.isInteger(index) || index < 0 || index >= joints) {
    throw new InputError(`metrics: ${what} ${index} is not a joint index in [0, ${joints})`);
  }
}
