/**
 * Image kernels for the top-down pose models (crop, normalise, render, decode heatmaps):
 *
 * - `uploadImage`: an 8-bit interleaved image onto the GPU as packed bytes (4 per 32-bit word, so a
 *   640×480 RGB image is 0.9 MB, not 3.7 MB of floats).
 * - `warpAffine`: `cv2.warpAffine(img, M, (w, h), flags=INTER_LINEAR, borderMode=BORDER_CONSTANT)`
 *   for several 2×3 transforms at once, straight into NCHW float crops, with an optional fused
 *   per-channel normalisation. The default `exact` mode reproduces OpenCV's 8-bit fixed-point path
 *   bit for bit (inverse map in float64 on the host, coordinates in 1/1024 then 1/32 pixel steps,
 *   15-bit integer weights, round to uint8); `float` samples continuously in float32.
 * - `normalizeChannels`: `(x·scale − mean[c]) / std[c]` on NCHW (torchvision ToTensor + Normalize).
 * - `gaussianHeatmaps`: PoseFix's `render_gaussian_heatmap`: `exp(−((x−cx)² + (y−cy)²) / 2σ²)` per
 *   joint, times the joint's validity and a scale.
 * - `softArgmax2d`: softmax over each map's H·W cells fused with the soft-argmax
 *   `x = Σ p·(col+1) − 1`, `y = Σ p·(row+1) − 1` (inference; `engine/losses.ts` has the
 *   differentiable one); `spatialSoftmax` returns the probabilities themselves.
 * - `flipHorizontal`: mirrors NCHW maps left–right and permutes channels (joint-pair swap).
 *
 * Kernels are barrier-free, one output pixel (or map) per invocation, as CPU adapters prefer.
 * @module
 */

import { InputError } from "../errors.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { backend } from "../backend.ts";
import { compile, flatMain, grid, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";
import { softmax } from "./reduce.ts";

const fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

/** An 8-bit interleaved image (the shape `pose/image` decoders return). */
export interface ImageLike {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Interleaved channels (1–4). */
  channels: number;
  /** `width·height·channels` bytes, rows top to bottom. */
  data: Uint8Array;
}

/** An image on the GPU: its bytes packed four to a 32-bit word (little-endian) in an i32 tensor. */
export interface ImageTensor {
  /** Packed bytes, `⌈width·height·channels / 4⌉` words. */
  readonly packed: Tensor;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Interleaved channels. */
  readonly channels: number;
}

/** Uploads an 8-bit image (one copy; bytes are unpacked inside the kernels that read it). */
export function uploadImage(image: ImageLike, options: { name?: string } = {}): ImageTensor {
  const { width, height, channels, data } = image;
  const name = options.name ?? "image";
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new InputError(`${name}: invalid image size ${width}×${height}`);
  }
  if (!(Number.isInteger(channels) && channels >= 1 && channels <= 4)) {
    throw new InputError(`${name}: ${channels} channels (expected 1 to 4)`);
  }
  const n = width * height * channels;
  if (data.length !== n) {
    throw new InputError(`${name}: ${data.length} bytes for a ${width}×${height}×${channels} image (${n})`);
  }
  const words = new Int32Array(Math.max(1, Math.ceil(n / 4)));
  new Uint8Array(words.buffer).set(data);
  return { packed: tensor(words, [words.length], { dtype: "i32" }), width, height, channels };
}

/** A 2×3 affine matrix `[a, b, c, d, e, f]`: `x' = a·x + b·y + c`, `y' = d·x + e·y + f`. */
export type Affine = readonly [number, number, number, number, number, number];

/** The inverse of an affine map, as `cv2.invertAffineTransform` (float64; a singular map gives zeros). */
export function invertAffine(m: ArrayLike<number>): Affine {
  const [a, b, c, d, e, f] = [m[0], m[1], m[2], m[3], m[4], m[5]];
  let det = a * e - b * d;
  det = det !== 0 ? 1 / det : 0;
  const a11 = e * det, a22 = a * det, a12 = -b * det, a21 = -d * det;
  return [a11, a12, -a11 * c - a12 * f, a21, a22, -a21 * c - a22 * f];
}

/** Rounds half to even, saturating to int32: OpenCV's `saturate_cast<int>(double)` (`cvRound`). */
export function roundHalfEven(v: number): number {
  if (!(v > -2147483648.5)) return -2147483648;
  if (!(v < 2147483647.5)) return 2147483647;
  const r = Math.round(v);
  // Math.round rounds halves up; ties go to the even neighbour instead.
  return Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : r;
}

/** Per-channel normalisation `(v·scale − mean[c]) / std[c]`. */
export interface ChannelNormalization {
  /** Multiplier applied first (1/255 for torchvision's ToTensor; default 1). */
  scale?: number;
  /** Per-channel mean (after `scale`). */
  mean: readonly number[];
  /** Per-channel standard deviation (default all 1). */
  std?: readonly number[];
}

/** ImageNet statistics on RGB as torchvision's `Normalize` after `ToTensor` (so `scale` = 1/255). */
export const IMAGENET_NORMALIZATION: ChannelNormalization = Object.freeze({
  scale: 1 / 255,
  mean: Object.freeze([0.485, 0.456, 0.406]),
  std: Object.freeze([0.229, 0.224, 0.225]),
});

/** Options of `warpAffine`. */
export interface WarpAffineOptions {
  /** Forward maps source → crop (what `cv2.warpAffine` takes), one crop per matrix. */
  transforms: readonly ArrayLike<number>[];
  /** Crop width. */
  width: number;
  /** Crop height. */
  height: number;
  /** `"constant"` (default, OpenCV's BORDER_CONSTANT) or `"replicate"` (BORDER_REPLICATE). */
  border?: "constant" | "replicate";
  /** Value of the constant border (default 0): one for all channels, or one per source channel. */
  borderValue?: number | readonly number[];
  /**
   * `"exact"` (default): OpenCV's 8-bit INTER_LINEAR arithmetic, results rounded to integers 0–255;
   * `"float"`: continuous float32 bilinear sampling, no rounding.
   */
  mode?: "exact" | "float";
  /** Reverse the channel order (RGB ↔ BGR) on output. */
  reverseChannels?: boolean;
  /** Fused normalisation of the sampled values (none by default: values 0–255). */
  normalize?: ChannelNormalization;
  /** Name used in error messages. */
  name?: string;
}

function checkNormalization(n: ChannelNormalization, channels: number, what: string): number[] {
  const std = n.std ?? new Array(channels).fill(1);
  if (n.mean.length !== channels || std.length !== channels) {
    throw new InputError(
      `${what}: normalisation has ${n.mean.length} means and ${std.length} stds for ${channels} channels`,
    );
  }
  if (!std.every((s) => Number.isFinite(s) && s !== 0) || !n.mean.every(Number.isFinite)) {
    throw new InputError(`${what}: normalisation mean/std must be finite with std ≠ 0`);
  }
  const scale = n.scale ?? 1;
  // y = v·(scale/std) − mean/std: one fma per value in the kernel.
  const out: number[] = [];
  for (let c = 0; c < 4; c++) {
    out.push(c < channels ? scale / std[c] : 1, c < channels ? -n.mean[c] / std[c] : 0);
  }
  return out;
}

/** The per-channel constant border values (4 slots). */
function borderValues(v: number | readonly number[] | undefined, channels: number, what: string): number[] {
  const list = typeof v === "number" || v === undefined ? new Array(channels).fill(v ?? 0) : [...v];
  if (list.length !== channels || !list.every(Number.isFinite)) {
    throw new InputError(`${what}: borderValue needs one finite value or ${channels} (one per channel)`);
  }
  return [0, 1, 2, 3].map((c) => list[c] ?? 0);
}

const BYTE = `fn byteAt(i: u32) -> f32 { return f32((u32(Img[i >> 2u]) >> ((i & 3u) * 8u)) & 255u); }`;

// Per-crop tables (exact mode): X0[y], Y0[y] = round((M1·y + M2)·1024) + 16 (likewise with M4, M5), then
// adelta[x] = round(M0·x·1024), bdelta[x] = round(M3·x·1024) — OpenCV's WarpAffineInvoker in float64
// on the host, so the kernel only does its integer steps.
const WARP_EXACT = `${
  storageDecl([{ name: "Img", type: "i32" }, { name: "Tab", type: "i32" }], [{ name: "Y" }])
}${uniformDecl(3, 22)}
${BYTE}
${flatMain()}  if (gi >= P(0u)) { return; }
  let OW = P(1u); let OH = P(2u); let IW = i32(P(3u)); let IH = i32(P(4u)); let C = P(5u);
  let replicate = P(6u) != 0u; let rev = P(7u) != 0u;
  let x = gi % OW; let t = gi / OW; let y = t % OH; let p = t / OH;
  let tb = p * 2u * (OH + OW);
  let X = (Tab[tb + y] + Tab[tb + 2u * OH + x]) >> 5u;
  let Yc = (Tab[tb + OH + y] + Tab[tb + 2u * OH + OW + x]) >> 5u;
  let sx = X >> 5u; let sy = Yc >> 5u;
  let fx = X & 31; let fy = Yc & 31;
  // Integer weights (32−f)·32 per axis, product scaled to 2^15 as INTER_REMAP_COEF_SCALE.
  let w00 = (32 - fy) * (32 - fx) * 32; let w01 = (32 - fy) * fx * 32;
  let w10 = fy * (32 - fx) * 32; let w11 = fy * fx * 32;
  let plane = OH * OW; let ob = p * C * plane + y * OW + x;
  for (var c = 0u; c < C; c++) {
    let bv = PF(18u + c);
    var v: array<f32, 4>;
    for (var k = 0; k < 4; k++) {
      var xx = sx + (k & 1); var yy = sy + (k >> 1u);
      let inside = xx >= 0 && xx < IW && yy >= 0 && yy < IH;
      if (replicate) { xx = clamp(xx, 0, IW - 1); yy = clamp(yy, 0, IH - 1); }
      let i = (u32(clamp(yy, 0, IH - 1)) * u32(IW) + u32(clamp(xx, 0, IW - 1))) * C + c;
      v[k] = select(bv, byteAt(i), inside || replicate);
    }
    // Σ w·v < 2^24 for bytes: exact in f32; the border value may be any float, hence float sums.
    let s = f32(w00) * v[0] + f32(w01) * v[1] + f32(w10) * v[2] + f32(w11) * v[3];
    let r = floor((s + 16384.0) / 32768.0);
    let oc = select(c, C - 1u - c, rev);
    Y[ob + oc * plane] = fma(r, PF(10u + 2u * oc), PF(11u + 2u * oc));
  }
}`;

const WARP_FLOAT = `${storageDecl([{ name: "Img", type: "i32" }, { name: "M" }], [{ name: "Y" }])}${
  uniformDecl(3, 22)
}
${BYTE}
${flatMain()}  if (gi >= P(0u)) { return; }
  let OW = P(1u); let OH = P(2u); let IW = i32(P(3u)); let IH = i32(P(4u)); let C = P(5u);
  let replicate = P(6u) != 0u; let rev = P(7u) != 0u;
  let x = gi % OW; let t = gi / OW; let y = t % OH; let p = t / OH;
  let m = p * 6u;
  let fxs = M[m] * f32(x) + M[m + 1u] * f32(y) + M[m + 2u];
  let fys = M[m + 3u] * f32(x) + M[m + 4u] * f32(y) + M[m + 5u];
  let x0 = floor(fxs); let y0 = floor(fys);
  let ax = fxs - x0; let ay = fys - y0;
  let sx = i32(clamp(x0, -4.0, f32(IW) + 4.0)); let sy = i32(clamp(y0, -4.0, f32(IH) + 4.0));
  let plane = OH * OW; let ob = p * C * plane + y * OW + x;
  for (var c = 0u; c < C; c++) {
    let bv = PF(18u + c);
    var v: array<f32, 4>;
    for (var k = 0; k < 4; k++) {
      var xx = sx + (k & 1); var yy = sy + (k >> 1u);
      let inside = xx >= 0 && xx < IW && yy >= 0 && yy < IH;
      let i = (u32(clamp(yy, 0, IH - 1)) * u32(IW) + u32(clamp(xx, 0, IW - 1))) * C + c;
      v[k] = select(bv, byteAt(i), inside || replicate);
    }
    let r = (1.0 - ay) * ((1.0 - ax) * v[0] + ax * v[1]) + ay * ((1.0 - ax) * v[2] + ax * v[3]);
    let oc = select(c, C - 1u - c, rev);
    Y[ob + oc * plane] = fma(r, PF(10u + 2u * oc), PF(11u + 2u * oc));
  }
}`;

/** The exact mode's per-crop tables from the inverse maps (see WARP_EXACT). */
function warpTables(inv: readonly Affine[], OW: number, OH: number): Int32Array {
  const tab = new Int32Array(inv.length * 2 * (OH + OW));
  inv.forEach((M, p) => {
    const b = p * 2 * (OH + OW);
    for (let y = 0; y < OH; y++) {
      tab[b + y] = roundHalfEven((M[1] * y + M[2]) * 1024) + 16;
      tab[b + OH + y] = roundHalfEven((M[4] * y + M[5]) * 1024) + 16;
    }
    for (let x = 0; x < OW; x++) {
      tab[b + 2 * OH + x] = roundHalfEven(M[0] * x * 1024);
      tab[b + 2 * OH + OW + x] = roundHalfEven(M[3] * x * 1024);
    }
  });
  return tab;
}

/**
 * Crops (or resizes) an uploaded 8-bit image through affine maps, as `cv2.warpAffine` with
 * INTER_LINEAR: pixel (x, y) of crop p samples the source at `M_p⁻¹ · (x, y)`, bilinearly; with the
 * constant border every tap outside the image reads `borderValue`.
 *
 * @param image the source (`uploadImage`)
 * @param options transforms (forward, source → crop), width, height, border, mode, normalisation
 * @returns [P, channels, height, width] float32 (0–255 unless normalised)
 */
export function warpAffine(image: ImageTensor, options: WarpAffineOptions): Tensor {
  const name = options.name ?? "warpAffine";
  const { width: OW, height: OH, transforms } = options;
  if (!(Number.isInteger(OW) && Number.isInteger(OH) && OW > 0 && OH > 0)) {
    throw new InputError(`${name}: invalid crop size ${OW}×${OH}`);
  }
  transforms.forEach((m, i) => {
    if (m.length !== 6 || !Array.from(m).every(Number.isFinite)) {
      throw new InputError(`${name}: transform ${i} must be 6 finite numbers [a, b, c, d, e, f]`);
    }
  });
  const C = image.channels, P = transforms.length;
  const norm = options.normalize ? checkNormalization(options.normalize, C, name) : [1, 0, 1, 0, 1, 0, 1, 0];
  const out = output([P, C, OH, OW]);
  if (out.size === 0) return out;
  const u = new Uniforms()
    .int(P * OH * OW, OW, OH, image.width, image.height, C, options.border === "replicate" ? 1 : 0)
    .int(options.reverseChannels ? 1 : 0)
    .float(0)
    .int(0)
    .float(...norm)
    .float(...borderValues(options.borderValue, C, name));
  const inv = transforms.map(invertAffine);
  let side: Tensor;
  if ((options.mode ?? "exact") === "exact") {
    side = tensor(warpTables(inv, OW, OH), [P * 2 * (OH + OW)], { dtype: "i32" });
    runFlat(compile(WARP_EXACT, 3, "warp_affine:exact"), [image.packed.buf, side.buf, out.buf], u, out.size);
  } else {
    side = tensor(Float32Array.from(inv.flat()), [P * 6]);
    runFlat(compile(WARP_FLOAT, 3, "warp_affine:float"), [image.packed.buf, side.buf, out.buf], u, out.size);
  }
  side.dispose();
  return out;
}

const NORMALIZE = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 11)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let c = (gi / P(1u)) % P(2u);
  Y[gi] = fma(X[gi], PF(3u + 2u * c), PF(4u + 2u * c));
}`;

/**
 * Per-channel normalisation of NCHW values: `(x·scale − mean[c]) / std[c]` (1 to 4 channels).
 *
 * @param x [N, C, H, W]
 * @param options scale, mean, std (as torchvision's Normalize after ToTensor when scale = 1/255)
 * @returns a tensor of x's shape
 */
export function normalizeChannels(x: Tensor, options: ChannelNormalization): Tensor {
  if (x.rank !== 4 || x.dtype !== "f32") {
    throw new InputError(`normalizeChannels: input must be f32 [N, C, H, W], got ${fmt(x.shape)}`);
  }
  const C = x.shape[1];
  if (C > 4) throw new InputError(`normalizeChannels: at most 4 channels, got ${C}`);
  const norm = checkNormalization(options, C, "normalizeChannels");
  const out = output(x.shape);
  const u = new Uniforms().int(x.size, x.shape[2] * x.shape[3], C).float(...norm);
  runFlat(compile(NORMALIZE, 2, "normalize_channels"), [x.buf, out.buf], u, x.size);
  return out;
}

/** Options of `gaussianHeatmaps`. */
export interface GaussianHeatmapOptions {
  /** Map height (rows). */
  height: number;
  /** Map width (columns). */
  width: number;
  /** Standard deviation in cells (PoseFix: 7 at 256×192 input resolution). */
  sigma: number;
  /** Validity per joint [N, K] (0 blanks a map); default all valid. */
  valid?: Tensor;
  /** Peak value (PoseFix_RELEASE multiplies by 255; default 1). */
  scale?: number;
}

const GAUSS = `${storageDecl([{ name: "Cd" }, { name: "V" }], [{ name: "Y" }])}${uniformDecl(3, 7)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let sigma = PF(3u); let scale = PF(4u); let hasValid = P(5u) != 0u;
  let x = gi % W; let t = gi / W; let y = t % H; let j = t / H;
  let cx = Cd[2u * j]; let cy = Cd[2u * j + 1u];
  let dx = (f32(x) - cx) / sigma; let dy = (f32(y) - cy) / sigma;
  let v = select(1.0, V[j], hasValid);
  Y[gi] = exp(-dx * dx / 2.0 - dy * dy / 2.0) * v * scale;
}`;

/**
 * Renders one Gaussian per joint, as PoseFix_RELEASE `render_gaussian_heatmap`:
 * `exp(−((col − x)/σ)²/2 − ((row − y)/σ)²/2) · valid · scale`.
 *
 * @param coords [N, K, 2] (x, y) in map cells
 * @param options height, width, sigma, valid [N, K], scale
 * @returns [N, K, height, width]
 */
export function gaussianHeatmaps(coords: Tensor, options: GaussianHeatmapOptions): Tensor {
  if (coords.rank !== 3 || coords.shape[2] !== 2) {
    throw new InputError(`gaussianHeatmaps: coordinates must be [N, K, 2], got ${fmt(coords.shape)}`);
  }
  const [N, K] = coords.shape, { height: H, width: W, sigma } = options;
  if (!(Number.isInteger(H) && Number.isInteger(W) && H > 0 && W > 0)) {
    throw new InputError(`gaussianHeatmaps: invalid map size ${H}×${W}`);
  }
  if (!(sigma > 0)) throw new InputError(`gaussianHeatmaps: sigma must be > 0, got ${sigma}`);
  if (options.valid && options.valid.size !== N * K) {
    throw new InputError(
      `gaussianHeatmaps: valid must have ${N}×${K} entries, got ${fmt(options.valid.shape)}`,
    );
  }
  const out = output([N, K, H, W]);
  if (out.size === 0) return out;
  const u = new Uniforms().int(out.size, H, W).float(sigma, options.scale ?? 1).int(options.valid ? 1 : 0);
  runFlat(
    compile(GAUSS, 3, "gaussian_heatmaps"),
    [coords.buf, (options.valid ?? coords).buf, out.buf],
    u,
    out.size,
  );
  return out;
}

// One invocation per output pixel of crop n (n ≥ P: the mirror of crop n − P): the exact warp's 3
// channels (constant border 0) then the K Gaussians, as warpAffine + gaussianHeatmaps + concat (+
// flipHorizontal + concat along the batch) would write them, in one pass.
const CROP_HEATMAPS = `${
  storageDecl([{ name: "Img", type: "i32" }, { name: "Tab", type: "i32" }, { name: "Cd" }, { name: "V" }, {
    name: "Pm",
    type: "i32",
  }], [{ name: "Y" }])
}${uniformDecl(6, 20)}
${BYTE}
${flatMain()}  if (gi >= P(0u)) { return; }
  let OW = P(1u); let OH = P(2u); let IW = i32(P(3u)); let IH = i32(P(4u)); let NP = P(5u); let K = P(6u);
  let rev = P(7u) != 0u; let sigma = PF(8u); let scale = PF(9u);
  let x = gi % OW; let t = gi / OW; let y = t % OH; let n = t / OH;
  let mirrored = n >= NP; let p = select(n, n - NP, mirrored); let xs = select(x, OW - 1u - x, mirrored);
  let tb = p * 2u * (OH + OW);
  let X = (Tab[tb + y] + Tab[tb + 2u * OH + xs]) >> 5u;
  let Yc = (Tab[tb + OH + y] + Tab[tb + 2u * OH + OW + xs]) >> 5u;
  let sx = X >> 5u; let sy = Yc >> 5u;
  let fx = X & 31; let fy = Yc & 31;
  let w00 = (32 - fy) * (32 - fx) * 32; let w01 = (32 - fy) * fx * 32;
  let w10 = fy * (32 - fx) * 32; let w11 = fy * fx * 32;
  let plane = OH * OW; let CH = 3u + K; let ob = n * CH * plane + y * OW + x;
  for (var c = 0u; c < 3u; c++) {
    var v: array<f32, 4>;
    for (var k = 0; k < 4; k++) {
      let xx = sx + (k & 1); let yy = sy + (k >> 1u);
      let inside = xx >= 0 && xx < IW && yy >= 0 && yy < IH;
      let i = (u32(clamp(yy, 0, IH - 1)) * u32(IW) + u32(clamp(xx, 0, IW - 1))) * 3u + c;
      v[k] = select(0.0, byteAt(i), inside);
    }
    let s = f32(w00) * v[0] + f32(w01) * v[1] + f32(w10) * v[2] + f32(w11) * v[3];
    let r = floor((s + 16384.0) / 32768.0);
    let oc = select(c, 2u - c, rev);
    Y[ob + oc * plane] = fma(r, PF(10u + 2u * oc), PF(11u + 2u * oc));
  }
  for (var j = 0u; j < K; j++) {
    let jj = select(j, u32(Pm[j]), mirrored);
    let q = p * K + jj;
    let dx = (f32(xs) - Cd[2u * q]) / sigma; let dy = (f32(y) - Cd[2u * q + 1u]) / sigma;
    Y[ob + (3u + j) * plane] = exp(-dx * dx / 2.0 - dy * dy / 2.0) * V[q] * scale;
  }
}`;

/** Options of `cropWithHeatmaps`. */
export interface CropWithHeatmapsOptions {
  /** Forward maps source → crop, one per crop (as `warpAffine`). */
  transforms: readonly ArrayLike<number>[];
  /** Crop width. */
  width: number;
  /** Crop height. */
  height: number;
  /** Fused normalisation of the image channels (per output channel). */
  normalize?: ChannelNormalization;
  /** Reverse the image channels (RGB → BGR). */
  reverseChannels?: boolean;
  /** Joint coordinates in crop pixels `[P·K·2]`. */
  coords: Float32Array;
  /** Joint validity `[P·K]` (0 blanks a map). */
  valid: Float32Array;
  /** Gaussian σ in pixels. */
  sigma: number;
  /** Peak value of the heatmaps (default 1). */
  scale?: number;
  /**
   * Also write the mirrored inputs after the P crops (the flip test): crop P + p is crop p mirrored
   * left–right with its joint maps permuted by `flip` (`flip[j]`: the joint whose map goes to j).
   */
  flip?: readonly number[];
}

/**
 * PoseFix's network input in one pass: `[P, 3 + K, H, W]` (`[2P, …]` with `flip`) = the exact-mode
 * `warpAffine` crops (constant border 0, optionally normalised and channel-reversed) followed by
 * `gaussianHeatmaps` of the joints — bit for bit what warpAffine, gaussianHeatmaps, concat and (for the
 * flip test) flipHorizontal + concat produce, without the intermediate tensors.
 *
 * @param image an uploaded RGB image
 * @param options transforms, size, normalisation, joints, σ, scale, flip permutation
 * @returns `[P or 2P, 3 + K, height, width]`
 */
export function cropWithHeatmaps(image: ImageTensor, options: CropWithHeatmapsOptions): Tensor {
  const { transforms, width: OW, height: OH, coords, valid, sigma } = options;
  const P = transforms.length, K = valid.length / Math.max(P, 1);
  if (image.channels !== 3) {
    throw new InputError(`cropWithHeatmaps: needs an RGB image, got ${image.channels} channels`);
  }
  if (!(Number.isInteger(OW) && Number.isInteger(OH) && OW > 0 && OH > 0)) {
    throw new InputError(`cropWithHeatmaps: invalid crop size ${OW}×${OH}`);
  }
  if (!Number.isInteger(K) || coords.length !== 2 * P * K) {
    throw new InputError(`cropWithHeatmaps: ${P} crops need ${P}·K validity flags and ${P}·K·2 coordinates`);
  }
  if (!(sigma > 0)) throw new InputError(`cropWithHeatmaps: sigma must be > 0, got ${sigma}`);
  if (options.flip && options.flip.length !== K) {
    throw new InputError(`cropWithHeatmaps: the flip permutation needs ${K} entries`);
  }
  transforms.forEach((m, i) => {
    if (m.length !== 6 || !Array.from(m).every(Number.isFinite)) {
      throw new InputError(`cropWithHeatmaps: transform ${i} must be 6 finite numbers [a, b, c, d, e, f]`);
    }
  });
  const N = options.flip ? 2 * P : P;
  const out = output([N, 3 + K, OH, OW]);
  if (out.size === 0) return out;
  const norm = options.normalize
    ? checkNormalization(options.normalize, 3, "cropWithHeatmaps")
    : [1, 0, 1, 0, 1, 0, 1, 0];
  const tab = tensor(warpTables(transforms.map(invertAffine), OW, OH), [P * 2 * (OH + OW)], { dtype: "i32" });
  const cd = tensor(coords, [coords.length]), v = tensor(valid, [valid.length]);
  const pm = tensor(Int32Array.from(options.flip ?? [0]), [Math.max(1, options.flip?.length ?? 1)], {
    dtype: "i32",
  });
  const u = new Uniforms()
    .int(N * OH * OW, OW, OH, image.width, image.height, P, K, options.reverseChannels ? 1 : 0)
    .float(sigma, options.scale ?? 1, ...norm);
  runFlat(
    compile(CROP_HEATMAPS, 6, "crop_with_heatmaps"),
    [image.packed.buf, tab.buf, cd.buf, v.buf, pm.buf, out.buf],
    u,
    N * OH * OW,
  );
  for (const t of [tab, cd, v, pm]) t.dispose();
  return out;
}

const SOFT_ARGMAX = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 3)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let base = gi * H * W;
  var m = X[base];
  for (var i = 1u; i < H * W; i++) { m = max(m, X[base + i]); }
  var s = 0.0; var sx = 0.0; var sy = 0.0;
  for (var r = 0u; r < H; r++) {
    var row = 0.0;
    for (var c = 0u; c < W; c++) {
      let e = exp(X[base + r * W + c] - m);
      row += e;
      sx += e * f32(c + 1u);
    }
    s += row;
    sy += row * f32(r + 1u);
  }
  Y[2u * gi] = sx / s - 1.0;
  Y[2u * gi + 1u] = sy / s - 1.0;
}`;

/**
 * Softmax over each map's H·W cells and the soft-argmax, fused (inference):
 * `x = Σ p·(col + 1) − 1`, `y = Σ p·(row + 1) − 1` in cells.
 *
 * @param logits [N, K, H, W]
 * @returns [N, K, 2] (x, y)
 */
export function softArgmax2d(logits: Tensor): Tensor {
  if (logits.rank !== 4 || logits.dtype !== "f32") {
    throw new InputError(`softArgmax2d: logits must be f32 [N, K, H, W], got ${fmt(logits.shape)}`);
  }
  const [N, K, H, W] = logits.shape;
  if (H * W === 0) throw new InputError(`softArgmax2d: empty maps ${fmt(logits.shape)}`);
  const out = output([N, K, 2]);
  const n = N * K;
  if (n === 0) return out;
  const kernel = compile(SOFT_ARGMAX, 2, "soft_argmax2d");
  runFlat(kernel, [logits.buf, out.buf], new Uniforms().int(n, H, W), n);
  return out;
}

/** Softmax over each map's H·W cells: [N, K, H, W] → probabilities of the same shape. */
export function spatialSoftmax(logits: Tensor): Tensor {
  if (logits.rank !== 4) {
    throw new InputError(`spatialSoftmax: logits must be [N, K, H, W], got ${fmt(logits.shape)}`);
  }
  const [N, K, H, W] = logits.shape;
  const flat = logits.reshape([N * K, H * W]);
  const p = softmax(flat, { axis: 1 });
  flat.dispose();
  const out = p.reshape(logits.shape);
  p.dispose();
  return out;
}

/** The channel permutation that swaps each left/right pair among `count` channels (identity elsewhere). */
export function flipPermutation(count: number, pairs: readonly (readonly [number, number])[]): number[] {
  const perm = Array.from({ length: count }, (_, i) => i);
  for (const [a, b] of pairs) {
    if (!(a >= 0 && b >= 0 && a < count && b < count)) {
      throw new InputError(`flip pair (${a}, ${b}) is outside ${count} channels`);
    }
    perm[a] = b;
    perm[b] = a;
  }
  return perm;
}

const FLIP = `${storageDecl([{ name: "X" }, { name: "Pm", type: "i32" }], [{ name: "Y" }])}${
  uniformDecl(3, 4)
}
${flatMain()}  if (gi >= P(0u)) { return; }
  let W = P(1u); let HW = P(2u) * W; let C = P(3u);
  let x = gi % W; let t = gi / W; let y = t % P(2u); let nc = t / P(2u);
  let c = nc % C; let n = nc / C;
  let src = (n * C + u32(Pm[c])) * HW + y * W + (W - 1u - x);
  Y[gi] = X[src];
}`;

/**
 * Horizontal flip of NCHW maps with a channel permutation: `y[n, c, h, w] = x[n, perm[c], h, W−1−w]`
 * (pass `flipPermutation(K, pairs)` to swap left/right joint heatmaps; default: no permutation).
 *
 * @param x [N, C, H, W]
 * @param options perm: the source channel of each output channel
 * @returns a tensor of x's shape
 */
export function flipHorizontal(x: Tensor, options: { perm?: readonly number[] } = {}): Tensor {
  if (x.rank !== 4) throw new InputError(`flipHorizontal: input must be [N, C, H, W], got ${fmt(x.shape)}`);
  const [, C, H, W] = x.shape;
  const perm = options.perm ?? Array.from({ length: C }, (_, i) => i);
  if (perm.length !== C || !perm.every((p) => Number.isInteger(p) && p >= 0 && p < C)) {
    throw new InputError(`flipHorizontal: perm must list ${C} channel indices, got ${JSON.stringify(perm)}`);
  }
  const out = output(x.shape);
  if (out.size === 0) return out;
  const pm = tensor(Int32Array.from(perm), [C], { dtype: "i32" });
  runFlat(
    compile(FLIP, 3, "flip_horizontal"),
    [x.buf, pm.buf, out.buf],
    new Uniforms().int(x.size, W, H, C),
    x.size,
  );
  pm.dispose();
  return out;
}

/**
 * Host counterpart of `flipHorizontal` for coordinates: `x → width − 1 − x` and the joints of each pair
 * swapped. `coords` is flat `[x, y] × K` per pose (N poses), modified copy returned.
 */
export function flipCoordinates(
  coords: Float32Array,
  options: { joints: number; width: number; pairs: readonly (readonly [number, number])[] },
): Float32Array {
  const K = options.joints;
  if (coords.length % (2 * K) !== 0) {
    throw new InputError(`flipCoordinates: ${coords.length} values is not a multiple of ${K} joints × 2`);
  }
  const perm = flipPermutation(K, options.pairs);
  const out = new Float32Array(coords.length);
  for (let n = 0; n < coords.length / (2 * K); n++) {
    for (let j = 0; j < K; j++) {
      const s = (n * K + perm[j]) * 2, d = (n * K + j) * 2;
      out[d] = options.width - 1 - coords[s];
      out[d + 1] = coords[s + 1];
    }
  }
  return out;
}

/** Geometry of `im2col`: a convolution window and the output grid it is evaluated on. */
export interface Im2colOptions {
  /** Kernel `[kh, kw]`. */
  kernel: readonly [number, number];
  /** Stride `[h, w]`. */
  stride: readonly [number, number];
  /** Zero padding `[h, w]`. */
  padding: readonly [number, number];
  /** Dilation `[h, w]`. */
  dilation: readonly [number, number];
  /** Output grid `[oh, ow]` (default: the convolution's output size). */
  outSize?: readonly [number, number];
  /** Lay the result out `[N, C·kh·kw, oh·ow]` (one matrix per image) instead of `[C·kh·kw, N·oh·ow]`. */
  batchMajor?: boolean;
  /** Lay the result out pixel-major, `[N·oh·ow, C·kh·kw]` (the transpose of the default). */
  pixelMajor?: boolean;
}

const IM2COL = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 16)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let C = P(1u); let H = i32(P(2u)); let W = i32(P(3u)); let KH = P(4u); let KW = P(5u);
  let SH = i32(P(6u)); let SW = i32(P(7u)); let PH = PI(8u); let PW = PI(9u); let DH = i32(P(10u));
  let DW = i32(P(11u)); let OH = P(12u); let OW = P(13u); let NP = P(14u);
  // Row r = (c·KH + i)·KW + j, column q = (n·OH + oh)·OW + ow; batch-major: [n][r][oh·OW + ow].
  // Pixel-major: [n·oh·ow + q][r].
  var q: u32; var r: u32;
  if (P(15u) == 1u) {
    let PP = OH * OW; let rows = C * KH * KW;
    let pp = gi % PP; let t0 = gi / PP; r = t0 % rows; q = (t0 / rows) * PP + pp;
  } else if (P(15u) == 2u) {
    let rows = C * KH * KW;
    r = gi % rows; q = gi / rows;
  } else {
    q = gi % NP; r = gi / NP;
  }
  let ow = q % OW; let t = q / OW; let oh = t % OH; let n = t / OH;
  let j = r % KW; let t2 = r / KW; let i = t2 % KH; let c = t2 / KH;
  let ih = i32(oh) * SH - PH + i32(i) * DH; let iw = i32(ow) * SW - PW + i32(j) * DW;
  let inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
  let src = ((n * C + c) * u32(H) + u32(clamp(ih, 0, H - 1))) * u32(W) + u32(clamp(iw, 0, W - 1));
  Y[gi] = select(0.0, X[min(src, arrayLength(&X) - 1u)], inside);
}`;

/**
 * Unfolds convolution windows into columns: `[N, C, H, W]` → `[C·kh·kw, N·oh·ow]`, row
 * `(c·kh + i)·kw + j`, column `(n·oh + y)·ow + x`, holding `x[n, c, y·sh − ph + i·dh, x·sw − pw + j·dw]`
 * (0 outside). With it a convolution's weight gradient is one matrix product.
 */
export function im2col(x: Tensor, options: Im2colOptions): Tensor {
  if (x.rank !== 4) throw new InputError(`im2col: input must be [N, C, H, W], got ${fmt(x.shape)}`);
  const [N, C, H, W] = x.shape;
  const [KH, KW] = options.kernel, [SH, SW] = options.stride, [PH, PW] = options.padding;
  const [DH, DW] = options.dilation;
  const [OH, OW] = options.outSize ??
    [
      Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1,
      Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1,
    ];
  if (!(OH > 0 && OW > 0)) throw new InputError(`im2col: empty output grid ${OH}×${OW} for ${fmt(x.shape)}`);
  if (options.batchMajor && options.pixelMajor) {
    throw new InputError("im2col: batchMajor and pixelMajor are exclusive");
  }
  const out = output(
    options.pixelMajor
      ? [N * OH * OW, C * KH * KW]
      : options.batchMajor
      ? [N, C * KH * KW, OH * OW]
      : [C * KH * KW, N * OH * OW],
  );
  if (out.size === 0) return out;
  const NP = N * OH * OW, rows = C * KH * KW;
  if (options.pixelMajor && NP <= backend().device.limits.maxComputeWorkgroupsPerDimension) {
    const u = new Uniforms().int(Math.ceil(rows / 4), C, H, W, SH, SW, PH, PW, DH, DW, OH, OW);
    backend().dispatch(compile(im2colPixelMajorSource(KH, KW, rows % 4 === 0), 2, `im2col:pm${KH}x${KW}`), [
      x.buf,
      out.buf,
    ], { uniforms: u.build(), workgroups: [Math.ceil(rows / 4 / IM2COL_PM_WG), NP] });
    return out;
  }
  const u = new Uniforms().int(out.size, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, NP)
    .int(options.pixelMajor ? 2 : options.batchMajor ? 1 : 0);
  runFlat(compile(IM2COL, 2, "im2col"), [x.buf, out.buf], u, out.size);
  return out;
}

const IM2COL_PM_WG = 64;

/**
 * Pixel-major im2col for a `kh × kw` window: workgroup row y is output pixel q, each invocation writes
 * four consecutive entries r of its row. The flat kernel above decomposes every element's index with ~10
 * integer divisions by uniforms, which CPU adapters run lane by lane (PoseFix R50 batch 1 on lavapipe: 30
 * unfolds 89 ms); here the pixel is decomposed once per four entries and r by compile-time constants.
 */
function im2colPixelMajorSource(KH: number, KW: number, vec: boolean): string {
  const taps = KH * KW;
  return `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<${vec ? "vec4<f32>" : "f32"}>;
${uniformDecl(2, 12)}
@compute @workgroup_size(${IM2COL_PM_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r4 = wid.x * ${IM2COL_PM_WG}u + lid;
  let rows4 = P(0u);
  if (r4 >= rows4) { return; }
  let C = P(1u); let H = i32(P(2u)); let W = i32(P(3u)); let SH = i32(P(4u)); let SW = i32(P(5u));
  let PH = PI(6u); let PW = PI(7u); let DH = i32(P(8u)); let DW = i32(P(9u)); let OH = P(10u);
  let OW = P(11u);
  let q = wid.y;
  let ow = q % OW; let t = q / OW; let oh = t % OH; let n = t / OH;
  let ih0 = i32(oh) * SH - PH; let iw0 = i32(ow) * SW - PW;
  let rows = C * ${taps}u; let last = arrayLength(&X) - 1u;
  var v = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) {
    let r = r4 * 4u + e;
    let c = r / ${taps}u; let tap = r % ${taps}u; let i = tap / ${KW}u; let j = tap % ${KW}u;
    let ih = ih0 + i32(i) * DH; let iw = iw0 + i32(j) * DW;
    let inside = r < rows && ih >= 0 && ih < H && iw >= 0 && iw < W;
    let src = ((n * C + min(c, C - 1u)) * u32(H) + u32(clamp(ih, 0, H - 1))) * u32(W) + u32(clamp(iw, 0, W - 1));
    v[e] = select(0.0, X[min(src, last)], inside);
  }
${
    vec ? "  Y[q * rows4 + r4] = v;\n" : `  for (var e = 0u; e < 4u; e++) {
    let r = r4 * 4u + e;
    if (r < rows) { Y[q * rows + r] = v[e]; }
  }
`
  }}`;
}

/** Options of `channelEpilogue` and `col2im`: the fused tail of a convolution computed as a product. */
export interface ChannelEpilogueOptions {
  /** Per-channel bias `[C]` (channel = axis 1). */
  bias?: Tensor;
  /** ReLU (or leaky ReLU with `alpha`); default none. */
  activation?: "none" | "relu" | "leaky_relu";
  /** Negative slope of leaky_relu (default 0.01). */
  alpha?: number;
  /** Added to the result, same shape. */
  residual?: Tensor;
  /** Add the residual before the activation (`act(z + b + r)`, a ResNet block's tail) instead of after. */
  residualFirst?: boolean;
}

function epilogueWords(o: ChannelEpilogueOptions): number[] {
  const act = o.activation ?? "none";
  return [act === "none" ? 1 : act === "relu" ? 0 : o.alpha ?? 0.01];
}

/** WGSL `epi(z, channel, index)`: bias, residual before or after the activation, over `t` values. */
function epiSource(t: "f32" | "vec4<f32>"): string {
  return `fn epi(z: ${t}, o: u32, k: u32) -> ${t} {
  var a = z + select(0.0, Bias[min(o, arrayLength(&Bias) - 1u)], P(4u) != 0u);
  let r = select(${t}(0.0), R[min(k, arrayLength(&R) - 1u)], P(5u) != 0u);
  let first = P(6u) != 0u;
  if (first) { a = a + r; }
  a = select(a * PF(7u), a, a > ${t}(0.0));
  if (!first) { a = a + r; }
  return a;
}`;
}

const EPI = epiSource("f32");

const CHANNEL_EPI = `${storageDecl([{ name: "Z" }, { name: "Bias" }, { name: "R" }], [{ name: "Y" }])}${
  uniformDecl(4, 8)
}
${EPI}
${flatMain()}  if (gi >= P(0u)) { return; }
  let inner = P(1u); let C = P(2u); let o = (gi / inner) % C;
  // Pixel-major Z: [n·inner + p][o].
  let zi = select(gi, ((gi / (C * inner)) * inner + gi % inner) * C + o, P(3u) != 0u);
  Y[gi] = epi(Z[zi], o, gi);
}`;

/** Pixel-major epilogue, Z `[n·inner + p][o]` → Y `[n][o][p]`: invocation (n, o) walks its pixels. */
function channelEpiloguePixelMajorSource(vec: boolean): string {
  const t = vec ? "vec4<f32>" : "f32";
  return `${
    storageDecl([{ name: "Z" }, { name: "Bias" }, { name: "R", type: t }], [{ name: "Y", type: t }])
  }${uniformDecl(4, 8)}
${epiSource(t)}
${flatMain(64)}  if (gi >= P(0u)) { return; }
  let inner = P(1u); let C = P(2u); let o = gi % C; let n = gi / C;
  let zb = n * inner * C + o;
${
    vec
      ? `  let yb = gi * (inner / 4u);
  for (var p = 0u; p < inner / 4u; p++) {
    let z = zb + 4u * p * C;
    Y[yb + p] = epi(vec4<f32>(Z[z], Z[z + C], Z[z + 2u * C], Z[z + 3u * C]), o, yb + p);
  }`
      : `  let yb = gi * inner;
  for (var p = 0u; p < inner; p++) { Y[yb + p] = epi(Z[zb + p * C], o, yb + p); }`
  }
}`;
}

function epilogueUniforms(
  n: number,
  inner: number,
  channels: number,
  o: ChannelEpilogueOptions & { pixelMajor?: boolean },
): Uniforms {
  return new Uniforms().int(
    n,
    inner,
    channels,
    o.pixelMajor ? 1 : 0,
    o.bias ? 1 : 0,
    o.residual ? 1 : 0,
    o.residualFirst ? 1 : 0,
  )
    .float(...epilogueWords(o));
}

function checkEpilogue(op: string, shape: readonly number[], o: ChannelEpilogueOptions): void {
  if (o.bias && o.bias.size !== shape[1]) {
    throw new InputError(`${op}: bias has ${o.bias.size} values for ${shape[1]} channels`);
  }
  if (o.residual && o.residual.size !== shape.reduce((a, b) => a * b, 1)) {
    throw new InputError(`${op}: residual ${fmt(o.residual.shape)} does not match ${fmt(shape)}`);
  }
}

/**
 * `act(z + bias[c]) + residual` (or `act(z + bias[c] + residual)` with `residualFirst`) over `[N, C, ...]`:
 * the epilogue of a convolution computed as a matrix product. `shape` lays the result out differently
 * (same size and channels, e.g. `[N, C, H·W]` → `[N, C, H, W]`) at no cost.
 */
export function channelEpilogue(
  z: Tensor,
  options: ChannelEpilogueOptions & {
    shape?: readonly number[];
    /** `z` is pixel-major, `[N·(H·W…), C]` (a product's transpose); `shape` gives the `[N, C, …]` result. */
    pixelMajor?: boolean;
  },
): Tensor {
  const shape = options.shape ?? z.shape;
  if (shape.length < 2 || shape.reduce((a, b) => a * b, 1) !== z.size) {
    throw new InputError(`channelEpilogue: cannot lay ${fmt(z.shape)} out as [N, C, ...] ${fmt(shape)}`);
  }
  checkEpilogue("channelEpilogue", shape, options);
  const out = output(shape);
  if (out.size === 0) return out;
  const inner = z.size / (shape[0] * shape[1]);
  const d = options.bias ?? z;
  if (options.pixelMajor) {
    // One invocation per (image, channel), looping over its pixels: the flat kernel's four divisions
    // per element by uniforms run lane by lane on CPU adapters (28 PoseFix epilogues 35 ms on lavapipe).
    const vec = inner % 4 === 0;
    const rows = shape[0] * shape[1];
    backend().dispatch(
      compile(channelEpiloguePixelMajorSource(vec), 4, `channel_epilogue:pm${vec ? "4" : ""}`),
      [z.buf, d.buf, (options.residual ?? z).buf, out.buf],
      {
        uniforms: epilogueUniforms(rows, inner, shape[1], options).build(),
        workgroups: grid(Math.ceil(rows / 64)),
      },
    );
    return out;
  }
  runFlat(
    compile(CHANNEL_EPI, 4, "channel_epilogue"),
    [z.buf, d.buf, (options.residual ?? z).buf, out.buf],
    epilogueUniforms(out.size, inner, shape[1], options),
    out.size,
  );
  return out;
}

const COL2IM = `${storageDecl([{ name: "Z" }, { name: "Bias" }, { name: "R" }], [{ name: "Y" }])}${
  uniformDecl(4, 20)
}
${EPI}
${flatMain()}  if (gi >= P(0u)) { return; }
  let O = P(2u); let OH = P(8u); let OW = P(9u); let H = i32(P(10u)); let W = i32(P(11u));
  let KH = P(12u); let KW = P(13u); let SH = i32(P(14u)); let SW = i32(P(15u)); let PH = i32(P(16u));
  let PW = i32(P(17u)); let DH = i32(P(18u)); let DW = i32(P(19u));
  let ox = gi % OW; var t = gi / OW; let oy = t % OH; t = t / OH; let o = t % O; let n = t / O;
  // Gather form: output (oy, ox) takes tap (i, j) of input (ih, iw) when ih·SH − PH + i·DH = oy.
  let rows = O * KH * KW; let HW = u32(H * W);
  var acc = 0.0;
  for (var i = 0u; i < KH; i++) {
    let th = i32(oy) + PH - i32(i) * DH;
    if (th < 0 || th % SH != 0 || th / SH >= H) { continue; }
    for (var j = 0u; j < KW; j++) {
      let tw = i32(ox) + PW - i32(j) * DW;
      if (tw < 0 || tw % SW != 0 || tw / SW >= W) { continue; }
      let row = (o * KH + i) * KW + j;
      let pix = u32(th / SH) * u32(W) + u32(tw / SW);
      // Pixel-major columns: [n·H·W + pix][row].
      acc += Z[select((n * rows + row) * HW + pix, (n * HW + pix) * rows + row, P(3u) != 0u)];
    }
  }
  Y[gi] = epi(acc, o, gi);
}`;

/**
 * The scatter half of a transposed convolution computed as a product: from per-image columns
 * `[N, O·kh·kw, H·W]` (or `[O·kh·kw, H·W]` for one image; pixel-major: `[N·H·W, O·kh·kw]`) (row
 * `(o·kh + i)·kw + j` holds every input pixel's contribution to tap (i, j))
 * to `[N, O, OH, OW]`, each output pixel gathering its taps, with the epilogue fused.
 */
export function col2im(
  cols: Tensor,
  options: ChannelEpilogueOptions & {
    outChannels: number;
    inSize: readonly [number, number];
    outSize: readonly [number, number];
    kernel: readonly [number, number];
    stride: readonly [number, number];
    padding: readonly [number, number];
    dilation: readonly [number, number];
    /** Columns are pixel-major, `[N·H·W, O·kh·kw]` (the transpose). */
    pixelMajor?: boolean;
  },
): Tensor {
  const [KH, KW] = options.kernel, O = options.outChannels;
  const [H, W] = options.inSize, [OH, OW] = options.outSize;
  const per = O * KH * KW * H * W;
  const last = options.pixelMajor ? O * KH * KW : H * W;
  if (cols.size % per !== 0 || cols.shape[cols.rank - 1] !== last) {
    throw new InputError(
      `col2im: columns ${fmt(cols.shape)} do not hold ${O}×${KH}×${KW} taps of ${H}×${W} pixels`,
    );
  }
  const shape = [cols.size / per, O, OH, OW];
  checkEpilogue("col2im", shape, options);
  const out = output(shape);
  if (out.size === 0) return out;
  const u = epilogueUniforms(out.size, OH * OW, O, options)
    .int(OH, OW, H, W, KH, KW, ...options.stride, ...options.padding, ...options.dilation);
  runFlat(
    compile(COL2IM, 4, "col2im"),
    [cols.buf, (options.bias ?? cols).buf, (options.residual ?? cols).buf, out.buf],
    u,
    out.size,
  );
  return out;
}
