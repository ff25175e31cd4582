/**
 * VideoPose3D (Pavllo et al. 2019) `TemporalModel` (facebookresearch/VideoPose3D `common/model.py`):
 * dilated temporal convolutions over 2D keypoint sequences `[N, T, J, F]` → 3D `[N, T', J_out, 3]`,
 * `T' = T − receptive_field + 1`.
 *
 *     x = Dropout(ReLU(expand_bn(expand_conv(x))))               kernel fw[0], J·F → C, no bias
 *     block i = 1..B (dilation d_i = fw[0]·…·fw[i−1]):
 *       res = x cropped by (fw[i] − 1)·d_i/2 frames each side (shifted for causal models)
 *       x = Dropout(ReLU(layers_bn[2i−2](layers_conv[2i−2](x))))  kernel fw[i], dilation d_i, no bias
 *       x = res + Dropout(ReLU(layers_bn[2i−1](layers_conv[2i−1](x))))   pointwise, no bias
 *     out = shrink(x)                                              pointwise, C → J_out·3, with bias
 *
 * Keys (state-dict order): `expand_bn.*`, `shrink.*`, `expand_conv.weight`, `layers_conv.{k}.weight`,
 * `layers_bn.{k}.*`. `dense` replaces the dilated convs by undilated ones of width 2·pad+1 (ablation).
 * The same network with LeakyReLU(0.01) is SRNet's FC baseline (`srnet_fc.ts`).
 * @module
 */

import { InputError, ops, type Tensor } from "../engine/mod.ts";
import {
  BatchNorm1d,
  Conv1d,
  denseUnit,
  Dropout,
  type EpilogueLayer,
  type FoldPair,
  type FusableActivation,
  type FusedEpilogue,
  Module,
  ModuleList,
  ReLU,
} from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { inferSequence, type SequenceOptions } from "./sequence.ts";

/** Constructor arguments of VideoPose3D's `TemporalModel`. */
export const VIDEOPOSE_CONFIG = {
  num_joints_in: { type: "int", default: 17, doc: "input joints J" },
  in_features: { type: "int", default: 2, doc: "features per input joint F" },
  num_joints_out: { type: "int", default: 17, doc: "output joints" },
  filter_widths: {
    type: "int_list",
    default: [3, 3, 3, 3, 3],
    doc: "kernel width per layer (3,3,3,3,3 = 243 frames)",
  },
  causal: { type: "bool", default: false, doc: "causal convolutions (real time)" },
  dropout: { type: "float", default: 0.25, doc: "dropout probability" },
  channels: { type: "int", default: 1024, doc: "convolution channels" },
  dense: { type: "bool", default: false, doc: "dense instead of dilated convolutions (ablation)" },
} as const satisfies ConfigSpec;

/**
 * The SRNet repository's `--norm` choices (data normalisation). Only `lcn` changes the network's
 * forward: the official `TemporalModelBase.forward` then adds the input 2D to the output's x, y
 * (`y[..., :2] += x`), which needs one output frame per input frame (the official code only runs it with
 * single-frame filter widths; here other widths are an error at construction).
 */
export const NORM_CHOICES = ["base", "proj", "weak_proj", "lcn"] as const;

/** `y[..., :2] + x` for `norm=lcn`: x `[N, T, J, 2]`, y `[N, T, J, 3]`. */
export function lcnResidual(x: Tensor, y: Tensor): Tensor {
  if (x.shape[1] !== y.shape[1] || x.shape[2] !== y.shape[2] || x.shape[3] !== 2) {
    throw new InputError(
      `norm=lcn adds the input [${x.shape.join(", ")}] to the output [${
        y.shape.join(", ")
      }]: they need the same frames and joints`,
    );
  }
  return ops.add(y, ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, 1]]));
}

/** Checks that a model built with `norm` can run (`lcn` needs a receptive field of 1). */
export function checkNorm(model: string, norm: string, receptiveField: number): void {
  if (norm === "lcn" && receptiveField !== 1) {
    throw new InputError(
      `${model} config norm=lcn: the output x, y are added to the input 2D, which needs one output frame per input frame (filter_widths all 1), but the receptive field is ${receptiveField} frames (the official code fails there too)`,
    );
  }
}

/** Resolved VideoPose3D configuration. */
export type VideoPoseConfig = ConfigValues<typeof VIDEOPOSE_CONFIG>;

/** The temporal convolution network shared by VideoPose3D and SRNet's FC baseline. */
export class TemporalConvNet extends Module {
  /** Resolved configuration. */
  readonly config: VideoPoseConfig;
  /** BatchNorm after the expand conv. */
  readonly expand_bn: BatchNorm1d;
  /** Output projection. */
  readonly shrink: Conv1d;
  /** Input conv. */
  readonly expand_conv: Conv1d;
  /** Block convs (two per block). */
  readonly layers_conv: ModuleList<Conv1d>;
  /** Block norms. */
  readonly layers_bn: ModuleList<BatchNorm1d>;
  /** Dropout. */
  readonly drop: Dropout;
  /** The activation (ReLU here, LeakyReLU in SRNet's FC baseline). */
  readonly relu: FusableActivation;
  /** Frames cropped per side by the expand layer and each block. */
  readonly pad: readonly number[];
  /** Causal shift of the expand layer and each block. */
  readonly causalShift: readonly number[];
  /** The SRNet repository's `--norm` (`base` for VideoPose3D; `lcn` adds the input 2D to the output). */
  readonly norm: string;

  /** Creates the network (`name` is the model name used in error messages). */
  constructor(
    config: Record<string, unknown>,
    options: { name?: string; spec?: ConfigSpec; activation?: FusableActivation } = {},
  ) {
    super();
    const c = this.config = resolveConfig(
      options.name ?? "videopose",
      options.spec ?? VIDEOPOSE_CONFIG,
      config,
    ) as VideoPoseConfig;
    const fw = c.filter_widths;
    if (fw.length === 0 || fw.some((w) => w < 1 || w % 2 === 0)) {
      throw new InputError(
        `${options.name ?? "videopose"} config filter_widths=${fw.join(",")}: only odd widths are supported`,
      );
    }
    this.relu = options.activation ?? new ReLU();
    this.drop = this.addModule("drop", new Dropout(c.dropout));
    // Registration order = the reference's state_dict order: the base class makes expand_bn and shrink.
    this.expand_bn = this.addModule("expand_bn", new BatchNorm1d(c.channels, { momentum: 0.1 }));
    this.shrink = this.addModule("shrink", new Conv1d(c.channels, c.num_joints_out * 3, 1));
    this.expand_conv = this.addModule(
      "expand_conv",
      new Conv1d(c.num_joints_in * c.in_features, c.channels, fw[0], { bias: false }),
    );
    const pad = [Math.floor(fw[0] / 2)];
    const shift = [c.causal ? Math.floor(fw[0] / 2) : 0];
    const convs: Conv1d[] = [], bns: BatchNorm1d[] = [];
    let dilation = fw[0];
    for (let i = 1; i < fw.length; i++) {
      pad.push(Math.floor(((fw[i] - 1) * dilation) / 2));
      shift.push(c.causal ? Math.floor(fw[i] / 2) * dilation : 0);
      convs.push(
        new Conv1d(c.channels, c.channels, c.dense ? 2 * pad[i] + 1 : fw[i], {
          dilation: c.dense ? 1 : dilation,
          bias: false,
        }),
      );
      bns.push(new BatchNorm1d(c.channels, { momentum: 0.1 }));
      convs.push(new Conv1d(c.channels, c.channels, 1, { bias: false }));
      bns.push(new BatchNorm1d(c.channels, { momentum: 0.1 }));
      dilation *= fw[i];
    }
    this.layers_conv = this.addModule("layers_conv", new ModuleList(convs));
    this.layers_bn = this.addModule("layers_bn", new ModuleList(bns));
    this.pad = pad;
    this.causalShift = shift;
    this.norm = String((c as Record<string, unknown>).norm ?? "base");
    checkNorm(options.name ?? "videopose", this.norm, this.receptiveField());
  }

  /** Whether the model is causal. */
  get causal(): boolean {
    return this.config.causal;
  }

  /** Input frames per output frame: `1 + 2·Σ pad`. */
  receptiveField(): number {
    return 1 + 2 * this.pad.reduce((a, b) => a + b, 0);
  }

  /** Total causal shift in frames (the reference's `total_causal_shift`). */
  totalCausalShift(): number {
    const fw = this.config.filter_widths;
    let frames = this.causalShift[0], d = fw[0];
    for (let i = 1; i < fw.length; i++) {
      frames += this.causalShift[i] * d;
      d *= fw[i];
    }
    return frames;
  }

  /** Checks `[N, T, J, F]` with T ≥ the receptive field. */
  checkInput(shape: readonly number[]): void {
    const c = this.config;
    if (shape.length !== 4 || shape[2] !== c.num_joints_in || shape[3] !== c.in_features) {
      throw new InputError(
        `expected input [N, T, ${c.num_joints_in}, ${c.in_features}], got [${shape.join(", ")}]`,
      );
    }
    if (shape[1] < this.receptiveField()) {
      throw new InputError(`input has ${shape[1]} frames, the receptive field is ${this.receptiveField()}`);
    }
  }

  /**
   * `[N, T, J, F]` → `[N, T − receptive + 1, J_out, 3]`. In eval mode an input of exactly the receptive
   * field runs as `forwardSingleFrame` (the same output, a fraction of the work).
   */
  forward(x: Tensor): Tensor {
    this.checkInput(x.shape);
    const c = this.config;
    const [n, t] = x.shape;
    const pointwise = this.receptiveField() === 1;
    if (!this.training && !pointwise && !c.dense && t === this.receptiveField()) {
      return this.forwardSingleFrame(x);
    }
    // Single-frame networks run on rows [N·T, C] with no reshapes between layers.
    let y = ops.reshape(
      x,
      pointwise ? [n * t, c.num_joints_in * c.in_features] : [n, t, c.num_joints_in * c.in_features],
    );
    y = this.#body(y, (i, v) => {
      const p = this.pad[i + 1], s = this.causalShift[i + 1];
      return pointwise || (p === 0 && s === 0)
        ? v
        : ops.slice(v, [{ axis: 1, start: p + s, end: v.shape[1] - p + s }]);
    }, (conv) => conv);
    y = ops.reshape(y, [n, pointwise ? t : y.shape[1], c.num_joints_out, 3]);
    return this.norm === "lcn" ? lcnResidual(x, y) : y;
  }

  /**
   * One output frame per sample, `[N, receptive, J, F]` → `[N, 1, J_out, 3]`, computed as VideoPose3D's
   * `TemporalModelOptimized1f` (its training model): every conv runs undilated with stride = its width,
   * so each layer computes only the frames the output needs (for 243 frames 81 + 27 + 9 + 3 + 1 per
   * layer instead of 241 + 235 + 217 + 163 + 1), and the residuals take the matching strided frames.
   * The weights and the eval-mode output are those of `forward`; in training mode the BatchNorm batch
   * statistics are over these frames, as in the reference's training. Dense (ablation) models and
   * single-frame ones run `forward`.
   */
  forwardSingleFrame(x: Tensor): Tensor {
    this.checkInput(x.shape);
    const c = this.config, fw = c.filter_widths;
    const [n, t] = x.shape;
    if (t !== this.receptiveField()) {
      throw new InputError(
        `${this.constructor.name}.forwardSingleFrame: input has ${t} frames, it takes exactly the receptive field (${this.receptiveField()})`,
      );
    }
    if (c.dense || t === 1) return this.forward(x);
    const strided = (conv: Conv1d) => ({
      forward: (v: Tensor, e: FusedEpilogue = {}) => conv.forward(v, { ...e, strideByKernel: true }),
    });
    const y = this.#body(ops.reshape(x, [n, t, c.num_joints_in * c.in_features]), (i, v) => {
      const k = fw[i + 1];
      // The reference's strided crop: the centre tap of each window (the last one when causal).
      const start = (c.causal ? k >> 1 : 0) + (k >> 1);
      return k === 1 ? v : ops.slice(v, [{ axis: 1, start, end: v.shape[1], step: k }]);
    }, strided);
    return ops.reshape(y, [n, 1, c.num_joints_out, 3]);
  }

  /**
   * The expand unit, the residual blocks and shrink: `crop(i, y)` is block i's residual, `wrap` the layer
   * run for each conv with taps (the conv itself, or it run strided).
   */
  #body(
    x: Tensor,
    crop: (i: number, y: Tensor) => Tensor,
    wrap: (conv: Conv1d) => EpilogueLayer,
  ): Tensor {
    const unit = { activation: this.relu, dropout: this.drop };
    let y = denseUnit(x, { layer: wrap(this.expand_conv), norm: this.expand_bn, ...unit });
    for (let i = 0; i < this.pad.length - 1; i++) {
      const res = crop(i, y);
      y = denseUnit(y, { layer: wrap(this.layers_conv.at(2 * i)), norm: this.layers_bn.at(2 * i), ...unit });
      y = denseUnit(y, {
        layer: this.layers_conv.at(2 * i + 1),
        norm: this.layers_bn.at(2 * i + 1),
        ...unit,
        residual: res,
      });
    }
    return this.shrink.forward(y);
  }

  /** Lifts whole sequences with edge padding and optional flip averaging (see `inferSequence`). */
  inferSequence(poses: Tensor, options: SequenceOptions = {}): Tensor {
    return inferSequence(this, poses, options);
  }

  /** expand_conv/expand_bn and every block conv with its norm. */
  protected override foldPairs(): FoldPair[] {
    const out: FoldPair[] = [{ layers: [this.expand_conv], norm: this.expand_bn }];
    for (let k = 0; k < this.layers_conv.length; k++) {
      out.push({ layers: [this.layers_conv.at(k)], norm: this.layers_bn.at(k) });
    }
    return out;
  }
}

/** VideoPose3D's temporal model (ReLU). */
export class VideoPose extends TemporalConvNet {
  /** Creates the model from (a subset of) `VIDEOPOSE_CONFIG`. */
  constructor(config: Partial<VideoPoseConfig> = {}) {
    super(config, { name: "videopose", spec: VIDEOPOSE_CONFIG, activation: new ReLU() });
  }
}
