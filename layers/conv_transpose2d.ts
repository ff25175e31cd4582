/**
 * `ConvTranspose2d` with PyTorch's parameters (`weight [in, out/groups, kh, kw]`, `bias [out]`) and
 * options (stride, padding, output padding, dilation, groups), forward fused with bias, activation and
 * residual (`engine/ops.ts` `convTranspose2d`).
 *
 * Its output channels are the weight's second axis, so a following BatchNorm is folded through an
 * adapter (`foldAdapter()`) that presents the weight as `[out, in/groups, kh, kw]` to
 * `Module.foldBatchNorm` and maps the folded result back.
 * @module
 */

import { isRecording, requiresGrad } from "../engine/autograd.ts";
import { InputError, keep, ops, type Tensor, tensor } from "../engine/mod.ts";
import { dropConvPacks } from "../engine/kernels/conv.ts";
import { convTranspose2dIm2col } from "./conv_train.ts";
import { smallMapConvTranspose2d, useSmallMapRoute } from "./conv_small.ts";
import { pair2d, type Size2d, tileHint } from "./conv2d.ts";
import { defaultBound, nextRng, type Rng, uniform } from "./init.ts";
import type { FusedEpilogue } from "./linear.ts";
import { type FoldableLayer, Module } from "./module.ts";

/** Options of `ConvTranspose2d`. */
export interface ConvTranspose2dLayerOptions {
  /** Stride (default 1). */
  stride?: Size2d;
  /** Padding removed from each side (default 0). */
  padding?: Size2d;
  /** Extra rows/columns at the bottom/right (default 0). */
  outputPadding?: Size2d;
  /** Dilation (default 1). */
  dilation?: Size2d;
  /** Groups (default 1). */
  groups?: number;
  /** With a bias (default true, as PyTorch). */
  bias?: boolean;
  /** Initialisation randomness. */
  rng?: Rng;
}

/** 2-D transposed convolution over `[N, C, H, W]`. */
export class ConvTranspose2d extends Module {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Kernel size `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** Stride. */
  readonly stride: [number, number];
  /** Padding. */
  readonly padding: [number, number];
  /** Output padding. */
  readonly outputPadding: [number, number];
  /** Dilation. */
  readonly dilation: [number, number];
  /** Groups. */
  readonly groups: number;
  /** Weight `[in, out/groups, kh, kw]`. */
  readonly weight: Tensor;
  /** Bias `[out]`, or null. */
  readonly bias: Tensor | null;
  #folded: { weight: Tensor; bias: Tensor } | null = null;

  /**
   * Creates the layer with PyTorch's default initialisation (its fan-in is computed from the weight's
   * second axis: `out/groups · kh · kw`).
   */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Size2d,
    options: ConvTranspose2dLayerOptions = {},
  ) {
    super();
    const groups = options.groups ?? 1;
    if (!(inChannels > 0 && outChannels > 0) || inChannels % groups || outChannels % groups) {
      throw new InputError(
        `ConvTranspose2d: ${inChannels} in / ${outChannels} out channels do not divide into ${groups} groups`,
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair2d(kernelSize);
    this.stride = pair2d(options.stride ?? 1);
    this.padding = pair2d(options.padding ?? 0);
    this.outputPadding = pair2d(options.outputPadding ?? 0);
    this.dilation = pair2d(options.dilation ?? 1);
    this.groups = groups;
    const rng = options.rng ?? nextRng();
    const per = (outChannels / groups) * this.kernelSize[0] * this.kernelSize[1];
    const bound = defaultBound(per);
    const shape = [inChannels, outChannels / groups, ...this.kernelSize];
    this.weight = this.addParameter("weight", tensor(uniform(inChannels * per, bound, rng), shape));
    this.bias = options.bias ?? true
      ? this.addParameter("bias", tensor(uniform(outChannels, bound, rng), [outChannels]))
      : null;
  }

  /** Whether a BatchNorm is folded in (eval mode only). */
  get folded(): boolean {
    return this.#folded !== null && !this.training;
  }

  /** Output `[h, w]` for an input of `[h, w]`. */
  outputSize(h: number, w: number): [number, number] {
    const o = (n: number, i: 0 | 1) =>
      (n - 1) * this.stride[i] - 2 * this.padding[i] + this.dilation[i] * (this.kernelSize[i] - 1) +
      this.outputPadding[i] + 1;
    return [o(h, 0), o(w, 1)];
  }

  /** `act(convT(x) + b) + residual`; `x` is `[N, in, H, W]`. */
  forward(x: Tensor, options: FusedEpilogue = {}): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new InputError(
        `ConvTranspose2d(${this.inChannels} → ${this.outChannels}): input has shape [${
          x.shape.join(", ")
        }], expected [N, ${this.inChannels}, H, W]`,
      );
    }
    if (this.groups === 1 && isRecording() && requiresGrad(this.weight)) {
      // Training: the unfolded-product weight gradient (layers/conv_train.ts); epilogue as separate ops.
      let y = convTranspose2dIm2col(x, this.weight, {
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        outputPadding: this.outputPadding,
        bias: this.bias ?? undefined,
      });
      if (options.activation === "relu") y = ops.relu(y);
      else if (options.activation === "leaky_relu") y = ops.leakyRelu(y, { alpha: options.alpha });
      return options.residual ? ops.add(y, options.residual) : y;
    }
    const f = this.folded ? this.#folded! : null;
    const [oh, ow] = this.outputSize(x.shape[2], x.shape[3]);
    // The product route's work is per input pixel: C·(kh·kw taps) for every output channel.
    if (
      this.groups === 1 && !isRecording() &&
      useSmallMapRoute(x.shape[0], x.shape[2] * x.shape[3], this.inChannels, this.outChannels)
    ) {
      const [kh, kw] = this.kernelSize;
      const w2 = this.cached(
        f ? "folded_w2" : "w2",
        () => ops.reshape(f ? f.weight : this.weight, [this.inChannels, this.outChannels * kh * kw]),
      );
      return smallMapConvTranspose2d(x, w2, {
        kernel: this.kernelSize,
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        outChannels: this.outChannels,
        outSize: [oh, ow],
        bias: (f ? f.bias : this.bias) ?? undefined,
        activation: options.activation,
        alpha: options.alpha,
        residual: options.residual,
        constantWeight: !this.training,
      });
    }
    // Each output phase of a stride-s deconvolution is a convolution with ⌈k/s⌉² taps, ⌈W_out/s⌉ wide.
    const taps = Math.ceil(this.kernelSize[0] / this.stride[0]) *
      Math.ceil(this.kernelSize[1] / this.stride[1]);
    return ops.convTranspose2d(x, f ? f.weight : this.weight, {
      tile: this.dilation[0] === 1 && this.dilation[1] === 1
        ? tileHint(this.outChannels / this.groups, taps, Math.ceil(ow / this.stride[1]))
        : undefined,
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      dilation: this.dilation,
      groups: this.groups,
      bias: (f ? f.bias : this.bias) ?? undefined,
      activation: options.activation,
      alpha: options.alpha,
      residual: options.residual,
      // Eval mode: the kernels keep the weight's packed copy (dropped by invalidateOwn).
      constantWeight: !this.training,
    });
  }

  /**
   * A `FoldableLayer` view for `Module.foldBatchNorm`: its weight is this layer's weight permuted to
   * `[out, in/groups, kh, kw]` (a temporary GPU copy, released when the fold is installed).
   */
  foldAdapter(): FoldableLayer {
    const G = this.groups, C = this.inChannels, Cg = C / G, Og = this.outChannels / G;
    const [kh, kw] = this.kernelSize;
    const k = kh * kw;
    const view = keep(ops.reshape(
      ops.permute(ops.reshape(this.weight, [G, Cg, Og, kh, kw]), [0, 2, 1, 3, 4]),
      [this.outChannels, Cg, kh, kw],
    ));
    return {
      weight: view,
      bias: this.bias,
      setFolded: (w: Float32Array, b: Float32Array) => {
        // Back from [g, o, c, k] to PyTorch's [g, c, o, k].
        const out = new Float32Array(w.length);
        for (let g = 0; g < G; g++) {
          for (let o = 0; o < Og; o++) {
            for (let c = 0; c < Cg; c++) {
              const src = ((g * Og + o) * Cg + c) * k, dst = ((g * Cg + c) * Og + o) * k;
              out.set(w.subarray(src, src + k), dst);
            }
          }
        }
        view.dispose();
        this.setFolded(out, b);
      },
      clearFolded: () => this.clearFolded(),
    };
  }

  /** Installs a folded weight (PyTorch layout `[in, out/groups, kh, kw]`) and bias. */
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
    dropConvPacks(this.weight);
    this.clearFolded();
  }
}
