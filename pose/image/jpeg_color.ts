/**
 * Chroma upsampling and YCbCr→RGB as libjpeg-turbo does them by default (and so PIL): "fancy" triangle
 * filters for 2:1 horizontal (h2v1), 2:1 vertical (h1v2) and 2:1 both ways (h2v2), replication for other
 * integer ratios, and jdcolor.c's 16-bit fixed-point tables.
 * @module
 */

/** A plane of 8-bit samples: `data[y * stride + x]` for x < width, y < height. */
export interface SamplePlane {
  /** Samples. */
  data: Uint8Array;
  /** Distance between rows. */
  stride: number;
  /** Valid columns (libjpeg's `downsampled_width`). */
  width: number;
  /** Valid rows (libjpeg's `downsampled_height`). */
  height: number;
}

/**
 * Upsamples a component by integer ratios `h` × `v` to `outWidth` × `outHeight` (the image size), with
 * libjpeg-turbo's choice of method: h2v1 and h2v2 fancy when the component is more than 2 samples wide
 * (else replication), h1v2 fancy always, replication for other ratios. Edges repeat the last valid
 * sample, as libjpeg's context rows and column handling do. A 1×1 ratio returns the plane itself.
 */
export function upsample(
  plane: SamplePlane,
  ratio: { h: number; v: number; outWidth: number; outHeight: number },
): SamplePlane {
  const { h, v, outWidth: W, outHeight: H } = ratio;
  if (h === 1 && v === 1) return plane;
  const { data: src, stride, width: dw, height: dh } = plane;
  const out = new Uint8Array(W * H);
  const result = { data: out, stride: W, width: W, height: H };
  if (h === 2 && v === 1 && dw > 2) {
    for (let y = 0; y < H; y++) {
      const s = y * stride, o = y * W;
      for (let x = 0; x < W; x++) {
        const c = x >> 1, t = 3 * src[s + c];
        out[o + x] = x & 1
          ? (t + src[s + (c + 1 < dw ? c + 1 : c)] + 2) >> 2
          : (t + src[s + (c > 0 ? c - 1 : 0)] + 1) >> 2;
      }
    }
  } else if (h === 1 && v === 2) {
    for (let y = 0; y < H; y++) {
      const r = y >> 1, odd = y & 1;
      const nb = odd ? (r + 1 < dh ? r + 1 : r) : (r > 0 ? r - 1 : 0);
      const s = r * stride, n = nb * stride, o = y * W, bias = odd ? 2 : 1;
      for (let x = 0; x < W; x++) out[o + x] = (3 * src[s + x] + src[n + x] + bias) >> 2;
    }
  } else if (h === 2 && v === 2 && dw > 2) {
    const sums = new Int32Array(dw);
    for (let y = 0; y < H; y++) {
      const r = y >> 1, odd = y & 1;
      const nb = odd ? (r + 1 < dh ? r + 1 : r) : (r > 0 ? r - 1 : 0);
      const s = r * stride, n = nb * stride, o = y * W;
      for (let c = 0; c < dw; c++) sums[c] = 3 * src[s + c] + src[n + c];
      for (let x = 0; x < W; x++) {
        const c = x >> 1, t = 3 * sums[c];
        out[o + x] = x & 1
          ? (t + sums[c + 1 < dw ? c + 1 : c] + 7) >> 4
          : (t + sums[c > 0 ? c - 1 : 0] + 8) >> 4;
      }
    }
  } else {
    for (let y = 0; y < H; y++) {
      const s = ((y / v) | 0) * stride, o = y * W;
      for (let x = 0; x < W; x++) out[o + x] = src[s + ((x / h) | 0)];
    }
  }
  return result;
}

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);

const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * Writes interleaved 3-channel pixels of a `width` × `height` image from three full-size planes:
 * YCbCr converted with libjpeg's integer tables, or (for `transform: false`, Adobe RGB files) copied.
 */
export function planesToRgb(
  planes: readonly [SamplePlane, SamplePlane, SamplePlane],
  options: { width: number; height: number; transform: boolean },
): Uint8Array {
  const { width: W, height: H } = options;
  const out = new Uint8Array(W * H * 3);
  const [p0, p1, p2] = planes;
  for (let y = 0; y < H; y++) {
    const a = y * p0.stride, b = y * p1.stride, c = y * p2.stride;
    let o = y * W * 3;
    if (options.transform) {
      for (let x = 0; x < W; x++, o += 3) {
        const Y = p0.data[a + x], cb = p1.data[b + x], cr = p2.data[c + x];
        out[o] = clamp(Y + CR_R[cr]);
        out[o + 1] = clamp(Y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
        out[o + 2] = clamp(Y + CB_B[cb]);
      }
    } else {
      for (let x = 0; x < W; x++, o += 3) {
        out[o] = p0.data[a + x];
        out[o + 1] = p1.data[b + x];
        out[o + 2] = p2.data[c + x];
      }
    }
  }
  return out;
}
