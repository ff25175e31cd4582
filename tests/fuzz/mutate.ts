/**
 * Seeded mutations for the parser fuzzer: a small PRNG, byte-level mutations (bit flips, insertions,
 * deletions, truncation, chunk duplication, integer fields set to edge values), text-level number swaps
 * (NaN, Infinity, -0, 1e308, huge and negative counts) and structure-aware JSON mutations (type swaps,
 * removed/added keys, duplicated elements, deep nesting). Everything is a pure function of the seed, so a
 * failing case is reproduced from `(parser, seed, case)` alone.
 * @module
 */

/** A seeded PRNG (mulberry32): fast, 32-bit state, good enough to pick mutations. */
export class Rng {
  private state: number;
  /** Starts a generator from a 32-bit seed. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n) (0 when n ≤ 0). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  /** A uniform element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/** Derives the seed of one case from a run seed and the case index (so cases are independent). */
export function caseSeed(runSeed: number, index: number): number {
  // The seed is mixed before the index is added, so (seed, index) pairs do not collide as with XOR.
  return fmix32((fmix32(runSeed >>> 0) + Math.imul(index, 0x9e3779b1)) >>> 0);
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Numbers that break parsers: signs, zeros, overflow to infinity, the float32/int32/u32/safe-integer edges. */
export const EDGE_NUMBERS: readonly string[] = [
  "0",
  "-0",
  "-1",
  "1e308",
  "-1e308",
  "1e309",
  "-1e309",
  "5e-324",
  "3.5e38",
  "2147483647",
  "2147483648",
  "-2147483649",
  "4294967295",
  "4294967296",
  "9007199254740993",
  "1e21",
  "99999999999",
  "1000000000",
  "0.5",
];

/** Tokens that are not JSON numbers but that text formats (CSV, BVH) may meet: NaN, Infinity and junk. */
export const EDGE_TOKENS: readonly string[] = [
  ...EDGE_NUMBERS,
  "NaN",
  "Infinity",
  "-Infinity",
  "nan",
  "inf",
  "",
  "1e",
  "0x10",
  "+",
  "1,5",
];

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

/** One byte-level mutation of `b` (a new array; `b` is not changed). */
export function mutateBytes(b: Uint8Array, rng: Rng): Uint8Array {
  const n = b.length;
  switch (rng.int(8)) {
    case 0: { // flip 1..8 bits
      const out = b.slice();
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips && n > 0; i++) out[rng.int(n)] ^= 1 << rng.int(8);
      return out;
    }
    case 1: { // set bytes to edge values
      const out = b.slice();
      const count = 1 + rng.int(4);
      for (let i = 0; i < count && n > 0; i++) {
        out[rng.int(n)] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
      }
      return out;
    }
    case 2: { // insert random bytes
      const at = rng.int(n + 1);
      const ins = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
      return concat(b.subarray(0, at), ins, b.subarray(at));
    }
    case 3: { // delete a range
      if (n === 0) return b.slice();
      const at = rng.int(n);
      const len = 1 + rng.int(Math.min(64, n - at));
      return concat(b.subarray(0, at), b.subarray(at + len));
    }
    case 4: // truncate
      return b.slice(0, rng.int(n + 1));
    case 5: { // duplicate a chunk somewhere (possibly several times)
      if (n === 0) return b.slice();
      const from = rng.int(n);
      const len = 1 + rng.int(Math.min(256, n - from));
      const chunk = b.subarray(from, from + len);
      const at = rng.int(n + 1);
      const times = 1 + (rng.chance(0.2) ? rng.int(8) : 0);
      const parts: Uint8Array[] = [b.subarray(0, at)];
      for (let i = 0; i < times; i++) parts.push(chunk);
      parts.push(b.subarray(at));
      return concat(...parts);
    }
    case 6: { // a 16/32-bit field set to an edge value, either endianness (sizes, counts, lengths)
      const out = b.slice();
      const width = rng.pick([2, 4]);
      if (n < width) return out;
      const at = rng.int(n - width + 1);
      const v = rng.pick(INTERESTING_U32);
      const le = rng.chance(0.5);
      for (let i = 0; i < width; i++) {
        const shift = 8 * (le ? i : width - 1 - i);
        out[at + i] = (v >>> shift) & 0xff;
      }
      return out;
    }
    default: { // overwrite a range with a copy of another range
      const out = b.slice();
      if (n < 2) return out;
      const len = 1 + rng.int(Math.min(32, n - 1));
      const from = rng.int(n - len + 1), to = rng.int(n - len + 1);
      out.set(b.subarray(from, from + len), to);
      return out;
    }
  }
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const NUMBER_RE = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** Replaces one number in a text (chosen at random) with an edge value or token. */
export function mutateNumberInText(text: string, rng: Rng, tokens: readonly string[] = EDGE_TOKENS): string {
  const spans: [number, number][] = [];
  for (const m of text.matchAll(NUMBER_RE)) {
    spans.push([m.index!, m.index! + m[0].length]);
    if (spans.length >= 4096) break;
  }
  if (spans.length === 0) return text;
  const [s, e] = rng.pick(spans);
  return text.slice(0, s) + rng.pick(tokens) + text.slice(e);
}

/** Duplicates or removes whole lines (rows of CSV, motion rows and hierarchy lines of BVH). */
export function mutateLines(text: string, rng: Rng): string {
  const lines = text.split("\n");
  const i = rng.int(lines.length);
  switch (rng.int(4)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, ...Array(1 + rng.int(3)).fill(lines[i]));
      break;
    case 2:
      lines.splice(i, 0, lines[rng.int(lines.length)]);
      break;
    default: { // split a line in two
      const l = lines[i];
      const at = rng.int(l.length + 1);
      lines.splice(i, 1, l.slice(0, at), l.slice(at));
    }
  }
  return lines.join("\n");
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every (container, key) pair of a JSON value, breadth-first, up to `limit` of them. */
function slots(root: Json, limit: number): { parent: Json[] | Record<string, Json>; key: string | number }[] {
  const out: { parent: Json[] | Record<string, Json>; key: string | number }[] = [];
  const queue: Json[] = [root];
  for (let head = 0; head < queue.length && out.length < limit; head++) {
    const v = queue[head];
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        queue.push(x);
      });
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v, key: k });
        queue.push(x);
      }
    }
  }
  return out;
}

// A placeholder replaced after serialisation by deeply nested brackets (JSON.stringify of a really
// deep value would itself run out of stack).
const DEEP = "\u0001deep\u0001";

function swapType(v: Json, rng: Rng): Json {
  const choices: (() => Json)[] = [
    () => null,
    () => rng.chance(0.5),
    () => Number(rng.pick(EDGE_NUMBERS)),
    () => typeof v === "number" ? String(v) : rng.pick(["", "x", "1", "NaN", "h36m17", "posegpu-pose"]),
    () => [],
    () => [v],
    () => ({}),
    () => Array.isArray(v) ? v.length : typeof v === "string" ? Number(v) : 0,
    () => DEEP,
  ];
  return rng.pick(choices)();
}

/** One structure-aware mutation of a JSON text (falls back to a byte mutation when it does not parse). */
export function mutateJson(text: string, rng: Rng): string {
  let root: Json;
  try {
    root = JSON.parse(text);
  } catch {
    return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), rng));
  }
  const all = slots(root, 20000);
  if (all.length === 0) return JSON.stringify(swapType(root, rng));
  const { parent, key } = rng.pick(all);
  const get = (): Json => (parent as Record<string | number, Json>)[key];
  const set = (v: Json) => {
    (parent as Record<string | number, Json>)[key] = v;
  };
  switch (rng.int(7)) {
    case 0:
    case 1:
      set(swapType(get(), rng));
      break;
    case 2: // a number set to an edge value
      set(typeof get() === "number" ? Number(rng.pick(EDGE_NUMBERS)) : swapType(get(), rng));
      break;
    case 3: // delete the key / element
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
      break;
    case 4: // duplicate an element (or add an extra key)
      if (Array.isArray(parent)) parent.splice(key as number, 0, ...Array(1 + rng.int(3)).fill(get()));
      else parent[`${key}_${rng.int(10)}`] = get();
      break;
    case 5: { // a long array in place of the value (of scalars: copies of a subtree would be megabytes)
      const v = get();
      const scalar = v === null || typeof v !== "object";
      set(Array(rng.pick([0, 1, 2, 100, 5000])).fill(scalar && rng.chance(0.5) ? v : 0));
      break;
    }
    default:
      set(DEEP);
  }
  const depth = rng.pick([64, 1000, 20000]);
  let out: string;
  try {
    out = JSON.stringify(root);
  } catch {
    // Already nested too deep for JSON.stringify (an earlier mutation): mutate the bytes instead.
    return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), rng));
  }
  return out.replaceAll(JSON.stringify(DEEP), "[".repeat(depth) + "1" + "]".repeat(depth));
}
