/**
 * SRNet (Zeng et al., ECCV 2020, "Improving Generalization in 3D Human Pose Estimation with a
 * Split-and-Recombine Approach"), key-compatible with the official `TemporalModel`
 * (ailingzengzzz/Split-and-Recombine-Net `common/common_pytorch/model/srnet.py`).
 *
 * The 34 input channels (17 joints × x,y; `channel = 2·joint + coord`) are regrouped into G joint
 * groups, each with its own copy of the root (G = 5: legs, torso/head, arms → 42 channels). Every layer
 * is grouped; its output width is split over the groups in proportion to their input widths
 * (`int(in_g / Σ in · C)`, the remainder to the last group: 195/195/243/195/196 at C = 1024). The
 * network is VideoPose3D's shape with LeakyReLU(0.01):
 *
 *     x = Dropout(LReLU(expand_bn(expand_conv(regroup(x)))))            kernel fw[0]
 *     block i: res = crop(x); x = Dropout(LReLU(layers_bn[2i](layers_conv[2i](x))))   kernel fw[0] (quirk 6),
 *                                                                      dilation fw[0]·…·fw[i−1]
 *              x = res + Dropout(LReLU(layers_bn[2i+1](layers_conv[2i+1](x))))       pointwise
 *     y = final_layer(x)          grouped pointwise, 64 channels for G = 5 (12/12/15/12/13), no bias
 *     out = y without the duplicated roots (G = 5: channels 0:12, 15:24, 27:39, 42:51, 54:63) → [N, T', 17, 3]
 *
 * Layer kinds, and the paper's structures (Table 2) as presets over the L = 2 + 2B layers
 * (expand, block layers, final):
 * - `s` split-and-recombine (`srnet_layer.ts`): group convs + context of the other groups. SR = all `s`.
 * - `g` group-connected: the group convs alone (no `get_part_info` keys). GP = all `g`.
 * - `f` fully connected: one dense conv over all channels, key `group_conv.0.weight [C_out, C_in, k]`
 *   (the official code's one-group layer); the next layer still splits its output by the same rule.
 * - LF (late fusion) = `g` for the first ⌈L/2⌉ layers, then `f`; ES (early split) = `f` for the first
 *   ⌊L/2⌋ layers, then `g`; SFS (split-fuse-split) = `g`, `f`, `g` in thirds (L = 6: g,g,f,f,g,g).
 *   These three are posegpu's reading of the paper's figure (no official code); `layers=s,g,f,…`
 *   gives any other combination. FC is the official FC baseline (`srnet_fc.ts`), which the registry
 *   builds for `structure=fc`.
 *
 * The official code only runs multiply/add with hidden widths above 1000 and concat at exactly 1024
 * (quirk 1); this implementation computes the same function at those widths and the natural
 * generalisation at any other width (used by the small test fixtures).
 *
 * Temporal padding: the forward pads nothing (every conv is "valid": the official bilinear tap sampler
 * lands on integer frames t + j·d, so T' = T − receptive_field + 1; the unused `replication_padding`
 * of its base class and the reflection-padded `Same_Model` play no part in `TemporalModel`). Whole
 * sequences get one pose per frame through `inferSequence`: edge padding and flip averaging exactly as
 * the repository's `UnchunkedGenerator` + `evaluate` (the same as VideoPose3D's).
 *
 * Repository flags that reach the model: `norm=lcn` (`--norm lcn`) adds the input 2D to the output's
 * x, y after the roots are dropped (`y[..., :2] += x`, the official `TemporalModelBase.forward`; it needs
 * T' = T, i.e. single-frame widths); `dense` is accepted and ignored, as by the official `TemporalModel`
 * (its convs are always dilated). `split=all` takes every group's context from all the layer's input
 * channels (the raw 34 in the first layer; keys `get_all_info.m_conv.{g}.*`, no gate BN; see
 * `srnet_layer.ts`). `context_dim` is the paper's H, the global context's dimension, for concat: H
 * channels appended to every group (gate convs with H·k outputs, viewed as the official code views its
 * one; the official code fixes H = 1, its `added_dim`). `split=none` gives group convs without context (the `g` kind; the official code
 * fails with it for every --recombine choice, its context being undefined there).
 * @module
 */

import { InputError, ops, type Tensor } from "../engine/mod.ts";
import {
  BatchNorm1d,
  denseUnit,
  Dropout,
  type FoldPair,
  GroupConv1d,
  LeakyReLU,
  Module,
  ModuleList,
} from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { inferSequence, type SequenceOptions } from "./sequence.ts";
import { type Recombine, SplitRecombineLayer } from "./srnet_layer.ts";
import { checkNorm, lcnResidual, NORM_CHOICES } from "./videopose.ts";

/** SRNet's configuration: the official `TemporalModel` arguments and the repository's model flags. */
export const SRNET_CONFIG = {
  num_joints_in: { type: "int", default: 17, doc: "input joints (must be 17)" },
  in_features: { type: "int", default: 2, doc: "features per input joint (must be 2)" },
  num_joints_out: { type: "int", default: 17, doc: "output joints (must be 17)" },
  filter_widths: {
    type: "int_list",
    default: [1, 1, 1],
    doc: "-arc: 1,1,1 single frame, 3,3,3,3,3 = 243 frames",
  },
  causal: { type: "bool", default: false, doc: "causal convolutions" },
  dropout: { type: "float", default: 0, doc: "-drop" },
  channels: { type: "int", default: 1024, doc: "-ch" },
  group: { type: "int", default: 5, doc: "--group: 2, 3 or 5 joint groups" },
  split: {
    type: "string",
    default: "others",
    choices: ["others", "all", "none"],
    doc: "--split: context from the other groups, from all channels, or none",
  },
  recombine: {
    type: "string",
    default: "multiply",
    choices: ["multiply", "add", "concat"],
    doc: "--recombine",
  },
  structure: {
    type: "string",
    default: "sr",
    choices: ["sr", "gp", "lf", "es", "sfs"],
    doc: "paper structure",
  },
  layers: {
    type: "string",
    default: "",
    doc: "per-layer kinds s/g/f (overrides structure), e.g. g,g,g,f,f,f",
  },
  context_dim: {
    type: "int",
    default: 1,
    doc: "H, context channels per group with concat (the official code: 1)",
  },
  dense: {
    type: "bool",
    default: false,
    doc: "--dense: accepted and ignored, as by the official TemporalModel",
  },
  norm: {
    type: "string",
    default: "base",
    choices: NORM_CHOICES,
    doc: "--norm; lcn adds the input 2D to the output x,y (single frame only)",
  },
} as const satisfies ConfigSpec;

/** Resolved SRNet configuration. */
export type SrnetConfig = ConfigValues<typeof SRNET_CONFIG>;

/** Layer kinds: split-and-recombine, group-connected, fully connected. */
export type SrnetLayerKind = "s" | "g" | "f";

/** The official group tables (`group_index.py`): input channels per group and kept output channels. */
export const SRNET_GROUPS: Record<
  number,
  { channels: number[][]; finalOut: number; keep: [number, number][] }
> = {
  2: {
    channels: [range(0, 16), [0, 1, ...range(16, 34)]],
    finalOut: 55,
    keep: [[0, 24], [27, 54]],
  },
  3: {
    channels: [range(0, 14), [0, 1, ...range(14, 22)], [0, 1, ...range(22, 34)]],
    finalOut: 58,
    keep: [[0, 21], [24, 36], [39, 57]],
  },
  5: {
    channels: [range(0, 8), [0, 1, ...range(8, 14)], [0, 1, ...range(14, 22)], [0, 1, ...range(22, 28)], [
      0,
      1,
      ...range(28, 34),
    ]],
    finalOut: 64,
    keep: [[0, 12], [15, 24], [27, 39], [42, 51], [54, 63]],
  },
};

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** The official channel split: `int(in_g / Σ in · total)` for all groups but the last, which takes the rest. */
export function splitChannels(inWidths: readonly number[], total: number): number[] {
  if (inWidths.length === 1) return [total];
  const sum = inWidths.reduce((a, b) => a + b, 0);
  const out = inWidths.slice(0, -1).map((w) => Math.trunc((w / sum) * total));
  out.push(total - out.reduce((a, b) => a + b, 0));
  return out;
}

/** Per-layer kinds of a structure preset for `count` layers. */
export function structureLayers(structure: string, count: number): SrnetLayerKind[] {
  const fill = (k: SrnetLayerKind) => Array<SrnetLayerKind>(count).fill(k);
  switch (structure) {
    case "sr":
      return fill("s");
    case "gp":
      return fill("g");
    case "lf":
      return fill("g").map((_, i) => (i < Math.ceil(count / 2) ? "g" : "f"));
    case "es":
      return fill("f").map((_, i) => (i < Math.floor(count / 2) ? "f" : "g"));
    case "sfs": {
      const third = Math.round(count / 3);
      return fill("g").map((_, i) => (i >= third && i < count - third ? "f" : "g"));
    }
  }
  throw new InputError(`srnet config structure=${structure}: expected sr, gp, lf, es or sfs`);
}

/** SRNet. */
export class Srnet extends Module {
  /** Resolved configuration. */
  readonly config: SrnetConfig;
  /** Kind of every layer (expand, block layers, final). */
  readonly layerKinds: readonly SrnetLayerKind[];
  /** BatchNorm after the expand layer. */
  readonly expand_bn: BatchNorm1d;
  /** Expand layer. */
  readonly expand_conv: GroupConv1d;
  /** Output layer. */
  readonly final_layer: GroupConv1d;
  /** Block layers. */
  readonly layers_conv: ModuleList<GroupConv1d>;
  /** Block norms. */
  readonly layers_bn: ModuleList<BatchNorm1d>;
  /** Dropout. */
  readonly drop: Dropout;
  /** LeakyReLU(0.01). */
  readonly relu: LeakyReLU = new LeakyReLU(0.01);
  /** Frames cropped per side by the expand layer and each block. */
  readonly pad: readonly number[];
  /** Causal shift of each block. */
  readonly causalShift: readonly number[];
  readonly #regroup: number[];
  readonly #keep: number[];

  /** Creates the model from (a subset of) `SRNET_CONFIG`. */
  constructor(config: Partial<SrnetConfig> = {}) {
    super();
    const c = this.config = resolveConfig("srnet", SRNET_CONFIG, config);
    if (c.num_joints_in !== 17 || c.in_features !== 2 || c.num_joints_out !== 17) {
      throw new InputError(
        "srnet: the official group tables are for 17 input joints × 2 and 17 output joints",
      );
    }
    const table = SRNET_GROUPS[c.group];
    if (!table) throw new InputError(`srnet config group=${c.group}: expected 2, 3 or 5`);
    const fw = c.filter_widths;
    if (fw.length < 1 || fw.some((w) => w < 1 || w % 2 === 0)) {
      throw new InputError(`srnet config filter_widths=${fw.join(",")}: only odd widths are supported`);
    }
    if (fw.some((w) => w !== fw[0])) {
      // Quirk 6: every block conv uses fw[0] while the residual crop uses the block's own width.
      throw new InputError(
        `srnet config filter_widths=${
          fw.join(",")
        }: the official model uses the first width for every block, so widths must be equal`,
      );
    }
    const count = 2 * fw.length;
    let kinds: SrnetLayerKind[];
    if (c.layers) {
      kinds = c.layers.split(",").map((s) => s.trim()) as SrnetLayerKind[];
      if (kinds.length !== count || kinds.some((k) => !["s", "g", "f"].includes(k))) {
        throw new InputError(
          `srnet config layers=${c.layers}: expected ${count} of s, g, f (expand, blocks, final)`,
        );
      }
    } else {
      kinds = structureLayers(c.structure, count);
    }
    if (c.split === "none") kinds = kinds.map((k) => (k === "s" ? "g" : k));
    this.layerKinds = kinds;
    const recombine = c.recombine as Recombine;
    if (c.context_dim !== 1 && (recombine !== "concat" || c.context_dim < 1)) {
      throw new InputError(
        `srnet config context_dim=${c.context_dim}: H above 1 is defined for recombine=concat only`,
      );
    }
    const source = c.split === "all" ? "all" : "others";
    // --split all: the first layer's gates see the raw 34 channels = the first copy of each channel in
    // the regrouped input (the roots of group 0).
    const regroup = table.channels.flat();
    const rawChannels = range(0, 34).map((ch) => regroup.indexOf(ch));
    const make = (
      kind: SrnetLayerKind,
      inG: number[],
      outG: number[],
      k: number,
      dilation: number,
      first = false,
    ): GroupConv1d => {
      if (kind === "s") {
        return new SplitRecombineLayer(inG, outG, k, {
          dilation,
          recombine,
          source,
          contextChannels: first ? rawChannels : undefined,
          contextDim: c.context_dim,
        });
      }
      if (kind === "g") return new GroupConv1d(inG, outG, k, { dilation });
      return new GroupConv1d([sum(inG)], [sum(outG)], k, { dilation });
    };

    this.drop = this.addModule("drop", new Dropout(c.dropout));
    // Registration order = the official state_dict order: expand_bn, expand_conv, final_layer, layers_*.
    this.expand_bn = this.addModule("expand_bn", new BatchNorm1d(c.channels, { momentum: 0.1 }));
    const inWidths = table.channels.map((g) => g.length);
    let split = splitChannels(inWidths, c.channels);
    this.expand_conv = this.addModule("expand_conv", make(kinds[0], inWidths, split, fw[0], 1, true));
    const pad = [Math.floor(fw[0] / 2)];
    const shift = [c.causal ? Math.floor(fw[0] / 2) : 0];
    const convs: GroupConv1d[] = [], bns: BatchNorm1d[] = [];
    let dilation = fw[0];
    for (let i = 1; i < fw.length; i++) {
      pad.push(Math.floor(((fw[i] - 1) * dilation) / 2));
      shift.push(c.causal ? Math.floor(fw[i] / 2) * dilation : 0);
      const next = splitChannels(split, c.channels);
      convs.push(make(kinds[2 * i - 1], split, next, fw[0], dilation));
      bns.push(new BatchNorm1d(c.channels, { momentum: 0.1 }));
      const after = splitChannels(next, c.channels);
      convs.push(make(kinds[2 * i], next, after, 1, 1));
      bns.push(new BatchNorm1d(c.channels, { momentum: 0.1 }));
      split = after;
      dilation *= fw[i];
    }
    // The official code derives the final layer's input split by applying the split rule once more to
    // the last hidden split; at power-of-two widths that is the same split, elsewhere it can differ by
    // one channel, and the official grouping is what a checkpoint expects.
    const finalIn = splitChannels(split, c.channels);
    this.final_layer = this.addModule(
      "final_layer",
      make(kinds[count - 1], finalIn, splitChannels(finalIn, table.finalOut), 1, 1),
    );
    this.layers_conv = this.addModule("layers_conv", new ModuleList(convs));
    this.layers_bn = this.addModule("layers_bn", new ModuleList(bns));
    this.pad = pad;
    this.causalShift = shift;
    this.#regroup = table.channels.flat();
    this.#keep = table.keep.flatMap(([a, b]) => range(a, b));
    checkNorm("srnet", c.norm, this.receptiveField());
  }

  /** Whether the model is causal. */
  get causal(): boolean {
    return this.config.causal;
  }

  /** Input frames per output frame. */
  receptiveField(): number {
    return 1 + 2 * this.pad.reduce((a, b) => a + b, 0);
  }

  /** Checks `[N, T, 17, 2]` with T ≥ the receptive field. */
  checkInput(shape: readonly number[]): void {
    if (shape.length !== 4 || shape[2] !== 17 || shape[3] !== 2) {
      throw new InputError(`srnet expects input [N, T, 17, 2], got [${shape.join(", ")}]`);
    }
    if (shape[1] < this.receptiveField()) {
      throw new InputError(`input has ${shape[1]} frames, the receptive field is ${this.receptiveField()}`);
    }
  }

  /** `[N, T, 17, 2]` → `[N, T − receptive + 1, 17, 3]`. */
  forward(x: Tensor): Tensor {
    this.checkInput(x.shape);
    const [n, t] = x.shape;
    const pointwise = this.receptiveField() === 1;
    // Single-frame models run on rows [N·T, C] with no reshapes between layers.
    let y = ops.reshape(x, pointwise ? [n * t, 34] : [n, t, 34]);
    y = ops.gather(y, this.cachedIndex("regroup", () => Int32Array.from(this.#regroup)), {
      axis: y.rank - 1,
    });
    const unit = { activation: this.relu, dropout: this.drop };
    y = denseUnit(y, { layer: this.expand_conv, norm: this.expand_bn, ...unit });
    for (let i = 0; i < this.pad.length - 1; i++) {
      const p = this.pad[i + 1], s = this.causalShift[i + 1];
      const res = pointwise || (p === 0 && s === 0)
        ? y
        : ops.slice(y, [{ axis: 1, start: p + s, end: y.shape[1] - p + s }]);
      y = denseUnit(y, { layer: this.layers_conv.at(2 * i), norm: this.layers_bn.at(2 * i), ...unit });
      y = denseUnit(y, {
        layer: this.layers_conv.at(2 * i + 1),
        norm: this.layers_bn.at(2 * i + 1),
        ...unit,
        residual: res,
      });
    }
    y = this.final_layer.forward(y);
    const frames = pointwise ? t : y.shape[1];
    const rows = pointwise ? y : ops.reshape(y, [n * frames, y.shape[2]]);
    const kept = ops.gather(rows, this.cachedIndex("keep", () => Int32Array.from(this.#keep)), {
      axis: 1,
    });
    const out = ops.reshape(kept, [n, frames, 17, 3]);
    return this.config.norm === "lcn" ? lcnResidual(x, out) : out;
  }

  /** Lifts whole sequences with edge padding and optional flip averaging (see `inferSequence`). */
  inferSequence(poses: Tensor, options: SequenceOptions = {}): Tensor {
    return inferSequence(this, poses, options);
  }

  /** Every grouped layer (all its group convs) with the norm after it. */
  protected override foldPairs(): FoldPair[] {
    const pairs: FoldPair[] = [{ layers: this.expand_conv.groupConv.toArray(), norm: this.expand_bn }];
    for (let k = 0; k < this.layers_conv.length; k++) {
      pairs.push({ layers: this.layers_conv.at(k).groupConv.toArray(), norm: this.layers_bn.at(k) });
    }
    return pairs;
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
