/**
 * posegpu's pose library: skeletons, formats and cameras; metrics and evaluation protocols; training-data
 * synthesis.
 * @module
 */

// Skeletons, keypoint conversions, cameras, normalisation, BVH, Human3.6M data, keypoint file formats.
export * from "./skeletons.ts";
export * from "./convert.ts";
export * from "./cameras.ts";
export * from "./normalize.ts";
export * from "./mirror.ts";
export * from "./bvh.ts";
export * from "./h36m.ts";
export * from "./formats/pose_json.ts";
export * from "./formats/coco.ts";
export * from "./formats/openpose.ts";
export * from "./formats/mediapipe.ts";
export * from "./formats/csv.ts";
export * from "./formats/detect.ts";
export * from "./formats/stream.ts";

// Metrics, COCO keypoint evaluation, rare-pose and Human3.6M protocols, PoseFix synthesis.
export * from "./metrics/mod.ts";
export * from "./coco_eval.ts";
export * from "./rare_pose.ts";
export * from "./synthesis.ts";
export * from "./protocol_h36m.ts";

// Image decoding (PNG, JPEG, PPM) on the CPU.
export * from "./image/mod.ts";

// Pictures (SVG, HTML viewer), One-Euro smoothing, and the shipped CMU demo sample.
export * from "./viz/mod.ts";
export * from "./filters/one_euro.ts";
export * from "./demo_sample.ts";
