/**
 * Format sniffing and the one-call entry points: `decodeImage` for bytes, `readImage` for a file.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { DecodeOptions, Image } from "./image.ts";
import { decodeJpeg, isJpeg } from "./jpeg.ts";
import { decodePng, isPng } from "./png.ts";
import { decodePpm, isPpm } from "./ppm.ts";

/** Image formats `decodeImage` recognises by their magic bytes. */
export type ImageFormat = "png" | "jpeg" | "ppm";

/** The format of `bytes` from its first bytes, or null when it is none of PNG, JPEG, PGM/PPM (P5/P6). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (isPng(bytes)) return "png";
  if (isJpeg(bytes)) return "jpeg";
  if (isPpm(bytes)) return "ppm";
  return null;
}

/**
 * Decodes PNG, JPEG or binary PGM/PPM bytes, chosen by magic bytes (not by file name). See `decodePng`,
 * `decodeJpeg` and `decodePpm` for the channels each returns. Throws `InputError` for an unknown format
 * or a bad file.
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<Image> {
  switch (sniffImageFormat(bytes)) {
    case "png":
      return await decodePng(bytes, options);
    case "jpeg":
      return decodeJpeg(bytes, options);
    case "ppm":
      return decodePpm(bytes, options);
    default: {
      const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new InputError(
        `${options.name ?? "image"}: unknown image format (first bytes ${head || "none"}; ` +
          `expected PNG, JPEG or binary PGM/PPM)`,
      );
    }
  }
}

/**
 * Reads and decodes an image file; errors name the path. A missing or unreadable file throws `InputError`.
 */
export async function readImage(path: string | URL, options: DecodeOptions = {}): Promise<Image> {
  const name = options.name ?? (path instanceof URL ? path.pathname : path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new InputError(`${name}: cannot read the file (${why})`, { cause: e });
  }
  return await decodeImage(bytes, { ...options, name });
}
