/**
 * posegpu checkpoints: one safetensors file holding a model's state dict (PyTorch key names, so the
 * weights load into the reference implementations unchanged) plus everything needed to use or resume
 * it, in `__metadata__` (all values are strings, as safetensors requires):
 *
 * | key | value |
 * |---|---|
 * | `format` | `"posegpu-checkpoint/1"` |
 * | `model` | registry name (`martinez`, `srnet`, …) |
 * | `config` | JSON of the resolved model configuration |
 * | `input` | `"gt"` (projected ground truth 2D) or `"sh"` (Stacked Hourglass detections) |
 * | `normalization` | JSON `Normalization`: z-score stats (Martinez, dual-channel) or screen normalisation |
 * | `joints_in` / `joints_out` | comma-separated joint names of the network's input / output rows |
 * | `units` | `"mm"` (of the lifted 3D after denormalisation) |
 * | `data`, `train_subjects`, `val_subjects` | provenance (`S1,S5,…`) |
 * | `epoch`, `step`, `val_mpjpe`, `seed` | training progress (`val_mpjpe` in mm, `""` when not measured) |
 *
 * Optimiser state for `--resume` is stored as extra tensors `optim.m.<param>` / `optim.v.<param>`
 * (Adam moments) with the optimiser's step in the metadata key `optim_step`; a shipped (inference)
 * checkpoint simply omits them.
 * @module
 */

import { InputError } from "../engine/errors.ts";
import {
  type HostTensor,
  parseSafetensors,
  readSafetensors,
  type SafetensorsFile,
  type TensorToWrite,
  writeSafetensors,
} from "../engine/safetensors.ts";
import type { StateDict } from "../layers/module.ts";
import { H36M_17 } from "../pose/skeletons.ts";
import { MODELS } from "./registry.ts";

/** The `format` value this module writes and reads. */
export const CHECKPOINT_FORMAT = "posegpu-checkpoint/1";

/** Per-dimension z-score statistics (`(x − mean) / std`). */
export interface ZScoreStats {
  /** Mean per dimension. */
  mean: number[];
  /** Standard deviation per dimension (> 0). */
  std: number[];
}

/**
 * Where the training set's 2D poses sit on the image, used by `normalizeInput: "auto"` to map foreign
 * poses into the training distribution: the mean root (Hip) position in pixels and the mean 2D scale
 * (root-mean-square distance of the joints from their centroid, pixels).
 */
export interface Input2dStats {
  /** Mean root position [x, y] in pixels. */
  root: [number, number];
  /** Mean RMS joint distance from the pose centroid, pixels. */
  scale: number;
  /** Image size the statistics refer to (the training cameras'). */
  image: { width: number; height: number };
  /** Mean 2D pose, H36M-17 × (x, y) pixels (fills missing joints; derived from z-score stats when absent). */
  meanPose?: number[];
}

/** How a checkpoint's network input and output are normalised. */
export type Normalization =
  | {
    /** Martinez / dual-channel: z-score of 2D pixels and of root-relative 3D mm. */
    kind: "zscore";
    /** Stats of the input dims (joints_in × (x, y)). */
    input: ZScoreStats;
    /** Stats of the output dims (joints_out × (x, y, z)). */
    output: ZScoreStats;
    /** Training-set 2D statistics. */
    input2d: Input2dStats;
  }
  | {
    /** SRNet / VideoPose3D: `X / w · 2 − [1, h/w]` on 2D; 3D root-relative in metres. */
    kind: "screen";
    /** Multiply the network output by this to get mm (1000: metres). */
    outputScale: number;
    /** Training-set 2D statistics (its `image` is the default screen size). */
    input2d: Input2dStats;
  };

/** Everything a checkpoint's metadata says, parsed. */
export interface CheckpointMeta {
  /** Registry name of the model. */
  model: string;
  /** Resolved configuration. */
  config: Record<string, unknown>;
  /** 2D input kind the model was trained on. */
  input: "gt" | "sh";
  /** Input/output normalisation. */
  normalization: Normalization;
  /** Names of the input joints (network row order). */
  jointsIn: string[];
  /** Names of the output joints (network row order). */
  jointsOut: string[];
  /** Units of the lifted 3D ("mm"). */
  units: "mm";
  /** Dataset description (e.g. a folder name). */
  data: string;
  /** Training subjects. */
  trainSubjects: string[];
  /** Validation subjects (may be empty). */
  valSubjects: string[];
  /** Completed epochs. */
  epoch: number;
  /** Optimiser steps taken. */
  step: number;
  /** Validation MPJPE in mm at this point, or null when not measured. */
  valMpjpe: number | null;
  /** Seed of the run. */
  seed: number;
  /** Any other metadata keys (kept through load and save). */
  extra?: Record<string, string>;
}

/** Optimiser state saved for `--resume`. */
export interface OptimizerState {
  /** Steps the optimiser has taken (Adam bias correction). */
  step: number;
  /** First moments by parameter name. */
  m: Map<string, Float32Array>;
  /** Second moments by parameter name. */
  v: Map<string, Float32Array>;
  /** AMSGrad's running maxima of the second moments by parameter name (absent for plain Adam). */
  vMax?: Map<string, Float32Array>;
}

/** A loaded checkpoint. */
export interface Checkpoint {
  /** Parsed metadata. */
  meta: CheckpointMeta;
  /** The model's state dict (no `optim.` tensors). */
  stateDict: StateDict;
  /** Optimiser state when the file has one. */
  optimizer: OptimizerState | null;
}

/** Options of `saveCheckpoint`. */
export interface SaveCheckpointOptions {
  /** Optimiser state to include (training checkpoints). */
  optimizer?: OptimizerState;
  /** Stored dtype of the model's float tensors: F32 (default, exact resume) or F16 (shipping). */
  dtype?: "F32" | "F16";
}

const REQUIRED = [
  "format",
  "model",
  "config",
  "input",
  "normalization",
  "joints_in",
  "joints_out",
  "units",
] as const;

const KNOWN = new Set<string>([
  ...REQUIRED,
  "data",
  "train_subjects",
  "val_subjects",
  "epoch",
  "step",
  "val_mpjpe",
  "seed",
  "optim_step",
]);

/** Serialises the metadata to safetensors `__metadata__` strings. */
export function checkpointMetadata(meta: CheckpointMeta): Record<string, string> {
  return {
    ...(meta.extra ?? {}),
    format: CHECKPOINT_FORMAT,
    model: meta.model,
    config: JSON.stringify(meta.config),
    input: meta.input,
    normalization: JSON.stringify(meta.normalization),
    joints_in: meta.jointsIn.join(","),
    joints_out: meta.jointsOut.join(","),
    units: meta.units,
    data: meta.data,
    train_subjects: meta.trainSubjects.join(","),
    val_subjects: meta.valSubjects.join(","),
    epoch: String(meta.epoch),
    step: String(meta.step),
    val_mpjpe: meta.valMpjpe === null ? "" : String(meta.valMpjpe),
    seed: String(meta.seed),
  };
}

/**
 * Writes a checkpoint atomically (temporary file, then rename): the state dict, optional optimiser
 * moments (always F32) and the metadata. `num_batches_tracked` stays I64 as in PyTorch.
 */
export async function saveCheckpoint(
  path: string,
  checkpoint: { meta: CheckpointMeta; stateDict: StateDict },
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of checkpoint.stateDict) {
    if (name.startsWith("optim.")) {
      throw new InputError(`state dict key "${name}" uses the reserved prefix optim.`);
    }
    if (t.data instanceof Float32Array) {
      tensors[name] = { shape: [...t.shape], data: t.data, dtype: options.dtype ?? "F32" };
    } else {
      tensors[name] = {
        shape: [...t.shape],
        data: Int32Array.from(t.data as ArrayLike<number>),
        dtype: "I64",
      };
    }
  }
  const metadata = checkpointMetadata(checkpoint.meta);
  const opt = options.optimizer;
  if (opt) {
    metadata.optim_step = String(opt.step);
    const kinds = [["m", opt.m], ["v", opt.v], ["vmax", opt.vMax ?? new Map()]] as const;
    for (const [kind, moments] of kinds) {
      for (const [name, data] of moments) {
        const shape = checkpoint.stateDict.get(name)?.shape;
        if (!shape) throw new InputError(`optimiser state for "${name}", which the state dict lacks`);
        tensors[`optim.${kind}.${name}`] = { shape: [...shape], data, dtype: "F32" };
      }
    }
  }
  await writeSafetensors(path, tensors, { metadata });
}

function parseJson(key: string, text: string, problems: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`"${key}" is not valid JSON (${(e as Error).message})`);
    return undefined;
  }
}

function isNumberArray(v: unknown, length?: number): v is number[] {
  return Array.isArray(v) && (length === undefined || v.length === length) &&
    v.every((x) => typeof x === "number" && Number.isFinite(x));
}

function checkStats(v: unknown, what: string, dims: number, problems: string[]): void {
  const s = v as Partial<ZScoreStats> | undefined;
  if (!s || typeof s !== "object") {
    problems.push(`normalization.${what} is missing (z-score stats of ${dims} dims)`);
    return;
  }
  if (!isNumberArray(s.mean, dims)) {
    problems.push(`normalization.${what}.mean must be ${dims} finite numbers`);
  }
  if (!isNumberArray(s.std, dims) || !s.std.every((x) => x > 0)) {
    problems.push(`normalization.${what}.std must be ${dims} positive finite numbers`);
  }
}

function checkInput2d(v: unknown, problems: string[]): void {
  const s = v as Partial<Input2dStats> | undefined;
  const ok = s && typeof s === "object" && isNumberArray(s.root, 2) && typeof s.scale === "number" &&
    s.scale > 0 && s.image && s.image.width > 0 && s.image.height > 0;
  if (!ok) {
    problems.push(`normalization.input2d must be {root:[x,y], scale>0, image:{width,height}}`);
  }
  if (s && s.meanPose !== undefined && !isNumberArray(s.meanPose, 34)) {
    problems.push(`normalization.input2d.meanPose must be 34 finite numbers (17 joints × x, y)`);
  }
}

/** The joint-name lists a model expects, from the model name and configuration. */
export function expectedJoints(model: string, config: Record<string, unknown>): {
  jointsIn: string[];
  jointsOut: string[];
} {
  const names = H36M_17.joints;
  if (model === "dual_channel") {
    const pick = (key: string, fallback: number[]): string[] => {
      const list = Array.isArray(config[key]) ? (config[key] as number[]) : fallback;
      return list.map((i) => names[i] ?? `#${i}`);
    };
    const all = names.map((_, i) => i);
    return {
      jointsIn: pick("joints_in", all.filter((i) => i !== 9)),
      jointsOut: pick("joints_out", all.slice(1)),
    };
  }
  if (model === "martinez") {
    const inN = Number(config.input_size ?? 32) / 2, outN = Number(config.output_size ?? 48) / 3;
    // Martinez: 16 inputs = H36M-17 without Neck/Nose; 16 outputs = without the root (Hip).
    const jointsIn = inN === 16 ? names.filter((_, i) => i !== 9) : [...names];
    const jointsOut = outN === 16 ? names.filter((_, i) => i !== 0) : [...names];
    return { jointsIn, jointsOut };
  }
  return { jointsIn: [...names], jointsOut: [...names] };
}

/**
 * Parses and validates a checkpoint's metadata. Every problem (missing key, wrong format, joint names
 * out of order, missing or malformed normalisation) is collected and reported in one `InputError`
 * naming `file`.
 */
export function parseCheckpointMeta(metadata: Record<string, string>, file: string): CheckpointMeta {
  const problems: string[] = [];
  for (const k of REQUIRED) if (metadata[k] === undefined) problems.push(`missing __metadata__ "${k}"`);
  if (metadata.format !== undefined && metadata.format !== CHECKPOINT_FORMAT) {
    problems.push(`"format" is "${metadata.format}", expected "${CHECKPOINT_FORMAT}"`);
  }
  const model = metadata.model ?? "";
  if (metadata.model !== undefined && !MODELS[model]) {
    problems.push(`"model" is "${model}", not one of ${Object.keys(MODELS).join(", ")}`);
  }
  let config: Record<string, unknown> = {};
  if (metadata.config !== undefined) {
    const c = parseJson("config", metadata.config, problems);
    if (c !== undefined && (typeof c !== "object" || c === null || Array.isArray(c))) {
      problems.push(`"config" must be a JSON object`);
    } else if (c !== undefined) config = c as Record<string, unknown>;
  }
  const input = metadata.input;
  if (input !== undefined && input !== "gt" && input !== "sh") {
    problems.push(`"input" is "${input}", expected "gt" or "sh"`);
  }
  if (metadata.units !== undefined && metadata.units !== "mm") {
    problems.push(`"units" is "${metadata.units}", expected "mm"`);
  }
  const jointsIn = metadata.joints_in ? metadata.joints_in.split(",") : [];
  const jointsOut = metadata.joints_out ? metadata.joints_out.split(",") : [];
  const expected = MODELS[model] ? expectedJoints(model, config) : null;
  if (expected) {
    for (
      const [key, got, want] of [["joints_in", jointsIn, expected.jointsIn], [
        "joints_out",
        jointsOut,
        expected.jointsOut,
      ]] as const
    ) {
      if (metadata[key] === undefined) continue;
      if (got.join(",") !== want.join(",")) {
        const at = want.findIndex((n, i) => got[i] !== n);
        problems.push(
          `"${key}" is "${got.join(",")}", expected "${
            want.join(",")
          }" (first difference at position ${at}: ` +
            `"${got[at] ?? "<none>"}" instead of "${want[at] ?? "<none>"}")`,
        );
      }
    }
  }
  let normalization: Normalization | undefined;
  if (metadata.normalization !== undefined) {
    const n = parseJson("normalization", metadata.normalization, problems) as Normalization | undefined;
    if (n !== undefined) {
      if (!n || typeof n !== "object") problems.push(`"normalization" must be a JSON object`);
      else if (n.kind === "zscore") {
        checkStats(n.input, "input", (expected?.jointsIn.length ?? jointsIn.length) * 2, problems);
        checkStats(n.output, "output", (expected?.jointsOut.length ?? jointsOut.length) * 3, problems);
        checkInput2d(n.input2d, problems);
        normalization = n;
      } else if (n.kind === "screen") {
        if (!(typeof n.outputScale === "number" && n.outputScale > 0)) {
          problems.push(`normalization.outputScale must be a positive number`);
        }
        checkInput2d(n.input2d, problems);
        normalization = n;
      } else {
        problems.push(
          `normalization.kind is ${
            JSON.stringify((n as { kind?: unknown }).kind)
          }, expected "zscore" or "screen"`,
        );
      }
      if (normalization && MODELS[model]) {
        const want = model === "martinez" || model === "dual_channel" ? "zscore" : "screen";
        if (normalization.kind !== want) {
          problems.push(`normalization.kind is "${normalization.kind}" but ${model} uses "${want}"`);
        }
      }
    }
  }
  const int = (key: string): number => {
    const v = metadata[key];
    if (v === undefined || v === "") return 0;
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < 0) {
      problems.push(`"${key}" is "${v}", expected a non-negative integer`);
    }
    return x;
  };
  const epoch = int("epoch"), step = int("step"), seed = int("seed");
  let valMpjpe: number | null = null;
  if (metadata.val_mpjpe) {
    valMpjpe = Number(metadata.val_mpjpe);
    if (!Number.isFinite(valMpjpe)) {
      problems.push(`"val_mpjpe" is "${metadata.val_mpjpe}", expected a number`);
    }
  }
  if (problems.length) {
    const err = new InputError(
      `${file}: not a valid posegpu checkpoint (${problems.length} problem${
        problems.length === 1 ? "" : "s"
      }):\n  ${problems.join("\n  ")}`,
    );
    // The list itself, so that a caller can add what else does not fit (loadLifter: the tensors).
    (err as InputError & { problems?: string[] }).problems = problems;
    throw err;
  }
  const list = (key: string): string[] => metadata[key] ? metadata[key].split(",") : [];
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!KNOWN.has(k)) extra[k] = v;
  return {
    model,
    config,
    input: input as "gt" | "sh",
    normalization: normalization!,
    jointsIn,
    jointsOut,
    units: "mm",
    data: metadata.data ?? "",
    trainSubjects: list("train_subjects"),
    valSubjects: list("val_subjects"),
    epoch,
    step,
    valMpjpe,
    seed,
    extra: Object.keys(extra).length ? extra : undefined,
  };
}

function toF32(t: HostTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
}

/** Splits a parsed file into metadata, model state dict and optimiser state (validated). */
export function checkpointFromFile(file: SafetensorsFile, name: string): Checkpoint {
  const meta = parseCheckpointMeta(file.metadata, name);
  const stateDict: StateDict = new Map();
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  const vMax = new Map<string, Float32Array>();
  for (const [key, t] of file.tensors) {
    if (key.startsWith("optim.m.")) m.set(key.slice(8), toF32(t));
    else if (key.startsWith("optim.v.")) v.set(key.slice(8), toF32(t));
    else if (key.startsWith("optim.vmax.")) vMax.set(key.slice(11), toF32(t));
    else if (key.startsWith("optim.")) throw new InputError(`${name}: unknown optimiser tensor "${key}"`);
    else {stateDict.set(
        key,
        t.data instanceof Float32Array || t.dtype === "I64" ? t : { ...t, data: toF32(t) },
      );}
  }
  let optimizer: OptimizerState | null = null;
  if (m.size || v.size) {
    const step = Number(file.metadata.optim_step);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new InputError(`${name}: optimiser tensors without a valid "optim_step" in __metadata__`);
    }
    optimizer = vMax.size ? { step, m, v, vMax } : { step, m, v };
  }
  return { meta, stateDict, optimizer };
}

/** Reads a checkpoint from a path or bytes (validated; see `parseCheckpointMeta`). */
export async function loadCheckpoint(pathOrBytes: string | Uint8Array): Promise<Checkpoint> {
  if (typeof pathOrBytes === "string") {
    return checkpointFromFile(await readSafetensors(pathOrBytes), pathOrBytes);
  }
  return checkpointFromFile(
    parseSafetensors(pathOrBytes, { name: "<checkpoint bytes>" }),
    "<checkpoint bytes>",
  );
}

/**
 * Writes a shippable copy of a checkpoint: the model's tensors as `dtype` (default F16, half the size;
 * f16 keeps ~3 significant digits, far below the lifting error) and the metadata, without the optimiser
 * state. `extra` metadata entries (e.g. a licence note) are added. Atomic.
 */
export async function exportCheckpoint(
  src: string,
  dst: string,
  options: { dtype?: "F16" | "F32"; extra?: Record<string, string> } = {},
): Promise<CheckpointMeta> {
  const ck = await loadCheckpoint(src);
  const meta: CheckpointMeta = { ...ck.meta, extra: { ...(ck.meta.extra ?? {}), ...(options.extra ?? {}) } };
  await saveCheckpoint(dst, { meta, stateDict: ck.stateDict }, { dtype: options.dtype ?? "F16" });
  return meta;
}
