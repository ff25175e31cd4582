/**
 * Host-side geometry of the top-down image models: boxes from poses, the crop transforms of Simple
 * Baselines / PoseFix (`get_affine_transform`), seed 001's square crop, and mapping points through 2×3
 * affine matrices. The pixel work itself is on the GPU (`engine/kernels/image.ts`).
 * @module
 */

import { InputError } from "../engine/errors.ts";
import { type Affine, invertAffine } from "../engine/kernels/image.ts";

export { type Affine, invertAffine } from "../engine/kernels/image.ts";

/** A box `[x, y, w, h]` in image pixels. */
export type Box = [number, number, number, number];

/** The 2×3 affine map sending three source points to three destination points (`cv2.getAffineTransform`). */
export function affineFromPoints(
  src: readonly (readonly [number, number])[],
  dst: readonly (readonly [number, number])[],
): Affine {
  // Two independent 3×3 systems [x y 1]·(a b c)ᵀ = x', solved by Cramer's rule in float64.
  const [p0, p1, p2] = src;
  const det = p0[0] * (p1[1] - p2[1]) - p0[1] * (p1[0] - p2[0]) + (p1[0] * p2[1] - p2[0] * p1[1]);
  if (det === 0) throw new InputError("affineFromPoints: the three source points are collinear");
  const solve = (v: readonly [number, number, number]): [number, number, number] => {
    const a = (v[0] * (p1[1] - p2[1]) - p0[1] * (v[1] - v[2]) + (v[1] * p2[1] - v[2] * p1[1])) / det;
    const b = (p0[0] * (v[1] - v[2]) - v[0] * (p1[0] - p2[0]) + (p1[0] * v[2] - p2[0] * v[1])) / det;
    const c = (p0[0] * (p1[1] * v[2] - p2[1] * v[1]) - p0[1] * (p1[0] * v[2] - p2[0] * v[1]) +
      v[0] * (p1[0] * p2[1] - p2[0] * p1[1])) / det;
    return [a, b, c];
  };
  const [a, b, c] = solve([dst[0][0], dst[1][0], dst[2][0]]);
  const [d, e, f] = solve([dst[0][1], dst[1][1], dst[2][1]]);
  return [a, b, c, d, e, f];
}

/** Options of `getAffineTransform`. */
export interface CropTransformOptions {
  /** Rotation in degrees (default 0). */
  rotation?: number;
  /** Shift of the centre as a fraction of the scale (default [0, 0]). */
  shift?: readonly [number, number];
  /** Return the crop → image map instead (default false). */
  inverse?: boolean;
  /**
   * Round the three point pairs to float32 as the references do (`np.zeros((3, 2), np.float32)`, the
   * third point computed in float32) before solving in float64 (`cv2.getAffineTransform`). Default false.
   */
  float32?: boolean;
}

/**
 * Simple Baselines / PoseFix `get_affine_transform(center, scale, rot, output_size)`: the map from the
 * image to a `outputSize = [w, h]` crop whose width spans `scale[0]` pixels around `center` (PoseFix's
 * scale is in pixels; Simple Baselines passes `scale·200`). The centre lands on `(w/2, h/2)`.
 */
export function getAffineTransform(
  box: { center: readonly [number, number]; scale: readonly [number, number] },
  outputSize: readonly [number, number],
  options: CropTransformOptions = {},
): Affine {
  const { center, scale } = box;
  const shift = options.shift ?? [0, 0];
  const rot = (Math.PI * (options.rotation ?? 0)) / 180;
  const sn = Math.sin(rot), cs = Math.cos(rot);
  const f = options.float32 ? Math.fround : (v: number) => v;
  const pt = (x: number, y: number): [number, number] => [f(x), f(y)];
  const dir = (p: [number, number]): [number, number] => [p[0] * cs - p[1] * sn, p[0] * sn + p[1] * cs];
  // get_3rd_point: b + (−(a − b)_y, (a − b)_x), in the points' own precision.
  const third = (a: [number, number], b: [number, number]): [number, number] => {
    const d = [f(a[0] - b[0]), f(a[1] - b[1])];
    return pt(b[0] - d[1], b[1] + d[0]);
  };
  const [dw, dh] = outputSize;
  const c0 = center[0] + scale[0] * shift[0], c1 = center[1] + scale[1] * shift[1];
  const s0 = pt(c0, c1);
  const sd = dir([0, scale[0] * -0.5]);
  const s1 = pt(c0 + sd[0], c1 + sd[1]);
  const d0 = pt(dw * 0.5, dh * 0.5);
  const d1 = pt(dw * 0.5, dh * 0.5 - dw * 0.5);
  const src = [s0, s1, third(s0, s1)], dst = [d0, d1, third(d0, d1)];
  return options.inverse ? affineFromPoints(dst, src) : affineFromPoints(src, dst);
}

/** Maps a point through a 2×3 matrix. */
export function applyAffine(m: ArrayLike<number>, x: number, y: number): [number, number] {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/** Composes two maps: first `a`, then `b`. */
export function composeAffine(a: ArrayLike<number>, b: ArrayLike<number>): Affine {
  return [
    b[0] * a[0] + b[1] * a[3],
    b[0] * a[1] + b[1] * a[4],
    b[0] * a[2] + b[1] * a[5] + b[2],
    b[3] * a[0] + b[4] * a[3],
    b[3] * a[1] + b[4] * a[4],
    b[3] * a[2] + b[4] * a[5] + b[5],
  ];
}

/** The map that mirrors a crop of width `width` left–right (`x → width − 1 − x`). */
export function flipAffine(width: number): Affine {
  return [-1, 0, width - 1, 0, 1, 0];
}

/**
 * The box of a pose's keypoints (`[x, y, score] × K`, those with score > `minScore`, default: all),
 * optionally extended by `extend` of its size in all (PoseFix_RELEASE's dataset extends 20%: 10% per side)
 * and clipped to the image. Null when fewer than two keypoints count or the box is empty.
 */
export function poseBox(
  keypoints: ArrayLike<number>,
  options: { extend?: number; imageWidth?: number; imageHeight?: number; minScore?: number } = {},
): Box | null {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, n = 0;
  for (let j = 0; j + 2 < keypoints.length; j += 3) {
    if (options.minScore !== undefined && !(keypoints[j + 2] > options.minScore)) continue;
    const x = keypoints[j], y = keypoints[j + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
    n++;
  }
  if (n < 2) return null;
  const w = x1 - x0, h = y1 - y0;
  if (!(w > 0) && !(h > 0)) return null;
  const e = (options.extend ?? 0) / 2;
  x0 -= w * e;
  x1 += w * e;
  y0 -= h * e;
  y1 += h * e;
  if (options.imageWidth !== undefined) {
    x0 = Math.max(0, x0);
    x1 = Math.min(options.imageWidth - 1, x1);
  }
  if (options.imageHeight !== undefined) {
    y0 = Math.max(0, y0);
    y1 = Math.min(options.imageHeight - 1, y1);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

/**
 * PoseFix's / Simple Baselines' box → (centre, scale): the box is widened or heightened to the aspect
 * `aspect = w/h` of the crop (0.75 for 256×192), then multiplied by `factor` (default 1.25).
 */
export function boxToCenterScale(
  box: ArrayLike<number>,
  options: { aspect: number; factor?: number },
): { center: [number, number]; scale: [number, number] } {
  let w = box[2], h = box[3];
  const center: [number, number] = [box[0] + w * 0.5, box[1] + h * 0.5];
  if (w > options.aspect * h) h = w / options.aspect;
  else if (w < options.aspect * h) w = h * options.aspect;
  const f = options.factor ?? 1.25;
  return { center, scale: [w * f, h * f] };
}

/**
 * The crop transform of a person box for a `[w, h]` model input: aspect-fixed, ×`factor`, centred
 * (Simple Baselines / PoseFix test time). Returns the forward map and its inverse.
 */
export function boxCropTransform(
  box: ArrayLike<number>,
  size: readonly [number, number],
  options: { factor?: number; rotation?: number } = {},
): { transform: Affine; inverse: Affine } {
  const cs = boxToCenterScale(box, { aspect: size[0] / size[1], factor: options.factor });
  const transform = getAffineTransform(cs, size, { rotation: options.rotation });
  return { transform, inverse: invertAffine(transform) };
}

/**
 * The map that resizes the window `box` = `[x, y, w, h]` of an image to `size` = `[w, h]` pixels with
 * half-pixel centres (as `cv2.resize` of that window would: `dst = (src − x0 + ½)·s − ½`), anisotropically
 * when the aspects differ; window parts outside the image read the border.
 */
export function windowTransform(box: ArrayLike<number>, size: readonly [number, number]): Affine {
  const sx = size[0] / box[2], sy = size[1] / box[3];
  return [sx, 0, sx * (0.5 - box[0]) - 0.5, 0, sy, sy * (0.5 - box[1]) - 0.5];
}

/**
 * Seed 001's crop-and-resize: a square window from the longest side of `box` plus `margin` (a fraction
 * of that side, default 0.2 in all), centred on the box, resized to `size` = `[w, h]` (224×224). Returns
 * the forward map and its inverse (used to map the heatmap peaks back).
 */
export function squareCropTransform(
  box: ArrayLike<number>,
  size: readonly [number, number],
  options: { margin?: number } = {},
): { transform: Affine; inverse: Affine; side: number } {
  const side = Math.max(box[2], box[3]) * (1 + (options.margin ?? 0.2));
  if (!(side > 0)) throw new InputError(`squareCropTransform: empty box [${Array.from(box).join(", ")}]`);
  const cx = box[0] + box[2] / 2, cy = box[1] + box[3] / 2;
  const transform = windowTransform([cx - side / 2, cy - side / 2, side, side], size);
  return { transform, inverse: invertAffine(transform), side };
}

/** A `cv2.resize`-style map (half-pixel centres) from an `inW × inH` image to `outW × outH`. */
export function resizeTransform(
  inSize: readonly [number, number],
  outSize: readonly [number, number],
): Affine {
  const sx = outSize[0] / inSize[0], sy = outSize[1] / inSize[1];
  // dst = (src + ½)·s − ½, i.e. src = (dst + ½)/s − ½, as cv2.resize / F.interpolate(align_corners=False).
  return [sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5];
}
