/**
 * Seeded randomness, identical on the host and on the GPU: Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11; the generator of Random123, cuRAND and PyTorch's
 * CUDA back end). It is counter-based: word `k` of block `counter` under key `seed` is a pure function, so
 * a GPU kernel (engine/kernels/random.ts) and this file produce the same bits for the same seed, and the
 * same seed always gives the same run. Integer outputs are exact everywhere; floats are derived from
 * them by exact scalings (uniform) or by host `Math` functions (normal, host only).
 *
 * - `philox4x32(counter, key)`: one block (checked against Random123's known-answer vectors).
 * - `Rng`: a sequential stream over the blocks of one key (weight init, shuffling, data synthesis).
 * - `manualSeed` / `nextSeed`: the process-wide seed stream that ops such as `dropout` draw from when
 *   no explicit seed is given.
 * @module
 */

import { InputError } from "./errors.ts";

const M0 = 0xd2511f53, M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (by 16-bit halves, as the WGSL version does). */
function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block: four u32 words from a 128-bit counter and a 64-bit key. Writes into
 * `options.out` when given (no allocation in hot loops).
 */
export function philox4x32(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  options: { out?: Uint32Array } = {},
): Uint32Array {
  const out = options.out ?? new Uint32Array(4);
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** Splits a seed (a non-negative safe integer) into the two key words [low 32 bits, high 21 bits]. */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new InputError(`a seed must be a non-negative safe integer, got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/** A uniform float in [0, 1) from a u32, exactly as the GPU kernels compute it (24 bits, float32-exact). */
export function u32ToUniform(x: number): number {
  return (x >>> 8) * (1 / 16777216);
}

/**
 * The dropout keep test shared with the GPU kernel: element `i` is kept when word `i mod 4` of the Philox
 * block with counter (⌊i/4⌋, 0, 0, 0) and the seed's key is ≥ `dropThreshold(p)` (one block serves four
 * elements: the ten Philox rounds were most of the kernel's cost).
 */
export function dropThreshold(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new InputError(`dropout probability must be in [0, 1], got ${p}`);
  return Math.min(4294967295, Math.round(p * 4294967296));
}

/** Host mirror of the GPU dropout mask: 1 where element `i` of `n` is kept (for tests and debugging). */
export function dropoutMask(n: number, options: { p: number; seed: number }): Uint8Array {
  const key = seedKey(options.seed), t = dropThreshold(options.p);
  const out = new Uint8Array(n), ctr = [0, 0, 0, 0], w = new Uint32Array(4);
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) {
      ctr[0] = i / 4;
      philox4x32(ctr, key, { out: w });
    }
    out[i] = options.p > 0 && w[i % 4] < t ? 0 : 1;
  }
  return out;
}

/**
 * A sequential stream of random numbers: the words of Philox blocks 0, 1, 2, … under the key `seed`.
 * Same seed → same sequence on every platform (`normal()` uses host `Math.log/cos`, so it is exact
 * for a given JavaScript engine).
 */
export class Rng {
  readonly #key: [number, number];
  #block = 0;
  #word = 4;
  readonly #buf = new Uint32Array(4);
  readonly #ctr = [0, 0, 0, 0];
  #spare: number | null = null;

  /** A stream for `seed` (a non-negative safe integer). */
  constructor(seed: number) {
    this.#key = seedKey(seed);
  }

  /** The next u32. */
  nextU32(): number {
    if (this.#word === 4) {
      // The block index fills counter words 0 and 1, so a stream has 2^64 blocks.
      this.#ctr[0] = this.#block >>> 0;
      this.#ctr[1] = Math.floor(this.#block / 4294967296) >>> 0;
      philox4x32(this.#ctr, this.#key, { out: this.#buf });
      this.#block++;
      this.#word = 0;
    }
    return this.#buf[this.#word++];
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n) (rejection sampling: no modulo bias). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new InputError(`Rng.int needs 1 ≤ n ≤ 2^32`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u1 = 1 - this.uniform(); // in (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Fills an array with uniforms in [low, high). */
  fillUniform(out: Float32Array, options: { low?: number; high?: number } = {}): Float32Array {
    const lo = options.low ?? 0, hi = options.high ?? 1;
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** Fills an array with normals of the given mean and standard deviation. */
  fillNormal(out: Float32Array, options: { mean?: number; std?: number } = {}): Float32Array {
    const m = options.mean ?? 0, s = options.std ?? 1;
    for (let i = 0; i < out.length; i++) out[i] = m + s * this.normal();
    return out;
  }

  /** An in-place Fisher–Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

let global = new Rng(0);

/** Re-seeds the process-wide seed stream (`nextSeed`), like `torch.manual_seed`. */
export function manualSeed(seed: number): void {
  global = new Rng(seed);
}

/** The next seed of the process-wide stream (a 53-bit integer): ops draw from it when given no seed. */
export function nextSeed(): number {
  const hi = global.nextU32() & 0x1fffff, lo = global.nextU32();
  return hi * 4294967296 + lo;
}
