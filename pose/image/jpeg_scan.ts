/**
 * Decoding of one JPEG scan into DCT coefficients: sequential (baseline/extended Huffman) and the four
 * progressive scan kinds (DC first/refine, AC first/refine), with restart intervals, following libjpeg's
 * jdhuff.c and jdphuff.c.
 * @module
 */

import type { BitReader, HuffmanTable } from "./jpeg_huffman.ts";

/** Zigzag position → natural index; 16 extra entries so that corrupt run lengths land on 63 as in libjpeg. */
const NATURAL: Int32Array = Int32Array.from([
  ...[0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6],
  ...[7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38],
  ...[31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
  ...new Array(16).fill(63),
]);

/** Zigzag position → natural index (64 entries), for DQT parsing. */
export const ZIGZAG_TO_NATURAL: Int32Array = NATURAL.slice(0, 64);

/** A frame component as the scan decoder needs it. */
export interface ScanComponent {
  /** Horizontal and vertical sampling factors. */
  h: number;
  /** Vertical sampling factor. */
  v: number;
  /** Coefficients, 64 per block in natural order, `blocksPerLine` blocks per row (MCU-padded grid). */
  coefs: Int16Array;
  /** Blocks per row of the padded grid. */
  blocksPerLine: number;
  /** Blocks that hold image data, across and down: a non-interleaved scan covers only these. */
  blocksWide: number;
  /** Block rows that hold image data. */
  blocksHigh: number;
  /** DC and AC tables selected by the scan header (undefined where the scan kind needs none). */
  dcTable?: HuffmanTable;
  /** AC table selected by the scan header. */
  acTable?: HuffmanTable;
}

/** What a scan header selects. */
export interface ScanParams {
  /** The scan's components in header order. */
  components: ScanComponent[];
  /** Spectral selection start and end, successive approximation high and low bits. */
  ss: number;
  /** Spectral selection end. */
  se: number;
  /** Successive approximation high bit (0 on a first scan). */
  ah: number;
  /** Successive approximation low bit (the point transform). */
  al: number;
  /** Whether the frame is progressive. */
  progressive: boolean;
  /** MCUs across and down for interleaved scans. */
  mcusX: number;
  /** MCU rows for interleaved scans. */
  mcusY: number;
  /** Restart interval in MCUs (0: none). */
  restartInterval: number;
}

type BlockDecoder = (comp: ScanComponent, ci: number, offset: number) => void;

/** Decodes one scan's entropy-coded data from `reader` into the components' coefficient arrays. */
export function decodeScan(reader: BitReader, scan: ScanParams): void {
  const { components, ss, se, ah, al } = scan;
  const pred = new Int32Array(components.length);
  let eobrun = 0;

  const baseline: BlockDecoder = (c, ci, off) => {
    const co = c.coefs;
    const t = reader.decode(c.dcTable!);
    pred[ci] += t === 0 ? 0 : reader.receiveExtend(t);
    co[off] = pred[ci];
    const ac = c.acTable!;
    for (let k = 1; k < 64; k++) {
      const rs = reader.decode(ac);
      const s = rs & 15, r = rs >> 4;
      if (s !== 0) {
        k += r;
        co[off + NATURAL[k]] = reader.receiveExtend(s);
      } else {
        if (r !== 15) break;
        k += 15;
      }
    }
  };

  const dcFirst: BlockDecoder = (c, ci, off) => {
    const t = reader.decode(c.dcTable!);
    pred[ci] += t === 0 ? 0 : reader.receiveExtend(t);
    c.coefs[off] = pred[ci] << al;
  };

  const dcRefine: BlockDecoder = (c, _ci, off) => {
    if (reader.bit()) c.coefs[off] |= 1 << al;
  };

  const acFirst: BlockDecoder = (c, _ci, off) => {
    if (eobrun > 0) {
      eobrun--;
      return;
    }
    const co = c.coefs, ac = c.acTable!;
    for (let k = ss; k <= se; k++) {
      const rs = reader.decode(ac);
      const s = rs & 15, r = rs >> 4;
      if (s !== 0) {
        k += r;
        co[off + NATURAL[k]] = reader.receiveExtend(s) * (1 << al);
      } else if (r === 15) {
        k += 15;
      } else {
        eobrun = (1 << r) - 1;
        if (r) eobrun += reader.bits(r);
        break;
      }
    }
  };

  const p1 = 1 << al, m1 = -1 << al;
  const acRefine: BlockDecoder = (c, _ci, off) => {
    const co = c.coefs, ac = c.acTable!;
    let k = ss;
    if (eobrun === 0) {
      for (; k <= se; k++) {
        const rs = reader.decode(ac);
        let r = rs >> 4;
        let s = rs & 15;
        if (s !== 0) {
          // s must be 1 (libjpeg warns otherwise and goes on the same way).
          s = reader.bit() ? p1 : m1;
        } else if (r !== 15) {
          eobrun = 1 << r;
          if (r) eobrun += reader.bits(r);
          break;
        }
        // Skip r zero-history coefficients, refining the non-zero ones passed on the way.
        do {
          const z = off + NATURAL[k];
          if (co[z] !== 0) {
            if (reader.bit() && (co[z] & p1) === 0) co[z] += co[z] >= 0 ? p1 : m1;
          } else if (--r < 0) {
            break;
          }
          k++;
        } while (k <= se);
        if (s !== 0) co[off + NATURAL[k]] = s;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const z = off + NATURAL[k];
        if (co[z] !== 0 && reader.bit() && (co[z] & p1) === 0) co[z] += co[z] >= 0 ? p1 : m1;
      }
      eobrun--;
    }
  };

  const decode: BlockDecoder = !scan.progressive
    ? baseline
    : ss === 0
    ? (ah === 0 ? dcFirst : dcRefine)
    : (ah === 0 ? acFirst : acRefine);

  const single = components.length === 1;
  const total = single ? components[0].blocksWide * components[0].blocksHigh : scan.mcusX * scan.mcusY;
  const interval = scan.restartInterval;
  for (let m = 0, sinceRestart = 0; m < total; m++, sinceRestart++) {
    if (interval > 0 && sinceRestart === interval) {
      reader.restart();
      pred.fill(0);
      eobrun = 0;
      sinceRestart = 0;
    }
    if (single) {
      const c = components[0];
      const row = (m / c.blocksWide) | 0, col = m - row * c.blocksWide;
      decode(c, 0, (row * c.blocksPerLine + col) * 64);
    } else {
      const my = (m / scan.mcusX) | 0, mx = m - my * scan.mcusX;
      for (let ci = 0; ci < components.length; ci++) {
        const c = components[ci];
        for (let v = 0; v < c.v; v++) {
          const rowBase = (my * c.v + v) * c.blocksPerLine + mx * c.h;
          for (let h = 0; h < c.h; h++) decode(c, ci, (rowBase + h) * 64);
        }
      }
    }
  }
}
