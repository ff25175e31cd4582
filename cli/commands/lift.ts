/**
 * `posegpu lift`: 2D keypoints (COCO, OpenPose, MediaPipe, pose JSON, CSV) to 3D with a lifting model.
 *
 * Every track of the input is converted to H36M-17 (`convertPoseDocument`, which keeps missing joints
 * missing), all frames of all tracks go through the network in one batched pass per chunk, and each
 * track gets root-relative camera-frame 3D in millimetres. Frames without enough 2D joints to lift stay
 * missing (mask 0) in the 3D. `liftPoseDocument` and `resolveWeights` are shared with `posegpu demo`.
 * @module
 */

import { basename, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { adapterSummary } from "../../engine/device.ts";
import { initEngine } from "../../engine/backend.ts";
import { EnvironmentError, InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import { type Lifter, type LiftOptions, loadLifter } from "../../models/lifter.ts";
import type { WeightDtype } from "../../layers/linear.ts";
import type { Keypoints3D } from "../../pose/convert.ts";
import { DEFAULT_MIN_SCORE } from "../../pose/convert.ts";
import { oneEuroFilterDocument } from "../../pose/filters/one_euro.ts";
import {
  formatFromExtension,
  parsePoseFormat,
  POSE_FORMATS,
  readPoseDocument,
  writePoseDocument,
} from "../../pose/formats/detect.ts";
import { convertPoseDocument, type PoseDocument, type PoseTrack } from "../../pose/formats/pose_json.ts";
import type { ImageSize } from "../../pose/normalize.ts";
import { viewerHtml } from "../../pose/viz/html_viewer.ts";

/** The shipped models `--model` names, each a file `weights/<name>.safetensors` beside the package. */
export const SHIPPED_MODELS: readonly string[] = Object.freeze(["martinez_sh", "martinez_gt"]);

/** The default model: trained on Stacked Hourglass detections, so it tolerates real detector noise. */
export const DEFAULT_MODEL = "martinez_sh";

/** Default fewest present H36M-17 joints a person-frame needs to be lifted (the lifter fills the rest). */
export const MIN_JOINTS = 8;

/**
 * Default score threshold of the conversion to H36M-17 when lifting: 0, i.e. every joint the detector
 * placed is used whatever its score, as lifting pipelines do (VideoPose3D, MMPose); only joints a format
 * marks as absent (OpenPose zeros, COCO v=0, ...) are missing.
 */
export const LIFT_MIN_SCORE = 0;

/** Where a model's weights are: a path given by the user, or a shipped file by its URL. */
export interface WeightsSource {
  /** What to call the weights in messages and in the output's `weights` field. */
  label: string;
  /** A local path (user files and shipped files of a local checkout). */
  path: string | null;
  /** A remote URL (the package loaded from JSR/https); fetched. */
  url: URL | null;
  /** Whether the file is one posegpu ships (a missing one is an installation problem, exit 2). */
  shipped: boolean;
}

/**
 * Resolves `--model`/`--weights` to a weights file: `--weights FILE` wins; else `--model NAME` (a shipped
 * model, default `martinez_sh`) is `weights/NAME.safetensors` relative to this module (import.meta.url),
 * so it works from any working directory and from a remote package.
 */
export function resolveWeights(options: { model?: string; weights?: string } = {}): WeightsSource {
  if (options.weights !== undefined) {
    return { label: options.weights, path: options.weights, url: null, shipped: false };
  }
  const name = options.model ?? DEFAULT_MODEL;
  if (!SHIPPED_MODELS.includes(name)) {
    throw new InputError(
      `unknown model "${name}": shipped models are ${SHIPPED_MODELS.join(", ")} (or pass --weights FILE)`,
    );
  }
  const url = new URL(`../../weights/${name}.safetensors`, import.meta.url);
  const label = `weights/${name}.safetensors`;
  if (url.protocol === "file:") return { label, path: fileURLToPath(url), url: null, shipped: true };
  return { label, path: null, url, shipped: true };
}

/** Loads a lifter from a resolved weights source (BN folded; errors name the file). */
export async function openLifter(
  source: WeightsSource,
  options: { weightsDtype?: WeightDtype } = {},
): Promise<Lifter> {
  let bytes: Uint8Array | null = null;
  if (source.path !== null) {
    try {
      await Deno.stat(source.path);
    } catch (e) {
      const why = `${source.path}: cannot read the weights (${(e as Error).message})`;
      if (source.shipped) {
        throw new EnvironmentError(`${why}; the installation lacks the shipped ${source.label}`, {
          cause: e,
        });
      }
      throw new InputError(why, { cause: e });
    }
  } else if (source.url !== null) {
    try {
      const res = await fetch(source.url);
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status} ${res.statusText}`);
      }
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new EnvironmentError(`${source.url.href}: cannot fetch the weights (${(e as Error).message})`, {
        cause: e,
      });
    }
  }
  return await loadLifter(bytes ?? source.path!, { weightsDtype: options.weightsDtype });
}

/** Parses `--weights-dtype` (f32 or f16; default f32). */
export function weightsDtypeFlag(text: string | undefined): WeightDtype {
  if (text === undefined) return "f32";
  if (text !== "f32" && text !== "f16") throw new InputError(`--weights-dtype ${text}: expected f32 or f16`);
  return text;
}

/** Options of `liftPoseDocument`. */
export interface LiftDocumentOptions {
  /** Network batch size (default: the lifter's). */
  batchSize?: number;
  /** Input mapping of the lifter (see `LiftOptions.normalizeInput`; default "h36m-camera"). */
  normalizeInput?: LiftOptions["normalizeInput"];
  /** Flip testing (see `LiftOptions.flipTest`; default false). */
  flipTest?: boolean;
  /** Image size of the 2D keypoints when the document does not know it. */
  image?: ImageSize | null;
  /** Conversion to H36M-17: joints scored below this are missing (default `LIFT_MIN_SCORE`). */
  minScore?: number;
  /** Fewest present joints a person-frame needs to be lifted (default `MIN_JOINTS`). */
  minJoints?: number;
  /** Frames per chunk between progress reports (default 4096). */
  chunk?: number;
  /** Called after each chunk with the frames done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Model name and weights label to record in the output document. */
  model?: string | null;
  /** Weights label to record. */
  weights?: string | null;
}

/** What `liftPoseDocument` returns. */
export interface LiftedDocument {
  /** The output: H36M-17, each track's 2D (converted) and 3D (root-relative camera frame, mm). */
  doc: PoseDocument;
  /** Person-frames lifted. */
  lifted: number;
  /** Person-frames left without 3D (fewer than `minJoints` 2D joints). */
  skipped: number;
  /** Tracks without 2D keypoints (dropped). */
  droppedTracks: number;
  /** Seconds spent in the network (upload, forward, readback). */
  seconds: number;
}

/**
 * Lifts every track of a document to 3D: converts to H36M-17, lifts all person-frames with at least
 * `minJoints` joints in batched passes, and returns a document with both 2D and 3D per track.
 * Throws `InputError` when no track has 2D keypoints.
 */
export async function liftPoseDocument(
  lifter: Lifter,
  input: PoseDocument,
  options: LiftDocumentOptions = {},
): Promise<LiftedDocument> {
  const doc = convertPoseDocument(input, "h36m17", { minScore: options.minScore ?? LIFT_MIN_SCORE });
  const minJoints = options.minJoints ?? MIN_JOINTS;
  const tracks = doc.people.filter((p) => p.keypoints2d);
  if (tracks.length === 0) throw new InputError("the poses have no 2D keypoints to lift");
  // Gather the liftable person-frames of every track into one [N, 17, 2] batch.
  const where: { t: number; f: number }[] = [];
  tracks.forEach((p, t) => {
    const kp = p.keypoints2d!;
    for (let f = 0; f < kp.frames; f++) {
      let present = 0;
      for (let j = 0; j < 17; j++) present += kp.mask[f * 17 + j] ? 1 : 0;
      if (present >= minJoints) where.push({ t, f });
    }
  });
  const n = where.length;
  const coords = new Float32Array(n * 34);
  const mask = new Uint8Array(n * 17);
  where.forEach(({ t, f }, i) => {
    const kp = tracks[t].keypoints2d!;
    coords.set(kp.coords.subarray(f * 34, f * 34 + 34), i * 34);
    mask.set(kp.mask.subarray(f * 17, f * 17 + 17), i * 17);
  });
  const image = doc.image ?? options.image ?? undefined;
  const chunk = Math.max(1, options.chunk ?? 4096);
  const out = new Float32Array(n * 51);
  const t0 = performance.now();
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const y = await lifter.lift(coords.subarray(s * 34, e * 34), {
      mask: mask.subarray(s * 17, e * 17),
      image,
      batchSize: options.batchSize,
      normalizeInput: options.normalizeInput,
      flipTest: options.flipTest,
    });
    out.set(y, s * 51);
    options.onProgress?.(e, n);
  }
  const seconds = (performance.now() - t0) / 1000;
  const k3: Keypoints3D[] = tracks.map((p) => ({
    skeleton: "h36m17",
    frames: p.frames.length,
    joints: 17,
    coords: new Float32Array(p.frames.length * 51),
    mask: new Uint8Array(p.frames.length * 17),
  }));
  where.forEach(({ t, f }, i) => {
    k3[t].coords.set(out.subarray(i * 51, i * 51 + 51), f * 51);
    k3[t].mask.fill(1, f * 17, f * 17 + 17);
  });
  const people: PoseTrack[] = tracks.map((p, t) => ({ ...p, keypoints3d: k3[t] }));
  return {
    doc: {
      ...doc,
      units: "mm",
      frame: "camera",
      model: options.model ?? null,
      weights: options.weights ?? null,
      people,
    },
    lifted: n,
    skipped: tracks.reduce((s, p) => s + p.frames.length, 0) - n,
    droppedTracks: doc.people.length - tracks.length,
    seconds,
  };
}

/** Parses `WxH` (e.g. `1920x1080`). */
export function parseImageSize(text: string, flag = "--image"): ImageSize {
  const m = /^(\d+)[x×,](\d+)$/i.exec(text.trim());
  const width = m ? Number(m[1]) : NaN, height = m ? Number(m[2]) : NaN;
  if (!(width > 0 && height > 0)) {
    throw new InputError(`${flag} ${text}: expected WIDTHxHEIGHT, e.g. 1920x1080`);
  }
  return { width, height };
}

/** Parses a positive number flag. */
export function positiveFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(Number.isFinite(v) && v > 0)) throw new InputError(`${flag} ${text} is not a positive number`);
  return v;
}

const HELP = `posegpu lift — lift 2D keypoints to 3D (root-relative, camera frame, millimetres)

Usage:
  posegpu lift INPUT [--out OUT.json|.csv|.bvh] [--model NAME | --weights FILE] [options]

INPUT is any keypoint file posegpu reads: COCO results or annotations JSON, an OpenPose JSON folder,
MediaPipe landmark JSON, posegpu pose JSON, or CSV (format detected, or --format). Single images and
sequences alike: every track (person) is lifted frame by frame, several people per frame included;
keypoints are converted to H36M-17 first (COCO-17/BODY_25/BlazePose: see pose/convert.ts). Every joint
the detector placed is used whatever its score (as lifting pipelines do; --min-score to drop weak ones);
joints the input marks absent are filled in by the lifter, and person-frames with fewer than --min-joints
joints get no 3D (mask 0).

Options:
  --out FILE         output (default INPUT-NAME_3d.json in the current folder): .json pose JSON (2D + 3D
                     per track), .csv, or .bvh (one track; --track)
  --format FMT       input format (${POSE_FORMATS.join(", ")})
  --model NAME       shipped model: ${SHIPPED_MODELS.join(", ")} (default ${DEFAULT_MODEL}: trained on Stacked
                     Hourglass detections, meant for real detector output; martinez_gt: on clean 2D)
  --weights FILE     a posegpu checkpoint (.safetensors from posegpu train) instead of a shipped model
  --fps N            frame rate of the sequence (default: the input's); needed by --smooth
  --smooth           One-Euro filter on each track's 3D (--min-cutoff, --beta; needs an fps)
  --min-cutoff HZ    One-Euro minimum cutoff (default 1)
  --beta B           One-Euro speed coefficient (default 0)
  --normalize MODE   auto (default): move and scale each pose to where the training camera saw people
                     (any camera, any image size); h36m-camera: feed the pixels as they are (a
                     Human3.6M-like camera: 1000 px images, people 3-6 m away)
  --image WxH        image size of the 2D keypoints when the input does not say (e.g. 1920x1080)
  --min-score X      joints scored below X are missing (default ${LIFT_MIN_SCORE}; posegpu convert uses ${DEFAULT_MIN_SCORE})
  --min-joints N     fewest present H36M-17 joints to lift a person-frame (default ${MIN_JOINTS})
  --batch-size N     network batch size (default: the lifter's)
  --flip-test        also lift the mirrored 2D and average with the mirrored-back 3D (twice the work)
  --weights-dtype T  f32 (default) or f16: store the Linear weights as f16 on adapters with shader-f16
                     (half the weight bytes; outputs move by hundredths of a mm)
  --track ID         BVH output: which track (default: the first)
  --view FILE.html   also write the HTML viewer of the result
  --json             print a JSON summary on stdout (numbers: people, frames, poses/s, ...)
  -h, --help         this help

Progress goes to stderr. Exit codes: 0 done, 1 bad input (the file/record at fault is named),
2 environment (no WebGPU adapter, shipped weights missing).

Examples:
  posegpu lift person_keypoints_val2017_results.json --out lifted.json --view lifted.html
  posegpu lift openpose_json/ --fps 30 --smooth --out walk.bvh
  posegpu lift landmarks.json --image 1920x1080 --out walk.csv --json
  posegpu lift poses.json --weights my_martinez.safetensors --out my_lift.json`;

/** The `lift` command. */
export const command: Command = {
  name: "lift",
  summary: "lift 2D keypoints (COCO, OpenPose, MediaPipe, pose JSON, CSV) to 3D",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("lift", args, {
      out: { type: "string" },
      format: { type: "string" },
      model: { type: "string" },
      weights: { type: "string" },
      fps: { type: "string" },
      smooth: { type: "boolean", default: false },
      "min-cutoff": { type: "string" },
      beta: { type: "string" },
      image: { type: "string" },
      normalize: { type: "string", default: "auto" },
      "min-score": { type: "string" },
      "min-joints": { type: "string" },
      "batch-size": { type: "string" },
      "weights-dtype": { type: "string" },
      "flip-test": { type: "boolean", default: false },
      track: { type: "string" },
      view: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new InputError(`expected one input file or folder, got ${positionals.length} (see --help)`);
    }
    const input = positionals[0];
    if (values.model !== undefined && values.weights !== undefined) {
      throw new InputError("give --model or --weights, not both");
    }
    const stem = basename(input.replace(/\/+$/, ""), extname(input.replace(/\/+$/, ""))) || "poses";
    const out = (values.out as string | undefined) ?? `${stem}_3d.json`;
    const outFormat = formatFromExtension(out) ?? "pose-json";
    if (extname(out) !== "" && formatFromExtension(out) === null) {
      throw new InputError(`--out ${out}: expected a .json, .csv or .bvh file`);
    }
    const fps = positiveFlag(values.fps as string | undefined, "--fps");
    const minCutoff = positiveFlag(values["min-cutoff"] as string | undefined, "--min-cutoff");
    const betaText = values.beta as string | undefined;
    const beta = betaText === undefined ? undefined : Number(betaText);
    if (beta !== undefined && !(Number.isFinite(beta) && beta >= 0)) {
      throw new InputError(`--beta ${betaText} is not a non-negative number`);
    }
    const minScoreText = values["min-score"] as string | undefined;
    const minScore = minScoreText === undefined ? undefined : Number(minScoreText);
    if (minScore !== undefined && !(Number.isFinite(minScore) && minScore >= 0)) {
      throw new InputError(`--min-score ${minScoreText} is not a non-negative number`);
    }
    const minJointsText = values["min-joints"] as string | undefined;
    const minJoints = minJointsText === undefined ? undefined : Number(minJointsText);
    if (minJoints !== undefined && !(Number.isInteger(minJoints) && minJoints >= 1 && minJoints <= 17)) {
      throw new InputError(`--min-joints ${minJointsText}: expected an integer 1..17`);
    }
    const batch = positiveFlag(values["batch-size"] as string | undefined, "--batch-size");
    if (batch !== undefined && !Number.isInteger(batch)) {
      throw new InputError(`--batch-size ${batch}: not an integer`);
    }
    const weightsDtype = weightsDtypeFlag(values["weights-dtype"] as string | undefined);
    const trackText = values.track as string | undefined;
    const track = trackText === undefined ? undefined : Number(trackText);
    if (track !== undefined && !Number.isInteger(track)) {
      throw new InputError(`--track ${trackText}: not an integer`);
    }
    const image = values.image === undefined ? null : parseImageSize(values.image as string);
    const normalize = values.normalize as string;
    if (normalize !== "auto" && normalize !== "h36m-camera") {
      throw new InputError(`--normalize ${normalize}: expected auto or h36m-camera`);
    }
    const format = values.format === undefined ? undefined : parsePoseFormat(values.format as string);
    const source = resolveWeights({
      model: values.model as string | undefined,
      weights: values.weights as string | undefined,
    });

    let doc = await readPoseDocument(input, {
      format,
      ...(image && format !== "csv" ? { width: image.width, height: image.height } : {}),
    });
    if (fps !== undefined) doc = { ...doc, fps };
    if (values.smooth && doc.fps === null) {
      throw new InputError(`--smooth needs a frame rate; ${input} has none (pass --fps N)`);
    }
    const progress = (msg: string): void => console.error(`posegpu lift: ${msg}`);
    progress(`${input}: ${doc.people.length} tracks, skeleton ${doc.skeleton}; loading ${source.label}`);
    await initEngine();
    const lifter = await openLifter(source, { weightsDtype });
    try {
      const result = await liftPoseDocument(lifter, doc, {
        batchSize: batch,
        normalizeInput: normalize,
        flipTest: values["flip-test"] as boolean,
        image,
        minScore,
        minJoints,
        model: modelName(lifter, source),
        weights: source.label,
        onProgress: (done, total) => progress(`lifted ${done}/${total} poses`),
      });
      let lifted = result.doc;
      if (values.smooth) {
        lifted = oneEuroFilterDocument(lifted, { keypoints: "3d", minCutoff, beta });
      }
      await writePoseDocument(out, lifted, { format: outFormat, track });
      if (values.view !== undefined) {
        await writeFileAtomic(
          values.view as string,
          viewerHtml(lifted, { title: `${basename(input)} (lifted)` }),
        );
      }
      const frames = new Set(lifted.people.flatMap((p) => p.frames)).size;
      const posesPerSecond = result.lifted / Math.max(result.seconds, 1e-9);
      if (result.skipped) {
        progress(`${result.skipped} poses had fewer than ${minJoints ?? MIN_JOINTS} joints: no 3D`);
      }
      if (result.droppedTracks) progress(`${result.droppedTracks} tracks without 2D keypoints dropped`);
      if (values.json) {
        console.log(JSON.stringify({
          input,
          out,
          view: (values.view as string | undefined) ?? null,
          model: lifted.model,
          normalize,
          weights: source.label,
          people: lifted.people.length,
          frames,
          poses: result.lifted,
          skipped: result.skipped,
          droppedTracks: result.droppedTracks,
          smoothed: values.smooth === true,
          seconds: result.seconds,
          posesPerSecond,
          adapter: adapterSummary().description,
        }));
      } else {
        console.log(
          `wrote ${out}: ${lifted.people.length} people, ${frames} frames, ${result.lifted} poses lifted ` +
            `(${posesPerSecond.toFixed(0)} poses/s)` + (values.view ? `; viewer ${values.view}` : ""),
        );
      }
      return 0;
    } finally {
      lifter.dispose();
    }
  },
};

function modelName(lifter: Lifter, source: WeightsSource): string {
  const meta = (lifter as { meta?: { model?: string } }).meta;
  return meta?.model ?? basename(source.label, ".safetensors");
}
