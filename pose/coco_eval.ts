/**
 * COCO keypoint evaluation, following pycocotools `cocoeval.py` (iouType `'keypoints'`) step by step:
 * OKS with the COCO sigmas (box distance for ground truth without labelled joints), per-image
 * per-category greedy matching of score-sorted detections (stable sort, at most 20 per image), crowd and
 * ignore handling, area ranges all / medium / large, 101-point interpolated precision with the monotone
 * envelope, recall, −1 for settings without ground truth, and the 10 summary numbers.
 *
 * Like `COCO.loadRes`, a result's area is taken from its bbox when the first result has a non-empty
 * `bbox`, and otherwise from the extent of its keypoints; results get ids 1, 2, … in file order.
 * Floating-point sums follow the reference's order except NumPy's pairwise summation inside one OKS,
 * which can differ in the last bit.
 * @module
 */

import { InputError } from "../engine/errors.ts";

/** COCO's per-keypoint OKS sigmas (`kpt_oks_sigmas`) for the 17 person keypoints. */
export const COCO_OKS_SIGMAS: readonly number[] = [
  .26,
  .25,
  .25,
  .35,
  .35,
  .79,
  .79,
  .72,
  .72,
  .62,
  .62,
  1.07,
  1.07,
  .87,
  .87,
  .89,
  .89,
].map((s) => s / 10.0);

/** OKS thresholds `np.linspace(.5, .95, 10)` exactly as NumPy computes them. */
export const COCO_OKS_THRESHOLDS: readonly number[] = [
  0.5,
  0.55,
  0.6,
  0.65,
  0.7,
  0.75,
  0.8,
  0.85,
  0.8999999999999999,
  0.95,
];

/** Recall thresholds `np.linspace(0, 1, 101)`. */
export const COCO_RECALL_THRESHOLDS: readonly number[] = Array.from(
  { length: 101 },
  (_, i) => (i < 100 ? i * 0.01 : 1),
);

/** Area ranges of keypoint evaluation: all, medium (32²–96²), large (96²–1e10), inclusive. */
export const COCO_KEYPOINT_AREA_RANGES: readonly { label: string; range: readonly [number, number] }[] = [
  { label: "all", range: [0, 1e10] },
  { label: "medium", range: [32 ** 2, 96 ** 2] },
  { label: "large", range: [96 ** 2, 1e10] },
];

/** Maximum detections per image for keypoints. */
export const COCO_KEYPOINT_MAX_DETS = 20;

const EPS = 2.220446049250313e-16; // np.spacing(1)

/** A ground-truth person annotation (the fields keypoint evaluation reads). */
export interface CocoKeypointAnnotation {
  /** Annotation id. */
  id: number;
  /** Image id. */
  image_id: number;
  /** Category id. */
  category_id: number;
  /** Flat `[x, y, v] × K`; v = 0 not labelled. */
  keypoints: number[];
  /** Labelled keypoints; 0 makes the annotation ignored (counted from v > 0 when absent). */
  num_keypoints: number;
  /** Segment area (the OKS scale and the area-range key). */
  area: number;
  /** `[x, y, w, h]`; needed for annotations without labelled keypoints. */
  bbox?: number[];
  /** 1 for crowd regions (ignored, may match many detections). */
  iscrowd?: number;
}

/** A keypoint result record (COCO results format). */
export interface CocoKeypointResult {
  /** Image id (must exist in the ground truth). */
  image_id: number;
  /** Category id. */
  category_id: number;
  /** Flat `[x, y, score] × K`. */
  keypoints: number[];
  /** Detection score (sort key). */
  score: number;
  /** Optional `[x, y, w, h]` (see the module note on areas). */
  bbox?: number[];
}

/** The 10 COCO keypoint summary numbers (pycocotools `stats`). */
export interface CocoKeypointStats {
  /** AP over OKS .50:.95, all areas. */
  AP: number;
  /** AP at OKS .50. */
  AP50: number;
  /** AP at OKS .75. */
  AP75: number;
  /** AP, medium area. */
  APm: number;
  /** AP, large area. */
  APl: number;
  /** AR over OKS .50:.95. */
  AR: number;
  /** AR at OKS .50. */
  AR50: number;
  /** AR at OKS .75. */
  AR75: number;
  /** AR, medium area. */
  ARm: number;
  /** AR, large area. */
  ARl: number;
}

/** The summary keys in pycocotools order. */
export const COCO_STAT_KEYS: readonly (keyof CocoKeypointStats)[] = [
  "AP",
  "AP50",
  "AP75",
  "APm",
  "APl",
  "AR",
  "AR50",
  "AR75",
  "ARm",
  "ARl",
];

/** Accumulated arrays and summary of an evaluation. */
export interface CocoEvalResult {
  /** The 10 summary numbers. */
  stats: CocoKeypointStats;
  /** `[T=10, R=101, K, A=3]` interpolated precision, −1 where a setting has no ground truth. */
  precision: Float64Array;
  /** `[T=10, K, A=3]` recall, −1 where a setting has no ground truth. */
  recall: Float64Array;
  /** Evaluated category ids (K), sorted. */
  catIds: number[];
  /** Evaluated image ids, sorted. */
  imgIds: number[];
}

/** Options of the evaluation. */
export interface CocoEvalOptions {
  /** Per-keypoint sigmas (default `COCO_OKS_SIGMAS`); their count is the keypoint count K. */
  sigmas?: readonly number[];
  /** Name of the ground truth in error messages (e.g. its path). */
  gtName?: string;
  /** Name of the results in error messages. */
  dtName?: string;
}

interface Gt {
  id: number;
  imageId: number;
  catId: number;
  kx: Float64Array;
  ky: Float64Array;
  kv: Float64Array;
  area: number;
  bbox: number[] | null;
  iscrowd: number;
  ignore: boolean;
}

interface Dt {
  id: number;
  imageId: number;
  catId: number;
  kx: Float64Array;
  ky: Float64Array;
  area: number;
  score: number;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function num(rec: Record<string, unknown>, field: string, where: string): number {
  const v = rec[field];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new InputError(`${where}: field "${field}" must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function numArray(rec: Record<string, unknown>, field: string, where: string, length?: number): number[] {
  const v = rec[field];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    throw new InputError(`${where}: field "${field}" must be an array of finite numbers`);
  }
  if (length !== undefined && v.length !== length) {
    throw new InputError(`${where}: field "${field}" has ${v.length} values, expected ${length}`);
  }
  return v as number[];
}

function splitKeypoints(k: number[], n: number): [Float64Array, Float64Array, Float64Array] {
  const x = new Float64Array(n), y = new Float64Array(n), v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = k[3 * i];
    y[i] = k[3 * i + 1];
    v[i] = k[3 * i + 2];
  }
  return [x, y, v];
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** Stable ascending argsort by key (NumPy `kind='mergesort'`). */
function stableArgsort(keys: number[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
}

function parseGt(gt: unknown, name: string, k: number) {
  if (!isRecord(gt)) throw new InputError(`${name}: expected a COCO ground-truth object`);
  for (const f of ["images", "annotations", "categories"]) {
    if (!Array.isArray(gt[f])) throw new InputError(`${name}: field "${f}" must be an array`);
  }
  const imgIds = [
    ...new Set((gt.images as unknown[]).map((im, i) => {
      if (!isRecord(im)) throw new InputError(`${name}: images[${i}] must be an object`);
      return num(im, "id", `${name}: images[${i}]`);
    })),
  ].sort((a, b) => a - b);
  const catIds = [
    ...new Set((gt.categories as unknown[]).map((c, i) => {
      if (!isRecord(c)) throw new InputError(`${name}: categories[${i}] must be an object`);
      return num(c, "id", `${name}: categories[${i}]`);
    })),
  ].sort((a, b) => a - b);
  const anns: Gt[] = (gt.annotations as unknown[]).map((a, i) => {
    const where = `${name}: annotations[${i}]`;
    if (!isRecord(a)) throw new InputError(`${where} must be an object`);
    const keypoints = numArray(a, "keypoints", where, 3 * k);
    const [kx, ky, kv] = splitKeypoints(keypoints, k);
    const numKeypoints = a.num_keypoints === undefined
      ? kv.filter((v) => v > 0).length
      : num(a, "num_keypoints", where);
    const iscrowd = a.iscrowd === undefined ? 0 : num(a, "iscrowd", where);
    const bbox = a.bbox === undefined ? null : numArray(a, "bbox", where, 4);
    if (bbox === null && !kv.some((v) => v > 0)) {
      throw new InputError(`${where}: field "bbox" is needed when no keypoint is labelled`);
    }
    return {
      id: num(a, "id", where),
      imageId: num(a, "image_id", where),
      catId: num(a, "category_id", where),
      kx,
      ky,
      kv,
      area: num(a, "area", where),
      bbox,
      iscrowd,
      // As `_prepare`: ignore = iscrowd, then num_keypoints == 0 or ignore.
      ignore: numKeypoints === 0 || Boolean(iscrowd),
    };
  });
  return { imgIds, catIds, anns };
}

function parseDt(dt: unknown, name: string, k: number, imgSet: Set<number>): Dt[] {
  if (!Array.isArray(dt)) throw new InputError(`${name}: expected an array of keypoint results`);
  if (dt.length === 0) return [];
  const first = dt[0];
  if (!isRecord(first)) throw new InputError(`${name}: record 0 must be an object`);
  const fromBbox = Array.isArray(first.bbox) && first.bbox.length > 0;
  if (!fromBbox && first.segmentation !== undefined) {
    throw new InputError(`${name}: segmentation results are not keypoint results (record 0)`);
  }
  return dt.map((d, i) => {
    const where = `${name}: record ${i}`;
    if (!isRecord(d)) throw new InputError(`${where} must be an object`);
    const imageId = num(d, "image_id", where);
    if (!imgSet.has(imageId)) {
      throw new InputError(`${where}: image_id ${imageId} is not an image of the ground truth`);
    }
    const keypoints = numArray(d, "keypoints", where, 3 * k);
    const [kx, ky] = splitKeypoints(keypoints, k);
    let area: number;
    if (fromBbox) {
      const bb = numArray(d, "bbox", where, 4);
      area = bb[2] * bb[3];
    } else {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let j = 0; j < k; j++) {
        x0 = Math.min(x0, kx[j]);
        x1 = Math.max(x1, kx[j]);
        y0 = Math.min(y0, ky[j]);
        y1 = Math.max(y1, ky[j]);
      }
      area = (x1 - x0) * (y1 - y0);
    }
    return {
      id: i + 1,
      imageId,
      catId: num(d, "category_id", where),
      kx,
      ky,
      area,
      score: num(d, "score", where),
    };
  });
}

/**
 * OKS of one detection against one ground truth (pycocotools `computeOks` for a single pair): over the
 * ground truth's labelled joints, or, when it has none, against its box grown by one box size each side.
 */
export function objectKeypointSimilarity(
  detection: { keypoints: ArrayLike<number> },
  groundTruth: { keypoints: ArrayLike<number>; area: number; bbox?: ArrayLike<number> },
  options: { sigmas?: readonly number[] } = {},
): number {
  const sigmas = options.sigmas ?? COCO_OKS_SIGMAS;
  const k = sigmas.length;
  if (detection.keypoints.length !== 3 * k || groundTruth.keypoints.length !== 3 * k) {
    throw new InputError(`oks: keypoints must hold ${3 * k} values (x, y, v for ${k} joints)`);
  }
  const [dx, dy] = splitKeypoints(Array.from(detection.keypoints), k);
  const [gx, gy, gv] = splitKeypoints(Array.from(groundTruth.keypoints), k);
  const bbox = groundTruth.bbox === undefined ? null : Array.from(groundTruth.bbox);
  if (bbox === null && !gv.some((v) => v > 0)) {
    throw new InputError("oks: a ground truth without labelled keypoints needs a bbox");
  }
  return oksPair(dx, dy, { kx: gx, ky: gy, kv: gv, area: groundTruth.area, bbox }, varsOf(sigmas));
}

function varsOf(sigmas: readonly number[]): Float64Array {
  return Float64Array.from(sigmas, (s) => (s * 2) * (s * 2));
}

function oksPair(
  xd: Float64Array,
  yd: Float64Array,
  g: { kx: Float64Array; ky: Float64Array; kv: Float64Array; area: number; bbox: number[] | null },
  vars: Float64Array,
): number {
  const k = vars.length;
  let k1 = 0;
  for (let j = 0; j < k; j++) if (g.kv[j] > 0) k1++;
  let x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  if (k1 === 0) {
    const bb = g.bbox!;
    x0 = bb[0] - bb[2];
    x1 = bb[0] + bb[2] * 2;
    y0 = bb[1] - bb[3];
    y1 = bb[1] + bb[3] * 2;
  }
  let sum = 0, count = 0;
  for (let j = 0; j < k; j++) {
    let dx: number, dy: number;
    if (k1 > 0) {
      if (!(g.kv[j] > 0)) continue;
      dx = xd[j] - g.kx[j];
      dy = yd[j] - g.ky[j];
    } else {
      dx = Math.max(0, x0 - xd[j]) + Math.max(0, xd[j] - x1);
      dy = Math.max(0, y0 - yd[j]) + Math.max(0, yd[j] - y1);
    }
    const e = (dx * dx + dy * dy) / vars[j] / (g.area + EPS) / 2;
    sum += Math.exp(-e);
    count++;
  }
  return sum / count;
}

interface ImageEval {
  dtMatched: Uint8Array[]; // [T][D]: matched to a gt with a non-zero id
  dtIgnore: Uint8Array[]; // [T][D]
  dtScores: number[];
  gtIgnore: Uint8Array;
}

/**
 * Evaluates keypoint results against a COCO ground truth (both already parsed from JSON) exactly as
 * pycocotools' `evaluate(); accumulate(); summarize()` with iouType `'keypoints'`.
 * Throws `InputError` naming the record and field at fault.
 */
export function evaluateCocoKeypoints(
  groundTruth: unknown,
  results: unknown,
  options: CocoEvalOptions = {},
): CocoEvalResult {
  const sigmas = options.sigmas ?? COCO_OKS_SIGMAS;
  const k = sigmas.length;
  const vars = varsOf(sigmas);
  const { imgIds, catIds, anns } = parseGt(groundTruth, options.gtName ?? "ground truth", k);
  const dts = parseDt(results, options.dtName ?? "results", k, new Set(imgIds));
  const key = (img: number, cat: number): string => `${img}/${cat}`;
  // Grouping keeps file order within an image, as COCO.getAnnIds does.
  const gtsBy = groupBy(anns, (g) => key(g.imageId, g.catId));
  const dtsBy = groupBy(dts, (d) => key(d.imageId, d.catId));

  const thresholds = COCO_OKS_THRESHOLDS;
  const T = thresholds.length;
  const areas = COCO_KEYPOINT_AREA_RANGES;
  const maxDet = COCO_KEYPOINT_MAX_DETS;
  // evalImgs[k][a][i], null where an image has neither gt nor dt of the category.
  const evalImgs: (ImageEval | null)[][][] = catIds.map(() => areas.map(() => []));
  catIds.forEach((catId, ki) => {
    for (const imgId of imgIds) {
      const gt = gtsBy.get(key(imgId, catId)) ?? [];
      const dtAll = dtsBy.get(key(imgId, catId)) ?? [];
      const dtOrder = stableArgsort(dtAll.map((d) => -d.score)).slice(0, maxDet);
      const dt = dtOrder.map((i) => dtAll[i]);
      // ious[d][g] in the original gt order (computeOks), empty when either side is empty.
      const ious = gt.length === 0 || dt.length === 0
        ? null
        : dt.map((d) => gt.map((g) => oksPair(d.kx, d.ky, g, vars)));
      areas.forEach(({ range }, ai) => {
        if (gt.length === 0 && dt.length === 0) {
          evalImgs[ki][ai].push(null);
          return;
        }
        evalImgs[ki][ai].push(evaluateImg(gt, dt, ious, range, thresholds));
      });
    }
  });

  const R = COCO_RECALL_THRESHOLDS.length;
  const K = catIds.length;
  const A = areas.length;
  const precision = new Float64Array(T * R * K * A).fill(-1);
  const recall = new Float64Array(T * K * A).fill(-1);
  for (let ki = 0; ki < K; ki++) {
    for (let ai = 0; ai < A; ai++) {
      const E = evalImgs[ki][ai].filter((e): e is ImageEval => e !== null);
      if (E.length === 0) continue;
      const scores = E.flatMap((e) => e.dtScores.slice(0, maxDet));
      const inds = stableArgsort(scores.map((s) => -s));
      const npig = E.reduce((n, e) => n + e.gtIgnore.filter((g) => g === 0).length, 0);
      if (npig === 0) continue;
      for (let t = 0; t < T; t++) {
        const matched = E.flatMap((e) => Array.from(e.dtMatched[t].slice(0, maxDet)));
        const ignored = E.flatMap((e) => Array.from(e.dtIgnore[t].slice(0, maxDet)));
        const nd = inds.length;
        const rc = new Float64Array(nd);
        const pr = new Array<number>(nd);
        let tp = 0, fp = 0;
        for (let n = 0; n < nd; n++) {
          const i = inds[n];
          if (matched[i] && !ignored[i]) tp++;
          if (!matched[i] && !ignored[i]) fp++;
          rc[n] = tp / npig;
          pr[n] = tp / (fp + tp + EPS);
        }
        recall[(t * K + ki) * A + ai] = nd ? rc[nd - 1] : 0;
        for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        for (let r = 0; r < R; r++) {
          const pi = searchsortedLeft(rc, COCO_RECALL_THRESHOLDS[r]);
          // Recall thresholds beyond the recall reached keep precision 0, as pycocotools' q.
          precision[((t * R + r) * K + ki) * A + ai] = pi < nd ? pr[pi] : 0;
        }
      }
    }
  }
  return { stats: summarize(precision, recall, K, R), precision, recall, catIds, imgIds };
}

function evaluateImg(
  gtIn: Gt[],
  dt: Dt[],
  iousIn: number[][] | null,
  range: readonly [number, number],
  thresholds: readonly number[],
): ImageEval {
  const outside = (area: number): boolean => area < range[0] || area > range[1];
  const ignoreFlags = gtIn.map((g) => (g.ignore || outside(g.area) ? 1 : 0));
  const gtind = stableArgsort(ignoreFlags);
  const gt = gtind.map((i) => gtIn[i]);
  const gtIg = Uint8Array.from(gtind.map((i) => ignoreFlags[i]));
  const ious = iousIn === null ? null : iousIn.map((row) => gtind.map((i) => row[i]));
  const T = thresholds.length, G = gt.length, D = dt.length;
  const gtm = Array.from({ length: T }, () => new Float64Array(G));
  const dtm = Array.from({ length: T }, () => new Float64Array(D));
  const dtIg = Array.from({ length: T }, () => new Uint8Array(D));
  if (ious !== null) {
    for (let t = 0; t < T; t++) {
      for (let di = 0; di < D; di++) {
        let iou = Math.min(thresholds[t], 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < G; gi++) {
          if (gtm[t][gi] > 0 && !gt[gi].iscrowd) continue;
          if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
          if (ious[di][gi] < iou) continue;
          iou = ious[di][gi];
          m = gi;
        }
        if (m === -1) continue;
        dtIg[t][di] = gtIg[m];
        dtm[t][di] = gt[m].id;
        gtm[t][m] = dt[di].id;
      }
    }
  }
  for (let t = 0; t < T; t++) {
    for (let di = 0; di < D; di++) {
      if (dtm[t][di] === 0 && outside(dt[di].area)) dtIg[t][di] = 1;
    }
  }
  return {
    dtMatched: dtm.map((row) => Uint8Array.from(row, (id) => (id !== 0 ? 1 : 0))),
    dtIgnore: dtIg,
    dtScores: dt.map((d) => d.score),
    gtIgnore: gtIg,
  };
}

/** First index i with `sorted[i] >= value` (NumPy `searchsorted(side='left')`). */
function searchsortedLeft(sorted: Float64Array, value: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function summarize(precision: Float64Array, recall: Float64Array, K: number, R: number): CocoKeypointStats {
  const T = COCO_OKS_THRESHOLDS.length, A = COCO_KEYPOINT_AREA_RANGES.length;
  const meanValid = (values: number[]): number => {
    const v = values.filter((x) => x > -1);
    return v.length === 0 ? -1 : v.reduce((s, x) => s + x, 0) / v.length;
  };
  const ap = (ai: number, tOnly?: number): number => {
    const vals: number[] = [];
    for (let t = 0; t < T; t++) {
      if (tOnly !== undefined && t !== tOnly) continue;
      for (let r = 0; r < R; r++) {
        for (let k = 0; k < K; k++) vals.push(precision[((t * R + r) * K + k) * A + ai]);
      }
    }
    return meanValid(vals);
  };
  const ar = (ai: number, tOnly?: number): number => {
    const vals: number[] = [];
    for (let t = 0; t < T; t++) {
      if (tOnly !== undefined && t !== tOnly) continue;
      for (let k = 0; k < K; k++) vals.push(recall[(t * K + k) * A + ai]);
    }
    return meanValid(vals);
  };
  return {
    AP: ap(0),
    AP50: ap(0, 0),
    AP75: ap(0, 5),
    APm: ap(1),
    APl: ap(2),
    AR: ar(0),
    AR50: ar(0, 0),
    AR75: ar(0, 5),
    ARm: ar(1),
    ARl: ar(2),
  };
}

/**
 * Reads a COCO ground-truth JSON file and a keypoint results JSON file and evaluates them
 * (`evaluateCocoKeypoints`). Throws `InputError` naming the file on unreadable or malformed JSON.
 */
export async function evaluateCocoKeypointFiles(
  gtPath: string,
  dtPath: string,
  options: Omit<CocoEvalOptions, "gtName" | "dtName"> = {},
): Promise<CocoEvalResult> {
  const read = async (path: string): Promise<unknown> => {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
    }
  };
  const [gt, dt] = await Promise.all([read(gtPath), read(dtPath)]);
  return evaluateCocoKeypoints(gt, dt, { ...options, gtName: gtPath, dtName: dtPath });
}

/** Python's `'{:0.3f}'.format(x)`: like `toFixed(3)`, but exact binary ties round half to even. */
function formatFixed3(x: number): string {
  const scaled = x * 1000;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && scaled / 1000 === x) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 1000).toFixed(3);
  }
  return x.toFixed(3);
}

/** The 10 summary lines exactly as pycocotools' `summarize()` prints them for keypoints. */
export function formatCocoSummary(stats: CocoKeypointStats): string {
  const rows: [string, string, string, keyof CocoKeypointStats][] = [
    ["Average Precision", "0.50:0.95", "all", "AP"],
    ["Average Precision", "0.50", "all", "AP50"],
    ["Average Precision", "0.75", "all", "AP75"],
    ["Average Precision", "0.50:0.95", "medium", "APm"],
    ["Average Precision", "0.50:0.95", "large", "APl"],
    ["Average Recall", "0.50:0.95", "all", "AR"],
    ["Average Recall", "0.50", "all", "AR50"],
    ["Average Recall", "0.75", "all", "AR75"],
    ["Average Recall", "0.50:0.95", "medium", "ARm"],
    ["Average Recall", "0.50:0.95", "large", "ARl"],
  ];
  return rows.map(([title, iou, area, key]) => {
    const type = title === "Average Precision" ? "(AP)" : "(AR)";
    return ` ${title.padEnd(18)} ${type} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${
      String(COCO_KEYPOINT_MAX_DETS).padStart(3)
    } ] = ${formatFixed3(stats[key])}`;
  }).join("\n");
}
