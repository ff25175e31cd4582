/**
 * `GroupConv1d`: a convolution made of independent per-group convolutions over *unequal* contiguous
 * channel ranges (SRNet's grouped layer: `group_conv.{g}.weight [out_g, in_g, k]`, no bias). Group g
 * reads only its own input channels and writes its own output channels; the outputs are concatenated.
 * A hook lets a caller rewrite each group's unfolded input before its matmul (SRNet scales every tap
 * by a gate, adds a shift, or appends a context channel there).
 * @module
 */

import { InputError, ops, type Tensor } from "../engine/mod.ts";
import { Conv1d } from "./conv1d.ts";
import { ModuleList } from "./container.ts";
import type { Rng } from "./init.ts";
import type { FusedEpilogue } from "./linear.ts";
import { Module } from "./module.ts";
import { convOutputFrames, unfold1d } from "./unfold.ts";

/**
 * Rewrites group g's unfolded input: `[M, c]` for pointwise layers, `[M, k, c]` otherwise (tap j of
 * output row m in `[m, j, :]`), where c is the group's channel count, possibly followed by alignment
 * padding columns that meet zero weights (so their values do not matter). It may widen the last axis
 * by the group conv's extra inputs (then there is no padding).
 */
export type GroupTransform = (g: number, xg: Tensor) => Tensor;

/** Options of `GroupConv1d`. */
export interface GroupConv1dOptions {
  /** Tap spacing (default 1). */
  dilation?: number;
  /** Extra input channels of every group conv, appended by the transform (default 0). */
  extraInputs?: number;
  /** Initialisation randomness. */
  rng?: Rng;
}

/** Per-group convolutions over contiguous channel ranges of unequal widths. */
export class GroupConv1d extends Module {
  /** Input channels per group. */
  readonly inGroups: readonly number[];
  /** Output channels per group. */
  readonly outGroups: readonly number[];
  /** Kernel size. */
  readonly kernelSize: number;
  /** Dilation. */
  readonly dilation: number;
  /** The per-group convolutions (`group_conv.{g}`). */
  readonly groupConv: ModuleList<Conv1d>;
  readonly #extra: number;

  /** Creates the layer; group g maps `inGroups[g] + extraInputs` channels to `outGroups[g]`. */
  constructor(
    inGroups: readonly number[],
    outGroups: readonly number[],
    kernelSize: number,
    options: GroupConv1dOptions = {},
  ) {
    super();
    if (inGroups.length !== outGroups.length || inGroups.length === 0) {
      throw new InputError(
        `GroupConv1d: ${inGroups.length} input groups but ${outGroups.length} output groups`,
      );
    }
    this.inGroups = [...inGroups];
    this.outGroups = [...outGroups];
    this.kernelSize = kernelSize;
    this.dilation = options.dilation ?? 1;
    const extra = this.#extra = options.extraInputs ?? 0;
    this.groupConv = this.addModule(
      "group_conv",
      new ModuleList(
        inGroups.map((c, g) =>
          new Conv1d(c + extra, outGroups[g], kernelSize, { bias: false, rng: options.rng })
        ),
      ),
    );
  }

  /** Total input channels (without extra inputs). */
  get inChannels(): number {
    return this.inGroups.reduce((a, b) => a + b, 0);
  }

  /** Total output channels. */
  get outChannels(): number {
    return this.outGroups.reduce((a, b) => a + b, 0);
  }

  /** `[start, end)` input channel range of each group. */
  inRanges(): [number, number][] {
    return ranges(this.inGroups);
  }

  /** `[start, end)` output channel range of each group. */
  outRanges(): [number, number][] {
    return ranges(this.outGroups);
  }

  /** Output frames for `frames` input frames (no padding, stride 1). */
  outputFrames(frames: number): number {
    return convOutputFrames(frames, { kernel: this.kernelSize, dilation: this.dilation });
  }

  /**
   * Unfolds `[N, T, C]` into rows of taps `[N·T', k, C]` (`[N·T', C]` when k = 1); rows `[M, C]` pass
   * through for pointwise layers. Exposed so a caller can compute per-row context from the same input.
   */
  unfold(x: Tensor): Tensor {
    if (x.rank === 2 && this.kernelSize === 1) return x;
    if (x.rank !== 3) {
      throw new InputError(
        `GroupConv1d expects [N, T, C] (or [M, C] when k = 1), got [${x.shape.join(", ")}]`,
      );
    }
    const cols = unfold1d(x, { kernel: this.kernelSize, dilation: this.dilation });
    const rows = x.shape[0] * cols.shape[1];
    return ops.reshape(
      cols,
      this.kernelSize === 1 ? [rows, x.shape[2]] : [rows, this.kernelSize, x.shape[2]],
    );
  }

  /**
   * Runs the group convolutions on unfolded rows (`[M, C]` or `[M, k, C]`) → `[M, Σ out_g]`, applying
   * `transform` to each group's slice first. Bias and activation are fused into each group's matmul;
   * the residual is added after the groups are concatenated.
   */
  forwardUnfolded(cols: Tensor, options: GroupForwardOptions = {}): Tensor {
    const c = cols.shape[cols.rank - 1];
    if (c !== this.inChannels) {
      throw new InputError(`GroupConv1d: input has ${c} channels, expected ${this.inChannels}`);
    }
    const axis = cols.rank - 1;
    const single = this.inGroups.length === 1;
    const padded = this.outGroups.some((o) => o !== ceil4(o));
    const parts = this.inRanges().map(([a, b], g) => {
      const cp = this.#paddedIn(g);
      let xg: Tensor;
      if (cp !== b - a) {
        // Slice and zero-pad in one gather (indices past the end read 0).
        const idx = this.cachedIndex(
          `in${g}`,
          () => Int32Array.from({ length: cp }, (_, i) => (i < b - a ? a + i : -1)),
        );
        xg = ops.gather(cols, idx, { axis });
      } else {
        xg = single ? cols : ops.slice(cols, [{ axis, start: a, end: b }]);
      }
      if (options.transform) xg = options.transform(g, xg);
      const rowsG = xg.rank === 2 ? xg : ops.reshape(xg, [xg.shape[0], -1]);
      const { weight, bias } = this.#paddedWeights(g);
      return ops.linear(rowsG, weight, {
        bias: bias ?? undefined,
        activation: options.activation,
        alpha: options.alpha,
        // One unpadded group's matmul takes the residual in its epilogue; otherwise it is added at the end.
        residual: single && !padded ? options.residual : undefined,
        weightLayout: "in_out",
        // Eval mode: the padded weight is cached until the weights may change (texture-cacheable).
        constantWeight: !this.training,
      });
    });
    let y = parts.length === 1 ? parts[0] : ops.concat(parts, { axis: 1 });
    if (padded) y = ops.gather(y, this.cachedIndex("unpad", () => this.#unpadIndex()), { axis: 1 });
    return options.residual && (!single || padded) ? ops.add(y, ops.reshape(options.residual, y.shape)) : y;
  }

  /**
   * Input width group g's matmul sees per tap: its channels rounded up to a multiple of 4 (the matmul
   * kernels load and store 4 floats at a time only on aligned widths, 2–3× faster on CPU adapters), unless
   * extra inputs are appended after them (then the weight rows must follow the channels directly).
   */
  #paddedIn(g: number): number {
    const c = this.inGroups[g];
    return this.#extra > 0 ? c : ceil4(c);
  }

  /**
   * Group g's weight as a `[k·c_pad, out_pad]` matrix in the unfolded input's tap-major order, with zero
   * rows and columns for the alignment padding, and its bias padded likewise (cached in eval mode).
   */
  #paddedWeights(g: number): { weight: Tensor; bias: Tensor | null } {
    const conv = this.groupConv.at(g);
    const cin = conv.inChannels, cp = this.#extra > 0 ? cin : this.#paddedIn(g);
    const o = conv.outChannels, op = ceil4(o);
    const key = `${g}:${conv.folded ? "folded" : "raw"}`;
    const weight = this.cached(`w${key}`, () => {
      // [out, in, k] → [k, in, out], zero-padded to [k, c_pad, out_pad], flattened tap-major: one gather
      // (a training step rebuilds it, and a permute + pad + fill was three dispatches per group).
      const k = this.kernelSize;
      const idx = this.cachedIndex(`w${g}`, () => {
        const out = new Int32Array(k * cp * op).fill(-1);
        for (let j = 0; j < k; j++) {
          for (let c = 0; c < cin; c++) {
            for (let oo = 0; oo < o; oo++) out[(j * cp + c) * op + oo] = (oo * cin + c) * k + j;
          }
        }
        return out;
      });
      const flat = ops.reshape(conv.effectiveWeight(), [-1]);
      return ops.reshape(ops.gather(flat, idx, { axis: 0 }), [k * cp, op]);
    });
    const b = conv.effectiveBias();
    const bias = b && op !== o ? this.cached(`b${key}`, () => ops.pad(b, [[0, op - o]])) : b;
    return { weight, bias };
  }

  /** Columns of the concatenated padded group outputs that hold real channels. */
  #unpadIndex(): Int32Array {
    const idx: number[] = [];
    let at = 0;
    for (const o of this.outGroups) {
      for (let i = 0; i < o; i++) idx.push(at + i);
      at += ceil4(o);
    }
    return Int32Array.from(idx);
  }

  /**
   * Convolves `[N, T, C]` → `[N, T', Σ out_g]` (or rows `[M, C]` → `[M, Σ out_g]` when pointwise).
   */
  forward(x: Tensor, options: GroupForwardOptions = {}): Tensor {
    const y = this.forwardUnfolded(this.unfold(x), options);
    return x.rank === 2 ? y : ops.reshape(y, [x.shape[0], -1, this.outChannels]);
  }
}

/** Options of `GroupConv1d.forward`: the fused epilogue plus the per-group input hook. */
export interface GroupForwardOptions extends FusedEpilogue {
  /** Rewrites each group's unfolded input before its matmul. */
  transform?: GroupTransform;
}

function ceil4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function ranges(widths: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let a = 0;
  for (const w of widths) {
    out.push([a, a + w]);
    a += w;
  }
  return out;
}
