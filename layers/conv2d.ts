/**
 * `Conv2d` on images `[N, C, H, W]` with PyTorch's parameters (`weight [out, in/groups, kh, kw]`,
 * `bias [out]`) and options (stride, padding, dilation, groups). The forward fuses bias, activation and
 * a residual add into the convolution kernel (`engine/ops.ts` `conv2d`), and a BatchNorm that follows
 * can be folded into it (`Module.foldBatchNorm`), so an eval-mode conv + BN + ReLU is one kernel.
 * @module
 */

import { isRecording, requiresGrad } from "../engine/autograd.ts";
import { InputError, keep, ops, type Tensor, tensor } from "../engine/mod.ts";
import { dropConvPacks } from "../engine/kernels/conv.ts";
import { conv2dIm2col } from "./conv_train.ts";
import { smallMapConv2d, useSmallMapRoute } from "./conv_small.ts";
import { defaultBound, nextRng, type Rng, uniform } from "./init.ts";
import type { FusedEpilogue } from "./linear.ts";
import { type FoldableLayer, Module } from "./module.ts";

/** The fused epilogue of `Conv2d.forward`. */
export interface ConvEpilogueOptions extends FusedEpilogue {
  /** Add the residual before the activation (`act(conv + b + residual)`, a ResNet block's tail). */
  residualFirst?: boolean;
}

/** A size for both spatial dimensions, or `[h, w]`. */
export type Size2d = number | readonly [number, number];

/** Options of `Conv2d`. */
export interface Conv2dLayerOptions {
  /** Stride (default 1). */
  stride?: Size2d;
  /** Zero padding on each side (default 0). */
  padding?: Size2d;
  /** Dilation (default 1). */
  dilation?: Size2d;
  /** Groups (default 1). */
  groups?: number;
  /** With a bias (default true, as PyTorch). */
  bias?: boolean;
  /** Initialisation randomness. */
  rng?: Rng;
}

/**
 * A block hint for the tiled convolution kernel (engine/kernels/conv.ts): 16 output channels × 12 (or 8)
 * pixels per invocation for multi-tap kernels with ≥ 64 output channels per group, where the kernel's
 * default is 8 channels. Measured on lavapipe (process CPU time, batch 1, PoseFix ResNet-50 shapes):
 * 3×3 convolutions 10–30% faster, the 256-channel 4×4/2 deconvolutions 100 → 62 ms and 30 → 22 ms.
 * Undefined (the kernel's own choice) elsewhere.
 */
export function tileHint(
  outChannelsPerGroup: number,
  taps: number,
  outWidth: number,
): { tm: number; tn: number } | undefined {
  if (taps <= 1 || outChannelsPerGroup < 64) return undefined;
  if (outWidth % 12 === 0) return { tm: 16, tn: 12 };
  if (outWidth % 8 === 0) return { tm: 16, tn: 8 };
  return undefined;
}

/** `[h, w]` of a size given as one number or a pair. */
export function pair2d(v: Size2d): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** 2-D convolution over `[N, C, H, W]`. */
export class Conv2d extends Module implements FoldableLayer {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Kernel size `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** Stride `[h, w]`. */
  readonly stride: [number, number];
  /** Padding `[h, w]`. */
  readonly padding: [number, number];
  /** Dilation `[h, w]`. */
  readonly dilation: [number, number];
  /** Groups. */
  readonly groups: number;
  /** Weight `[out, in/groups, kh, kw]`. */
  readonly weight: Tensor;
  /** Bias `[out]`, or null. */
  readonly bias: Tensor | null;
  #folded: { weight: Tensor; bias: Tensor } | null = null;

  /** Creates the layer with PyTorch's default initialisation (U(±1/√fan_in) for weight and bias). */
  constructor(inChannels: number, outChannels: number, kernelSize: Size2d, options: Conv2dLayerOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    if (!(inChannels > 0 && outChannels > 0) || inChannels % groups || outChannels % groups) {
      throw new InputError(
        `Conv2d: ${inChannels} in / ${outChannels} out channels do not divide into ${groups} groups`,
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair2d(kernelSize);
    this.stride = pair2d(options.stride ?? 1);
    this.padding = pair2d(options.padding ?? 0);
    this.dilation = pair2d(options.dilation ?? 1);
    this.groups = groups;
    const rng = options.rng ?? nextRng();
    const fanIn = (inChannels / groups) * this.kernelSize[0] * this.kernelSize[1];
    const bound = defaultBound(fanIn);
    const shape = [outChannels, inChannels / groups, ...this.kernelSize];
    this.weight = this.addParameter("weight", tensor(uniform(outChannels * fanIn, bound, rng), shape));
    this.bias = options.bias ?? true
      ? this.addParameter("bias", tensor(uniform(outChannels, bound, rng), [outChannels]))
      : null;
  }

  /** Whether a BatchNorm is folded in (eval mode only). */
  get folded(): boolean {
    return this.#folded !== null && !this.training;
  }

  /** The weight in use (the folded one when folded). */
  effectiveWeight(): Tensor {
    return this.folded ? this.#folded!.weight : this.weight;
  }

  /** The bias in use (the folded one when folded), or null. */
  effectiveBias(): Tensor | null {
    return this.folded ? this.#folded!.bias : this.bias;
  }

  /** Output `[h, w]` for an input of `[h, w]`. */
  outputSize(h: number, w: number): [number, number] {
    const o = (n: number, i: 0 | 1) =>
      Math.floor(
        (n + 2 * this.padding[i] - this.dilation[i] * (this.kernelSize[i] - 1) - 1) / this.stride[i],
      ) + 1;
    return [o(h, 0), o(w, 1)];
  }

  /**
   * `act(conv(x) + b) + residual` (or `act(conv(x) + b + residual)` with `residualFirst`); `x` is
   * `[N, in, H, W]`. Eval mode: one convolution kernel with the epilogue fused, or for small maps with many
   * channels the matrix-product route of layers/conv_small.ts. Training: layers/conv_train.ts.
   */
  forward(x: Tensor, options: ConvEpilogueOptions = {}): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new InputError(
        `Conv2d(${this.inChannels} → ${this.outChannels}, k=${this.kernelSize.join("×")}): input has shape [${
          x.shape.join(", ")
        }], expected [N, ${this.inChannels}, H, W]`,
      );
    }
    if (this.groups === 1 && isRecording() && requiresGrad(this.weight)) {
      // Training: the unfolded-product weight gradient (layers/conv_train.ts); epilogue as separate ops.
      const y = conv2dIm2col(x, this.weight, {
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        bias: this.bias ?? undefined,
      });
      return this.#epilogueOps(y, options);
    }
    const [oh, ow] = this.outputSize(x.shape[2], x.shape[3]);
    const reduction = (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    if (
      this.groups === 1 && !isRecording() &&
      useSmallMapRoute(x.shape[0], oh * ow, reduction, this.outChannels, {
        pointwise: this.kernelSize[0] === 1 && this.kernelSize[1] === 1 && this.stride[0] === 1 &&
          this.stride[1] === 1 && this.padding[0] === 0 && this.padding[1] === 0,
      })
    ) {
      const w2 = this.cached(
        this.folded ? "folded_w2" : "w2",
        () => ops.reshape(this.effectiveWeight(), [this.outChannels, reduction]),
      );
      return smallMapConv2d(x, w2, {
        kernel: this.kernelSize,
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        outSize: [oh, ow],
        bias: this.effectiveBias() ?? undefined,
        activation: options.activation,
        alpha: options.alpha,
        residual: options.residual,
        residualFirst: options.residualFirst,
        constantWeight: !this.training,
      });
    }
    const geometry = {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      bias: this.effectiveBias() ?? undefined,
      tile: tileHint(this.outChannels / this.groups, this.kernelSize[0] * this.kernelSize[1], ow),
    };
    return ops.conv2d(x, this.effectiveWeight(), {
      ...geometry,
      activation: options.activation,
      alpha: options.alpha,
      residual: options.residual,
      residualFirst: options.residualFirst,
      // Eval mode: the kernels keep the weight's packed copy (dropped by invalidateOwn).
      constantWeight: !this.training,
    });
  }

  #epilogueOps(y: Tensor, options: ConvEpilogueOptions): Tensor {
    const act = (t: Tensor): Tensor =>
      options.activation === "relu"
        ? ops.relu(t)
        : options.activation === "leaky_relu"
        ? ops.leakyRelu(t, { alpha: options.alpha })
        : t;
    if (!options.residual) return act(y);
    return options.residualFirst ? act(ops.add(y, options.residual)) : ops.add(act(y), options.residual);
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
    dropConvPacks(this.weight);
    this.clearFolded();
  }
}
