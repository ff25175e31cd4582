/**
 * Batch normalisation with PyTorch's parameters, buffers and update rule: `weight`, `bias`,
 * `running_mean`, `running_var`, `num_batches_tracked`; `eps` (1e-5), `momentum` (0.1, or null for a
 * cumulative average). Training normalises with the batch statistics and updates the running ones in
 * place (with the unbiased variance, as PyTorch; `ops.batchNormTraining`); eval uses the running ones.
 * @module
 */

import { InputError, ops, type Tensor, tensor } from "../engine/mod.ts";
import { type FoldableNorm, HostBuffer, Module } from "./module.ts";

/** Options of a BatchNorm. */
export interface BatchNormOptions {
  /** ε added to the variance (default 1e-5). */
  eps?: number;
  /** Running-statistics momentum (default 0.1); null: cumulative moving average. */
  momentum?: number | null;
  /** Learnable γ and β (default true). */
  affine?: boolean;
  /** Keep running statistics (default true); without them eval mode uses batch statistics. */
  trackRunningStats?: boolean;
}

/**
 * Shared implementation of BatchNorm1d/2d: normalises channel axis 1 of `[N, C, ...]`.
 * Subclasses only decide how their input maps onto that layout.
 */
export class BatchNorm extends Module implements FoldableNorm {
  /** Number of channels. */
  readonly numFeatures: number;
  /** ε. */
  readonly eps: number;
  /** Momentum (null: cumulative average). */
  momentum: number | null;
  /** γ `[C]`, or null when not affine. */
  readonly weight: Tensor | null;
  /** β `[C]`, or null. */
  readonly bias: Tensor | null;
  /** Running mean `[C]`. */
  readonly runningMean: Tensor;
  /** Running variance `[C]`. */
  readonly runningVar: Tensor;
  /** Batches seen in training (PyTorch's int64 `num_batches_tracked`). */
  readonly numBatchesTracked: HostBuffer;
  readonly #track: boolean;
  #folded = false;

  /** Creates a BatchNorm over `numFeatures` channels (γ = 1, β = 0, mean 0, variance 1). */
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.#track = options.trackRunningStats ?? true;
    const affine = options.affine ?? true;
    this.weight = affine ? this.addParameter("weight", tensor(new Float32Array(numFeatures).fill(1))) : null;
    this.bias = affine ? this.addParameter("bias", tensor(new Float32Array(numFeatures))) : null;
    // Without tracking the buffers still exist here (unregistered) so eval code has one path.
    const mean = tensor(new Float32Array(numFeatures));
    const variance = tensor(new Float32Array(numFeatures).fill(1));
    if (this.#track) {
      this.runningMean = this.addBuffer("running_mean", mean);
      this.runningVar = this.addBuffer("running_var", variance);
      this.numBatchesTracked = this.addBuffer("num_batches_tracked", new HostBuffer(0));
    } else {
      this.runningMean = mean;
      this.runningVar = variance;
      this.numBatchesTracked = new HostBuffer(0);
    }
  }

  /** Whether the norm is folded into the layer before it (then it is the identity in eval mode). */
  get folded(): boolean {
    return this.#folded && !this.training;
  }

  /** Marks the norm folded (see `Module.foldBatchNorm`). */
  setFolded(folded: boolean): void {
    this.#folded = folded;
  }

  /** Un-folds when the weights may change. */
  protected override invalidateOwn(): void {
    super.invalidateOwn();
    this.#folded = false;
  }

  /** Normalises channel axis 1 of `[N, C, ...]`. */
  protected normalizeAxis1(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numFeatures) {
      throw new InputError(
        `${this.constructor.name}(${this.numFeatures}): input has shape [${x.shape.join(", ")}]`,
      );
    }
    if (this.folded) return x;
    const affine = this.affine();
    if (!this.training && this.#track) {
      return ops.batchNormInference(x, { mean: this.runningMean, variance: this.runningVar, ...affine }, {
        eps: this.eps,
      });
    }
    let r: { y: Tensor; mean: Tensor; variance: Tensor };
    if (this.training && this.#track) {
      const running = { mean: this.runningMean, variance: this.runningVar };
      r = ops.batchNormTraining(x, { ...affine, running }, { eps: this.eps, momentum: this.countBatch() });
    } else {
      r = ops.batchNormTraining(x, affine, { eps: this.eps });
    }
    // The batch statistics are not outputs (the tape keeps what backward needs).
    r.mean.dispose();
    r.variance.dispose();
    return r.y;
  }

  /** Normalises `x` (layout decided by the subclass; the base class takes `[N, C, ...]`). */
  forward(x: Tensor): Tensor {
    return this.normalizeAxis1(x);
  }

  /**
   * Training-mode `Dropout(p)(ReLU(this(x)))` in fused kernels (`ops.batchNormReluDropout`: same values,
   * gradients, running-statistics update and dropout mask), or null where that does not apply — eval
   * mode, no running statistics, or a shape or adapter the fused kernels do not take — and the caller
   * runs the three steps.
   */
  reluDropout(x: Tensor, options: { p: number }): Tensor | null {
    return this.reluDropoutAxis1(x, options);
  }

  /** `reluDropout` on `[N, C, ...]`. */
  protected reluDropoutAxis1(x: Tensor, options: { p: number }): Tensor | null {
    if (!this.training || !this.#track || x.rank < 2 || x.shape[1] !== this.numFeatures) return null;
    if (x.size / x.shape[1] < 2 || !ops.canFuseBatchNormReluDropout(x)) return null;
    const momentum = this.countBatch();
    return ops.batchNormReluDropout(x, {
      ...this.affine(),
      running: { mean: this.runningMean, variance: this.runningVar },
    }, { eps: this.eps, momentum, p: options.p });
  }

  /** γ and β as the ops take them (absent when not affine). */
  private affine(): { weight?: Tensor; bias?: Tensor } {
    return { weight: this.weight ?? undefined, bias: this.bias ?? undefined };
  }

  /**
   * Counts one training batch and returns the running-statistics momentum for it (PyTorch: momentum null
   * means a cumulative average, i.e. factor 1/num_batches_tracked).
   */
  private countBatch(): number {
    this.numBatchesTracked.value++;
    return this.momentum ?? 1 / this.numBatchesTracked.value;
  }
}

/**
 * BatchNorm over features of `[N, C]` rows, or of features-last sequences `[N, T, C]` (posegpu's
 * sequence layout; PyTorch's `[N, C, L]` input becomes `[N, L, C]` here).
 */
export class BatchNorm1d extends BatchNorm {
  /** Normalises the last axis of `[N, C]` or `[N, T, C]`. */
  override forward(x: Tensor): Tensor {
    if (x.rank === 2) return this.normalizeAxis1(x);
    if (x.rank === 3) {
      if (this.folded) return x;
      const y = this.normalizeAxis1(ops.reshape(x, [-1, x.shape[2]]));
      return ops.reshape(y, x.shape);
    }
    throw new InputError(`BatchNorm1d expects [N, C] or [N, T, C], got [${x.shape.join(", ")}]`);
  }

  /** `reluDropout` on `[N, C]` or `[N, T, C]`. */
  override reluDropout(x: Tensor, options: { p: number }): Tensor | null {
    if (x.rank === 2) return this.reluDropoutAxis1(x, options);
    if (x.rank !== 3) return null;
    const y = this.reluDropoutAxis1(ops.reshape(x, [-1, x.shape[2]]), options);
    return y && ops.reshape(y, x.shape);
  }
}

/** BatchNorm over channel axis 1 of images `[N, C, H, W]` (PyTorch layout). */
export class BatchNorm2d extends BatchNorm {
  /** Normalises channel axis 1 of `[N, C, H, W]`. */
  override forward(x: Tensor): Tensor {
    if (x.rank !== 4) throw new InputError(`BatchNorm2d expects [N, C, H, W], got [${x.shape.join(", ")}]`);
    return this.normalizeAxis1(x);
  }
}
