/**
 * Seeded weight initialisation as the reference implementations do it. Values are drawn on the host from
 * `Rng` (Philox, engine/random.ts), so the same seed gives the same weights on every adapter, then
 * uploaded once. Returned tensors are trainable leaves (`requiresGrad = true`).
 *
 * - `linearInit`: PyTorch's default `nn.Linear`/`nn.ConvNd` init — weight `kaiming_uniform_(a=√5)`, i.e.
 *   U(±1/√fan_in), and bias U(±1/√fan_in).
 * - `kaimingNormal` / `kaimingUniform`: `torch.nn.init.kaiming_normal_` / `kaiming_uniform_`
 *   (std = gain/√fan, bound = gain·√(3/fan); gain √2 for ReLU, √(2/(1+a²)) for leaky ReLU).
 * - `varianceScaling`: TF1 `tf.contrib.layers.variance_scaling_initializer` as Martinez et al. use it
 *   ("kaiming": factor 2, FAN_IN, truncated normal of std √(1.3·factor/fan), TF's fan rule where a
 *   vector's fan_in is its length — they initialise biases with it too).
 * @module
 */

import { InputError } from "./errors.ts";
import { Rng } from "./random.ts";
import { numel, type Tensor, tensor } from "./tensor.ts";

/** Nonlinearities whose gain PyTorch's `calculate_gain` defines (the ones used here). */
export type Nonlinearity = "linear" | "sigmoid" | "tanh" | "relu" | "leaky_relu";

/** `torch.nn.init.calculate_gain`. */
export function calculateGain(nonlinearity: Nonlinearity, options: { a?: number } = {}): number {
  switch (nonlinearity) {
    case "linear":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu": {
      const a = options.a ?? 0.01;
      return Math.sqrt(2 / (1 + a * a));
    }
  }
}

/** PyTorch fans of a weight [out, in, ...kernel]: fan_in = in·∏kernel, fan_out = out·∏kernel. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new InputError(`fan in/out need a weight of rank ≥ 2, got [${shape.join(", ")}]`);
  }
  const rf = numel(shape.slice(2));
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

function leaf(data: Float32Array, shape: readonly number[]): Tensor {
  const t = tensor(data, shape);
  t.requiresGrad = true;
  return t;
}

/** Options shared by the Kaiming initialisers. */
export interface KaimingOptions {
  /** Seed of the draw. */
  seed: number;
  /** Which fan scales the variance (default "fan_in"). */
  mode?: "fan_in" | "fan_out";
  /** Nonlinearity for the gain (default "leaky_relu" as PyTorch's default, with `a`). */
  nonlinearity?: Nonlinearity;
  /** Negative slope for leaky_relu (default 0). */
  a?: number;
}

function kaimingGainFan(shape: readonly number[], o: KaimingOptions): { gain: number; fan: number } {
  const { fanIn, fanOut } = fans(shape);
  const fan = (o.mode ?? "fan_in") === "fan_in" ? fanIn : fanOut;
  return { gain: calculateGain(o.nonlinearity ?? "leaky_relu", { a: o.a ?? 0 }), fan };
}

/** `kaiming_normal_`: N(0, (gain/√fan)²). */
export function kaimingNormal(shape: readonly number[], options: KaimingOptions): Tensor {
  const { gain, fan } = kaimingGainFan(shape, options);
  const std = gain / Math.sqrt(fan);
  return leaf(new Rng(options.seed).fillNormal(new Float32Array(numel(shape)), { std }), shape);
}

/** `kaiming_uniform_`: U(±gain·√(3/fan)). */
export function kaimingUniform(shape: readonly number[], options: KaimingOptions): Tensor {
  const { gain, fan } = kaimingGainFan(shape, options);
  const bound = gain * Math.sqrt(3 / fan);
  return leaf(
    new Rng(options.seed).fillUniform(new Float32Array(numel(shape)), { low: -bound, high: bound }),
    shape,
  );
}

/**
 * PyTorch's default init of a linear layer [out, in] (or a conv weight [out, in/groups, ...k] when
 * `kernel` is given): weight U(±1/√fan_in) (`kaiming_uniform_(a=√5)`), bias U(±1/√fan_in).
 */
export function linearInit(
  outFeatures: number,
  inFeatures: number,
  options: { seed: number; bias?: boolean; kernel?: number[] },
): { weight: Tensor; bias?: Tensor } {
  const shape = [outFeatures, inFeatures, ...(options.kernel ?? [])];
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new InputError(`invalid layer shape [${shape.join(", ")}]`);
  }
  const rng = new Rng(options.seed);
  const { fanIn } = fans(shape);
  const bound = 1 / Math.sqrt(fanIn); // gain √(2/(1+5)) · √(3/fan_in)
  const weight = leaf(rng.fillUniform(new Float32Array(numel(shape)), { low: -bound, high: bound }), shape);
  if (options.bias === false) return { weight };
  const bias = leaf(rng.fillUniform(new Float32Array(outFeatures), { low: -bound, high: bound }), [
    outFeatures,
  ]);
  return { weight, bias };
}

/**
 * TF1 `variance_scaling_initializer(factor, mode, uniform)`: truncated normal (redrawn beyond 2σ) of std
 * √(1.3·factor/n), or uniform ±√(3·factor/n); n from TF's fans of `shape` (fan_in = shape[-2], or
 * shape[-1] for a vector; fan_out = shape[-1]; FAN_AVG their mean). Martinez et al.: factor 2, FAN_IN.
 */
export function varianceScaling(
  shape: readonly number[],
  options: { seed: number; factor?: number; mode?: "fan_in" | "fan_out" | "fan_avg"; uniform?: boolean },
): Tensor {
  if (shape.length === 0) throw new InputError("varianceScaling needs a shape");
  const fanIn = shape.length > 1 ? shape[shape.length - 2] : shape[0];
  const fanOut = shape[shape.length - 1];
  // TF multiplies both fans by the receptive field of conv kernels (leading dimensions in TF layout).
  const rf = numel(shape.slice(0, -2));
  const mode = options.mode ?? "fan_in";
  const n = mode === "fan_in" ? fanIn * rf : mode === "fan_out" ? fanOut * rf : (fanIn + fanOut) * rf / 2;
  const factor = options.factor ?? 2;
  const rng = new Rng(options.seed);
  const out = new Float32Array(numel(shape));
  if (options.uniform) {
    const limit = Math.sqrt(3 * factor / n);
    rng.fillUniform(out, { low: -limit, high: limit });
  } else {
    const std = Math.sqrt(1.3 * factor / n);
    for (let i = 0; i < out.length; i++) {
      let z: number;
      do z = rng.normal(); while (Math.abs(z) > 2);
      out[i] = z * std;
    }
  }
  return leaf(out, shape);
}

/** A trainable tensor of zeros or ones (BN γ = 1, β = 0; biases). */
export function constantInit(shape: readonly number[], value: number): Tensor {
  return leaf(new Float32Array(numel(shape)).fill(value), shape);
}
