/**
 * Host-side IEEE binary16 conversion for f16 tensors: f32 → f16 with round-to-nearest-even, gradual
 * underflow to subnormals, overflow to ±inf and NaN kept NaN (bit-exact with numpy's
 * `astype(np.float16)`), and the exact f16 → f32 expansion. The scalar rules live in `safetensors.ts`
 * (`f32ToF16Bits`, `f16BitsToF32`); these are their bulk forms over typed arrays.
 * @module
 */

import { f16BitsToF32 } from "./safetensors.ts";

/**
 * The binary16 bits of every value of `src` (each first rounded to f32), in a `Uint16Array` of
 * `options.length` elements (default `src.length`; extra elements are +0, used to pad odd counts).
 */
export function f32ToF16Array(
  src: Float32Array | ArrayLike<number>,
  options: { length?: number } = {},
): Uint16Array {
  const f = src instanceof Float32Array ? src : Float32Array.from(src);
  const n = f.length;
  const out = new Uint16Array(Math.max(options.length ?? n, n));
  // Reads the f32 bits directly (no per-element scratch); same arithmetic as `f32ToF16Bits`.
  const bits = new Uint32Array(f.buffer, f.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    if (exp === 0xff) {
      if (mant === 0) out[i] = sign | 0x7c00;
      else {
        const h = 0x7c00 | (mant >>> 13);
        out[i] = sign | (h === 0x7c00 ? 0x7c01 : h);
      }
      continue;
    }
    const e = exp - 112; // exp - 127 + 15
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      let q = m >>> shift;
      const r = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (r > half || (r === half && (q & 1) === 1)) q++;
      out[i] = sign | q;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const r = mant & 0x1fff;
    if (r > 0x1000 || (r === 0x1000 && (h & 1) === 1)) h++;
    out[i] = sign | h;
  }
  return out;
}

let table: Float32Array | undefined;

/** The exact f32 values of binary16 bits (the first `options.length` elements, default all). */
export function f16ToF32Array(bits: Uint16Array, options: { length?: number } = {}): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32(h);
  }
  const n = Math.min(options.length ?? bits.length, bits.length);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[bits[i]];
  return out;
}

/** Values of `src` rounded to the nearest binary16 and back (what an f16 tensor of `src` reads back). */
export function roundToF16(src: Float32Array | ArrayLike<number>): Float32Array {
  return f16ToF32Array(f32ToF16Array(src));
}

/** Bytes of a GPU buffer holding `n` packed halves: 2 per element, rounded up to a multiple of 4. */
export function f16Bytes(n: number): number {
  return Math.ceil(n / 2) * 4;
}
