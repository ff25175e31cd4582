/**
 * Training samples from a Human3.6M folder in the shared format (`<dir>/S<n>.safetensors`,
 * `<dir>/cameras.json`): one sample per frame and camera, with
 *
 * - 2D input `[N, 17, 2]` pixels in H36M-17 order: the ground truth projected through the camera (with
 *   distortion, `projectSequence`) for `"gt"`, or the Stacked Hourglass detections for `"sh"`. The SH
 *   detections have no Neck/Nose; it is filled with the midpoint of Thorax and Head (on the ground truth
 *   of S1 the projected Neck/Nose lies at 0.495 of the Thorax→Head segment, 0.015 off it), which
 *   17-joint models see and the 16-joint Martinez input drops again.
 * - 3D target `[N, 17, 3]`: camera-frame coordinates, root-relative, mm.
 * - the camera's image size per sample, and clips (one per sequence × camera, contiguous samples) for
 *   temporal models.
 * @module
 */

import { join } from "node:path";
import { InputError } from "../../engine/errors.ts";
import { getCamera, loadH36mCameras } from "../../pose/cameras.ts";
import { loadH36mSubject, projectSequence, sequenceInCamera } from "../../pose/h36m.ts";
import { HEAD, NOSE, rootRelativeInPlace, THORAX } from "./codec.ts";

/** One sequence × camera: samples `start .. start + frames − 1`. */
export interface PoseClip {
  /** Subject. */
  subject: string;
  /** Sequence name. */
  sequence: string;
  /** Camera id. */
  camera: string;
  /** First sample. */
  start: number;
  /** Number of samples. */
  frames: number;
}

/** Samples of one or more subjects. */
export interface PoseSet {
  /** Number of samples N. */
  count: number;
  /** `[N, 17, 2]` pixels. */
  input2d: Float32Array;
  /** `[N, 17, 3]` root-relative camera-frame mm. */
  target3d: Float32Array;
  /** Image width per sample. */
  width: Float32Array;
  /** Image height per sample. */
  height: Float32Array;
  /** Clips in sample order. */
  clips: PoseClip[];
}

/** Options of `loadH36mPoses`. */
export interface LoadPosesOptions {
  /** Subjects to read, e.g. `["S1", "S5"]`. */
  subjects: readonly string[];
  /** 2D input kind. */
  input: "gt" | "sh";
  /** Keep every k-th frame (default 1). */
  stride?: number;
}

/** Fills Neck/Nose of `[N, 17, 2]` poses (in place) with the midpoint of Thorax and Head. */
export function fillNeckNose(poses: Float32Array): Float32Array {
  for (let o = 0; o < poses.length; o += 34) {
    poses[o + 2 * NOSE] = 0.5 * (poses[o + 2 * THORAX] + poses[o + 2 * HEAD]);
    poses[o + 2 * NOSE + 1] = 0.5 * (poses[o + 2 * THORAX + 1] + poses[o + 2 * HEAD + 1]);
  }
  return poses;
}

/** SH detections `[T, 16, 2]` (H36M-17 without Neck/Nose) → `[T, 17, 2]` with Neck/Nose filled. */
export function shTo17(sh: Float32Array): Float32Array {
  const t = sh.length / 32;
  const out = new Float32Array(t * 34);
  for (let f = 0; f < t; f++) {
    out.set(sh.subarray(f * 32, f * 32 + 2 * NOSE), f * 34);
    out.set(sh.subarray(f * 32 + 2 * NOSE, f * 32 + 32), f * 34 + 2 * NOSE + 2);
  }
  return fillNeckNose(out);
}

/** Reads the samples of `subjects` from a Human3.6M folder. */
export async function loadH36mPoses(dir: string, options: LoadPosesOptions): Promise<PoseSet> {
  if (options.subjects.length === 0) throw new InputError("h36m data: no subjects given");
  const stride = Math.max(1, Math.floor(options.stride ?? 1));
  const cameras = await loadH36mCameras(join(dir, "cameras.json"));
  const parts: { in2d: Float32Array; t3d: Float32Array; w: number; h: number; clip: PoseClip }[] = [];
  let count = 0;
  for (const subject of options.subjects) {
    const path = join(dir, `${subject}.safetensors`);
    try {
      await Deno.stat(path);
    } catch {
      throw new InputError(`h36m data: ${path} does not exist (subject ${subject})`);
    }
    const s = await loadH36mSubject(path);
    for (const seq of s.sequences) {
      for (const camId of seq.cameras) {
        const cam = getCamera(cameras, subject, camId);
        let in2d = options.input === "gt" ? projectSequence(seq, cam) : shTo17(seq.sh2d.get(camId)!);
        let t3d = rootRelativeInPlace(sequenceInCamera(seq, cam));
        if (stride > 1) {
          const keep = Math.ceil(seq.frames / stride);
          const a = new Float32Array(keep * 34), b = new Float32Array(keep * 51);
          for (let i = 0; i < keep; i++) {
            a.set(in2d.subarray(i * stride * 34, i * stride * 34 + 34), i * 34);
            b.set(t3d.subarray(i * stride * 51, i * stride * 51 + 51), i * 51);
          }
          in2d = a;
          t3d = b;
        }
        const frames = in2d.length / 34;
        parts.push({
          in2d,
          t3d,
          w: cam.resW,
          h: cam.resH,
          clip: { subject, sequence: seq.name, camera: camId, start: count, frames },
        });
        count += frames;
      }
    }
  }
  const set: PoseSet = {
    count,
    input2d: new Float32Array(count * 34),
    target3d: new Float32Array(count * 51),
    width: new Float32Array(count),
    height: new Float32Array(count),
    clips: parts.map((p) => p.clip),
  };
  for (const p of parts) {
    set.input2d.set(p.in2d, p.clip.start * 34);
    set.target3d.set(p.t3d, p.clip.start * 51);
    set.width.fill(p.w, p.clip.start, p.clip.start + p.clip.frames);
    set.height.fill(p.h, p.clip.start, p.clip.start + p.clip.frames);
  }
  return set;
}

/** The most common image size of a set (the default screen size of a screen-normalised model). */
export function commonImageSize(set: PoseSet): { width: number; height: number } {
  const counts = new Map<string, number>();
  for (let i = 0; i < set.count; i++) {
    const k = `${set.width[i]}x${set.height[i]}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const [best] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  const [width, height] = best.split("x").map(Number);
  return { width, height };
}
