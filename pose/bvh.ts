/**
 * BVH motion files: parsing (any channel order), forward kinematics to joint positions, the CMU-31 →
 * H36M-17 mapping, and writing a BVH from joint positions (rotations solved from bone directions).
 *
 * Conventions, as Blender's importer reads BVH:
 * - a joint's local rotation is the product of its rotation channels **in the listed order**
 *   (`Zrotation Yrotation Xrotation` → `R = Rz · Ry · Rx`), angles in degrees;
 * - a joint's translation from its parent is its OFFSET, except that position channels, when the
 *   joint has them (normally only the root), **replace** the offset along their axis;
 * - `X_joint = X_parent + G_parent · translation`, `G_joint = G_parent · R_local`; an End Site sits at
 *   `X_joint + G_joint · offset`.
 *
 * Writing (`bvhFromPositions`): offsets are the mean bone lengths along the rest directions (default:
 * the bones' directions in the first frame, so that frame is the rest pose; or a given rest pose).
 * Per frame, each joint's global rotation aligns its rest child offsets with the observed bones:
 * one child → the smallest rotation from the parent's orientation (the twist choice: no twist about
 * the bone relative to the parent); several children → the least-squares rotation (Horn's quaternion
 * method). Zero-length bones are looked through (CMU's `LHipJoint`-style joints), leaves keep their
 * parent's orientation and get an End Site along their bone. Positions are reproduced exactly when
 * bone lengths are constant and each multi-child joint moves rigidly with its children (true of
 * anything read from a BVH); otherwise multi-child joints are fitted in the least-squares sense and
 * bone lengths are their means. By default (`branchJoints`) a zero-length joint is inserted per branch
 * of a multi-child joint, so every bone direction is matched exactly and only bone-length changes
 * remain (BVH offsets are fixed). Channels are written `Zrotation Yrotation Xrotation`.
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { writeFileAtomic } from "../engine/fs.ts";
import type { Keypoints3D } from "./convert.ts";
import {
  createPoseDocument,
  type PoseDocument,
  type PoseUnits,
  validatePoseDocument,
} from "./formats/pose_json.ts";
import { CMU_31, getSkeleton } from "./skeletons.ts";

/** Millimetres per unit of the CMU (cgspeed) BVH files: the ASF length unit, 1/0.45 inch. */
export const CMU_UNIT_MM: number = 25.4 / 0.45;

/** A BVH channel name. */
export type BvhChannel = "Xposition" | "Yposition" | "Zposition" | "Xrotation" | "Yrotation" | "Zrotation";

const CHANNELS: readonly BvhChannel[] = [
  "Xposition",
  "Yposition",
  "Zposition",
  "Xrotation",
  "Yrotation",
  "Zrotation",
];

/** One joint of a BVH hierarchy. */
export interface BvhJoint {
  /** Joint name (unique in the file). */
  name: string;
  /** Parent joint index, -1 for a root. Parents come before their children. */
  parent: number;
  /** OFFSET from the parent. */
  offset: [number, number, number];
  /** Channels in file order. */
  channels: BvhChannel[];
  /** Index of the joint's first channel in a motion row. */
  channelStart: number;
  /** OFFSET of the joint's End Site, or null when it has none. */
  endSite: [number, number, number] | null;
}

/** A parsed BVH file. */
export interface BvhClip {
  /** Joints in HIERARCHY (depth-first) order. */
  joints: BvhJoint[];
  /** Number of frames (≥ 1). */
  frames: number;
  /** Seconds per frame. */
  frameTime: number;
  /** Channels per frame. */
  channels: number;
  /** frames × channels values (degrees for rotations). */
  motion: Float64Array;
  /** The file it was parsed from, when it was: errors of the conversions name it. */
  file?: string;
}

interface Token {
  text: string;
  line: number;
}

/** Parses BVH text; `file` names it in error messages (with line numbers). */
export function parseBvh(text: string, file: string): BvhClip {
  const lines = text.split(/\r?\n/);
  const motionLine = lines.findIndex((l) => l.trim().toUpperCase() === "MOTION");
  if (motionLine < 0) throw new InputError(`${file}: no MOTION section`);
  const tokens: Token[] = [];
  for (let i = 0; i < motionLine; i++) {
    for (const t of lines[i].trim().split(/\s+/)) if (t !== "") tokens.push({ text: t, line: i + 1 });
  }
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const next = (what: string): Token => {
    const t = tokens[pos++];
    if (!t) throw new InputError(`${file}: line ${motionLine + 1}: hierarchy ends early, expected ${what}`);
    return t;
  };
  const expect = (word: string): Token => {
    const t = next(`"${word}"`);
    if (t.text !== word) {
      throw new InputError(`${file}: line ${t.line}: found "${t.text}", expected "${word}"`);
    }
    return t;
  };
  const number = (what: string): number => {
    const t = next(what);
    const v = Number(t.text);
    if (!Number.isFinite(v)) {
      throw new InputError(`${file}: line ${t.line}: ${what} is "${t.text}", expected a number`);
    }
    return v;
  };
  const offset = (): [number, number, number] => [number("OFFSET x"), number("OFFSET y"), number("OFFSET z")];

  const joints: BvhJoint[] = [];
  const names = new Set<string>();
  let channelCount = 0;
  const parseJoint = (parent: number, keyword: Token): void => {
    const nameTok = next("a joint name");
    if (nameTok.text === "{") {
      throw new InputError(`${file}: line ${nameTok.line}: ${keyword.text} without a name`);
    }
    if (names.has(nameTok.text)) {
      throw new InputError(`${file}: line ${nameTok.line}: joint "${nameTok.text}" appears twice`);
    }
    names.add(nameTok.text);
    expect("{");
    const joint: BvhJoint = {
      name: nameTok.text,
      parent,
      offset: [0, 0, 0],
      channels: [],
      channelStart: channelCount,
      endSite: null,
    };
    const index = joints.length;
    joints.push(joint);
    let sawOffset = false;
    while (true) {
      const t = next(`"}" closing joint "${joint.name}"`);
      if (t.text === "}") break;
      if (t.text === "OFFSET") {
        joint.offset = offset();
        sawOffset = true;
      } else if (t.text === "CHANNELS") {
        if (joint.channels.length > 0) {
          throw new InputError(`${file}: line ${t.line}: second CHANNELS for "${joint.name}"`);
        }
        const n = number("the channel count");
        if (!Number.isInteger(n) || n < 0 || n > 6) {
          throw new InputError(
            `${file}: line ${t.line}: channel count ${n} of "${joint.name}", expected 0..6`,
          );
        }
        for (let c = 0; c < n; c++) {
          const ct = next("a channel name");
          const canonical = CHANNELS.find((k) => k.toLowerCase() === ct.text.toLowerCase());
          if (!canonical) {
            throw new InputError(`${file}: line ${ct.line}: unknown channel "${ct.text}" of "${joint.name}"`);
          }
          if (joint.channels.includes(canonical)) {
            throw new InputError(
              `${file}: line ${ct.line}: channel ${canonical} repeated for "${joint.name}"`,
            );
          }
          joint.channels.push(canonical);
        }
        joint.channelStart = channelCount;
        channelCount += n;
      } else if (t.text === "JOINT") {
        parseJoint(index, t);
      } else if (t.text === "End") {
        expect("Site");
        expect("{");
        expect("OFFSET");
        const end = offset();
        expect("}");
        if (joint.endSite) {
          throw new InputError(`${file}: line ${t.line}: second End Site in "${joint.name}"`);
        }
        joint.endSite = end;
      } else {
        throw new InputError(`${file}: line ${t.line}: unexpected "${t.text}" in joint "${joint.name}"`);
      }
    }
    if (!sawOffset) {
      throw new InputError(`${file}: line ${nameTok.line}: joint "${joint.name}" has no OFFSET`);
    }
  };

  expect("HIERARCHY");
  while (peek()) {
    const t = next("ROOT");
    if (t.text !== "ROOT") {
      throw new InputError(`${file}: line ${t.line}: found "${t.text}", expected "ROOT"`);
    }
    parseJoint(-1, t);
  }
  if (joints.length === 0) throw new InputError(`${file}: the HIERARCHY has no ROOT`);

  // MOTION: "Frames: N", "Frame Time: t", then N rows of channel values.
  let li = motionLine + 1;
  const headerValue = (label: RegExp, what: string): number => {
    while (li < lines.length && lines[li].trim() === "") li++;
    const m = li < lines.length ? label.exec(lines[li].trim()) : null;
    if (!m) throw new InputError(`${file}: line ${li + 1}: expected "${what} <number>"`);
    const v = Number(m[1]);
    if (!Number.isFinite(v)) {
      throw new InputError(`${file}: line ${li + 1}: ${what} "${m[1]}" is not a number`);
    }
    li++;
    return v;
  };
  const frames = headerValue(/^Frames:\s*(\S+)$/i, "Frames:");
  if (!Number.isInteger(frames) || frames < 1) {
    throw new InputError(`${file}: line ${li}: "Frames: ${frames}", expected at least one frame`);
  }
  const frameTime = headerValue(/^Frame\s+Time:\s*(\S+)$/i, "Frame Time:");
  if (!(frameTime > 0)) throw new InputError(`${file}: line ${li}: Frame Time ${frameTime} must be positive`);
  // Count the rows before allocating: a corrupt "Frames:" must not ask for gigabytes.
  let rows = 0;
  for (let k = li; k < lines.length; k++) if (lines[k].trim() !== "") rows++;
  if (rows < frames) throw new InputError(`${file}: "Frames: ${frames}" but ${rows} motion rows`);
  const motion = new Float64Array(frames * channelCount);
  let f = 0;
  for (; li < lines.length; li++) {
    const line = lines[li].trim();
    if (line === "") continue;
    if (f === frames) {
      throw new InputError(`${file}: line ${li + 1}: more motion rows than "Frames: ${frames}"`);
    }
    const values = line.split(/\s+/);
    if (values.length !== channelCount) {
      throw new InputError(
        `${file}: line ${li + 1}: frame ${f} has ${values.length} values, expected ${channelCount}`,
      );
    }
    for (let c = 0; c < channelCount; c++) {
      const v = Number(values[c]);
      if (!Number.isFinite(v)) {
        // Name the joint and channel: "joint "Chest" Zrotation (channel 7)".
        const jt = joints.find((j) => c >= j.channelStart && c < j.channelStart + j.channels.length);
        const which = jt
          ? `joint "${jt.name}" ${jt.channels[c - jt.channelStart]} (channel ${c})`
          : `channel ${c}`;
        throw new InputError(
          `${file}: line ${li + 1}: frame ${f} ${which} is "${values[c]}", expected a finite number`,
        );
      }
      motion[f * channelCount + c] = v;
    }
    f++;
  }
  if (f !== frames) throw new InputError(`${file}: "Frames: ${frames}" but ${f} motion rows`);
  return { joints, frames, frameTime, channels: channelCount, motion, file };
}

/** Reads a BVH file. */
export async function readBvh(path: string): Promise<BvhClip> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  return parseBvh(text, path);
}

// ---- small 3×3 rotation helpers (row-major Float64Array(9)) ----

type Mat3 = Float64Array;

function identity(): Mat3 {
  return Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
}

function mul(a: Mat3, b: Mat3): Mat3 {
  const o = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      o[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    }
  }
  return o;
}

function apply(m: Mat3, v: ArrayLike<number>): [number, number, number] {
  return [
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
    m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
  ];
}

function transpose(m: Mat3): Mat3 {
  return Float64Array.of(m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]);
}

function axisRotation(axis: "X" | "Y" | "Z", degrees: number): Mat3 {
  const a = (degrees * Math.PI) / 180;
  const c = Math.cos(a);
  const s = Math.sin(a);
  if (axis === "X") return Float64Array.of(1, 0, 0, 0, c, -s, 0, s, c);
  if (axis === "Y") return Float64Array.of(c, 0, s, 0, 1, 0, -s, 0, c);
  return Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1);
}

function fromQuaternion(w: number, x: number, y: number, z: number): Mat3 {
  const n = Math.hypot(w, x, y, z);
  [w, x, y, z] = [w / n, x / n, y / n, z / n];
  return Float64Array.of(
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  );
}

/** The smallest rotation taking direction `a` to direction `b`. */
function swing(a: ArrayLike<number>, b: ArrayLike<number>): Mat3 {
  const na = Math.hypot(a[0], a[1], a[2]);
  const nb = Math.hypot(b[0], b[1], b[2]);
  if (na === 0 || nb === 0) return identity();
  const u = [a[0] / na, a[1] / na, a[2] / na];
  const v = [b[0] / nb, b[1] / nb, b[2] / nb];
  const dot = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  if (dot < -1 + 1e-12) {
    // Opposite directions: half turn about any axis perpendicular to u.
    const p = Math.abs(u[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
    const ax = [u[1] * p[2] - u[2] * p[1], u[2] * p[0] - u[0] * p[2], u[0] * p[1] - u[1] * p[0]];
    return fromQuaternion(0, ax[0], ax[1], ax[2]);
  }
  // Quaternion (1 + u·v, u × v), normalised.
  return fromQuaternion(
    1 + dot,
    u[1] * v[2] - u[2] * v[1],
    u[2] * v[0] - u[0] * v[2],
    u[0] * v[1] - u[1] * v[0],
  );
}

/** Eigen-decomposition of a symmetric 4×4 matrix (cyclic Jacobi); returns the eigenvector of the largest
 * eigenvalue and the two largest eigenvalues. */
function largestEigen4(m: number[][]): { vector: number[]; top: number; second: number } {
  const a = m.map((r) => [...r]);
  const v = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += a[p][q] * a[p][q];
    if (off < 1e-30) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [0, 1, 2, 3].sort((i, j) => a[j][j] - a[i][i]);
  const best = order[0];
  return {
    vector: [v[0][best], v[1][best], v[2][best], v[3][best]],
    top: a[best][best],
    second: a[order[1]][order[1]],
  };
}

/** Least-squares rotation R minimising Σ |R a_i − b_i|² (Horn 1987), or null when the a_i are collinear. */
function fitRotation(from: number[][], to: number[][]): Mat3 | null {
  const S = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < from.length; i++) {
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) S[r][c] += from[i][r] * to[i][c];
  }
  const [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = S;
  const N = [
    [xx + yy + zz, yz - zy, zx - xz, xy - yx],
    [yz - zy, xx - yy - zz, xy + yx, zx + xz],
    [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
    [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
  ];
  // Collinear inputs leave the rotation about that line undetermined.
  let cross = 0;
  for (let i = 1; i < from.length; i++) {
    const a = from[0];
    const b = from[i];
    const c = Math.hypot(a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]);
    cross = Math.max(cross, c / (Math.hypot(...a) * Math.hypot(...b) || 1));
  }
  if (cross < 1e-6) return null;
  const { vector } = largestEigen4(N);
  return fromQuaternion(vector[0], vector[1], vector[2], vector[3]);
}

/** Decomposes R = Rz(z)·Ry(y)·Rx(x); returns degrees [z, y, x]. */
function eulerZYX(m: Mat3): [number, number, number] {
  const sy = Math.max(-1, Math.min(1, -m[6]));
  const y = Math.asin(sy);
  let z: number;
  let x: number;
  if (Math.abs(sy) < 1 - 1e-12) {
    z = Math.atan2(m[3], m[0]);
    x = Math.atan2(m[7], m[8]);
  } else {
    z = Math.atan2(-m[1], m[4]);
    x = 0;
  }
  const d = 180 / Math.PI;
  return [z * d, y * d, x * d];
}

// ---- forward kinematics ----

/** Joint positions of a clip: frames × points × 3. */
export interface BvhPositions {
  /** Point names: the joints, then (when asked) End Sites named `<joint>_End`. */
  names: string[];
  /** Parent point index (-1 for roots). */
  parents: number[];
  /** Number of frames. */
  frames: number;
  /** frames × names.length × 3, in the file's units and axes. */
  positions: Float64Array;
}

/** Options of `bvhForwardKinematics`. */
export interface ForwardKinematicsOptions {
  /** Also return End Site positions (default false). */
  endSites?: boolean;
}

/** Forward kinematics: the world position of every joint (and End Site) in every frame. */
export function bvhForwardKinematics(clip: BvhClip, options: ForwardKinematicsOptions = {}): BvhPositions {
  const J = clip.joints.length;
  const names = clip.joints.map((j) => j.name);
  const parents = clip.joints.map((j) => j.parent);
  const ends: number[] = [];
  if (options.endSites) {
    clip.joints.forEach((j, i) => {
      if (j.endSite) {
        ends.push(i);
        names.push(`${j.name}_End`);
        parents.push(i);
      }
    });
  }
  const P = names.length;
  const positions = new Float64Array(clip.frames * P * 3);
  const globals: Mat3[] = new Array(J);
  for (let f = 0; f < clip.frames; f++) {
    const row = f * clip.channels;
    const base = f * P * 3;
    clip.joints.forEach((joint, i) => {
      const t = [...joint.offset];
      let local = identity();
      joint.channels.forEach((ch, k) => {
        const v = clip.motion[row + joint.channelStart + k];
        const axis = ch[0] as "X" | "Y" | "Z";
        if (ch.endsWith("position")) t["XYZ".indexOf(axis)] = v;
        else local = mul(local, axisRotation(axis, v));
      });
      const p = joint.parent;
      if (p < 0) {
        globals[i] = local;
        positions.set(t, base + 3 * i);
      } else {
        const d = apply(globals[p], t);
        for (let a = 0; a < 3; a++) positions[base + 3 * i + a] = positions[base + 3 * p + a] + d[a];
        globals[i] = mul(globals[p], local);
      }
    });
    ends.forEach((i, e) => {
      const d = apply(globals[i], clip.joints[i].endSite!);
      for (let a = 0; a < 3; a++) positions[base + 3 * (J + e) + a] = positions[base + 3 * i + a] + d[a];
    });
  }
  return { names, parents, frames: clip.frames, positions };
}

// ---- CMU → H36M-17 ----

/**
 * How each H36M-17 joint is taken from a CMU BVH skeleton: alternatives in order, each a list of point
 * names averaged. The first alternative uses the names of `data/cmu/*.bvh` (Hips, LeftHip, LeftKnee,
 * LeftAnkle, lowerback, Chest, Chest2, lowerneck, Neck, Head, LeftShoulder, LeftElbow, LeftWrist...),
 * the second the MotionBuilder-style names of other CMU conversions (LeftUpLeg, LeftLeg, LeftFoot,
 * Spine, Spine1, Neck1, LeftArm, LeftForeArm, LeftHand). Choices:
 * - Hip ← Hips; hips, knees ← the hip and knee joints; feet ← the ankles (H36M's "Foot" is the ankle);
 * - Spine ← mean(Chest, Chest2) (MotionBuilder: mean(Spine, Spine1)): H36M's spine joint sits about
 *   half-way from pelvis to thorax, Chest at ~1/3 and Chest2 at ~2/3;
 * - Thorax ← Neck (Neck1): the base of the neck, level with the shoulder joints;
 * - Neck/Nose ← Head (the head joint at the top of the neck);
 * - Head ← the Head End Site (top of the skull), so the End Sites must be computed;
 * - shoulders, elbows, wrists ← LeftShoulder/LeftElbow/LeftWrist (LeftArm/LeftForeArm/LeftHand).
 */
export const CMU_TO_H36M: readonly (readonly (readonly string[])[])[] = Object.freeze([
  [["Hips"]],
  [["RightHip"], ["RightUpLeg"]],
  [["RightKnee"], ["RightLeg"]],
  [["RightAnkle"], ["RightFoot"]],
  [["LeftHip"], ["LeftUpLeg"]],
  [["LeftKnee"], ["LeftLeg"]],
  [["LeftAnkle"], ["LeftFoot"]],
  [["Chest", "Chest2"], ["Spine", "Spine1"]],
  [["Neck"], ["Neck1"]],
  [["Head"]],
  [["Head_End"]],
  [["LeftShoulder"], ["LeftArm"]],
  [["LeftElbow"], ["LeftForeArm"]],
  [["LeftWrist"], ["LeftHand"]],
  [["RightShoulder"], ["RightArm"]],
  [["RightElbow"], ["RightForeArm"]],
  [["RightWrist"], ["RightHand"]],
]);

/** Maps BVH positions (with End Sites) of a CMU skeleton to H36M-17 (see `CMU_TO_H36M`). */
export function cmuToH36m(points: BvhPositions): Keypoints3D {
  const index = new Map(points.names.map((n, i) => [n, i]));
  const isCmu = index.has("LeftHip") && index.has("Chest2");
  const recipes = CMU_TO_H36M.map((alts, t) => {
    const pick = isCmu ? alts[0] : alts[alts.length - 1];
    if (!pick.every((n) => index.has(n))) {
      const missing = pick.filter((n) => !index.has(n));
      throw new InputError(
        `BVH skeleton has no ${missing.map((n) => `"${n}"`).join(", ")} for H36M joint ${t} ` +
          `(${getSkeleton("h36m17").joints[t]}); only CMU skeletons map to h36m17` +
          (missing.some((n) => n.endsWith("_End")) ? " (End Sites needed)" : ""),
      );
    }
    return pick.map((n) => index.get(n)!);
  });
  const P = points.names.length;
  const coords = new Float32Array(points.frames * 17 * 3);
  for (let f = 0; f < points.frames; f++) {
    recipes.forEach((src, t) => {
      for (let a = 0; a < 3; a++) {
        let s = 0;
        for (const i of src) s += points.positions[(f * P + i) * 3 + a];
        coords[(f * 17 + t) * 3 + a] = s / src.length;
      }
    });
  }
  return {
    skeleton: "h36m17",
    frames: points.frames,
    joints: 17,
    coords,
    mask: new Uint8Array(points.frames * 17).fill(1),
  };
}

// ---- writing ----

/** Serialises a clip as BVH text (6 decimals). */
export function bvhText(clip: BvhClip): string {
  const out: string[] = ["HIERARCHY"];
  const children = clip.joints.map(() => [] as number[]);
  const roots: number[] = [];
  clip.joints.forEach((j, i) => (j.parent < 0 ? roots : children[j.parent]).push(i));
  const fmt = (v: number) => {
    const s = v.toFixed(6);
    return s === "-0.000000" ? "0.000000" : s;
  };
  const emit = (i: number, depth: number) => {
    const j = clip.joints[i];
    const pad = "\t".repeat(depth);
    out.push(`${pad}${j.parent < 0 ? "ROOT" : "JOINT"} ${j.name}`, `${pad}{`);
    out.push(`${pad}\tOFFSET ${j.offset.map(fmt).join(" ")}`);
    out.push(`${pad}\tCHANNELS ${j.channels.length}${j.channels.map((c) => ` ${c}`).join("")}`);
    for (const c of children[i]) emit(c, depth + 1);
    if (j.endSite) {
      out.push(
        `${pad}\tEnd Site`,
        `${pad}\t{`,
        `${pad}\t\tOFFSET ${j.endSite.map(fmt).join(" ")}`,
        `${pad}\t}`,
      );
    }
    out.push(`${pad}}`);
  };
  for (const r of roots) emit(r, 0);
  out.push("MOTION", `Frames: ${clip.frames}`, `Frame Time: ${clip.frameTime.toFixed(7)}`);
  for (let f = 0; f < clip.frames; f++) {
    const row = clip.motion.subarray(f * clip.channels, (f + 1) * clip.channels);
    out.push(Array.from(row, fmt).join(" "));
  }
  return out.join("\n") + "\n";
}

/** Writes a clip as a BVH file (atomically). */
export async function writeBvh(path: string, clip: BvhClip): Promise<void> {
  await writeFileAtomic(path, bvhText(clip));
}

/** Options of `bvhFromPositions`. */
export interface BvhFromPositionsOptions {
  /** Seconds per frame (default 1/50). */
  frameTime?: number;
  /** joints × 3 rest pose giving each bone's rest direction (default: the first frame). */
  restPose?: Float32Array;
  /** Insert a zero-length joint at the start of every branch of a multi-child joint (named
   * `<parent>_<child>`, like CMU's `LHipJoint`), so that every bone direction is matched exactly
   * (default true; false gives the bare tree with a least-squares fit at branch points). */
  branchJoints?: boolean;
  /** End Site length of a leaf as a fraction of its incoming bone (default 0.25). */
  endSiteScale?: number;
  /** Joint names and parents to use instead of the skeleton named by the keypoints (for skeletons
   * outside `SKELETONS`, e.g. an arbitrary BVH's). Parents must come before their children. */
  tree?: { joints: readonly string[]; parents: readonly number[] };
}

/**
 * Builds a BVH clip reproducing a 3D joint-position sequence on its skeleton's tree (see the module
 * notes for the method). All joints must be present in every frame (fill gaps first). Positions are
 * written as given: no unit or axis change (Blender's importer has its own axis options).
 */
export function bvhFromPositions(kp: Keypoints3D, options: BvhFromPositionsOptions = {}): BvhClip {
  const skeleton = options.tree ?? getSkeleton(kp.skeleton);
  const T = kp.frames;
  const J0 = kp.joints;
  if (T < 1) throw new InputError("BVH export: no frames");
  if (skeleton.joints.length !== J0 || skeleton.parents.length !== J0) {
    throw new InputError(`BVH export: the keypoints have ${J0} joints, the tree ${skeleton.joints.length}`);
  }
  if (new Set(skeleton.joints).size !== J0 || skeleton.joints.some((n) => /\s/.test(n) || n === "")) {
    throw new InputError("BVH export: joint names must be unique and without spaces");
  }
  for (let i = 0; i < kp.mask.length; i++) {
    if (!kp.mask[i]) {
      throw new InputError(
        `BVH export: frame ${Math.floor(i / J0)} joint ${i % J0} (${skeleton.joints[i % J0]}) is missing; ` +
          `BVH needs every joint in every frame`,
      );
    }
  }
  for (let i = 0; i < kp.coords.length; i++) {
    if (!Number.isFinite(kp.coords[i])) {
      throw new InputError(`BVH export: coordinate ${i} is ${kp.coords[i]}`);
    }
  }
  if (options.restPose && options.restPose.length !== J0 * 3) {
    throw new InputError(`BVH export: restPose has ${options.restPose.length} numbers, expected ${J0 * 3}`);
  }
  // Expanded tree (optional branch joints): each point is an original joint or a helper at its parent.
  const names = [...skeleton.joints];
  const parents = [...skeleton.parents];
  const source = names.map((_, i) => i); // which original joint a point sits on
  if (options.branchJoints ?? true) {
    const kids = skeleton.joints.map((_, j) => skeleton.parents.flatMap((p, c) => (p === j ? [c] : [])));
    kids.forEach((list, j) => {
      if (list.length < 2) return;
      for (const c of list) {
        const helper = names.length;
        names.push(`${skeleton.joints[j]}_${skeleton.joints[c]}`);
        parents.push(j);
        source.push(j);
        parents[c] = helper;
      }
    });
  }
  // Depth-first order (parents first), as BVH needs.
  const N = names.length;
  const children = names.map(() => [] as number[]);
  const roots: number[] = [];
  parents.forEach((p, i) => (p < 0 ? roots : children[p]).push(i));
  const order: number[] = [];
  const visit = (i: number) => {
    order.push(i);
    for (const c of children[i]) visit(c);
  };
  roots.forEach(visit);

  const pos = (f: number, point: number, a: number) => kp.coords[(f * J0 + source[point]) * 3 + a];
  const bone = (f: number, c: number): number[] => [0, 1, 2].map((a) => pos(f, c, a) - pos(f, parents[c], a));
  // Rest offsets: mean length along the rest direction.
  const offsets: number[][] = names.map(() => [0, 0, 0]);
  let longest = 0;
  const lengths = names.map((_, c) => {
    if (parents[c] < 0) return 0;
    let sum = 0;
    for (let f = 0; f < T; f++) sum += Math.hypot(...bone(f, c));
    longest = Math.max(longest, sum / T);
    return sum / T;
  });
  names.forEach((_, c) => {
    if (parents[c] < 0 || lengths[c] <= longest * 1e-7) return;
    let dir: number[];
    if (options.restPose) {
      const r = options.restPose;
      dir = [0, 1, 2].map((a) => r[source[c] * 3 + a] - r[source[parents[c]] * 3 + a]);
    } else dir = bone(0, c);
    const n = Math.hypot(...dir);
    if (n === 0) throw new InputError(`BVH export: rest direction of bone "${names[c]}" has zero length`);
    offsets[c] = dir.map((d) => (d / n) * lengths[c]);
  });
  const nonzero = (c: number) => offsets[c].some((v) => v !== 0);
  // Points whose rotation aligns a joint: its non-zero children, else through zero-length children.
  const effective = (j: number): { point: number; offset: number[] }[] => {
    const direct = children[j].filter(nonzero).map((c) => ({ point: c, offset: offsets[c] }));
    if (direct.length > 0) return direct;
    return children[j].flatMap(effective);
  };
  const targets = names.map((_, j) => effective(j));

  const channelsOf = (i: number): BvhChannel[] =>
    parents[i] < 0
      ? ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
      : ["Zrotation", "Yrotation", "Xrotation"];
  let channelCount = 0;
  const joints: BvhJoint[] = [];
  const newIndex = new Map<number, number>();
  for (const i of order) {
    newIndex.set(i, joints.length);
    const ch = channelsOf(i);
    const leaf = children[i].length === 0;
    let endSite: [number, number, number] | null = null;
    if (leaf) {
      const scale = options.endSiteScale ?? 0.25;
      const o = offsets[i];
      const dir = nonzero(i) ? o : [0, 1, 0];
      const len = (nonzero(i) ? Math.hypot(...o) : longest) * scale;
      const n = Math.hypot(...dir);
      endSite = [dir[0] / n * len, dir[1] / n * len, dir[2] / n * len];
    }
    joints.push({
      name: names[i],
      parent: parents[i] < 0 ? -1 : newIndex.get(parents[i])!,
      offset: parents[i] < 0 ? [0, 0, 0] : [offsets[i][0], offsets[i][1], offsets[i][2]],
      channels: ch,
      channelStart: channelCount,
      endSite,
    });
    channelCount += ch.length;
  }

  const motion = new Float64Array(T * channelCount);
  const previous: [number, number, number][] = names.map(() => [0, 0, 0]);
  const globals: Mat3[] = new Array(N);
  for (let f = 0; f < T; f++) {
    for (const i of order) {
      const parentG = parents[i] < 0 ? identity() : globals[parents[i]];
      const list = targets[i];
      let G: Mat3 | null = null;
      const observed = (point: number) => [0, 1, 2].map((a) => pos(f, point, a) - pos(f, i, a));
      if (list.length >= 2) {
        G = fitRotation(list.map((e) => e.offset), list.map((e) => observed(e.point)));
      }
      if (!G && list.length >= 1) {
        const e = list[0];
        G = mul(swing(apply(parentG, e.offset), observed(e.point)), parentG);
      }
      if (!G) G = parentG;
      globals[i] = G;
      const local = mul(transpose(parentG), G);
      const ji = newIndex.get(i)!;
      const row = f * channelCount + joints[ji].channelStart;
      let k = 0;
      if (parents[i] < 0) {
        for (let a = 0; a < 3; a++) motion[row + k++] = pos(f, i, a);
      }
      // Unwrap each angle towards the previous frame's so curves have no ±360° jumps.
      const angles = eulerZYX(local).map((v, a) => {
        const prev = previous[i][a];
        return f === 0 ? v : v + 360 * Math.round((prev - v) / 360);
      }) as [number, number, number];
      previous[i] = angles;
      for (const v of angles) motion[row + k++] = v;
    }
  }
  return { joints, frames: T, frameTime: options.frameTime ?? 1 / 50, channels: channelCount, motion };
}

// ---- BVH → keypoints / pose document ----

/** Options of `bvhToKeypoints3D` / `bvhToPoseDocument`. */
export interface BvhToPosesOptions {
  /** Target skeleton: "h36m17" (default; CMU skeletons are mapped by `CMU_TO_H36M`, a BVH whose joints
   * are the H36M-17 names is taken by name) or "cmu31" (the CMU joints as they are). */
  skeleton?: string;
  /** Multiplier applied to positions (default: `CMU_UNIT_MM` for CMU skeletons, else 1). */
  scale?: number;
  /** Keep every n-th frame (default 1). */
  every?: number;
}

function isCmuClip(clip: BvhClip): boolean {
  const names = new Set(clip.joints.map((j) => j.name));
  return (names.has("LeftHip") && names.has("Chest2")) || (names.has("LeftUpLeg") && names.has("Spine1"));
}

/** The scale `bvhToKeypoints3D` applies by default: `CMU_UNIT_MM` for CMU skeletons, else 1. */
export function defaultBvhScale(clip: BvhClip): number {
  return isCmuClip(clip) ? CMU_UNIT_MM : 1;
}

/** Joint positions of a clip on a posegpu skeleton (see `BvhToPosesOptions`), in the BVH's axes. */
export function bvhToKeypoints3D(clip: BvhClip, options: BvhToPosesOptions = {}): Keypoints3D {
  // Errors about the clip's content name its file (when it was read from one).
  const at = clip.file === undefined ? "" : `${clip.file}: `;
  const skeleton = getSkeleton(options.skeleton ?? "h36m17");
  const every = options.every ?? 1;
  if (!Number.isInteger(every) || every < 1) {
    throw new InputError(`every must be a positive integer, got ${every}`);
  }
  const scale = options.scale ?? defaultBvhScale(clip);
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new InputError(`scale must be a positive number, got ${scale}`);
  }
  const names = clip.joints.map((j) => j.name);
  const byName = skeleton.joints.every((n) => names.includes(n));
  let full: Keypoints3D;
  if (byName) {
    const fk = bvhForwardKinematics(clip);
    const src = skeleton.joints.map((n) => names.indexOf(n));
    const J = skeleton.joints.length;
    const coords = new Float32Array(clip.frames * J * 3);
    for (let f = 0; f < clip.frames; f++) {
      src.forEach((s, j) => {
        for (let a = 0; a < 3; a++) {
          coords[(f * J + j) * 3 + a] = fk.positions[(f * names.length + s) * 3 + a];
        }
      });
    }
    full = {
      skeleton: skeleton.name,
      frames: clip.frames,
      joints: J,
      coords,
      mask: new Uint8Array(clip.frames * J).fill(1),
    };
  } else if (skeleton.name === "h36m17") {
    try {
      full = cmuToH36m(bvhForwardKinematics(clip, { endSites: true }));
    } catch (e) {
      if (e instanceof InputError && at) throw new InputError(at + e.message, { cause: e });
      throw e;
    }
  } else {
    const missing = skeleton.joints.filter((n) => !names.includes(n)).slice(0, 4);
    throw new InputError(
      `${at}BVH has no joint${missing.length > 1 ? "s" : ""} ${
        missing.map((n) => `"${n}"`).join(", ")
      } of skeleton ` +
        `${skeleton.name}` + (skeleton.name === CMU_31.name ? " (not a CMU data/cmu-style file)" : ""),
    );
  }
  const frames = Math.ceil(full.frames / every);
  const J = full.joints;
  const coords = new Float32Array(frames * J * 3);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < J * 3; k++) coords[f * J * 3 + k] = full.coords[f * every * J * 3 + k] * scale;
  }
  const bad = coords.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new InputError(
      `${at}BVH frame ${Math.floor(bad / (J * 3)) * every}: joint ${
        Math.floor(bad / 3) % J
      } position overflows (${coords[bad]})`,
    );
  }
  return { ...full, frames, coords, mask: new Uint8Array(frames * J).fill(1) };
}

/** A clip as a one-person pose document (frame "world" in the BVH's axes, Y up for CMU; units "mm" when
 * the scale is CMU's default, else "unit" unless given; fps = 1 / frame time / every). */
export function bvhToPoseDocument(
  clip: BvhClip,
  options: BvhToPosesOptions & { units?: PoseUnits } = {},
): PoseDocument {
  const kp = bvhToKeypoints3D(clip, options);
  const every = options.every ?? 1;
  const units = options.units ?? (options.scale === undefined && isCmuClip(clip) ? "mm" : "unit");
  const doc = createPoseDocument({
    skeleton: kp.skeleton,
    units,
    frame: "world",
    // Frame times are printed rounded (.0083333): 120.0005 fps reads better as 120.
    fps: Math.round(1e3 / clip.frameTime / every) / 1e3,
    people: [{
      track: 0,
      frames: Array.from({ length: kp.frames }, (_, i) => i),
      keypoints2d: null,
      keypoints3d: kp,
    }],
  });
  validatePoseDocument(doc, clip.file === undefined ? "BVH poses" : `${clip.file}: BVH poses`);
  return doc;
}
