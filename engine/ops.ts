/**
 * The functional, differentiable op set that layers and models are written in. Each function runs the
 * forward kernel; when gradients are being recorded (see `autograd.ts`) it also records how to
 * propagate them. Layers use only these functions, so one model definition serves inference and training.
 * @module
 */

import { binary, unary } from "./kernels/elementwise.ts";
import { type Activation, matmul } from "./kernels/matmul.ts";
import { batchNorm as batchNormKernel, batchStats } from "./kernels/batch_norm.ts";
import {
  concat as concatKernel,
  gather as gatherKernel,
  permute as permuteKernel,
  slice as sliceKernel,
} from "./kernels/shape.ts";
import { mean as meanKernel, softmax as softmaxKernel, sum as sumKernel } from "./kernels/reduce.ts";
import type { Tensor } from "./tensor.ts";

/** `y = act(x · Wᵀ + b) + residual` with W in PyTorch layout [out, in] (or [in, out] with `weightLayout`). */
export function linear(
  x: Tensor,
  weight: Tensor,
  options: {
    bias?: Tensor;
    activation?: Activation;
    alpha?: number;
    residual?: Tensor;
    weightLayout?: "out_in" | "in_out";
  } = {},
): Tensor {
  return matmul(x, weight, {
    transB: (options.weightLayout ?? "out_in") === "out_in",
    bias: options.bias,
    activation: options.activation,
    alpha: options.alpha,
    residual: options.residual,
  });
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, "add");
}
/** a − b (broadcasting). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, "sub");
}
/** a · b (broadcasting). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, "mul");
}
/** a / b (broadcasting). */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, "div");
}
/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return unary(x, "relu");
}
/** x > 0 ? x : α·x. */
export function leakyRelu(x: Tensor, options: { alpha?: number } = {}): Tensor {
  return unary(x, "leaky_relu", { a: options.alpha ?? 0.01 });
}
/** 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor {
  return unary(x, "sigmoid");
}
/** tanh(x). */
export function tanh(x: Tensor): Tensor {
  return unary(x, "tanh");
}
/** x · a + b with scalars. */
export function affine(x: Tensor, options: { scale?: number; shift?: number }): Tensor {
  return unary(x, "affine", { a: options.scale ?? 1, b: options.shift ?? 0 });
}

/** Batch norm over axis 1 with given (running) statistics: inference mode. */
export function batchNormInference(
  x: Tensor,
  params: { mean: Tensor; variance: Tensor; weight?: Tensor; bias?: Tensor },
  options: { eps?: number } = {},
): Tensor {
  return batchNormKernel(x, params, options);
}

/** Batch norm over axis 1 with the batch's own statistics (training mode); also returns those statistics. */
export function batchNormTraining(
  x: Tensor,
  params: { weight?: Tensor; bias?: Tensor },
  options: { eps?: number } = {},
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const { mean, variance } = batchStats(x);
  const y = batchNormKernel(x, { mean, variance, weight: params.weight, bias: params.bias }, options);
  return { y, mean, variance };
}

/** Concatenation along an axis. */
export function concat(xs: Tensor[], options: { axis?: number } = {}): Tensor {
  return concatKernel(xs, options);
}
/** Slicing along axes. */
export function slice(
  x: Tensor,
  ranges: { axis: number; start?: number; end?: number; step?: number }[],
): Tensor {
  return sliceKernel(x, ranges);
}
/** Index selection along an axis. */
export function gather(x: Tensor, indices: Tensor, options: { axis?: number } = {}): Tensor {
  return gatherKernel(x, indices, options);
}
/** Permutation of axes. */
export function permute(x: Tensor, perm: number[]): Tensor {
  return permuteKernel(x, perm);
}
/** Reshape (same number of elements). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return x.reshape(shape);
}
/** Sum along an axis (or all). */
export function sum(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  return sumKernel(x, options);
}
/** Mean along an axis (or all). */
export function mean(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  return meanKernel(x, options);
}
/** Softmax along an axis. */
export function softmax(x: Tensor, options: { axis?: number; log?: boolean } = {}): Tensor {
  return softmaxKernel(x, options);
}
