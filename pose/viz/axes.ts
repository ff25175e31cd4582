/**
 * Which way is up in a 3D pose, and the viewing basis built from it: every 3D picture shows a pose in
 * (right, up, depth) coordinates, a right-handed basis (`right × depth = up`) whose "depth" points away
 * from a viewer looking at the front.
 *
 * Camera frames (x right, y down, z forward) have up = "-y", so the front view is the camera's own view.
 * Human3.6M world coordinates have up = "z"; the CMU BVH world has up = "y".
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints3D } from "../convert.ts";
import type { PoseDocument } from "../formats/pose_json.ts";
import { getSkeleton } from "../skeletons.ts";

/** The data axis that points up, with its sign. */
export type UpAxis = "x" | "-x" | "y" | "-y" | "z" | "-z";

/** One axis of the viewing basis: which data axis (0, 1, 2) and its sign. */
export interface BasisAxis {
  /** Data axis index: 0 = x, 1 = y, 2 = z. */
  axis: 0 | 1 | 2;
  /** +1 or -1. */
  sign: 1 | -1;
  /** Label for pictures, e.g. "x" or "−y". */
  label: string;
}

/** The viewing basis: the data axes that map to right, up and depth. */
export interface ViewBasis {
  /** Horizontal axis of the front view. */
  right: BasisAxis;
  /** Vertical axis of every side view. */
  up: BasisAxis;
  /** Away from the front viewer. */
  depth: BasisAxis;
}

const UP_AXES: readonly UpAxis[] = ["x", "-x", "y", "-y", "z", "-z"];

function axis(name: string): BasisAxis {
  const sign = name.startsWith("-") ? -1 : 1;
  const letter = name.replace("-", "");
  return { axis: "xyz".indexOf(letter) as 0 | 1 | 2, sign, label: (sign < 0 ? "−" : "") + letter };
}

// (right, depth) for each up axis, chosen so that right × depth = up (right-handed) and the camera
// frame's front view is what the camera sees.
const BASES: Record<UpAxis, [string, string]> = {
  "z": ["x", "y"],
  "-z": ["x", "-y"],
  "y": ["x", "-z"],
  "-y": ["x", "z"],
  "x": ["y", "z"],
  "-x": ["y", "-z"],
};

/** The viewing basis for an up axis. */
export function viewBasis(up: UpAxis): ViewBasis {
  if (!UP_AXES.includes(up)) {
    throw new InputError(`up axis "${up}" is not one of ${UP_AXES.join(", ")}`);
  }
  const [right, depth] = BASES[up];
  return { right: axis(right), up: axis(up), depth: axis(depth) };
}

/** A point's (right, up, depth) coordinates in a basis. */
export function toView(basis: ViewBasis, x: number, y: number, z: number): [number, number, number] {
  const p = [x, y, z];
  return [
    basis.right.sign * p[basis.right.axis],
    basis.up.sign * p[basis.up.axis],
    basis.depth.sign * p[basis.depth.axis],
  ];
}

// Joints that sit at the top of the body in the known skeletons.
const TOP_JOINT = /^(head|nose|neck\/nose)$/i;

/**
 * Guesses the up axis of 3D keypoints in a world frame: the axis along which head and root differ most
 * (averaged over present frames), signed so the head is above the root. Falls back to "y" when the
 * skeleton has no head or nose joint or nothing is present.
 */
export function guessUpAxis(kp: Keypoints3D): UpAxis {
  const skeleton = getSkeleton(kp.skeleton);
  const top = skeleton.joints.findIndex((n) => TOP_JOINT.test(n));
  const root = skeleton.parents.indexOf(-1);
  if (top < 0 || root < 0 || top === root) return "y";
  const sum = [0, 0, 0];
  for (let f = 0; f < kp.frames; f++) {
    const a = f * kp.joints + top;
    const b = f * kp.joints + root;
    if (!kp.mask[a] || !kp.mask[b]) continue;
    for (let d = 0; d < 3; d++) sum[d] += kp.coords[a * 3 + d] - kp.coords[b * 3 + d];
  }
  const best = [0, 1, 2].reduce((m, d) => (Math.abs(sum[d]) > Math.abs(sum[m]) ? d : m), 0);
  if (sum[best] === 0) return "y";
  return `${sum[best] < 0 ? "-" : ""}${"xyz"[best]}` as UpAxis;
}

/** The up axis of a document's 3D keypoints: "-y" in a camera or image frame (y points down there); in a
 * world frame guessed from the first track with 3D keypoints (see `guessUpAxis`). */
export function documentUpAxis(doc: PoseDocument): UpAxis {
  if (doc.frame !== "world") return "-y";
  const kp = doc.people.find((p) => p.keypoints3d)?.keypoints3d;
  return kp ? guessUpAxis(kp) : "-y";
}
