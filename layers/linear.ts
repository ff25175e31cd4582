/**
 * `Linear`: `y = x·Wᵀ + b` with PyTorch's weight layout `[out, in]` and names `weight`, `bias`.
 * @module
 */

import { type Activation, cast, InputError, keep, ops, type Tensor, tensor } from "../engine/mod.ts";
import { defaultBound, nextRng, type Rng, uniform } from "./init.ts";
import { type FoldableLayer, Module } from "./module.ts";

/** Epilogue options fused into the matmul (one kernel on the GPU). */
export interface FusedEpilogue {
  /** Activation after the bias. */
  activation?: Activation;
  /** Negative slope of `leaky_relu` (default 0.01). */
  alpha?: number;
  /** Added after the activation; same number of elements as the output. */
  residual?: Tensor;
}

/** Storage dtypes of an inference weight (`Linear.weightDtype`, `setWeightDtype`). */
export type WeightDtype = "f32" | "f16";

/**
 * Sets the inference weight dtype of every `Linear` in `module` and returns how many there are: with "f16"
 * the eval-mode matmuls read f16 weights (half the weight bytes; accumulation, activations and biases stay
 * f32; folded BatchNorms are folded in f32, then rounded). Training (`train()`) always uses the f32
 * parameters. Other layers (convolutions) keep f32 weights. On an adapter without `shader-f16` the f16
 * weights fall back to f32 storage (see `DType`), so the outputs are the f32 ones.
 */
export function setWeightDtype(module: Module, dtype: WeightDtype): number {
  let n = 0;
  for (const m of module.modules()) {
    if (m instanceof Linear) {
      m.weightDtype = dtype;
      n++;
    }
  }
  return n;
}

/** Fully connected layer on `[rows, in]` (or any `[..., in]`, flattened to rows). */
export class Linear extends Module implements FoldableLayer {
  /** Input features. */
  readonly inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;
  /** Weight `[out, in]`. */
  readonly weight: Tensor;
  /** Bias `[out]`, or null. */
  readonly bias: Tensor | null;
  // A folded BatchNorm. With f16 weights at fold time (`host` set) the weight is kept only as the f16
  // [in, out] tensor the matmul reads, and its f32 values on the host for a switch back to f32.
  #folded: { weight: Tensor; bias: Tensor; host?: Float32Array } | null = null;
  #weightDtype: WeightDtype = "f32";

  /** Creates a layer with PyTorch's default initialisation. */
  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean; rng?: Rng } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const rng = options.rng ?? nextRng();
    const bound = defaultBound(inFeatures);
    this.weight = this.addParameter(
      "weight",
      tensor(uniform(outFeatures * inFeatures, bound, rng), [outFeatures, inFeatures]),
    );
    this.bias = options.bias ?? true
      ? this.addParameter("bias", tensor(uniform(outFeatures, bound, rng), [outFeatures]))
      : null;
  }

  /** Whether a BatchNorm is folded into this layer (eval mode only). */
  get folded(): boolean {
    return this.#folded !== null && !this.training;
  }

  /**
   * Storage dtype of the eval-mode weight the matmul reads (see `setWeightDtype`). The parameter itself,
   * the bias and training stay f32.
   */
  get weightDtype(): WeightDtype {
    return this.#weightDtype;
  }

  set weightDtype(dtype: WeightDtype) {
    if (dtype !== "f32" && dtype !== "f16") {
      throw new InputError(`Linear: weight dtype must be "f32" or "f16", got ${JSON.stringify(dtype)}`);
    }
    if (dtype === this.#weightDtype) return;
    this.#weightDtype = dtype;
    for (const key of ["wt", "folded_wt", "wt16", "folded_wt16"]) this.dropCached(key);
    const f = this.#folded;
    if (f?.host && dtype === "f32") {
      // Back to the f32 form of the fold, from the exact host values.
      f.weight.dispose();
      this.#folded = { weight: keep(tensor(f.host, this.weight.shape)), bias: f.bias };
    }
  }

  /**
   * The weight in `[in, out]` layout, which the matmul kernels read fastest (cached in eval mode); in eval
   * mode with `weightDtype` "f16" an f16 copy (rounded to nearest even; matmul accumulates in f32).
   */
  weightInOut(): Tensor {
    const src = (): Tensor => this.folded ? this.#folded!.weight : this.weight;
    if (this.#weightDtype === "f16" && !this.training) {
      if (this.folded && this.#folded!.host) return this.#folded!.weight;
      return this.cached(this.folded ? "folded_wt16" : "wt16", () => {
        const t = ops.permute(src(), [1, 0]);
        const h = cast(t, "f16");
        t.dispose();
        return h;
      });
    }
    if (this.folded) return this.cached("folded_wt", () => ops.permute(this.#folded!.weight, [1, 0]));
    return this.cached("wt", () => ops.permute(this.weight, [1, 0]));
  }

  /** The bias in use (the folded one when folded). */
  effectiveBias(): Tensor | null {
    return this.folded ? this.#folded!.bias : this.bias;
  }

  /** `act(x·Wᵀ + b) + residual`; `x` is `[..., in]`, the result `[..., out]`. */
  forward(x: Tensor, options: FusedEpilogue = {}): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw new InputError(
        `Linear(${this.inFeatures} → ${this.outFeatures}): input has shape [${x.shape.join(", ")}]`,
      );
    }
    const lead = x.shape.slice(0, -1);
    const rows = x.rank === 2 ? x : ops.reshape(x, [-1, this.inFeatures]);
    // Training reads the parameter as stored ([out, in]): a transposed copy costs a 1024² transpose
    // forward and another of the weight gradient every step (on lavapipe each about two thirds of a
    // 64×1024×1024 matmul; bench/step_profile.ts).
    const y = ops.linear(rows, this.training ? this.weight : this.weightInOut(), {
      bias: this.effectiveBias() ?? undefined,
      activation: options.activation,
      alpha: options.alpha,
      residual: options.residual,
      weightLayout: this.training ? "out_in" : "in_out",
      // The eval-mode weight is a cached tensor, replaced whenever the weights may change.
      constantWeight: !this.training,
    });
    return x.rank === 2 ? y : ops.reshape(y, [...lead, this.outFeatures]);
  }

  /**
   * Installs a folded weight/bias (see `Module.foldBatchNorm`). With `weightDtype` "f16" the weight goes to
   * the GPU only as the f16 `[in, out]` copy the matmul reads (half the bytes of one f32 copy, instead of
   * an f32 fold plus its transposed copy); the f32 values stay on the host.
   */
  setFolded(weight: Float32Array, bias: Float32Array): void {
    this.clearFolded();
    if (this.#weightDtype === "f16") {
      const [o, i] = [this.outFeatures, this.inFeatures];
      const t = new Float32Array(weight.length);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = weight[r * i + c];
      const host = Float32Array.from(weight);
      this.#folded = { weight: tensor(t, [i, o], { dtype: "f16" }), bias: tensor(bias, [o]), host };
      keep(this.#folded.weight);
      keep(this.#folded.bias);
      return;
    }
    this.#folded = { weight: tensor(weight, this.weight.shape), bias: tensor(bias, [this.outFeatures]) };
    // Held by the layer, not by whichever tidy scope happens to be open.
    keep(this.#folded.weight);
    keep(this.#folded.bias);
  }

  /** Drops the folded copies. */
  clearFolded(): void {
    if (this.#folded) {
      this.#folded.weight.dispose();
      this.#folded.bias.dispose();
      this.#folded = null;
    }
  }

  /** Drops caches and folded copies (weights may change). */
  protected override invalidateOwn(): void {
    super.invalidateOwn();
    this.clearFolded();
  }
}
