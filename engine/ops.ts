/**
 * The functional, differentiable op set that layers and models are written in. Each function runs the
 * forward kernel; when gradients are being recorded (inside `withGrad`, see `autograd.ts`) and an input
 * requires a gradient, it also records how to propagate gradients. Layers use only these functions, so
 * one model definition serves inference and training.
 * @module
 */

import { binary, fill, unary } from "./kernels/elementwise.ts";
import { type Activation, matmul as matmulKernel } from "./kernels/matmul.ts";
import { batchNorm as batchNormKernel, batchStats } from "./kernels/batch_norm.ts";
import {
  concat as concatKernel,
  gather as gatherKernel,
  pad as padKernel,
  permute as permuteKernel,
  slice as sliceKernel,
  stridedCopy,
} from "./kernels/shape.ts";
import { mean as meanKernel, softmax as softmaxKernel, sum as sumKernel } from "./kernels/reduce.ts";
import {
  adaptiveAvgPool2dBackward,
  avgPool2dBackward,
  batchNormGradInput,
  batchNormSums,
  batchNormTrainBackward,
  convWeightGrad,
  gatherGrad,
  maxPool2dBackward,
  pointwise,
  resizeBilinearBackward,
  resizeNearestBackward,
  softmaxBackward,
  sumToShape,
  transposeEpilogue,
  updateRunningStats,
} from "./kernels/backward.ts";
import { backend, isSoftwareAdapter } from "./backend.ts";
import { dropoutApply } from "./kernels/random.ts";
import { batchNormReluDropoutApply } from "./kernels/batch_norm_train.ts";
import {
  conv1d as conv1dKernel,
  type Conv1dOptions,
  conv2d as conv2dKernel,
  type Conv2dOptions,
  convTranspose2d as convTranspose2dKernel,
  type ConvTranspose2dOptions,
} from "./kernels/conv.ts";
import {
  adaptiveAvgPool2d as adaptiveAvgPool2dKernel,
  avgPool2d as avgPool2dKernel,
  type AvgPool2dOptions,
  globalAvgPool2d as globalAvgPool2dKernel,
  maxPool2d as maxPool2dKernel,
  type MaxPool2dOptions,
  type PoolSize,
} from "./kernels/pool.ts";
import {
  pad2d as pad2dKernel,
  type Pad2dOptions,
  resizeBilinear as resizeBilinearKernel,
  type ResizeBilinearOptions,
  resizeNearest as resizeNearestKernel,
} from "./kernels/resize.ts";
import { normAxis } from "./kernels/common.ts";
import { isRecording, noGrad, record, requiresGrad, type SparseGrad } from "./autograd.ts";
import { InputError } from "./errors.ts";
import { nextSeed } from "./random.ts";
import { type DType, stridesOf, type Tensor } from "./tensor.ts";
import { cast as castKernel } from "./kernels/cast.ts";

const same = (a: readonly number[], b: readonly number[]): boolean => a.join() === b.join();

/** `g` reduced to `shape` (over broadcast dims); `t` is disposed when replaced, unless it is `keepT`. */
function reduceTo(t: Tensor, shape: readonly number[], keepT: Tensor): Tensor {
  if (same(t.shape, shape)) return t;
  const r = sumToShape(t, shape);
  if (t !== keepT) t.dispose();
  return r;
}

/** `t` flattened to [rows, last] (a copy when rank > 2, else `t`). */
function as2d(t: Tensor): Tensor {
  return t.rank === 2 ? t : t.reshape([-1, t.shape[t.rank - 1]]);
}

function slopeOf(activation: Activation | undefined, alpha: number | undefined): number {
  return activation === "relu" ? 0 : activation === "leaky_relu" ? alpha ?? 0.01 : 1;
}

/**
 * Gradient through a fused `act(z) + residual` epilogue, from the output `y`: `g·act'(z)`. The sign of
 * z is read from `y − residual` (= act(z), whose sign is z's for slopes ≥ 0), so nothing extra is saved.
 */
function epilogueGrad(g: Tensor, y: Tensor, residual: Tensor | undefined, slope: number): Tensor {
  if (slope === 1) return g;
  return residual
    ? pointwise([y, residual, g], "select(x2 * a, x2, x0 - x1 > 0.0)", { a: slope })
    : pointwise([y, g], "select(x1 * a, x1, x0 > 0.0)", { a: slope });
}

/**
 * Whether `x·Wᵀ` (x [m, k], W [n, k]) is computed as `(W·xᵀ)ᵀ`: on CPU adapters, for a short batch and a
 * large weight (measured on lavapipe at 64×1024×1024: 11 ms against 18 ms).
 */
function transposedRoute(m: number, n: number, k: number): boolean {
  return isSoftwareAdapter() && m <= 256 && n >= 256 && k >= 256 && n >= 2 * m;
}

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
    /** The weight stays unchanged while its tensor lives (eval mode): kernels may cache a packed copy. */
    constantWeight?: boolean;
  } = {},
): Tensor {
  const outIn = (options.weightLayout ?? "out_in") === "out_in";
  const slope = slopeOf(options.activation, options.alpha);
  const { bias } = options;
  // A residual of the output's size in another shape ([N, T', O] for rows [N·T', O]) is taken in the
  // output's: the kernels read it flat, but its gradient must come back in its own shape.
  const outShape = [...x.shape.slice(0, -1), weight.shape[outIn ? 0 : 1]];
  const residual = options.residual && options.residual.shape.join() !== outShape.join()
    ? reshape(options.residual, outShape)
    : options.residual;
  let y: Tensor;
  // Not in training: there the forward's x·Wᵀ costs less CPU than W·xᵀ plus the two transposes (lavapipe,
  // 64×1024×1024 on the current kernels: 26 vs 32 ms CPU; bench/step_profile.ts).
  const training = isRecording() && requiresGrad(weight);
  if (outIn && x.rank === 2 && !training && transposedRoute(x.shape[0], weight.shape[0], weight.shape[1])) {
    // yᵀ = W·xᵀ runs as a plain (NN) product, which CPU adapters do ~1.6× faster than x·Wᵀ for a
    // short batch; the transposes of x and y are small and the epilogue rides on the second.
    const xT = permuteKernel(x, [1, 0]);
    const yT = matmulKernel(weight, xT);
    xT.dispose();
    y = transposeEpilogue(yT, { bias, residual, slope });
    yT.dispose();
  } else {
    y = matmulKernel(x, weight, {
      transB: outIn,
      bias,
      activation: options.activation,
      alpha: options.alpha,
      residual,
      constantB: options.constantWeight,
    });
  }
  record(y, [x, weight, bias, residual], {
    backward: (g, needs) => {
      const gz = epilogueGrad(g, y, residual, slope);
      // dx = gz·W ([out,in]) or gz·Wᵀ ([in,out]); dW = gzᵀ·x or xᵀ·gz; db = Σ_rows gz.
      const dx = needs[0] ? matmulKernel(gz, weight, { transB: !outIn }) : null;
      let dw: Tensor | null = null, db: Tensor | null = null;
      if (needs[1] || needs[2]) {
        const g2 = as2d(gz);
        if (needs[1]) {
          const x2 = as2d(x);
          dw = outIn ? matmulKernel(g2, x2, { transA: true }) : matmulKernel(x2, g2, { transA: true });
          if (x2 !== x) x2.dispose();
        }
        if (needs[2]) {
          db = sumToShape(g2, [g2.shape[1]]);
          if (!same(db.shape, bias!.shape)) {
            const r = db.reshape(bias!.shape);
            db.dispose();
            db = r;
          }
        }
        if (g2 !== gz) g2.dispose();
      }
      if (gz !== g) gz.dispose();
      return [dx, dw, db, needs[3] ? g : null];
    },
    saved: [x, weight, slope !== 1 ? y : null, slope !== 1 ? residual : null],
    label: "linear",
  });
  return y;
}

/**
 * Matrix product `op(a)·op(b)` (batched; a 2-D operand broadcasts over the other's batch), with optional
 * transposes. Use `linear` for layers (fused bias/activation/residual).
 */
export function matmul(a: Tensor, b: Tensor, options: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const tA = options.transA ?? false, tB = options.transB ?? false;
  const y = matmulKernel(a, b, { transA: tA, transB: tB });
  record(y, [a, b], {
    backward: (g, needs) => {
      let da: Tensor | null = null, db: Tensor | null = null;
      if (needs[0]) {
        da = tA ? matmulKernel(b, g, { transA: tB, transB: true }) : matmulKernel(g, b, { transB: !tB });
        da = reduceTo(da, a.shape, g);
      }
      if (needs[1]) {
        db = tB ? matmulKernel(g, a, { transA: true, transB: tA }) : matmulKernel(a, g, { transA: !tA });
        db = reduceTo(db, b.shape, g);
      }
      return [da, db];
    },
    saved: [a, b],
    label: "matmul",
  });
  return y;
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: Tensor): Tensor {
  const y = binary(a, b, "add");
  record(y, [a, b], {
    backward: (g, needs) => [
      needs[0] ? reduceTo(g, a.shape, g) : null,
      needs[1] ? reduceTo(g, b.shape, g) : null,
    ],
    label: "add",
  });
  return y;
}

/** a − b (broadcasting). */
export function sub(a: Tensor, b: Tensor): Tensor {
  const y = binary(a, b, "sub");
  record(y, [a, b], {
    backward: (g, needs) => [
      needs[0] ? reduceTo(g, a.shape, g) : null,
      needs[1] ? reduceTo(unary(g, "neg"), b.shape, g) : null,
    ],
    label: "sub",
  });
  return y;
}

/** a · b (broadcasting). */
export function mul(a: Tensor, b: Tensor): Tensor {
  const y = binary(a, b, "mul");
  record(y, [a, b], {
    backward: (g, needs) => [
      needs[0] ? reduceTo(binary(g, b, "mul"), a.shape, g) : null,
      needs[1] ? reduceTo(binary(g, a, "mul"), b.shape, g) : null,
    ],
    saved: [a, b],
    label: "mul",
  });
  return y;
}

/** a / b (broadcasting). */
export function div(a: Tensor, b: Tensor): Tensor {
  const y = binary(a, b, "div");
  record(y, [a, b], {
    backward: (g, needs) => [
      needs[0] ? reduceTo(binary(g, b, "div"), a.shape, g) : null,
      needs[1] ? reduceTo(pointwise([g, a, b], "-x0 * x1 / (x2 * x2)"), b.shape, g) : null,
    ],
    saved: [a, b],
    label: "div",
  });
  return y;
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  const y = unary(x, "relu");
  // relu(x) > 0 exactly where x > 0: the output (often saved by the next layer anyway) is enough.
  record(y, [x], { backward: (g) => [binary(y, g, "relu_grad")], saved: [y], label: "relu" });
  return y;
}

/** x > 0 ? x : α·x. */
export function leakyRelu(x: Tensor, options: { alpha?: number } = {}): Tensor {
  const alpha = options.alpha ?? 0.01;
  const y = unary(x, "leaky_relu", { a: alpha });
  record(y, [x], {
    backward: (g) => [pointwise([x, g], "select(x1 * a, x1, x0 > 0.0)", { a: alpha })],
    saved: [x],
    label: "leaky_relu",
  });
  return y;
}

/** 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor {
  const y = unary(x, "sigmoid");
  record(y, [x], {
    backward: (g) => [pointwise([y, g], "x1 * x0 * (1.0 - x0)")],
    saved: [y],
    label: "sigmoid",
  });
  return y;
}

/** tanh(x). */
export function tanh(x: Tensor): Tensor {
  const y = unary(x, "tanh");
  record(y, [x], { backward: (g) => [pointwise([y, g], "x1 * (1.0 - x0 * x0)")], saved: [y], label: "tanh" });
  return y;
}

/** x · a + b with scalars. */
export function affine(x: Tensor, options: { scale?: number; shift?: number }): Tensor {
  const a = options.scale ?? 1;
  const y = unary(x, "affine", { a, b: options.shift ?? 0 });
  record(y, [x], { backward: (g) => [unary(g, "affine", { a, b: 0 })], label: "affine" });
  return y;
}

/** −x. */
export function neg(x: Tensor): Tensor {
  const y = unary(x, "neg");
  record(y, [x], { backward: (g) => [unary(g, "neg")], label: "neg" });
  return y;
}

/** |x| (gradient sign(x), 0 at 0 as in PyTorch). */
export function abs(x: Tensor): Tensor {
  const y = unary(x, "abs");
  record(y, [x], { backward: (g) => [pointwise([x, g], "x1 * sign(x0)")], saved: [x], label: "abs" });
  return y;
}

/** x². */
export function square(x: Tensor): Tensor {
  const y = unary(x, "square");
  record(y, [x], { backward: (g) => [pointwise([x, g], "2.0 * x0 * x1")], saved: [x], label: "square" });
  return y;
}

/** eˣ. */
export function exp(x: Tensor): Tensor {
  const y = unary(x, "exp");
  record(y, [x], { backward: (g) => [binary(g, y, "mul")], saved: [y], label: "exp" });
  return y;
}

/** ln x. */
export function log(x: Tensor): Tensor {
  const y = unary(x, "log");
  record(y, [x], { backward: (g) => [binary(g, x, "div")], saved: [x], label: "log" });
  return y;
}

/** √x. */
export function sqrt(x: Tensor): Tensor {
  const y = unary(x, "sqrt");
  record(y, [x], { backward: (g) => [pointwise([g, y], "0.5 * x0 / x1")], saved: [y], label: "sqrt" });
  return y;
}

/**
 * Inverted dropout: in training each element is zeroed with probability `p` and the rest scaled by
 * 1/(1−p); otherwise (or with p = 0) a copy. The mask is a pure function of (`seed`, element index)
 * (Philox, engine/kernels/random.ts): the same seed gives the same mask, and backward recomputes it.
 * Without a seed one is drawn from the process-wide stream (`manualSeed` makes runs repeatable).
 */
export function dropout(x: Tensor, options: { p?: number; training?: boolean; seed?: number } = {}): Tensor {
  const p = options.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new InputError(`dropout probability must be in [0, 1], got ${p}`);
  if (!options.training || p === 0) {
    const y = x.reshape(x.shape);
    record(y, [x], { backward: (g) => [g], label: "dropout_identity" });
    return y;
  }
  const seed = options.seed ?? nextSeed();
  const y = dropoutApply(x, { p, seed });
  record(y, [x], { backward: (g) => [dropoutApply(g, { p, seed })], label: "dropout" });
  return y;
}

/** Batch norm over axis 1 with given (running) statistics: inference mode (differentiable in x, γ, β). */
export function batchNormInference(
  x: Tensor,
  params: { mean: Tensor; variance: Tensor; weight?: Tensor; bias?: Tensor },
  options: { eps?: number } = {},
): Tensor {
  const eps = options.eps ?? 1e-5;
  const y = batchNormKernel(x, params, { eps });
  const { mean, variance, weight, bias } = params;
  record(y, [x, weight, bias], {
    backward: (g, needs) => {
      const dx = needs[0] ? batchNormGradInput(g, x, { mean, variance, weight, eps, training: false }) : null;
      let dw: Tensor | null = null, db: Tensor | null = null;
      if (needs[1] || needs[2]) {
        const s = batchNormSums(g, x, { mean, variance, eps });
        dw = needs[1] ? s.sumGXhat : (s.sumGXhat.dispose(), null);
        db = needs[2] ? s.sumG : (s.sumG.dispose(), null);
      }
      return [dx, dw, db];
    },
    saved: [x, mean, variance, weight],
    label: "batch_norm_inference",
  });
  return y;
}

/**
 * Batch norm over axis 1 with the batch's own statistics (training mode); also returns those statistics
 * (mean and biased variance, not differentiated). With `params.running`, the running statistics are
 * updated in place as PyTorch does: `r ← (1−momentum)·r + momentum·batch`, the variance unbiased
 * (momentum 0.1 by default; TF's decay d is momentum 1−d). Backward goes through the batch statistics.
 */
export function batchNormTraining(
  x: Tensor,
  params: { weight?: Tensor; bias?: Tensor; running?: { mean: Tensor; variance: Tensor } },
  options: { eps?: number; momentum?: number } = {},
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const eps = options.eps ?? 1e-5;
  const perChannel = x.rank >= 2 ? x.size / x.shape[1] : 0;
  if (perChannel < 2) {
    throw new InputError(
      `batch norm in training mode needs more than one value per channel, got [${x.shape.join(", ")}]`,
    );
  }
  const { mean, variance } = batchStats(x);
  const { weight, bias } = params;
  const y = batchNormKernel(x, { mean, variance, weight, bias }, { eps });
  if (params.running) {
    updateRunningStats(params.running, { mean, variance }, {
      momentum: options.momentum ?? 0.1,
      count: perChannel,
    });
  }
  record(y, [x, weight, bias], {
    backward: (g, needs) => {
      let s: { sumG: Tensor; sumGXhat: Tensor }, dx: Tensor | null = null;
      if (needs[0] && perChannel <= 4096) {
        ({ dx, ...s } = batchNormTrainBackward(g, x, { mean, variance, weight, eps }));
      } else {
        s = batchNormSums(g, x, { mean, variance, eps });
        if (needs[0]) dx = batchNormGradInput(g, x, { mean, variance, weight, sums: s, eps, training: true });
      }
      const dw = needs[1] ? s.sumGXhat : (s.sumGXhat.dispose(), null);
      const db = needs[2] ? s.sumG : (s.sumG.dispose(), null);
      return [dx, dw, db];
    },
    saved: [x, mean, variance, weight],
    label: "batch_norm_training",
  });
  return { y, mean, variance };
}

/** Whether `batchNormReluDropout` can run fused here (its backward binds nine storage buffers). */
export function canFuseBatchNormReluDropout(x: Tensor): boolean {
  return x.rank >= 2 && x.size / x.shape[1] <= 4096 &&
    backend().device.limits.maxStorageBuffersPerShaderStage >= 9;
}

/**
 * Training-mode `dropout(relu(batchNorm(x)))` with the batch statistics, in two forward kernels and one
 * backward kernel instead of eight (engine/kernels/batch_norm_train.ts); the same values, gradients,
 * running-statistics update and dropout mask (for the same seed) as `batchNormTraining`, `relu` and
 * `dropout` in sequence. `params.running` is updated in place as `batchNormTraining` does; `p` 0 is no
 * dropout. Check `canFuseBatchNormReluDropout` first.
 */
export function batchNormReluDropout(
  x: Tensor,
  params: { weight?: Tensor; bias?: Tensor; running: { mean: Tensor; variance: Tensor } },
  options: { eps?: number; momentum?: number; p?: number; seed?: number } = {},
): Tensor {
  const eps = options.eps ?? 1e-5, p = options.p ?? 0;
  if (!(p >= 0 && p < 1)) throw new InputError(`dropout probability must be in [0, 1), got ${p}`);
  const perChannel = x.rank >= 2 ? x.size / x.shape[1] : 0;
  if (perChannel < 2 || !canFuseBatchNormReluDropout(x)) {
    throw new InputError(
      `fused batch norm needs [N, C, ...] with 2 to 4096 values per channel and 9 storage bindings, got [${
        x.shape.join(", ")
      }]`,
    );
  }
  const seed = p > 0 ? options.seed ?? nextSeed() : 0;
  const { mean, variance } = batchStats(x);
  const { weight, bias, running } = params;
  const y = batchNormReluDropoutApply(x, { mean, variance, weight, bias, running }, {
    eps,
    p,
    seed,
    momentum: options.momentum ?? 0.1,
  });
  record(y, [x, weight, bias], {
    backward: (g, needs) => {
      const { dx, sumG, sumGXhat } = batchNormTrainBackward(g, x, {
        mean,
        variance,
        weight,
        eps,
        relu: { y, scale: p > 0 ? 1 / (1 - p) : 1 },
      });
      return [
        needs[0] ? dx : (dx.dispose(), null),
        needs[1] ? sumGXhat : (sumGXhat.dispose(), null),
        needs[2] ? sumG : (sumG.dispose(), null),
      ];
    },
    saved: [x, y, mean, variance, weight],
    label: "batch_norm_relu_dropout",
  });
  mean.dispose();
  variance.dispose();
  return y;
}

/** Concatenation along an axis. */
export function concat(xs: Tensor[], options: { axis?: number } = {}): Tensor {
  const y = concatKernel(xs, options);
  const axis = normAxis(options.axis ?? 0, y.rank);
  record(y, xs, {
    backward: (g, needs) => {
      let at = 0;
      return xs.map((t, i) => {
        const start = at;
        at += t.shape[axis];
        return needs[i] ? sliceKernel(g, [{ axis, start, end: at }]) : null;
      });
    },
    label: "concat",
  });
  return y;
}

/** Slicing along axes. */
export function slice(
  x: Tensor,
  ranges: { axis: number; start?: number; end?: number; step?: number }[],
): Tensor {
  const y = sliceKernel(x, ranges);
  record(y, [x], { backward: (g) => [sliceBackward(g, x.shape, ranges)], label: "slice" });
  return y;
}

/** Scatters `g` into zeros of `shape` at the view `slice(·, ranges)` selects (the same index rules). */
function sliceBackward(
  g: Tensor,
  shape: readonly number[],
  ranges: { axis: number; start?: number; end?: number; step?: number }[],
): SparseGrad {
  const starts = shape.map(() => 0), steps = shape.map(() => 1);
  for (const r of ranges) {
    const a = normAxis(r.axis, shape.length);
    const len = shape[a];
    const s = r.start ?? 0;
    starts[a] = Math.min(Math.max(s < 0 ? s + len : s, 0), len);
    steps[a] = r.step ?? 1;
  }
  const xs = stridesOf(shape);
  const block = (accumulate: boolean) => ({
    shape: [...g.shape],
    from: { offset: 0, strides: stridesOf(g.shape) },
    to: { offset: starts.reduce((acc, s, i) => acc + s * xs[i], 0), strides: xs.map((s, i) => s * steps[i]) },
    accumulate,
  });
  // Into a gradient x already has, only the slice's entries are added (see SparseGrad).
  return {
    shape: [...shape],
    materialize: () => {
      const out = fill(shape, 0);
      stridedCopy(g, out, block(false));
      return out;
    },
    addInto: (target) => stridedCopy(g, target, block(true)),
  };
}

/** Constant padding: `pads[i] = [before, after]` per axis (gradient: the unpadded block). */
export function pad(x: Tensor, pads: [number, number][], options: { value?: number } = {}): Tensor {
  const y = padKernel(x, pads, options);
  record(
    y,
    [x],
    {
      backward: (
        g,
      ) => [
        sliceKernel(
          g,
          x.shape.map((d, i) => ({ axis: i, start: pads[i]?.[0] ?? 0, end: (pads[i]?.[0] ?? 0) + d })),
        ),
      ],
      label: "pad",
    },
  );
  return y;
}

/** Index selection along an axis (gradient: scatter-add, repeated indices accumulate). */
export function gather(x: Tensor, indices: Tensor, options: { axis?: number } = {}): Tensor {
  const y = gatherKernel(x, indices, options);
  const axis = normAxis(options.axis ?? 0, x.rank);
  record(y, [x], {
    backward: (g) => [gatherGrad(g, indices, { shape: x.shape, axis })],
    saved: [indices],
    label: "gather",
  });
  return y;
}

/** Permutation of axes. */
export function permute(x: Tensor, perm: number[]): Tensor {
  const y = permuteKernel(x, perm);
  const inv = new Array(perm.length);
  perm.forEach((p, i) => inv[p] = i);
  record(y, [x], { backward: (g) => [permuteKernel(g, inv)], label: "permute" });
  return y;
}

/** Reshape (same number of elements). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshape(shape);
  record(y, [x], { backward: (g) => [g.reshape(x.shape)], label: "reshape" });
  return y;
}

/** The shape `x` has after reducing `axis` with keepDims (all axes when undefined). */
function keptShape(x: Tensor, axis: number | undefined): number[] {
  if (axis === undefined) return x.shape.map(() => 1);
  const a = normAxis(axis, x.rank);
  return x.shape.map((d, i) => i === a ? 1 : d);
}

function expandBack(g: Tensor, x: Tensor, axis: number | undefined, scale: number): Tensor {
  const ks = keptShape(x, axis);
  const gk = same(g.shape, ks) ? g : g.reshape(ks);
  const out = pointwise([gk], scale === 1 ? "x0" : "x0 * a", { a: scale, shape: x.shape });
  if (gk !== g) gk.dispose();
  return out;
}

/** Sum along an axis (or all). */
export function sum(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  const y = sumKernel(x, options);
  record(y, [x], { backward: (g) => [expandBack(g, x, options.axis, 1)], label: "sum" });
  return y;
}

/** Mean along an axis (or all). */
export function mean(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  const y = meanKernel(x, options);
  const n = options.axis === undefined ? x.size : x.shape[normAxis(options.axis, x.rank)];
  record(y, [x], { backward: (g) => [expandBack(g, x, options.axis, 1 / Math.max(n, 1))], label: "mean" });
  return y;
}

/** Softmax (or log-softmax with `log`) along an axis. */
export function softmax(x: Tensor, options: { axis?: number; log?: boolean } = {}): Tensor {
  const y = softmaxKernel(x, options);
  const axis = options.axis ?? -1, log = options.log ?? false;
  record(y, [x], { backward: (g) => [softmaxBackward(y, g, { axis, log })], saved: [y], label: "softmax" });
  return y;
}

/** Log-softmax along an axis. */
export function logSoftmax(x: Tensor, options: { axis?: number } = {}): Tensor {
  return softmax(x, { axis: options.axis, log: true });
}

/** A copy of `x` that is not part of any tape (a constant for later ops). */
export function detach(x: Tensor): Tensor {
  return noGrad(() => x.reshape(x.shape));
}

/**
 * `x` converted to `dtype` on the GPU (f32 ↔ f16, f32 ↔ i32; see `DType` for the f16 fallback). The
 * gradient flows back to a float input, cast to its dtype.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  const y = castKernel(x, dtype);
  record(y, [x], {
    backward: (g) => [x.dtype === "i32" ? null : castKernel(g, x.dtype)],
    label: "cast",
  });
  return y;
}

// ---------------------------------------------------------------------------------------------------
// Convolution and pooling (forward kernels: engine/kernels/conv.ts and pool.ts).

type Pair = readonly [number, number];
const pair2 = (v: number | readonly [number, number] | undefined, def: Pair): Pair =>
  v === undefined ? def : typeof v === "number" ? [v, v] : [v[0], v[1]];

/** Bias gradient of an NC… output: Σ over every axis but 1. */
function channelSum(g: Tensor): Tensor {
  const s = sumToShape(g, g.shape.map((d, i) => i === 1 ? d : 1));
  const r = s.reshape([g.shape[1]]);
  s.dispose();
  return r;
}

/** Shared backward of the conv family's fused epilogue: [gz for the product, d bias, d residual]. */
function convEpilogueGrads(
  g: Tensor,
  y: Tensor,
  needs: boolean[],
  e: { bias?: Tensor; residual?: Tensor; slope: number; residualFirst?: boolean },
): { gz: Tensor; db: Tensor | null; dr: Tensor | null } {
  // residualFirst: y = act(z + b + r), so the activation's mask comes from y itself and r gets gz.
  const gz = epilogueGrad(g, y, e.residualFirst ? undefined : e.residual, e.slope);
  return { gz, db: needs[2] ? channelSum(gz) : null, dr: needs[3] ? (e.residualFirst ? gz : g) : null };
}

/**
 * 2-D convolution as `torch.nn.functional.conv2d` with the fused epilogue
 * `act(conv(x, w) + bias) + residual`. Gradients: x by the transposed convolution of the output
 * gradient, w by `convWeightGrad`, bias by a channel sum.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const y = conv2dKernel(x, w, options);
  const stride = pair2(options.stride, [1, 1]), padding = pair2(options.padding, [0, 0]);
  const dilation = pair2(options.dilation, [1, 1]), groups = options.groups ?? 1;
  const kernel: Pair = [w.shape[2], w.shape[3]];
  const { bias, residual } = options;
  const slope = slopeOf(options.activation, options.alpha);
  record(y, [x, w, bias, residual], {
    backward: (g, needs) => {
      const { gz, db, dr } = convEpilogueGrads(g, y, needs, {
        bias,
        residual,
        slope,
        residualFirst: options.residualFirst,
      });
      let dx: Tensor | null = null;
      if (needs[0]) {
        // The rows/columns the forward stride skipped at the end come back as output padding.
        const op = [0, 1].map((i) =>
          x.shape[2 + i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1 -
          (y.shape[2 + i] - 1) * stride[i]
        );
        dx = convTranspose2dKernel(gz, w, {
          stride,
          padding,
          dilation,
          groups,
          outputPadding: [op[0], op[1]],
        });
      }
      const dw = needs[1] ? convWeightGrad(gz, x, { kernel, stride, padding, dilation, groups }) : null;
      if (gz !== g && gz !== dr) gz.dispose();
      return [dx, dw, db, dr];
    },
    saved: [x, w, slope !== 1 ? y : null, slope !== 1 ? residual : null],
    label: "conv2d",
  });
  return y;
}

/**
 * 1-D convolution as `torch.nn.functional.conv1d` (stride, padding, dilation, groups) with the fused
 * epilogue; its backward runs the 2-D kernels on height-1 views.
 */
export function conv1d(x: Tensor, w: Tensor, options: Conv1dOptions = {}): Tensor {
  const y = conv1dKernel(x, w, options);
  const s = options.stride ?? 1,
    p = options.padding ?? 0,
    d = options.dilation ?? 1,
    groups = options.groups ?? 1;
  const { bias, residual } = options;
  const slope = slopeOf(options.activation, options.alpha);
  record(y, [x, w, bias, residual], {
    backward: (g, needs) => {
      const { gz, db, dr } = convEpilogueGrads(g, y, needs, {
        bias,
        residual,
        slope,
        residualFirst: options.residualFirst,
      });
      const [N, C, T] = x.shape, [O, Cg, K] = w.shape, OT = y.shape[2];
      const gz4 = gz.reshape([N, O, 1, OT]);
      let dx: Tensor | null = null, dw: Tensor | null = null;
      if (needs[0]) {
        const w4 = w.reshape([O, Cg, 1, K]);
        const op = T + 2 * p - d * (K - 1) - 1 - (OT - 1) * s;
        const dx4 = convTranspose2dKernel(gz4, w4, {
          stride: [1, s],
          padding: [0, p],
          dilation: [1, d],
          groups,
          outputPadding: [0, op],
        });
        dx = dx4.reshape([N, C, T]);
        dx4.dispose();
        w4.dispose();
      }
      if (needs[1]) {
        const x4 = x.reshape([N, C, 1, T]);
        const dw4 = convWeightGrad(gz4, x4, {
          kernel: [1, K],
          stride: [1, s],
          padding: [0, p],
          dilation: [1, d],
          groups,
        });
        dw = dw4.reshape([O, Cg, K]);
        dw4.dispose();
        x4.dispose();
      }
      gz4.dispose();
      if (gz !== g && gz !== dr) gz.dispose();
      return [dx, dw, db, dr];
    },
    saved: [x, w, slope !== 1 ? y : null, slope !== 1 ? residual : null],
    label: "conv1d",
  });
  return y;
}

/**
 * 2-D transposed convolution as `torch.nn.functional.conv_transpose2d` (weight [C, O/groups, kh, kw])
 * with the fused epilogue. Gradients: x by the convolution of the output gradient with the same weight,
 * w by `convWeightGrad` with the roles of input and output swapped.
 */
export function convTranspose2d(x: Tensor, w: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const y = convTranspose2dKernel(x, w, options);
  const stride = pair2(options.stride, [1, 1]), padding = pair2(options.padding, [0, 0]);
  const dilation = pair2(options.dilation, [1, 1]), groups = options.groups ?? 1;
  const kernel: Pair = [w.shape[2], w.shape[3]];
  const { bias, residual } = options;
  const slope = slopeOf(options.activation, options.alpha);
  record(y, [x, w, bias, residual], {
    backward: (g, needs) => {
      const { gz, db, dr } = convEpilogueGrads(g, y, needs, {
        bias,
        residual,
        slope,
        residualFirst: options.residualFirst,
      });
      let dx: Tensor | null = null;
      if (needs[0]) {
        dx = conv2dKernel(gz, w, { stride, padding, dilation, groups });
        if (dx.shape[2] !== x.shape[2] || dx.shape[3] !== x.shape[3]) {
          // Output padding ≥ stride (allowed below the dilation) adds a row the input never had.
          const cut = sliceKernel(dx, [{ axis: 2, end: x.shape[2] }, { axis: 3, end: x.shape[3] }]);
          dx.dispose();
          dx = cut;
        }
      }
      const dw = needs[1] ? convWeightGrad(x, gz, { kernel, stride, padding, dilation, groups }) : null;
      if (gz !== g && gz !== dr) gz.dispose();
      return [dx, dw, db, dr];
    },
    saved: [x, w, slope !== 1 ? y : null, slope !== 1 ? residual : null],
    label: "conv_transpose2d",
  });
  return y;
}

/** 2-D max pooling as `torch.nn.functional.max_pool2d` (gradient to each window's first maximum). */
export function maxPool2d(x: Tensor, kernel: PoolSize, options: MaxPool2dOptions = {}): Tensor {
  const y = maxPool2dKernel(x, kernel, options);
  const k = pair2(kernel, [1, 1]);
  const win = {
    kernel: k,
    stride: pair2(options.stride, k),
    padding: pair2(options.padding, [0, 0]),
    dilation: pair2(options.dilation, [1, 1]),
  };
  record(y, [x], { backward: (g) => [maxPool2dBackward(x, g, win)], saved: [x], label: "max_pool2d" });
  return y;
}

/** 2-D average pooling as `torch.nn.functional.avg_pool2d`. */
export function avgPool2d(x: Tensor, kernel: PoolSize, options: AvgPool2dOptions = {}): Tensor {
  const y = avgPool2dKernel(x, kernel, options);
  const k = pair2(kernel, [1, 1]);
  const win = {
    kernel: k,
    stride: pair2(options.stride, k),
    padding: pair2(options.padding, [0, 0]),
    dilation: [1, 1] as Pair,
    shape: x.shape,
    countIncludePad: options.countIncludePad ?? true,
  };
  record(y, [x], { backward: (g) => [avgPool2dBackward(g, win)], label: "avg_pool2d" });
  return y;
}

/** Adaptive average pooling as `torch.nn.functional.adaptive_avg_pool2d`. */
export function adaptiveAvgPool2d(x: Tensor, size: PoolSize = 1): Tensor {
  const y = adaptiveAvgPool2dKernel(x, size);
  record(y, [x], {
    backward: (g) => [adaptiveAvgPool2dBackward(g, { shape: x.shape })],
    label: "adaptive_avg_pool2d",
  });
  return y;
}

/** Global average pooling: the mean over H and W as [N, C, 1, 1]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  const y = globalAvgPool2dKernel(x);
  record(y, [x], {
    backward: (g) => [adaptiveAvgPool2dBackward(g, { shape: x.shape })],
    label: "global_avg_pool2d",
  });
  return y;
}

// ---------------------------------------------------------------------------------------------------
// Resizing and 2-D padding (forward kernels: engine/kernels/resize.ts).

/** PyTorch's `area_pixel_compute_scale` in float32, as the forward kernel computes it. */
function resizeScale(inSize: number, outSize: number, alignCorners: boolean): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  return Math.fround(inSize / outSize);
}

/** Bilinear resize as `F.interpolate(x, size, mode="bilinear", align_corners)`. */
export function resizeBilinear(
  x: Tensor,
  size: readonly [number, number],
  options: ResizeBilinearOptions = {},
): Tensor {
  const y = resizeBilinearKernel(x, size, options);
  const ac = options.alignCorners ?? false;
  const scale: Pair = [resizeScale(x.shape[2], size[0], ac), resizeScale(x.shape[3], size[1], ac)];
  record(y, [x], {
    backward: (g) => [resizeBilinearBackward(g, { shape: x.shape, scale, alignCorners: ac })],
    label: "resize_bilinear",
  });
  return y;
}

/** Nearest-neighbour resize as `F.interpolate(x, size, mode="nearest")`. */
export function resizeNearest(x: Tensor, size: readonly [number, number]): Tensor {
  const y = resizeNearestKernel(x, size);
  const scale: Pair = [Math.fround(x.shape[2] / size[0]), Math.fround(x.shape[3] / size[1])];
  record(y, [x], {
    backward: (g) => [resizeNearestBackward(g, { shape: x.shape, scale })],
    label: "resize_nearest",
  });
  return y;
}

/** Constant padding of H and W as `F.pad(x, (left, right, top, bottom), value)`; negative pads crop. */
export function pad2d(
  x: Tensor,
  pads: readonly [number, number, number, number],
  options: Pad2dOptions = {},
): Tensor {
  const y = pad2dKernel(x, pads, options);
  const [l, r, t, b] = pads;
  // The adjoint of padding is cropping (and of cropping, zero padding): the same op, pads negated.
  record(y, [x], { backward: (g) => [pad2dKernel(g, [-l, -r, -t, -b])], label: "pad2d" });
  return y;
}
