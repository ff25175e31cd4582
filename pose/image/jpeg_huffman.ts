/**
 * JPEG entropy-coded data: Huffman tables (with a 9-bit lookup for short codes) and the bit reader, which
 * removes 0xFF00 byte stuffing and stops at markers the way libjpeg does.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

const FAST_BITS = 9;

/** A decoding table built from a DHT segment (JPEG Annex C / F.2.2.3). */
export interface HuffmanTable {
  /** Entry per 9-bit prefix: `(length << 8) | symbol`, or 0 when the code is longer than 9 bits. */
  fast: Uint16Array;
  /** Largest code of each length 1–16, -1 when none (index 17 is a sentinel). */
  maxcode: Int32Array;
  /** Index into `values` of the first code of each length, minus that code. */
  valoffset: Int32Array;
  /** Symbols in code order. */
  values: Uint8Array;
}

/**
 * Builds a decoding table from the 16 code-length counts and the symbols of a DHT table. Throws
 * `InputError` (prefixed by `options.label`) when the counts overflow the code space, as libjpeg does,
 * or when a DC table has a symbol over 15.
 */
export function buildHuffmanTable(
  counts: Uint8Array,
  symbols: Uint8Array,
  options: { label: string; dc: boolean },
): HuffmanTable {
  const maxcode = new Int32Array(18).fill(-1);
  const valoffset = new Int32Array(18);
  const fast = new Uint16Array(1 << FAST_BITS);
  let code = 0, k = 0, lastLen = 0;
  for (let len = 1; len <= 16; len++) if (counts[len - 1] > 0) lastLen = len;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    valoffset[len] = k - code;
    for (let i = 0; i < n; i++, k++, code++) {
      if (len <= FAST_BITS) {
        const shift = FAST_BITS - len;
        fast.fill((len << 8) | symbols[k], code << shift, (code + 1) << shift);
      }
    }
    if (n > 0) maxcode[len] = code - 1;
    // As libjpeg: codes must fit their length and none may be all ones.
    if (len <= lastLen && code >= 1 << len) {
      throw new InputError(
        `${options.label}: code lengths overflow the code space at length ${len} (bad table)`,
      );
    }
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  if (options.dc) {
    for (let i = 0; i < k; i++) {
      if (symbols[i] > 15) throw new InputError(`${options.label}: DC symbol ${symbols[i]} (expected ≤ 15)`);
    }
  }
  return { fast, maxcode, valoffset, values: symbols.slice(0, k) };
}

/**
 * Reads bits from an entropy-coded segment starting at `pos`. Past a marker (or a byte pair that is not
 * stuffing) it supplies zero bits, as libjpeg does for corrupt data, and leaves `pos` on the marker.
 * Reaching the end of the file inside a scan throws (the file is truncated: a scan must end at a marker).
 */
export class BitReader {
  /** The whole file. */
  readonly data: Uint8Array;
  /** Next byte to read; on a marker once `markerHit`. */
  pos: number;
  /** Up to 31 buffered bits, right-aligned (bits above `count` are zero). */
  buf = 0;
  /** Number of valid bits in `buf`. */
  count = 0;
  /** Whether a marker stopped the reading (further bits are zeros). */
  markerHit = false;
  /** Prefix of the truncation error message, e.g. `photo.jpg: SOS (scan 2)`. */
  label: string;

  /** Creates a reader over `data` from `pos`; `label` prefixes errors. */
  constructor(data: Uint8Array, options: { pos: number; label: string }) {
    this.data = data;
    this.pos = options.pos;
    this.label = options.label;
  }

  /** Tops the buffer up to at least 24 bits. */
  fill(): void {
    const data = this.data;
    while (this.count <= 23) {
      let b = 0;
      if (!this.markerHit) {
        const p = this.pos;
        if (p >= data.length) {
          throw new InputError(`${this.label}: entropy-coded data runs to the end of the file (truncated)`);
        }
        b = data[p];
        if (b === 0xff) {
          // Fill bytes (extra 0xFF) may precede a marker; 0xFF 0x00 is a stuffed 0xFF data byte.
          let q = p + 1;
          while (q < data.length && data[q] === 0xff) q++;
          if (q >= data.length) {
            throw new InputError(`${this.label}: entropy-coded data runs to the end of the file (truncated)`);
          }
          if (data[q] === 0) {
            this.pos = q + 1;
          } else {
            this.markerHit = true;
            this.pos = q - 1;
            b = 0;
          }
        } else {
          this.pos = p + 1;
        }
      }
      this.buf = (this.buf << 8) | b;
      this.count += 8;
    }
  }

  /** Reads `n` (0–16) bits as an unsigned number. */
  bits(n: number): number {
    if (this.count < n) this.fill();
    this.count -= n;
    const v = this.buf >>> this.count;
    this.buf &= (1 << this.count) - 1;
    return v;
  }

  /** Reads one bit. */
  bit(): number {
    if (this.count < 1) this.fill();
    this.count--;
    const v = this.buf >>> this.count;
    this.buf &= (1 << this.count) - 1;
    return v;
  }

  /** Reads `n` bits and sign-extends them as a JPEG magnitude category value (F.2.2.1 EXTEND). */
  receiveExtend(n: number): number {
    if (n === 0) return 0;
    const v = this.bits(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  /** Decodes one Huffman symbol; an invalid code yields 0 (libjpeg warns and does the same). */
  decode(t: HuffmanTable): number {
    if (this.count < 16) this.fill();
    const e = t.fast[(this.buf >>> (this.count - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
    if (e !== 0) {
      this.count -= e >> 8;
      this.buf &= (1 << this.count) - 1;
      return e & 0xff;
    }
    for (let len = FAST_BITS + 1; len <= 16; len++) {
      const code = this.buf >>> (this.count - len);
      if (code <= t.maxcode[len]) {
        this.count -= len;
        this.buf &= (1 << this.count) - 1;
        return t.values[t.valoffset[len] + code];
      }
    }
    this.count -= 16;
    this.buf &= (1 << this.count) - 1;
    return 0;
  }

  /**
   * Handles a restart boundary: drops the partial byte and moves past the next RSTn marker, skipping any
   * garbage before it. A different marker is left in place (the following data then reads as zeros).
   */
  restart(): void {
    this.buf = 0;
    this.count = 0;
    this.markerHit = false;
    const data = this.data;
    let p = this.pos;
    while (p + 1 < data.length && !(data[p] === 0xff && data[p + 1] !== 0 && data[p + 1] !== 0xff)) p++;
    if (p + 1 >= data.length) {
      throw new InputError(`${this.label}: file ends where a restart marker was expected (truncated)`);
    }
    this.pos = data[p + 1] >= 0xd0 && data[p + 1] <= 0xd7 ? p + 2 : p;
  }
}
