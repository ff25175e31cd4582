/**
 * Helpers shared by the SVG and HTML pictures: number formatting that makes output deterministic, XML
 * escaping, the left/right/centre colours of skeleton drawings, and the green → yellow → red error scale.
 * @module
 */

import type { Skeleton } from "../skeletons.ts";

/** Colours of a skeleton drawing by body side (the convention of most pose papers: left blue, right red). */
export const SIDE_COLORS: Readonly<Record<JointSide, string>> = Object.freeze({
  left: "#1f77b4",
  right: "#d62728",
  centre: "#2ca02c",
});

/** Colour of ground-truth overlays. */
export const GROUND_TRUTH_COLOR = "#7f7f7f";

/** Which side of the body a joint or line is on. */
export type JointSide = "left" | "right" | "centre";

/** Side of joint `j` of a skeleton. */
export function jointSide(skeleton: Skeleton, joint: number): JointSide {
  if (skeleton.leftJoints.includes(joint)) return "left";
  if (skeleton.rightJoints.includes(joint)) return "right";
  return "centre";
}

/** Side of a line between two joints: the side both share, the side of the one that has one when the
 * other is central (a hip bone is "left" though its parent is the pelvis), else centre (a line across the
 * body, such as shoulder to shoulder). */
export function lineSide(skeleton: Skeleton, a: number, b: number): JointSide {
  const sa = jointSide(skeleton, a);
  const sb = jointSide(skeleton, b);
  if (sa === sb) return sa;
  if (sa === "centre") return sb;
  if (sb === "centre") return sa;
  return "centre";
}

/** The lines to draw for a skeleton: its own drawing lines when it has them (COCO, MediaPipe), else its
 * bones. */
export function drawingLines(skeleton: Skeleton): readonly (readonly [number, number])[] {
  return skeleton.lines ?? skeleton.bones;
}

/** Index of the skeleton's first root joint (parent -1), used to align poses. */
export function rootJoint(skeleton: Skeleton): number {
  const r = skeleton.parents.indexOf(-1);
  return r < 0 ? 0 : r;
}

/** Formats a coordinate with at most `decimals` decimals, without trailing zeros or "-0", so that output
 * is byte-identical across runs and platforms. */
export function fmt(value: number, decimals = 2): string {
  const s = 10 ** decimals;
  const r = Math.round(value * s) / s;
  return Object.is(r, -0) || r === 0 ? "0" : String(r);
}

/** Escapes text for XML/HTML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Range of the error colour scale, in the poses' units: at or below `low` green, at or above `high` red. */
export interface ErrorScale {
  /** Error that is coloured fully green. */
  low: number;
  /** Error that is coloured fully red. */
  high: number;
}

/** Default error scale in millimetres (typical good / poor per-joint errors of lifting models). */
export const DEFAULT_ERROR_SCALE: Readonly<ErrorScale> = Object.freeze({ low: 40, high: 120 });

const GREEN = [0x1a, 0x98, 0x50];
const YELLOW = [0xfe, 0xe0, 0x8b];
const RED = [0xd7, 0x30, 0x27];

function hex(rgb: number[]): string {
  return "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
}

/** Colour of an error value: green at or below `scale.low`, red at or above `scale.high`, through yellow
 * half-way (a diverging scale readable by most colour-blind viewers). */
export function errorColor(error: number, scale: ErrorScale = DEFAULT_ERROR_SCALE): string {
  const span = scale.high - scale.low;
  const t = span > 0 ? Math.min(1, Math.max(0, (error - scale.low) / span)) : (error > scale.low ? 1 : 0);
  const [a, b, u] = t < 0.5 ? [GREEN, YELLOW, t * 2] : [YELLOW, RED, t * 2 - 1];
  return hex(a.map((v, i) => v + (b[i] - v) * u));
}

/** A "nice" length (1, 2 or 5 × a power of ten) no longer than `max`, for scale bars and axis ticks. */
export function niceLength(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [5, 2, 1]) if (m * p <= max) return m * p;
  return p;
}
