/**
 * Simple Baselines `pose_resnet` (microsoft/human-pose-estimation.pytorch `lib/models/pose_resnet.py`),
 * PoseFix's network: a ResNet trunk (torchvision keys at the top level), then `num_deconv_layers` ×
 * (ConvTranspose2d `num_deconv_filters[i]`, `num_deconv_kernels[i]`, stride 2 → BatchNorm → ReLU; no bias
 * unless `deconv_with_bias`) as `deconv_layers.{0,1,2,3,…}` and a `final_layer` conv (1×1, bias) to K
 * heatmaps: `[N, C, H, W]` → `[N, K, H/4, W/4]`. The keys mirror `cfg.MODEL.EXTRA` (NUM_LAYERS,
 * NUM_DECONV_LAYERS, NUM_DECONV_FILTERS [256, 256, 256], NUM_DECONV_KERNELS [4, 4, 4], DECONV_WITH_BIAS,
 * FINAL_CONV_KERNEL) and `cfg.MODEL.NUM_JOINTS`, lower-cased; a single filter or kernel value is repeated
 * for every layer.
 *
 * With BatchNorm folded (`loadStateDict(…, { fold: true })`) each deconv + BN + ReLU is one transposed
 * convolution with a fused epilogue.
 * @module
 */

import { InputError, type Tensor } from "../engine/mod.ts";
import {
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  type FoldPair,
  type Module,
  ModuleList,
  ReLU,
} from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { release, ResNetTrunk } from "./resnet.ts";

/** Constructor arguments (the reference's `cfg.MODEL` / `cfg.MODEL.EXTRA` entries, lower-cased). */
export const POSE_RESNET_CONFIG = {
  num_layers: { type: "int", default: 50, doc: "ResNet depth: 18, 34, 50, 101 or 152" },
  num_joints: { type: "int", default: 17, doc: "heatmaps K (COCO 17)" },
  in_channels: { type: "int", default: 3, doc: "input channels (PoseFix: 3 + K)" },
  num_deconv_layers: { type: "int", default: 3, doc: "upsampling layers (each ×2)" },
  num_deconv_filters: {
    type: "int_list",
    default: [256, 256, 256],
    doc: "channels per deconv layer (one value: every layer)",
  },
  num_deconv_kernels: {
    type: "int_list",
    default: [4, 4, 4],
    doc: "kernel size per deconv layer: 4, 3 or 2 (one value: every layer)",
  },
  deconv_with_bias: { type: "bool", default: false, doc: "deconvolutions with a bias (DECONV_WITH_BIAS)" },
  final_conv_kernel: { type: "int", default: 1, doc: "final conv kernel size: 1 or 3" },
} as const satisfies ConfigSpec;

/** Resolved pose_resnet configuration. */
export type PoseResNetConfig = ConfigValues<typeof POSE_RESNET_CONFIG>;

/** The reference's `_get_deconv_cfg`: kernel → (padding, output padding). */
export function deconvPadding(kernel: number): [number, number] {
  if (kernel === 4) return [1, 0];
  if (kernel === 3) return [1, 1];
  if (kernel === 2) return [0, 0];
  throw new InputError(`pose_resnet: num_deconv_kernels must be 4, 3 or 2, got ${kernel}`);
}

/** The upsampling head alone: deconv stack + final layer, on C5 features. */
export class PoseResNet extends ResNetTrunk {
  /** Resolved configuration (for PoseFix and other subclasses, their own). */
  readonly config: Record<string, unknown>;
  /** `deconv_layers`: [ConvT, BN, ReLU] × num_deconv_layers (ReLU has no keys). */
  readonly deconv_layers: ModuleList<Module>;
  /** 1×1 (or 3×3) conv to K heatmaps, with bias. */
  readonly final_layer: Conv2d;
  /** The pose_resnet part of the configuration. */
  readonly poseConfig: PoseResNetConfig;
  /** Model name used in messages. */
  readonly modelName: string;

  /** Creates the model from (a subset of) `POSE_RESNET_CONFIG`. */
  constructor(config: Partial<PoseResNetConfig> = {}, options: { name?: string } = {}) {
    const name = options.name ?? "pose_resnet";
    const c = resolveConfig(name, POSE_RESNET_CONFIG, config);
    super(c.num_layers, c.in_channels, name);
    this.modelName = name;
    this.poseConfig = c;
    this.config = c;
    if (c.num_deconv_layers < 0 || c.num_joints < 1) {
      throw new InputError(`${name}: bad head configuration ${JSON.stringify(c)}`);
    }
    const perLayer = (key: "num_deconv_filters" | "num_deconv_kernels"): number[] => {
      const v = c[key];
      if (v.length === 1) return new Array(c.num_deconv_layers).fill(v[0]);
      if (v.length !== c.num_deconv_layers) {
        // pose_resnet.py: 'ERROR: num_deconv_layers is different len(num_deconv_filters)'.
        throw new InputError(
          `${name}: ${key} has ${v.length} entries for num_deconv_layers ${c.num_deconv_layers}`,
        );
      }
      return [...v];
    };
    const filters = perLayer("num_deconv_filters"), kernels = perLayer("num_deconv_kernels");
    if (!filters.every((f) => f >= 1)) throw new InputError(`${name}: num_deconv_filters must be ≥ 1`);
    this.deconv_layers = this.addModule("deconv_layers", new ModuleList<Module>());
    let inPlanes = this.outChannels;
    for (let i = 0; i < c.num_deconv_layers; i++) {
      const [padding, outputPadding] = deconvPadding(kernels[i]);
      this.deconv_layers.push(
        new ConvTranspose2d(inPlanes, filters[i], kernels[i], {
          stride: 2,
          padding,
          outputPadding,
          bias: c.deconv_with_bias,
        }),
      );
      this.deconv_layers.push(new BatchNorm2d(filters[i]));
      this.deconv_layers.push(new ReLU());
      inPlanes = filters[i];
    }
    if (c.final_conv_kernel !== 1 && c.final_conv_kernel !== 3) {
      throw new InputError(`${name}: final_conv_kernel must be 1 or 3, got ${c.final_conv_kernel}`);
    }
    this.final_layer = this.addModule(
      "final_layer",
      new Conv2d(inPlanes, c.num_joints, c.final_conv_kernel, { padding: c.final_conv_kernel === 3 ? 1 : 0 }),
    );
  }

  /** Number of heatmaps. */
  get numJoints(): number {
    return this.poseConfig.num_joints;
  }

  /** Throws unless `shape` is `[N, in_channels, H, W]`. */
  checkInput(shape: readonly number[]): void {
    this.checkImage(shape, this.modelName);
  }

  /** The head on C5 features: deconvolutions then the final layer → `[N, K, h, w]`. */
  head(c5: Tensor): Tensor {
    let y = c5;
    for (let i = 0; i < this.poseConfig.num_deconv_layers; i++) {
      const deconv = this.deconv_layers.at(3 * i) as ConvTranspose2d;
      const bn = this.deconv_layers.at(3 * i + 1) as BatchNorm2d;
      let z: Tensor;
      if (bn.folded) {
        z = deconv.forward(y, { activation: "relu" });
      } else {
        const d = deconv.forward(y);
        const b = bn.forward(d);
        z = (this.deconv_layers.at(3 * i + 2) as ReLU).forward(b);
        release([z], d, b);
      }
      release([c5], y);
      y = z;
    }
    const out = this.final_layer.forward(y);
    release([c5], y);
    return out;
  }

  /** Heatmap logits `[N, K, H/4, W/4]` (for 3 deconv layers and H, W multiples of 32). */
  forward(x: Tensor): Tensor {
    const c5 = this.trunk(x);
    const y = this.head(c5);
    release([x], c5);
    return y;
  }

  /** Each deconv with its norm (through the transposed weight adapter). */
  protected override foldPairs(): FoldPair[] {
    const out = super.foldPairs();
    for (let i = 0; i < this.poseConfig.num_deconv_layers; i++) {
      const deconv = this.deconv_layers.at(3 * i) as ConvTranspose2d;
      out.push({ layers: [deconv.foldAdapter()], norm: this.deconv_layers.at(3 * i + 1) as BatchNorm2d });
    }
    return out;
  }
}
