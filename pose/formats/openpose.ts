/**
 * OpenPose JSON output: one `<name>_<frame number>_keypoints.json` file per frame, each
 * `{"people": [{"person_id": ..., "pose_keypoints_2d": [x, y, c] × 25, ...}]}` (BODY_25).
 *
 * Reading a folder takes every `*_keypoints.json` in it, sorted by the frame number (the last run of
 * digits before `_keypoints.json`); a single file is frame 0 unless its name carries a number. The frame
 * index of a person is that number. OpenPose gives no identities unless run with tracking: a person's
 * track is its `person_id` when that is a non-negative number (or `[id]`), else its position in the
 * frame's `people` list. A keypoint with confidence 0 (OpenPose writes `0, 0, 0` for undetected ones) is
 * missing; others are present with their confidence as score (conversions apply `minScore`).
 * @module
 */

import { basename, join } from "node:path";
import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import type { Keypoints2D } from "../convert.ts";
import { BODY_25 } from "../skeletons.ts";
import { describeValue, expectObject, isFiniteFloat32, readJsonFile, shortFloat32 } from "./common.ts";
import { createPoseDocument, type PoseDocument, type PoseTrack, validatePoseDocument } from "./pose_json.ts";

const J = 25;
const FRAME_NAME = /(\d+)_keypoints\.json$/;

/** One frame file of OpenPose output. */
export interface OpenPoseFrameFile {
  /** Frame number. */
  frame: number;
  /** File path. */
  path: string;
}

/** Lists the `*_keypoints.json` files of a folder sorted by frame number (throws on none, on names
 * without a number and on two files of the same frame). */
export async function listOpenPoseFrames(folder: string): Promise<OpenPoseFrameFile[]> {
  const files: OpenPoseFrameFile[] = [];
  try {
    for await (const e of Deno.readDir(folder)) {
      if (!e.isFile || !e.name.endsWith("_keypoints.json")) continue;
      const m = FRAME_NAME.exec(e.name);
      if (!m) throw new InputError(`${join(folder, e.name)}: no frame number before "_keypoints.json"`);
      files.push({ frame: Number(m[1]), path: join(folder, e.name) });
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${folder}: cannot list the folder (${(e as Error).message})`, { cause: e });
  }
  if (files.length === 0) throw new InputError(`${folder}: no OpenPose *_keypoints.json files`);
  files.sort((a, b) => a.frame - b.frame || a.path.localeCompare(b.path));
  for (let i = 1; i < files.length; i++) {
    if (files[i].frame === files[i - 1].frame) {
      throw new InputError(
        `${folder}: two files for frame ${files[i].frame} (${basename(files[i - 1].path)}, ${
          basename(files[i].path)
        })`,
      );
    }
  }
  return files;
}

/** One person of one frame file. */
export interface OpenPosePerson {
  /** `person_id` when OpenPose tracked people, else null. */
  personId: number | null;
  /** `[x, y, c] × 25`. */
  keypoints: number[];
}

/** Validates one parsed frame file; returns its people. */
export function parseOpenPoseFrame(json: unknown, file: string): OpenPosePerson[] {
  const root = expectObject(json, file);
  if (!Array.isArray(root.people)) {
    throw new InputError(`${file}: "people" is ${describeValue(root.people)}, expected an array`);
  }
  return root.people.map((raw, i) => {
    const where = `${file}: person ${i}`;
    const p = expectObject(raw, where);
    const kps = p.pose_keypoints_2d;
    if (!Array.isArray(kps)) {
      throw new InputError(
        `${where}: "pose_keypoints_2d" is ${describeValue(kps)}, expected ${3 * J} numbers`,
      );
    }
    if (kps.length !== 3 * J) {
      const hint = kps.length === 54 ? " (COCO-18 output: rerun OpenPose with --model_pose BODY_25)" : "";
      throw new InputError(
        `${where}: "pose_keypoints_2d" has ${kps.length} numbers, expected ${3 * J} (BODY_25)${hint}`,
      );
    }
    kps.forEach((v, k) => {
      if (!isFiniteFloat32(v)) {
        throw new InputError(
          `${where}: "pose_keypoints_2d"[${k}] (keypoint ${Math.floor(k / 3)}, joint "${
            BODY_25.joints[Math.floor(k / 3)]
          }" ${["x", "y", "confidence"][k % 3]}) is ${describeValue(v)}, expected a finite number`,
        );
      }
    });
    let id: unknown = p.person_id;
    if (Array.isArray(id)) id = id[0];
    const personId = typeof id === "number" && Number.isInteger(id) && id >= 0 ? id : null;
    return { personId, keypoints: kps as number[] };
  });
}

/** Reads OpenPose output (a folder of frame files, or one frame file) as a body25 document. */
export async function readOpenPose(path: string): Promise<PoseDocument> {
  let frames: OpenPoseFrameFile[];
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  if (info.isDirectory) frames = await listOpenPoseFrames(path);
  else {
    const m = FRAME_NAME.exec(basename(path));
    frames = [{ frame: m ? Number(m[1]) : 0, path }];
  }
  // track id -> per-frame rows
  const tracks = new Map<number, { frames: number[]; rows: number[][] }>();
  for (const { frame, path: file } of frames) {
    const people = parseOpenPoseFrame(await readJsonFile(file), file);
    const seen = new Set<number>();
    people.forEach((p, i) => {
      const id = p.personId ?? i;
      if (seen.has(id)) throw new InputError(`${file}: person_id ${id} appears twice in the frame`);
      seen.add(id);
      const t = tracks.get(id) ?? { frames: [], rows: [] };
      t.frames.push(frame);
      t.rows.push(p.keypoints);
      tracks.set(id, t);
    });
  }
  if (tracks.size === 0) {
    throw new InputError(`${path}: no people in any of the ${frames.length} frame file(s)`);
  }
  const people = [...tracks.entries()].sort((a, b) => a[0] - b[0]).map(([id, t]): PoseTrack => {
    const n = t.frames.length;
    const kp: Keypoints2D = {
      skeleton: "body25",
      frames: n,
      joints: J,
      coords: new Float32Array(n * J * 2),
      scores: new Float32Array(n * J),
      mask: new Uint8Array(n * J),
    };
    t.rows.forEach((row, f) => {
      for (let j = 0; j < J; j++) {
        const i = f * J + j;
        const c = row[3 * j + 2];
        kp.scores![i] = c;
        if (c > 0) {
          kp.mask[i] = 1;
          kp.coords[2 * i] = row[3 * j];
          kp.coords[2 * i + 1] = row[3 * j + 1];
        }
      }
    });
    return { track: id, frames: t.frames, keypoints2d: kp, keypoints3d: null };
  });
  return createPoseDocument({ skeleton: "body25", people });
}

/** Options of `writeOpenPose`. */
export interface WriteOpenPoseOptions {
  /** File name prefix (default "frame"): files are `<prefix>_<frame, 12 digits>_keypoints.json`. */
  prefix?: string;
}

/** Writes a body25 document as an OpenPose folder: one file per frame from the first to the last frame
 * any person appears in (frames without people get `"people": []`); missing joints are `0, 0, 0`. */
export async function writeOpenPose(
  folder: string,
  doc: PoseDocument,
  options: WriteOpenPoseOptions = {},
): Promise<void> {
  if (doc.skeleton !== "body25") {
    throw new InputError(`OpenPose output needs skeleton body25, the poses are ${doc.skeleton}`);
  }
  validatePoseDocument(doc, "OpenPose output");
  const prefix = options.prefix ?? "frame";
  const byFrame = new Map<number, { person_id: number[]; pose_keypoints_2d: number[] }[]>();
  for (const p of doc.people) {
    const kp = p.keypoints2d;
    if (!kp) continue;
    p.frames.forEach((frame, f) => {
      const flat: number[] = [];
      for (let j = 0; j < J; j++) {
        const i = f * J + j;
        if (kp.mask[i]) {
          flat.push(
            shortFloat32(kp.coords[2 * i]),
            shortFloat32(kp.coords[2 * i + 1]),
            kp.scores ? shortFloat32(kp.scores[i]) : 1,
          );
        } else flat.push(0, 0, 0);
      }
      const list = byFrame.get(frame) ?? [];
      list.push({ person_id: [p.track], pose_keypoints_2d: flat });
      byFrame.set(frame, list);
    });
  }
  if (byFrame.size === 0) throw new InputError("OpenPose output: the poses have no 2D keypoints");
  const first = Math.min(...byFrame.keys());
  const last = Math.max(...byFrame.keys());
  await Deno.mkdir(folder, { recursive: true });
  for (let frame = first; frame <= last; frame++) {
    const body = { version: 1.3, people: byFrame.get(frame) ?? [] };
    const name = `${prefix}_${String(frame).padStart(12, "0")}_keypoints.json`;
    await writeFileAtomic(join(folder, name), JSON.stringify(body) + "\n");
  }
}
