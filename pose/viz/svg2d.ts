/**
 * 2D skeleton pictures as SVG text: any skeleton, several people, an optional PNG/JPEG background
 * embedded as a data URL (the picture is then sized to the image), bones coloured by body side
 * (`SIDE_COLORS`). Missing joints (mask 0) and the lines touching them are not drawn.
 *
 * Output is deterministic (coordinates printed with at most 2 decimals) and its parts carry classes for
 * styling and tests: `<g class="person" data-track>`, `<line class="bone" data-side>`,
 * `<circle class="joint" data-joint>`, `<image class="background">` (else a white `<rect class="canvas">`).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D } from "../convert.ts";
import type { PoseDocument } from "../formats/pose_json.ts";
import { getSkeleton } from "../skeletons.ts";
import { embedImage } from "./image_embed.ts";
import { drawingLines, escapeXml, fmt, jointSide, lineSide, SIDE_COLORS } from "./svg_common.ts";

/** One person's 2D keypoints in one frame. */
export interface Pose2D {
  /** Skeleton name (see `SKELETONS`). */
  skeleton: string;
  /** joints × 2 pixel coordinates. */
  coords: ArrayLike<number>;
  /** joints presence flags (1 present, 0 missing); all present when omitted. */
  mask?: ArrayLike<number> | null;
  /** Text drawn beside the person (e.g. the track id); none when omitted. */
  label?: string;
}

/** Options of `skeletonSvg2d`. */
export interface Svg2dOptions {
  /** PNG or JPEG bytes drawn behind the skeletons; the picture takes the image's size. */
  background?: Uint8Array | null;
  /** Picture size in pixels when there is no background (default: the keypoints' bounding box plus a
   * 10 % margin). Both or neither. */
  width?: number;
  /** See `width`. */
  height?: number;
  /** Bone stroke width in pixels (default: 0.5 % of the picture's larger side, at least 1.5). */
  lineWidth?: number;
  /** Joint radius in pixels (default: 1.2 × the line width). */
  jointRadius?: number;
  /** Title element (tooltip and accessibility). */
  title?: string;
}

function poseBounds(poses: readonly Pose2D[]): [number, number, number, number] | null {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of poses) {
    const n = p.coords.length / 2;
    for (let j = 0; j < n; j++) {
      if (p.mask && !p.mask[j]) continue;
      const x = p.coords[2 * j], y = p.coords[2 * j + 1];
      x0 = Math.min(x0, x), y0 = Math.min(y0, y), x1 = Math.max(x1, x), y1 = Math.max(y1, y);
    }
  }
  return x0 <= x1 ? [x0, y0, x1, y1] : null;
}

function checkPose(pose: Pose2D, i: number): number {
  const skeleton = getSkeleton(pose.skeleton);
  const J = skeleton.joints.length;
  if (pose.coords.length !== J * 2) {
    throw new InputError(
      `pose ${i}: ${pose.coords.length} coordinates, expected ${J} joints × 2 (${skeleton.name})`,
    );
  }
  if (pose.mask && pose.mask.length !== J) {
    throw new InputError(`pose ${i}: mask has ${pose.mask.length} entries, expected ${J}`);
  }
  for (let k = 0; k < pose.coords.length; k++) {
    if ((!pose.mask || pose.mask[k >> 1]) && !Number.isFinite(pose.coords[k])) {
      throw new InputError(
        `pose ${i}: joint ${k >> 1} (${skeleton.joints[k >> 1]}) has a non-finite coordinate`,
      );
    }
  }
  return J;
}

/** Draws 2D skeletons (one `Pose2D` per person) as a standalone SVG document. */
export function skeletonSvg2d(poses: readonly Pose2D[], options: Svg2dOptions = {}): string {
  poses.forEach(checkPose);
  const image = options.background ? embedImage(options.background) : null;
  let box: [number, number, number, number];
  if (image) box = [0, 0, image.width, image.height];
  else if (options.width !== undefined || options.height !== undefined) {
    const w = options.width, h = options.height;
    if (!(w !== undefined && h !== undefined && w > 0 && h > 0 && Number.isFinite(w * h))) {
      throw new InputError(`picture size ${w}×${h}: give both width and height, positive`);
    }
    box = [0, 0, w, h];
  } else {
    const b = poseBounds(poses) ?? [0, 0, 100, 100];
    const m = 0.1 * Math.max(b[2] - b[0], b[3] - b[1], 10);
    box = [b[0] - m, b[1] - m, b[2] - b[0] + 2 * m, b[3] - b[1] + 2 * m];
  }
  const lw = options.lineWidth ?? Math.max(1.5, 0.005 * Math.max(box[2], box[3]));
  const r = options.jointRadius ?? 1.2 * lw;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
      `width="${fmt(box[2])}" height="${fmt(box[3])}" viewBox="${box.map((v) => fmt(v)).join(" ")}">`,
  );
  if (options.title) out.push(`<title>${escapeXml(options.title)}</title>`);
  if (!image) {
    // Opaque so the picture reads the same in dark-themed viewers.
    out.push(
      `<rect class="canvas" x="${fmt(box[0])}" y="${fmt(box[1])}" width="${fmt(box[2])}" height="${
        fmt(box[3])
      }" ` +
        `fill="#ffffff"/>`,
    );
  } else {
    out.push(
      `<image class="background" x="0" y="0" width="${image.width}" height="${image.height}" ` +
        `xlink:href="${image.dataUrl}"/>`,
    );
  }
  poses.forEach((pose, i) => {
    const skeleton = getSkeleton(pose.skeleton);
    const present = (j: number): boolean => !pose.mask || pose.mask[j] !== 0;
    const x = (j: number): string => fmt(pose.coords[2 * j]);
    const y = (j: number): string => fmt(pose.coords[2 * j + 1]);
    out.push(
      `<g class="person" data-index="${i}"${pose.label ? ` data-label="${escapeXml(pose.label)}"` : ""}>`,
    );
    out.push(`<g stroke-width="${fmt(lw)}" stroke-linecap="round">`);
    for (const [a, b] of drawingLines(skeleton)) {
      if (!present(a) || !present(b)) continue;
      const side = lineSide(skeleton, a, b);
      out.push(
        `<line class="bone" data-side="${side}" x1="${x(a)}" y1="${y(a)}" x2="${x(b)}" y2="${y(b)}" ` +
          `stroke="${SIDE_COLORS[side]}"/>`,
      );
    }
    out.push(`</g>`);
    for (let j = 0; j < skeleton.joints.length; j++) {
      if (!present(j)) continue;
      out.push(
        `<circle class="joint" data-joint="${j}" cx="${x(j)}" cy="${y(j)}" r="${fmt(r)}" ` +
          `fill="${SIDE_COLORS[jointSide(skeleton, j)]}" stroke="#ffffff" stroke-width="${fmt(r / 3)}"/>`,
      );
    }
    if (pose.label) {
      const b = poseBounds([pose]);
      if (b) {
        out.push(
          `<text class="label" x="${fmt(b[0])}" y="${fmt(b[1] - 2 * r)}" font-family="sans-serif" ` +
            `font-size="${fmt(6 * lw)}" fill="#000000" stroke="#ffffff" stroke-width="${fmt(lw / 2)}" ` +
            `paint-order="stroke">${escapeXml(pose.label)}</text>`,
        );
      }
    }
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** One frame (0-based position in the sequence) of a 2D sequence as a `Pose2D`. */
export function poseFrame2d(kp: Keypoints2D, frame: number): Pose2D {
  if (!Number.isInteger(frame) || frame < 0 || frame >= kp.frames) {
    throw new InputError(`frame ${frame} is outside the sequence (0..${kp.frames - 1})`);
  }
  const J = kp.joints;
  return {
    skeleton: kp.skeleton,
    coords: kp.coords.subarray(frame * J * 2, (frame + 1) * J * 2),
    mask: kp.mask.subarray(frame * J, (frame + 1) * J),
  };
}

/** Options of `documentSvg2d`: those of `skeletonSvg2d`, plus whether to label people. */
export interface DocumentSvg2dOptions extends Svg2dOptions {
  /** Label each person with its track id (default: when the frame shows more than one person). */
  labels?: boolean;
}

/**
 * Draws frame `frame` (a frame index as listed in the tracks' `frames`) of a document's 2D keypoints.
 * Without a background or explicit size the picture takes the document's image size when it has one.
 * Throws `InputError` when no person has 2D keypoints in that frame.
 */
export function documentSvg2d(
  doc: PoseDocument,
  frame: number,
  options: DocumentSvg2dOptions = {},
): string {
  const poses: Pose2D[] = [];
  for (const p of doc.people) {
    const i = p.frames.indexOf(frame);
    if (i < 0 || !p.keypoints2d) continue;
    poses.push({ ...poseFrame2d(p.keypoints2d, i), label: `track ${p.track}` });
  }
  if (poses.length === 0) throw new InputError(`pose document: no 2D keypoints in frame ${frame}`);
  const labels = options.labels ?? poses.length > 1;
  if (!labels) { for (const p of poses) delete p.label; }
  const sized = options.background || options.width !== undefined || options.height !== undefined;
  return skeletonSvg2d(poses, sized || !doc.image ? options : { ...options, ...doc.image });
}
