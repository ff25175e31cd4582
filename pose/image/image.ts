/**
 * The decoded-image type shared by the PNG, JPEG and PPM decoders, the options they take, and `toRgb`.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/** Number of interleaved 8-bit channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
export type Channels = 1 | 2 | 3 | 4;

/** A decoded 8-bit image: `data[(y * width + x) * channels + c]`, rows top to bottom, interleaved. */
export interface Image {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: Channels;
  /** `width * height * channels` bytes, row-major, interleaved. */
  data: Uint8Array;
}

/** Default of `DecodeOptions.maxPixels`: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Options every decoder takes. */
export interface DecodeOptions {
  /** Name used in error messages, typically the file path (default `"image"`). */
  name?: string;
  /**
   * Largest `width * height` accepted; larger declared sizes are rejected before any pixel memory is
   * allocated, so a tiny corrupt header cannot ask for gigabytes. Default `DEFAULT_MAX_PIXELS` (100 MP).
   */
  maxPixels?: number;
}

/**
 * Throws `InputError` when a declared size is empty or over the pixel limit. Decoders call it as soon as
 * the header is read, before allocating.
 */
export function checkImageSize(
  width: number,
  height: number,
  options: DecodeOptions & { what: string },
): void {
  const name = options.name ?? "image";
  const limit = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(width >= 1 && height >= 1)) {
    throw new InputError(`${name}: ${options.what}: image size ${width}x${height} is empty (expected ≥ 1x1)`);
  }
  if (width * height > limit) {
    throw new InputError(
      `${name}: ${options.what}: image size ${width}x${height} (${width * height} pixels) exceeds the ` +
        `limit of ${limit} pixels (raise maxPixels to accept it)`,
    );
  }
}

/** Options of `toRgb`. */
export interface ToRgbOptions {
  /**
   * When given, images with alpha are composited over this `[r, g, b]` colour (`c·a + bg·(255 − a)`,
   * rounded). When absent, alpha is dropped, as PIL's `convert("RGB")` does.
   */
  background?: readonly [number, number, number];
}

/**
 * Returns a 3-channel RGB image: grey is replicated into R, G and B; alpha is dropped (PIL's
 * `convert("RGB")`) or, with `options.background`, composited over that colour. A 3-channel input is
 * returned as is (not copied).
 */
export function toRgb(image: Image, options: ToRgbOptions = {}): Image {
  const { width, height, channels, data } = image;
  if (channels === 3) return image;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const bg = options.background;
  const hasAlpha = channels === 2 || channels === 4;
  const grey = channels <= 2;
  for (let i = 0, s = 0, d = 0; i < n; i++, s += channels, d += 3) {
    let r = data[s], g = grey ? r : data[s + 1], b = grey ? r : data[s + 2];
    if (hasAlpha && bg) {
      const a = data[s + channels - 1];
      // Exact integer rounding of (c·a + bg·(255−a)) / 255.
      r = Math.floor((r * a + bg[0] * (255 - a) + 127) / 255);
      g = Math.floor((g * a + bg[1] * (255 - a) + 127) / 255);
      b = Math.floor((b * a + bg[2] * (255 - a) + 127) / 255);
    }
    out[d] = r;
    out[d + 1] = g;
    out[d + 2] = b;
  }
  return { width, height, channels: 3, data: out };
}
