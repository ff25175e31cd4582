/**
 * CPU image decoding: PNG, JPEG (baseline and progressive) and binary PGM/PPM to 8-bit interleaved pixels.
 * @module
 */

export { decodeImage, type ImageFormat, readImage, sniffImageFormat } from "./decode.ts";
export {
  type Channels,
  checkImageSize,
  type DecodeOptions,
  DEFAULT_MAX_PIXELS,
  type Image,
  toRgb,
  type ToRgbOptions,
} from "./image.ts";
export { decodeJpeg, isJpeg } from "./jpeg.ts";
export { decodePng, isPng } from "./png.ts";
export { decodePpm, isPpm } from "./ppm.ts";
