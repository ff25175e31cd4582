/**
 * Training loop for the lifting models on Human3.6M-format data (`posegpu train`):
 *
 * - Samples: every frame × camera of the training subjects (`h36m_data.ts`); inputs and targets are
 *   normalised once up front with the statistics that go into the checkpoint (`codec.ts`).
 * - Martinez reference recipe: Adam lr 1e-3, batch 64, TF `exponential_decay` ×0.96 every 100k steps
 *   (staircase), MSE on the z-scored outputs, dropout 0.5, the samples shuffled each epoch. Max-norm is
 *   available (`max_norm: true`: every weight matrix projected to Frobenius norm ≤ 1 after each step) but
 *   off by default: the TF original clips inside the graph (the variable itself is free, so Adam's steps
 *   stay small relative to it), whereas projecting the variable after each Adam step of ~1e-3 per weight
 *   (weights of ~1e-3 after the projection) makes training much noisier — measured on the shared data,
 *   same seed, step 500: validation MPJPE 126.5 mm with the projection vs 84.9 mm without. Dual-channel: the structure-aware L1 losses (basic network on all joints plus
 *   each channel on its hard joints). SRNet / VideoPose3D: their repositories' recipe (`trainingRecipe`):
 *   batch 1024, 60 epochs, Adam with AMSGrad, lr 1e-3 ×0.95 after every epoch, BatchNorm momentum decayed
 *   from 0.1 to 0.001 over the run, flip augmentation; loss L1 in metres for SRNet (its `train.py`), MPJPE
 *   for VideoPose3D; screen-normalised 2D; temporal models take a window of `receptiveField` frames around
 *   each sample (edge frames repeated, as VideoPose3D pads its sequences) and train as
 *   `TemporalModelOptimized1f`.
 * - Many steps are recorded per GPU submit and the loss is read back once every `logEvery` steps
 *   (`LossLog`), when a progress line (epoch, step, poses/s, loss, ETA) goes to the log.
 * - Each epoch: validation MPJPE (Protocol #1: mean over frames and 17 joints, root-relative mm), then
 *   an atomic checkpoint with the metadata of `../checkpoint.ts` and the optimiser state.
 * - Reproducible and resumable: the shuffle of epoch e is a pure function of (seed, e) and the dropout
 *   stream is re-seeded from (seed, step) before every step, so `resume` from a checkpoint written at
 *   step s continues exactly as the uninterrupted run would.
 * @module
 */

import { basename } from "node:path";
import { backend } from "../../engine/backend.ts";
import { InputError } from "../../engine/errors.ts";
import { hardJointLoss, l1Loss, mseLoss } from "../../engine/losses.ts";
import * as ops from "../../engine/ops.ts";
import { Adam, exponentialDecay, LossLog, trainStep } from "../../engine/optim.ts";
import { manualSeed, Rng } from "../../engine/random.ts";
import { readAll, type Tensor, tensor, tidy } from "../../engine/tensor.ts";
import { type CheckpointMeta, loadCheckpoint, type Normalization, saveCheckpoint } from "../checkpoint.ts";
import type { StateDict } from "../../layers/module.ts";
import { forwardWindows } from "../sequence.ts";
import { DUAL_HARD_A, DUAL_HARD_B, type DualChannel } from "../dual_channel.ts";
import { Martinez } from "../martinez.ts";
import { BatchNorm } from "../../layers/batch_norm.ts";
import { createModel, type LiftingModel } from "../registry.ts";
import {
  computeNormalization,
  decodeOutput,
  encodeInput,
  encodeTarget,
  meanMpjpe,
  networkJoints,
  usesZScore,
} from "./codec.ts";
import { commonImageSize, loadH36mPoses, type PoseSet } from "./h36m_data.ts";
import { H36M_17 } from "../../pose/skeletons.ts";
import { mirrorPoses } from "../../pose/mirror.ts";

/** Options of `trainLifter`. */
export interface TrainOptions {
  /** Registry name: martinez, dual_channel, srnet, srnet_fc, videopose. */
  model: string;
  /** Model configuration overrides (`--config k=v`). */
  config?: Record<string, unknown>;
  /** Human3.6M folder (shared format). */
  data: string;
  /** Training subjects. */
  trainSubjects: readonly string[];
  /** Validation subjects (none: no validation). */
  valSubjects?: readonly string[];
  /** 2D input kind. */
  input: "gt" | "sh";
  /** Total epochs of the run (a resumed run continues up to this many; default: the recipe's). */
  epochs?: number;
  /** Batch size (default: the recipe's). */
  batch?: number;
  /** Initial learning rate (default 1e-3). */
  lr?: number;
  /** Decay steps of the exponential (staircase) schedule (default: the recipe's; "epoch": once per epoch). */
  decaySteps?: number | "epoch";
  /** Decay rate (default: the recipe's). */
  decayRate?: number;
  /**
   * Loss of the screen-normalised models: "l1" (mean absolute error in metres, SRNet's) or "mpjpe" (mean
   * joint distance, VideoPose3D's). Martinez (MSE) and dual_channel (hard-joint L1) have theirs fixed.
   */
  loss?: "l1" | "mpjpe";
  /** "adam" or "amsgrad" (Adam with the running maximum of the second moment; default: the recipe's). */
  optimizer?: "adam" | "amsgrad";
  /**
   * BatchNorm running-statistics momentum: "fixed" (0.1) or "decay" (0.1 → 0.001 exponentially over the
   * epochs, set at the start of each epoch, as VideoPose3D / SRNet do; default: the recipe's).
   */
  bnMomentum?: "fixed" | "decay";
  /** Checkpoint path (written after every epoch and at the end). */
  out: string;
  /** Resume from this checkpoint (its model, config, normalisation and optimiser state). */
  resume?: string;
  /**
   * Start from this checkpoint's weights, config and normalisation with a fresh optimiser at step 0:
   * fine-tuning, or continuing an exported checkpoint (`train --export`), which has no optimiser state.
   */
  init?: string;
  /**
   * Also keep the checkpoint of lowest validation MPJPE so far at this path (`out` always holds the latest,
   * so a later, worse checkpoint would otherwise replace a better one).
   */
  best?: string;
  /**
   * Training augmentation: "flip" mirrors each sample with probability ½ (2D x → −x in screen-normalised
   * coordinates, 3D x → −x, left/right joints swapped), as VideoPose3D / SRNet train by default; "none"
   * turns it off. Default "flip" for the screen-normalised models (srnet, srnet_fc, videopose), "none" for
   * the z-scored Martinez family (its reference does not flip, and a flip does not commute with z-scores).
   */
  augment?: "none" | "flip";
  /** Seed (default 0). */
  seed?: number;
  /** Stop after this many optimiser steps in total (counting a resumed run's earlier steps). */
  maxSteps?: number;
  /** Read the loss and print progress every this many steps (default 100). */
  logEvery?: number;
  /** Steps recorded per GPU submit (default 4). */
  submitEvery?: number;
  /** Also validate and write the checkpoint every this many steps (default: only per epoch). */
  checkpointEvery?: number;
  /** Use every k-th validation sample (default 1). */
  valStride?: number;
  /** Preloaded training samples (tests, benchmarks); `data` is then only recorded in the metadata. */
  trainSet?: PoseSet;
  /** Preloaded validation samples. */
  valSet?: PoseSet;
  /** Where progress lines go (default stderr). */
  log?: (line: string) => void;
  /** Called after each epoch's (or periodic) checkpoint is written, with its record (leak tests, UIs). */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
}

/** One finished epoch (or the partial one a `maxSteps` stop ends in). */
export interface EpochRecord {
  /** Epochs completed. */
  epoch: number;
  /** Steps completed. */
  step: number;
  /** Mean training loss over the steps read back in this epoch. */
  trainLoss: number;
  /** Validation MPJPE (mm), or null. */
  valMpjpe: number | null;
  /** Seconds of training (without validation) in this epoch. */
  seconds: number;
  /** Training throughput. */
  posesPerSecond: number;
}

/** What `trainLifter` returns. */
export interface TrainResult {
  /** Epochs completed. */
  epochs: number;
  /** Steps taken in total. */
  step: number;
  /** Per-epoch records of this run. */
  history: EpochRecord[];
  /** Every loss read back (one per step of this run). */
  losses: number[];
  /** Last validation MPJPE (mm), or null. */
  valMpjpe: number | null;
  /** The checkpoint written. */
  out: string;
}

function stderr(line: string): void {
  console.error(line);
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

/** A model family's reference training recipe: the defaults of `trainLifter` and `posegpu train`. */
export interface TrainingRecipe {
  /** Batch size. */
  batch: number;
  /** Epochs. */
  epochs: number;
  /** Initial learning rate. */
  lr: number;
  /** Steps between learning-rate decays ("epoch": after every epoch). */
  decaySteps: number | "epoch";
  /** Factor of each decay. */
  decayRate: number;
  /** Training loss. */
  loss: "mse" | "hard_joint_l1" | "l1" | "mpjpe";
  /** Optimiser. */
  optimizer: "adam" | "amsgrad";
  /** BatchNorm momentum schedule. */
  bnMomentum: "fixed" | "decay";
  /** Augmentation. */
  augment: "none" | "flip";
}

/**
 * The reference recipe of `model`: Martinez's TF code (Adam, batch 64, ×0.96 every 100k steps, MSE, 200
 * epochs; dual_channel reuses it with its hard-joint L1 losses); SRNet's and VideoPose3D's `run.py` (batch
 * 1024, 60 epochs, AMSGrad, ×0.95 per epoch, BN momentum decay, flip; L1 for SRNet, MPJPE for
 * VideoPose3D). At batch 1024 the 243-frame model's first layer holds 340 MB (81 frames × 1024 channels
 * per sample), beyond a 128 MiB storage binding: its ops run in chunks (engine/chunking.ts); a step there
 * takes ~12.6 GB of host memory on lavapipe.
 */
export function trainingRecipe(model: string): TrainingRecipe {
  if (model === "martinez" || model === "dual_channel") {
    return {
      batch: 64,
      epochs: 200,
      lr: 1e-3,
      decaySteps: 100_000,
      decayRate: 0.96,
      loss: model === "martinez" ? "mse" : "hard_joint_l1",
      optimizer: "adam",
      bnMomentum: "fixed",
      augment: "none",
    };
  }
  return {
    batch: 1024,
    epochs: 60,
    lr: 1e-3,
    decaySteps: "epoch",
    decayRate: 0.95,
    loss: model === "videopose" ? "mpjpe" : "l1",
    optimizer: "amsgrad",
    bnMomentum: "decay",
    augment: "flip",
  };
}

/** VideoPose3D's BatchNorm momentum in epoch `epoch` (0-based) of `epochs`: 0.1 → 0.001 exponentially. */
export function bnMomentumAt(epoch: number, epochs: number): number {
  return 0.1 * Math.exp(-(epoch / epochs) * Math.log(0.1 / 0.001));
}

/** Seed of the dropout stream at `step` (a fixed mix of seed and step: resumable). */
function stepSeed(seed: number, step: number): number {
  return ((seed * 1_000_003 + step) * 2654435761) % 9007199254740881;
}

/** Training input/target rows and batching for one model family. */
interface Task {
  /** Network input shape of a batch of `b`. */
  inputShape(b: number): number[];
  /** Target shape of a batch of `b`. */
  targetShape(b: number): number[];
  /** Fills a batch of inputs and targets for samples `idx`; samples `i` with `flip?.[i]` mirrored. */
  fill(set: Encoded, idx: ArrayLike<number>, x: Float32Array, y: Float32Array, flip?: Uint8Array): void;
  /** The loss of one batch (training mode). */
  loss(model: LiftingModel, x: Tensor, y: Tensor): Tensor;
}

/** A sample set encoded for the network. */
interface Encoded {
  set: PoseSet;
  x: Float32Array;
  y: Float32Array;
  /** Start and end (exclusive) of each sample's clip (temporal models). */
  clipStart: Int32Array;
  clipEnd: Int32Array;
}

function receptiveField(model: LiftingModel): number {
  const m = model as LiftingModel & { receptiveField?: () => number };
  return typeof m.receptiveField === "function" ? m.receptiveField() : 1;
}

function makeTask(name: string, model: LiftingModel, lossKind: "l1" | "mpjpe"): Task {
  if (usesZScore(name)) {
    const { jointsIn, jointsOut } = networkJoints(name, model.config);
    const din = jointsIn.length * 2, dout = jointsOut.length * 3;
    const fill = (set: Encoded, idx: ArrayLike<number>, x: Float32Array, y: Float32Array) => {
      for (let i = 0; i < idx.length; i++) {
        const s = idx[i];
        x.set(set.x.subarray(s * din, s * din + din), i * din);
        y.set(set.y.subarray(s * dout, s * dout + dout), i * dout);
      }
    };
    if (name === "martinez") {
      return {
        inputShape: (b) => [b, din],
        targetShape: (b) => [b, dout],
        fill,
        loss: (m, x, y) => mseLoss(m.forward(x), y),
      };
    }
    // Dual-channel: L1 of the basic network on all joints + L1 of each channel on its hard joints.
    const hardCols = (hard: readonly number[]) =>
      hard.flatMap((j) => [0, 1, 2].map((c) => jointsOut.indexOf(j) * 3 + c));
    const single = (model.config.channels as string) === "single";
    const channelCols = single
      ? [hardCols([...DUAL_HARD_A, ...DUAL_HARD_B].sort((a, b) => a - b))]
      : [hardCols(DUAL_HARD_A), hardCols(DUAL_HARD_B)];
    const colTensors = channelCols.map((c) => tensor(Int32Array.from(c)));
    const masks = channelCols.map((c) => tensor(new Float32Array(c.length).fill(1), [1, c.length]));
    return {
      inputShape: (b) => [b, din],
      targetShape: (b) => [b, dout],
      fill,
      loss: (m, x, y) => {
        const all = (m as unknown as DualChannel).forwardAll(x);
        const { total } = hardJointLoss({ pred: all.basic, target: y }, {
          channels: all.refined.map((pred, c) => ({
            pred,
            target: ops.gather(y, colTensors[c], { axis: 1 }),
            mask: masks[c],
          })),
        });
        return total;
      },
    };
  }
  const rf = receptiveField(model);
  const pad = (rf - 1) >> 1;
  return {
    inputShape: (b) => [b, rf, 17, 2],
    targetShape: (b) => [b, 1, 17, 3],
    fill: (set, idx, x, y, flip) => {
      for (let i = 0; i < idx.length; i++) {
        const s = idx[i];
        for (let t = 0; t < rf; t++) {
          // Edge frames repeat (VideoPose3D pads each sequence with its first/last frame).
          const f = Math.min(Math.max(s - pad + t, set.clipStart[s]), set.clipEnd[s] - 1);
          x.set(set.x.subarray(f * 34, f * 34 + 34), (i * rf + t) * 34);
          if (flip?.[i]) mirrorPoses(x.subarray((i * rf + t) * 34, (i * rf + t) * 34 + 34), { dims: 2 });
        }
        y.set(set.y.subarray(s * 51, s * 51 + 51), i * 51);
        if (flip?.[i]) mirrorPoses(y.subarray(i * 51, i * 51 + 51), { dims: 3 });
      }
    },
    loss: (m, x, y) => {
      const pred = forwardWindows(m, x);
      // SRNet: L1, the mean absolute coordinate error in metres (root included: its target is 0).
      if (lossKind === "l1") return l1Loss(pred, y);
      // VideoPose3D: MPJPE, the mean over joints of the Euclidean error, in metres.
      const d = ops.square(ops.sub(pred, y));
      const norm = ops.sqrt(ops.affine(ops.sum(d, { axis: 3 }), { shift: 1e-12 }));
      return ops.mean(norm);
    },
  };
}

/** The samples of step `step` to mirror (a pure function of seed and step, so resumed runs agree). */
function flipMask(seed: number, step: number, n: number, out: Uint8Array): Uint8Array {
  const rng = new Rng(stepSeed(seed, step) + 0x5eed);
  for (let i = 0; i < n; i++) out[i] = rng.uniform() < 0.5 ? 1 : 0;
  return out;
}

function encode(name: string, config: Record<string, unknown>, norm: Normalization, set: PoseSet): Encoded {
  const clipStart = new Int32Array(set.count), clipEnd = new Int32Array(set.count);
  for (const c of set.clips) {
    clipStart.fill(c.start, c.start, c.start + c.frames);
    clipEnd.fill(c.start + c.frames, c.start, c.start + c.frames);
  }
  return {
    set,
    x: encodeInput(name, {
      config,
      normalization: norm,
      input2d: set.input2d,
      image: { width: set.width, height: set.height },
    }),
    y: encodeTarget(name, { config, normalization: norm, target3d: set.target3d }),
    clipStart,
    clipEnd,
  };
}

/**
 * Validation MPJPE (mm, 17 joints, root-relative) of `model` in eval mode over every `stride`-th
 * sample, in batches of `batch`. Leaves the model in eval mode.
 */
async function validate(
  name: string,
  model: LiftingModel,
  options: { task: Task; set: Encoded; norm: Normalization; stride: number; batch: number },
): Promise<number> {
  model.eval();
  const { task, set, stride, batch } = options;
  const idx: number[] = [];
  for (let i = 0; i < set.set.count; i += stride) idx.push(i);
  let sum = 0;
  for (let at = 0; at < idx.length; at += batch) {
    const b = Math.min(batch, idx.length - at);
    const part = idx.slice(at, at + b);
    const xs = new Float32Array(task.inputShape(b).reduce((p, d) => p * d, 1));
    const ys = new Float32Array(task.targetShape(b).reduce((p, d) => p * d, 1));
    task.fill(set, part, xs, ys);
    const x = tensor(xs, task.inputShape(b));
    // tidy: the forward's intermediates are freed at once (they used to outlive every validation).
    const out = tidy(() => model.forward(x));
    let host: Float32Array;
    try {
      host = await out.read();
    } finally {
      out.dispose();
      x.dispose();
    }
    const pred = decodeOutput(name, { config: model.config, normalization: options.norm, output: host });
    const target = new Float32Array(b * 51);
    part.forEach((s, i) => target.set(set.set.target3d.subarray(s * 51, s * 51 + 51), i * 51));
    sum += meanMpjpe(pred, target) * b;
  }
  return sum / idx.length;
}

/** Trains a lifting model; see the module documentation. */
export async function trainLifter(options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? stderr;
  const recipe = trainingRecipe(options.model);
  const batch = options.batch ?? recipe.batch;
  const epochs = options.epochs ?? recipe.epochs;
  const seed = options.seed ?? 0;
  const logEvery = options.logEvery ?? 100;
  const submitEvery = Math.max(1, options.submitEvery ?? 4);
  for (const [k, v] of [["batch", batch], ["epochs", epochs], ["logEvery", logEvery]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new InputError(`train: ${k} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new InputError(`train: seed must be a non-negative integer`);
  }
  if (options.resume && options.init) throw new InputError(`train: give --resume or --init, not both`);
  const augment = options.augment ?? recipe.augment;
  const optimizer = options.optimizer ?? recipe.optimizer;
  const bnMomentum = options.bnMomentum ?? recipe.bnMomentum;
  if (optimizer !== "adam" && optimizer !== "amsgrad") {
    throw new InputError(`train: optimizer must be adam or amsgrad, got ${optimizer}`);
  }
  if (bnMomentum !== "fixed" && bnMomentum !== "decay") {
    throw new InputError(`train: bnMomentum must be fixed or decay, got ${bnMomentum}`);
  }
  if (options.loss !== undefined) {
    if (usesZScore(options.model)) {
      throw new InputError(
        `train: --loss is for the screen-normalised models (srnet, srnet_fc, videopose); ${options.model} trains with ${recipe.loss}`,
      );
    }
    if (options.loss !== "l1" && options.loss !== "mpjpe") {
      throw new InputError(`train: loss must be l1 or mpjpe, got ${options.loss}`);
    }
  }
  const lossKind = options.loss ?? (recipe.loss === "mpjpe" ? "mpjpe" : "l1");
  if (augment !== "none" && augment !== "flip") {
    throw new InputError(`train: augment must be none or flip, got ${augment}`);
  }
  if (augment === "flip" && usesZScore(options.model)) {
    throw new InputError(
      `train: flip augmentation is for the screen-normalised models (srnet, srnet_fc, videopose), not ${options.model}`,
    );
  }
  if (options.best && options.best === options.out) {
    throw new InputError(`train: --best must name another file than --out (${options.out})`);
  }
  const flag = options.resume ? "--resume" : "--init";
  const from = options.resume ?? options.init;
  const start = from ? await loadCheckpoint(from) : null;
  // dual_channel's basic network is exactly a Martinez (`basic.*`): --init may name a Martinez checkpoint to
  // start it from; the refinement channels keep their fresh initialisation and the run trains end to end.
  const basicInit = !!options.init && options.model === "dual_channel" && start?.meta.model === "martinez";
  if (start) {
    if (start.meta.model !== options.model && !basicInit) {
      throw new InputError(`train ${flag}: ${from} holds a ${start.meta.model}, not a ${options.model}`);
    }
    if (start.meta.input !== options.input) {
      throw new InputError(`train ${flag}: ${from} was trained on --input ${start.meta.input}`);
    }
    if (options.resume && !start.optimizer) {
      throw new InputError(
        `train --resume: ${from} has no optimiser state (an export?); --init starts from its weights`,
      );
    }
    if (options.resume && !!start.optimizer?.vMax !== (optimizer === "amsgrad")) {
      throw new InputError(
        `train --resume: ${from} was trained with --optimizer ${
          start.optimizer?.vMax ? "amsgrad" : "adam"
        }, ` +
          `this run uses ${optimizer}`,
      );
    }
  }
  // Only a resumed run continues the step count, the optimiser and the provenance.
  const resumed = options.resume ? start : null;

  const t0 = performance.now();
  const trainSet = options.trainSet ??
    await loadH36mPoses(options.data, { subjects: options.trainSubjects, input: options.input });
  const valSubjects = options.valSubjects ?? [];
  const valSet = options.valSet ??
    (valSubjects.length
      ? await loadH36mPoses(options.data, { subjects: valSubjects, input: options.input })
      : null);
  if (trainSet.count < batch) {
    throw new InputError(`train: ${trainSet.count} training samples is fewer than one batch of ${batch}`);
  }

  manualSeed(seed);
  const config = basicInit
    ? dualFromMartinez(start!.meta.config, options.config ?? {}, from!)
    : start?.meta.config ??
      { ...options.config };
  const model = createModel(options.model, config);
  const norm = start?.meta.normalization ?? computeNormalization(options.model, {
    config: model.config,
    input2d: trainSet.input2d,
    target3d: trainSet.target3d,
    image: commonImageSize(trainSet),
  });
  if (basicInit) {
    const { jointsIn, jointsOut } = networkJoints(options.model, model.config);
    const mj = networkJoints("martinez", start!.meta.config);
    if (jointsIn.join() !== mj.jointsIn.join() || jointsOut.join() !== mj.jointsOut.join()) {
      throw new InputError(
        `train --init: ${from} lifts joints [${mj.jointsIn}] → [${mj.jointsOut}], the dual_channel config ` +
          `[${jointsIn}] → [${jointsOut}]`,
      );
    }
    const basic: StateDict = new Map([...start!.stateDict].map(([k, v]) => [`basic.${k}`, v]));
    const r = await model.loadStateDict(basic, { strict: false });
    const stray = [...r.unexpected, ...r.missing.filter((k) => k.startsWith("basic."))];
    if (stray.length) throw new InputError(`train --init: ${from} does not fit basic.*: ${stray.join(", ")}`);
  } else if (start) await model.loadStateDict(start.stateDict);
  const named = model.namedParameters();
  const lr = options.lr ?? recipe.lr;
  const opt = new Adam(named.map(([, p]) => p), { lr, amsgrad: optimizer === "amsgrad" });
  if (resumed?.optimizer) {
    const o = resumed.optimizer;
    opt.loadState({
      step: o.step,
      m: named.map(([n]) => o.m.get(n) ?? null),
      v: named.map(([n]) => o.v.get(n) ?? null),
      vMax: named.map(([n]) => o.vMax?.get(n) ?? null),
    });
  }
  const task = makeTask(options.model, model, lossKind);
  const train = encode(options.model, model.config, norm, trainSet);
  const val = valSet ? encode(options.model, model.config, norm, valSet) : null;
  const stepsPerEpoch = Math.floor(trainSet.count / batch);
  const decaySteps = options.decaySteps ?? recipe.decaySteps;
  const decayRate = options.decayRate ?? recipe.decayRate;
  const schedule = exponentialDecay({
    lr,
    decaySteps: decaySteps === "epoch" ? stepsPerEpoch : decaySteps,
    decayRate,
  });
  const batchNorms = model.modules().filter((m): m is BatchNorm => m instanceof BatchNorm);
  const totalSteps = Math.min(epochs * stepsPerEpoch, options.maxSteps ?? Infinity);
  let step = resumed?.meta.step ?? 0;
  const maxNorm = model instanceof Martinez && model.config.max_norm;
  log(
    `train ${options.model}: ${trainSet.count} samples (${
      options.trainSubjects.join(",")
    }, input ${options.input}), ` +
      `${val ? `${val.set.count} validation samples (${valSubjects.join(",")})` : "no validation"}, ` +
      `${model.numParameters()} parameters, batch ${batch}, ${stepsPerEpoch} steps/epoch, ` +
      `${augment === "flip" ? "flip augmentation, " : ""}` +
      `loss ${
        usesZScore(options.model) ? recipe.loss : lossKind
      }, ${optimizer} lr ${lr} ×${decayRate} every ${
        decaySteps === "epoch" ? "epoch" : `${decaySteps} steps`
      }, BatchNorm momentum ${bnMomentum === "decay" ? "0.1 → 0.001" : "fixed"}, ${epochs} epochs, ` +
      `${
        resumed ? `resuming at step ${step}, ` : options.init ? `from the weights of ${options.init}, ` : ""
      }data ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const xs = new Float32Array(task.inputShape(batch).reduce((p, d) => p * d, 1));
  const ys = new Float32Array(task.targetShape(batch).reduce((p, d) => p * d, 1));
  const flips = new Uint8Array(batch);
  const lossLog = new LossLog({ every: logEvery });
  const losses: number[] = [];
  const history: EpochRecord[] = [];
  let perm: Int32Array | null = null, permEpoch = -1;
  let epochLossSum = 0, epochLossN = 0, epochSeconds = 0, epochSteps = 0;
  let windowStart = performance.now(), windowSteps = 0;
  let lastVal: number | null = resumed?.meta.valMpjpe ?? null;
  let rate = 0;

  const meta = (epoch: number, valMpjpe: number | null): CheckpointMeta => {
    const { jointsIn, jointsOut } = usesZScore(options.model)
      ? networkJoints(options.model, model.config)
      : { jointsIn: [...H36M_17.joints.keys()], jointsOut: [...H36M_17.joints.keys()] };
    return {
      model: options.model,
      config: model.config,
      input: options.input,
      normalization: norm,
      jointsIn: jointsIn.map((j) => H36M_17.joints[j]),
      jointsOut: jointsOut.map((j) => H36M_17.joints[j]),
      units: "mm",
      data: resumed?.meta.data ?? basename(options.data.replace(/\/+$/, "")),
      trainSubjects: [...options.trainSubjects],
      valSubjects: [...valSubjects],
      epoch,
      step,
      valMpjpe,
      seed,
    };
  };

  // --best: a resumed run competes with the best file it finds (validation errors are comparable only for
  // the same validation set, which a resumed run keeps).
  let bestVal = options.best ? await previousBest(options.best) : Infinity;
  const checkpoint = async (epoch: number, valMpjpe: number | null): Promise<void> => {
    const sd = await model.stateDict();
    const st = opt.state();
    // The moments to save (AMSGrad adds the maxima), of the parameters that have all of them.
    const kinds = opt.amsgrad ? [st.m, st.v, st.vMax] : [st.m, st.v];
    const live = named.map((_, i) => i).filter((i) => kinds.every((k) => k[i]));
    const values = await readAll(live.flatMap((i) => kinds.map((k) => k[i]!)));
    const [m, v, vMax] = kinds.map((_, j) =>
      new Map(live.map((i, at) => [named[i][0], values[at * kinds.length + j]]))
    );
    const record = { meta: meta(epoch, valMpjpe), stateDict: sd };
    const optimizerState = vMax ? { step: st.step, m, v, vMax } : { step: st.step, m, v };
    await saveCheckpoint(options.out, record, { optimizer: optimizerState });
    if (options.best && valMpjpe !== null && valMpjpe < bestVal) {
      bestVal = valMpjpe;
      await saveCheckpoint(options.best, record, { optimizer: optimizerState });
    }
  };

  const drain = async (): Promise<void> => {
    if (lossLog.count === 0) return;
    const read = Array.from(await lossLog.read());
    losses.push(...read);
    for (const l of read) {
      epochLossSum += l;
      epochLossN++;
    }
    const now = performance.now();
    const secs = (now - windowStart) / 1000;
    epochSeconds += secs;
    rate = (windowSteps * batch) / secs;
    const epoch = Math.floor((step - 1) / stepsPerEpoch);
    const inEpoch = step - epoch * stepsPerEpoch;
    const leftEpoch = (stepsPerEpoch - inEpoch) * batch / rate;
    const leftRun = (totalSteps - step) * batch / rate;
    log(
      `epoch ${epoch + 1}/${epochs} step ${inEpoch}/${stepsPerEpoch} (total ${step}) ` +
        `${rate.toFixed(0)} poses/s loss ${read[read.length - 1].toFixed(5)} (mean ${
          (read.reduce((a, b) => a + b, 0) / read.length).toFixed(5)
        }) lr ${opt.lr.toExponential(2)} ETA epoch ${duration(leftEpoch)} run ${duration(leftRun)}`,
    );
    windowStart = performance.now();
    windowSteps = 0;
  };

  try {
    model.train();
    while (step < totalSteps) {
      const epoch = Math.floor(step / stepsPerEpoch);
      const within = step % stepsPerEpoch;
      if (permEpoch !== epoch) {
        // The shuffle of each epoch depends on (seed, epoch) only, so a resumed run sees the same order.
        perm = new Rng(seed * 100_003 + epoch + 1).permutation(trainSet.count);
        permEpoch = epoch;
        // A function of the epoch only, so a resumed run sets the same momentum.
        if (bnMomentum === "decay") {
          for (const bn of batchNorms) bn.momentum = bnMomentumAt(epoch, epochs);
        }
      }
      task.fill(
        train,
        perm!.subarray(within * batch, within * batch + batch),
        xs,
        ys,
        augment === "flip" ? flipMask(seed, step, batch, flips) : undefined,
      );
      const x = tensor(xs, task.inputShape(batch)), y = tensor(ys, task.targetShape(batch));
      try {
        manualSeed(stepSeed(seed, step));
        opt.lr = schedule(step);
        const loss = trainStep(opt, () => task.loss(model, x, y));
        if (maxNorm) (model as Martinez).applyMaxNorm();
        lossLog.push(loss);
        loss.dispose();
      } finally {
        x.dispose(); // also when the step throws (a device fault)
        y.dispose();
      }
      step++;
      windowSteps++;
      epochSteps++;
      if (step % submitEvery === 0) backend().flush();
      if (lossLog.full) await drain();
      const epochDone = step % stepsPerEpoch === 0;
      const periodic = options.checkpointEvery !== undefined && step % options.checkpointEvery === 0;
      if (epochDone || step === totalSteps || periodic) {
        await drain();
        await backend().sync();
        const completed = Math.floor(step / stepsPerEpoch);
        const tv = performance.now();
        const valMpjpe = val
          ? await validate(options.model, model, {
            task,
            set: val,
            norm,
            stride: options.valStride ?? 1,
            batch: 1024,
          })
          : null;
        model.train();
        lastVal = valMpjpe ?? lastVal;
        const record: EpochRecord = {
          epoch: completed,
          step,
          trainLoss: epochLossN ? epochLossSum / epochLossN : NaN,
          valMpjpe,
          seconds: epochSeconds,
          posesPerSecond: epochSeconds > 0 ? (epochSteps * batch) / epochSeconds : 0,
        };
        history.push(record);
        await checkpoint(completed, valMpjpe);
        log(
          `${epochDone ? "epoch" : step === totalSteps ? "stopped in epoch" : "checkpoint in epoch"} ${
            epochDone ? completed : completed + 1
          } ` +
            `(step ${step}): train loss ${record.trainLoss.toFixed(5)}` +
            `${valMpjpe !== null ? `, validation MPJPE ${valMpjpe.toFixed(2)} mm` : ""} ` +
            `(${duration(record.seconds)} training at ${record.posesPerSecond.toFixed(0)} poses/s, ` +
            `validation ${duration((performance.now() - tv) / 1000)}); checkpoint ${options.out}`,
        );
        epochLossSum =
          epochLossN =
          epochSeconds =
          epochSteps =
            0;
        await options.onEpoch?.(record);
        windowStart = performance.now();
        windowSteps = 0;
      }
    }
    if (history.length === 0) {
      // Nothing left to train (e.g. resuming a finished run): still write the requested checkpoint.
      await checkpoint(Math.floor(step / stepsPerEpoch), lastVal);
    }
  } finally {
    // Also after a fault (a lost device, a full disk): the model and optimiser state go back to the pool.
    lossLog.dispose();
    opt.dispose();
    model.dispose();
  }
  return {
    epochs: Math.floor(step / stepsPerEpoch),
    step,
    history,
    losses,
    valMpjpe: lastVal,
    out: options.out,
  };
}

/**
 * A dual_channel config whose basic network matches a Martinez checkpoint's (`--init` from a Martinez):
 * width, blocks and dropout come from the checkpoint; the refinement keys from `--config`.
 */
function dualFromMartinez(
  martinez: Record<string, unknown>,
  given: Record<string, unknown>,
  file: string,
): Record<string, unknown> {
  if (martinez.residual === false || martinez.batch_norm === false) {
    throw new InputError(
      `train --init: ${file} is a Martinez without residual blocks or batch norm; dual_channel's basic network has both`,
    );
  }
  const config: Record<string, unknown> = { ...given };
  for (const k of ["linear_size", "num_stage", "p_dropout"]) {
    if (k in given && String(given[k]) !== String(martinez[k])) {
      throw new InputError(`train --init: --config ${k}=${given[k]} differs from ${file}'s ${martinez[k]}`);
    }
    config[k] = martinez[k];
  }
  return config;
}

/** The validation MPJPE recorded in an existing `--best` file, or Infinity when there is none. */
async function previousBest(path: string): Promise<number> {
  try {
    await Deno.stat(path);
  } catch {
    return Infinity;
  }
  const v = (await loadCheckpoint(path)).meta.valMpjpe;
  return typeof v === "number" ? v : Infinity;
}
