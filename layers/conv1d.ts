/**
 * `Conv1d` with PyTorch's parameters (`weight [out, in/groups, k]`, `bias [out]`) and options (stride,
 * padding, dilation, groups), on posegpu's features-last sequences: input `[N, T, C]`, output
 * `[N, T', O]`. Pointwise convolutions (k = 1, stride 1, no padding) also take plain rows `[M, C]`,
 * which is how single-frame models run with no reshapes at all. Each group is one matmul on the
 * unfolded input (see `unfold.ts`).
 * @module
 */

import { InputError, keep, ops, type Tensor, tensor } from "../engine/mod.ts";
import { bindingLimit } from "../engine/chunking.ts";
import { defaultBound, nextRng, type Rng, uniform } from "./init.ts";
import type { FusedEpilogue } from "./linear.ts";
import { type FoldableLayer, Module } from "./module.ts";
import { type Conv1dGeometry, convOutputFrames, unfold1d } from "./unfold.ts";

/** Options of `Conv1d`. */
export interface Conv1dOptions {
  /** Step between output frames (default 1). */
  stride?: number;
  /** Zero frames at both ends (default 0). */
  padding?: number;
  /** Tap spacing (default 1). */
  dilation?: number;
  /** Channel groups (default 1); in and out channels must divide by it. */
  groups?: number;
  /** With a bias (default true). */
  bias?: boolean;
  /** Initialisation randomness. */
  rng?: Rng;
}

/** Options of `Conv1d.forward`: the fused epilogue, and the geometry to run the weights with. */
export interface Conv1dForwardOptions extends FusedEpilogue {
  /**
   * Run the taps undilated and with stride = kernel size, whatever the layer's own dilation and stride
   * (no padding). VideoPose3D trains its dilated model as `TemporalModelOptimized1f`, which is these
   * weights run so: for one output frame it computes only the frames that output needs.
   */
  strideByKernel?: boolean;
}

/** 1-D convolution over features-last sequences. */
export class Conv1d extends Module implements FoldableLayer {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Kernel size. */
  readonly kernelSize: number;
  /** Stride. */
  readonly stride: number;
  /** Zero padding per side. */
  readonly padding: number;
  /** Dilation. */
  readonly dilation: number;
  /** Groups. */
  readonly groups: number;
  /** Weight `[out, in/groups, k]`. */
  readonly weight: Tensor;
  /** Bias `[out]`, or null. */
  readonly bias: Tensor | null;
  #folded: { weight: Tensor; bias: Tensor } | null = null;

  /** Creates the layer with PyTorch's default initialisation. */
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv1dOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    if (inChannels % groups || outChannels % groups) {
      throw new InputError(
        `Conv1d: ${inChannels} in / ${outChannels} out channels do not divide into ${groups} groups`,
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = groups;
    const rng = options.rng ?? nextRng();
    const fanIn = (inChannels / groups) * kernelSize;
    const bound = defaultBound(fanIn);
    const shape = [outChannels, inChannels / groups, kernelSize];
    this.weight = this.addParameter("weight", tensor(uniform(outChannels * fanIn, bound, rng), shape));
    this.bias = options.bias ?? true
      ? this.addParameter("bias", tensor(uniform(outChannels, bound, rng), [outChannels]))
      : null;
  }

  /** Whether the layer is pointwise (k = 1, stride 1, no padding): it then also takes rows `[M, C]`. */
  get pointwise(): boolean {
    return this.kernelSize === 1 && this.stride === 1 && this.padding === 0;
  }

  /** Output frames for `frames` input frames. */
  outputFrames(frames: number): number {
    return convOutputFrames(frames, this.#geometry(false));
  }

  #geometry(strideByKernel: boolean | undefined): Conv1dGeometry {
    const k = this.kernelSize;
    return strideByKernel
      ? { kernel: k, dilation: 1, stride: k, padding: 0 }
      : { kernel: k, dilation: this.dilation, stride: this.stride, padding: this.padding };
  }

  /** Whether a BatchNorm is folded in (eval mode only). */
  get folded(): boolean {
    return this.#folded !== null && !this.training;
  }

  /** The weight in use (`[out, in/groups, k]`; the folded one when folded). */
  effectiveWeight(): Tensor {
    return this.folded ? this.#folded!.weight : this.weight;
  }

  /** The bias in use (the folded one when folded), or null. */
  effectiveBias(): Tensor | null {
    return this.folded ? this.#folded!.bias : this.bias;
  }

  /**
   * The weight of group `g` as a `[k·(in/groups), out/groups]` matrix whose rows follow the unfolded
   * input's tap-major order (cached in eval mode).
   */
  unfoldedWeight(g = 0): Tensor {
    return this.cached(`${this.folded ? "folded_" : ""}wu${g}`, () => {
      let w = this.effectiveWeight();
      const og = this.outChannels / this.groups;
      if (this.groups > 1) w = ops.slice(w, [{ axis: 0, start: g * og, end: (g + 1) * og }]);
      const t = ops.permute(w, [2, 1, 0]);
      return this.kernelSize === 1 ? ops.reshape(t, [w.shape[1], og]) : ops.reshape(t, [-1, og]);
    });
  }

  /**
   * Convolves `[N, T, C]` → `[N, T', O]` (or rows `[M, C]` → `[M, O]` when pointwise), with the
   * activation and residual fused into the matmul when there is a single group.
   */
  forward(x: Tensor, options: Conv1dForwardOptions = {}): Tensor {
    const c = x.shape[x.rank - 1];
    if (c !== this.inChannels || !(x.rank === 3 || (x.rank === 2 && this.pointwise))) {
      throw new InputError(
        `Conv1d(${this.inChannels} → ${this.outChannels}, k=${this.kernelSize}): input has shape [${
          x.shape.join(", ")
        }], expected [N, T, ${this.inChannels}]${this.pointwise ? ` or [M, ${this.inChannels}]` : ""}`,
      );
    }
    if (x.rank === 3 && !this.pointwise) {
      // The unfolded input is k× the input: where it would exceed one storage binding (VideoPose3D's
      // 1024-channel k = 3 layers at training batch 64), run the samples in chunks that fit.
      const n = x.shape[0], frames = convOutputFrames(x.shape[1], this.#geometry(options.strideByKernel));
      const perSample = frames * Math.max(this.kernelSize * this.inChannels, this.outChannels) * 4;
      const per = Math.max(1, Math.floor(bindingLimit() / perSample));
      if (n > per) {
        const r = options.residual;
        // The residual's rows: samples when it is [N, T', O], frames of samples when it is [N·T', O].
        const unit = r && r.rank === 2 ? frames : 1;
        const parts: Tensor[] = [];
        for (let s = 0; s < n; s += per) {
          const e = Math.min(n, s + per);
          parts.push(this.#convolve(ops.slice(x, [{ axis: 0, start: s, end: e }]), {
            ...options,
            residual: r && ops.slice(r, [{ axis: 0, start: s * unit, end: e * unit }]),
          }));
        }
        return ops.concat(parts, { axis: 0 });
      }
    }
    return this.#convolve(x, options);
  }

  #convolve(x: Tensor, { strideByKernel, ...options }: Conv1dForwardOptions): Tensor {
    const rows = x.rank === 2;
    const n = rows ? 0 : x.shape[0];
    const geometry = this.#geometry(strideByKernel);
    const frames = rows ? 0 : convOutputFrames(x.shape[1], geometry);
    const cols3 = rows ? x : unfold1d(x, geometry);
    const cols = rows ? x : ops.reshape(cols3, [n * frames, cols3.shape[2]]);
    const bias = this.effectiveBias() ?? undefined;
    let y: Tensor;
    if (this.groups === 1 && this.training) {
      // Training reads the weight as [out, k·in] (tap-major): no copy for k = 1, and for k > 1 a permute
      // within each output row, whose reads stay local (the [k·in, out] form strides by k·in on every
      // element: ~30 ms per 1024² × 3 weight on lavapipe, forward and again for its gradient).
      const w = this.weight;
      const rowsW = this.kernelSize === 1
        ? ops.reshape(w, [this.outChannels, this.inChannels])
        : ops.reshape(ops.permute(w, [0, 2, 1]), [this.outChannels, -1]);
      y = ops.linear(cols, rowsW, { bias, ...options, weightLayout: "out_in" });
    } else if (this.groups === 1) {
      // Eval mode: the unfolded weight is cached until the weights may change (texture-cacheable).
      y = ops.linear(cols, this.unfoldedWeight(0), {
        bias,
        ...options,
        weightLayout: "in_out",
        constantWeight: !this.training,
      });
    } else {
      // Unfolded columns are tap-major, so a group's columns are a strided set: gather them per group.
      const cg = this.inChannels / this.groups, og = this.outChannels / this.groups;
      const parts: Tensor[] = [];
      for (let g = 0; g < this.groups; g++) {
        const idx = this.cachedIndex(`group${g}`, () => {
          const idx: number[] = [];
          for (let j = 0; j < this.kernelSize; j++) {
            for (let i = 0; i < cg; i++) idx.push(j * this.inChannels + g * cg + i);
          }
          return Int32Array.from(idx);
        });
        const xg = ops.gather(cols, idx, { axis: 1 });
        const bg = bias ? ops.slice(bias, [{ axis: 0, start: g * og, end: (g + 1) * og }]) : undefined;
        parts.push(
          ops.linear(xg, this.unfoldedWeight(g), {
            bias: bg,
            weightLayout: "in_out",
            constantWeight: !this.training,
          }),
        );
      }
      y = ops.concat(parts, { axis: 1 });
      if (options.activation === "relu") y = ops.relu(y);
      else if (options.activation === "leaky_relu") y = ops.leakyRelu(y, { alpha: options.alpha });
      if (options.residual) y = ops.add(y, ops.reshape(options.residual, y.shape));
    }
    return rows ? y : ops.reshape(y, [n, frames, this.outChannels]);
  }

  /** Installs folded weight/bias (see `Module.foldBatchNorm`). */
  setFolded(weight: Float32Array, bias: Float32Array): void {
    this.clearFolded();
    this.#folded = {
      weight: keep(tensor(weight, this.weight.shape)),
      bias: keep(tensor(bias, [this.outChannels])),
    };
  }

  /** Drops the folded copies. */
  clearFolded(): void {
    if (this.#folded) {
      this.#folded.weight.dispose();
      this.#folded.bias.dispose();
      this.#folded = null;
    }
  }

  /** Drops caches and folded copies. */
  protected override invalidateOwn(): void {
    super.invalidateOwn();
    this.clearFolded();
  }
}
