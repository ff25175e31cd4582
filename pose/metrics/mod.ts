/**
 * 3D pose metrics: MPJPE (Protocol #1), P-MPJPE (Protocol #2), N-MPJPE, MPJVE, per-joint and per-action
 * errors, bone-length RMSE, 3D PCK and AUC, and the 3×3 SVD / Procrustes alignment they rest on.
 * @module
 */

export { checkJointIndex, type PoseArray, type PoseLayout, posePairFrames } from "./pose_array.ts";
export { type Svd3, svd3 } from "./svd3.ts";
export { procrustesAlign, type SimilarityTransform, similarityTransform } from "./procrustes.ts";
export { type Alignment, type JointErrorOptions, jointErrors } from "./joint_errors.ts";
export {
  errorPerFrame,
  mpjpe,
  type MpjpeOptions,
  mpjpePerFrame,
  nMpjpe,
  nMpjpePerFrame,
  perJointError,
  pMpjpe,
  pMpjpePerFrame,
} from "./mpjpe.ts";
export { mpjve, type MpjveOptions } from "./mpjve.ts";
export { auc3d, AUC_THRESHOLDS, pck3d, type Pck3dOptions } from "./pck3d.ts";
export {
  boneLengthDeltas,
  type BoneLengthError,
  type BoneLengthOptions,
  boneLengthRmse,
  H36M_HARD_JOINTS,
  H36M_LIMB_SEGMENTS,
  H36M_PARENTS,
  type LimbSegment,
  type LimbSegmentError,
  limbSegmentRmse,
} from "./bone_length.ts";
export {
  type ActionErrors,
  actionOfSequence,
  type ActionTable,
  actionTable,
  type ActionTableRow,
  formatActionTable,
  H36M_ACTIONS,
} from "./per_action.ts";
