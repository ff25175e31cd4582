/**
 * posegpu's own pose file (`PoseDocument` in memory), read and written as JSON.
 *
 * Schema, version 1 (every field required unless marked optional):
 * ```json
 * {
 *   "format": "posegpu-pose",            // constant
 *   "version": 1,                        // schema version; readers reject newer versions
 *   "skeleton": "h36m17",                // a skeleton name from pose/skeletons.ts
 *   "joints": ["Hip", "RHip", ...],      // that skeleton's joint names, in order (checked)
 *   "units": "mm",                       // length unit of keypoints3d: mm | cm | m | in | unit | px
 *   "frame": "camera",                   // frame of keypoints3d: camera | world | image
 *   "fps": 50,                           // frames per second, or null when unknown
 *   "image": {"width": 1000, "height": 1002},  // optional, size of the images of keypoints2d
 *   "frame_ids": ["img_0.jpg", 785, ...],      // optional, frame index → source id (image id, file)
 *   "model": "videopose3d-243",          // model that produced the poses, or null
 *   "weights": "weights/vp3d.safetensors", // weights file, or null
 *   "people": [{
 *     "track": 0,                        // track id (integer)
 *     "frames": [0, 1, 2],               // frame indices, non-negative, strictly increasing
 *     "keypoints2d": [[[x, y] | null, ...joints], ...frames],   // optional: pixels; null = missing
 *     "scores": [[s | null, ...joints], ...frames],              // optional, only with keypoints2d
 *     "keypoints3d": [[[x, y, z] | null, ...joints], ...frames], // optional, in `units` and `frame`
 *     "meta": {...}                      // optional, free JSON object (e.g. COCO bbox/score/image_id)
 *   }, ...]
 * }
 * ```
 * Each person has keypoints2d, keypoints3d or both, with one entry per listed frame. 2D coordinates are
 * always image pixels; `units`/`frame` describe the 3D ones ("px"/"image" for a 2D-only file).
 * Numbers are written as the shortest decimals that read back as the same float32.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import {
  convertKeypoints2D,
  convertKeypoints3D,
  type ConvertOptions,
  type Keypoints2D,
  type Keypoints3D,
} from "../convert.ts";
import type { ImageSize } from "../normalize.ts";
import { getSkeleton } from "../skeletons.ts";
import {
  describeValue,
  expectFrameIndices,
  expectObject,
  isFiniteFloat32,
  readJsonFile,
  shortFloat32,
} from "./common.ts";

/** Current schema version. */
export const POSE_JSON_VERSION = 1;

/** Length units of 3D keypoints (`unit` = unspecified model units, e.g. a BVH's). */
export type PoseUnits = "mm" | "cm" | "m" | "in" | "unit" | "px";

/** Coordinate frame of 3D keypoints. */
export type PoseFrame = "camera" | "world" | "image";

const UNITS: readonly PoseUnits[] = ["mm", "cm", "m", "in", "unit", "px"];
const FRAMES: readonly PoseFrame[] = ["camera", "world", "image"];

/** One tracked person: the frames it appears in and its keypoints there. */
export interface PoseTrack {
  /** Track id. */
  track: number;
  /** Frame indices (strictly increasing); `keypoints2d`/`keypoints3d` hold one frame per entry. */
  frames: number[];
  /** 2D keypoints in pixels, or null. */
  keypoints2d: Keypoints2D | null;
  /** 3D keypoints in the document's units and frame, or null. */
  keypoints3d: Keypoints3D | null;
  /** Free per-person data kept by converters (e.g. COCO `image_id`, `bbox`, `score`). */
  meta?: Record<string, unknown>;
}

/** A set of pose tracks on one skeleton: what every reader returns and every writer takes. */
export interface PoseDocument {
  /** Skeleton name of every track. */
  skeleton: string;
  /** Units of the 3D keypoints ("px" when there are none). */
  units: PoseUnits;
  /** Frame of the 3D keypoints ("image" when there are none). */
  frame: PoseFrame;
  /** Frames per second, or null. */
  fps: number | null;
  /** Image size of the 2D keypoints, or null when unknown or varying. */
  image: ImageSize | null;
  /** Frame index → source id (COCO image id, file name), or null. */
  frameIds: (number | string)[] | null;
  /** Model that produced the poses, or null. */
  model: string | null;
  /** Weights file of that model, or null. */
  weights: string | null;
  /** The people. */
  people: PoseTrack[];
}

/** Returns a document with defaults for everything but the skeleton and people. */
export function createPoseDocument(init: Partial<PoseDocument> & { skeleton: string }): PoseDocument {
  const hasAny3d = (init.people ?? []).some((p) => p.keypoints3d !== null);
  return {
    skeleton: getSkeleton(init.skeleton).name,
    units: init.units ?? (hasAny3d ? "mm" : "px"),
    frame: init.frame ?? (hasAny3d ? "camera" : "image"),
    fps: init.fps ?? null,
    image: init.image ?? null,
    frameIds: init.frameIds ?? null,
    model: init.model ?? null,
    weights: init.weights ?? null,
    people: init.people ?? [],
  };
}

/** Checks that a document is consistent (skeletons, frame counts, sizes); throws `InputError`. */
export function validatePoseDocument(doc: PoseDocument, where = "pose document"): void {
  const skeleton = getSkeleton(doc.skeleton);
  const joints = skeleton.joints.length;
  if (!UNITS.includes(doc.units)) {
    throw new InputError(`${where}: units "${doc.units}" is not one of ${UNITS}`);
  }
  if (!FRAMES.includes(doc.frame)) {
    throw new InputError(`${where}: frame "${doc.frame}" is not one of ${FRAMES}`);
  }
  if (doc.fps !== null && !(doc.fps > 0 && Number.isFinite(doc.fps))) {
    throw new InputError(`${where}: fps is ${doc.fps}, expected a positive number or null`);
  }
  if (doc.people.length === 0) throw new InputError(`${where}: no people (an empty pose document)`);
  doc.people.forEach((p, i) => {
    const at = `${where}: people[${i}] (track ${p.track})`;
    if (!Number.isInteger(p.track)) throw new InputError(`${at}: track id must be an integer`);
    expectFrameIndices(p.frames, at);
    if (!p.keypoints2d && !p.keypoints3d) {
      throw new InputError(`${at}: has neither keypoints2d nor keypoints3d`);
    }
    for (const kp of [p.keypoints2d, p.keypoints3d]) {
      if (!kp) continue;
      if (kp.skeleton !== skeleton.name || kp.joints !== joints) {
        throw new InputError(
          `${at}: keypoints are on skeleton ${kp.skeleton}, the document on ${skeleton.name}`,
        );
      }
      if (kp.frames !== p.frames.length) {
        throw new InputError(`${at}: keypoints have ${kp.frames} frames, "frames" lists ${p.frames.length}`);
      }
      const dims = kp.coords.length / Math.max(1, kp.frames * joints);
      if (kp.mask.length !== kp.frames * joints || (dims !== 2 && dims !== 3)) {
        throw new InputError(`${at}: keypoint arrays do not match ${kp.frames} frames × ${joints} joints`);
      }
      for (let i = 0; i < kp.coords.length; i++) {
        if (!Number.isFinite(kp.coords[i])) {
          const j = Math.floor(i / dims);
          throw new InputError(
            `${at}: frame ${p.frames[Math.floor(j / joints)]} joint ${j % joints} (${
              skeleton.joints[j % joints]
            }) ` +
              `has a non-finite coordinate (${kp.coords[i]})`,
          );
        }
      }
    }
  });
}

function parseJointRows(
  value: unknown,
  dims: number,
  shape: {
    frames: number;
    joints: number;
    at: string;
    field: string;
    names?: readonly string[];
    ids?: number[];
  },
): { coords: Float32Array; mask: Uint8Array } {
  const { frames, joints, at, field } = shape;
  if (!Array.isArray(value) || value.length !== frames) {
    throw new InputError(
      `${at}: "${field}" is ${describeValue(value)}, expected one entry per frame (${frames})`,
    );
  }
  const coords = new Float32Array(frames * joints * dims);
  const mask = new Uint8Array(frames * joints);
  value.forEach((row, f) => {
    if (!Array.isArray(row) || row.length !== joints) {
      throw new InputError(`${at}: "${field}"[${f}] is ${describeValue(row)}, expected ${joints} joints`);
    }
    row.forEach((point, j) => {
      if (point === null) return;
      const ok = Array.isArray(point) && point.length === dims &&
        point.every(isFiniteFloat32);
      if (!ok) {
        const shapeText = dims === 2 ? "[x, y]" : "[x, y, z]";
        // JSON.stringify would print a non-finite number (1e999 reads as Infinity) as null.
        const text = Array.isArray(point)
          ? ` ([${point.map((v) => (typeof v === "number" ? String(v) : JSON.stringify(v))).join(", ")}])`
          : "";
        throw new InputError(
          `${at}: "${field}"[${f}][${j}]${jointLabel(shape, f, j)} is ${describeValue(point)}${text}, ` +
            `expected ${shapeText} of finite numbers or null`,
        );
      }
      mask[f * joints + j] = 1;
      for (let d = 0; d < dims; d++) coords[(f * joints + j) * dims + d] = point[d];
    });
  });
  return { coords, mask };
}

/** " (frame 8, joint "left_wrist")" for messages, when the names are known. */
function jointLabel(shape: { names?: readonly string[]; ids?: number[] }, f: number, j: number): string {
  if (!shape.names || !shape.ids) return "";
  return ` (frame ${shape.ids[f]}, joint "${shape.names[j]}")`;
}

function parseScores(
  value: unknown,
  shape: { frames: number; joints: number; at: string; names?: readonly string[]; ids?: number[] },
): Float32Array {
  const { frames, joints, at } = shape;
  if (!Array.isArray(value) || value.length !== frames) {
    throw new InputError(
      `${at}: "scores" is ${describeValue(value)}, expected one entry per frame (${frames})`,
    );
  }
  const scores = new Float32Array(frames * joints);
  value.forEach((row, f) => {
    if (!Array.isArray(row) || row.length !== joints) {
      throw new InputError(`${at}: "scores"[${f}] is ${describeValue(row)}, expected ${joints} numbers`);
    }
    row.forEach((s, j) => {
      if (s === null) return;
      if (!isFiniteFloat32(s)) {
        throw new InputError(
          `${at}: "scores"[${f}][${j}]${jointLabel(shape, f, j)} is ${
            describeValue(s)
          }, expected a finite number or null`,
        );
      }
      scores[f * joints + j] = s;
    });
  });
  return scores;
}

/** Validates parsed pose JSON and returns the document; `file` names it in error messages. */
export function parsePoseJson(json: unknown, file: string): PoseDocument {
  const root = expectObject(json, file);
  if (root.format !== "posegpu-pose") {
    throw new InputError(`${file}: "format" is ${describeValue(root.format)}, expected "posegpu-pose"`);
  }
  if (typeof root.version !== "number" || !Number.isInteger(root.version) || root.version < 1) {
    throw new InputError(`${file}: "version" is ${describeValue(root.version)}, expected 1`);
  }
  if (root.version > POSE_JSON_VERSION) {
    throw new InputError(`${file}: version ${root.version} is newer than this reader (${POSE_JSON_VERSION})`);
  }
  if (typeof root.skeleton !== "string") {
    throw new InputError(`${file}: "skeleton" is ${describeValue(root.skeleton)}, expected a skeleton name`);
  }
  let skeletonName: string;
  try {
    skeletonName = getSkeleton(root.skeleton).name;
  } catch (e) {
    throw new InputError(`${file}: ${(e as Error).message}`);
  }
  const skeleton = getSkeleton(skeletonName);
  const joints = skeleton.joints.length;
  if (
    !Array.isArray(root.joints) || root.joints.length !== joints ||
    root.joints.some((n, i) => n !== skeleton.joints[i])
  ) {
    throw new InputError(
      `${file}: "joints" does not match skeleton ${skeleton.name} (expected ${
        JSON.stringify(skeleton.joints)
      })`,
    );
  }
  const units = root.units as PoseUnits;
  if (!UNITS.includes(units)) {
    throw new InputError(`${file}: "units" is ${describeValue(root.units)}, expected one of ${UNITS}`);
  }
  const frame = root.frame as PoseFrame;
  if (!FRAMES.includes(frame)) {
    throw new InputError(`${file}: "frame" is ${describeValue(root.frame)}, expected one of ${FRAMES}`);
  }
  const fps = root.fps ?? null;
  if (fps !== null && !(typeof fps === "number" && fps > 0 && Number.isFinite(fps))) {
    throw new InputError(`${file}: "fps" is ${describeValue(fps)}, expected a positive number or null`);
  }
  let image: ImageSize | null = null;
  if (root.image !== undefined && root.image !== null) {
    const im = expectObject(root.image, `${file}: "image"`);
    if (!(typeof im.width === "number" && im.width > 0 && typeof im.height === "number" && im.height > 0)) {
      throw new InputError(`${file}: "image" must be {"width": >0, "height": >0}`);
    }
    image = { width: im.width, height: im.height };
  }
  let frameIds: (number | string)[] | null = null;
  if (root.frame_ids !== undefined && root.frame_ids !== null) {
    if (!Array.isArray(root.frame_ids)) throw new InputError(`${file}: "frame_ids" must be an array`);
    root.frame_ids.forEach((id, i) => {
      if (typeof id !== "string" && !(typeof id === "number" && Number.isFinite(id))) {
        throw new InputError(
          `${file}: "frame_ids"[${i}] is ${describeValue(id)}, expected a number or string`,
        );
      }
    });
    frameIds = root.frame_ids as (number | string)[];
  }
  for (const key of ["model", "weights"] as const) {
    const v = root[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw new InputError(`${file}: "${key}" is ${describeValue(v)}, expected a string or null`);
    }
  }
  if (!Array.isArray(root.people)) {
    throw new InputError(`${file}: "people" is ${describeValue(root.people)}, expected an array`);
  }
  if (root.people.length === 0) throw new InputError(`${file}: "people" is empty`);
  const people = root.people.map((raw, i): PoseTrack => {
    const base = `${file}: people[${i}]`;
    const p = expectObject(raw, base);
    if (typeof p.track !== "number" || !Number.isInteger(p.track)) {
      throw new InputError(`${base}: "track" is ${describeValue(p.track)}, expected an integer`);
    }
    const at = `${base} (track ${p.track})`;
    const frames = expectFrameIndices(p.frames, at);
    const shape = { frames: frames.length, joints, at, names: skeleton.joints, ids: frames };
    let keypoints2d: Keypoints2D | null = null;
    if (p.keypoints2d !== undefined && p.keypoints2d !== null) {
      const { coords, mask } = parseJointRows(p.keypoints2d, 2, { ...shape, field: "keypoints2d" });
      const scores = p.scores !== undefined && p.scores !== null ? parseScores(p.scores, shape) : null;
      keypoints2d = { skeleton: skeleton.name, frames: frames.length, joints, coords, scores, mask };
    } else if (p.scores !== undefined && p.scores !== null) {
      throw new InputError(`${at}: "scores" given without "keypoints2d"`);
    }
    let keypoints3d: Keypoints3D | null = null;
    if (p.keypoints3d !== undefined && p.keypoints3d !== null) {
      const { coords, mask } = parseJointRows(p.keypoints3d, 3, { ...shape, field: "keypoints3d" });
      keypoints3d = { skeleton: skeleton.name, frames: frames.length, joints, coords, mask };
    }
    if (!keypoints2d && !keypoints3d) {
      throw new InputError(`${at}: has neither "keypoints2d" nor "keypoints3d"`);
    }
    const track: PoseTrack = { track: p.track, frames, keypoints2d, keypoints3d };
    if (p.meta !== undefined && p.meta !== null) track.meta = expectObject(p.meta, `${at}: "meta"`);
    return track;
  });
  return {
    skeleton: skeleton.name,
    units,
    frame,
    fps: fps as number | null,
    image,
    frameIds,
    model: (root.model as string | undefined) ?? null,
    weights: (root.weights as string | undefined) ?? null,
    people,
  };
}

/** Reads a pose JSON file. */
export async function readPoseJson(path: string): Promise<PoseDocument> {
  return parsePoseJson(await readJsonFile(path), path);
}

function jointRowsText(
  coords: Float32Array,
  mask: Uint8Array,
  shape: { frames: number; joints: number; dims: number },
): string {
  const { frames, joints, dims } = shape;
  const lines: string[] = [];
  for (let f = 0; f < frames; f++) {
    const row: string[] = [];
    for (let j = 0; j < joints; j++) {
      const i = f * joints + j;
      if (!mask[i]) {
        row.push("null");
        continue;
      }
      const point: number[] = [];
      for (let d = 0; d < dims; d++) point.push(shortFloat32(coords[i * dims + d]));
      row.push(JSON.stringify(point));
    }
    lines.push(`        [${row.join(",")}]`);
  }
  return `[\n${lines.join(",\n")}\n      ]`;
}

function scoresText(scores: Float32Array, shape: { frames: number; joints: number }): string {
  const lines: string[] = [];
  for (let f = 0; f < shape.frames; f++) {
    const row = Array.from(scores.subarray(f * shape.joints, (f + 1) * shape.joints), shortFloat32);
    lines.push(`        ${JSON.stringify(row)}`);
  }
  return `[\n${lines.join(",\n")}\n      ]`;
}

/** Serialises a document as pose JSON text (one frame per line). */
export function poseJsonText(doc: PoseDocument): string {
  validatePoseDocument(doc);
  const skeleton = getSkeleton(doc.skeleton);
  const head: Record<string, unknown> = {
    format: "posegpu-pose",
    version: POSE_JSON_VERSION,
    skeleton: skeleton.name,
    joints: skeleton.joints,
    units: doc.units,
    frame: doc.frame,
    fps: doc.fps,
  };
  if (doc.image) head.image = { width: doc.image.width, height: doc.image.height };
  if (doc.frameIds) head.frame_ids = doc.frameIds;
  head.model = doc.model;
  head.weights = doc.weights;
  const headText = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const people = doc.people.map((p) => {
    const fields = [`      "track": ${p.track}`, `      "frames": ${JSON.stringify(p.frames)}`];
    const joints = skeleton.joints.length;
    if (p.keypoints2d) {
      const kp = p.keypoints2d;
      fields.push(
        `      "keypoints2d": ${jointRowsText(kp.coords, kp.mask, { frames: kp.frames, joints, dims: 2 })}`,
      );
      if (kp.scores) fields.push(`      "scores": ${scoresText(kp.scores, { frames: kp.frames, joints })}`);
    }
    if (p.keypoints3d) {
      const kp = p.keypoints3d;
      fields.push(
        `      "keypoints3d": ${jointRowsText(kp.coords, kp.mask, { frames: kp.frames, joints, dims: 3 })}`,
      );
    }
    if (p.meta) fields.push(`      "meta": ${JSON.stringify(p.meta)}`);
    return `    {\n${fields.join(",\n")}\n    }`;
  });
  return `{\n${headText.join(",\n")},\n  "people": [\n${people.join(",\n")}\n  ]\n}\n`;
}

/** Writes a document as pose JSON (atomically). */
export async function writePoseJson(path: string, doc: PoseDocument): Promise<void> {
  await writeFileAtomic(path, poseJsonText(doc));
}

/** Converts every track of a document to another skeleton (see `convertKeypoints2D` for the rules; a
 * 3D-only document converts its 3D keypoints the same way). */
export function convertPoseDocument(
  doc: PoseDocument,
  to: string,
  options: ConvertOptions = {},
): PoseDocument {
  const target = getSkeleton(to).name;
  if (target === doc.skeleton) return doc;
  return {
    ...doc,
    skeleton: target,
    people: doc.people.map((p) => ({
      ...p,
      keypoints2d: p.keypoints2d ? convertKeypoints2D(p.keypoints2d, target, options) : null,
      keypoints3d: p.keypoints3d ? convertKeypoints3D(p.keypoints3d, target, options) : null,
    })),
  };
}
