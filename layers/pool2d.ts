/**
 * Parameter-free pooling modules over `[N, C, H, W]` with PyTorch semantics: `MaxPool2d`, `AvgPool2d`,
 * `AdaptiveAvgPool2d` (differentiable through `engine/ops.ts`).
 * @module
 */

import { ops, type Tensor } from "../engine/mod.ts";
import { pair2d, type Size2d } from "./conv2d.ts";
import { Module } from "./module.ts";

/** `nn.MaxPool2d(kernel, stride = kernel, padding, dilation)`. */
export class MaxPool2d extends Module {
  /** Window `[h, w]`. */
  readonly kernelSize: [number, number];
  /** Stride `[h, w]`. */
  readonly stride: [number, number];
  /** −∞ padding `[h, w]`. */
  readonly padding: [number, number];
  /** Dilation `[h, w]`. */
  readonly dilation: [number, number];

  /** Creates the pool (stride defaults to the kernel size, as PyTorch). */
  constructor(kernelSize: Size2d, options: { stride?: Size2d; padding?: Size2d; dilation?: Size2d } = {}) {
    super();
    this.kernelSize = pair2d(kernelSize);
    this.stride = pair2d(options.stride ?? kernelSize);
    this.padding = pair2d(options.padding ?? 0);
    this.dilation = pair2d(options.dilation ?? 1);
  }

  /** Pools `[N, C, H, W]`. */
  forward(x: Tensor): Tensor {
    return ops.maxPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
    });
  }
}

/** `nn.AvgPool2d(kernel, stride = kernel, padding, count_include_pad = true)`. */
export class AvgPool2d extends Module {
  /** Window `[h, w]`. */
  readonly kernelSize: [number, number];
  /** Stride. */
  readonly stride: [number, number];
  /** Zero padding. */
  readonly padding: [number, number];
  /** Whether padded zeros count in the divisor. */
  readonly countIncludePad: boolean;

  /** Creates the pool. */
  constructor(
    kernelSize: Size2d,
    options: { stride?: Size2d; padding?: Size2d; countIncludePad?: boolean } = {},
  ) {
    super();
    this.kernelSize = pair2d(kernelSize);
    this.stride = pair2d(options.stride ?? kernelSize);
    this.padding = pair2d(options.padding ?? 0);
    this.countIncludePad = options.countIncludePad ?? true;
  }

  /** Pools `[N, C, H, W]`. */
  forward(x: Tensor): Tensor {
    return ops.avgPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      countIncludePad: this.countIncludePad,
    });
  }
}

/** `nn.AdaptiveAvgPool2d(size)` (size 1: global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  /** Output `[h, w]`. */
  readonly outputSize: [number, number];

  /** Creates the pool. */
  constructor(outputSize: Size2d = 1) {
    super();
    this.outputSize = pair2d(outputSize);
  }

  /** Pools `[N, C, H, W]` → `[N, C, h, w]`. */
  forward(x: Tensor): Tensor {
    const [h, w] = this.outputSize;
    return h === 1 && w === 1 ? ops.globalAvgPool2d(x) : ops.adaptiveAvgPool2d(x, this.outputSize);
  }
}
