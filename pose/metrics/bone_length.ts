/**
 * Bone-length error: per bone (child, parent) the RMSE over frames of len(p̂) − len(p), and the limb
 * segments the structure-aware dual-channel paper reports (upper/lower arm and leg, left and right).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { H36M_17 } from "../skeletons.ts";
import { type PoseArray, type PoseLayout, posePairFrames } from "./pose_array.ts";

/** Parent of each Human3.6M-17 joint (−1 for the root): `H36M_17.parents`. */
export const H36M_PARENTS: readonly number[] = H36M_17.parents;

/** Human3.6M-17 "hard joints" of the dual-channel paper: knees, feet, elbows, wrists. */
export const H36M_HARD_JOINTS: readonly number[] = H36M_17.hardJoints ?? [2, 3, 5, 6, 12, 13, 15, 16];

/** A named bone, identified by its child joint (the parent comes from the parents table). */
export interface LimbSegment {
  /** Display name, e.g. `"left upper arm"`. */
  name: string;
  /** Child joint of the bone. */
  child: number;
}

/** The eight Human3.6M-17 limb segments of the dual-channel paper's bone-length table. */
export const H36M_LIMB_SEGMENTS: readonly LimbSegment[] = [
  { name: "left upper arm", child: 12 },
  { name: "right upper arm", child: 15 },
  { name: "left lower arm", child: 13 },
  { name: "right lower arm", child: 16 },
  { name: "left upper leg", child: 5 },
  { name: "right upper leg", child: 2 },
  { name: "left lower leg", child: 6 },
  { name: "right lower leg", child: 3 },
];

/** Options of the bone-length functions. */
export interface BoneLengthOptions extends PoseLayout {
  /** Parent of each joint, −1 for roots (default `H36M_PARENTS`; its length sets the joint count). */
  parents?: readonly number[];
}

/** Per-bone RMSE, indexed by child joint (NaN for roots), and their mean over bones. */
export interface BoneLengthError {
  /** `[J]`: RMSE of the length of the bone ending at joint j; NaN where j is a root. */
  perBone: Float64Array;
  /** Mean of `perBone` over all bones. */
  mean: number;
}

function parentsOf(options: BoneLengthOptions): readonly number[] {
  const parents = options.parents ?? H36M_PARENTS;
  const joints = options.joints ?? parents.length;
  if (parents.length !== joints) {
    throw new InputError(`bone length: parents has ${parents.length} entries for ${joints} joints`);
  }
  parents.forEach((p, j) => {
    if (!Number.isInteger(p) || p < -1 || p >= joints || p === j) {
      throw new InputError(`bone length: parents[${j}] = ${p} is not −1 or another joint index`);
    }
  });
  return parents;
}

/**
 * Per frame and child joint j with parent q, the bone-length difference `|p̂ⱼ − p̂_q| − |pⱼ − p_q|`
 * (`[frames, J]` flat; 0 for roots). Pooling these over several sequences gives one RMSE per bone.
 */
export function boneLengthDeltas(
  predicted: PoseArray,
  target: PoseArray,
  options: BoneLengthOptions = {},
): Float64Array {
  const parents = parentsOf(options);
  const joints = parents.length;
  const frames = posePairFrames(predicted, target, { joints, dims: 3 });
  const out = new Float64Array(frames * joints);
  const len = (a: PoseArray, o: number, j: number, q: number): number =>
    Math.hypot(
      a[o + j * 3] - a[o + q * 3],
      a[o + j * 3 + 1] - a[o + q * 3 + 1],
      a[o + j * 3 + 2] - a[o + q * 3 + 2],
    );
  for (let f = 0; f < frames; f++) {
    const o = f * joints * 3;
    for (let j = 0; j < joints; j++) {
      const q = parents[j];
      if (q >= 0) out[f * joints + j] = len(predicted, o, j, q) - len(target, o, j, q);
    }
  }
  return out;
}

/**
 * Bone-length RMSE per bone: for each child joint j with parent q,
 * `sqrt(mean_t (|p̂ⱼ − p̂_q| − |pⱼ − p_q|)²)`.
 */
export function boneLengthRmse(
  predicted: PoseArray,
  target: PoseArray,
  options: BoneLengthOptions = {},
): BoneLengthError {
  const parents = parentsOf(options);
  const joints = parents.length;
  const deltas = boneLengthDeltas(predicted, target, options);
  const frames = deltas.length / joints;
  const sq = new Float64Array(joints);
  for (let i = 0; i < deltas.length; i++) sq[i % joints] += deltas[i] * deltas[i];
  const perBone = new Float64Array(joints);
  let sum = 0, bones = 0;
  for (let j = 0; j < joints; j++) {
    if (parents[j] < 0) {
      perBone[j] = NaN;
      continue;
    }
    perBone[j] = frames === 0 ? NaN : Math.sqrt(sq[j] / frames);
    sum += perBone[j];
    bones++;
  }
  return { perBone, mean: bones === 0 ? NaN : sum / bones };
}

/** Bone-length RMSE of named limb segments and their mean (the dual-channel paper's "avg"). */
export interface LimbSegmentError {
  /** One entry per segment, in the order given. */
  segments: { name: string; rmse: number }[];
  /** Mean over the segments. */
  average: number;
}

/**
 * Bone-length RMSE per limb segment (default `H36M_LIMB_SEGMENTS`: upper/lower arm and leg, left/right)
 * and their average.
 */
export function limbSegmentRmse(
  predicted: PoseArray,
  target: PoseArray,
  options: BoneLengthOptions & { segments?: readonly LimbSegment[] } = {},
): LimbSegmentError {
  const { perBone } = boneLengthRmse(predicted, target, options);
  const list = options.segments ?? H36M_LIMB_SEGMENTS;
  const segments = list.map(({ name, child }) => {
    if (!(child >= 0 && child < perBone.length) || Number.isNaN(perBone[child])) {
      throw new InputError(
        `bone length: segment "${name}" names joint ${child}, which is not a bone's child`,
      );
    }
    return { name, rmse: perBone[child] };
  });
  const average = segments.reduce((s, x) => s + x.rmse, 0) / segments.length;
  return { segments, average };
}
