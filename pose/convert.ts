/**
 * Keypoint sequences (`Keypoints2D`, `Keypoints3D`) and conversions between skeletons.
 *
 * A sequence holds one person over `frames` frames: `coords` is frames × joints × 2 (or × 3), `mask`
 * says which joints are present (1) and `scores` holds detector confidences when known.
 * **Missing joints**: `mask` is the truth; the coordinates of a missing joint are 0 and mean nothing.
 *
 * Conversions build every target joint as the mean of one or more source joints (listing fallbacks in
 * order). A target joint is present only when every source joint of the chosen recipe is present; a
 * source joint counts as missing when its mask is 0 **or** its score is below `minScore` (default 0.05,
 * only when scores exist). A derived joint's score is the mean of its sources' scores, as MMPose does.
 * Nothing missing is ever filled with zeros or guessed: it stays `mask = 0`.
 *
 * Choices (see `CONVERSIONS` for the exact recipes):
 * - COCO-17 → H36M-17: MMPose's rule exactly: root = mean(hips), thorax = mean(shoulders),
 *   spine = mean(root, thorax) (= mean of the four), head = mean(eyes), Neck/Nose = nose, limbs copied.
 * - BODY_25 → H36M-17: root = MidHip (fallback mean(RHip, LHip)), thorax = Neck (fallback
 *   mean(shoulders)), spine = mean(root, thorax), Neck/Nose = Nose, head = mean(REye, LEye) (as the COCO
 *   rule), feet = ankles.
 * - BODY_25 → COCO-17: the 17 shared points copied by name.
 * - BlazePose-33 → H36M-17: root = mean(hips), thorax = mean(shoulders), spine = mean(root, thorax),
 *   Neck/Nose = nose, head = mean(left_eye, right_eye), feet = ankles (not heels/foot_index).
 * - BlazePose-33 → COCO-17: the 17 shared points copied (eyes = MediaPipe's eye centres).
 * - Between the H36M family (h36m17, martinez16in, martinez16out, sh16) joints are matched by name;
 *   a joint the source lacks (e.g. Neck/Nose from sh16) is missing.
 * - Other pairs go through h36m17 when both legs exist (e.g. coco17 → sh16).
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { getSkeleton, type Skeleton } from "./skeletons.ts";

/** A 2D keypoint sequence of one person. */
export interface Keypoints2D {
  /** Skeleton name (see `SKELETONS`). */
  skeleton: string;
  /** Number of frames. */
  frames: number;
  /** Joints per frame. */
  joints: number;
  /** frames × joints × 2 (x, y), pixels unless stated otherwise; 0 where `mask` is 0. */
  coords: Float32Array;
  /** frames × joints confidences, or null when the source has none. */
  scores: Float32Array | null;
  /** frames × joints, 1 = present, 0 = missing. */
  mask: Uint8Array;
}

/** A 3D keypoint sequence of one person. */
export interface Keypoints3D {
  /** Skeleton name (see `SKELETONS`). */
  skeleton: string;
  /** Number of frames. */
  frames: number;
  /** Joints per frame. */
  joints: number;
  /** frames × joints × 3 (x, y, z); 0 where `mask` is 0. */
  coords: Float32Array;
  /** frames × joints, 1 = present, 0 = missing. */
  mask: Uint8Array;
}

/** Fields accepted by `createKeypoints2D` / `createKeypoints3D`. */
export interface KeypointsInit {
  /** Skeleton name; its joint count is checked against the data. */
  skeleton: string;
  /** Number of frames (at least 1). */
  frames: number;
  /** Coordinates (frames × joints × dims); default zeros. */
  coords?: Float32Array;
  /** Scores (frames × joints); default none. Only used for 2D. */
  scores?: Float32Array | null;
  /** Presence mask (frames × joints); default all present when coords are given, else all missing. */
  mask?: Uint8Array;
  /** What to call the data in error messages (file name, record). */
  where?: string;
}

function checkSequence(init: KeypointsInit, dims: number): { joints: number; where: string } {
  const where = init.where ?? "keypoints";
  const skeleton = getSkeleton(init.skeleton);
  const joints = skeleton.joints.length;
  if (!Number.isSafeInteger(init.frames) || init.frames < 1) {
    throw new InputError(`${where}: expected at least one frame, got ${init.frames}`);
  }
  const n = init.frames * joints;
  if (init.coords && init.coords.length !== n * dims) {
    throw new InputError(
      `${where}: coords has ${init.coords.length} numbers, expected ${init.frames} frames × ${joints} joints ` +
        `(${skeleton.name}) × ${dims} = ${n * dims}`,
    );
  }
  if (init.scores && init.scores.length !== n) {
    throw new InputError(`${where}: scores has ${init.scores.length} numbers, expected ${n}`);
  }
  if (init.mask && init.mask.length !== n) {
    throw new InputError(`${where}: mask has ${init.mask.length} entries, expected ${n}`);
  }
  if (init.coords) {
    for (let i = 0; i < init.coords.length; i++) {
      if (!Number.isFinite(init.coords[i])) {
        const j = Math.floor(i / dims);
        throw new InputError(
          `${where}: frame ${Math.floor(j / joints)} joint ${j % joints} (${skeleton.joints[j % joints]}) ` +
            `has a non-finite coordinate (${init.coords[i]})`,
        );
      }
    }
  }
  if (init.scores) {
    for (let i = 0; i < init.scores.length; i++) {
      if (!Number.isFinite(init.scores[i])) {
        throw new InputError(
          `${where}: frame ${Math.floor(i / joints)} joint ${i % joints} (${skeleton.joints[i % joints]}) ` +
            `has a non-finite score (${init.scores[i]})`,
        );
      }
    }
  }
  return { joints, where };
}

/** Creates a validated 2D sequence (sizes match the skeleton, coordinates and scores finite). */
export function createKeypoints2D(init: KeypointsInit): Keypoints2D {
  const { joints } = checkSequence(init, 2);
  const n = init.frames * joints;
  return {
    skeleton: getSkeleton(init.skeleton).name,
    frames: init.frames,
    joints,
    coords: init.coords ?? new Float32Array(n * 2),
    scores: init.scores ?? null,
    mask: init.mask ?? new Uint8Array(n).fill(init.coords ? 1 : 0),
  };
}

/** Creates a validated 3D sequence (sizes match the skeleton, coordinates finite). */
export function createKeypoints3D(init: KeypointsInit): Keypoints3D {
  const { joints } = checkSequence(init, 3);
  const n = init.frames * joints;
  return {
    skeleton: getSkeleton(init.skeleton).name,
    frames: init.frames,
    joints,
    coords: init.coords ?? new Float32Array(n * 3),
    mask: init.mask ?? new Uint8Array(n).fill(init.coords ? 1 : 0),
  };
}

/** How to build each joint of `to` from joints of `from`: per target joint, recipes tried in order; a
 * recipe is a list of source joint indices averaged with equal weights (an index listed twice weighs
 * double). No recipe = always missing. */
export interface ConversionRule {
  /** Source skeleton name. */
  readonly from: string;
  /** Target skeleton name. */
  readonly to: string;
  /** Per target joint: alternative recipes, first usable one wins. */
  readonly recipes: readonly (readonly (readonly number[])[])[];
}

const one = (j: number): number[][] => [[j]];

/** The explicit conversions (the H36M family is matched by name, see `conversionRule`). */
export const CONVERSIONS: readonly ConversionRule[] = Object.freeze([
  {
    // MMPose: h36m[1,2,3,4,5,6,9,11,12,13,14,15,16] = coco[12,14,16,11,13,15,0,5,7,9,6,8,10].
    from: "coco17",
    to: "h36m17",
    recipes: [
      [[11, 12]],
      one(12),
      one(14),
      one(16),
      one(11),
      one(13),
      one(15),
      [[11, 12, 5, 6]],
      [[5, 6]],
      one(0),
      [[1, 2]],
      one(5),
      one(7),
      one(9),
      one(6),
      one(8),
      one(10),
    ],
  },
  {
    from: "body25",
    to: "h36m17",
    recipes: [
      [[8], [9, 12]],
      one(9),
      one(10),
      one(11),
      one(12),
      one(13),
      one(14),
      [[8, 1], [9, 12, 1, 1], [8, 8, 2, 5], [9, 12, 2, 5]],
      [[1], [2, 5]],
      one(0),
      [[15, 16]],
      one(5),
      one(6),
      one(7),
      one(2),
      one(3),
      one(4),
    ],
  },
  {
    from: "body25",
    to: "coco17",
    recipes: [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11].map(one),
  },
  {
    from: "blazepose33",
    to: "h36m17",
    recipes: [
      [[23, 24]],
      one(24),
      one(26),
      one(28),
      one(23),
      one(25),
      one(27),
      [[23, 24, 11, 12]],
      [[11, 12]],
      one(0),
      [[2, 5]],
      one(11),
      one(13),
      one(15),
      one(12),
      one(14),
      one(16),
    ],
  },
  {
    from: "blazepose33",
    to: "coco17",
    recipes: [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28].map(one),
  },
] as ConversionRule[]);

const H36M_FAMILY = new Set(["h36m17", "martinez16in", "martinez16out", "sh16"]);

function byName(from: Skeleton, to: Skeleton): ConversionRule {
  return {
    from: from.name,
    to: to.name,
    recipes: to.joints.map((name) => {
      const i = from.joints.indexOf(name);
      return i < 0 ? [] : [[i]];
    }),
  };
}

/** The rule converting `from` into `to` directly, or null when there is none (identity included). */
export function conversionRule(from: string, to: string): ConversionRule | null {
  const a = getSkeleton(from);
  const b = getSkeleton(to);
  if (a.name === b.name) return byName(a, b);
  const explicit = CONVERSIONS.find((r) => r.from === a.name && r.to === b.name);
  if (explicit) return explicit;
  if (H36M_FAMILY.has(a.name) && H36M_FAMILY.has(b.name)) return byName(a, b);
  return null;
}

/** The chain of rules from `from` to `to` (direct, or through h36m17); throws `InputError` when none. */
export function conversionPath(from: string, to: string): ConversionRule[] {
  const direct = conversionRule(from, to);
  if (direct) return [direct];
  const first = conversionRule(from, "h36m17");
  const second = conversionRule("h36m17", to);
  if (first && second) return [first, second];
  const targets = [
    ...new Set([
      "h36m17",
      ...CONVERSIONS.filter((r) => r.from === getSkeleton(from).name)
        .map((r) => r.to),
    ]),
  ];
  throw new InputError(
    `no conversion from skeleton ${getSkeleton(from).name} to ${getSkeleton(to).name}` +
      (conversionRule(from, "h36m17") ? ` (available: ${targets.join(", ")})` : ""),
  );
}

/** Options of the conversion functions. */
export interface ConvertOptions {
  /** A source joint whose score is below this counts as missing (default 0.05; ignored without scores). */
  minScore?: number;
}

/** Default `minScore`. */
export const DEFAULT_MIN_SCORE = 0.05;

interface Converted {
  coords: Float32Array;
  scores: Float32Array | null;
  mask: Uint8Array;
}

function applyRule(
  rule: ConversionRule,
  frames: number,
  dims: number,
  src: Converted,
  minScore: number,
): Converted {
  const jin = getSkeleton(rule.from).joints.length;
  const jout = rule.recipes.length;
  const coords = new Float32Array(frames * jout * dims);
  const scores = src.scores ? new Float32Array(frames * jout) : null;
  const mask = new Uint8Array(frames * jout);
  const usable = (f: number, j: number): boolean => {
    const i = f * jin + j;
    return src.mask[i] === 1 && (src.scores === null || src.scores[i] >= minScore);
  };
  for (let f = 0; f < frames; f++) {
    for (let t = 0; t < jout; t++) {
      const recipe = rule.recipes[t].find((r) => r.every((j) => usable(f, j)));
      if (!recipe) continue;
      const o = f * jout + t;
      mask[o] = 1;
      for (let d = 0; d < dims; d++) {
        let sum = 0;
        for (const j of recipe) sum += src.coords[(f * jin + j) * dims + d];
        coords[o * dims + d] = sum / recipe.length;
      }
      if (scores && src.scores) {
        let sum = 0;
        for (const j of recipe) sum += src.scores[f * jin + j];
        scores[o] = sum / recipe.length;
      }
    }
  }
  return { coords, scores, mask };
}

function convert(
  kp: Converted & { skeleton: string; frames: number },
  to: string,
  dims: number,
  options: ConvertOptions,
): Converted {
  const minScore = options.minScore ?? DEFAULT_MIN_SCORE;
  if (!Number.isFinite(minScore)) throw new InputError(`minScore must be a finite number, got ${minScore}`);
  let cur: Converted = kp;
  for (const rule of conversionPath(kp.skeleton, to)) cur = applyRule(rule, kp.frames, dims, cur, minScore);
  return cur;
}

/** Converts a 2D sequence to another skeleton (see the module notes for the rules and missing joints). */
export function convertKeypoints2D(kp: Keypoints2D, to: string, options: ConvertOptions = {}): Keypoints2D {
  const out = convert(kp, to, 2, options);
  const skeleton = getSkeleton(to);
  return { skeleton: skeleton.name, frames: kp.frames, joints: skeleton.joints.length, ...out };
}

/** Converts a 3D sequence to another skeleton (same rules; there are no scores in 3D). */
export function convertKeypoints3D(kp: Keypoints3D, to: string, options: ConvertOptions = {}): Keypoints3D {
  const out = convert({ ...kp, scores: null }, to, 3, options);
  const skeleton = getSkeleton(to);
  return {
    skeleton: skeleton.name,
    frames: kp.frames,
    joints: skeleton.joints.length,
    coords: out.coords,
    mask: out.mask,
  };
}
