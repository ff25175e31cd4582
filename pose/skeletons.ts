/**
 * Skeleton definitions: joint names, kinematic tree, left/right sides and drawing lines of every
 * keypoint layout posegpu reads or writes (Human3.6M-17 and its Martinez / Stacked Hourglass subsets,
 * COCO-17, OpenPose BODY_25, MediaPipe BlazePose-33, the CMU BVH skeleton), plus the joint groups that
 * model papers use (dual-channel A/B, SRNet's five groups).
 *
 * Joint orders follow the upstream definitions exactly (see `reference/skeletons_cameras.md`), so an
 * index means the same thing here as in the papers' code.
 * @module
 */

import { InputError } from "../engine/errors.ts";

/** A keypoint layout: joint names in order and the kinematic tree over them. */
export interface Skeleton {
  /** Short identifier used in files and on the command line (e.g. `h36m17`). */
  readonly name: string;
  /** One line saying where the layout comes from. */
  readonly description: string;
  /** Joint names, in the layout's own order. */
  readonly joints: readonly string[];
  /** Parent joint index of each joint; -1 for a root (a subset without its root has several). */
  readonly parents: readonly number[];
  /** Indices of the joints on the subject's left side. */
  readonly leftJoints: readonly number[];
  /** Indices of the joints on the subject's right side; `rightJoints[i]` mirrors `leftJoints[i]`. */
  readonly rightJoints: readonly number[];
  /** Mirror pairs `[left, right]` (horizontal flip swaps them). */
  readonly flipPairs: readonly (readonly [number, number])[];
  /** Bones as `[child, parent]`, one per joint that has a parent, in joint order. */
  readonly bones: readonly (readonly [number, number])[];
  /** Joints that are hard to estimate (elbows, wrists, knees, feet), where the layout has them. */
  readonly hardJoints?: readonly number[];
  /** Lines to draw when they differ from `bones` (COCO: PoseFix's lines; MediaPipe: its connections). */
  readonly lines?: readonly (readonly [number, number])[];
  /** Per-joint OKS sigmas (COCO only). */
  readonly sigmas?: readonly number[];
}

interface SkeletonSpec {
  name: string;
  description: string;
  joints: string[];
  parents: number[];
  left: number[];
  right: number[];
  hard?: number[];
  lines?: [number, number][];
  sigmas?: number[];
}

function defineSkeleton(spec: SkeletonSpec): Skeleton {
  const n = spec.joints.length;
  if (spec.parents.length !== n) throw new Error(`skeleton ${spec.name}: parents/joints length mismatch`);
  if (spec.left.length !== spec.right.length) throw new Error(`skeleton ${spec.name}: left/right mismatch`);
  const bones: (readonly [number, number])[] = [];
  spec.parents.forEach((p, j) => {
    if (p >= n || p < -1 || p === j) throw new Error(`skeleton ${spec.name}: bad parent of joint ${j}`);
    if (p >= 0) bones.push(Object.freeze([j, p] as const));
  });
  const freezePairs = (pairs: [number, number][]) => Object.freeze(pairs.map((q) => Object.freeze(q)));
  return Object.freeze({
    name: spec.name,
    description: spec.description,
    joints: Object.freeze([...spec.joints]),
    parents: Object.freeze([...spec.parents]),
    leftJoints: Object.freeze([...spec.left]),
    rightJoints: Object.freeze([...spec.right]),
    flipPairs: freezePairs(spec.left.map((l, i) => [l, spec.right[i]])),
    bones: Object.freeze(bones),
    ...(spec.hard ? { hardJoints: Object.freeze([...spec.hard]) } : {}),
    ...(spec.lines ? { lines: freezePairs(spec.lines) } : {}),
    ...(spec.sigmas ? { sigmas: Object.freeze([...spec.sigmas]) } : {}),
  });
}

/** Picks `indices` of a skeleton as a new skeleton; a parent outside the subset is replaced by its
 * nearest kept ancestor (or -1 when none is kept). */
function subsetSkeleton(
  base: Skeleton,
  indices: readonly number[],
  name: string,
  description: string,
): Skeleton {
  const position = new Map(indices.map((j, i) => [j, i]));
  const keptAncestor = (j: number): number => {
    let p = base.parents[j];
    while (p >= 0 && !position.has(p)) p = base.parents[p];
    return p < 0 ? -1 : position.get(p)!;
  };
  const left: number[] = [];
  const right: number[] = [];
  base.leftJoints.forEach((l, i) => {
    const r = base.rightJoints[i];
    if (position.has(l) && position.has(r)) {
      left.push(position.get(l)!);
      right.push(position.get(r)!);
    }
  });
  return defineSkeleton({
    name,
    description,
    joints: indices.map((j) => base.joints[j]),
    parents: indices.map(keptAncestor),
    left,
    right,
    hard: base.hardJoints?.filter((j) => position.has(j)).map((j) => position.get(j)!),
  });
}

/** Human3.6M 17-joint skeleton in the order of VideoPose3D, SRNet and MMPose (root = Hip, pelvis). */
export const H36M_17: Skeleton = defineSkeleton({
  name: "h36m17",
  description: "Human3.6M 17 joints (VideoPose3D / SRNet / MMPose order)",
  joints: [
    "Hip",
    "RHip",
    "RKnee",
    "RFoot",
    "LHip",
    "LKnee",
    "LFoot",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
  ],
  parents: [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
  left: [4, 5, 6, 11, 12, 13],
  right: [1, 2, 3, 14, 15, 16],
  hard: [2, 3, 5, 6, 12, 13, 15, 16],
});

/** Indices of the H36M-17 joints in the original 32-joint Human3.6M skeleton. */
export const H36M_32_TO_17: readonly number[] = Object.freeze([
  0,
  1,
  2,
  3,
  6,
  7,
  8,
  12,
  13,
  14,
  15,
  17,
  18,
  19,
  25,
  26,
  27,
]);

/** H36M-17 indices of Martinez et al.'s 16 2D input joints (the 17 without Neck/Nose). This is also the
 * joint order of the shared data's `sh2d` detections. */
export const MARTINEZ_16_IN_FROM_H36M: readonly number[] = Object.freeze([
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
]);

/** H36M-17 indices of Martinez et al.'s 16 3D output joints (the 17 without the root Hip, which is 0
 * in root-relative coordinates). */
export const MARTINEZ_16_OUT_FROM_H36M: readonly number[] = Object.freeze([
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
]);

/** Martinez et al.'s 2D input layout: H36M-17 without Neck/Nose (Head's parent becomes Thorax). */
export const MARTINEZ_16_IN: Skeleton = subsetSkeleton(
  H36M_17,
  MARTINEZ_16_IN_FROM_H36M,
  "martinez16in",
  "Martinez et al. 2D input: H36M-17 without Neck/Nose (also the shared sh2d order)",
);

/** Martinez et al.'s 3D output layout: H36M-17 without Hip. RHip, LHip and Spine have parent -1 (the
 * implicit root at the origin). */
export const MARTINEZ_16_OUT: Skeleton = subsetSkeleton(
  H36M_17,
  MARTINEZ_16_OUT_FROM_H36M,
  "martinez16out",
  "Martinez et al. 3D output: H36M-17 without the root Hip (root-relative)",
);

/** H36M-17 index of each Stacked Hourglass / MPII-style 16 joint (`SH_16` order). */
export const SH_16_FROM_H36M: readonly number[] = Object.freeze([
  3,
  2,
  1,
  4,
  5,
  6,
  0,
  7,
  8,
  10,
  16,
  15,
  14,
  11,
  12,
  13,
]);

/** Stacked Hourglass (MPII-style) 16-joint order: RFoot, RKnee, RHip, LHip, LKnee, LFoot, Hip, Spine,
 * Thorax, Head, RWrist, RElbow, RShoulder, LShoulder, LElbow, LWrist. */
export const SH_16: Skeleton = defineSkeleton({
  name: "sh16",
  description: "Stacked Hourglass / MPII-style 16 joints",
  joints: SH_16_FROM_H36M.map((j) => H36M_17.joints[j]),
  parents: [1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 8, 8, 13, 14],
  left: [3, 4, 5, 13, 14, 15],
  right: [2, 1, 0, 12, 11, 10],
  hard: [0, 1, 4, 5, 10, 11, 14, 15],
});

// COCO OKS sigmas per keypoint (`[.26, .25, ...] / 10`); exposed as `COCO_17.sigmas`.
const OKS_SIGMAS: readonly number[] = Object.freeze(
  [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89].map(
    (s) => s / 10,
  ),
);

/** The COCO skeleton lines as PoseFix draws them (0-based keypoint indices). */
export const COCO_POSEFIX_LINES: readonly (readonly [number, number])[] = Object.freeze(
  ([
    [1, 2],
    [0, 1],
    [0, 2],
    [2, 4],
    [1, 3],
    [6, 8],
    [8, 10],
    [5, 7],
    [7, 9],
    [12, 14],
    [14, 16],
    [11, 13],
    [
      13,
      15,
    ],
    [5, 6],
    [11, 12],
  ] as [number, number][]).map((q) => Object.freeze(q)),
);

/** COCO 17 keypoints. COCO defines no tree; the parents here root it at the nose (eyes and shoulders
 * hang from the nose, ears from eyes, hips from shoulders) so that bones and BVH export work. */
export const COCO_17: Skeleton = defineSkeleton({
  name: "coco17",
  description: "COCO 17 keypoints",
  joints: [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
  ],
  parents: [-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14],
  left: [1, 3, 5, 7, 9, 11, 13, 15],
  right: [2, 4, 6, 8, 10, 12, 14, 16],
  hard: [7, 8, 9, 10, 13, 14, 15, 16],
  lines: COCO_POSEFIX_LINES.map((q) => [q[0], q[1]]),
  sigmas: [...OKS_SIGMAS],
});

/** OpenPose BODY_25, rooted at MidHip (OpenPose's own pose pairs, oriented away from MidHip). */
export const BODY_25: Skeleton = defineSkeleton({
  name: "body25",
  description: "OpenPose BODY_25",
  joints: [
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "MidHip",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
  ],
  parents: [1, 8, 1, 2, 3, 1, 5, 6, -1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22, 11],
  left: [5, 6, 7, 12, 13, 14, 16, 18, 19, 20, 21],
  right: [2, 3, 4, 9, 10, 11, 15, 17, 22, 23, 24],
  hard: [3, 4, 6, 7, 10, 11, 13, 14],
});

/** MediaPipe's pose connections (0-based landmark indices), used as drawing lines. */
const BLAZEPOSE_CONNECTIONS: [number, number][] = [
  [0, 1],
  [1, 2],
  [2, 3],
  [3, 7],
  [0, 4],
  [4, 5],
  [5, 6],
  [6, 8],
  [9, 10],
  [11, 12],
  [11, 13],
  [13, 15],
  [15, 17],
  [15, 19],
  [15, 21],
  [17, 19],
  [12, 14],
  [14, 16],
  [16, 18],
  [16, 20],
  [16, 22],
  [18, 20],
  [11, 23],
  [12, 24],
  [23, 24],
  [23, 25],
  [24, 26],
  [25, 27],
  [26, 28],
  [27, 29],
  [28, 30],
  [29, 31],
  [30, 32],
  [27, 31],
  [28, 32],
];

/** MediaPipe BlazePose 33 landmarks in MediaPipe's order. The tree roots at the nose (MediaPipe defines
 * none); `lines` are MediaPipe's own pose connections. */
export const BLAZEPOSE_33: Skeleton = defineSkeleton({
  name: "blazepose33",
  description: "MediaPipe BlazePose 33 landmarks",
  joints: [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
  ],
  parents: [
    -1,
    0,
    1,
    2,
    0,
    4,
    5,
    3,
    6,
    0,
    0,
    0,
    0,
    11,
    12,
    13,
    14,
    15,
    16,
    15,
    16,
    15,
    16,
    11,
    12,
    23,
    24,
    25,
    26,
    27,
    28,
    27,
    28,
  ],
  left: [1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31],
  right: [4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32],
  hard: [13, 14, 15, 16, 25, 26, 27, 28],
  lines: BLAZEPOSE_CONNECTIONS,
});

/** The 31-joint CMU mocap skeleton of the cgspeed-style BVH files in `data/cmu/` (file order, which is
 * the depth-first HIERARCHY order). Units of those files: see `CMU_UNIT_MM` in bvh.ts. */
export const CMU_31: Skeleton = defineSkeleton({
  name: "cmu31",
  description: "CMU mocap BVH skeleton (31 joints)",
  joints: [
    "Hips",
    "LHipJoint",
    "LeftHip",
    "LeftKnee",
    "LeftAnkle",
    "LeftToe",
    "RHipJoint",
    "RightHip",
    "RightKnee",
    "RightAnkle",
    "RightToe",
    "lowerback",
    "Chest",
    "Chest2",
    "lowerneck",
    "Neck",
    "Head",
    "LeftCollar",
    "LeftShoulder",
    "LeftElbow",
    "LeftWrist",
    "lhand",
    "LFingers",
    "LThumb",
    "RightCollar",
    "RightShoulder",
    "RightElbow",
    "RightWrist",
    "rhand",
    "RFingers",
    "RThumb",
  ],
  parents: [
    -1,
    0,
    1,
    2,
    3,
    4,
    0,
    6,
    7,
    8,
    9,
    0,
    11,
    12,
    13,
    14,
    15,
    13,
    17,
    18,
    19,
    20,
    21,
    20,
    13,
    24,
    25,
    26,
    27,
    28,
    27,
  ],
  left: [1, 2, 3, 4, 5, 17, 18, 19, 20, 21, 22, 23],
  right: [6, 7, 8, 9, 10, 24, 25, 26, 27, 28, 29, 30],
  hard: [3, 4, 8, 9, 19, 20, 26, 27],
});

/** Dual-channel (structure-aware) group A, H36M-17 indices in the order the reference lists them:
 * LWrist, LElbow, LKnee, LFoot, Thorax, Neck/Nose, LShoulder, Head, Spine, LHip, Hip. */
export const DUAL_CHANNEL_GROUP_A: readonly number[] = Object.freeze([13, 12, 5, 6, 8, 9, 11, 10, 7, 4, 0]);

/** Dual-channel (structure-aware) group B, H36M-17 indices in the order the reference lists them:
 * RWrist, RElbow, RKnee, Head, RFoot, Hip, Neck/Nose, RShoulder, Thorax, Spine, RHip. */
export const DUAL_CHANNEL_GROUP_B: readonly number[] = Object.freeze([16, 15, 2, 10, 3, 0, 9, 14, 8, 7, 1]);

/** One of SRNet's five groups: the H36M-17 joints it holds (the root always first) and the input
 * channels (17 joints × (x, y) = 34) that make it up. */
export interface SrnetGroup {
  /** Group name. */
  readonly name: string;
  /** H36M-17 joint indices (root 0 first). */
  readonly joints: readonly number[];
  /** Input channel indices (`2·joint`, `2·joint + 1`). */
  readonly channels: readonly number[];
}

function srnetGroup(name: string, joints: number[]): SrnetGroup {
  return Object.freeze({
    name,
    joints: Object.freeze(joints),
    channels: Object.freeze(joints.flatMap((j) => [2 * j, 2 * j + 1])),
  });
}

/** SRNet's five joint groups (right leg, left leg, torso/head, left arm, right arm), each with the root. */
export const SRNET_GROUPS: readonly SrnetGroup[] = Object.freeze([
  srnetGroup("right_leg", [0, 1, 2, 3]),
  srnetGroup("left_leg", [0, 4, 5, 6]),
  srnetGroup("torso_head", [0, 7, 8, 9, 10]),
  srnetGroup("left_arm", [0, 11, 12, 13]),
  srnetGroup("right_arm", [0, 14, 15, 16]),
]);

/** Every skeleton by its `name`. */
export const SKELETONS: Readonly<Record<string, Skeleton>> = Object.freeze({
  h36m17: H36M_17,
  martinez16in: MARTINEZ_16_IN,
  martinez16out: MARTINEZ_16_OUT,
  sh16: SH_16,
  coco17: COCO_17,
  body25: BODY_25,
  blazepose33: BLAZEPOSE_33,
  cmu31: CMU_31,
});

/** Accepted alternative spellings of skeleton names (lower case). */
const ALIASES: Record<string, string> = {
  h36m: "h36m17",
  "h36m-17": "h36m17",
  human36m: "h36m17",
  coco: "coco17",
  "coco-17": "coco17",
  openpose: "body25",
  body_25: "body25",
  mediapipe: "blazepose33",
  blazepose: "blazepose33",
  mpii16: "sh16",
  stacked_hourglass: "sh16",
  cmu: "cmu31",
};

/** Looks a skeleton up by name or alias (case-insensitive); throws `InputError` listing the known names. */
export function getSkeleton(name: string): Skeleton {
  const key = name.toLowerCase();
  const skeleton = SKELETONS[key] ?? SKELETONS[ALIASES[key] ?? ""];
  if (!skeleton) {
    throw new InputError(`unknown skeleton "${name}": expected one of ${Object.keys(SKELETONS).join(", ")}`);
  }
  return skeleton;
}

/** Finds the known skeleton whose joint names equal `joints` (same order), or null. */
export function skeletonByJoints(joints: readonly string[]): Skeleton | null {
  for (const s of Object.values(SKELETONS)) {
    if (s.joints.length === joints.length && s.joints.every((n, i) => n === joints[i])) return s;
  }
  return null;
}

/** Index of a joint by name in a skeleton; throws `InputError` when absent. */
export function jointIndex(skeleton: Skeleton, joint: string): number {
  const i = skeleton.joints.indexOf(joint);
  if (i < 0) throw new InputError(`skeleton ${skeleton.name} has no joint "${joint}"`);
  return i;
}
