/**
 * `denseUnit`: the building block every lifting network repeats — Linear/Conv → BatchNorm →
 * activation → Dropout (→ + residual) — written once so that eval mode can fuse it. When the norm is
 * folded (or absent) and dropout is the identity, the whole unit is a single matmul with the bias,
 * activation and residual in its epilogue; otherwise each step runs as its own op, which is also the
 * differentiable training path.
 * @module
 */

import { ops, type Tensor } from "../engine/mod.ts";
import { epilogueOf, type FusableActivation } from "./activation.ts";
import type { BatchNorm } from "./batch_norm.ts";
import type { Dropout } from "./dropout.ts";
import type { FusedEpilogue } from "./linear.ts";

/** A layer whose forward can fuse an epilogue (Linear, Conv1d, GroupConv1d). */
export interface EpilogueLayer {
  /** `act(layer(x)) + residual`. */
  forward(x: Tensor, epilogue?: FusedEpilogue): Tensor;
}

/** The parts of one unit; absent parts are skipped. */
export interface DenseUnitParts {
  /** The affine layer. */
  layer: EpilogueLayer;
  /** The norm after it. */
  norm?: BatchNorm | null;
  /** The activation after the norm. */
  activation?: FusableActivation | null;
  /** Dropout after the activation. */
  dropout?: Dropout | null;
  /** Added at the end (`residual + dropout(act(norm(layer(x))))`), same shape as the output. */
  residual?: Tensor;
}

/** Runs one unit, fused into one matmul when eval mode allows it. */
export function denseUnit(x: Tensor, parts: DenseUnitParts): Tensor {
  const epi = epilogueOf(parts.activation ?? null);
  const normIdentity = !parts.norm || parts.norm.folded;
  const dropIdentity = !parts.dropout || parts.dropout.isIdentity;
  if (normIdentity && dropIdentity) return parts.layer.forward(x, { ...epi, residual: parts.residual });
  let y: Tensor;
  if (normIdentity) {
    y = parts.layer.forward(x, epi);
  } else if (epi.activation === "relu") {
    // Training: norm, ReLU and dropout in fused kernels where the adapter takes them.
    const h = parts.layer.forward(x);
    const fused = parts.norm!.reluDropout(h, { p: dropIdentity ? 0 : parts.dropout!.p });
    if (fused) return parts.residual ? ops.add(parts.residual, fused) : fused;
    y = ops.relu(parts.norm!.forward(h));
  } else {
    y = parts.norm!.forward(parts.layer.forward(x));
    if (epi.activation === "leaky_relu") y = ops.leakyRelu(y, { alpha: epi.alpha });
  }
  if (parts.dropout) y = parts.dropout.forward(y);
  return parts.residual ? ops.add(parts.residual, y) : y;
}
