/**
 * 3D skeleton pictures as SVG text: front, side and top views side by side at one common scale, with
 * axis labels and a scale bar in the poses' units; optionally coloured by per-joint error against a
 * ground truth (drawn as a grey dashed overlay) with a colour-scale legend.
 *
 * Views use the (right, up, depth) basis of `axes.ts`: front = (right, up) as seen by a viewer looking
 * along depth (for camera-frame poses, what the camera sees); side = (depth, up) seen from the right;
 * top = (right, depth) seen from above, depth pointing up the page. Each view is centred on the
 * bounding box of everything drawn.
 *
 * Classes for styling and tests: `<g class="panel" data-view>`, `<line class="bone">`,
 * `<line class="gt-bone">`, `<circle class="joint" data-error>`, `<line class="scale-bar">`,
 * `<rect class="legend-step">`.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints3D } from "../convert.ts";
import type { PoseDocument } from "../formats/pose_json.ts";
import { getSkeleton, type Skeleton } from "../skeletons.ts";
import { type BasisAxis, documentUpAxis, toView, type UpAxis, viewBasis } from "./axes.ts";
import {
  DEFAULT_ERROR_SCALE,
  drawingLines,
  errorColor,
  type ErrorScale,
  escapeXml,
  fmt,
  GROUND_TRUTH_COLOR,
  jointSide,
  lineSide,
  niceLength,
  rootJoint,
  SIDE_COLORS,
} from "./svg_common.ts";

/** One person's 3D keypoints in one frame. */
export interface Pose3D {
  /** Skeleton name (see `SKELETONS`). */
  skeleton: string;
  /** joints × 3 coordinates. */
  coords: ArrayLike<number>;
  /** joints presence flags (1 present, 0 missing); all present when omitted. */
  mask?: ArrayLike<number> | null;
}

/** Options of `skeletonSvg3d`. */
export interface Svg3dOptions {
  /** Data axis pointing up (default "-y": camera coordinates). */
  up?: UpAxis;
  /** Ground truth per pose (same index, same skeleton; null where none). Enables error colouring. */
  groundTruth?: readonly (Pose3D | null)[] | null;
  /** How the ground truth is placed before errors are measured and the overlay drawn: "root" (default)
   * moves it so its root joint meets the pose's (MPJPE convention), "none" takes it as it is. */
  align?: "root" | "none";
  /** Error colour scale, in the poses' units (default 40 → 120, meant for millimetres). */
  errorScale?: ErrorScale;
  /** Units named on the scale bar and legend (default "mm"). */
  units?: string;
  /** Side of each square view in pixels (default 300). */
  panelSize?: number;
  /** Title written above the views. */
  title?: string;
}

interface Prepared {
  skeleton: Skeleton;
  view: Float64Array; // joints × (right, up, depth)
  present: boolean[];
}

function prepare(pose: Pose3D, basis: ReturnType<typeof viewBasis>, where: string): Prepared {
  const skeleton = getSkeleton(pose.skeleton);
  const J = skeleton.joints.length;
  if (pose.coords.length !== J * 3) {
    throw new InputError(
      `${where}: ${pose.coords.length} coordinates, expected ${J} joints × 3 (${skeleton.name})`,
    );
  }
  if (pose.mask && pose.mask.length !== J) {
    throw new InputError(`${where}: mask has ${pose.mask.length} entries, expected ${J}`);
  }
  const view = new Float64Array(J * 3);
  const present: boolean[] = [];
  for (let j = 0; j < J; j++) {
    present.push(!pose.mask || pose.mask[j] !== 0);
    const c = pose.coords;
    if (present[j] && ![0, 1, 2].every((d) => Number.isFinite(c[3 * j + d]))) {
      throw new InputError(`${where}: joint ${j} (${skeleton.joints[j]}) has a non-finite coordinate`);
    }
    view.set(toView(basis, c[3 * j], c[3 * j + 1], c[3 * j + 2]), 3 * j);
  }
  return { skeleton, view, present };
}

type ViewName = "front" | "side" | "top";
// Per view: which view coordinate is horizontal and which vertical (0 right, 1 up, 2 depth).
const VIEWS: readonly [ViewName, number, number][] = [["front", 0, 1], ["side", 2, 1], ["top", 0, 2]];

/** Draws 3D skeletons (one `Pose3D` per person, one frame) as front, side and top views in one SVG. */
export function skeletonSvg3d(poses: readonly Pose3D[], options: Svg3dOptions = {}): string {
  if (poses.length === 0) throw new InputError("skeletonSvg3d: no poses to draw");
  const basis = viewBasis(options.up ?? "-y");
  const units = options.units ?? "mm";
  const scaleRange = options.errorScale ?? DEFAULT_ERROR_SCALE;
  const P = options.panelSize ?? 300;
  if (!(P >= 50 && Number.isFinite(P))) throw new InputError(`panelSize ${P}: expected at least 50`);
  const preds = poses.map((p, i) => prepare(p, basis, `pose ${i}`));
  const gts = (options.groundTruth ?? []).map((g, i) => {
    if (!g) return null;
    if (i >= poses.length) throw new InputError(`ground truth ${i} has no pose to compare with`);
    const gt = prepare(g, basis, `ground truth ${i}`);
    if (gt.skeleton.name !== preds[i].skeleton.name) {
      throw new InputError(
        `ground truth ${i} is on skeleton ${gt.skeleton.name}, the pose on ${preds[i].skeleton.name}`,
      );
    }
    if ((options.align ?? "root") === "root") {
      const r = rootJoint(gt.skeleton);
      if (gt.present[r] && preds[i].present[r]) {
        const shift = [0, 1, 2].map((d) => preds[i].view[3 * r + d] - gt.view[3 * r + d]);
        for (let k = 0; k < gt.view.length; k++) gt.view[k] += shift[k % 3];
      }
    }
    return gt;
  });
  // Per-joint errors (NaN where either side is missing).
  const errors = preds.map((p, i) => {
    const g = gts[i];
    if (!g) return null;
    return p.present.map((ok, j) =>
      ok && g.present[j] ? Math.hypot(...[0, 1, 2].map((d) => p.view[3 * j + d] - g.view[3 * j + d])) : NaN
    );
  });

  // One scale for all views: the largest bounding-box side of everything drawn fills the panel.
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (const p of [...preds, ...gts]) {
    if (!p) continue;
    p.present.forEach((ok, j) => {
      if (!ok) return;
      for (let d = 0; d < 3; d++) {
        lo[d] = Math.min(lo[d], p.view[3 * j + d]);
        hi[d] = Math.max(hi[d], p.view[3 * j + d]);
      }
    });
  }
  const any = lo[0] <= hi[0];
  const centre = any ? lo.map((v, d) => (v + hi[d]) / 2) : [0, 0, 0];
  const extent = any ? Math.max(...hi.map((v, d) => v - lo[d]), 1e-9) : 1;
  const pad = 0.08 * P;
  const scale = (P - 2 * pad) / extent;

  const gap = 20, top = options.title ? 44 : 24, bottom = 64;
  const W = 3 * P + 4 * gap, H = top + P + bottom;
  const lw = Math.max(1.5, P / 150);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="sans-serif">`,
  );
  out.push(`<rect class="canvas" x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  if (options.title) {
    out.push(`<text x="${gap}" y="24" font-size="16" fill="#000000">${escapeXml(options.title)}</text>`);
  }
  const axisName: BasisAxis[] = [basis.right, basis.up, basis.depth];
  VIEWS.forEach(([name, h, v], k) => {
    const x0 = gap + k * (P + gap), y0 = top;
    const sx = (p: Float64Array, j: number): string => fmt(x0 + P / 2 + (p[3 * j + h] - centre[h]) * scale);
    const sy = (p: Float64Array, j: number): string => fmt(y0 + P / 2 - (p[3 * j + v] - centre[v]) * scale);
    out.push(`<g class="panel" data-view="${name}">`);
    out.push(
      `<rect x="${x0}" y="${y0}" width="${P}" height="${P}" fill="#fafafa" stroke="#cccccc"/>`,
      `<text x="${x0 + 6}" y="${y0 + 16}" font-size="13" fill="#333333">${name}</text>`,
      `<text class="axis-label" x="${x0 + P - 6}" y="${y0 + P - 6}" font-size="12" text-anchor="end" ` +
        `fill="#333333">${axisName[h].label} →</text>`,
      `<text class="axis-label" x="${x0 + 14}" y="${y0 + P - 6}" font-size="12" fill="#333333" ` +
        `transform="rotate(-90 ${x0 + 14} ${y0 + P - 6})">${axisName[v].label} →</text>`,
    );
    gts.forEach((g) => {
      if (!g) return;
      out.push(`<g stroke="${GROUND_TRUTH_COLOR}" stroke-width="${fmt(lw)}" stroke-dasharray="4 3">`);
      for (const [a, b] of drawingLines(g.skeleton)) {
        if (!g.present[a] || !g.present[b]) continue;
        out.push(
          `<line class="gt-bone" x1="${sx(g.view, a)}" y1="${sy(g.view, a)}" ` +
            `x2="${sx(g.view, b)}" y2="${sy(g.view, b)}"/>`,
        );
      }
      out.push(`</g>`);
    });
    preds.forEach((p, i) => {
      const e = errors[i];
      const boneColor = (a: number, b: number): string => {
        if (e && Number.isFinite(e[a]) && Number.isFinite(e[b])) {
          return errorColor((e[a] + e[b]) / 2, scaleRange);
        }
        return SIDE_COLORS[lineSide(p.skeleton, a, b)];
      };
      out.push(`<g class="person" data-index="${i}" stroke-width="${fmt(lw * 1.4)}" stroke-linecap="round">`);
      for (const [a, b] of drawingLines(p.skeleton)) {
        if (!p.present[a] || !p.present[b]) continue;
        out.push(
          `<line class="bone" x1="${sx(p.view, a)}" y1="${sy(p.view, a)}" x2="${sx(p.view, b)}" ` +
            `y2="${sy(p.view, b)}" stroke="${boneColor(a, b)}"/>`,
        );
      }
      p.present.forEach((ok, j) => {
        if (!ok) return;
        const err = e ? e[j] : NaN;
        const fill = Number.isFinite(err)
          ? errorColor(err, scaleRange)
          : SIDE_COLORS[jointSide(p.skeleton, j)];
        out.push(
          `<circle class="joint" data-joint="${j}"${
            Number.isFinite(err) ? ` data-error="${fmt(err, 1)}"` : ""
          } ` +
            `cx="${sx(p.view, j)}" cy="${sy(p.view, j)}" r="${fmt(lw * 1.6)}" fill="${fill}" ` +
            `stroke="#ffffff" stroke-width="${fmt(lw / 2)}"/>`,
        );
      });
      out.push(`</g>`);
    });
    out.push(`</g>`);
  });

  // Scale bar under the front view: the longest nice length up to 40 % of a panel.
  const barLen = niceLength((0.4 * P) / scale);
  const by = top + P + 24;
  out.push(
    `<g class="scale">`,
    `<line class="scale-bar" x1="${gap}" y1="${by}" x2="${fmt(gap + barLen * scale)}" y2="${by}" ` +
      `stroke="#000000" stroke-width="3"/>`,
    `<text x="${fmt(gap + barLen * scale + 8)}" y="${by + 4}" font-size="12" fill="#000000">` +
      `${fmt(barLen, 6)} ${escapeXml(units)}</text>`,
    `</g>`,
  );

  if (errors.some((e) => e)) {
    const all = errors.flatMap((e) => (e ? e.filter(Number.isFinite) : []));
    const mean = all.length ? all.reduce((s, v) => s + v, 0) / all.length : NaN;
    const lx = gap + P + gap, steps = 10, sw = 18;
    out.push(`<g class="legend">`);
    out.push(
      `<text x="${lx}" y="${by - 8}" font-size="12" fill="#000000">per-joint error (${escapeXml(units)})` +
        `${Number.isFinite(mean) ? `, mean ${fmt(mean, 1)}` : ""}</text>`,
    );
    for (let s = 0; s < steps; s++) {
      const value = scaleRange.low + ((scaleRange.high - scaleRange.low) * s) / (steps - 1);
      out.push(
        `<rect class="legend-step" x="${lx + s * sw}" y="${by}" width="${sw}" height="12" ` +
          `fill="${errorColor(value, scaleRange)}"/>`,
      );
    }
    out.push(
      `<text x="${lx}" y="${by + 26}" font-size="11" fill="#000000">≤ ${fmt(scaleRange.low, 3)}</text>`,
      `<text x="${lx + steps * sw}" y="${by + 26}" font-size="11" text-anchor="end" fill="#000000">` +
        `≥ ${fmt(scaleRange.high, 3)}</text>`,
      `<line x1="${lx + steps * sw + 16}" y1="${by + 6}" x2="${lx + steps * sw + 40}" y2="${by + 6}" ` +
        `stroke="${GROUND_TRUTH_COLOR}" stroke-width="2" stroke-dasharray="4 3"/>`,
      `<text x="${lx + steps * sw + 46}" y="${by + 10}" font-size="11" fill="#000000">ground truth</text>`,
    );
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** One frame (0-based position in the sequence) of a 3D sequence as a `Pose3D`. */
export function poseFrame3d(kp: Keypoints3D, frame: number): Pose3D {
  if (!Number.isInteger(frame) || frame < 0 || frame >= kp.frames) {
    throw new InputError(`frame ${frame} is outside the sequence (0..${kp.frames - 1})`);
  }
  const J = kp.joints;
  return {
    skeleton: kp.skeleton,
    coords: kp.coords.subarray(frame * J * 3, (frame + 1) * J * 3),
    mask: kp.mask.subarray(frame * J, (frame + 1) * J),
  };
}

/** Options of `documentSvg3d`: those of `skeletonSvg3d` with the ground truth as a document. */
export interface DocumentSvg3dOptions extends Omit<Svg3dOptions, "groundTruth"> {
  /** Ground-truth document: tracks are matched by track id, frames by frame index. */
  groundTruth?: PoseDocument | null;
}

/**
 * Draws frame `frame` (a frame index as listed in the tracks' `frames`) of a document's 3D keypoints;
 * the up axis defaults to the document's (see `documentUpAxis`), the units to its units. Throws
 * `InputError` when no person has 3D keypoints in that frame.
 */
export function documentSvg3d(
  doc: PoseDocument,
  frame: number,
  options: DocumentSvg3dOptions = {},
): string {
  const poses: Pose3D[] = [];
  const gts: (Pose3D | null)[] = [];
  for (const p of doc.people) {
    const i = p.frames.indexOf(frame);
    if (i < 0 || !p.keypoints3d) continue;
    poses.push(poseFrame3d(p.keypoints3d, i));
    const g = options.groundTruth?.people.find((q) => q.track === p.track);
    const gi = g ? g.frames.indexOf(frame) : -1;
    gts.push(g && g.keypoints3d && gi >= 0 ? poseFrame3d(g.keypoints3d, gi) : null);
  }
  if (poses.length === 0) throw new InputError(`pose document: no 3D keypoints in frame ${frame}`);
  return skeletonSvg3d(poses, {
    ...options,
    up: options.up ?? documentUpAxis(doc),
    units: options.units ?? doc.units,
    groundTruth: options.groundTruth ? gts : null,
  });
}
