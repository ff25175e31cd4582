/**
 * Pooling over NCHW f32 tensors with PyTorch semantics (`ceil_mode=False`): `maxPool2d`, `avgPool2d`
 * (`count_include_pad` true by default, as PyTorch), `adaptiveAvgPool2d` and `globalAvgPool2d`.
 * One output element per invocation; every window bound comes from uniforms, so each op compiles once.
 * @module
 */

import { InputError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

/** A size for both spatial dimensions (one number) or as [h, w]. */
export type PoolSize = number | readonly [number, number];

/** Options of `maxPool2d`. */
export interface MaxPool2dOptions {
  /** Stride (default: the kernel size, as PyTorch). */
  stride?: PoolSize;
  /** Implicit −∞ padding on each side (default 0; at most half the kernel). */
  padding?: PoolSize;
  /** Dilation of the window (default 1). */
  dilation?: PoolSize;
}

/** Options of `avgPool2d`. */
export interface AvgPool2dOptions {
  /** Stride (default: the kernel size, as PyTorch). */
  stride?: PoolSize;
  /** Implicit zero padding on each side (default 0; at most half the kernel). */
  padding?: PoolSize;
  /** Whether padded zeros count in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

const fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

function pair(v: PoolSize | undefined, def: [number, number], what: string, min: number): [number, number] {
  const p: [number, number] = v === undefined ? def : typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isSafeInteger(d) && d >= min)) {
    throw new InputError(`${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function check4d(op: string, x: Tensor): void {
  if (x.rank !== 4) throw new InputError(`${op}: input x must be [N, C, H, W], got ${fmt(x.shape)}`);
  if (x.dtype !== "f32") throw new InputError(`${op}: input x must be f32, got ${x.dtype}`);
}

interface Window {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
  out: [number, number];
}

function window(
  op: string,
  x: Tensor,
  kernel: PoolSize,
  o: { stride?: PoolSize; padding?: PoolSize; dilation?: PoolSize },
): Window {
  const k = pair(kernel, [1, 1], `${op} kernel`, 1);
  const s = pair(o.stride, k, `${op} stride`, 1);
  const p = pair(o.padding, [0, 0], `${op} padding`, 0);
  const d = pair(o.dilation, [1, 1], `${op} dilation`, 1);
  for (let i = 0; i < 2; i++) {
    // PyTorch's rule: padding at most half of the kernel.
    if (p[i] > Math.floor(k[i] / 2)) {
      throw new InputError(`${op}: padding ${fmt(p)} must be at most half the kernel ${fmt(k)}`);
    }
  }
  const H = x.shape[2], W = x.shape[3];
  const out: [number, number] = [
    Math.floor((H + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1,
    Math.floor((W + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1,
  ];
  if (out[0] < 1 || out[1] < 1) {
    throw new InputError(
      `${op}: input x ${fmt(x.shape)} is smaller than the window ${fmt(k)} (padding ${fmt(p)})`,
    );
  }
  return { k, s, p, d, out };
}

const MAX = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 13)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  let h0 = i32(oh * P(7u)) - PI(9u); let w0 = i32(ow * P(8u)) - PI(10u);
  let xb = nc * H * W;
  // Every window holds at least one input pixel (padding ≤ kernel/2), so the start value never survives.
  var m = -3.402823466e+38;
  for (var i = 0u; i < P(5u); i++) {
    let ih = h0 + i32(i * P(11u));
    if (ih < 0 || ih >= i32(H)) { continue; }
    for (var j = 0u; j < P(6u); j++) {
      let iw = w0 + i32(j * P(12u));
      if (iw >= 0 && iw < i32(W)) {
        m = max(m, X[xb + u32(ih) * W + u32(iw)]);
      }
    }
  }
  Y[gi] = m;
}`;

/**
 * 2-D max pooling as `torch.nn.functional.max_pool2d` (`ceil_mode=False`; NaN inputs are not
 * propagated, since WGSL lets implementations assume finite floats).
 *
 * @param x input [N, C, H, W]
 * @param kernel window size (number or [kh, kw])
 * @param options stride (default: kernel), padding, dilation
 * @returns [N, C, OH, OW]
 */
export function maxPool2d(x: Tensor, kernel: PoolSize, options: MaxPool2dOptions = {}): Tensor {
  check4d("maxPool2d", x);
  const w = window("maxPool2d", x, kernel, options);
  const [N, C, H, W] = x.shape;
  const out = output([N, C, w.out[0], w.out[1]]);
  const u = new Uniforms().int(out.size, H, W, w.out[0], w.out[1], ...w.k, ...w.s, ...w.p, ...w.d);
  runFlat(compile(MAX, 2, "max_pool2d"), [x.buf, out.buf], u, out.size);
  return out;
}

const AVG = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 12)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = i32(P(1u)); let W = i32(P(2u)); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  let KH = i32(P(5u)); let KW = i32(P(6u)); let PH = PI(9u); let PW = PI(10u);
  let hs = i32(oh * P(7u)) - PH; let ws = i32(ow * P(8u)) - PW;
  // PyTorch: the window clipped to the padded input, then to the input itself.
  let he = min(hs + KH, H + PH); let we = min(ws + KW, W + PW);
  let padded = f32((he - hs) * (we - ws));
  let h0 = max(hs, 0); let w0 = max(ws, 0); let h1 = min(he, H); let w1 = min(we, W);
  let xb = nc * P(1u) * P(2u);
  var sum = 0.0;
  for (var i = h0; i < h1; i++) {
    for (var j = w0; j < w1; j++) { sum += X[xb + u32(i * W + j)]; }
  }
  let valid = f32(max(h1 - h0, 0) * max(w1 - w0, 0));
  Y[gi] = sum / select(valid, padded, P(11u) != 0u);
}`;

/**
 * 2-D average pooling as `torch.nn.functional.avg_pool2d` (`ceil_mode=False`, no divisor override).
 *
 * @param x input [N, C, H, W]
 * @param kernel window size (number or [kh, kw])
 * @param options stride (default: kernel), padding, countIncludePad (default true)
 * @returns [N, C, OH, OW]
 */
export function avgPool2d(x: Tensor, kernel: PoolSize, options: AvgPool2dOptions = {}): Tensor {
  check4d("avgPool2d", x);
  const w = window("avgPool2d", x, kernel, options);
  const [N, C, H, W] = x.shape;
  const out = output([N, C, w.out[0], w.out[1]]);
  const u = new Uniforms()
    .int(
      out.size,
      H,
      W,
      w.out[0],
      w.out[1],
      ...w.k,
      ...w.s,
      ...w.p,
      (options.countIncludePad ?? true) ? 1 : 0,
    );
  runFlat(compile(AVG, 2, "avg_pool2d"), [x.buf, out.buf], u, out.size);
  return out;
}

const ADAPTIVE = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 5)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let ow = gi % OW; let t = gi / OW; let oh = t % OH; let nc = t / OH;
  // PyTorch's bins: [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).
  let h0 = (oh * H) / OH; let h1 = ((oh + 1u) * H + OH - 1u) / OH;
  let w0 = (ow * W) / OW; let w1 = ((ow + 1u) * W + OW - 1u) / OW;
  let xb = nc * H * W;
  var sum = 0.0;
  for (var i = h0; i < h1; i++) {
    for (var j = w0; j < w1; j++) { sum += X[xb + i * W + j]; }
  }
  Y[gi] = sum / f32((h1 - h0) * (w1 - w0));
}`;

/**
 * Adaptive average pooling as `torch.nn.functional.adaptive_avg_pool2d`: output bin i covers input rows
 * ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1 (likewise columns). `[1, 1]` is global average pooling.
 *
 * @param x input [N, C, H, W]
 * @param size output size (number or [OH, OW]; default 1)
 * @returns [N, C, OH, OW]
 */
export function adaptiveAvgPool2d(x: Tensor, size: PoolSize = 1): Tensor {
  check4d("adaptiveAvgPool2d", x);
  const [OH, OW] = pair(size, [1, 1], "adaptiveAvgPool2d output size", 1);
  const [N, C, H, W] = x.shape;
  if (H < 1 || W < 1) throw new InputError(`adaptiveAvgPool2d: input x ${fmt(x.shape)} has no pixels`);
  const out = output([N, C, OH, OW]);
  runFlat(
    compile(ADAPTIVE, 2, "adaptive_avg_pool2d"),
    [x.buf, out.buf],
    new Uniforms().int(out.size, H, W, OH, OW),
    out.size,
  );
  return out;
}

/**
 * Global average pooling: the mean over H and W, kept as [N, C, 1, 1] (as `adaptive_avg_pool2d(x, 1)`).
 *
 * @param x input [N, C, H, W]
 * @returns [N, C, 1, 1]
 */
export function globalAvgPool2d(x: Tensor): Tensor {
  check4d("globalAvgPool2d", x);
  return adaptiveAvgPool2d(x, 1);
}
