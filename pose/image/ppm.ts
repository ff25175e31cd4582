/**
 * Binary Netpbm decoder: PGM (P5) and PPM (P6), maxval 1 to 65535, comments in the header.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { checkImageSize, type DecodeOptions, type Image } from "./image.ts";

/** Whether `bytes` starts with a binary PGM/PPM magic number (`P5` or `P6`). */
export function isPpm(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x36);
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Decodes a P5 (grey, 1 channel) or P6 (RGB, 3 channels) file. Samples are scaled to 8 bits as
 * `min(255, round(v / maxval * 255))` with round-half-even in double precision, exactly as PIL's PPM
 * decoder does for maxval ≠ 255 (so maxval 65535 keeps `round(v / 257)`, not the high byte). Samples are one
 * byte when maxval < 256, else two bytes big-endian. Bytes after the raster are ignored.
 *
 * Throws `InputError` for another magic number (P1–P4 plain/bitmap formats are not supported), a malformed
 * header, maxval outside 1–65535, a raster shorter than the header declares, or a size over
 * `options.maxPixels`.
 */
export function decodePpm(bytes: Uint8Array, options: DecodeOptions = {}): Image {
  const name = options.name ?? "image";
  const fail = (msg: string): InputError => new InputError(`${name}: ${msg}`);
  if (!isPpm(bytes)) {
    const magic = new TextDecoder().decode(bytes.subarray(0, 2));
    throw fail(`not a binary PGM/PPM file (magic ${JSON.stringify(magic)}; expected "P5" or "P6")`);
  }
  const channels = bytes[1] === 0x35 ? 1 : 3;
  let pos = 2;
  const fields = ["width", "height", "maxval"] as const;
  const values: number[] = [];
  for (const field of fields) {
    // Whitespace and comments (from '#' to the end of the line) may separate header fields.
    for (;;) {
      while (pos < bytes.length && isSpace(bytes[pos])) pos++;
      if (bytes[pos] !== 0x23) break;
      while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
    }
    const start = pos;
    let v = 0;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 && pos - start < 10) {
      v = v * 10 + bytes[pos++] - 0x30;
    }
    if (pos === bytes.length) throw fail(`header: file ends while reading ${field} (truncated)`);
    if (pos === start || !isSpace(bytes[pos])) {
      const found = pos - start >= 10 ? "a number of over 10 digits" : `byte 0x${bytes[pos].toString(16)}`;
      throw fail(
        `header: ${field} at offset ${start}: found ${found} (expected a decimal number then whitespace)`,
      );
    }
    values.push(v);
  }
  pos++; // exactly one whitespace byte separates maxval from the raster
  const [width, height, maxval] = values;
  if (maxval < 1 || maxval > 65535) throw fail(`header: maxval ${maxval} (expected 1 to 65535)`);
  checkImageSize(width, height, { name, maxPixels: options.maxPixels, what: "header" });
  const wide = maxval > 255;
  const count = width * height * channels;
  const needed = count * (wide ? 2 : 1);
  if (bytes.length - pos < needed) {
    throw fail(`raster: ${bytes.length - pos} bytes after the header, ${needed} expected (truncated)`);
  }
  const out = new Uint8Array(count);
  if (maxval === 255) {
    out.set(bytes.subarray(pos, pos + count));
  } else {
    const lut = scaleTable(maxval);
    if (wide) {
      for (let i = 0, s = pos; i < count; i++, s += 2) out[i] = lut[(bytes[s] << 8) | bytes[s + 1]];
    } else {
      for (let i = 0; i < count; i++) out[i] = lut[bytes[pos + i]];
    }
  }
  return { width, height, channels, data: out };
}

/** `min(255, round(v / maxval * 255))` for every 16-bit v, with Python's round-half-even. */
function scaleTable(maxval: number): Uint8Array {
  const size = maxval > 255 ? 65536 : 256;
  const lut = new Uint8Array(size);
  for (let v = 0; v < size; v++) {
    const x = (v / maxval) * 255;
    const f = Math.floor(x);
    const d = x - f;
    const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1);
    lut[v] = Math.min(255, r);
  }
  return lut;
}
