/**
 * Resizing and padding of NCHW f32 tensors with PyTorch semantics: `resizeBilinear` and `resizeNearest`
 * as `F.interpolate(size=…)` (modes "bilinear" with either `align_corners`, and "nearest"), and
 * `pad2d` as `F.pad(mode="constant")` (negative pads crop).
 *
 * Scales are computed on the host in float32 exactly as PyTorch computes them (`(float)in / out`), so
 * nearest-neighbour indices — which are discontinuous in the scale — agree bit for bit.
 * @module
 */

import { InputError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

/** Options of `resizeBilinear`. */
export interface ResizeBilinearOptions {
  /** PyTorch's `align_corners` (default false). */
  alignCorners?: boolean;
}

/** Options of `pad2d`. */
export interface Pad2dOptions {
  /** Fill value of the new border (default 0). */
  value?: number;
}

const fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

function checkInput(op: string, x: Tensor, size: readonly number[]): [number, number] {
  if (x.rank !== 4) throw new InputError(`${op}: input x must be [N, C, H, W], got ${fmt(x.shape)}`);
  if (x.dtype !== "f32") throw new InputError(`${op}: input x must be f32, got ${x.dtype}`);
  if (size.length !== 2 || !size.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw new InputError(
      `${op}: output size must be [outH, outW] of positive integers, got ${JSON.stringify(size)}`,
    );
  }
  if (x.shape[2] < 1 || x.shape[3] < 1) throw new InputError(`${op}: input x ${fmt(x.shape)} has no pixels`);
  return [size[0], size[1]];
}

const BILINEAR = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 8)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  let sh = PF(5u); let sw = PF(6u);
  // PyTorch's area_pixel_compute_source_index: align_corners → scale·dst; else scale·(dst + ½) − ½,
  // clamped at 0.
  var fh: f32; var fw: f32;
  if (P(7u) != 0u) {
    fh = sh * f32(oh); fw = sw * f32(ow);
  } else {
    fh = max(sh * (f32(oh) + 0.5) - 0.5, 0.0); fw = max(sw * (f32(ow) + 0.5) - 0.5, 0.0);
  }
  let h0 = min(u32(fh), H - 1u); let w0 = min(u32(fw), W - 1u);
  let h1 = min(h0 + 1u, H - 1u); let w1 = min(w0 + 1u, W - 1u);
  let lh = fh - f32(h0); let lw = fw - f32(w0);
  let xb = nc * H * W;
  let top = (1.0 - lw) * X[xb + h0 * W + w0] + lw * X[xb + h0 * W + w1];
  let bottom = (1.0 - lw) * X[xb + h1 * W + w0] + lw * X[xb + h1 * W + w1];
  Y[gi] = (1.0 - lh) * top + lh * bottom;
}`;

/** PyTorch's `area_pixel_compute_scale` for an explicit output size, in float32. */
function linearScale(inSize: number, outSize: number, alignCorners: boolean): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  return Math.fround(inSize / outSize);
}

/**
 * Bilinear resize as `F.interpolate(x, size, mode="bilinear", align_corners)`.
 *
 * @param x input [N, C, H, W]
 * @param size output [outH, outW]
 * @param options alignCorners (default false)
 * @returns [N, C, outH, outW]
 */
export function resizeBilinear(
  x: Tensor,
  size: readonly [number, number],
  options: ResizeBilinearOptions = {},
): Tensor {
  const [OH, OW] = checkInput("resizeBilinear", x, size);
  const [N, C, H, W] = x.shape;
  const ac = options.alignCorners ?? false;
  const out = output([N, C, OH, OW]);
  const u = new Uniforms()
    .int(out.size, H, W, OH, OW)
    .float(linearScale(H, OH, ac), linearScale(W, OW, ac))
    .int(ac ? 1 : 0);
  runFlat(compile(BILINEAR, 2, "resize_bilinear"), [x.buf, out.buf], u, out.size);
  return out;
}

const NEAREST = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 7)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  // PyTorch (mode "nearest"): min(⌊dst·scale⌋, in − 1) with a float32 product.
  let ih = min(u32(floor(f32(oh) * PF(5u))), H - 1u);
  let iw = min(u32(floor(f32(ow) * PF(6u))), W - 1u);
  Y[gi] = X[(nc * H + ih) * W + iw];
}`;

/**
 * Nearest-neighbour resize as `F.interpolate(x, size, mode="nearest")` (PyTorch's legacy "nearest":
 * source index ⌊dst · in/out⌋).
 *
 * @param x input [N, C, H, W]
 * @param size output [outH, outW]
 * @returns [N, C, outH, outW]
 */
export function resizeNearest(x: Tensor, size: readonly [number, number]): Tensor {
  const [OH, OW] = checkInput("resizeNearest", x, size);
  const [N, C, H, W] = x.shape;
  const out = output([N, C, OH, OW]);
  const u = new Uniforms().int(out.size, H, W, OH, OW).float(Math.fround(H / OH), Math.fround(W / OW));
  runFlat(compile(NEAREST, 2, "resize_nearest"), [x.buf, out.buf], u, out.size);
  return out;
}

const PAD = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 8)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = i32(P(1u)); let W = i32(P(2u)); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  let ih = i32(oh) - PI(5u); let iw = i32(ow) - PI(6u);
  let inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
  let src = (nc * u32(H) + u32(clamp(ih, 0, H - 1))) * u32(W) + u32(clamp(iw, 0, W - 1));
  Y[gi] = select(PF(7u), X[min(src, arrayLength(&X) - 1u)], inside);
}`;

/**
 * Constant padding of the last two dimensions as `F.pad(x, (left, right, top, bottom), value=…)`.
 * Negative amounts crop, as in PyTorch.
 *
 * @param x input [N, C, H, W]
 * @param pads [left, right, top, bottom]
 * @param options value (default 0)
 * @returns [N, C, H + top + bottom, W + left + right]
 */
export function pad2d(
  x: Tensor,
  pads: readonly [number, number, number, number],
  options: Pad2dOptions = {},
): Tensor {
  if (x.rank !== 4) throw new InputError(`pad2d: input x must be [N, C, H, W], got ${fmt(x.shape)}`);
  if (x.dtype !== "f32") throw new InputError(`pad2d: input x must be f32, got ${x.dtype}`);
  if (pads.length !== 4 || !pads.every((p) => Number.isSafeInteger(p))) {
    throw new InputError(
      `pad2d: pads must be [left, right, top, bottom] integers, got ${JSON.stringify(pads)}`,
    );
  }
  const [l, r, t, b] = pads;
  const [N, C, H, W] = x.shape;
  const OH = H + t + b, OW = W + l + r;
  if (OH < 0 || OW < 0) {
    throw new InputError(`pad2d: pads ${fmt(pads)} crop input x ${fmt(x.shape)} below zero size`);
  }
  const out = output([N, C, OH, OW]);
  if (out.size === 0) return out;
  const u = new Uniforms().int(out.size, H, W, OH, OW, t, l).float(options.value ?? 0);
  runFlat(compile(PAD, 2, "pad2d"), [x.buf, out.buf], u, out.size);
  return out;
}
