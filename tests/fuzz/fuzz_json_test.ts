// Fuzzes the JSON keypoint readers (pose JSON, COCO annotations and results, OpenPose, MediaPipe) and the
// COCO evaluator's loaders (posegpu eval coco).
import { fuzzTests } from "./_run.ts";

fuzzTests([
  "pose-json",
  "coco-keypoints",
  "coco-results",
  "openpose",
  "mediapipe",
  "coco-eval-gt",
  "coco-eval-dt",
]);
