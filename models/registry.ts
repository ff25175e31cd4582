/**
 * Model registry: a name and a configuration (the reference constructors' argument names; values
 * typed or as `--config` strings) to a model whose `forward` takes the reference's input layout.
 *
 * | name | input → output | config keys |
 * |---|---|---|
 * | `martinez` | `[B, 32]` → `[B, 48]` | `MARTINEZ_CONFIG` |
 * | `dual_channel` | `[B, 32]` → `[B, 48]` | `DUAL_CHANNEL_CONFIG` |
 * | `videopose` | `[N, T, J, 2]` → `[N, T', J, 3]` | `VIDEOPOSE_CONFIG` |
 * | `srnet` | `[N, T, 17, 2]` → `[N, T', 17, 3]` | `SRNET_CONFIG` (`structure=fc` builds `srnet_fc`) |
 * | `srnet_fc` | `[N, T, 17, 2]` → `[N, T', 17, 3]` | `SRNET_FC_CONFIG` |
 * | `resnet` | `[N, C, H, W]` → `[N, num_classes]` | `RESNET_CONFIG` |
 * | `pose_resnet` | `[N, C, H, W]` → `[N, K, H/4, W/4]` | `POSE_RESNET_CONFIG` |
 * | `cpn` | `[N, 3, H, W]` → `[N, K, H/4, W/4]` | `CPN_CONFIG` (pose estimation: `Cpn.estimate`) |
 * | `ssd300` | `[N, 3, 300, 300]` → `[N, 8732, 4 + C]` | `SSD300_CONFIG` (detection: `Ssd300.detect`) |
 * | `patch_refine` | `[N, 96, S, S]` → `[N, 48]` | `PATCH_REFINE_CONFIG` (refinement: `PatchRefine.refine`) |
 * | `posefix` | `[N, 3 + K, H, W]` → `[N, K, H/4, W/4]` | `POSEFIX_CONFIG` (refinement: `PoseFix.refine`) |
 * @module
 */

import { InputError, type Tensor } from "../engine/mod.ts";
import type { Module } from "../layers/mod.ts";
import { type ConfigSpec, resolveConfig } from "./config.ts";
import { DUAL_CHANNEL_CONFIG, DualChannel } from "./dual_channel.ts";
import { Martinez, MARTINEZ_CONFIG } from "./martinez.ts";
import { Srnet, SRNET_CONFIG } from "./srnet.ts";
import { SRNET_FC_CONFIG, SrnetFc } from "./srnet_fc.ts";
import { VideoPose, VIDEOPOSE_CONFIG } from "./videopose.ts";
import { ResNet, RESNET_CONFIG } from "./resnet.ts";
import { POSE_RESNET_CONFIG, PoseResNet } from "./pose_resnet.ts";
import { PoseFix, POSEFIX_CONFIG } from "./posefix.ts";
import { Cpn, CPN_CONFIG } from "./cpn.ts";
import { Ssd300, SSD300_CONFIG } from "./ssd300.ts";
import { PATCH_REFINE_CONFIG, PatchRefine } from "./patch_refine.ts";

/** A registered model: a module with a one-tensor forward in the reference layout. */
export interface LiftingModel extends Module {
  /** The resolved configuration. */
  readonly config: Record<string, unknown>;
  /** Throws an `InputError` (naming the expected layout) when `shape` is not a valid input. */
  checkInput(shape: readonly number[]): void;
  /** The raw network forward (in the current mode; the registry returns models in eval mode). */
  forward(x: Tensor): Tensor;
}

/** One registry entry. */
export interface ModelEntry {
  /** Configuration keys. */
  spec: ConfigSpec;
  /** One line for help texts. */
  summary: string;
  /** Builds the model from a raw configuration. */
  create(config: Record<string, unknown>): LiftingModel;
}

/** The registered models by name. */
export const MODELS: Record<string, ModelEntry> = {
  martinez: {
    spec: MARTINEZ_CONFIG,
    summary: "Martinez et al. 2017 baseline (PyTorch port keys), [B,32] -> [B,48]",
    create: (c) => new Martinez(c),
  },
  dual_channel: {
    spec: DUAL_CHANNEL_CONFIG,
    summary: "Martinez + structure-aware dual-channel refinement (seed 003), [B,32] -> [B,48]",
    create: (c) => new DualChannel(c),
  },
  videopose: {
    spec: VIDEOPOSE_CONFIG,
    summary: "VideoPose3D temporal model, [N,T,J,2] -> [N,T',J,3]",
    create: (c) => new VideoPose(c),
  },
  srnet: {
    spec: {
      ...SRNET_CONFIG,
      structure: { ...SRNET_CONFIG.structure, choices: [...SRNET_CONFIG.structure.choices, "fc"] },
    },
    summary:
      "SRNet split-and-recombine (official keys; structures sr/gp/lf/es/sfs/fc), [N,T,17,2] -> [N,T',17,3]",
    create: (c) => {
      if (c.structure !== "fc") return new Srnet(c);
      // FC is the official FC baseline; the SR-only keys must not be set for it.
      const { structure: _s, group: _g, split: _p, recombine: _r, layers: _l, context_dim: _h, ...rest } = c;
      return new SrnetFc(rest);
    },
  },
  srnet_fc: {
    spec: SRNET_FC_CONFIG,
    summary: "SRNet's official FC baseline, [N,T,17,2] -> [N,T',17,3]",
    create: (c) => new SrnetFc(c),
  },
  resnet: {
    spec: RESNET_CONFIG,
    summary: "ResNet-18/34/50/101/152 (torchvision keys, any input channels), [N,C,H,W] -> [N,num_classes]",
    create: (c) => new ResNet(c),
  },
  pose_resnet: {
    spec: POSE_RESNET_CONFIG,
    summary: "Simple Baselines pose_resnet (PoseFix's network), [N,C,H,W] -> [N,K,H/4,W/4]",
    create: (c) => new PoseResNet(c),
  },
  posefix: {
    spec: POSEFIX_CONFIG,
    summary: "PoseFix network (pose_resnet on image crop + K heatmaps), [N,3+K,H,W] -> [N,K,H/4,W/4] logits",
    create: (c) => new PoseFix(c),
  },
  cpn: {
    spec: CPN_CONFIG,
    summary: "Cascaded Pyramid Network (pytorch-cpn keys), [N,3,H,W] -> RefineNet heatmaps [N,K,H/4,W/4]",
    create: (c) => new Cpn(c),
  },
  ssd300: {
    spec: SSD300_CONFIG,
    summary:
      "SSD300 VGG16 detector (ssd.pytorch keys), [N,3,300,300] -> [N,8732,4+num_classes] (offsets, logits)",
    create: (c) => new Ssd300(c),
  },
  patch_refine: {
    spec: PATCH_REFINE_CONFIG,
    summary:
      "Patch-based 3D refinement (seed 000): ResNet on 16 limb patches, [N,96,S,S] -> [N,48] residuals",
    create: (c) => new PatchRefine(c),
  },
};

/** Registered model names. */
export const MODEL_NAMES: readonly string[] = Object.keys(MODELS);

/**
 * Builds a registered model in eval mode. `config` values may be typed or strings (`"3,3,3"`,
 * `"true"`); unknown names or keys and bad values are an `InputError`.
 */
export function createModel(name: string, config: Record<string, unknown> = {}): LiftingModel {
  const entry = MODELS[name];
  if (!entry) throw new InputError(`unknown model "${name}" (models: ${MODEL_NAMES.join(", ")})`);
  const resolved = resolveConfig(name, entry.spec, config);
  return entry.create(resolved as Record<string, unknown>).eval();
}
