/**
 * Format detection and dispatch: tells which keypoint format a file or folder holds, and reads/writes
 * any supported format as a `PoseDocument`.
 *
 * Detection: a folder is OpenPose output; `.csv` is CSV; `.bvh` is BVH; JSON is inspected —
 * `"format": "posegpu-pose"` → pose JSON; `images` + `annotations` → COCO annotations; an array of
 * `{image_id, keypoints}` → COCO results; `people` with `pose_keypoints_2d` (or empty) → an OpenPose
 * frame; `landmarks` / `poseLandmarks` / `pose_landmarks` (top level, in `frames`, or in an array of
 * frames) → MediaPipe.
 * @module
 */

import { extname } from "node:path";
import { InputError } from "../../engine/errors.ts";
import { bvhFromPositions, bvhToPoseDocument, type BvhToPosesOptions, readBvh, writeBvh } from "../bvh.ts";
import {
  cocoKeypointsToDocument,
  cocoResultsToDocument,
  documentToCocoKeypoints,
  documentToCocoResults,
  parseCocoKeypoints,
  parseCocoResults,
  writeCocoKeypoints,
  writeCocoResults,
} from "./coco.ts";
import { readJsonFile } from "./common.ts";
import { type CsvLayout, readCsv, writeCsv } from "./csv.ts";
import { type MediaPipeOptions, parseMediaPipe } from "./mediapipe.ts";
import { readOpenPose, writeOpenPose } from "./openpose.ts";
import { parsePoseJson, type PoseDocument, writePoseJson } from "./pose_json.ts";

/** The keypoint formats posegpu reads (all) and writes (all but MediaPipe). */
export type PoseFormat =
  | "pose-json"
  | "coco-keypoints"
  | "coco-results"
  | "openpose"
  | "mediapipe"
  | "csv"
  | "bvh";

/** Every format name, for help texts and argument checks. */
export const POSE_FORMATS: readonly PoseFormat[] = Object.freeze([
  "pose-json",
  "coco-keypoints",
  "coco-results",
  "openpose",
  "mediapipe",
  "csv",
  "bvh",
]);

const LANDMARK_KEYS = ["landmarks", "poseLandmarks", "pose_landmarks"];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function hasLandmarks(v: unknown): boolean {
  return isObject(v) && LANDMARK_KEYS.some((k) => k in v);
}

/** The format of parsed JSON, or null when it is none of the known ones. */
export function detectJsonFormat(json: unknown): PoseFormat | null {
  if (Array.isArray(json)) {
    const first = json.find((e) => e !== null);
    if (isObject(first) && "image_id" in first && "keypoints" in first) return "coco-results";
    if (hasLandmarks(first)) return "mediapipe";
    return null;
  }
  if (!isObject(json)) return null;
  if (json.format === "posegpu-pose") return "pose-json";
  if (Array.isArray(json.images) && Array.isArray(json.annotations)) return "coco-keypoints";
  if (Array.isArray(json.people)) {
    const first = json.people[0];
    if (first === undefined || (isObject(first) && "pose_keypoints_2d" in first)) return "openpose";
  }
  if (hasLandmarks(json)) return "mediapipe";
  if (Array.isArray(json.frames) && hasLandmarks(json.frames.find((e) => e !== null))) return "mediapipe";
  return null;
}

async function statOf(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
}

const UNKNOWN = `pass the format explicitly (one of ${POSE_FORMATS.join(", ")})`;

/** Detects the format of a file or folder (see the module notes); throws `InputError` when unsure. */
export async function detectPoseFormat(path: string): Promise<PoseFormat> {
  if ((await statOf(path)).isDirectory) return "openpose";
  const ext = extname(path).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".bvh") return "bvh";
  const format = detectJsonFormat(await readJsonFile(path));
  if (!format) throw new InputError(`${path}: cannot tell the keypoint format; ${UNKNOWN}`);
  return format;
}

/** The format an output path asks for by its extension (`.json` → pose JSON, `.csv`, `.bvh`), or null. */
export function formatFromExtension(path: string): PoseFormat | null {
  const ext = extname(path).toLowerCase();
  return ext === ".json" ? "pose-json" : ext === ".csv" ? "csv" : ext === ".bvh" ? "bvh" : null;
}

/** Checks a format name from the command line. */
export function parsePoseFormat(name: string): PoseFormat {
  const f = name.toLowerCase() as PoseFormat;
  if (!POSE_FORMATS.includes(f)) {
    throw new InputError(`unknown format "${name}": expected one of ${POSE_FORMATS.join(", ")}`);
  }
  return f;
}

/** Options of `readPoseDocument`. */
export interface ReadPoseOptions extends MediaPipeOptions {
  /** Format of the input (default: detected). */
  format?: PoseFormat;
  /** CSV: skeleton of the file (default: from its metadata or joint names). */
  csvSkeleton?: string;
  /** BVH: target skeleton, scale and frame step. */
  bvh?: BvhToPosesOptions;
}

/** Reads any supported keypoint file or folder as a document. */
export async function readPoseDocument(path: string, options: ReadPoseOptions = {}): Promise<PoseDocument> {
  const info = await statOf(path);
  let format = options.format;
  if (info.isDirectory) {
    if (format && format !== "openpose") {
      throw new InputError(`${path}: a folder can only be OpenPose output`);
    }
    return await readOpenPose(path);
  }
  const ext = extname(path).toLowerCase();
  if (format === "csv" || (!format && ext === ".csv")) {
    return await readCsv(path, { skeleton: options.csvSkeleton });
  }
  if (format === "bvh" || (!format && ext === ".bvh")) {
    return bvhToPoseDocument(await readBvh(path), options.bvh ?? {});
  }
  const json = await readJsonFile(path);
  format ??= detectJsonFormat(json) ?? undefined;
  switch (format) {
    case "pose-json":
      return parsePoseJson(json, path);
    case "coco-keypoints":
      return cocoKeypointsToDocument(parseCocoKeypoints(json, path));
    case "coco-results":
      return cocoResultsToDocument(parseCocoResults(json, path));
    case "openpose":
      return await readOpenPose(path);
    case "mediapipe":
      return parseMediaPipe(json, path, options);
    default:
      throw new InputError(`${path}: cannot tell the keypoint format; ${UNKNOWN}`);
  }
}

/** Options of `writePoseDocument`. */
export interface WritePoseOptions {
  /** Output format (default: from the extension, else pose JSON). */
  format?: PoseFormat;
  /** CSV layout (default "long"). */
  csvLayout?: CsvLayout;
  /** OpenPose file name prefix (default "frame"). */
  openposePrefix?: string;
  /** BVH: which track's 3D keypoints to write (default: the first with 3D). */
  track?: number;
  /** BVH: insert branch joints (see `bvhFromPositions`; default true). */
  branchJoints?: boolean;
}

/** Writes a document in any writable format (atomically; OpenPose: one file per frame in a folder). */
export async function writePoseDocument(
  path: string,
  doc: PoseDocument,
  options: WritePoseOptions = {},
): Promise<void> {
  const format = options.format ?? formatFromExtension(path) ?? "pose-json";
  switch (format) {
    case "pose-json":
      return await writePoseJson(path, doc);
    case "csv":
      return await writeCsv(path, doc, { layout: options.csvLayout });
    case "coco-keypoints":
      return await writeCocoKeypoints(path, documentToCocoKeypoints(doc));
    case "coco-results":
      return await writeCocoResults(path, documentToCocoResults(doc));
    case "openpose":
      return await writeOpenPose(path, doc, { prefix: options.openposePrefix });
    case "bvh": {
      const person = options.track === undefined
        ? doc.people.find((p) => p.keypoints3d)
        : doc.people.find((p) => p.track === options.track);
      if (!person?.keypoints3d) {
        throw new InputError(
          options.track === undefined
            ? "BVH output needs 3D keypoints; the poses have none"
            : `BVH output: track ${options.track} ${person ? "has no 3D keypoints" : "does not exist"}`,
        );
      }
      const clip = bvhFromPositions(person.keypoints3d, {
        frameTime: 1 / (doc.fps ?? 50),
        branchJoints: options.branchJoints,
      });
      return await writeBvh(path, clip);
    }
    case "mediapipe":
      throw new InputError("writing MediaPipe landmark JSON is not supported (use pose-json or csv)");
  }
}
