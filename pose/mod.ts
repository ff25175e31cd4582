/**
 * posegpu's pose library: skeletons, formats and cameras; metrics and evaluation protocols; training-data
 * synthesis.
 * @module
 */

// Metrics, COCO keypoint evaluation, rare-pose and Human3.6M protocols, PoseFix synthesis.
export * from "./metrics/mod.ts";
export * from "./coco_eval.ts";
export * from "./rare_pose.ts";
export * from "./synthesis.ts";
export * from "./protocol_h36m.ts";

// Image decoding (PNG, JPEG, PPM) on the CPU.
export * from "./image/mod.ts";
