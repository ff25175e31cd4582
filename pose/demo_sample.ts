/**
 * The demo sample shipped with posegpu: CMU motion capture clip 131_01 (start, walk, stop) seen by a
 * virtual Human3.6M-like camera, as 2D keypoints (H36M-17, pixels) with the clip's own 3D joints in the
 * camera frame (mm) as ground truth. It lets `posegpu` be tried and tested with no dataset at hand.
 *
 * How `pose/data/cmu_131_01_2d.json` is made (`tools/make_demo_sample.ts`, from `data/cmu/131_01.bvh`):
 * - forward kinematics of the BVH (with End Sites), CMU-31 → H36M-17 by `CMU_TO_H36M`, units × `CMU_UNIT_MM`
 *   (world axes of the BVH: Y up, millimetres);
 * - every 12th frame of the 120 fps clip → 10 fps, the rate of the Human3.6M data posegpu trains on;
 *   994 frames → 83 (BVH frames 0, 12, ..., 984, listed in `frame_ids`);
 * - a pinhole camera without distortion, f = (1145, 1145) px, c = (512, 515) px, image 1000 × 1002
 *   (Human3.6M's first camera, rounded); its centre 1.5 m above the floor, 4.75 m horizontally from
 *   the centre of the subject's bounding box over the clip, in the direction the subject faces on
 *   average, looking at that centre. The subject walks towards the camera: joints lie 3.4–6.5 m from
 *   it and at x 142–757 px, y 344–755 px in the image;
 * - 3D in camera coordinates rounded to 0.1 mm; 2D projected from those rounded values and rounded to
 *   0.001 px, so the stored 2D reprojects from the stored 3D to within 0.001 px.
 *
 * File layout: a pose JSON document (schema v1) with one track holding `keypoints2d` and, as ground
 * truth, `keypoints3d`; the track's `meta.camera` is the camera record (as in `h36m/cameras.json`,
 * world = BVH axes in mm) and `meta.source` the provenance.
 *
 * Licence: the CMU Graphics Lab Motion Capture Database is free for research and commercial use;
 * "The data used in this project was obtained from mocap.cs.cmu.edu. The database was created with
 * funding from NSF EIA-0196217."
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { type Camera, parseCamera } from "./cameras.ts";
import type { Keypoints2D, Keypoints3D } from "./convert.ts";
import { parsePoseJson, type PoseDocument } from "./formats/pose_json.ts";

/** Where the demo sample lives, relative to this module (a file: URL locally, https: from JSR). */
export const DEMO_SAMPLE_URL: URL = new URL("./data/cmu_131_01_2d.json", import.meta.url);

/** Frame step of the demo sample over the 120 fps BVH (every 12th frame → 10 fps). */
export const DEMO_SAMPLE_FRAME_STEP = 12;

/** Frames of the demo sample: ⌈994 / 12⌉. */
export const DEMO_SAMPLE_FRAMES = 83;

/** Where the demo sample comes from (`meta.source` of the file). */
export interface DemoSampleSource {
  /** Dataset name. */
  dataset: string;
  /** Dataset address (to acknowledge). */
  url: string;
  /** Clip id, e.g. "131_01". */
  clip: string;
  /** Clip description. */
  description: string;
  /** Frame rate of the source clip. */
  sourceFps: number;
  /** Every how many source frames one was kept. */
  frameStep: number;
  /** How the virtual camera was placed. */
  camera: string;
  /** Tool that made the file. */
  tool: string;
  /** Licence and acknowledgement. */
  licence: string;
}

/** The demo sample, loaded. */
export interface DemoSample {
  /** The whole document (2D keypoints and ground-truth 3D in one track). */
  doc: PoseDocument;
  /** The virtual camera (no distortion). */
  camera: Camera;
  /** 2D keypoints, H36M-17, pixels. */
  keypoints2d: Keypoints2D;
  /** Ground-truth 3D keypoints, H36M-17, camera frame, millimetres. */
  groundTruth3d: Keypoints3D;
  /** Frames per second (10). */
  fps: number;
  /** Provenance. */
  source: DemoSampleSource;
}

function text(meta: Record<string, unknown>, key: string, where: string): string {
  const v = meta[key];
  if (typeof v !== "string") throw new InputError(`${where}: meta.source.${key} must be a string`);
  return v;
}

function num(meta: Record<string, unknown>, key: string, where: string): number {
  const v = meta[key];
  if (typeof v !== "number" || !(v > 0)) {
    throw new InputError(`${where}: meta.source.${key} must be a positive number`);
  }
  return v;
}

/** Validates the demo sample's parsed JSON; `where` names it in errors. */
export function parseDemoSample(json: unknown, where: string): DemoSample {
  const doc = parsePoseJson(json, where);
  if (doc.skeleton !== "h36m17" || doc.units !== "mm" || doc.frame !== "camera" || doc.fps === null) {
    throw new InputError(`${where}: expected h36m17 keypoints, 3D in mm in the camera frame, and an fps`);
  }
  const track = doc.people[0];
  if (doc.people.length !== 1 || !track.keypoints2d || !track.keypoints3d) {
    throw new InputError(`${where}: expected one track with both keypoints2d and keypoints3d`);
  }
  const meta = track.meta ?? {};
  const camera = parseCamera(meta.camera, { where: `${where}: people[0].meta.camera`, id: "virtual" });
  const src = meta.source;
  if (typeof src !== "object" || src === null || Array.isArray(src)) {
    throw new InputError(`${where}: people[0].meta.source must be an object`);
  }
  const s = src as Record<string, unknown>;
  const source: DemoSampleSource = {
    dataset: text(s, "dataset", where),
    url: text(s, "url", where),
    clip: text(s, "clip", where),
    description: text(s, "description", where),
    sourceFps: num(s, "source_fps", where),
    frameStep: num(s, "frame_step", where),
    camera: text(s, "camera", where),
    tool: text(s, "tool", where),
    licence: text(s, "licence", where),
  };
  return {
    doc,
    camera,
    keypoints2d: track.keypoints2d,
    groundTruth3d: track.keypoints3d,
    fps: doc.fps,
    source,
  };
}

/** Options of `loadDemoSample`. */
export interface LoadDemoSampleOptions {
  /** Read the sample from another address (default `DEMO_SAMPLE_URL`). */
  url?: URL | string;
}

/**
 * Loads the demo sample shipped beside this module: read from disk when the module is a local file,
 * fetched when it was loaded over http(s) (e.g. from JSR; Deno then needs `--allow-net` for that host).
 */
export async function loadDemoSample(options: LoadDemoSampleOptions = {}): Promise<DemoSample> {
  const url = new URL(options.url ?? DEMO_SAMPLE_URL);
  let body: string;
  try {
    if (url.protocol === "file:") body = await Deno.readTextFile(url);
    else if (url.protocol === "http:" || url.protocol === "https:") {
      const res = await fetch(url);
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status} ${res.statusText}`);
      }
      body = await res.text();
    } else throw new Error(`unsupported protocol ${url.protocol}`);
  } catch (e) {
    throw new InputError(`${url.href}: cannot read the demo sample (${(e as Error).message})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    throw new InputError(`${url.href}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseDemoSample(json, url.href);
}
