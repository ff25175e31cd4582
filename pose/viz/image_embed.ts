/**
 * Embedding a PNG or JPEG picture in an SVG: its pixel size read from the file header (no decoding) and
 * a base64 data URL.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/** A picture ready to embed: MIME type, size in pixels and the data URL. */
export interface EmbeddedImage {
  /** "image/png" or "image/jpeg". */
  mime: "image/png" | "image/jpeg";
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `data:<mime>;base64,...`. */
  dataUrl: string;
}

function pngSize(bytes: Uint8Array, where: string): [number, number] {
  // The IHDR chunk must come first: 8-byte signature, length, "IHDR", then width and height.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") {
    throw new InputError(`${where}: PNG without an IHDR header`);
  }
  return [view.getUint32(16), view.getUint32(20)];
}

function jpegSize(bytes: Uint8Array, where: string): [number, number] {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) throw new InputError(`${where}: JPEG marker expected at byte ${i}`);
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > bytes.length) break;
      const height = (bytes[i + 5] << 8) | bytes[i + 6];
      const width = (bytes[i + 7] << 8) | bytes[i + 8];
      return [width, height];
    }
    if (marker === 0xd9 || marker === 0xda) break; // end of image or scan data before any frame header
    i += 2 + length;
  }
  throw new InputError(`${where}: JPEG without a frame header (SOF)`);
}

function base64(bytes: Uint8Array): string {
  // btoa takes a binary string; build it in chunks so large pictures do not overflow the call stack.
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Reads the size of PNG or JPEG bytes and encodes them as a data URL; `where` names the picture in
 * errors. Throws `InputError` for anything else. */
export function embedImage(bytes: Uint8Array, where = "background image"): EmbeddedImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new InputError(`${where}: not a PNG or JPEG file`);
  const mime = isPng ? "image/png" : "image/jpeg";
  const [width, height] = isPng ? pngSize(bytes, where) : jpegSize(bytes, where);
  if (!(width > 0 && height > 0)) throw new InputError(`${where}: image size ${width}×${height} is empty`);
  return { mime, width, height, dataUrl: `data:${mime};base64,${base64(bytes)}` };
}
