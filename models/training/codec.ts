/**
 * The mapping between poses (H36M-17 2D pixels, root-relative 3D mm) and a lifting network's input and
 * output rows, shared by training (`trainer.ts`) and inference (`../lifter.ts`) so both use exactly the
 * statistics stored in a checkpoint:
 *
 * - `martinez` / `dual_channel` (3d-pose-baseline): per-dimension z-score of the 2D input joints in
 *   pixels and of the root-relative 3D output joints in mm, statistics computed on the training set.
 * - `srnet` / `srnet_fc` / `videopose` (VideoPose3D `--norm base`): 2D screen normalisation
 *   `X / w · 2 − [1, h/w]` with each camera's image size; 3D root-relative in metres.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Input2dStats, Normalization, ZScoreStats } from "../checkpoint.ts";

/** H36M-17 index of the root (Hip). */
export const ROOT = 0;
/** H36M-17 index of Neck/Nose (absent from the SH detections). */
export const NOSE = 9;
/** H36M-17 index of Thorax. */
export const THORAX = 8;
/** H36M-17 index of Head. */
export const HEAD = 10;

/** Whether a model uses z-score normalisation (Martinez family) rather than screen normalisation. */
export function usesZScore(model: string): boolean {
  return model === "martinez" || model === "dual_channel";
}

/** H36M-17 indices of a z-score model's input and output rows, from its configuration. */
export function networkJoints(model: string, config: Record<string, unknown>): {
  jointsIn: number[];
  jointsOut: number[];
} {
  const all = Array.from({ length: 17 }, (_, i) => i);
  if (model === "dual_channel") {
    return {
      jointsIn: (config.joints_in as number[] | undefined) ?? all.filter((i) => i !== NOSE),
      jointsOut: (config.joints_out as number[] | undefined) ?? all.slice(1),
    };
  }
  if (model === "martinez") {
    const nIn = Number(config.input_size ?? 32) / 2, nOut = Number(config.output_size ?? 48) / 3;
    if ((nIn !== 16 && nIn !== 17) || (nOut !== 16 && nOut !== 17)) {
      throw new InputError(
        `martinez: input_size ${config.input_size} / output_size ${config.output_size} do not match ` +
          `16 or 17 Human3.6M joints (32/34 inputs, 48/51 outputs)`,
      );
    }
    return {
      jointsIn: nIn === 16 ? all.filter((i) => i !== NOSE) : all,
      jointsOut: nOut === 16 ? all.slice(1) : all,
    };
  }
  return { jointsIn: all, jointsOut: all };
}

/**
 * Per-sample image sizes: either one size for all samples or one per sample (Human3.6M cameras are
 * 1000×1000 or 1000×1002).
 */
export interface ImageSizes {
  /** Widths in pixels (length 1 or N). */
  width: Float32Array;
  /** Heights in pixels (length 1 or N). */
  height: Float32Array;
}

function stats(rows: Float32Array, dims: number): ZScoreStats {
  const n = rows.length / dims;
  const sum = new Float64Array(dims), sq = new Float64Array(dims);
  for (let i = 0; i < rows.length; i++) sum[i % dims] += rows[i];
  const mean = Array.from(sum, (s) => s / n);
  for (let i = 0; i < rows.length; i++) {
    const e = rows[i] - mean[i % dims];
    sq[i % dims] += e * e;
  }
  // A constant dimension gets std 1 (as 3d-pose-baseline's users do), so it is never divided by 0.
  const std = Array.from(sq, (s) => Math.sqrt(s / n) || 1);
  return { mean: mean.map(Math.fround), std: std.map(Math.fround) };
}

function pick(poses: Float32Array, joints: readonly number[], dims: number): Float32Array {
  const n = poses.length / (17 * dims);
  const out = new Float32Array(n * joints.length * dims);
  for (let f = 0; f < n; f++) {
    for (let j = 0; j < joints.length; j++) {
      for (let d = 0; d < dims; d++) {
        out[(f * joints.length + j) * dims + d] = poses[(f * 17 + joints[j]) * dims + d];
      }
    }
  }
  return out;
}

/**
 * Mean root position and mean 2D scale of a set of H36M-17 2D poses (pixels). The scale of one pose is
 * the RMS distance of its joints from their centroid: robust to one joint, independent of the image.
 */
export function input2dStats(input2d: Float32Array, image: { width: number; height: number }): Input2dStats {
  const n = input2d.length / 34;
  let rx = 0, ry = 0, sc = 0;
  const mean = new Float64Array(34);
  for (let f = 0; f < n; f++) {
    rx += input2d[f * 34];
    ry += input2d[f * 34 + 1];
    sc += poseScale(input2d.subarray(f * 34, f * 34 + 34));
    for (let k = 0; k < 34; k++) mean[k] += input2d[f * 34 + k];
  }
  return {
    root: [rx / n, ry / n],
    scale: sc / n,
    image,
    meanPose: Array.from(mean, (v) => Math.fround(v / n)),
  };
}

/** RMS distance of a pose's 17 joints (x, y pairs) from their centroid, optionally only where `mask` is 1. */
export function poseScale(pose: Float32Array, mask?: ArrayLike<number>): number {
  let cx = 0, cy = 0, k = 0;
  for (let j = 0; j < 17; j++) {
    if (mask && !mask[j]) continue;
    cx += pose[2 * j];
    cy += pose[2 * j + 1];
    k++;
  }
  if (k === 0) return 0;
  cx /= k;
  cy /= k;
  let s = 0;
  for (let j = 0; j < 17; j++) {
    if (mask && !mask[j]) continue;
    s += (pose[2 * j] - cx) ** 2 + (pose[2 * j + 1] - cy) ** 2;
  }
  return Math.sqrt(s / k);
}

/**
 * The normalisation a model is trained with, computed on the training set: `input2d` `[N, 17, 2]`
 * pixels, `target3d` `[N, 17, 3]` root-relative mm; `image` is the most common camera size.
 */
export function computeNormalization(
  model: string,
  data: {
    config: Record<string, unknown>;
    input2d: Float32Array;
    target3d: Float32Array;
    image: { width: number; height: number };
  },
): Normalization {
  const input2d = input2dStats(data.input2d, data.image);
  if (!usesZScore(model)) return { kind: "screen", outputScale: 1000, input2d };
  const { jointsIn, jointsOut } = networkJoints(model, data.config);
  return {
    kind: "zscore",
    input: stats(pick(data.input2d, jointsIn, 2), jointsIn.length * 2),
    output: stats(pick(data.target3d, jointsOut, 3), jointsOut.length * 3),
    input2d,
  };
}

/** Encodes `[N, 17, 2]` pixel poses into network input rows (z-scored `[N, 2·J_in]`, or screen `[N, 17, 2]`). */
export function encodeInput(
  model: string,
  options: {
    config: Record<string, unknown>;
    normalization: Normalization;
    input2d: Float32Array;
    image?: ImageSizes;
  },
): Float32Array {
  const { normalization: norm, input2d } = options;
  const n = input2d.length / 34;
  if (norm.kind === "zscore") {
    const { jointsIn } = networkJoints(model, options.config);
    const rows = pick(input2d, jointsIn, 2);
    const d = jointsIn.length * 2;
    for (let i = 0; i < rows.length; i++) {
      rows[i] = (rows[i] - norm.input.mean[i % d]) / norm.input.std[i % d];
    }
    return rows;
  }
  const sizes = options.image ?? {
    width: Float32Array.of(norm.input2d.image.width),
    height: Float32Array.of(norm.input2d.image.height),
  };
  const out = new Float32Array(input2d.length);
  for (let f = 0; f < n; f++) {
    const w = sizes.width.length === 1 ? sizes.width[0] : sizes.width[f];
    const h = sizes.height.length === 1 ? sizes.height[0] : sizes.height[f];
    for (let j = 0; j < 17; j++) {
      const o = f * 34 + 2 * j;
      out[o] = (input2d[o] / w) * 2 - 1;
      out[o + 1] = (input2d[o + 1] / w) * 2 - h / w;
    }
  }
  return out;
}

/** Encodes root-relative `[N, 17, 3]` mm targets into network output rows. */
export function encodeTarget(
  model: string,
  options: { config: Record<string, unknown>; normalization: Normalization; target3d: Float32Array },
): Float32Array {
  const { normalization: norm, target3d } = options;
  if (norm.kind === "zscore") {
    const { jointsOut } = networkJoints(model, options.config);
    const rows = pick(target3d, jointsOut, 3);
    const d = jointsOut.length * 3;
    for (let i = 0; i < rows.length; i++) {
      rows[i] = (rows[i] - norm.output.mean[i % d]) / norm.output.std[i % d];
    }
    return rows;
  }
  const out = new Float32Array(target3d.length);
  for (let i = 0; i < out.length; i++) out[i] = target3d[i] / norm.outputScale;
  return out;
}

/** Decodes network output rows into root-relative `[N, 17, 3]` mm (the root exactly 0). */
export function decodeOutput(
  model: string,
  options: { config: Record<string, unknown>; normalization: Normalization; output: Float32Array },
): Float32Array {
  const { normalization: norm, output } = options;
  let poses: Float32Array;
  if (norm.kind === "zscore") {
    const { jointsOut } = networkJoints(model, options.config);
    const d = jointsOut.length * 3;
    const n = output.length / d;
    // Joints the network does not predict (the root for Martinez) take their training mean (0 for the root).
    poses = new Float32Array(n * 51);
    for (let f = 0; f < n; f++) {
      for (let j = 0; j < jointsOut.length; j++) {
        for (let c = 0; c < 3; c++) {
          const k = j * 3 + c;
          poses[f * 51 + jointsOut[j] * 3 + c] = output[f * d + k] * norm.output.std[k] + norm.output.mean[k];
        }
      }
    }
  } else {
    poses = new Float32Array(output.length);
    for (let i = 0; i < output.length; i++) poses[i] = output[i] * norm.outputScale;
  }
  rootRelativeInPlace(poses);
  return poses;
}

/** Subtracts each pose's root (joint 0) from all its joints, in place (`[N, 17, 3]`). */
export function rootRelativeInPlace(poses: Float32Array): Float32Array {
  for (let o = 0; o < poses.length; o += 51) {
    const x = poses[o], y = poses[o + 1], z = poses[o + 2];
    for (let j = 0; j < 17; j++) {
      poses[o + 3 * j] -= x;
      poses[o + 3 * j + 1] -= y;
      poses[o + 3 * j + 2] -= z;
    }
  }
  return poses;
}

/** Mean per-joint position error over all frames and 17 joints, mm (both root-relative `[N, 17, 3]`). */
export function meanMpjpe(pred: Float32Array, target: Float32Array): number {
  let s = 0;
  for (let i = 0; i < pred.length; i += 3) {
    s += Math.hypot(pred[i] - target[i], pred[i + 1] - target[i + 1], pred[i + 2] - target[i + 2]);
  }
  return s / (pred.length / 3);
}
