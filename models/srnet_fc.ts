/**
 * SRNet's FC baseline (ailingzengzzz/Split-and-Recombine-Net `common/common_pytorch/model/fc_baseline.py`,
 * `--model fc`): VideoPose3D's temporal network without groups, with LeakyReLU(0.01) and the SRNet
 * repository's defaults (single frame `filter_widths=1,1,1`, dropout 0). Input `[N, T, 17, 2]`, output
 * `[N, T', 17, 3]` (no root dropping). Keys as VideoPose3D: `expand_conv.weight`, `expand_bn.*`,
 * `layers_conv.{k}.weight`, `layers_bn.{k}.*`, `shrink.{weight,bias}`. Block convs use their own width
 * `fw[i]` (unlike SRNet's quirk 6) and `dense` works as in VideoPose3D. With the repository's
 * `--norm lcn` the forward adds the input 2D to the output's x, y (`y[..., :2] += x`).
 * @module
 */

import { LeakyReLU } from "../layers/mod.ts";
import type { ConfigSpec, ConfigValues } from "./config.ts";
import { NORM_CHOICES, TemporalConvNet } from "./videopose.ts";

/** Constructor arguments of the FC baseline, with the SRNet repository's command-line defaults. */
export const SRNET_FC_CONFIG = {
  num_joints_in: { type: "int", default: 17, doc: "input joints" },
  in_features: { type: "int", default: 2, doc: "features per input joint" },
  num_joints_out: { type: "int", default: 17, doc: "output joints" },
  filter_widths: { type: "int_list", default: [1, 1, 1], doc: "kernel widths (-arc); 1,1,1 = single frame" },
  causal: { type: "bool", default: false, doc: "causal convolutions" },
  dropout: { type: "float", default: 0, doc: "dropout probability (-drop)" },
  channels: { type: "int", default: 1024, doc: "channels (-ch)" },
  dense: { type: "bool", default: false, doc: "dense instead of dilated convolutions (--dense)" },
  norm: {
    type: "string",
    default: "base",
    choices: NORM_CHOICES,
    doc: "--norm; lcn adds the input 2D to the output x,y (single frame only)",
  },
} as const satisfies ConfigSpec;

/** Resolved FC-baseline configuration. */
export type SrnetFcConfig = ConfigValues<typeof SRNET_FC_CONFIG>;

/** The FC baseline of SRNet. */
export class SrnetFc extends TemporalConvNet {
  /** Creates the model from (a subset of) `SRNET_FC_CONFIG`. */
  constructor(config: Partial<SrnetFcConfig> = {}) {
    super(config, { name: "srnet_fc", spec: SRNET_FC_CONFIG, activation: new LeakyReLU(0.01) });
  }
}
