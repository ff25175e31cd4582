/**
 * The element-wise pass of training-mode BatchNorm → ReLU → Dropout (`ops.batchNormReluDropout`, three
 * kernels instead of eight): normalise with the batch statistics (`batchStats`), ReLU and dropout in one
 * pass, vec4 over channels when it can, whose first-row invocations also update the running statistics.
 * The backward is `batchNormTrainBackward` with its `relu` mask (engine/kernels/backward.ts).
 * The dropout mask is `dropoutMask`'s (engine/random.ts): the same seed drops the same elements as
 * `ops.dropout` after `ops.relu` after `ops.batchNormTraining`.
 * @module
 */

import { dropThreshold, seedKey } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";
import { PHILOX_WGSL } from "./random.ts";
import { bnLayout } from "./batch_norm.ts";

/** Options of `batchNormReluDropoutApply`. */
export interface BnReluDropoutOptions {
  /** ε. */
  eps: number;
  /** Dropout probability (0: none). */
  p: number;
  /** Dropout seed (ignored when `p` is 0). */
  seed: number;
  /** Running-statistics momentum. */
  momentum: number;
}

/**
 * `y = dropout(relu((x − mean)/sqrt(var + eps)·w + b))` element-wise; one Philox block per 4 consecutive
 * elements, as `dropoutApply`. With inner size 1 and C divisible by 4, each invocation computes 4
 * channels of one row with vector loads. The invocations of the first element of each channel also
 * update `running` in place as PyTorch: `r ← (1−m)·r + m·batch`, the variance unbiased by count/(count−1).
 * (Done here rather than in the statistics pass: on lavapipe that per-channel loop ran 3× slower with the
 * update in its tail, 0.85 against 0.25 ms for [64, 1024].)
 */
export function batchNormReluDropoutApply(
  x: Tensor,
  params: {
    mean: Tensor;
    variance: Tensor;
    weight?: Tensor;
    bias?: Tensor;
    running: { mean: Tensor; variance: Tensor };
  },
  options: BnReluDropoutOptions,
): Tensor {
  const { n, c, inner } = bnLayout(x);
  const out = output(x.shape);
  const vec = inner === 1 && c % 4 === 0;
  const drop = options.p > 0;
  const t = vec ? "vec4<f32>" : "f32";
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  // Word k of the block: the element's index mod 4 (vec4: the lanes; scalar: gi % 4).
  const keep = vec
    ? `philox(vec4<u32>(gi, 0u, 0u, 0u), vec2<u32>(P(4u), P(5u))) >= vec4<u32>(P(6u))`
    : `philox(vec4<u32>(gi / 4u, 0u, 0u, 0u), vec2<u32>(P(4u), P(5u)))[gi % 4u] >= P(6u)`;
  const code = `${
    storageDecl(
      [{ name: "X", type: t }, { name: "Mean", type: t }, { name: "Var", type: t }, { name: "W", type: t }, {
        name: "B",
        type: t,
      }],
      [{ name: "Y", type: t }, { name: "RM", type: t }, { name: "RV", type: t }],
    )
  }${uniformDecl(8, 12)}${drop ? PHILOX_WGSL : ""}
${flatMain()}  if (gi >= P(0u)) { return; }
  let ch = ${vec ? "gi % P(1u)" : "(gi / P(2u)) % P(1u)"};
  let w = select(${vec ? "vec4<f32>(1.0)" : "1.0"}, W[min(ch, arrayLength(&W) - 1u)], P(7u) != 0u);
  let b = select(${zero}, B[min(ch, arrayLength(&B) - 1u)], P(8u) != 0u);
  let mean = Mean[ch]; let vb = Var[ch];
  let y = max((X[gi] - mean) * inverseSqrt(vb + PF(3u)) * w + b, ${zero});
  Y[gi] = ${drop ? `select(${zero}, y * PF(9u), ${keep})` : "y"};
  if (gi < P(2u) * P(1u) && gi % P(2u) == 0u) {
    let mo = PF(10u);
    RM[ch] = (1.0 - mo) * RM[ch] + mo * mean;
    RV[ch] = (1.0 - mo) * RV[ch] + mo * vb * PF(11u);
  }
}`;
  const lanes = vec ? 4 : 1;
  const [k0, k1] = seedKey(options.seed);
  const count = n * inner;
  const u = new Uniforms().int(x.size / lanes, c / lanes, inner).float(options.eps).int(
    k0,
    k1,
    drop ? dropThreshold(options.p) : 0,
    params.weight ? 1 : 0,
    params.bias ? 1 : 0,
  ).float(drop ? 1 / (1 - options.p) : 1, options.momentum, count > 1 ? count / (count - 1) : 1);
  const w = params.weight ?? params.mean, b = params.bias ?? params.mean;
  runFlat(
    compile(code, 8, `batch_norm_relu${drop ? "_dropout" : ""}:${lanes}`),
    [
      x.buf,
      params.mean.buf,
      params.variance.buf,
      w.buf,
      b.buf,
      out.buf,
      params.running.mean.buf,
      params.running.variance.buf,
    ],
    u,
    x.size / lanes,
  );
  return out;
}
