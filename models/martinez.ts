/**
 * Martinez et al. 2017, "A simple yet effective baseline for 3d human pose estimation", as the
 * most-used PyTorch port (weigq/3d_pose_baseline_pytorch `LinearModel`): z-scored 2D joints `[B, 32]`
 * in, z-scored root-relative 3D joints `[B, 48]` out.
 *
 *     y = Dropout(ReLU(BN(w1 · x)))                               w1: 32 → 1024
 *     repeat num_stage times (a residual block of two layers):
 *       z = Dropout(ReLU(BN(w1 · y)));  z = Dropout(ReLU(BN(w2 · z)));  y = y + z
 *     out = w2 · y                                                w2: 1024 → 48
 *
 * Keys: `w1.*`, `batch_norm1.*`, `linear_stages.{i}.{w1,batch_norm1,w2,batch_norm2}.*`, `w2.*`.
 * 4,291,632 trainable parameters at the defaults. The ablations of the seed-001 challenge entry are
 * flags: `residual` (the `y + z`), `batch_norm` (without it the `batch_norm*` keys do not exist),
 * `max_norm` (see `applyMaxNorm`), and `num_stage: 1` is its one-block variant.
 * @module
 */

import { InputError, type Tensor } from "../engine/mod.ts";
import { applyMaxNorm } from "../engine/optim.ts";
import {
  BatchNorm1d,
  denseUnit,
  Dropout,
  type FoldPair,
  Linear,
  Module,
  ModuleList,
  ReLU,
} from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";

/** Constructor arguments of the PyTorch port, plus the TF original's ablation flags. */
export const MARTINEZ_CONFIG = {
  linear_size: { type: "int", default: 1024, doc: "width of every hidden layer" },
  num_stage: { type: "int", default: 2, doc: "residual blocks (1 = the seed-001 challenge variant)" },
  p_dropout: { type: "float", default: 0.5, doc: "dropout probability" },
  input_size: { type: "int", default: 32, doc: "2D input values (16 joints × 2)" },
  output_size: { type: "int", default: 48, doc: "3D output values (16 joints × 3)" },
  residual: { type: "bool", default: true, doc: "residual connection around each block" },
  batch_norm: { type: "bool", default: true, doc: "BatchNorm after every hidden linear layer" },
  max_norm: { type: "bool", default: false, doc: "clip weight matrices to Frobenius norm 1 (training)" },
} as const satisfies ConfigSpec;

/** Resolved Martinez configuration. */
export type MartinezConfig = ConfigValues<typeof MARTINEZ_CONFIG>;

/** The port's `Linear` block: two hidden layers with a residual connection (`linear_stages.{i}`). */
export class MartinezStage extends Module {
  /** First layer. */
  readonly w1: Linear;
  /** Its norm (null without batch_norm). */
  readonly batch_norm1: BatchNorm1d | null;
  /** Second layer. */
  readonly w2: Linear;
  /** Its norm. */
  readonly batch_norm2: BatchNorm1d | null;
  /** ReLU. */
  readonly relu: ReLU = new ReLU();
  /** Dropout. */
  readonly dropout: Dropout;
  /** Whether the block adds its input. */
  readonly residual: boolean;

  /** Creates a block of width `size`. */
  constructor(size: number, options: { pDropout: number; batchNorm: boolean; residual: boolean }) {
    super();
    this.w1 = this.addModule("w1", new Linear(size, size));
    this.batch_norm1 = options.batchNorm ? this.addModule("batch_norm1", new BatchNorm1d(size)) : null;
    this.w2 = this.addModule("w2", new Linear(size, size));
    this.batch_norm2 = options.batchNorm ? this.addModule("batch_norm2", new BatchNorm1d(size)) : null;
    this.dropout = this.addModule("dropout", new Dropout(options.pDropout));
    this.residual = options.residual;
  }

  /** `x + Dropout(ReLU(BN(w2 · Dropout(ReLU(BN(w1 · x))))))`. */
  forward(x: Tensor): Tensor {
    const common = { activation: this.relu, dropout: this.dropout };
    const y = denseUnit(x, { layer: this.w1, norm: this.batch_norm1, ...common });
    return denseUnit(y, {
      layer: this.w2,
      norm: this.batch_norm2,
      ...common,
      residual: this.residual ? x : undefined,
    });
  }

  /** Each layer with the norm that follows it. */
  protected override foldPairs(): FoldPair[] {
    const out: FoldPair[] = [];
    if (this.batch_norm1) out.push({ layers: [this.w1], norm: this.batch_norm1 });
    if (this.batch_norm2) out.push({ layers: [this.w2], norm: this.batch_norm2 });
    return out;
  }
}

/** The Martinez baseline (`LinearModel`). */
export class Martinez extends Module {
  /** Resolved configuration. */
  readonly config: MartinezConfig;
  /** Input layer. */
  readonly w1: Linear;
  /** Its norm (null without batch_norm). */
  readonly batch_norm1: BatchNorm1d | null;
  /** Residual blocks. */
  readonly linear_stages: ModuleList<MartinezStage>;
  /** Output layer. */
  readonly w2: Linear;
  /** ReLU. */
  readonly relu: ReLU = new ReLU();
  /** Dropout. */
  readonly dropout: Dropout;

  /** Creates the model from (a subset of) `MARTINEZ_CONFIG`. */
  constructor(config: Partial<MartinezConfig> = {}) {
    super();
    const c = this.config = resolveConfig("martinez", MARTINEZ_CONFIG, config);
    this.w1 = this.addModule("w1", new Linear(c.input_size, c.linear_size));
    this.batch_norm1 = c.batch_norm ? this.addModule("batch_norm1", new BatchNorm1d(c.linear_size)) : null;
    this.linear_stages = this.addModule(
      "linear_stages",
      new ModuleList(
        Array.from(
          { length: c.num_stage },
          () =>
            new MartinezStage(c.linear_size, {
              pDropout: c.p_dropout,
              batchNorm: c.batch_norm,
              residual: c.residual,
            }),
        ),
      ),
    );
    this.w2 = this.addModule("w2", new Linear(c.linear_size, c.output_size));
    this.dropout = this.addModule("dropout", new Dropout(c.p_dropout));
  }

  /** Input layout: `[B, input_size]`. */
  checkInput(shape: readonly number[]): void {
    if (shape.length !== 2 || shape[1] !== this.config.input_size) {
      throw new InputError(
        `martinez expects input [B, ${this.config.input_size}] (z-scored 2D joints), got [${
          shape.join(", ")
        }]`,
      );
    }
  }

  /** `[B, input_size]` → `[B, output_size]`. */
  forward(x: Tensor): Tensor {
    this.checkInput(x.shape);
    let y = denseUnit(x, {
      layer: this.w1,
      norm: this.batch_norm1,
      activation: this.relu,
      dropout: this.dropout,
    });
    for (const stage of this.linear_stages) y = stage.forward(y);
    return this.w2.forward(y);
  }

  /** The input layer with its norm. */
  protected override foldPairs(): FoldPair[] {
    return this.batch_norm1 ? [{ layers: [this.w1], norm: this.batch_norm1 }] : [];
  }

  /** Every weight matrix (not biases), in state-dict order: what max-norm constrains. */
  weightMatrices(): Tensor[] {
    return this.modules().filter((m): m is Linear => m instanceof Linear).map((l) => l.weight);
  }

  /**
   * Max-norm as the TF original (`tf.clip_by_norm(w, 1)`): every weight matrix whose Frobenius norm
   * exceeds 1 is scaled down to norm 1, in place on the GPU. Call after every optimiser step when
   * `max_norm` is set. TF applies the clip inside its graph, so a checkpoint converted from a TF
   * max-norm model needs one call after loading to give TF's outputs (the clip is idempotent). A
   * parameter update (engine/optim.ts `applyMaxNorm`), not part of the graph; cached derived weights and
   * folds are dropped.
   */
  applyMaxNorm(): void {
    applyMaxNorm(this.weightMatrices(), { maxNorm: 1 });
    this.invalidate();
  }
}
