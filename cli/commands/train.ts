/**
 * `posegpu train MODEL`: trains a lifting model on a Human3.6M folder in the shared format and writes
 * a posegpu checkpoint after every epoch (logic in `models/training/trainer.ts`).
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { initEngine, InputError } from "../../engine/mod.ts";
import { exportCheckpoint } from "../../models/checkpoint.ts";
import { parseConfigPairs } from "../../models/config.ts";
import { MODEL_NAMES } from "../../models/registry.ts";
import { trainLifter } from "../../models/training/trainer.ts";

const HELP = `posegpu train — train a lifting model on Human3.6M-format data

Usage:
  posegpu train MODEL --data DIR --train-subjects S1,S5,S6 [--val-subjects S7] --input gt|sh
                      --out CKPT.safetensors [--epochs N] [--batch N] [--lr 1e-3] [--config k=v ...]
                      [--resume CKPT | --init WEIGHTS] [--seed N] [--max-steps N] [--log-every N]
  posegpu train --export CKPT --out WEIGHTS.safetensors [--dtype f16|f32]

Trains MODEL (${MODEL_NAMES.join(", ")}) on every frame × camera of the training subjects: 2D input =
ground truth projected through the cameras (gt) or the Stacked Hourglass detections (sh; Neck/Nose
filled as the Thorax–Head midpoint for 17-joint models), target = root-relative camera-frame 3D.
Martinez / dual_channel use z-score statistics of the training set; srnet / videopose screen
normalisation with 3D in metres. Each family trains with its reference recipe unless told otherwise:
  martinez, dual_channel: batch 64, 200 epochs, Adam, lr ×0.96 every 100k steps, MSE (dual_channel:
    its hard-joint L1 losses), dropout 0.5 (--config max_norm=true adds the max-norm projection
    after every step; off by default, it trains worse here: see models/training/trainer.ts);
  srnet, srnet_fc, videopose (their run.py): batch 1024, 60 epochs, Adam with AMSGrad, lr ×0.95
    after every epoch, BatchNorm momentum 0.1 → 0.001 over the run, flip augmentation, loss L1
    (srnet, srnet_fc) or MPJPE (videopose) in metres.
Samples are reshuffled every epoch.
After every epoch: validation MPJPE (Protocol #1, 17 joints, mm) and an atomic checkpoint (weights,
normalisation, provenance and the optimiser state for --resume). Progress goes to stderr.

Options:
  --data DIR              Human3.6M folder (S<n>.safetensors + cameras.json)
  --train-subjects LIST   comma-separated subjects to train on
  --val-subjects LIST     comma-separated subjects to validate on each epoch (default none)
  --input gt|sh           2D input: projected ground truth or SH detections (default gt)
  --epochs N              total epochs (default 200 or 60, the recipe's; a resumed run continues up to N)
  --batch N               batch size (default the recipe's: 64 or 1024; videopose-243 at 1024 took
                          12.6 GB of host memory on a software adapter, at 64 2.3 GB)
  --lr X                  initial learning rate (default 1e-3)
  --decay-steps N|epoch   steps between learning-rate decays (default 100000, or epoch)
  --decay-rate X          factor of each decay (default 0.96, or 0.95)
  --loss l1|mpjpe         loss of srnet, srnet_fc, videopose (default l1 for srnet*, mpjpe for videopose)
  --optimizer adam|amsgrad   (default adam for martinez, dual_channel; amsgrad for the others)
  --bn-momentum fixed|decay  BatchNorm momentum 0.1, or 0.1 → 0.001 over the epochs (default fixed
                          for martinez, dual_channel; decay for the others)
  --config key=value      model configuration (repeatable; see posegpu run --help for the keys)
  --out FILE              checkpoint to write (every epoch, atomically)
  --resume FILE           continue from a checkpoint (model, config, normalisation, optimiser, step)
  --init FILE             start from a checkpoint's or export's weights, config and normalisation with
                          a fresh optimiser at step 0 (fine-tuning; continuing shipped weights); for
                          dual_channel a Martinez checkpoint starts its basic network (basic.*)
  --best FILE             also keep the checkpoint of lowest validation MPJPE so far in FILE (--out
                          always holds the latest)
  --augment none|flip     training augmentation: flip mirrors half the samples (2D and 3D x negated,
                          left/right swapped), as VideoPose3D / SRNet train (default flip for srnet,
                          srnet_fc, videopose; none for martinez, dual_channel)
  --seed N                seed of initialisation, shuffling and dropout (default 0)
  --max-steps N           stop after N optimiser steps in total
  --log-every N           read the loss and print progress every N steps (default 100)
  --val-stride K          validate on every K-th validation sample (default 1)
  --checkpoint-every N    also validate and checkpoint every N steps (default: each epoch only)
  --export CKPT           write CKPT without its optimiser state to --out (shipping; no training)
  --dtype f16|f32         stored float type of --export (default f16)
  -h, --help              this help

Examples:
  posegpu train martinez --data ../shared/data/h36m --train-subjects S1,S5,S6,S7 --val-subjects S8 \\
      --input gt --epochs 10 --out martinez_gt.safetensors
  posegpu train martinez --data ../shared/data/h36m --train-subjects S1,S5,S6,S7,S8 --input sh \\
      --epochs 200 --out martinez_sh.safetensors --resume martinez_sh.safetensors
  posegpu train srnet --data ../shared/data/h36m --train-subjects S1,S5,S6,S7 --val-subjects S8 \\
      --input gt --config filter_widths=1,1,1 --out srnet_sr.safetensors
  posegpu train martinez --data ../shared/data/h36m --train-subjects S1,S5,S6,S7,S8 --input gt \
      --epochs 5 --seed 1 --init weights/martinez_gt.safetensors --out martinez_gt_more.safetensors`;

function subjects(flag: string, text: string | undefined): string[] {
  if (text === undefined) return [];
  const list = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of list) {
    if (!/^S\d+$/.test(s)) throw new InputError(`train: ${flag} "${s}" is not a subject name like S1`);
  }
  return list;
}

function integer(flag: string, text: string | undefined, fallback?: number): number | undefined {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InputError(`train: ${flag} must be a non-negative integer, got "${text}"`);
  }
  return v;
}

async function runTrain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      "train-subjects": { type: "string" },
      "val-subjects": { type: "string" },
      input: { type: "string", default: "gt" },
      epochs: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      "decay-steps": { type: "string" },
      "decay-rate": { type: "string" },
      loss: { type: "string" },
      optimizer: { type: "string" },
      "bn-momentum": { type: "string" },
      config: { type: "string", multiple: true },
      out: { type: "string" },
      resume: { type: "string" },
      init: { type: "string" },
      best: { type: "string" },
      seed: { type: "string" },
      augment: { type: "string" },
      "max-steps": { type: "string" },
      "log-every": { type: "string" },
      "val-stride": { type: "string" },
      "checkpoint-every": { type: "string" },
      export: { type: "string" },
      dtype: { type: "string", default: "f16" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.export !== undefined) {
    if (!values.out) throw new InputError("train --export: --out FILE is required");
    const dtype = values.dtype?.toUpperCase();
    if (dtype !== "F16" && dtype !== "F32") {
      throw new InputError(`train --export: --dtype must be f16 or f32`);
    }
    const meta = await exportCheckpoint(values.export, values.out, { dtype });
    console.error(
      `train --export: wrote ${values.out} (${meta.model}, input ${meta.input}, epoch ${meta.epoch}, step ${meta.step}, ${dtype})`,
    );
    return 0;
  }
  // `--config a=1 b=2`: parseArgs leaves the values after the first as positionals.
  const [model, ...extra] = positionals;
  const stray = extra.filter((p) => !p.includes("="));
  if (!model) {
    throw new InputError(`train: which model? (models: ${MODEL_NAMES.join(", ")}; see posegpu train --help)`);
  }
  if (!MODEL_NAMES.includes(model)) {
    throw new InputError(`train: unknown model "${model}" (models: ${MODEL_NAMES.join(", ")})`);
  }
  if (stray.length) throw new InputError(`train: unexpected argument(s) ${stray.join(" ")}`);
  if (!values.data) throw new InputError("train: --data DIR is required");
  if (!values.out) throw new InputError("train: --out FILE is required");
  const trainSubjects = subjects("--train-subjects", values["train-subjects"]);
  if (!trainSubjects.length) {
    throw new InputError("train: --train-subjects is required (e.g. S1,S5,S6,S7,S8)");
  }
  const input = values.input;
  if (input !== "gt" && input !== "sh") {
    throw new InputError(`train: --input must be gt or sh, got "${input}"`);
  }
  const lr = positive("--lr", values.lr);
  const decayRate = positive("--decay-rate", values["decay-rate"]);
  const pairs = [...(values.config ?? []), ...extra.filter((p) => p.includes("="))];
  await initEngine();
  const result = await trainLifter({
    model,
    config: parseConfigPairs(pairs),
    data: values.data,
    trainSubjects,
    valSubjects: subjects("--val-subjects", values["val-subjects"]),
    input,
    epochs: integer("--epochs", values.epochs),
    batch: integer("--batch", values.batch),
    lr,
    decaySteps: values["decay-steps"] === "epoch" ? "epoch" : integer("--decay-steps", values["decay-steps"]),
    decayRate,
    loss: choice("--loss", values.loss, ["l1", "mpjpe"] as const),
    optimizer: choice("--optimizer", values.optimizer, ["adam", "amsgrad"] as const),
    bnMomentum: choice("--bn-momentum", values["bn-momentum"], ["fixed", "decay"] as const),
    out: values.out,
    resume: values.resume,
    init: values.init,
    best: values.best,
    seed: integer("--seed", values.seed, 0),
    augment: choice("--augment", values.augment, ["none", "flip"] as const),
    maxSteps: integer("--max-steps", values["max-steps"]),
    logEvery: integer("--log-every", values["log-every"], 100),
    valStride: integer("--val-stride", values["val-stride"], 1),
    checkpointEvery: integer("--checkpoint-every", values["checkpoint-every"]) || undefined,
  });
  console.error(
    `train: done — ${result.epochs} epochs, ${result.step} steps` +
      `${
        result.valMpjpe !== null ? `, validation MPJPE ${result.valMpjpe.toFixed(2)} mm` : ""
      }; wrote ${result.out}`,
  );
  return 0;
}

function choice<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined || (allowed as readonly string[]).includes(v)) return v as T | undefined;
  throw new InputError(`train: ${flag} must be ${allowed.join(" or ")}, got "${v}"`);
}

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v > 0 && Number.isFinite(v))) {
    throw new InputError(`train: ${flag} must be a positive number, got "${text}"`);
  }
  return v;
}

/** `posegpu train`. */
export const command: Command = {
  name: "train",
  summary: "Train a lifting model on Human3.6M-format data (checkpoints, resume)",
  help: HELP,
  run: runTrain,
};
