/**
 * Structure-aware dual-channel refinement (seed 003; no public code, so the structure and key names
 * below are posegpu's reading of the paper).
 *
 * A Martinez basic network (`basic.*`, exactly `martinez.ts`) regresses 3D for all output joints. Each
 * refinement channel takes one body group — A (left side + spine/head) or B (right side + spine/head),
 * from skeletons_cameras.md — and refines that group's *hard* joints (elbows, wrists, knees, feet):
 *
 *     u_c = [ basic 3D of the group's output joints , 2D input of the group's input joints ]
 *     h   = Dropout(ReLU(BN(w1 · u_c)));  h = Dropout(ReLU(BN(w2 · h)));  r_c = w3 · h
 *     output = basic 3D with the group's hard joints replaced by r_c
 *
 * The "residual 2D fusion" is the skip connection that brings the network's 2D input straight into
 * the refinement channel (a linear layer on the concatenation equals the sum of a layer on the 3D and a
 * layer on the 2D part, i.e. the 2D enters as a residual branch). `residual_fusion: false` is the paper's
 * "without residual fusion" ablation (3D only); `channels: "single"` is one channel over all joints
 * refining all eight hard joints.
 *
 * Joints are Human3.6M-17 indices. Inputs/outputs follow Martinez: `joints_in` lists the 2D input joints
 * (default: the 17 without Neck/Nose), `joints_out` the 3D output joints (default: the 17 without the
 * root). Input `[B, 2·|joints_in|]` (x, y per joint), output `[B, 3·|joints_out|]`. Group joints missing
 * from the input or output list are skipped in that part.
 *
 * Keys: `basic.{w1,batch_norm1,linear_stages.{i}.…,w2}.*` (Martinez), then per channel (`refine_a`,
 * `refine_b`, or `refine` for single): `w1.*`, `batch_norm1.*`, `w2.*`, `batch_norm2.*`, `w3.*`.
 * Training uses `forwardAll` (basic and channel outputs separately, for the L1 + L3 + L4 losses).
 * @module
 */

import { InputError, ops, type Tensor, tensor } from "../engine/mod.ts";
import { BatchNorm1d, denseUnit, Dropout, type FoldPair, Linear, Module, ReLU } from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { Martinez } from "./martinez.ts";

/** Group A (left): LWrist, LElbow, LKnee, LFoot, Thorax, Neck/Nose, LShoulder, Head, Spine, LHip, Hip. */
export const DUAL_GROUP_A: readonly number[] = [0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
/** Group B (right): RWrist, RElbow, RKnee, Head, RFoot, Hip, Neck/Nose, RShoulder, Thorax, Spine, RHip. */
export const DUAL_GROUP_B: readonly number[] = [0, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16];
/** Hard joints of group A: LKnee, LFoot, LElbow, LWrist. */
export const DUAL_HARD_A: readonly number[] = [5, 6, 12, 13];
/** Hard joints of group B: RKnee, RFoot, RElbow, RWrist. */
export const DUAL_HARD_B: readonly number[] = [2, 3, 15, 16];

/** Configuration: the Martinez arguments plus the refinement's. */
export const DUAL_CHANNEL_CONFIG = {
  linear_size: { type: "int", default: 1024, doc: "basic network width" },
  num_stage: { type: "int", default: 2, doc: "basic network residual blocks" },
  p_dropout: { type: "float", default: 0.5, doc: "dropout probability" },
  refine_size: { type: "int", default: 1024, doc: "refinement channel width" },
  channels: { type: "string", default: "dual", choices: ["dual", "single"], doc: "two channels or one" },
  residual_fusion: { type: "bool", default: true, doc: "feed the 2D input into the refinement" },
  joints_in: {
    type: "int_list",
    default: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16],
    doc: "H36M-17 indices of the 2D input joints",
  },
  joints_out: { type: "int_list", default: range(1, 17), doc: "H36M-17 indices of the 3D output joints" },
} as const satisfies ConfigSpec;

/** Resolved dual-channel configuration. */
export type DualChannelConfig = ConfigValues<typeof DUAL_CHANNEL_CONFIG>;

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** One refinement channel: two hidden layers and an output layer. */
export class RefineChannel extends Module {
  /** First layer. */
  readonly w1: Linear;
  /** Its norm. */
  readonly batch_norm1: BatchNorm1d;
  /** Second layer. */
  readonly w2: Linear;
  /** Its norm. */
  readonly batch_norm2: BatchNorm1d;
  /** Output layer. */
  readonly w3: Linear;
  /** ReLU. */
  readonly relu: ReLU = new ReLU();
  /** Dropout. */
  readonly dropout: Dropout;

  /** Creates a channel `inSize → size → size → outSize`. */
  constructor(inSize: number, size: number, outSize: number, pDropout: number) {
    super();
    this.w1 = this.addModule("w1", new Linear(inSize, size));
    this.batch_norm1 = this.addModule("batch_norm1", new BatchNorm1d(size));
    this.w2 = this.addModule("w2", new Linear(size, size));
    this.batch_norm2 = this.addModule("batch_norm2", new BatchNorm1d(size));
    this.w3 = this.addModule("w3", new Linear(size, outSize));
    this.dropout = this.addModule("dropout", new Dropout(pDropout));
  }

  /** `[B, in]` → `[B, out]`. */
  forward(u: Tensor): Tensor {
    const common = { activation: this.relu, dropout: this.dropout };
    const h = denseUnit(u, { layer: this.w1, norm: this.batch_norm1, ...common });
    return this.w3.forward(denseUnit(h, { layer: this.w2, norm: this.batch_norm2, ...common }));
  }

  /** Both hidden layers with their norms. */
  protected override foldPairs(): FoldPair[] {
    return [{ layers: [this.w1], norm: this.batch_norm1 }, { layers: [this.w2], norm: this.batch_norm2 }];
  }
}

interface ChannelPlan {
  name: string;
  in3d: number[]; // columns of the basic output
  in2d: number[]; // columns of the input
  hard: number[]; // output columns it replaces
}

/** The dual- (or single-) channel refinement network. */
export class DualChannel extends Module {
  /** Resolved configuration. */
  readonly config: DualChannelConfig;
  /** The Martinez basic network. */
  readonly basic: Martinez;
  /** The refinement channels (A, B; or one). */
  readonly refiners: readonly RefineChannel[];
  readonly #plans: ChannelPlan[];
  readonly #merge: number[];

  /** Creates the model from (a subset of) `DUAL_CHANNEL_CONFIG`. */
  constructor(config: Partial<DualChannelConfig> = {}) {
    super();
    const c = this.config = resolveConfig("dual_channel", DUAL_CHANNEL_CONFIG, config);
    for (const [k, list] of [["joints_in", c.joints_in], ["joints_out", c.joints_out]] as const) {
      if (list.some((j) => j < 0 || j > 16) || new Set(list).size !== list.length) {
        throw new InputError(`dual_channel config ${k}: expected distinct Human3.6M-17 indices 0..16`);
      }
    }
    const nIn = c.joints_in.length, nOut = c.joints_out.length;
    this.basic = this.addModule(
      "basic",
      new Martinez({
        linear_size: c.linear_size,
        num_stage: c.num_stage,
        p_dropout: c.p_dropout,
        input_size: 2 * nIn,
        output_size: 3 * nOut,
      }),
    );
    const groups = c.channels === "dual"
      ? [{ name: "refine_a", joints: DUAL_GROUP_A, hard: DUAL_HARD_A }, {
        name: "refine_b",
        joints: DUAL_GROUP_B,
        hard: DUAL_HARD_B,
      }]
      : [{
        name: "refine",
        joints: range(0, 17),
        hard: [...DUAL_HARD_A, ...DUAL_HARD_B].sort((a, b) => a - b),
      }];
    const cols = (joints: readonly number[], list: readonly number[], width: number) =>
      joints.filter((j) => list.includes(j)).flatMap((j) =>
        range(0, width).map((d) => list.indexOf(j) * width + d)
      );
    this.#plans = groups.map((g) => {
      const missing = g.hard.filter((j) => !c.joints_out.includes(j));
      if (missing.length) {
        throw new InputError(`dual_channel config joints_out lacks hard joints ${missing.join(", ")}`);
      }
      return {
        name: g.name,
        in3d: cols(g.joints, c.joints_out, 3),
        in2d: c.residual_fusion ? cols(g.joints, c.joints_in, 2) : [],
        hard: cols(g.hard, c.joints_out, 3),
      };
    });
    this.refiners = this.#plans.map((p) =>
      this.addModule(
        p.name,
        new RefineChannel(p.in3d.length + p.in2d.length, c.refine_size, p.hard.length, c.p_dropout),
      )
    );
    // Output column o comes from the basic output, or from a channel's output appended after it.
    const merge = range(0, 3 * nOut);
    let at = 3 * nOut;
    for (const p of this.#plans) {
      p.hard.forEach((col, i) => (merge[col] = at + i));
      at += p.hard.length;
    }
    this.#merge = merge;
  }

  /** Checks `[B, 2·|joints_in|]`. */
  checkInput(shape: readonly number[]): void {
    const want = 2 * this.config.joints_in.length;
    if (shape.length !== 2 || shape[1] !== want) {
      throw new InputError(`dual_channel expects input [B, ${want}], got [${shape.join(", ")}]`);
    }
  }

  /** The basic estimate, each channel's refined hard joints, and the merged output. */
  forwardAll(x: Tensor): { basic: Tensor; refined: Tensor[]; output: Tensor } {
    this.checkInput(x.shape);
    const basic = this.basic.forward(x);
    const idx = (key: string, cols: number[]) => this.cached(key, () => tensor(Int32Array.from(cols)));
    const refined = this.#plans.map((p, i) => {
      const parts = [ops.gather(basic, idx(`${p.name}.in3d`, p.in3d), { axis: 1 })];
      if (p.in2d.length) parts.push(ops.gather(x, idx(`${p.name}.in2d`, p.in2d), { axis: 1 }));
      return this.refiners[i].forward(parts.length === 1 ? parts[0] : ops.concat(parts, { axis: 1 }));
    });
    const merged = ops.concat([basic, ...refined], { axis: 1 });
    const output = ops.gather(merged, idx("merge", this.#merge), { axis: 1 });
    return { basic, refined, output };
  }

  /** `[B, 2·|joints_in|]` → `[B, 3·|joints_out|]`. */
  forward(x: Tensor): Tensor {
    return this.forwardAll(x).output;
  }
}
