/**
 * The One-Euro filter (Casiez, Roussel, Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for
 * Noisy Input in Interactive Systems", CHI 2012): a first-order low-pass filter whose cutoff rises with
 * the signal's speed, so slow motion is smoothed hard (little jitter) and fast motion lags little.
 *
 * Per sample at time t (Tₑ = t − t_prev, α(f) = 2πfTₑ / (2πfTₑ + 1), the first sample passes through
 * with derivative 0):
 * `dx = (x − x̂_prev) / Tₑ; d̂x = d̂x_prev + α(dCutoff)(dx − d̂x_prev); f = minCutoff + β|d̂x|;
 *  x̂ = x̂_prev + α(f)(x − x̂_prev)` — exactly the reference implementation (the derivative is taken
 * against the previous *filtered* value).
 *
 * Keypoint sequences are filtered per coordinate (each x, y, z of each joint its own filter) with
 * timestamps `frames[i] / fps`, so gaps in a track's frame indices lengthen Tₑ. A missing joint
 * (mask 0) stays missing in the output (nothing is invented); what happens to its filter is `missing`:
 * "reset" (default) forgets the state, so the joint restarts unfiltered when it reappears; "hold" keeps
 * it, so the next observation is filtered against the last one across the gap.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D, Keypoints3D } from "../convert.ts";
import type { PoseDocument } from "../formats/pose_json.ts";

/** The filter's three parameters (defaults: the reference implementation's 1 Hz, 0, 1 Hz). */
export interface OneEuroParams {
  /** Cutoff frequency at zero speed, Hz (default 1). Lower = less jitter, more lag. */
  minCutoff?: number;
  /** Speed coefficient, cutoff Hz per unit/s of speed (default 0 = plain low-pass). Higher = less lag
   * on fast motion. Depends on the units: ~0.001–0.01 for pixels or millimetres is a usual start. */
  beta?: number;
  /** Cutoff of the derivative's low-pass, Hz (default 1). */
  dCutoff?: number;
}

interface Params {
  minCutoff: number;
  beta: number;
  dCutoff: number;
}

function checkParams(p: OneEuroParams): Params {
  const minCutoff = p.minCutoff ?? 1;
  const beta = p.beta ?? 0;
  const dCutoff = p.dCutoff ?? 1;
  if (!(minCutoff > 0 && Number.isFinite(minCutoff))) {
    throw new InputError(`One-Euro filter: minCutoff is ${minCutoff}, expected a positive number (Hz)`);
  }
  if (!(beta >= 0 && Number.isFinite(beta))) {
    throw new InputError(`One-Euro filter: beta is ${beta}, expected a number ≥ 0`);
  }
  if (!(dCutoff > 0 && Number.isFinite(dCutoff))) {
    throw new InputError(`One-Euro filter: dCutoff is ${dCutoff}, expected a positive number (Hz)`);
  }
  return { minCutoff, beta, dCutoff };
}

/** Smoothing factor of a first-order low-pass with cutoff `cutoff` Hz over a step of `dt` seconds:
 * `α = 1 / (1 + τ/dt)`, τ = 1 / (2π·cutoff). */
export function smoothingFactor(cutoff: number, dt: number): number {
  const r = 2 * Math.PI * cutoff * dt;
  return r / (r + 1);
}

/** A One-Euro filter of one scalar signal. */
export class OneEuroFilter {
  #p: Params;
  #t = NaN;
  #x = 0;
  #dx = 0;

  /** Creates a filter; throws `InputError` on invalid parameters. */
  constructor(params: OneEuroParams = {}) {
    this.#p = checkParams(params);
  }

  /** Filters the value observed at `timestamp` seconds (strictly after the previous one). */
  filter(value: number, timestamp: number): number {
    if (!Number.isFinite(value)) throw new InputError(`One-Euro filter: value is ${value}, expected finite`);
    if (Number.isNaN(this.#t)) {
      this.#t = timestamp;
      this.#x = value;
      this.#dx = 0;
      return value;
    }
    const dt = timestamp - this.#t;
    if (!(dt > 0)) {
      throw new InputError(
        `One-Euro filter: timestamp ${timestamp} is not after the previous one (${this.#t})`,
      );
    }
    const dx = (value - this.#x) / dt;
    this.#dx += smoothingFactor(this.#p.dCutoff, dt) * (dx - this.#dx);
    const cutoff = this.#p.minCutoff + this.#p.beta * Math.abs(this.#dx);
    this.#x += smoothingFactor(cutoff, dt) * (value - this.#x);
    this.#t = timestamp;
    return this.#x;
  }

  /** Forgets the state: the next value passes through unfiltered. */
  reset(): void {
    this.#t = NaN;
  }
}

/** Options of `oneEuroFilterKeypoints`. */
export interface OneEuroOptions extends OneEuroParams {
  /** Frames per second of the sequence: timestamps are `frames[i] / fps`. */
  fps: number;
  /** Frame index of each frame of the sequence (strictly increasing; default 0, 1, 2, ...). */
  frames?: readonly number[];
  /** What a missing joint does to its filter: "reset" (default) or "hold" (see the module notes). */
  missing?: "reset" | "hold";
}

/**
 * Filters a 2D or 3D keypoint sequence with one One-Euro filter per joint coordinate. Returns a new
 * sequence with the same mask (and scores, for 2D); missing joints stay missing.
 */
export function oneEuroFilterKeypoints<K extends Keypoints2D | Keypoints3D>(
  kp: K,
  options: OneEuroOptions,
): K {
  const p = checkParams(options);
  const { fps } = options;
  if (!(fps > 0 && Number.isFinite(fps))) {
    throw new InputError(`One-Euro filter: fps is ${fps}, expected a positive number`);
  }
  const missing = options.missing ?? "reset";
  if (missing !== "reset" && missing !== "hold") {
    throw new InputError(`One-Euro filter: missing is "${missing}", expected "reset" or "hold"`);
  }
  const frames = options.frames ?? Array.from({ length: kp.frames }, (_, i) => i);
  if (frames.length !== kp.frames) {
    throw new InputError(`One-Euro filter: ${frames.length} frame indices for ${kp.frames} frames`);
  }
  for (let i = 0; i < frames.length; i++) {
    if (!Number.isFinite(frames[i]) || (i > 0 && !(frames[i] > frames[i - 1]))) {
      throw new InputError(
        `One-Euro filter: frame indices must increase strictly (frames[${i}] = ${frames[i]})`,
      );
    }
  }
  const J = kp.joints;
  const D = kp.coords.length / Math.max(1, kp.frames * J);
  const out = new Float32Array(kp.coords.length);
  const tPrev = new Float64Array(J).fill(NaN); // NaN = no state
  const xHat = new Float64Array(J * D);
  const dxHat = new Float64Array(J * D);
  for (let f = 0; f < kp.frames; f++) {
    const t = frames[f] / fps;
    for (let j = 0; j < J; j++) {
      const m = f * J + j;
      if (!kp.mask[m]) {
        if (missing === "reset") tPrev[j] = NaN;
        continue;
      }
      const base = m * D;
      if (Number.isNaN(tPrev[j])) {
        for (let d = 0; d < D; d++) {
          xHat[j * D + d] = kp.coords[base + d];
          dxHat[j * D + d] = 0;
          out[base + d] = kp.coords[base + d];
        }
      } else {
        const dt = t - tPrev[j];
        const aD = smoothingFactor(p.dCutoff, dt);
        for (let d = 0; d < D; d++) {
          const s = j * D + d;
          const x = kp.coords[base + d];
          dxHat[s] += aD * ((x - xHat[s]) / dt - dxHat[s]);
          xHat[s] += smoothingFactor(p.minCutoff + p.beta * Math.abs(dxHat[s]), dt) * (x - xHat[s]);
          out[base + d] = xHat[s];
        }
      }
      tPrev[j] = t;
    }
  }
  return { ...kp, coords: out, mask: kp.mask.slice() };
}

/** Options of `oneEuroFilterDocument`. */
export interface OneEuroDocumentOptions extends OneEuroParams {
  /** Frames per second (default: the document's `fps`; required when that is null). */
  fps?: number;
  /** Which keypoints to filter (default "both"). */
  keypoints?: "2d" | "3d" | "both";
  /** See `OneEuroOptions.missing`. */
  missing?: "reset" | "hold";
}

/** Filters every track of a document (timestamps from each track's frame indices and the fps). */
export function oneEuroFilterDocument(doc: PoseDocument, options: OneEuroDocumentOptions = {}): PoseDocument {
  const fps = options.fps ?? doc.fps;
  if (fps === null || fps === undefined) {
    throw new InputError("One-Euro filter: the pose document has no fps; give one");
  }
  const which = options.keypoints ?? "both";
  const opts = { ...options, fps };
  return {
    ...doc,
    people: doc.people.map((p) => {
      const o = { ...opts, frames: p.frames };
      return {
        ...p,
        keypoints2d: p.keypoints2d && which !== "3d"
          ? oneEuroFilterKeypoints(p.keypoints2d, o)
          : p.keypoints2d,
        keypoints3d: p.keypoints3d && which !== "2d"
          ? oneEuroFilterKeypoints(p.keypoints3d, o)
          : p.keypoints3d,
      };
    }),
  };
}
