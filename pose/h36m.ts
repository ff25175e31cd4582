/**
 * Human3.6M as shipped in `data/h36m/`: one safetensors file per subject holding, per sequence,
 * `"<Sequence>/pos3d"` `[T, 17, 3]` (world mm, H36M-17 order) and `"<Sequence>/<camera>/sh2d"`
 * `[T, 16, 2]` (pixels, Stacked Hourglass detections in H36M-17 order without Neck/Nose, i.e. the
 * `martinez16in` layout), plus `cameras.json`. Sequence names are the source's ("Directions 1",
 * "TakingPhoto", ...); `standardAction` maps them to the 15 standard actions.
 * @module
 */

import { basename } from "node:path";
import { InputError } from "../engine/errors.ts";
import { readSafetensors, readSafetensorsHeader } from "../engine/safetensors.ts";
import { type Camera, projectPointRadial, worldToCamera } from "./cameras.ts";
import { H36M_ACTIONS } from "./metrics/per_action.ts";
import { H36M_17, MARTINEZ_16_IN } from "./skeletons.ts";

const ACTION_ALIASES: Record<string, string> = {
  TakingPhoto: "Photo",
  WalkingDog: "WalkDog",
  WalkingTogether: "WalkTogether",
};

/** Maps a sequence name to one of the 15 standard actions (`H36M_ACTIONS` of pose/metrics): drops a
 * trailing take number (" 1", "_2", ".3") and renames "TakingPhoto" → "Photo", "WalkingDog" →
 * "WalkDog", "WalkingTogether" → "WalkTogether". Throws `InputError` for anything else. */
export function standardAction(sequence: string): string {
  const base = sequence.trim().replace(/[ _.]\d+$/, "");
  const action = ACTION_ALIASES[base] ?? base;
  if (!H36M_ACTIONS.includes(action)) {
    throw new InputError(
      `"${sequence}" is not a Human3.6M action (expected one of ${H36M_ACTIONS.join(", ")})`,
    );
  }
  return action;
}

/** What a subject file holds for one sequence (from the header alone). */
export interface H36mSequenceInfo {
  /** Subject, e.g. "S1". */
  subject: string;
  /** Sequence name as stored, e.g. "Directions 1". */
  name: string;
  /** Standard action, e.g. "Directions". */
  action: string;
  /** Number of frames T. */
  frames: number;
  /** Camera ids with SH detections, sorted. */
  cameras: string[];
}

/** One sequence's data. */
export interface H36mSubjectSequence extends H36mSequenceInfo {
  /** T × 17 × 3 world coordinates in millimetres (H36M-17 order). */
  pos3d: Float32Array;
  /** Per camera id: T × 16 × 2 Stacked Hourglass detections in pixels (`martinez16in` order). */
  sh2d: Map<string, Float32Array>;
}

/** One subject file. */
export interface H36mSubject {
  /** Subject, e.g. "S1". */
  subject: string;
  /** The file's `__metadata__`. */
  metadata: Record<string, string>;
  /** Sequences sorted by name. */
  sequences: H36mSubjectSequence[];
}

function subjectOf(path: string, metadata: Record<string, string>): string {
  if (metadata.subject) return metadata.subject;
  const m = /^(S\d+)/.exec(basename(path));
  if (!m) {
    throw new InputError(`${path}: no "subject" in __metadata__ and the file name does not start with S<n>`);
  }
  return m[1];
}

function checkJointNames(path: string, metadata: Record<string, string>): void {
  const check = (key: string, expected: readonly string[]) => {
    if (metadata[key] !== undefined && metadata[key] !== expected.join(",")) {
      throw new InputError(
        `${path}: __metadata__ "${key}" is "${metadata[key]}", expected "${expected.join(",")}"`,
      );
    }
  };
  check("joints3d", H36M_17.joints);
  check("joints2d", MARTINEZ_16_IN.joints);
}

interface Layout {
  subject: string;
  sequences: Map<string, { frames: number; cameras: string[] }>;
}

function layoutOf(path: string, metadata: Record<string, string>, shapes: Map<string, number[]>): Layout {
  checkJointNames(path, metadata);
  const sequences = new Map<string, { frames: number; cameras: string[] }>();
  const sh: [string, string, number[]][] = [];
  for (const [name, shape] of shapes) {
    const parts = name.split("/");
    if (parts.length === 2 && parts[1] === "pos3d") {
      if (shape.length !== 3 || shape[1] !== 17 || shape[2] !== 3 || shape[0] < 1) {
        throw new InputError(
          `${path}: tensor "${name}" has shape [${shape}], expected [T, 17, 3] with T ≥ 1`,
        );
      }
      standardActionIn(path, name, parts[0]);
      sequences.set(parts[0], { frames: shape[0], cameras: [] });
    } else if (parts.length === 3 && parts[2] === "sh2d") {
      sh.push([parts[0], parts[1], shape]);
    } else {
      throw new InputError(
        `${path}: tensor "${name}" is neither "<sequence>/pos3d" nor "<sequence>/<camera>/sh2d"`,
      );
    }
  }
  for (const [seq, cam, shape] of sh) {
    const s = sequences.get(seq);
    const name = `${seq}/${cam}/sh2d`;
    if (!s) throw new InputError(`${path}: tensor "${name}" has no "${seq}/pos3d"`);
    if (shape.length !== 3 || shape[0] !== s.frames || shape[1] !== 16 || shape[2] !== 2) {
      throw new InputError(`${path}: tensor "${name}" has shape [${shape}], expected [${s.frames}, 16, 2]`);
    }
    s.cameras.push(cam);
  }
  if (sequences.size === 0) throw new InputError(`${path}: no "<sequence>/pos3d" tensors`);
  for (const s of sequences.values()) s.cameras.sort();
  return { subject: subjectOf(path, metadata), sequences };
}

function standardActionIn(path: string, tensor: string, sequence: string): string {
  try {
    return standardAction(sequence);
  } catch (e) {
    throw new InputError(`${path}: tensor "${tensor}": ${(e as Error).message}`);
  }
}

/** Lists a subject file's sequences from its header (no tensor data is read). */
export async function listH36mSequences(path: string): Promise<H36mSequenceInfo[]> {
  const header = await readSafetensorsHeader(path);
  const shapes = new Map([...header.entries].map(([n, e]) => [n, e.shape]));
  const layout = layoutOf(path, header.metadata, shapes);
  return [...layout.sequences.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, s]) => ({
    subject: layout.subject,
    name,
    action: standardAction(name),
    frames: s.frames,
    cameras: s.cameras,
  }));
}

/** Options of `loadH36mSubject`. */
export interface LoadH36mOptions {
  /** Keep only sequences of these standard actions (default all). */
  actions?: readonly string[];
}

/** Reads a subject file (validated: names, shapes, F32 finite values). */
export async function loadH36mSubject(path: string, options: LoadH36mOptions = {}): Promise<H36mSubject> {
  const file = await readSafetensors(path);
  const shapes = new Map([...file.tensors].map(([n, t]) => [n, t.shape]));
  const layout = layoutOf(path, file.metadata, shapes);
  const wanted = options.actions ? new Set(options.actions.map(standardAction)) : null;
  const tensor = (name: string): Float32Array => {
    const t = file.tensors.get(name)!;
    if (!(t.data instanceof Float32Array)) {
      throw new InputError(`${path}: tensor "${name}" is ${t.dtype}, expected F32`);
    }
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) {
        throw new InputError(`${path}: tensor "${name}" element ${i} is ${t.data[i]}`);
      }
    }
    return t.data;
  };
  const sequences: H36mSubjectSequence[] = [];
  for (const [name, s] of [...layout.sequences.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const action = standardAction(name);
    if (wanted && !wanted.has(action)) continue;
    sequences.push({
      subject: layout.subject,
      name,
      action,
      frames: s.frames,
      cameras: s.cameras,
      pos3d: tensor(`${name}/pos3d`),
      sh2d: new Map(s.cameras.map((c) => [c, tensor(`${name}/${c}/sh2d`)])),
    });
  }
  return { subject: layout.subject, metadata: file.metadata, sequences };
}

function checkCamera(seq: H36mSubjectSequence, camera: Camera): void {
  if (camera.subject && camera.subject !== seq.subject) {
    throw new InputError(
      `camera ${camera.id} is calibrated for ${camera.subject}, the sequence is ${seq.subject}`,
    );
  }
}

/** A sequence's 3D poses in a camera's frame: T × 17 × 3 millimetres (`Rᵀ (X − T)`). */
export function sequenceInCamera(seq: H36mSubjectSequence, camera: Camera): Float32Array {
  checkCamera(seq, camera);
  return worldToCamera(seq.pos3d, camera);
}

/** Ground-truth 2D of a sequence through a camera (with distortion): T × 17 × 2 pixels. */
export function projectSequence(seq: H36mSubjectSequence, camera: Camera): Float32Array {
  checkCamera(seq, camera);
  return projectPointRadial(seq.pos3d, camera);
}
