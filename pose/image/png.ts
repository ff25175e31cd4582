/**
 * PNG decoder: every colour type and bit depth of the PNG specification, the five filters, Adam7
 * interlacing, multiple IDAT chunks and CRC checks; inflate runs on `DecompressionStream("deflate")`.
 *
 * Output (see `decodePng`) is 8-bit: 16-bit samples keep their high byte, 1/2/4-bit grey is scaled to
 * 0–255 by bit replication, palettes are expanded, and tRNS becomes an alpha channel.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { crc32 } from "./crc32.ts";
import { type Channels, checkImageSize, type DecodeOptions, type Image } from "./image.ts";
import { inflateExact } from "./zlib.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Whether `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Bit depths each colour type allows, and its samples per pixel. */
const COLOUR_TYPES: Record<number, { depths: number[]; samples: number; label: string }> = {
  0: { depths: [1, 2, 4, 8, 16], samples: 1, label: "greyscale" },
  2: { depths: [8, 16], samples: 3, label: "RGB" },
  3: { depths: [1, 2, 4, 8], samples: 1, label: "palette" },
  4: { depths: [8, 16], samples: 2, label: "greyscale+alpha" },
  6: { depths: [8, 16], samples: 4, label: "RGBA" },
};

interface Header {
  width: number;
  height: number;
  depth: number;
  colourType: number;
  interlaced: boolean;
}

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  /** Pixels per row and rows of this pass. */
  w: number;
  h: number;
  /** Bytes per scanline, without the filter byte. */
  rowBytes: number;
  /** Offset of this pass's first filter byte in the inflated data. */
  offset: number;
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function chunkName(b: Uint8Array, p: number): string {
  let s = "";
  for (let i = 0; i < 4; i++) {
    const c = b[p + i];
    s += c >= 0x21 && c <= 0x7e ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * Decodes a PNG file. Channels of the result: greyscale → 1 (2 with tRNS), greyscale+alpha → 2,
 * RGB → 3 (4 with tRNS), palette → 3 (4 with tRNS), RGBA → 4. tRNS matching uses the full-precision
 * samples; palette indices beyond the PLTE decode as opaque black; a malformed tRNS (or a PLTE in a
 * greyscale file) is ignored, as libpng does. Other ancillary chunks (gAMA, iCCP, text...) are checked for
 * CRC and otherwise ignored, as PIL ignores them when decoding pixels.
 *
 * Throws `InputError` (message prefixed by `options.name`) for a bad signature, CRC mismatch, truncated or
 * malformed chunk, a zlib stream that is corrupt or too short, a bad filter type, or a declared size over
 * `options.maxPixels`.
 */
export async function decodePng(bytes: Uint8Array, options: DecodeOptions = {}): Promise<Image> {
  const name = options.name ?? "image";
  const fail = (msg: string): InputError => new InputError(`${name}: ${msg}`);
  if (!isPng(bytes)) throw fail("not a PNG file (bad signature)");

  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  let trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawIend = false;
  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 8 > bytes.length) throw fail(`truncated chunk header at offset ${pos}`);
    const length = readU32(bytes, pos);
    const type = chunkName(bytes, pos + 4);
    if (![0, 1, 2, 3].every((i) => isLetter(bytes[pos + 4 + i]))) {
      throw fail(`chunk at offset ${pos} has an invalid type "${type}" (expected 4 ASCII letters)`);
    }
    if (length > 0x7fffffff) {
      throw fail(`${type} chunk at offset ${pos} declares length ${length} (over 2^31-1)`);
    }
    const dataStart = pos + 8;
    if (dataStart + length + 4 > bytes.length) {
      throw fail(
        `${type} chunk at offset ${pos} is truncated (declares ${length} data bytes + CRC, ` +
          `${Math.max(0, bytes.length - dataStart)} bytes remain)`,
      );
    }
    const critical = (bytes[pos + 4] & 0x20) === 0;
    const data = bytes.subarray(dataStart, dataStart + length);
    const stored = readU32(bytes, dataStart + length);
    const actual = crc32(bytes, { start: pos + 4, end: dataStart + length });
    if (stored !== actual) {
      throw fail(
        `${type} chunk at offset ${pos}: CRC mismatch (stored 0x${stored.toString(16).padStart(8, "0")}, ` +
          `computed 0x${actual.toString(16).padStart(8, "0")})`,
      );
    }
    pos = dataStart + length + 4;

    if (type === "IHDR") {
      if (header) throw fail("IHDR: second IHDR chunk");
      header = parseHeader(data, fail);
      continue;
    }
    if (header === undefined) throw fail(`${type}: chunk before IHDR (IHDR must come first)`);
    if (type === "PLTE") {
      // As libpng: a PLTE is only an error where it is needed; elsewhere a bad one is ignored.
      const bad = length % 3 !== 0 || length === 0 || length > 768;
      if (bad && header.colourType === 3) {
        throw fail(`PLTE: length ${length} (expected a multiple of 3, 3 to 768)`);
      }
      if (!bad && header.colourType !== 0 && header.colourType !== 4) palette = data;
    } else if (type === "tRNS") {
      trns = validTrns(header, data, palette);
    } else if (type === "IDAT") {
      if (data.length > 0) idat.push(data);
    } else if (type === "IEND") {
      sawIend = true;
      break;
    } else if (critical) {
      // Upper-case first letter: a critical chunk we do not know cannot be skipped safely.
      throw fail(`${type}: unknown critical chunk`);
    }
  }
  if (!header) throw fail("no IHDR chunk");
  if (!sawIend) throw fail(`file ends at offset ${bytes.length} without an IEND chunk (truncated?)`);
  if (header.colourType === 3 && !palette) throw fail("PLTE: missing (required by colour type 3)");
  if (idat.length === 0) throw fail("IDAT: no image data");

  const { width, height, depth, colourType } = header;
  checkImageSize(width, height, { name, maxPixels: options.maxPixels, what: "IHDR" });
  const bitsPerPixel = depth * COLOUR_TYPES[colourType].samples;
  const passes = layoutPasses(header, bitsPerPixel);
  const last = passes[passes.length - 1];
  const rawSize = last.offset + last.h * (last.rowBytes + 1);
  const raw = await inflateExact(idat, rawSize, { label: `${name}: IDAT` });

  const bpp = Math.max(1, bitsPerPixel >> 3);
  for (const [i, p] of passes.entries()) unfilter(raw, p, { bpp, pass: header.interlaced ? i + 1 : 0, fail });

  const hasTrns = trns !== undefined;
  const channels =
    (colourType === 0
      ? (hasTrns ? 2 : 1)
      : colourType === 4
      ? 2
      : colourType === 6
      ? 4
      : hasTrns
      ? 4
      : 3) as Channels;
  const out = new Uint8Array(width * height * channels);
  const ctx: ExpandContext = { header, channels, out, raw, palette, trns };
  for (const p of passes) expandPass(ctx, p);
  return { width, height, channels, data: out };
}

function parseHeader(data: Uint8Array, fail: (m: string) => InputError): Header {
  if (data.length !== 13) throw fail(`IHDR: length ${data.length} (expected 13)`);
  const width = readU32(data, 0), height = readU32(data, 4);
  const depth = data[8], colourType = data[9];
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw fail(`IHDR: image size ${width}x${height} (expected 1 to 2^31-1 each)`);
  }
  const ct = COLOUR_TYPES[colourType];
  if (!ct) throw fail(`IHDR: colour type ${colourType} (expected 0, 2, 3, 4 or 6)`);
  if (!ct.depths.includes(depth)) {
    throw fail(
      `IHDR: bit depth ${depth} for colour type ${colourType} (${ct.label}: expected ${ct.depths.join("/")})`,
    );
  }
  if (data[10] !== 0) throw fail(`IHDR: compression method ${data[10]} (expected 0)`);
  if (data[11] !== 0) throw fail(`IHDR: filter method ${data[11]} (expected 0)`);
  if (data[12] > 1) throw fail(`IHDR: interlace method ${data[12]} (expected 0 or 1)`);
  return { width, height, depth, colourType, interlaced: data[12] === 1 };
}

/** The tRNS data, or undefined where libpng would ignore it (wrong length, or colour type with alpha). */
function validTrns(
  header: Header,
  data: Uint8Array,
  palette: Uint8Array | undefined,
): Uint8Array | undefined {
  switch (header.colourType) {
    case 0:
      return data.length === 2 ? data : undefined;
    case 2:
      return data.length === 6 ? data : undefined;
    case 3:
      return palette && data.length > 0 && data.length <= palette.length / 3 ? data : undefined;
    default:
      return undefined;
  }
}

function layoutPasses(header: Header, bitsPerPixel: number): Pass[] {
  const { width, height } = header;
  const grid = header.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  const passes: Pass[] = [];
  let offset = 0;
  for (const [x0, y0, dx, dy] of grid) {
    const w = Math.ceil((width - x0) / dx), h = Math.ceil((height - y0) / dy);
    // Empty passes have no scanlines at all (not even filter bytes).
    if (w <= 0 || h <= 0) continue;
    const rowBytes = Math.ceil((w * bitsPerPixel) / 8);
    passes.push({ x0, y0, dx, dy, w, h, rowBytes, offset });
    offset += h * (rowBytes + 1);
  }
  return passes;
}

/** Reverses the scanline filters of one pass in place; each row's bytes then follow its filter byte. */
function unfilter(
  raw: Uint8Array,
  p: Pass,
  opts: { bpp: number; pass: number; fail: (m: string) => InputError },
): void {
  const { rowBytes: n } = p;
  const bpp = opts.bpp;
  for (let y = 0; y < p.h; y++) {
    const f = p.offset + y * (n + 1);
    const cur = f + 1;
    const prev = y > 0 ? cur - (n + 1) : -1;
    const type = raw[f];
    switch (type) {
      case 0:
        break;
      case 1:
        for (let i = bpp; i < n; i++) raw[cur + i] = (raw[cur + i] + raw[cur + i - bpp]) & 0xff;
        break;
      case 2:
        if (prev >= 0) { for (let i = 0; i < n; i++) raw[cur + i] = (raw[cur + i] + raw[prev + i]) & 0xff; }
        break;
      case 3:
        if (prev >= 0) {
          for (let i = 0; i < bpp && i < n; i++) raw[cur + i] = (raw[cur + i] + (raw[prev + i] >> 1)) & 0xff;
          for (let i = bpp; i < n; i++) {
            raw[cur + i] = (raw[cur + i] + ((raw[cur + i - bpp] + raw[prev + i]) >> 1)) & 0xff;
          }
        } else {
          for (let i = bpp; i < n; i++) raw[cur + i] = (raw[cur + i] + (raw[cur + i - bpp] >> 1)) & 0xff;
        }
        break;
      case 4:
        if (prev >= 0) {
          for (let i = 0; i < bpp && i < n; i++) raw[cur + i] = (raw[cur + i] + raw[prev + i]) & 0xff;
          for (let i = bpp; i < n; i++) {
            const a = raw[cur + i - bpp], b = raw[prev + i], c = raw[prev + i - bpp];
            const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
            const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            raw[cur + i] = (raw[cur + i] + pred) & 0xff;
          }
        } else {
          // With no prior row, Paeth predicts from the left byte (b = c = 0).
          for (let i = bpp; i < n; i++) raw[cur + i] = (raw[cur + i] + raw[cur + i - bpp]) & 0xff;
        }
        break;
      default: {
        const where = opts.pass ? `row ${y} of Adam7 pass ${opts.pass}` : `row ${y}`;
        throw opts.fail(`IDAT: ${where} has filter type ${type} (expected 0 to 4)`);
      }
    }
  }
}

interface ExpandContext {
  header: Header;
  channels: Channels;
  out: Uint8Array;
  raw: Uint8Array;
  palette: Uint8Array | undefined;
  trns: Uint8Array | undefined;
}

/** Converts one pass's unfiltered scanlines to 8-bit output pixels at their place in the image. */
function expandPass(ctx: ExpandContext, p: Pass): void {
  const { header, channels, out, raw, palette, trns } = ctx;
  const { width, depth, colourType } = header;
  const samples = COLOUR_TYPES[colourType].samples;
  const n = p.rowBytes;
  // Fast path: 8-bit rows without tRNS and without interlacing are already the output layout.
  if (depth === 8 && !header.interlaced && colourType !== 3 && !trns) {
    for (let y = 0; y < p.h; y++) {
      const src = p.offset + y * (n + 1) + 1;
      out.set(raw.subarray(src, src + n), y * width * channels);
    }
    return;
  }
  const maxv = (1 << depth) - 1;
  const scale = depth < 8 ? 255 / maxv : 1;
  const lut = colourType === 3 ? paletteLut(palette!, trns) : undefined;
  const trnsGrey = colourType === 0 && trns ? (trns[0] << 8) | trns[1] : -1;
  const trnsRgb = colourType === 2 && trns
    ? [(trns[0] << 8) | trns[1], (trns[2] << 8) | trns[3], (trns[4] << 8) | trns[5]]
    : undefined;
  for (let y = 0; y < p.h; y++) {
    const row = p.offset + y * (n + 1) + 1;
    let d = ((p.y0 + y * p.dy) * width + p.x0) * channels;
    const step = p.dx * channels;
    if (depth < 8) {
      for (let x = 0; x < p.w; x++, d += step) {
        const bit = x * depth;
        const v = (raw[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & maxv;
        if (lut) {
          for (let c = 0; c < channels; c++) out[d + c] = lut[4 * v + c];
        } else {
          out[d] = v * scale;
          if (channels === 2) out[d + 1] = v === trnsGrey ? 0 : 255;
        }
      }
    } else if (depth === 8) {
      for (let x = 0, s = row; x < p.w; x++, d += step, s += samples) {
        if (lut) {
          const v = 4 * raw[s];
          for (let c = 0; c < channels; c++) out[d + c] = lut[v + c];
        } else if (trnsRgb) {
          out[d] = raw[s];
          out[d + 1] = raw[s + 1];
          out[d + 2] = raw[s + 2];
          const hit = raw[s] === trnsRgb[0] && raw[s + 1] === trnsRgb[1] && raw[s + 2] === trnsRgb[2];
          out[d + 3] = hit ? 0 : 255;
        } else if (trnsGrey >= 0) {
          out[d] = raw[s];
          out[d + 1] = raw[s] === trnsGrey ? 0 : 255;
        } else {
          for (let c = 0; c < samples; c++) out[d + c] = raw[s + c];
        }
      }
    } else {
      // 16-bit: keep the high byte (PIL does the same for RGB/RGBA/LA); tRNS compares full samples.
      for (let x = 0, s = row; x < p.w; x++, d += step, s += 2 * samples) {
        for (let c = 0; c < samples; c++) out[d + c] = raw[s + 2 * c];
        if (trnsRgb) {
          const hit = ((raw[s] << 8) | raw[s + 1]) === trnsRgb[0] &&
            ((raw[s + 2] << 8) | raw[s + 3]) === trnsRgb[1] &&
            ((raw[s + 4] << 8) | raw[s + 5]) === trnsRgb[2];
          out[d + 3] = hit ? 0 : 255;
        } else if (trnsGrey >= 0) {
          out[d + 1] = ((raw[s] << 8) | raw[s + 1]) === trnsGrey ? 0 : 255;
        }
      }
    }
  }
}

/** RGBA per palette index (256 entries); indices beyond the PLTE are opaque black. */
function paletteLut(palette: Uint8Array, trns: Uint8Array | undefined): Uint8Array {
  const lut = new Uint8Array(256 * 4);
  for (let v = 0; v < 256; v++) {
    if (3 * v < palette.length) lut.set(palette.subarray(3 * v, 3 * v + 3), 4 * v);
    lut[4 * v + 3] = trns && v < trns.length ? trns[v] : 255;
  }
  return lut;
}
