/**
 * Horizontal mirroring of poses (flip augmentation in training, flip testing at inference, as VideoPose3D
 * and SRNet do both by default): x → `width` − x and every left/right joint pair swapped.
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { H36M_17, type Skeleton } from "./skeletons.ts";

/** Options of `mirrorPoses`. */
export interface MirrorOptions {
  /** Values per joint, x first (2 for 2D, 3 for 3D). */
  dims: number;
  /**
   * Mirror axis at x = width / 2: x → width − x. 0 (default) negates x, the mirror of screen-normalised
   * 2D (`x/w·2 − 1`) and of root-relative camera-frame 3D; pixels mirror with the image width.
   */
  width?: number;
  /** Skeleton whose `flipPairs` swap (default H36M-17). */
  skeleton?: Skeleton;
  /** Only swap the left/right pairs, x untouched: per-joint values such as visibilities (dims 1). */
  swapOnly?: boolean;
}

/** Mirrors `[poses, J, dims]` values in place (J = the skeleton's joints) and returns them. */
export function mirrorPoses(values: Float32Array, options: MirrorOptions): Float32Array {
  const { dims, width = 0 } = options;
  const skeleton = options.skeleton ?? H36M_17;
  const J = skeleton.joints.length, per = J * dims;
  if (!Number.isInteger(dims) || dims < 1 || values.length % per !== 0) {
    throw new InputError(
      `mirrorPoses: ${values.length} values is not a whole number of ${J}-joint poses × ${dims} (${skeleton.name})`,
    );
  }
  for (let o = 0; o < values.length; o += per) {
    if (!options.swapOnly) {
      for (let j = 0; j < J; j++) values[o + j * dims] = width - values[o + j * dims];
    }
    for (const [l, r] of skeleton.flipPairs) {
      for (let c = 0; c < dims; c++) {
        const a = o + l * dims + c, b = o + r * dims + c;
        const t = values[a];
        values[a] = values[b];
        values[b] = t;
      }
    }
  }
  return values;
}
