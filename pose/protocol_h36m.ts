/**
 * Human3.6M evaluation runner: feeds a lifting function 2D inputs (ground truth projected through the
 * cameras, or the Stacked Hourglass detections) for every test sequence and camera, and reports Protocol #1
 * (MPJPE, root-aligned) and Protocol #2 (P-MPJPE) per action — the mean over all frames of the action's
 * sequences and cameras — and their average over actions. Optional rare-pose restriction (SRNet: the
 * R% test poses least like the training poses) and cross-action split (train on one action, test on all).
 *
 * Data layout (the shared format, `../shared/data/README.md`): `<dir>/S<n>.safetensors` holding
 * `"<Sequence>/pos3d"` `[T, 17, 3]` world mm and `"<Sequence>/<camera>/sh2d"` `[T, 16, 2]` pixels (H36M-17
 * order without Neck/Nose), and `<dir>/cameras.json`.
 * @module
 */

import { join } from "node:path";
import { InputError } from "../engine/errors.ts";
import { readSafetensors } from "../engine/safetensors.ts";
import {
  type Camera,
  type CameraSet,
  loadH36mCameras,
  projectPointRadial,
  worldToCamera,
} from "./cameras.ts";
import { actionOfSequence, type ActionTable, actionTable } from "./metrics/per_action.ts";
import { mpjpePerFrame, pMpjpePerFrame } from "./metrics/mpjpe.ts";
import { jointErrors } from "./metrics/joint_errors.ts";
import {
  boneLengthDeltas,
  H36M_HARD_JOINTS,
  H36M_LIMB_SEGMENTS,
  type LimbSegmentError,
} from "./metrics/bone_length.ts";
import { occurrenceParallel, rarestIndices } from "./rare_pose.ts";

/** Standard training subjects. */
export const H36M_TRAIN_SUBJECTS: readonly string[] = ["S1", "S5", "S6", "S7", "S8"];
/** Standard test subjects. */
export const H36M_TEST_SUBJECTS: readonly string[] = ["S9", "S11"];
/** H36M-17 indices of the 16 joints of the SH detections (all but Neck/Nose). */
export const H36M_SH_INPUT_JOINTS: readonly number[] = [
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
];
const ALL_17: readonly number[] = Array.from({ length: 17 }, (_, i) => i);

/** One sequence of one subject. */
export interface H36mSequence {
  /** World 3D `[T, 17, 3]` in mm. */
  pos3d: Float32Array;
  /** SH detections per camera id, `[T, 16, 2]` pixels. */
  sh2d: Map<string, Float32Array>;
}

/** Where the runner gets Human3.6M data from (a folder in the shared format, or anything else). */
export interface H36mDataSource {
  /** Sequences of a subject by sequence name (e.g. `"Walking 1"`). */
  loadSubject(subject: string): Promise<Map<string, H36mSequence>>;
  /** Cameras of a subject by camera id. */
  cameras(subject: string): Map<string, Camera>;
}

/** What the lifting function is told about its input. */
export interface H36mLiftMeta {
  /** Subject, e.g. `"S9"`. */
  subject: string;
  /** Sequence name, e.g. `"Walking 1"`. */
  sequence: string;
  /** Action (sequence name without its number). */
  action: string;
  /** Camera id. */
  cameraId: string;
  /** The camera (intrinsics, extrinsics, image size). */
  camera: Camera;
  /** `"gt"`: ground truth projected through the camera; `"sh"`: Stacked Hourglass detections. */
  input: "gt" | "sh";
  /** H36M-17 index of each input joint (17 joints for `"gt"`, 16 without Neck/Nose for `"sh"`). */
  inputJoints: readonly number[];
  /** Frames N. */
  frames: number;
}

/**
 * A lifting model: 2D pixels `[N, J, 2]` → 3D `[N, 17, 3]` in camera coordinates, mm (any root position:
 * Protocol #1 aligns the roots).
 */
export type H36mLifter = (input2d: Float32Array, meta: H36mLiftMeta) => Promise<Float32Array>;

/** Rare-pose restriction. */
export interface H36mRareOptions {
  /** Keep the rarest `percent`% of test frames (e.g. 10 or 20). */
  percent: number;
  /** Subjects whose poses form the training set (default `H36M_TRAIN_SUBJECTS`). */
  trainSubjects?: readonly string[];
  /** Only these training actions (cross-action protocol; names as `actionOfSequence`); default all. */
  trainActions?: readonly string[];
  /** Every k-th training frame (default 10): occurrence costs test × train pose pairs. */
  trainStride?: number;
  /** σ per joint in mm (default: per-joint spread of the training set, see `rare_pose.ts`). */
  sigmas?: number | readonly number[];
}

/** Options of `runH36mProtocol`. */
export interface H36mProtocolOptions {
  /** 2D input (default `"gt"`). */
  input?: "gt" | "sh";
  /** Test subjects (default `H36M_TEST_SUBJECTS`). */
  subjects?: readonly string[];
  /** Only these actions (names as `actionOfSequence` gives them: "TakingPhoto" = "Photo"; default all). */
  actions?: readonly string[];
  /** Only these camera ids (default all of the subject). */
  cameras?: readonly string[];
  /** Rare-pose restriction; poses are compared root-relative in each camera's frame. */
  rare?: H36mRareOptions;
  /** Also pool per-joint errors and bone-length errors over every evaluated frame (`result.joints`). */
  joints?: boolean;
  /** Called after each sequence × camera. */
  onProgress?: (done: { subject: string; sequence: string; cameraId: string }) => void;
}

/** One evaluated sequence × camera. */
export interface H36mUnitResult {
  /** Subject. */
  subject: string;
  /** Sequence name. */
  sequence: string;
  /** Action. */
  action: string;
  /** Camera id. */
  cameraId: string;
  /** MPJPE per frame (mm). */
  mpjpe: Float64Array;
  /** P-MPJPE per frame (mm). */
  pMpjpe: Float64Array;
  /** Frames kept by the rare-pose restriction (all frames without it). */
  selected: Int32Array;
  /** With `joints`: root-aligned error of every joint, `[frames, 17]` (mm). */
  jointErrors?: Float32Array;
  /** With `joints`: bone-length difference per child joint, `[frames, 17]` (mm; 0 at the root). */
  boneDeltas?: Float32Array;
}

/**
 * Per-joint and bone-length statistics pooled over every evaluated frame (all actions together, as the
 * dual-channel paper's per-joint and bone-length tables).
 */
export interface H36mJointStats {
  /** Mean root-aligned error per H36M-17 joint (mm; 0 at the root). */
  perJoint: Float64Array;
  /** Mean of `perJoint` over the hard joints (knees, feet, elbows, wrists). */
  hardJoints: number;
  /** Bone-length RMSE of the eight limb segments (upper/lower arm and leg, left/right) and their mean. */
  limbSegments: LimbSegmentError;
}

/** Result of `runH36mProtocol`. */
export interface H36mProtocolResult {
  /** Protocol #1 per action and averaged over actions. */
  mpjpe: ActionTable;
  /** Protocol #2 per action and averaged over actions. */
  pMpjpe: ActionTable;
  /** Every sequence × camera evaluated. */
  units: H36mUnitResult[];
  /** With `joints`: per-joint and bone-length statistics over the evaluated (selected) frames. */
  joints?: H36mJointStats;
}

/** The splits of the subject protocol and of the cross-action protocol (train on `action`, test on all). */
export function h36mSplit(
  protocol: "subject" | "cross-action",
  options: { action?: string } = {},
): { trainSubjects: string[]; testSubjects: string[]; trainActions?: string[] } {
  const base = { trainSubjects: [...H36M_TRAIN_SUBJECTS], testSubjects: [...H36M_TEST_SUBJECTS] };
  if (protocol === "subject") return base;
  if (!options.action) throw new InputError("h36m: the cross-action protocol needs the training action");
  return { ...base, trainActions: [options.action] };
}

/** Opens a data folder in the shared format (subject files are read when first needed). */
export async function openH36mFolder(dir: string): Promise<H36mDataSource> {
  const cameras: CameraSet = await loadH36mCameras(join(dir, "cameras.json"));
  return {
    async loadSubject(subject: string): Promise<Map<string, H36mSequence>> {
      const path = join(dir, `${subject}.safetensors`);
      const file = await readSafetensors(path);
      const out = new Map<string, H36mSequence>();
      for (const [name, t] of file.tensors) {
        const parts = name.split("/");
        const seq = parts[0];
        const entry = out.get(seq) ?? { pos3d: new Float32Array(0), sh2d: new Map() };
        if (parts.length === 2 && parts[1] === "pos3d") {
          if (
            t.shape.length !== 3 || t.shape[1] !== 17 || t.shape[2] !== 3 || !(t.data instanceof Float32Array)
          ) {
            throw new InputError(
              `${path}: tensor "${name}" has shape [${t.shape}], expected [T, 17, 3] floats`,
            );
          }
          entry.pos3d = t.data;
        } else if (parts.length === 3 && parts[2] === "sh2d") {
          if (
            t.shape.length !== 3 || t.shape[1] !== 16 || t.shape[2] !== 2 || !(t.data instanceof Float32Array)
          ) {
            throw new InputError(
              `${path}: tensor "${name}" has shape [${t.shape}], expected [T, 16, 2] floats`,
            );
          }
          entry.sh2d.set(parts[1], t.data);
        } else {
          continue;
        }
        out.set(seq, entry);
      }
      for (const [seq, s] of out) {
        if (s.pos3d.length === 0) {
          throw new InputError(`${path}: sequence "${seq}" has no "${seq}/pos3d" tensor`);
        }
        for (const [cam, d] of s.sh2d) {
          if (d.length / 32 !== s.pos3d.length / 51) {
            throw new InputError(
              `${path}: "${seq}/${cam}/sh2d" has ${d.length / 32} frames but "${seq}/pos3d" has ${
                s.pos3d.length / 51
              }`,
            );
          }
        }
      }
      return out;
    },
    cameras(subject: string): Map<string, Camera> {
      const m = cameras.get(subject);
      if (!m) {
        throw new InputError(`${join(dir, "cameras.json")}: no cameras for subject "${subject}"`);
      }
      return m;
    },
  };
}

function rootRelative(poses: Float32Array): Float32Array {
  const out = new Float32Array(poses.length);
  for (let o = 0; o < poses.length; o += 51) {
    for (let i = 0; i < 51; i++) out[o + i] = poses[o + i] - poses[o + (i % 3)];
  }
  return out;
}

function wanted(list: readonly string[] | undefined, value: string): boolean {
  return list === undefined || list.includes(value);
}

/** An action filter in the form `actionOfSequence` gives (`"TakingPhoto"` selects `"Photo"`). */
function actionList(list: readonly string[] | undefined): string[] | undefined {
  return list?.map(actionOfSequence);
}

/**
 * Runs the Human3.6M protocol for `lift` on `data` (a data folder path or a source). Throws `InputError`
 * when the lifter returns the wrong number of values or the data is malformed.
 */
export async function runH36mProtocol(
  lift: H36mLifter,
  data: string | H36mDataSource,
  options: H36mProtocolOptions = {},
): Promise<H36mProtocolResult> {
  const source = typeof data === "string" ? await openH36mFolder(data) : data;
  const input = options.input ?? "gt";
  const units: H36mUnitResult[] = [];
  const gtCam: Float32Array[] = []; // per unit, camera-frame ground truth (for the rare-pose ranking)
  const actions = actionList(options.actions);
  for (const subject of options.subjects ?? H36M_TEST_SUBJECTS) {
    const sequences = await source.loadSubject(subject);
    const cams = source.cameras(subject);
    for (const [sequence, seq] of sequences) {
      const action = actionOfSequence(sequence);
      if (!wanted(actions, action)) continue;
      const frames = seq.pos3d.length / 51;
      for (const [cameraId, camera] of cams) {
        if (!wanted(options.cameras, cameraId)) continue;
        const target = worldToCamera(seq.pos3d, camera);
        let input2d: Float32Array;
        if (input === "gt") {
          input2d = projectPointRadial(seq.pos3d, camera);
        } else {
          const sh = seq.sh2d.get(cameraId);
          if (!sh) throw new InputError(`${subject}: no SH detections "${sequence}/${cameraId}/sh2d"`);
          input2d = sh;
        }
        const meta: H36mLiftMeta = {
          subject,
          sequence,
          action,
          cameraId,
          camera,
          input,
          inputJoints: input === "gt" ? ALL_17 : H36M_SH_INPUT_JOINTS,
          frames,
        };
        const predicted = await lift(input2d, meta);
        if (!(predicted instanceof Float32Array) || predicted.length !== frames * 51) {
          throw new InputError(
            `h36m: the lifter returned ${predicted?.length} values for ${subject} "${sequence}" ` +
              `camera ${cameraId}, ` +
              `expected ${frames} frames × 17 joints × 3 = ${frames * 51} in a Float32Array`,
          );
        }
        units.push({
          subject,
          sequence,
          action,
          cameraId,
          mpjpe: mpjpePerFrame(predicted, target),
          pMpjpe: pMpjpePerFrame(predicted, target),
          selected: Int32Array.from({ length: frames }, (_, i) => i),
          ...(options.joints
            ? {
              jointErrors: Float32Array.from(jointErrors(predicted, target, { alignment: "root" })),
              boneDeltas: Float32Array.from(boneLengthDeltas(predicted, target)),
            }
            : {}),
        });
        gtCam.push(target);
        options.onProgress?.({ subject, sequence, cameraId });
      }
    }
  }
  if (options.rare) await restrictToRare(units, gtCam, source, options.rare, options.cameras);
  const pick = (errors: Float64Array, selected: Int32Array): Float64Array =>
    Float64Array.from(selected, (i) => errors[i]);
  return {
    mpjpe: actionTable(units.map((u) => ({ action: u.action, frameErrors: pick(u.mpjpe, u.selected) }))),
    pMpjpe: actionTable(units.map((u) => ({ action: u.action, frameErrors: pick(u.pMpjpe, u.selected) }))),
    units,
    ...(options.joints ? { joints: jointStats(units) } : {}),
  };
}

function jointStats(units: readonly H36mUnitResult[]): H36mJointStats {
  const J = 17;
  const err = new Float64Array(J), sq = new Float64Array(J);
  let frames = 0;
  for (const u of units) {
    for (const f of u.selected) {
      for (let j = 0; j < J; j++) {
        err[j] += u.jointErrors![f * J + j];
        sq[j] += u.boneDeltas![f * J + j] ** 2;
      }
    }
    frames += u.selected.length;
  }
  const perJoint = err.map((e) => e / Math.max(frames, 1));
  const hardJoints = H36M_HARD_JOINTS.reduce((a, j) => a + perJoint[j], 0) / H36M_HARD_JOINTS.length;
  const segments = H36M_LIMB_SEGMENTS.map(({ name, child }) => ({
    name,
    rmse: Math.sqrt(sq[child] / Math.max(frames, 1)),
  }));
  const average = segments.reduce((a, x) => a + x.rmse, 0) / segments.length;
  return { perJoint, hardJoints, limbSegments: { segments, average } };
}

async function restrictToRare(
  units: H36mUnitResult[],
  gtCam: Float32Array[],
  source: H36mDataSource,
  rare: H36mRareOptions,
  cameraFilter: readonly string[] | undefined,
): Promise<void> {
  const stride = Math.max(1, Math.floor(rare.trainStride ?? 10));
  const train: Float32Array[] = [];
  const trainActions = actionList(rare.trainActions);
  for (const subject of rare.trainSubjects ?? H36M_TRAIN_SUBJECTS) {
    const sequences = await source.loadSubject(subject);
    const cams = source.cameras(subject);
    for (const [sequence, seq] of sequences) {
      if (!wanted(trainActions, actionOfSequence(sequence))) continue;
      for (const [cameraId, camera] of cams) {
        if (!wanted(cameraFilter, cameraId)) continue;
        const rel = rootRelative(worldToCamera(seq.pos3d, camera));
        const frames = rel.length / 51;
        for (let f = 0; f < frames; f += stride) train.push(rel.subarray(f * 51, f * 51 + 51));
      }
    }
  }
  if (train.length === 0) {
    throw new InputError("h36m rare pose: the training set is empty (check trainSubjects/trainActions)");
  }
  const trainSet = new Float32Array(train.length * 51);
  train.forEach((p, i) => trainSet.set(p, i * 51));
  const total = gtCam.reduce((n, g) => n + g.length, 0);
  const testSet = new Float32Array(total);
  let at = 0;
  for (const g of gtCam) {
    testSet.set(g, at);
    at += g.length;
  }
  // One Web Worker per core where available (bit-identical to the one-thread `occurrence`).
  const occ = await occurrenceParallel(testSet, trainSet, { joints: 17, root: 0, sigmas: rare.sigmas });
  const keep = new Uint8Array(occ.length);
  for (const i of rarestIndices(occ, rare.percent)) keep[i] = 1;
  let offset = 0;
  for (const u of units) {
    const frames = u.mpjpe.length;
    const sel: number[] = [];
    for (let f = 0; f < frames; f++) if (keep[offset + f]) sel.push(f);
    u.selected = Int32Array.from(sel);
    offset += frames;
  }
}
