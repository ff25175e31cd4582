/**
 * Whole-sequence inference of temporal lifters as VideoPose3D evaluates them: the 2D sequence is
 * padded by replicating its first and last frames so that the output has one pose per input frame
 * (`(receptive_field − 1)/2` frames each side; a causal model pads only the past), and with `flip` the
 * horizontally mirrored sequence (x negated, left/right keypoints swapped) is run in the same batch and
 * its un-mirrored output averaged in. One forward pass, one GPU submit. This is VideoPose3D's (and the
 * SRNet repository's) `UnchunkedGenerator` (`np.pad(…, (pad + causal_shift, pad − causal_shift), 'edge')`,
 * flipped copy with x negated and `kps_left`/`kps_right` swapped) followed by `evaluate` (output x negated,
 * `joints_left`/`joints_right` swapped back, mean of the two).
 * @module
 */

import { InputError, ops, type Tensor, tensor } from "../engine/mod.ts";

/** Left joints of the Human3.6M 17-joint skeleton (flip pairs pair them with `H36M_RIGHT` in order). */
export const H36M_LEFT: readonly number[] = [4, 5, 6, 11, 12, 13];
/** Right joints of the Human3.6M 17-joint skeleton. */
export const H36M_RIGHT: readonly number[] = [1, 2, 3, 14, 15, 16];

/** A model with a temporal receptive field (VideoPose3D, SRNet, the FC baseline). */
export interface TemporalLifter {
  /** `[N, T, J, F]` → `[N, T − receptive + 1, J_out, 3]`. */
  forward(x: Tensor): Tensor;
  /** Frames of input per output frame. */
  receptiveField(): number;
  /** Whether the model only looks at past frames. */
  readonly causal: boolean;
}

/**
 * One output frame per window of exactly the receptive field, as the models train: `forwardSingleFrame`
 * where the model has one (VideoPose3D's `TemporalModelOptimized1f`), else `forward`.
 */
export function forwardWindows(model: { forward(x: Tensor): Tensor }, x: Tensor): Tensor {
  const single = model as { forwardSingleFrame?: (x: Tensor) => Tensor };
  return single.forwardSingleFrame ? single.forwardSingleFrame(x) : model.forward(x);
}

/** Options of `inferSequence`. */
export interface SequenceOptions {
  /** Average with the mirrored sequence's output (test-time flip augmentation). */
  flip?: boolean;
  /** Left 2D keypoints (default: Human3.6M's, for 17 joints). */
  kpsLeft?: readonly number[];
  /** Right 2D keypoints, paired in order with `kpsLeft`. */
  kpsRight?: readonly number[];
  /** Left 3D joints of the output (default: Human3.6M's, for 17 joints). */
  jointsLeft?: readonly number[];
  /** Right 3D joints of the output. */
  jointsRight?: readonly number[];
}

/** Index i ↦ partner of i (left ↔ right), identity elsewhere. */
function swapIndex(n: number, left: readonly number[], right: readonly number[], what: string): Tensor {
  if (left.length !== right.length) {
    throw new InputError(`${what}: ${left.length} left but ${right.length} right joints`);
  }
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  left.forEach((l, i) => {
    const r = right[i];
    if (l >= n || r >= n || l < 0 || r < 0) {
      throw new InputError(`${what}: joint index out of range for ${n} joints`);
    }
    idx[l] = r;
    idx[r] = l;
  });
  return tensor(idx);
}

function mirrorSign(features: number): Tensor {
  const s = new Float32Array(features).fill(1);
  s[0] = -1;
  return tensor(s, [features]);
}

/** Replicates the first `left` and last `right` frames of `[N, T, ...]` along axis 1. */
export function edgePadFrames(x: Tensor, left: number, right: number): Tensor {
  if (left === 0 && right === 0) return x;
  const t = x.shape[1];
  const idx = Int32Array.from({ length: t + left + right }, (_, i) => Math.min(Math.max(i - left, 0), t - 1));
  return ops.gather(x, tensor(idx), { axis: 1 });
}

/**
 * Lifts whole sequences: `[T, J, F]` → `[T, J_out, 3]` or `[N, T, J, F]` → `[N, T, J_out, 3]` (one
 * pose per input frame), as VideoPose3D's evaluation (edge padding, optional flip averaging).
 */
export function inferSequence(model: TemporalLifter, poses: Tensor, options: SequenceOptions = {}): Tensor {
  if (poses.rank !== 3 && poses.rank !== 4) {
    throw new InputError(`sequence input must be [T, J, F] or [N, T, J, F], got [${poses.shape.join(", ")}]`);
  }
  const x = poses.rank === 3 ? ops.reshape(poses, [1, ...poses.shape]) : poses;
  const [n, , j, f] = x.shape;
  const pad = (model.receptiveField() - 1) / 2;
  const shift = model.causal ? pad : 0;
  const padded = edgePadFrames(x, pad + shift, pad - shift);
  let y: Tensor;
  if (options.flip) {
    const def = (v: readonly number[] | undefined, d: readonly number[], joints: number, what: string) => {
      if (v) return v;
      if (joints !== 17) throw new InputError(`flip with ${joints} joints needs explicit ${what}`);
      return d;
    };
    const kl = def(options.kpsLeft, H36M_LEFT, j, "kpsLeft"),
      kr = def(options.kpsRight, H36M_RIGHT, j, "kpsRight");
    const mirrored = ops.mul(ops.gather(padded, swapIndex(j, kl, kr, "kps"), { axis: 2 }), mirrorSign(f));
    const both = model.forward(ops.concat([padded, mirrored], { axis: 0 }));
    const jo = both.shape[2];
    const jl = def(options.jointsLeft, H36M_LEFT, jo, "jointsLeft");
    const jr = def(options.jointsRight, H36M_RIGHT, jo, "jointsRight");
    const a = ops.slice(both, [{ axis: 0, start: 0, end: n }]);
    const b = ops.mul(
      ops.gather(ops.slice(both, [{ axis: 0, start: n, end: 2 * n }]), swapIndex(jo, jl, jr, "joints"), {
        axis: 2,
      }),
      mirrorSign(3),
    );
    y = ops.affine(ops.add(a, b), { scale: 0.5 });
  } else {
    y = model.forward(padded);
  }
  return poses.rank === 3 ? ops.reshape(y, y.shape.slice(1)) : y;
}
