/**
 * The lifting API: a posegpu checkpoint (`checkpoint.ts`) becomes a function from 2D keypoints in pixels
 * to root-relative 3D in millimetres.
 *
 * ```ts
 * const lifter = await loadLifter("weights/martinez_gt.safetensors");
 * const poses3d = await lifter.lift(keypoints2d, { image: { width: 1000, height: 1002 } });
 * ```
 *
 * - Input: `Float32Array` `[frames, 17, 2]` pixels in H36M-17 order (a 16-joint model ignores
 *   Neck/Nose); output `[frames, 17, 3]` root-relative camera-frame mm (the root exactly 0).
 * - The model, its configuration and normalisation come from the checkpoint's metadata. Frames are
 *   processed in batches of `batchSize` (default 1024): host memory is the input and output plus one
 *   batch, and each batch is one GPU submit (upload, forward, readback). Temporal models (SRNet /
 *   VideoPose3D with a receptive field > 1) treat the frames as one sequence (edges padded by repeating
 *   the first/last frame, as VideoPose3D) and stream it in chunks.
 * - `normalizeInput: "h36m-camera"` (default) feeds the pixels as they are: right for Human3.6M-like
 *   cameras (1000 px images, a person a few metres away). `"auto"` first maps each pose by a per-frame
 *   similarity (translation and uniform scale, no rotation) that puts its root (Hip) at the training
 *   set's mean root position and its 2D scale (RMS distance of the joints from their centroid) at the
 *   training set's mean scale, in the training image size. The network then sees poses where the
 *   training distribution has them; root-relative 3D is invariant to that mapping up to the network's
 *   own error, so the output needs no inverse.
 * - Missing joints (`mask` 0, or non-finite coordinates) are filled from the training set's mean pose,
 *   placed by the least-squares scale-and-translation fit of the mean pose to the frame's visible joints
 *   (with fewer than two visible joints: the training scale, anchored at the visible joint or the
 *   training root). `lastReport` says how many were filled.
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { mirrorPoses } from "../pose/mirror.ts";
import { setWeightDtype, type WeightDtype } from "../layers/linear.ts";
import { tensor, tidy } from "../engine/tensor.ts";
import { parseSafetensors, readSafetensors, type SafetensorsFile } from "../engine/safetensors.ts";
import {
  type Checkpoint,
  checkpointFromFile,
  type CheckpointMeta,
  type Normalization,
} from "./checkpoint.ts";
import { createModel, type LiftingModel } from "./registry.ts";
import { decodeOutput, encodeInput, networkJoints, NOSE, poseScale, usesZScore } from "./training/codec.ts";

/** Options of `loadLifter`. */
export interface LoadLifterOptions {
  /** Fold BatchNorm into the layers before them (default true; same outputs, faster). */
  fold?: boolean;
  /**
   * Storage of the inference weights of the model's Linear layers (default "f32"). "f16" halves their
   * bytes (matmul widens them to f32 on load; see `setWeightDtype`); adapters without `shader-f16` fall
   * back to f32. The shipped Martinez GT lifter moves by well under 0.1 mm MPJPE (tests/models/lifter_f16_test.ts).
   */
  weightsDtype?: WeightDtype;
}

/** Options of `Lifter.lift`. */
export interface LiftOptions {
  /** `[frames, 17]` visibility: 0 = missing joint (filled, see the module documentation). */
  mask?: ArrayLike<number>;
  /** Image size of the input pixels (default: the training cameras'). Used by screen-normalised models. */
  image?: { width: number; height: number };
  /** Frames per batch (default 1024). */
  batchSize?: number;
  /**
   * Flip testing (VideoPose3D / SRNet evaluate this way by default): also lift the mirrored input
   * (x → image width − x, left/right joints swapped, masks too), mirror that prediction back and average
   * the two. Twice the work. Default false.
   */
  flipTest?: boolean;
  /**
   * `"h36m-camera"` (default): pixels as they are; `"auto"`: per-pose similarity into the training
   * distribution. `true` / `false` are accepted as `"auto"` / `"h36m-camera"`.
   */
  normalizeInput?: "h36m-camera" | "auto" | boolean;
}

/** What the last `lift` call did to its input. */
export interface LiftReport {
  /** Frames lifted. */
  frames: number;
  /** Joints filled in (mask 0 or non-finite), over all frames. */
  filledJoints: number;
  /** Frames with at least one filled joint. */
  framesWithMissing: number;
  /** Frames with no usable joint (lifted from the mean pose). */
  emptyFrames: number;
  /** Frames remapped by `normalizeInput: "auto"`. */
  remapped: number;
}

/** One batch of a streamed lift (`Lifter.liftStream`): `[frames, 17, 2]` pixels and an optional mask. */
export interface LiftBatch {
  /** `[frames, 17, 2]` H36M-17 pixels. */
  keypoints2d: Float32Array;
  /** `[frames, 17]` visibility (0 = missing), as `LiftOptions.mask`. */
  mask?: ArrayLike<number>;
}

/** What `Lifter.liftStream` reads: batches (or bare `[frames, 17, 2]` arrays), sync or async. */
export type LiftSource =
  | AsyncIterable<LiftBatch | Float32Array>
  | Iterable<LiftBatch | Float32Array>;

/** A loaded lifting model. */
export interface Lifter {
  /** The checkpoint's metadata. */
  readonly meta: CheckpointMeta;
  /** The network (eval mode). */
  readonly model: LiftingModel;
  /** Lifts `[frames, 17, 2]` pixels to `[frames, 17, 3]` root-relative mm. */
  lift(keypoints2d: Float32Array, options?: LiftOptions): Promise<Float32Array>;
  /**
   * Lifts a stream of batches with bounded memory: host memory is one input batch, one output batch and
   * (temporal models) the receptive field's context, whatever the length of the stream. The yielded
   * arrays, concatenated, equal `lift` of the concatenated input. A single-frame model yields one
   * `[frames, 17, 3]` array per input batch; a temporal model treats the whole stream as one sequence
   * and yields each output as soon as its right context has arrived (so its chunks lag the input by half
   * the receptive field, the rest comes at the end). `options.mask` is ignored: give masks per batch.
   * `lastReport` counts the whole stream.
   */
  liftStream(source: LiftSource, options?: LiftOptions): AsyncGenerator<Float32Array>;
  /** What the last `lift` filled in or remapped. */
  readonly lastReport: LiftReport | null;
  /** Frees the GPU tensors. */
  dispose(): void;
}

/** The training set's mean 2D pose (pixels, H36M-17) from the normalisation statistics. */
export function meanPose2d(
  model: string,
  meta: { config: Record<string, unknown>; normalization: Normalization },
): Float32Array {
  const norm = meta.normalization;
  if (norm.input2d.meanPose) return Float32Array.from(norm.input2d.meanPose);
  if (norm.kind !== "zscore") {
    throw new InputError(`normalization.input2d.meanPose is missing (needed to fill missing joints)`);
  }
  // Older z-score checkpoints: the input means are the mean pose's coordinates (16 or 17 joints).
  const { jointsIn } = networkJoints(model, meta.config);
  const out = new Float32Array(34);
  jointsIn.forEach((j, i) => {
    out[2 * j] = norm.input.mean[2 * i];
    out[2 * j + 1] = norm.input.mean[2 * i + 1];
  });
  if (!jointsIn.includes(NOSE)) {
    out[2 * NOSE] = 0.5 * (out[16] + out[20]);
    out[2 * NOSE + 1] = 0.5 * (out[17] + out[21]);
  }
  return out;
}

/**
 * Fills missing joints of one pose in place from `mean` (the mean pose), fitted to the visible joints by
 * scale and translation. `vis[j]` is 1 for a usable joint. Returns the number of joints filled.
 */
export function fillMissingJoints(
  pose: Float32Array,
  vis: Uint8Array,
  mean: Float32Array,
  fallback: { root: [number, number]; scale: number; meanScale: number },
): number {
  let n = 0, px = 0, py = 0, mx = 0, my = 0;
  for (let j = 0; j < 17; j++) {
    if (!vis[j]) continue;
    n++;
    px += pose[2 * j];
    py += pose[2 * j + 1];
    mx += mean[2 * j];
    my += mean[2 * j + 1];
  }
  if (n === 17) return 0;
  let s: number, tx: number, ty: number;
  if (n >= 2) {
    px /= n, py /= n, mx /= n, my /= n;
    let num = 0, den = 0;
    for (let j = 0; j < 17; j++) {
      if (!vis[j]) continue;
      const ax = mean[2 * j] - mx, ay = mean[2 * j + 1] - my;
      num += ax * (pose[2 * j] - px) + ay * (pose[2 * j + 1] - py);
      den += ax * ax + ay * ay;
    }
    s = den > 0 && num > 0 ? num / den : 1;
    tx = px - s * mx;
    ty = py - s * my;
  } else {
    // One or no visible joint: the training scale, anchored at that joint (or the training root).
    s = fallback.scale / fallback.meanScale;
    if (n === 1) {
      tx = px - s * mx;
      ty = py - s * my;
    } else {
      tx = fallback.root[0] - s * mean[0];
      ty = fallback.root[1] - s * mean[1];
    }
  }
  for (let j = 0; j < 17; j++) {
    if (vis[j]) continue;
    pose[2 * j] = s * mean[2 * j] + tx;
    pose[2 * j + 1] = s * mean[2 * j + 1] + ty;
  }
  return 17 - n;
}

function liftMode(options: LiftOptions): string {
  const m = options.normalizeInput;
  return m === true ? "auto" : m === false || m === undefined ? "h36m-camera" : m;
}

class CheckpointLifter implements Lifter {
  readonly meta: CheckpointMeta;
  readonly model: LiftingModel;
  lastReport: LiftReport | null = null;
  readonly #mean: Float32Array;
  readonly #meanScale: number;
  readonly #rf: number;

  constructor(meta: CheckpointMeta, model: LiftingModel) {
    this.meta = meta;
    this.model = model;
    this.#mean = meanPose2d(meta.model, meta);
    this.#meanScale = poseScale(this.#mean);
    const m = model as LiftingModel & { receptiveField?: () => number };
    this.#rf = typeof m.receptiveField === "function" ? m.receptiveField() : 1;
  }

  /** Validated, filled and (in auto mode) remapped copy of the input. */
  #prepare(kp: Float32Array, options: LiftOptions, checkOnly = false, label?: string): Float32Array {
    const at = label ? `lift: ${label}` : "lift";
    if (!(kp instanceof Float32Array) || kp.length === 0 || kp.length % 34 !== 0) {
      throw new InputError(
        `${at}: keypoints2d must be a non-empty Float32Array [frames, 17, 2] (H36M-17 pixels), got ${kp?.length} values`,
      );
    }
    const frames = kp.length / 34;
    const mask = options.mask;
    if (mask && mask.length !== frames * 17) {
      throw new InputError(`${at}: mask has ${mask.length} values, expected frames × 17 = ${frames * 17}`);
    }
    const mode = liftMode(options);
    if (mode !== "h36m-camera" && mode !== "auto") {
      throw new InputError(
        `lift: normalizeInput must be "h36m-camera" or "auto", got ${JSON.stringify(mode)}`,
      );
    }
    if (checkOnly) return kp;
    const stats = this.meta.normalization.input2d;
    const out = new Float32Array(kp);
    const vis = new Uint8Array(17);
    const report: LiftReport = { frames, filledJoints: 0, framesWithMissing: 0, emptyFrames: 0, remapped: 0 };
    // A 16-joint model never reads Neck/Nose, so its absence is not "missing".
    const used = usesZScore(this.meta.model)
      ? networkJoints(this.meta.model, this.meta.config).jointsIn
      : null;
    for (let f = 0; f < frames; f++) {
      const pose = out.subarray(f * 34, f * 34 + 34);
      let visible = 0, counted = 0;
      for (let j = 0; j < 17; j++) {
        vis[j] = Number.isFinite(pose[2 * j]) && Number.isFinite(pose[2 * j + 1]) &&
            (!mask || mask[f * 17 + j] !== 0)
          ? 1
          : 0;
        visible += vis[j];
        if (!vis[j] && (!used || used.includes(j))) counted++;
      }
      if (visible < 17) {
        fillMissingJoints(pose, vis, this.#mean, {
          root: stats.root,
          scale: stats.scale,
          meanScale: this.#meanScale,
        });
        report.filledJoints += counted;
        if (counted) report.framesWithMissing++;
        if (visible === 0) report.emptyFrames++;
      }
      if (mode === "auto") {
        const s = poseScale(pose);
        const k = s > 0 ? stats.scale / s : 1;
        const rx = pose[0], ry = pose[1];
        for (let j = 0; j < 17; j++) {
          pose[2 * j] = (pose[2 * j] - rx) * k + stats.root[0];
          pose[2 * j + 1] = (pose[2 * j + 1] - ry) * k + stats.root[1];
        }
        report.remapped++;
      }
    }
    this.lastReport = report;
    return out;
  }

  async lift(keypoints2d: Float32Array, options: LiftOptions = {}): Promise<Float32Array> {
    // Validate here so that a bad call fails before anything is uploaded.
    this.#prepare(keypoints2d, { ...options, batchSize: 1 }, true);
    if (options.flipTest) {
      const plain = { ...options, flipTest: false };
      const y = await this.lift(keypoints2d, plain);
      const report = this.lastReport;
      const width = (options.image ?? this.meta.normalization.input2d.image).width;
      const mirrored = mirrorPoses(Float32Array.from(keypoints2d), { dims: 2, width });
      const mask = options.mask
        ? mirrorPoses(Float32Array.from(options.mask), { dims: 1, swapOnly: true })
        : undefined;
      const m = mirrorPoses(await this.lift(mirrored, { ...plain, mask }), { dims: 3 });
      for (let i = 0; i < y.length; i++) y[i] = (y[i] + m[i]) / 2;
      this.lastReport = report;
      return y;
    }
    const frames = keypoints2d.length / 34;
    const out = new Float32Array(frames * 51);
    let at = 0;
    for await (const y of this.liftStream([{ keypoints2d, mask: options.mask }], options)) {
      if (at === 0 && y.length === out.length) return y;
      out.set(y, at);
      at += y.length;
    }
    return out;
  }

  async *liftStream(source: LiftSource, options: LiftOptions = {}): AsyncGenerator<Float32Array> {
    const batch = options.batchSize ?? 1024;
    if (!Number.isSafeInteger(batch) || batch < 1) {
      throw new InputError(`lift: batchSize must be ≥ 1, got ${batch}`);
    }
    // Auto mode moved the poses into the training image; otherwise the caller's image (default: training's).
    const image = liftMode(options) === "auto" ? this.meta.normalization.input2d.image : options.image ??
      this.meta.normalization.input2d.image;
    if (!(image.width > 0 && image.height > 0)) {
      throw new InputError(`lift: image must have a positive width and height, got ${JSON.stringify(image)}`);
    }
    const size = { width: Float32Array.of(image.width), height: Float32Array.of(image.height) };
    const total: LiftReport = {
      frames: 0,
      filledJoints: 0,
      framesWithMissing: 0,
      emptyFrames: 0,
      remapped: 0,
    };
    const add = (r: LiftReport): void => {
      for (const k of Object.keys(total) as (keyof LiftReport)[]) total[k] += r[k];
      this.lastReport = { ...total };
    };
    const rf = this.#rf, pad = (rf - 1) >> 1;
    // Temporal models: `ctx` holds prepared frames ctxStart.. of the sequence, `next` is the next output.
    let ctx = new Float32Array(0), ctxStart = 0, seen = 0, next = 0;
    const window = (from: number, b: number, last: number): Float32Array => {
      const win = new Float32Array((b + rf - 1) * 34);
      for (let t = 0; t < b + rf - 1; t++) {
        const f = Math.min(Math.max(from - pad + t, 0), last) - ctxStart;
        win.set(ctx.subarray(f * 34, f * 34 + 34), t * 34);
      }
      return win;
    };
    // Outputs next..end-1 of a temporal model (frames up to `last` are known), in chunks of `batch`.
    const temporal = async (end: number, last: number): Promise<Float32Array> => {
      const out = new Float32Array((end - next) * 51);
      for (let at = next; at < end; at += batch) {
        const b = Math.min(batch, end - at);
        out.set(await this.#forward(window(at, b, last), b, size), (at - next) * 51);
      }
      next = end;
      return out;
    };
    let index = 0;
    for await (const item of source) {
      const kp = item instanceof Float32Array ? item : item?.keypoints2d;
      const mask = item instanceof Float32Array ? undefined : item?.mask;
      const label = `batch ${index++}`;
      if (kp instanceof Float32Array && kp.length === 0 && (!mask || mask.length === 0)) continue;
      const input = this.#prepare(kp as Float32Array, { ...options, mask }, false, label);
      add(this.lastReport!);
      const frames = input.length / 34;
      if (rf === 1) {
        const out = new Float32Array(frames * 51);
        for (let at = 0; at < frames; at += batch) {
          const b = Math.min(batch, frames - at);
          out.set(await this.#forward(input.subarray(at * 34, (at + b) * 34), b, size), at * 51);
        }
        yield out;
        continue;
      }
      // Keep only what later windows can still read: frames from next − pad on.
      const keepFrom = Math.max(0, next - pad);
      const kept = ctx.subarray((keepFrom - ctxStart) * 34);
      const grown = new Float32Array(kept.length + input.length);
      grown.set(kept);
      grown.set(input, kept.length);
      ctx = grown;
      ctxStart = keepFrom;
      seen += frames;
      const ready = seen - pad; // outputs whose right context has arrived
      if (ready > next) yield await temporal(ready, seen - 1);
    }
    if (rf > 1 && seen > next) yield await temporal(seen, seen - 1);
    if (index === 0 || total.frames === 0) this.lastReport = { ...total };
  }

  /** One network pass over `b` frames (or one temporal window) of prepared pixels → `[b, 17, 3]` mm. */
  async #forward(
    pixels: Float32Array,
    b: number,
    size: { width: Float32Array; height: Float32Array },
  ): Promise<Float32Array> {
    const { model: name, config, normalization } = this.meta;
    const rows = encodeInput(name, { config, normalization, input2d: pixels, image: size });
    const x = this.#rf > 1
      ? tensor(rows, [1, b + this.#rf - 1, 17, 2])
      : usesZScore(name)
      ? tensor(rows, [b, rows.length / b])
      : tensor(rows, [b, 1, 17, 2]);
    let host: Float32Array;
    try {
      // The forward's intermediates (one activation per layer) are freed here, not by the caller.
      const y = tidy(() => this.model.forward(x));
      try {
        host = await y.read();
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
    return decodeOutput(name, { config, normalization, output: host });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Builds a lifter from an already loaded checkpoint. */
export async function lifterFromCheckpoint(
  checkpoint: Checkpoint,
  options: LoadLifterOptions = {},
): Promise<Lifter> {
  const { meta } = checkpoint;
  const norm = meta.config.norm;
  if (norm !== undefined && norm !== "base") {
    // The SRNet repository's other --norm modes need its camera-based post-processing (post_process3d).
    throw new InputError(
      `loadLifter: ${meta.model} config norm=${String(norm)}: lifting to mm supports norm=base (screen ` +
        `normalisation) only; use posegpu run for the raw network output`,
    );
  }
  const dtype = options.weightsDtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new InputError(`loadLifter: weightsDtype must be "f32" or "f16", got ${JSON.stringify(dtype)}`);
  }
  const model = createModel(meta.model, meta.config);
  // Before the fold, so that f16 layers keep their folded weights in f16 only (see `Linear.setFolded`).
  setWeightDtype(model, dtype);
  try {
    await model.loadStateDict(checkpoint.stateDict, { fold: options.fold ?? true });
  } catch (e) {
    model.dispose(); // a checkpoint that does not fit must not leave the model's buffers behind
    throw e;
  }
  return new CheckpointLifter(meta, model);
}

/**
 * What else does not fit when the metadata is already wrong: the tensors against the model the metadata
 * names (missing, unexpected, wrong-shape keys), when that model can be built at all.
 */
async function tensorProblems(file: SafetensorsFile): Promise<string[]> {
  let model: LiftingModel;
  try {
    const config = JSON.parse(file.metadata.config ?? "{}");
    model = createModel(file.metadata.model ?? "", config);
  } catch {
    return [];
  }
  try {
    const tensors = new Map([...file.tensors].filter(([k]) => !k.startsWith("optim.")));
    await model.loadStateDict(tensors);
    return [];
  } catch (e) {
    return [(e as Error).message.replaceAll("\n", "\n  ")];
  } finally {
    model.dispose();
  }
}

/**
 * Loads a posegpu checkpoint (path or bytes) as a `Lifter` (see the module documentation). A checkpoint
 * that does not fit — metadata (joint order, normalisation, units...) and tensors (missing, unexpected,
 * wrong-shape keys) — is one `InputError` naming the file and listing every mismatch.
 */
export async function loadLifter(
  pathOrBytes: string | Uint8Array,
  options: LoadLifterOptions = {},
): Promise<Lifter> {
  const name = typeof pathOrBytes === "string" ? pathOrBytes : "<checkpoint bytes>";
  const file = typeof pathOrBytes === "string"
    ? await readSafetensors(pathOrBytes)
    : parseSafetensors(pathOrBytes, { name });
  let checkpoint: Checkpoint;
  try {
    checkpoint = checkpointFromFile(file, name);
  } catch (e) {
    const problems = (e as { problems?: string[] }).problems;
    if (!problems) throw e;
    const all = [...problems, ...await tensorProblems(file)];
    throw new InputError(
      `${name}: not a valid posegpu checkpoint (${all.length} problem${all.length === 1 ? "" : "s"}):\n  ${
        all.join("\n  ")
      }`,
      { cause: e },
    );
  }
  try {
    return await lifterFromCheckpoint(checkpoint, options);
  } catch (e) {
    if (e instanceof InputError && !e.message.startsWith(name)) {
      throw new InputError(`${name}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}
