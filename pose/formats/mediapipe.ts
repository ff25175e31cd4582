/**
 * MediaPipe Pose / BlazePose landmark JSON (33 landmarks), as people dump it. Accepted shapes:
 *
 * - top level: an array of frame entries; or an object `{"frames": [...]}` (optionally with `width`/
 *   `height` or `image_width`/`image_height`, and `fps`); or a single frame entry object;
 * - a frame entry: an object with `landmarks`, `poseLandmarks` or `pose_landmarks`, holding either one
 *   person's 33 landmarks or a list of people's 33-landmark lists (the Tasks API's
 *   `PoseLandmarkerResult.landmarks`); `null`, `[]` or an entry without landmarks = nobody in the frame;
 *   an optional integer `frame` field gives the frame index (default: position in the list); optional
 *   `worldLandmarks` / `poseWorldLandmarks` / `pose_world_landmarks` (same layout) become 3D keypoints
 *   in metres (MediaPipe's hip-centred frame, stored as frame "world");
 * - a landmark: `{x, y, z?, visibility?, presence?}` or an array `[x, y, z?, visibility?]`.
 *
 * `x, y` are normalised to [0, 1] by MediaPipe; they are scaled to pixels by the image size, taken from
 * the options (`width`, `height`), else from the file; without a size the read fails (pass
 * `pixels: true` when the file already holds pixels). A landmark's score is its `visibility` (else
 * `presence`); files without either have no scores. Every landmark given is present; low visibility
 * turns into a missing joint only through the conversions' `minScore`. Tracks: a person's position
 * in the frame's list (MediaPipe does not track identities). There is no MediaPipe writer.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D, Keypoints3D } from "../convert.ts";
import type { ImageSize } from "../normalize.ts";
import { BLAZEPOSE_33 } from "../skeletons.ts";
import { describeValue, expectObject, isFiniteFloat32, readJsonFile } from "./common.ts";
import { createPoseDocument, type PoseDocument, type PoseTrack } from "./pose_json.ts";

const J = 33;
const LANDMARK_KEYS = ["landmarks", "poseLandmarks", "pose_landmarks"];
const WORLD_KEYS = ["worldLandmarks", "poseWorldLandmarks", "pose_world_landmarks"];

/** Options of `readMediaPipe` / `parseMediaPipe`. */
export interface MediaPipeOptions {
  /** Image width in pixels (overrides the file's). */
  width?: number;
  /** Image height in pixels (overrides the file's). */
  height?: number;
  /** The file already holds pixel coordinates: no scaling, no size needed. */
  pixels?: boolean;
}

interface Landmark {
  x: number;
  y: number;
  z: number;
  score: number | null;
}

function parseLandmark(raw: unknown, where: string): Landmark {
  let x: unknown, y: unknown, z: unknown, score: unknown;
  if (Array.isArray(raw)) {
    if (raw.length < 2 || raw.length > 4) {
      throw new InputError(`${where}: expected [x, y, z?, visibility?], got ${describeValue(raw)}`);
    }
    [x, y, z, score] = raw;
  } else if (typeof raw === "object" && raw !== null) {
    const o = raw as Record<string, unknown>;
    [x, y, z, score] = [o.x, o.y, o.z, o.visibility ?? o.presence];
  } else {
    throw new InputError(`${where}: expected a landmark {x, y, z, visibility}, got ${describeValue(raw)}`);
  }
  const num = (v: unknown, field: string, optional: boolean): number | null => {
    if (optional && (v === undefined || v === null)) return null;
    if (!isFiniteFloat32(v)) {
      throw new InputError(`${where}: "${field}" is ${describeValue(v)}, expected a finite number`);
    }
    return v;
  };
  return {
    x: num(x, "x", false)!,
    y: num(y, "y", false)!,
    z: num(z, "z", true) ?? 0,
    score: num(score, "visibility", true),
  };
}

/** One person's landmarks, or several people's: normalises to a list of people. */
function peopleOf(value: unknown, where: string): Landmark[][] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new InputError(`${where}: expected a list of landmarks, got ${describeValue(value)}`);
  }
  if (value.length === 0) return [];
  // A list of people when the first element is itself a list of landmarks (arrays of arrays/objects).
  const nested = Array.isArray(value[0]) && (value[0].length === J || typeof value[0][0] === "object");
  const lists = nested ? value : [value];
  return lists.map((person, p) => {
    const at = nested ? `${where}[${p}]` : where;
    if (!Array.isArray(person) || person.length !== J) {
      throw new InputError(`${at}: has ${describeValue(person)} landmarks, expected ${J} (BlazePose)`);
    }
    return person.map((lm, j) =>
      parseLandmark(lm, `${at}[${j}] (person ${p}, joint "${BLAZEPOSE_33.joints[j]}")`)
    );
  });
}

function pickKey(entry: Record<string, unknown>, keys: string[]): string | null {
  return keys.find((k) => k in entry) ?? null;
}

/** Validates parsed MediaPipe JSON (see the module notes for the shapes) and returns a blazepose33
 * document. */
export function parseMediaPipe(json: unknown, file: string, options: MediaPipeOptions = {}): PoseDocument {
  let entries: unknown[];
  let size: Partial<ImageSize> = {};
  let fps: number | null = null;
  if (Array.isArray(json)) entries = json;
  else {
    const root = expectObject(json, file);
    const w = root.width ?? root.image_width;
    const h = root.height ?? root.image_height;
    if (typeof w === "number" && typeof h === "number") size = { width: w, height: h };
    if (typeof root.fps === "number" && root.fps > 0) fps = root.fps;
    if (Array.isArray(root.frames)) entries = root.frames;
    else if (pickKey(root, LANDMARK_KEYS)) entries = [root];
    else {throw new InputError(
        `${file}: expected an array of frames, {"frames": [...]} or an object with "landmarks"`,
      );}
  }
  if (entries.length === 0) throw new InputError(`${file}: no frames`);
  const width = options.width ?? size.width;
  const height = options.height ?? size.height;
  const pixels = options.pixels === true;
  if (!pixels && !(typeof width === "number" && width > 0 && typeof height === "number" && height > 0)) {
    throw new InputError(
      `${file}: MediaPipe landmarks are normalised to [0, 1]; give the image size (width/height options, ` +
        `--width/--height, or top-level "width"/"height" fields)`,
    );
  }
  const sx = pixels ? 1 : width!;
  const sy = pixels ? 1 : height!;

  const tracks = new Map<number, { frames: number[]; lm: Landmark[][]; world: (Landmark[] | null)[] }>();
  let anyScore = false;
  let anyWorld = false;
  let lastFrame = -1;
  entries.forEach((raw, i) => {
    if (raw === null) return;
    const where = `${file}: frame entry ${i}`;
    const entry = expectObject(raw, where);
    let frame = i;
    if (entry.frame !== undefined) {
      if (typeof entry.frame !== "number" || !Number.isInteger(entry.frame) || entry.frame < 0) {
        throw new InputError(
          `${where}: "frame" is ${describeValue(entry.frame)}, expected a non-negative integer`,
        );
      }
      frame = entry.frame;
    }
    if (frame <= lastFrame) {
      throw new InputError(`${where}: frame ${frame} does not follow frame ${lastFrame}`);
    }
    lastFrame = frame;
    const key = pickKey(entry, LANDMARK_KEYS);
    const people = key ? peopleOf(entry[key], `${where}: "${key}"`) : [];
    const worldKey = pickKey(entry, WORLD_KEYS);
    const world = worldKey ? peopleOf(entry[worldKey], `${where}: "${worldKey}"`) : [];
    if (world.length > 0 && world.length !== people.length) {
      throw new InputError(
        `${where}: "${worldKey}" has ${world.length} people, "${key}" has ${people.length}`,
      );
    }
    people.forEach((lm, p) => {
      const t = tracks.get(p) ?? { frames: [], lm: [], world: [] };
      t.frames.push(frame);
      t.lm.push(lm);
      t.world.push(world[p] ?? null);
      if (world[p]) anyWorld = true;
      if (lm.some((l) => l.score !== null)) anyScore = true;
      tracks.set(p, t);
    });
  });
  if (tracks.size === 0) {
    throw new InputError(`${file}: no landmarks in any of the ${entries.length} frame entries`);
  }

  const people = [...tracks.entries()].map(([id, t]): PoseTrack => {
    const n = t.frames.length;
    const kp: Keypoints2D = {
      skeleton: "blazepose33",
      frames: n,
      joints: J,
      coords: new Float32Array(n * J * 2),
      scores: anyScore ? new Float32Array(n * J) : null,
      mask: new Uint8Array(n * J).fill(1),
    };
    let kp3: Keypoints3D | null = null;
    if (anyWorld) {
      kp3 = {
        skeleton: "blazepose33",
        frames: n,
        joints: J,
        coords: new Float32Array(n * J * 3),
        mask: new Uint8Array(n * J),
      };
    }
    t.lm.forEach((lms, f) => {
      lms.forEach((l, j) => {
        const i = f * J + j;
        kp.coords[2 * i] = l.x * sx;
        kp.coords[2 * i + 1] = l.y * sy;
        if (!isFiniteFloat32(kp.coords[2 * i]) || !isFiniteFloat32(kp.coords[2 * i + 1])) {
          throw new InputError(
            `${file}: track ${id} frame ${t.frames[f]} landmark ${j}: pixel coordinate overflows`,
          );
        }
        if (kp.scores) kp.scores[i] = l.score ?? 1;
      });
      const w = t.world[f];
      if (kp3 && w) {
        w.forEach((l, j) => {
          const i = f * J + j;
          kp3!.mask[i] = 1;
          kp3!.coords.set([l.x, l.y, l.z], 3 * i);
        });
      }
    });
    return { track: id, frames: t.frames, keypoints2d: kp, keypoints3d: kp3 };
  });
  return createPoseDocument({
    skeleton: "blazepose33",
    units: anyWorld ? "m" : "px",
    frame: anyWorld ? "world" : "image",
    fps,
    image: typeof width === "number" && typeof height === "number" ? { width, height } : null,
    people,
  });
}

/** Reads a MediaPipe landmark JSON file (see the module notes). */
export async function readMediaPipe(path: string, options: MediaPipeOptions = {}): Promise<PoseDocument> {
  return parseMediaPipe(await readJsonFile(path), path, options);
}
