/**
 * posegpu: human pose lifting and refinement on WebGPU, in TypeScript (Deno and the browser).
 *
 * This entry point has what most users need; the full modules are `@posegpu/posegpu/engine` (GPU tensors
 * and WGSL kernels) and `@posegpu/posegpu/pose` (every skeleton, format, metric, protocol and picture).
 *
 * - Lifting: `loadLifter` (a posegpu checkpoint, e.g. the shipped `weights/martinez_sh.safetensors`) and
 *   `Lifter.lift` (H36M-17 pixels `[frames, 17, 2]` → root-relative camera-frame mm `[frames, 17, 3]`).
 * - Keypoint files: `readPoseDocument` / `writePoseDocument` (COCO, OpenPose, MediaPipe, pose JSON, CSV,
 *   BVH), skeleton conversions, One-Euro smoothing, BVH export.
 * - Metrics: `mpjpe`, `pMpjpe`, `nMpjpe`, `perJointError`, `pck3d`, `auc3d`.
 * - Pictures: `viewerHtml` (self-contained HTML viewer), `documentSvg2d`, `documentSvg3d`, `skeletonSvg3d`.
 * - The shipped demo clip (`loadDemoSample`) and the engine (`initEngine`, `tensor`, `matmul`, ...).
 *
 * Lift the shipped sample clip and score it against its own 3D:
 *
 * ```ts
 * import { initEngine, loadDemoSample, loadLifter, mpjpe, pMpjpe } from "./mod.ts";
 *
 * await initEngine();
 * const sample = await loadDemoSample(); // CMU 131_01: 83 frames, H36M-17 pixels + 3D ground truth
 * const lifter = await loadLifter(new URL("./weights/martinez_sh.safetensors", import.meta.url).pathname);
 * const k2 = sample.keypoints2d;
 * // "auto": each pose moved and scaled to where the training camera saw people (any camera).
 * const poses = await lifter.lift(k2.coords, { mask: k2.mask, normalizeInput: "auto" });
 * console.log(poses.length === 83 * 17 * 3, mpjpe(poses, sample.groundTruth3d.coords).toFixed(1) + " mm");
 * console.log("P-MPJPE", pMpjpe(poses, sample.groundTruth3d.coords).toFixed(1), "mm");
 * ```
 *
 * Any keypoint file to H36M-17, smoothed, as a picture (no GPU needed):
 *
 * ```ts
 * import { convertPoseDocument, documentSvg3d, loadDemoSample, oneEuroFilterDocument } from "./mod.ts";
 *
 * const { doc } = await loadDemoSample(); // or: await readPoseDocument("results.json")
 * const h36m = convertPoseDocument(doc, "h36m17");
 * const smooth = oneEuroFilterDocument(h36m, { minCutoff: 1, beta: 0.01 });
 * const svg = documentSvg3d(smooth, 40, { title: "frame 40" });
 * if (!svg.startsWith("<svg")) throw new Error("expected an SVG");
 * ```
 *
 * The engine alone:
 *
 * ```ts
 * import { initEngine, matmul, tensor } from "./mod.ts";
 *
 * await initEngine();
 * const y = matmul(tensor([1, 2, 3, 4], [2, 2]), tensor([1, 0, 0, 1], [2, 2]));
 * console.log(await y.read()); // Float32Array [1, 2, 3, 4]
 * ```
 * @module
 */

export * from "./engine/mod.ts";

// Lifting.
export * from "./models/lifter.ts";

// Keypoints, skeletons and their conversions.
export {
  convertKeypoints2D,
  convertKeypoints3D,
  type ConvertOptions,
  createKeypoints2D,
  createKeypoints3D,
  DEFAULT_MIN_SCORE,
  type Keypoints2D,
  type Keypoints3D,
} from "./pose/convert.ts";
export { getSkeleton, H36M_17, type Skeleton, SKELETONS } from "./pose/skeletons.ts";
export type { ImageSize } from "./pose/normalize.ts";

// Keypoint files.
export {
  convertPoseDocument,
  createPoseDocument,
  parsePoseJson,
  type PoseDocument,
  type PoseFrame,
  type PoseTrack,
  type PoseUnits,
  validatePoseDocument,
} from "./pose/formats/pose_json.ts";
export {
  detectPoseFormat,
  POSE_FORMATS,
  type PoseFormat,
  readPoseDocument,
  type ReadPoseOptions,
  writePoseDocument,
  type WritePoseOptions,
} from "./pose/formats/detect.ts";
export { bvhFromPositions, bvhText, bvhToPoseDocument, readBvh, writeBvh } from "./pose/bvh.ts";
export {
  type OneEuroDocumentOptions,
  oneEuroFilterDocument,
  oneEuroFilterKeypoints,
  type OneEuroOptions,
} from "./pose/filters/one_euro.ts";

// Metrics.
export {
  auc3d,
  mpjpe,
  mpjpePerFrame,
  nMpjpe,
  pck3d,
  perJointError,
  pMpjpe,
  pMpjpePerFrame,
  type PoseArray,
  procrustesAlign,
} from "./pose/metrics/mod.ts";

// Pictures.
export {
  documentSvg2d,
  documentSvg3d,
  skeletonSvg2d,
  skeletonSvg3d,
  viewerHtml,
  type ViewerOptions,
} from "./pose/viz/mod.ts";

// The shipped demo clip.
export { type DemoSample, loadDemoSample } from "./pose/demo_sample.ts";
