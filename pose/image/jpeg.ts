/**
 * JPEG decoder (8-bit Huffman: baseline, extended sequential and progressive), written to match libjpeg-turbo
 * as PIL runs it by default: islow integer IDCT, fancy upsampling, integer YCbCr→RGB.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { checkImageSize, type DecodeOptions, type Image } from "./image.ts";
import { planesToRgb, type SamplePlane, upsample } from "./jpeg_color.ts";
import { BitReader, buildHuffmanTable, type HuffmanTable } from "./jpeg_huffman.ts";
import { idctPlane } from "./jpeg_idct.ts";
import { decodeScan, type ScanComponent, ZIGZAG_TO_NATURAL } from "./jpeg_scan.ts";

/** Whether `bytes` starts with a JPEG SOI marker followed by another marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/**
 * Each scan walks every block of its components, so a small hostile file with thousands of cheap scans
 * could take minutes; real files have at most a few dozen (libjpeg's default progression has 10).
 */
const MAX_SCANS = 1000;

interface Component extends ScanComponent {
  id: number;
  /** Quantization table selector, and the table latched when the component's first scan starts. */
  tq: number;
  quant?: Int32Array;
  blocksPerColumn: number;
  /** libjpeg's downsampled_width / downsampled_height. */
  width: number;
  height: number;
}

interface Frame {
  marker: number;
  width: number;
  height: number;
  progressive: boolean;
  hmax: number;
  vmax: number;
  mcusX: number;
  mcusY: number;
  components: Component[];
}

const MARKER_NAMES: Record<number, string> = {
  0xc0: "SOF0",
  0xc1: "SOF1",
  0xc2: "SOF2",
  0xc4: "DHT",
  0xd8: "SOI",
  0xd9: "EOI",
  0xda: "SOS",
  0xdb: "DQT",
  0xdd: "DRI",
  0xfe: "COM",
};

function markerName(m: number): string {
  if (MARKER_NAMES[m]) return MARKER_NAMES[m];
  if (m >= 0xe0 && m <= 0xef) return `APP${m - 0xe0}`;
  if (m >= 0xc0 && m <= 0xcf) return `SOF${m - 0xc0}`;
  if (m >= 0xd0 && m <= 0xd7) return `RST${m - 0xd0}`;
  return `marker 0xFF${m.toString(16).toUpperCase().padStart(2, "0")}`;
}

/**
 * Decodes a JPEG file to 1 channel (greyscale) or 3 channels (RGB). Supports 8-bit Huffman-coded baseline,
 * extended-sequential and progressive files (spectral selection, successive approximation), any integer
 * chroma subsampling (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1...), restart intervals, and skips APPn/COM
 * segments (EXIF, ICC, JFIF...). EXIF orientation is not applied (PIL's `Image.open` does not either).
 * Colour space follows libjpeg: JFIF or component ids 1,2,3 → YCbCr; an Adobe marker with transform 0 or
 * ids 'R','G','B' → RGB as stored.
 *
 * Results equal libjpeg-turbo's default decode (islow IDCT, fancy upsampling) for complete files. Not
 * reproduced: libjpeg's block smoothing of progressive files whose scans stop before the last bit.
 *
 * Throws `InputError` (prefixed by `options.name`) for truncated or malformed files (or over 1000 scans),
 * for arithmetic coding, lossless, hierarchical and 12-bit files, for 2- or 4-component (CMYK/YCCK)
 * files, and for a size over `options.maxPixels`. Corrupt entropy-coded data inside a scan decodes as
 * libjpeg would decode it (missing bits read as zeros, invalid codes as 0) rather than failing.
 */
export function decodeJpeg(bytes: Uint8Array, options: DecodeOptions = {}): Image {
  const name = options.name ?? "image";
  const fail = (msg: string): InputError => new InputError(`${name}: ${msg}`);
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw fail("not a JPEG file (no SOI marker)");
  }

  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let scans = 0;
  let pos = 2;

  for (;;) {
    // Find the next marker, skipping garbage and fill bytes (libjpeg warns about "extraneous bytes").
    while (pos < bytes.length && bytes[pos] !== 0xff) pos++;
    while (pos < bytes.length && bytes[pos] === 0xff) pos++;
    if (pos >= bytes.length) {
      throw fail(
        `file ends at offset ${bytes.length} before the EOI marker (truncated; ${scans} scans read)`,
      );
    }
    const marker = bytes[pos];
    const at = pos - 1;
    pos++;
    if (marker === 0xd9) break;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0x00) continue; // no payload
    if (marker === 0xd8) throw fail(`SOI at offset ${at}: second start-of-image marker`);
    const what = `${markerName(marker)} segment at offset ${at}`;
    if (pos + 2 > bytes.length) throw fail(`${what}: file ends inside the segment length (truncated)`);
    const length = (bytes[pos] << 8) | bytes[pos + 1];
    if (length < 2) throw fail(`${what}: length ${length} (expected ≥ 2)`);
    if (pos + length > bytes.length) {
      throw fail(`${what}: declares ${length} bytes, only ${bytes.length - pos} remain (truncated)`);
    }
    const seg = bytes.subarray(pos + 2, pos + length);
    pos += length;

    if (marker === 0xdb) {
      parseDqt(seg, quant, (m) => fail(`${what}: ${m}`));
    } else if (marker === 0xc4) {
      parseDht(seg, { dc: dcTables, ac: acTables, label: `${name}: ${what}` });
    } else if (marker === 0xdd) {
      if (seg.length < 2) throw fail(`${what}: length ${length} (expected 4)`);
      restartInterval = (seg[0] << 8) | seg[1];
    } else if (marker === 0xe0) {
      if (seg.length >= 5 && String.fromCharCode(...seg.subarray(0, 5)) === "JFIF\0") jfif = true;
    } else if (marker === 0xee) {
      if (seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === "Adobe") {
        adobeTransform = seg[11];
      }
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame) throw fail(`${what}: second frame header`);
      frame = parseFrame(seg, { marker, what, fail, name, maxPixels: options.maxPixels });
    } else if (marker === 0xda) {
      if (!frame) throw fail(`${what}: scan before any frame header (SOFn)`);
      if (++scans > MAX_SCANS) throw fail(`${what}: more than ${MAX_SCANS} scans (corrupt or hostile file)`);
      const label = `${name}: SOS (scan ${scans}) at offset ${at}`;
      const scan = parseScanHeader(seg, {
        frame,
        dcTables,
        acTables,
        quant,
        fail: (m) => new InputError(`${label}: ${m}`),
      });
      const reader = new BitReader(bytes, { pos, label });
      decodeScan(reader, {
        ...scan,
        progressive: frame.progressive,
        mcusX: frame.mcusX,
        mcusY: frame.mcusY,
        restartInterval,
      });
      pos = reader.pos;
    } else if (marker === 0xdc) {
      throw fail(`${what}: DNL (height defined after the first scan) is not supported`);
    } else if (marker === 0xcc) {
      throw fail(`${what}: arithmetic coding is not supported`);
    }
    // APPn, COM, DHP/EXP and reserved markers carry nothing we use.
  }
  if (!frame) throw fail("EOI before any frame header (SOFn)");
  if (scans === 0) throw fail("EOI before any scan (SOS)");
  return render(frame, { jfif, adobeTransform });
}

function parseDqt(seg: Uint8Array, quant: (Int32Array | undefined)[], fail: (m: string) => InputError): void {
  let p = 0;
  while (p < seg.length) {
    const pq = seg[p] >> 4, tq = seg[p] & 15;
    if (pq > 1 || tq > 3) throw fail(`table byte 0x${seg[p].toString(16)} (expected precision 0/1, id 0-3)`);
    const size = pq ? 128 : 64;
    if (p + 1 + size > seg.length) {
      throw fail(`table ${tq} needs ${size} bytes, ${seg.length - p - 1} remain`);
    }
    const t = new Int32Array(64);
    for (let k = 0; k < 64; k++) {
      t[ZIGZAG_TO_NATURAL[k]] = pq ? (seg[p + 1 + 2 * k] << 8) | seg[p + 2 + 2 * k] : seg[p + 1 + k];
    }
    quant[tq] = t;
    p += 1 + size;
  }
}

function parseDht(
  seg: Uint8Array,
  into: { dc: (HuffmanTable | undefined)[]; ac: (HuffmanTable | undefined)[]; label: string },
): void {
  let p = 0;
  while (p < seg.length) {
    const tc = seg[p] >> 4, th = seg[p] & 15;
    if (tc > 1 || th > 3) {
      throw new InputError(`${into.label}: table byte 0x${seg[p].toString(16)} (expected class 0/1, id 0-3)`);
    }
    if (p + 17 > seg.length) throw new InputError(`${into.label}: table ${th} code counts cut short`);
    const counts = seg.subarray(p + 1, p + 17);
    let n = 0;
    for (const c of counts) n += c;
    if (n > 256 || p + 17 + n > seg.length) {
      throw new InputError(
        `${into.label}: table ${th} declares ${n} symbols, ${seg.length - p - 17} bytes remain`,
      );
    }
    const kind = tc ? "AC" : "DC";
    const table = buildHuffmanTable(counts, seg.subarray(p + 17, p + 17 + n), {
      label: `${into.label}: ${kind} table ${th}`,
      dc: tc === 0,
    });
    (tc ? into.ac : into.dc)[th] = table;
    p += 17 + n;
  }
}

function parseFrame(
  seg: Uint8Array,
  ctx: { marker: number; what: string; fail: (m: string) => InputError; name: string; maxPixels?: number },
): Frame {
  const { marker, what } = ctx;
  const fail = (m: string): InputError => ctx.fail(`${what}: ${m}`);
  if (marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf) {
    throw fail("lossless JPEG is not supported");
  }
  if (marker >= 0xc9) throw fail("arithmetic coding is not supported");
  if (marker >= 0xc5) throw fail("hierarchical (differential) JPEG is not supported");
  if (seg.length < 6) throw fail(`length ${seg.length + 2} is too short`);
  const precision = seg[0];
  const height = (seg[1] << 8) | seg[2], width = (seg[3] << 8) | seg[4], n = seg[5];
  if (precision !== 8) throw fail(`${precision}-bit samples are not supported (only 8-bit)`);
  if (height === 0) throw fail("height 0 (defined later by a DNL marker) is not supported");
  checkImageSize(width, height, { name: ctx.name, maxPixels: ctx.maxPixels, what: markerName(marker) });
  if (n === 4) throw fail("4-component (CMYK/YCCK) JPEG is not supported");
  if (n !== 1 && n !== 3) throw fail(`${n} components (expected 1 or 3)`);
  if (seg.length < 6 + 3 * n) throw fail(`length ${seg.length + 2} too short for ${n} components`);
  const raw = [];
  for (let i = 0; i < n; i++) {
    const id = seg[6 + 3 * i], h = seg[7 + 3 * i] >> 4, v = seg[7 + 3 * i] & 15, tq = seg[8 + 3 * i];
    if (h < 1 || h > 4 || v < 1 || v > 4) {
      throw fail(`component ${id}: sampling factors ${h}x${v} (expected 1-4)`);
    }
    if (tq > 3) throw fail(`component ${id}: quantization table ${tq} (expected 0-3)`);
    raw.push({ id, h, v, tq });
  }
  const hmax = Math.max(...raw.map((c) => c.h)), vmax = Math.max(...raw.map((c) => c.v));
  for (const c of raw) {
    if (hmax % c.h !== 0 || vmax % c.v !== 0) {
      throw fail(`component ${c.id}: sampling ${c.h}x${c.v} is not an integer fraction of ${hmax}x${vmax}`);
    }
  }
  const mcusX = Math.ceil(width / (8 * hmax)), mcusY = Math.ceil(height / (8 * vmax));
  const components: Component[] = raw.map((c) => {
    const cw = Math.ceil((width * c.h) / hmax), ch = Math.ceil((height * c.v) / vmax);
    const blocksPerLine = mcusX * c.h, blocksPerColumn = mcusY * c.v;
    return {
      ...c,
      width: cw,
      height: ch,
      blocksPerLine,
      blocksPerColumn,
      blocksWide: Math.ceil(cw / 8),
      blocksHigh: Math.ceil(ch / 8),
      coefs: new Int16Array(blocksPerLine * blocksPerColumn * 64),
    };
  });
  return { marker, width, height, progressive: marker === 0xc2, hmax, vmax, mcusX, mcusY, components };
}

function parseScanHeader(
  seg: Uint8Array,
  ctx: {
    frame: Frame;
    dcTables: (HuffmanTable | undefined)[];
    acTables: (HuffmanTable | undefined)[];
    quant: (Int32Array | undefined)[];
    fail: (m: string) => InputError;
  },
): { components: Component[]; ss: number; se: number; ah: number; al: number } {
  const { frame, fail } = ctx;
  const n = seg[0];
  if (seg.length < 1 || n < 1 || n > 4 || seg.length < 4 + 2 * n) {
    throw fail(`header of ${seg.length + 2} bytes for ${n} components (malformed)`);
  }
  const ss = seg[1 + 2 * n], se = seg[2 + 2 * n], ah = seg[3 + 2 * n] >> 4, al = seg[3 + 2 * n] & 15;
  const prog = frame.progressive;
  if (prog) {
    const bad = ss === 0 ? se !== 0 : se < ss || se > 63 || n !== 1;
    if (bad || al > 13 || (ah !== 0 && al !== ah - 1)) {
      throw fail(`invalid progressive parameters Ss=${ss} Se=${se} Ah=${ah} Al=${al} for ${n} components`);
    }
  }
  const components: Component[] = [];
  let blocks = 0;
  for (let i = 0; i < n; i++) {
    const id = seg[1 + 2 * i], td = seg[2 + 2 * i] >> 4, ta = seg[2 + 2 * i] & 15;
    const c = frame.components.find((x) => x.id === id);
    if (!c) throw fail(`component id ${id} is not in the frame header`);
    if (components.includes(c)) throw fail(`component id ${id} appears twice`);
    const needDc = !prog || (ss === 0 && ah === 0);
    const needAc = !prog || ss > 0;
    c.dcTable = needDc ? ctx.dcTables[td] : undefined;
    c.acTable = needAc ? ctx.acTables[ta] : undefined;
    if (needDc && !c.dcTable) throw fail(`component ${id}: DC Huffman table ${td} is not defined`);
    if (needAc && !c.acTable) throw fail(`component ${id}: AC Huffman table ${ta} is not defined`);
    if (!c.quant) {
      // libjpeg latches a component's quantization table when its first scan starts.
      const q = ctx.quant[c.tq];
      if (!q) throw fail(`component ${id}: quantization table ${c.tq} is not defined`);
      c.quant = q.slice();
    }
    components.push(c);
    blocks += c.h * c.v;
  }
  if (n > 1 && blocks > 10) throw fail(`${blocks} blocks per MCU (at most 10 allowed)`);
  return { components, ss, se, ah, al };
}

function render(
  frame: Frame,
  ctx: { jfif: boolean; adobeTransform: number },
): Image {
  const { width, height, hmax, vmax, components } = frame;
  const planes: SamplePlane[] = components.map((c) => {
    // A component that no scan covered decodes as mid-grey, like libjpeg's zeroed coefficients.
    const data = idctPlane(c, c.quant ?? new Int32Array(64));
    const plane = { data, stride: c.blocksPerLine * 8, width: c.width, height: c.height };
    return upsample(plane, { h: hmax / c.h, v: vmax / c.v, outWidth: width, outHeight: height });
  });
  if (components.length === 1) {
    const p = planes[0];
    const data = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) data.set(p.data.subarray(y * p.stride, y * p.stride + width), y * width);
    return { width, height, channels: 1, data };
  }
  const ids = components.map((c) => c.id).join(",");
  const rgb = ctx.jfif ? false : ctx.adobeTransform >= 0 ? ctx.adobeTransform === 0 : ids === "82,71,66";
  const data = planesToRgb(planes as [SamplePlane, SamplePlane, SamplePlane], {
    width,
    height,
    transform: !rgb,
  });
  return { width, height, channels: 3, data };
}
