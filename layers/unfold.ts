/**
 * Temporal unfolding (im2col) of features-last sequences: `[N, T, C]` → `[N, T', k·C]`, tap-major
 * (`[..., j·C + c] = x[n, t·stride + j·dilation − padding, c]`). A 1-D convolution is then one matmul
 * against the weight rearranged to `[k·C, O]`, which is how posegpu runs temporal convolutions with the
 * differentiable ops only (slices and one concat; zero padding is a concat of zeros).
 * @module
 */

import { InputError, ops, type Tensor, zeros } from "../engine/mod.ts";

/** Geometry of a 1-D convolution. */
export interface Conv1dGeometry {
  /** Kernel size k. */
  kernel: number;
  /** Spacing of the taps (default 1). */
  dilation?: number;
  /** Step between output frames (default 1). */
  stride?: number;
  /** Zero frames added at both ends (default 0). */
  padding?: number;
}

/** Output length of a 1-D convolution over `frames` input frames (PyTorch's formula). */
export function convOutputFrames(frames: number, g: Conv1dGeometry): number {
  const d = g.dilation ?? 1, s = g.stride ?? 1, p = g.padding ?? 0;
  return Math.floor((frames + 2 * p - d * (g.kernel - 1) - 1) / s) + 1;
}

/** Unfolds `[N, T, C]` into `[N, T', k·C]` (tap-major). Returns `x` itself for a pointwise geometry. */
export function unfold1d(x: Tensor, g: Conv1dGeometry): Tensor {
  if (x.rank !== 3) throw new InputError(`unfold1d expects [N, T, C], got [${x.shape.join(", ")}]`);
  const d = g.dilation ?? 1, s = g.stride ?? 1, p = g.padding ?? 0;
  const [n, frames, c] = x.shape;
  const out = convOutputFrames(frames, g);
  if (out < 1) {
    throw new InputError(
      `a kernel of ${g.kernel} taps with dilation ${d} needs at least ${
        d * (g.kernel - 1) + 1 - 2 * p
      } frames, got ${frames}`,
    );
  }
  if (g.kernel === 1 && s === 1 && p === 0) return x;
  if (d === 1 && p === 0 && s === g.kernel) {
    // Windows that neither overlap nor leave gaps are the input itself, regrouped (a strided conv
    // with stride = kernel: VideoPose3D's training model).
    const used = out * s === frames ? x : ops.slice(x, [{ axis: 1, start: 0, end: out * s }]);
    return ops.reshape(used, [n, out, s * c]);
  }
  const src = p > 0 ? ops.concat([zeros([n, p, c]), x, zeros([n, p, c])], { axis: 1 }) : x;
  const taps: Tensor[] = [];
  for (let j = 0; j < g.kernel; j++) {
    const start = j * d;
    taps.push(ops.slice(src, [{ axis: 1, start, end: start + (out - 1) * s + 1, step: s }]));
  }
  return taps.length === 1 ? taps[0] : ops.concat(taps, { axis: 2 });
}
