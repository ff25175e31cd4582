/**
 * PoseFix input-pose synthesis: from a ground-truth COCO person, draw for every labelled joint one error
 * type (good, jitter, miss, inversion, swap) with the probabilities of PoseFix_RELEASE `gen_batch.py` and
 * place the joint at a random offset from the type's anchor (see `posefix_synthesis.md`).
 *
 * Sampling follows gen_batch.py's candidate scheme as rejection sampling with the same number of tries:
 * a type whose candidates are all rejected (too close to another anchor) is unavailable, its probability
 * drops to 0 and the others are renormalised. Types are tried lazily (draw a type, then its position;
 * on failure drop the type and redraw), which gives the same distribution as sampling every type first.
 * Random numbers come from a seeded xoshiro128** generator, so a seed fixes the output.
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { COCO_OKS_SIGMAS } from "./coco_eval.ts";
import { COCO_17 } from "./skeletons.ts";

/** The five PoseFix error types. */
export type SynthesisErrorType = "good" | "jitter" | "miss" | "inversion" | "swap";

/** The error types in a fixed order (for tables and loops). */
export const SYNTHESIS_ERROR_TYPES: readonly SynthesisErrorType[] = [
  "good",
  "jitter",
  "miss",
  "inversion",
  "swap",
];

/** COCO left/right keypoint pairs (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles). */
export const COCO_FLIP_PAIRS: readonly (readonly [number, number])[] = COCO_17.flipPairs;

/** Keypoint similarities that bound the offset bands: ks 0.85, 0.50, 0.10. */
export const SYNTHESIS_KS: readonly [number, number, number] = [0.85, 0.5, 0.1];

/** Candidates per anchor as gen_batch.py's `N` (good uses N/4, miss 4N around the joint itself). */
const N = 500;

/**
 * A uniform [0, 1) generator: xoshiro128** (Blackman & Vigna) with its 128-bit state filled from the seed by
 * splitmix32. Period 2¹²⁸ − 1; the same seed always gives the same sequence.
 */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix(), splitmix(), splitmix(), splitmix()]);
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result / 4294967296;
  };
}

function rotl(v: number, k: number): number {
  return ((v << k) | (v >>> (32 - k))) >>> 0;
}

/** Intersection over union of two `[x, y, w, h]` boxes (0 when the union is empty). */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** Indices of the persons whose box has IoU ≥ `minIou` (default 0.1) with person `index`'s box. */
export function nearPersons(
  boxes: readonly ArrayLike<number>[],
  index: number,
  options: { minIou?: number } = {},
): number[] {
  const min = options.minIou ?? 0.1;
  const out: number[] = [];
  boxes.forEach((b, i) => {
    if (i !== index && boxIou(boxes[index], b) >= min) out.push(i);
  });
  return out;
}

/** Base probability of each error type for one joint, before impossible types are removed. */
export type ErrorTypeProbabilities = Record<SynthesisErrorType, number>;

/**
 * gen_batch.py's error-type probabilities for COCO joint `joint` of a person with `valid` labelled joints
 * and `nearCount` near persons (face 0–4, upper body 5–10, lower body 11–16).
 */
export function errorTypeProbabilities(
  joint: number,
  context: { valid: number; nearCount: number },
): ErrorTypeProbabilities {
  const { valid, nearCount } = context;
  const face = joint <= 4, upper = joint >= 5 && joint <= 10;
  const noseKneeAnkle = joint === 0 || (joint >= 13 && joint <= 16);
  const jitter = valid <= 10
    ? (noseKneeAnkle ? 0.15 : joint >= 1 && joint <= 10 ? 0.20 : 0.25)
    : (noseKneeAnkle ? 0.10 : joint >= 1 && joint <= 10 ? 0.15 : 0.20);
  const shoulderAnkle = joint === 5 || joint === 6 || joint === 15 || joint === 16;
  const [mFace, mShoulderAnkle, mOther] = valid <= 5
    ? [0.15, 0.20, 0.25]
    : valid <= 10
    ? [0.10, 0.13, 0.15]
    : [
      0.02,
      0.05,
      0.10,
    ];
  const miss = face ? mFace : shoulderAnkle ? mShoulderAnkle : mOther;
  const inversion = face ? 0.01 : upper ? 0.03 : 0.06;
  const crowded = (valid <= 10 && nearCount > 0) || (valid <= 15 && nearCount >= 3);
  const swap = crowded ? (face ? 0.02 : upper ? 0.15 : 0.10) : (face ? 0.01 : upper ? 0.06 : 0.03);
  return { good: 1 - (jitter + miss + inversion + swap), jitter, miss, inversion, swap };
}

/** The person whose input pose is synthesised. */
export interface SynthesisPerson {
  /** Ground truth, flat `[x, y, v] × K` (v > 0 labelled). */
  keypoints: ArrayLike<number>;
  /** Scale of the keypoint-similarity distances: the segment area (gen_batch.py uses the box area). */
  area: number;
}

/** Options of `synthesizePose`. */
export interface SynthesisOptions {
  /** Uniform [0, 1) source, e.g. `seededRandom(seed)` (required so runs are reproducible). */
  random: () => number;
  /** Keypoints (`[x, y, v] × K`) of the near persons (box IoU ≥ 0.1, see `nearPersons`). */
  near?: readonly ArrayLike<number>[];
  /** Per-keypoint OKS sigmas (default COCO's); their count is K. */
  sigmas?: readonly number[];
  /** Left/right pairs (default `COCO_FLIP_PAIRS`). */
  flipPairs?: readonly (readonly [number, number])[];
  /**
   * Another model's estimate `[x, y, s] × K`: unlabelled joints are then synthesised around it, as
   * gen_batch.py does. Without it unlabelled joints are left out (v = 0), as posefix_synthesis.md says.
   */
  estimated?: ArrayLike<number>;
}

/** A synthesised input pose. */
export interface SynthesizedPose {
  /** `[x, y, v] × K`: v = 1 for synthesised joints, 0 (and x = y = 0) for joints left out. */
  keypoints: Float64Array;
  /** Error type drawn per joint; null where the joint was left out. */
  types: (SynthesisErrorType | null)[];
}

type Point = [number, number];

/**
 * Synthesises one PoseFix input pose from a ground-truth person (see the module note). Throws `InputError`
 * on keypoint arrays of the wrong length or a non-positive area.
 */
export function synthesizePose(person: SynthesisPerson, options: SynthesisOptions): SynthesizedPose {
  const sigmas = options.sigmas ?? COCO_OKS_SIGMAS;
  const k = sigmas.length;
  const gt = person.keypoints;
  if (gt.length !== 3 * k) {
    throw new InputError(`synthesis: person keypoints hold ${gt.length} values, expected ${3 * k}`);
  }
  if (!(person.area > 0)) throw new InputError(`synthesis: person area must be > 0, got ${person.area}`);
  const near = options.near ?? [];
  near.forEach((n, i) => {
    if (n.length !== 3 * k) {
      throw new InputError(`synthesis: near person ${i} holds ${n.length} values, expected ${3 * k}`);
    }
  });
  const est = options.estimated;
  if (est !== undefined && est.length !== 3 * k) {
    throw new InputError(`synthesis: estimated keypoints hold ${est.length} values, expected ${3 * k}`);
  }
  const pairOf = new Int32Array(k).fill(-1);
  for (const [a, b] of options.flipPairs ?? COCO_FLIP_PAIRS) {
    if (a < k && b < k) {
      pairOf[a] = b;
      pairOf[b] = a;
    }
  }
  const rnd = options.random;
  let valid = 0;
  for (let j = 0; j < k; j++) if (gt[3 * j + 2] > 0) valid++;
  const keypoints = new Float64Array(3 * k);
  const types: (SynthesisErrorType | null)[] = new Array(k).fill(null);
  for (let j = 0; j < k; j++) {
    const labelled = gt[3 * j + 2] > 0;
    if (!labelled && est === undefined) continue;
    const src = labelled ? gt : est!;
    const theta: Point = [src[3 * j], src[3 * j + 1]];
    const vars = (sigmas[j] * 2) * (sigmas[j] * 2);
    const [d85, d50, d10] = SYNTHESIS_KS.map((ks) => Math.sqrt(-2 * person.area * vars * Math.log(ks)));
    const pair = pairOf[j];
    const inv: Point | null = pair >= 0 && gt[3 * pair + 2] > 0 ? [gt[3 * pair], gt[3 * pair + 1]] : null;
    const swaps: Point[] = [];
    for (const n of near) if (n[3 * j + 2] > 0) swaps.push([n[3 * j], n[3 * j + 1]]);
    if (pair >= 0) {
      for (const n of near) if (n[3 * pair + 2] > 0) swaps.push([n[3 * pair], n[3 * pair + 1]]);
    }
    const anchors: Point[] = [theta, ...swaps, ...(inv ? [inv] : [])];

    const ring = (c: Point, lo: number, hi: number): Point => {
      const angle = rnd() * 2 * Math.PI;
      const r = lo + rnd() * (hi - lo);
      return [c[0] + r * Math.cos(angle), c[1] + r * Math.sin(angle)];
    };
    const dist = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
    // A candidate offset r from anchor c must be farther than r from every other anchor listed.
    const around = (c: Point, lo: number, hi: number, others: Point[], tries: number): Point | null => {
      for (let t = 0; t < tries; t++) {
        const angle = rnd() * 2 * Math.PI;
        const r = lo + rnd() * (hi - lo);
        const p: Point = [c[0] + r * Math.cos(angle), c[1] + r * Math.sin(angle)];
        if (others.every((o) => dist(o, p) > r)) return p;
      }
      return null;
    };
    const notTheta = anchors.slice(1);
    const samplers: Record<SynthesisErrorType, () => Point | null> = {
      good: () => around(theta, 0, d85, notTheta, N / 4),
      jitter: () => around(theta, d85, d50, notTheta, N),
      inversion: () => inv ? around(inv, 0, d50, anchors.filter((a) => a !== inv), N) : null,
      swap: () => {
        if (swaps.length === 0) return null;
        const guard = inv ? [theta, inv] : [theta];
        for (let t = 0; t < N * swaps.length; t++) {
          const c = swaps[Math.floor(rnd() * swaps.length)];
          const angle = rnd() * 2 * Math.PI;
          const r = rnd() * d50;
          const p: Point = [c[0] + r * Math.cos(angle), c[1] + r * Math.sin(angle)];
          if (guard.every((o) => dist(o, p) > r)) return p;
        }
        return null;
      },
      miss: () => {
        // gen_batch.py keeps 4N candidates around θ and N around each other anchor.
        const total = 4 + (anchors.length - 1);
        for (let t = 0; t < N * total; t++) {
          const u = rnd() * total;
          const a = u < 4 ? 0 : Math.min(anchors.length - 1, 1 + Math.floor(u - 4));
          const p = ring(anchors[a], d50, d10);
          if (anchors.every((o, i) => i === a || dist(o, p) > d50)) return p;
        }
        return null;
      },
    };
    const probs = errorTypeProbabilities(j, { valid, nearCount: near.length });
    const live = new Map<SynthesisErrorType, number>(
      SYNTHESIS_ERROR_TYPES.filter((t) => probs[t] > 0).map((t) => [t, probs[t]]),
    );
    while (live.size > 0) {
      let total = 0;
      for (const p of live.values()) total += p;
      let u = rnd() * total;
      let chosen: SynthesisErrorType | null = null;
      for (const [t, p] of live) {
        chosen = t;
        if (u < p) break;
        u -= p;
      }
      const point = samplers[chosen!]();
      if (point === null) {
        live.delete(chosen!);
        continue;
      }
      keypoints[3 * j] = point[0];
      keypoints[3 * j + 1] = point[1];
      keypoints[3 * j + 2] = 1;
      types[j] = chosen;
      break;
    }
  }
  return { keypoints, types };
}
