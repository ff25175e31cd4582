/**
 * Batch normalisation over the channel axis 1 of [N, C, ...]: inference with running statistics, batch
 * statistics for training, and folding BN into the preceding linear/conv weights (host side, at load time).
 * @module
 */

import { forEachRowChunk, planRows, range } from "../chunking.ts";
import { InputError } from "../errors.ts";
import { numel, type Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

/** The [N, C, inner] view of a batch-norm input `[N, C, ...]` (throws below rank 2). */
export function bnLayout(x: Tensor): { n: number; c: number; inner: number } {
  if (x.rank < 2) throw new InputError(`batch norm needs [N, C, ...], got [${x.shape.join(", ")}]`);
  return { n: x.shape[0], c: x.shape[1], inner: numel(x.shape.slice(2)) };
}

/**
 * WGSL looping `body` over the N·inner elements of channel `gi` of an [N, C, inner] binding, with `j` the
 * element's index. One flat loop with running counters, not a loop over N around a loop over inner: lavapipe
 * (Mesa 25, LLVM) miscomputed that nested form once N·inner passed ~10⁴ with inner 1 (a batch variance
 * off by 3× at [16384, 64, 1]; tests/engine/batch_norm_long_test.ts keeps the case).
 */
export function channelLoop(body: string): string {
  return `{
    let total = n * inner; let skip = (C - 1u) * inner;
    var j = gi * inner; var i = 0u;
    for (var t = 0u; t < total; t++) {
      ${body}
      i++; j++;
      if (i == inner) { i = 0u; j += skip; }
    }
  }`;
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
  const w = params.weight ?? params.mean, b = params.bias ?? params.mean;
  const kernel = compile(code, 6, `batch_norm${relu ? "_relu" : ""}`);
  // Over one binding: in chunks of whole rows of N (engine/chunking.ts); each chunk starts at channel 0.
  const rowBytes = c * inner * 4;
  forEachRowChunk(x.shape[0], [rowBytes], (_, rows, bind) => {
    const size = rows * c * inner;
    const u = new Uniforms().int(size, c, inner).float(options.eps ?? 1e-5).int(
      params.weight ? 1 : 0,
      params.bias ? 1 : 0,
    );
    runFlat(
      kernel,
      [bind(x.buf, rowBytes), params.mean.buf, params.variance.buf, w.buf, b.buf, bind(out.buf, rowBytes)],
      u,
      size,
    );
  }, { what: "batch_norm" });
  return out;
}

/**
 * Per-channel batch mean and biased variance of [N, C, ...] (two passes, for precision). Over one storage
 * binding, each pass runs per chunk of rows of N, adding its share into the statistics.
 */
export function batchStats(x: Tensor): { mean: Tensor; variance: Tensor } {
  const { n, c, inner } = bnLayout(x);
  const mean = output([c]), variance = output([c]);
  const rowBytes = c * inner * 4;
  const plan = planRows(n, [rowBytes], { wholeBytes: [c * 4], what: "batch_stats" });
  if (plan !== null) {
    const scale = 1 / (n * inner);
    for (const pass of ["mean", "variance"] as const) {
      const kernel = statsChunkKernel(pass);
      plan.forEach(({ start, count }, k) => {
        const xs = range(x.buf, start * rowBytes, count * rowBytes);
        runFlat(
          kernel,
          pass === "mean" ? [xs, mean.buf] : [xs, mean.buf, variance.buf],
          new Uniforms().int(count, c, inner, k > 0 ? 1 : 0).float(scale),
          c,
        );
      });
    }
    return { mean, variance };
  }
  const code = `${storageDecl([{ name: "X" }], [{ name: "Mean" }, { name: "Var" }])}${uniformDecl(3, 3)}
${flatMain()}  let C = P(1u); let inner = P(2u); let n = P(0u);
  if (gi >= C) { return; }
  var s = 0.0;
  ${channelLoop("s += X[j];")}
  let m = s / f32(n * inner);
  var v = 0.0;
  ${channelLoop("let d = X[j] - m; v += d * d;")}
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

/**
 * One pass of `batchStats` over a chunk of rows: adds `scale·Σ x` into Mean ("mean") or, with the mean
 * complete, `scale·Σ (x − mean)²` into Var ("variance"); the first chunk (P(3) = 0) overwrites.
 */
function statsChunkKernel(pass: "mean" | "variance"): ReturnType<typeof compile> {
  const mean = pass === "mean";
  const decl = mean
    ? storageDecl([{ name: "X" }], [{ name: "Out" }])
    : storageDecl([{ name: "X" }, { name: "Mean" }], [{ name: "Out" }]);
  const term = mean ? "X[j]" : "(X[j] - m) * (X[j] - m)";
  return compile(
    `${decl}${uniformDecl(mean ? 2 : 3, 5)}
${flatMain()}  let n = P(0u); let C = P(1u); let inner = P(2u);
  if (gi >= C) { return; }
  ${mean ? "" : "let m = Mean[gi];"}
  var s = 0.0;
  ${channelLoop(`s += ${term};`)}
  Out[gi] = select(0.0, Out[gi], P(3u) != 0u) + s * PF(4u);
}`,
    mean ? 2 : 3,
    `batch_stats_chunk:${pass}`,
  );
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
