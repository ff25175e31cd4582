/**
 * Batch normalisation over the channel axis 1 of [N, C, ...]: inference with running statistics, batch
 * statistics for training, and folding BN into the preceding linear/conv weights (host side, at load time).
 * @module
 */

import { InputError } from "../errors.ts";
import { numel, type Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

/** The [N, C, inner] view of a batch-norm input `[N, C, ...]` (throws below rank 2). */
export function bnLayout(x: Tensor): { n: number; c: number; inner: number } {
  if (x.rank < 2) throw new InputError(`batch norm needs [N, C, ...], got [${x.shape.join(", ")}]`);
  return { n: x.shape[0], c: x.shape[1], inner: numel(x.shape.slice(2)) };
}

/**
 * `y = (x − mean) / sqrt(var + eps) · weight + bias` per channel. `activation: "relu"` fuses a ReLU.
 * `mean`/`variance` are the running statistics (inference) or batch statistics (training).
 */
export function batchNorm(
  x: Tensor,
  params: { mean: Tensor; variance: Tensor; weight?: Tensor; bias?: Tensor },
  options: { eps?: number; activation?: "none" | "relu" } = {},
): Tensor {
  const { c, inner } = bnLayout(x);
  for (const [k, t] of Object.entries(params)) {
    if (t && t.size !== c) {
      throw new InputError(`batch norm ${k} has ${t.size} values, expected ${c} channels`);
    }
  }
  const out = output(x.shape);
  const relu = options.activation === "relu";
  const code = `${
    storageDecl([{ name: "X" }, { name: "Mean" }, { name: "Var" }, { name: "W" }, { name: "B" }], [{
      name: "Y",
    }])
  }${uniformDecl(6, 6)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let ch = (gi / P(2u)) % P(1u);
  let w = select(1.0, W[min(ch, arrayLength(&W) - 1u)], P(4u) != 0u);
  let b = select(0.0, B[min(ch, arrayLength(&B) - 1u)], P(5u) != 0u);
  let y = (X[gi] - Mean[ch]) * inverseSqrt(Var[ch] + PF(3u)) * w + b;
  Y[gi] = ${relu ? "max(y, 0.0)" : "y"};
}`;
  const u = new Uniforms().int(x.size, c, inner).float(options.eps ?? 1e-5).int(
    params.weight ? 1 : 0,
    params.bias ? 1 : 0,
  );
  const w = params.weight ?? params.mean, b = params.bias ?? params.mean;
  runFlat(
    compile(code, 6, `batch_norm${relu ? "_relu" : ""}`),
    [x.buf, params.mean.buf, params.variance.buf, w.buf, b.buf, out.buf],
    u,
    x.size,
  );
  return out;
}

/** Per-channel batch mean and biased variance of [N, C, ...] (two passes, for precision). */
export function batchStats(x: Tensor): { mean: Tensor; variance: Tensor } {
  const { n, c, inner } = bnLayout(x);
  const mean = output([c]), variance = output([c]);
  const code = `${storageDecl([{ name: "X" }], [{ name: "Mean" }, { name: "Var" }])}${uniformDecl(3, 3)}
${flatMain()}  let C = P(1u); let inner = P(2u); let n = P(0u);
  if (gi >= C) { return; }
  var s = 0.0;
  for (var b = 0u; b < n; b++) { for (var i = 0u; i < inner; i++) { s += X[(b * C + gi) * inner + i]; } }
  let m = s / f32(n * inner);
  var v = 0.0;
  for (var b = 0u; b < n; b++) {
    for (var i = 0u; i < inner; i++) { let d = X[(b * C + gi) * inner + i] - m; v += d * d; }
  }
  Mean[gi] = m;
  Var[gi] = v / f32(n * inner);
}`;
  runFlat(
    compile(code, 3, "batch_stats"),
    [x.buf, mean.buf, variance.buf],
    new Uniforms().int(n, c, inner),
    c,
  );
  return { mean, variance };
}

/** Host-side BatchNorm parameters. */
export interface BatchNormHost {
  /** γ (default 1). */
  weight?: Float32Array;
  /** β (default 0). */
  bias?: Float32Array;
  /** Running mean. */
  mean: Float32Array;
  /** Running variance. */
  variance: Float32Array;
  /** ε. */
  eps: number;
}

/**
 * Folds a BatchNorm that follows a linear/conv layer into that layer's weight and bias:
 * `w' = w · γ/σ` per output channel (the leading dimension of `weight`), `b' = (b − μ)·γ/σ + β`.
 */
export function batchNormFold(
  layer: { weight: Float32Array; bias?: Float32Array },
  bn: BatchNormHost,
): { weight: Float32Array; bias: Float32Array } {
  const out = bn.mean.length;
  if (layer.weight.length % out !== 0) {
    throw new InputError(
      `cannot fold batch norm of ${out} channels into a weight of ${layer.weight.length} values`,
    );
  }
  const per = layer.weight.length / out;
  const weight = new Float32Array(layer.weight.length);
  const bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const g = (bn.weight ? bn.weight[o] : 1) / Math.sqrt(bn.variance[o] + bn.eps);
    for (let i = 0; i < per; i++) weight[o * per + i] = layer.weight[o * per + i] * g;
    bias[o] = ((layer.bias ? layer.bias[o] : 0) - bn.mean[o]) * g + (bn.bias ? bn.bias[o] : 0);
  }
  return { weight, bias };
}
