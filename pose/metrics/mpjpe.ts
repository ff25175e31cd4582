/**
 * The MPJPE family: Protocol #1 (MPJPE, root-aligned), Protocol #2 (P-MPJPE, similarity Procrustes),
 * N-MPJPE (scale-aligned), per frame, overall and per joint.
 * @module
 */

import { type JointErrorOptions, jointErrors } from "./joint_errors.ts";
import type { PoseArray, PoseLayout } from "./pose_array.ts";

/** Options of the MPJPE functions: layout and root joint (the alignment is fixed by the function). */
export interface MpjpeOptions extends PoseLayout {
  /** Index of the root joint (default 0). */
  root?: number;
}

function meanPerFrame(errors: Float64Array, joints: number): Float64Array {
  const frames = errors.length / joints;
  const out = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let s = 0;
    for (let j = 0; j < joints; j++) s += errors[f * joints + j];
    out[f] = s / joints;
  }
  return out;
}

function mean(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length === 0 ? NaN : s / values.length;
}

/**
 * Mean error per frame (over joints) after the alignment in `options` (default root alignment);
 * the building block of per-action and rare-pose tables.
 */
export function errorPerFrame(
  predicted: PoseArray,
  target: PoseArray,
  options: JointErrorOptions = {},
): Float64Array {
  return meanPerFrame(jointErrors(predicted, target, options), options.joints ?? 17);
}

/** MPJPE per frame: mean joint distance after aligning the roots. */
export function mpjpePerFrame(
  predicted: PoseArray,
  target: PoseArray,
  options: MpjpeOptions = {},
): Float64Array {
  return errorPerFrame(predicted, target, { ...options, alignment: "root" });
}

/** MPJPE (Protocol #1): mean over frames and joints of the joint distance after aligning the roots. */
export function mpjpe(predicted: PoseArray, target: PoseArray, options: MpjpeOptions = {}): number {
  return mean(mpjpePerFrame(predicted, target, options));
}

/** P-MPJPE per frame: mean joint distance after a per-frame similarity Procrustes (proper rotation). */
export function pMpjpePerFrame(
  predicted: PoseArray,
  target: PoseArray,
  options: PoseLayout = {},
): Float64Array {
  return errorPerFrame(predicted, target, { ...options, alignment: "procrustes" });
}

/** P-MPJPE (Protocol #2): MPJPE after a per-frame similarity Procrustes alignment with a proper rotation. */
export function pMpjpe(predicted: PoseArray, target: PoseArray, options: PoseLayout = {}): number {
  return mean(pMpjpePerFrame(predicted, target, options));
}

/** N-MPJPE per frame: root-aligned, prediction scaled by `Σ(p·p̂) / Σ(p̂·p̂)` per frame. */
export function nMpjpePerFrame(
  predicted: PoseArray,
  target: PoseArray,
  options: MpjpeOptions = {},
): Float64Array {
  return errorPerFrame(predicted, target, { ...options, alignment: "scale" });
}

/** N-MPJPE: MPJPE after the per-frame optimal uniform scaling of the root-aligned prediction. */
export function nMpjpe(predicted: PoseArray, target: PoseArray, options: MpjpeOptions = {}): number {
  return mean(nMpjpePerFrame(predicted, target, options));
}

/**
 * Per-joint error: for each joint, the mean over frames of its distance after `options.alignment`
 * (default root alignment). Returns `[J]`.
 */
export function perJointError(
  predicted: PoseArray,
  target: PoseArray,
  options: JointErrorOptions = {},
): Float64Array {
  const joints = options.joints ?? 17;
  const errors = jointErrors(predicted, target, options);
  const frames = errors.length / joints;
  const out = new Float64Array(joints);
  for (let f = 0; f < frames; f++) {
    for (let j = 0; j < joints; j++) out[j] += errors[f * joints + j];
  }
  for (let j = 0; j < joints; j++) out[j] = frames === 0 ? NaN : out[j] / frames;
  return out;
}
