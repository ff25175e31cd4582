/**
 * COCO keypoint files: the annotation file (`{images, annotations, categories}`, keypoints
 * `[x, y, v] × 17`, v = 0 not labelled / 1 labelled but hidden / 2 visible) and the results file
 * (`[{image_id, category_id, keypoints: [x, y, score] × 17, score, center?, scale?}]`), read and
 * written, and their mapping to a `PoseDocument`.
 *
 * As a `PoseDocument` (skeleton coco17): every image is a frame (in file order, `frameIds` = image ids)
 * and every annotation/result is its own one-frame person (COCO has no tracks). Annotations: mask =
 * v > 0, no scores, the COCO fields (`id`, `image_id`, `bbox`, `area`, `iscrowd`, `visibility`...) kept
 * in `meta`. Results: every keypoint present, scores = the third values, `score`/`center`/`scale` in
 * `meta`. Writing back uses `meta` where present, else derives the fields (see the writers).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import type { Keypoints2D } from "../convert.ts";
import { COCO_17 } from "../skeletons.ts";
import {
  describeValue,
  expectArrayField,
  expectNumberField,
  expectNumbers,
  expectObject,
  readJsonFile,
  shortFloat32,
} from "./common.ts";
import { createPoseDocument, type PoseDocument, type PoseTrack, validatePoseDocument } from "./pose_json.ts";

const K = 17;

// The person category's 1-based `skeleton` links as COCO ships them (differs from PoseFix's lines).
const COCO_CATEGORY_SKELETON = [
  [16, 14],
  [14, 12],
  [17, 15],
  [15, 13],
  [12, 13],
  [6, 12],
  [7, 13],
  [6, 7],
  [6, 8],
  [
    7,
    9,
  ],
  [8, 10],
  [9, 11],
  [2, 3],
  [1, 2],
  [1, 3],
  [2, 4],
  [3, 5],
  [4, 6],
  [5, 7],
];

/** An image record (extra fields such as `file_name`, `coco_url`, `license` are kept). */
export interface CocoImageRecord {
  /** Image id. */
  id: number;
  /** Image width in pixels, when given. */
  width?: number;
  /** Image height in pixels, when given. */
  height?: number;
  /** File name, when given. */
  file_name?: string;
  /** Any other field of the record. */
  [extra: string]: unknown;
}

/** A person annotation (extra fields such as `segmentation` are kept). */
export interface CocoPersonAnnotation {
  /** Annotation id (unique). */
  id: number;
  /** Image id (present in `images`). */
  image_id: number;
  /** Category id (1 = person). */
  category_id: number;
  /** `[x, y, v] × 17`, v ∈ {0, 1, 2}. */
  keypoints: number[];
  /** Number of keypoints with v > 0. */
  num_keypoints: number;
  /** `[x, y, w, h]`. */
  bbox: number[];
  /** Segment area. */
  area: number;
  /** 1 for crowd regions. */
  iscrowd: number;
  /** Any other field of the record. */
  [extra: string]: unknown;
}

/** A COCO keypoint annotation file. */
export interface CocoKeypointsData {
  /** Images. */
  images: CocoImageRecord[];
  /** Person annotations. */
  annotations: CocoPersonAnnotation[];
  /** Categories (kept as they are). */
  categories: unknown[];
  /** Other top-level fields (`info`, `licenses`...), kept as they are. */
  extra: Record<string, unknown>;
  /** The file it was parsed from, when it was: errors of the conversion name it. */
  file?: string;
}

/** A keypoint result (detection) record. */
export interface CocoResultRecord {
  /** Image id. */
  image_id: number;
  /** Category id (1 = person). */
  category_id: number;
  /** `[x, y, score] × 17`. */
  keypoints: number[];
  /** Detection score. */
  score: number;
  /** Optional box centre `[x, y]` (top-down pipelines). */
  center?: number[];
  /** Optional box scale `[sx, sy]` (top-down pipelines). */
  scale?: number[];
  /** Any other field of the record. */
  [extra: string]: unknown;
}

function checkKeypoints(value: unknown, where: string, visibility: boolean): number[] {
  const kps = expectNumbers(value, {
    where,
    field: "keypoints",
    count: 3 * K,
    describe: (i) => `joint "${COCO_17.joints[Math.floor(i / 3)]}" ${["x", "y", "v"][i % 3]}`,
  });
  if (visibility) {
    for (let j = 0; j < K; j++) {
      const v = kps[3 * j + 2];
      if (v !== 0 && v !== 1 && v !== 2) {
        throw new InputError(
          `${where}: "keypoints" visibility of keypoint ${j} (${
            COCO_17.joints[j]
          }) is ${v}, expected 0, 1 or 2`,
        );
      }
    }
  }
  return kps;
}

/** Validates a parsed COCO keypoint annotation file; `file` names it in error messages. */
export function parseCocoKeypoints(json: unknown, file: string): CocoKeypointsData {
  const root = expectObject(json, file);
  const images = expectArrayField(root, { where: file, field: "images" }).map((raw, i) => {
    const where = `${file}: image ${i}`;
    const im = expectObject(raw, where);
    expectNumberField(im, { where, field: "id", integer: true });
    for (const f of ["width", "height"]) {
      if (im[f] !== undefined) expectNumberField(im, { where: `${where} (id ${im.id})`, field: f, min: 1 });
    }
    return im as CocoImageRecord;
  });
  const imageIds = new Set<number>();
  for (const im of images) {
    if (imageIds.has(im.id)) throw new InputError(`${file}: image id ${im.id} appears twice`);
    imageIds.add(im.id);
  }
  const annIds = new Set<number>();
  const annotations = expectArrayField(root, { where: file, field: "annotations" }).map((raw, i) => {
    const base = `${file}: annotation ${i}`;
    const a = expectObject(raw, base);
    const id = expectNumberField(a, { where: base, field: "id", integer: true });
    const where = `${base} (id ${id})`;
    if (annIds.has(id)) throw new InputError(`${where}: annotation id appears twice`);
    annIds.add(id);
    const imageId = expectNumberField(a, { where, field: "image_id", integer: true });
    if (!imageIds.has(imageId)) throw new InputError(`${where}: "image_id" ${imageId} is not in "images"`);
    expectNumberField(a, { where, field: "category_id", integer: true });
    const kps = checkKeypoints(a.keypoints, where, true);
    const labelled = kps.filter((_, i) => i % 3 === 2 && kps[i] > 0).length;
    const num = expectNumberField(a, { where, field: "num_keypoints", integer: true, min: 0 });
    if (num !== labelled) {
      throw new InputError(`${where}: "num_keypoints" is ${num} but ${labelled} keypoints have v > 0`);
    }
    const bbox = expectNumbers(a.bbox, { where, field: "bbox", count: 4 });
    if (bbox[2] < 0 || bbox[3] < 0) throw new InputError(`${where}: "bbox" has a negative width or height`);
    expectNumberField(a, { where, field: "area", min: 0 });
    const crowd = expectNumberField(a, { where, field: "iscrowd", integer: true });
    if (crowd !== 0 && crowd !== 1) throw new InputError(`${where}: "iscrowd" is ${crowd}, expected 0 or 1`);
    return a as CocoPersonAnnotation;
  });
  const categories = root.categories === undefined
    ? []
    : expectArrayField(root, { where: file, field: "categories" });
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(root)) {
    if (!["images", "annotations", "categories"].includes(k)) extra[k] = v;
  }
  if (images.length === 0) throw new InputError(`${file}: "images" is empty`);
  return { images, annotations, categories, extra, file };
}

/** Reads a COCO keypoint annotation file. */
export async function readCocoKeypoints(path: string): Promise<CocoKeypointsData> {
  return parseCocoKeypoints(await readJsonFile(path), path);
}

/** Writes a COCO keypoint annotation file (atomically); top-level extras first, as COCO orders them. */
export async function writeCocoKeypoints(path: string, data: CocoKeypointsData): Promise<void> {
  const out = {
    ...data.extra,
    categories: data.categories,
    images: data.images,
    annotations: data.annotations,
  };
  await writeFileAtomic(path, JSON.stringify(out) + "\n");
}

/** Validates a parsed COCO results file (a non-empty array of detections). */
export function parseCocoResults(json: unknown, file: string): CocoResultRecord[] {
  if (!Array.isArray(json)) {
    throw new InputError(`${file}: expected a JSON array of keypoint results, got ${describeValue(json)}`);
  }
  if (json.length === 0) throw new InputError(`${file}: the results array is empty`);
  return json.map((raw, i) => {
    const where = `${file}: result ${i}`;
    const r = expectObject(raw, where);
    expectNumberField(r, { where, field: "image_id", integer: true });
    expectNumberField(r, { where, field: "category_id", integer: true });
    checkKeypoints(r.keypoints, where, false);
    expectNumberField(r, { where, field: "score" });
    for (const f of ["center", "scale"]) {
      if (r[f] !== undefined) expectNumbers(r[f], { where, field: f, count: 2 });
    }
    return r as CocoResultRecord;
  });
}

/** Reads a COCO results file. */
export async function readCocoResults(path: string): Promise<CocoResultRecord[]> {
  return parseCocoResults(await readJsonFile(path), path);
}

/** Writes a COCO results file (atomically), one detection per line. */
export async function writeCocoResults(path: string, results: CocoResultRecord[]): Promise<void> {
  if (results.length === 0) throw new InputError(`${path}: no results to write`);
  await writeFileAtomic(path, `[\n${results.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`);
}

function oneFrame(kps: number[], scored: boolean): Keypoints2D {
  const coords = new Float32Array(K * 2);
  const mask = new Uint8Array(K);
  const scores = scored ? new Float32Array(K) : null;
  for (let j = 0; j < K; j++) {
    const third = kps[3 * j + 2];
    mask[j] = scored || third > 0 ? 1 : 0;
    if (mask[j]) {
      coords[2 * j] = kps[3 * j];
      coords[2 * j + 1] = kps[3 * j + 1];
    }
    if (scores) scores[j] = third;
  }
  return { skeleton: "coco17", frames: 1, joints: K, coords, scores, mask };
}

function imageSizeOf(images: CocoImageRecord[]): PoseDocument["image"] {
  const w = images[0]?.width;
  const h = images[0]?.height;
  if (w === undefined || h === undefined) return null;
  return images.every((im) => im.width === w && im.height === h) ? { width: w, height: h } : null;
}

/** Annotation file → document (one single-frame person per annotation; see the module notes). */
export function cocoKeypointsToDocument(data: CocoKeypointsData): PoseDocument {
  const frameOf = new Map(data.images.map((im, i) => [im.id, i]));
  const people = data.annotations.map((a, i): PoseTrack => {
    const { keypoints, ...rest } = a;
    delete rest.segmentation;
    return {
      track: i,
      frames: [frameOf.get(a.image_id)!],
      keypoints2d: oneFrame(keypoints, false),
      keypoints3d: null,
      meta: { ...rest, visibility: keypoints.filter((_, k) => k % 3 === 2) },
    };
  });
  if (people.length === 0) {
    throw new InputError(`${data.file ? `${data.file}: ` : ""}COCO annotation file has no annotations`);
  }
  return createPoseDocument({
    skeleton: "coco17",
    image: imageSizeOf(data.images),
    frameIds: data.images.map((im) => im.id),
    people,
  });
}

/** Results → document (one single-frame person per detection, frames = distinct image ids in order of
 * first appearance). */
export function cocoResultsToDocument(results: CocoResultRecord[]): PoseDocument {
  const ids: number[] = [];
  const frameOf = new Map<number, number>();
  for (const r of results) {
    if (!frameOf.has(r.image_id)) {
      frameOf.set(r.image_id, ids.length);
      ids.push(r.image_id);
    }
  }
  const people = results.map((r, i): PoseTrack => {
    const { keypoints, ...rest } = r;
    return {
      track: i,
      frames: [frameOf.get(r.image_id)!],
      keypoints2d: oneFrame(keypoints, true),
      keypoints3d: null,
      meta: rest,
    };
  });
  return createPoseDocument({ skeleton: "coco17", frameIds: ids, people });
}

function requireCoco(doc: PoseDocument, what: string): void {
  validatePoseDocument(doc, what);
  if (doc.skeleton !== "coco17") {
    throw new InputError(`${what} needs skeleton coco17, the poses are ${doc.skeleton} (convert them first)`);
  }
}

function imageIdOf(doc: PoseDocument, track: PoseTrack, frame: number): number {
  const fromMeta = track.frames.length === 1 ? track.meta?.image_id : undefined;
  if (typeof fromMeta === "number") return fromMeta;
  const id = doc.frameIds?.[frame];
  if (typeof id === "number") return id;
  return frame;
}

function numberArray(value: unknown, n: number): number[] | undefined {
  return Array.isArray(value) && value.length === n &&
      value.every((v) => typeof v === "number" && Number.isFinite(v))
    ? value as number[]
    : undefined;
}

/**
 * Document (coco17) → results: one record per person and frame. Keypoint triplets are `[x, y, score]`
 * (score = the joint's score, or 1/0 by the mask when there are none; missing joints `[0, 0, 0]`);
 * `image_id` = meta.image_id (single-frame people) or `frameIds[frame]` or the frame index; `score` =
 * meta.score or the mean score of the present joints.
 */
export function documentToCocoResults(doc: PoseDocument): CocoResultRecord[] {
  requireCoco(doc, "COCO results");
  const out: CocoResultRecord[] = [];
  for (const p of doc.people) {
    const kp = p.keypoints2d;
    if (!kp) continue;
    p.frames.forEach((frame, f) => {
      const keypoints: number[] = [];
      let sum = 0;
      let count = 0;
      for (let j = 0; j < K; j++) {
        const i = f * K + j;
        const present = kp.mask[i] === 1;
        const s = kp.scores ? kp.scores[i] : present ? 1 : 0;
        keypoints.push(
          present ? shortFloat32(kp.coords[2 * i]) : 0,
          present ? shortFloat32(kp.coords[2 * i + 1]) : 0,
          present ? shortFloat32(s) : 0,
        );
        if (present) {
          sum += s;
          count++;
        }
      }
      const metaScore = p.frames.length === 1 && typeof p.meta?.score === "number" ? p.meta.score : undefined;
      const rec: CocoResultRecord = {
        image_id: imageIdOf(doc, p, frame),
        category_id: typeof p.meta?.category_id === "number" ? p.meta.category_id : 1,
        keypoints,
        score: metaScore ?? (count > 0 ? shortFloat32(sum / count) : 0),
      };
      const center = p.frames.length === 1 ? numberArray(p.meta?.center, 2) : undefined;
      const scale = p.frames.length === 1 ? numberArray(p.meta?.scale, 2) : undefined;
      if (center) rec.center = center;
      if (scale) rec.scale = scale;
      out.push(rec);
    });
  }
  if (out.length === 0) throw new InputError("COCO results: the poses have no 2D keypoints");
  return out;
}

/**
 * Document (coco17) → annotation file: images from `frameIds` (or frame indices) with the document's
 * image size; one annotation per person and frame with v = meta.visibility (single-frame people) or 2
 * for present / 0 for missing joints, `bbox` = meta.bbox or the keypoints' bounding box, `area` =
 * meta.area or the box area, `iscrowd` = meta.iscrowd or 0, ids = meta.id or running numbers.
 */
export function documentToCocoKeypoints(doc: PoseDocument): CocoKeypointsData {
  requireCoco(doc, "COCO annotations");
  const imageIds = new Map<number, CocoImageRecord>();
  const annotations: CocoPersonAnnotation[] = [];
  const usedIds = new Set(doc.people.map((p) => p.meta?.id).filter((id) => typeof id === "number"));
  let nextId = 1;
  // Every listed frame becomes an image, annotated or not (COCO files list images without people).
  for (const id of doc.frameIds ?? []) {
    if (typeof id === "number" && !imageIds.has(id)) {
      imageIds.set(id, doc.image ? { id, width: doc.image.width, height: doc.image.height } : { id });
    }
  }
  for (const p of doc.people) {
    const kp = p.keypoints2d;
    if (!kp) continue;
    const single = p.frames.length === 1;
    p.frames.forEach((frame, f) => {
      const imageId = imageIdOf(doc, p, frame);
      if (!imageIds.has(imageId)) {
        const im: CocoImageRecord = { id: imageId };
        if (doc.image) Object.assign(im, { width: doc.image.width, height: doc.image.height });
        imageIds.set(imageId, im);
      }
      const vis = single ? numberArray(p.meta?.visibility, K) : undefined;
      const keypoints: number[] = [];
      let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
      let labelled = 0;
      for (let j = 0; j < K; j++) {
        const i = f * K + j;
        const present = kp.mask[i] === 1;
        const v = present ? (vis && vis[j] > 0 ? vis[j] : 2) : 0;
        const x = present ? shortFloat32(kp.coords[2 * i]) : 0;
        const y = present ? shortFloat32(kp.coords[2 * i + 1]) : 0;
        keypoints.push(x, y, v);
        if (present) {
          labelled++;
          [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
        }
      }
      const box = labelled > 0 ? [x0, y0, x1 - x0, y1 - y0] : [0, 0, 0, 0];
      const bbox = (single ? numberArray(p.meta?.bbox, 4) : undefined) ?? box;
      const metaArea = single && typeof p.meta?.area === "number" ? p.meta.area : undefined;
      let id = single && typeof p.meta?.id === "number" ? p.meta.id : undefined;
      if (id === undefined) {
        while (usedIds.has(nextId)) nextId++;
        id = nextId++;
      }
      annotations.push({
        id,
        image_id: imageId,
        category_id: typeof p.meta?.category_id === "number" ? p.meta.category_id : 1,
        keypoints,
        num_keypoints: labelled,
        bbox,
        area: metaArea ?? bbox[2] * bbox[3],
        iscrowd: single && p.meta?.iscrowd === 1 ? 1 : 0,
      });
    });
  }
  if (annotations.length === 0) throw new InputError("COCO annotations: the poses have no 2D keypoints");
  return {
    images: [...imageIds.values()],
    annotations,
    categories: [{
      supercategory: "person",
      id: 1,
      name: "person",
      keypoints: [...COCO_17.joints],
      skeleton: COCO_CATEGORY_SKELETON,
    }],
    extra: {},
  };
}
