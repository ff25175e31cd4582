// Deterministic "hash" weights and inputs, bit-identical to hash_value()/hash_input() in
// tests/fixtures/gen_image_models.py: the image networks (ResNet-50 has 25 M parameters) are far too big
// to store as fixtures, so both sides generate the same values from the key names.
import type { HostTensor } from "../../engine/mod.ts";
import type { StateDict } from "../../layers/mod.ts";

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(s)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

/** `n` values in [−0.5, 0.5) from a counter hash of (name, index). */
export function hashUniform(name: string, n: number): Float64Array {
  const seed = fnv1a(name);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 2654435761 | 0) + seed) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = h / 4294967296 - 0.5;
  }
  return out;
}

/** The value of one state-dict entry, as hash_value() in the generator. */
export function hashValue(name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = hashUniform(name, n);
  const v = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const bound = 2 * Math.sqrt(6 / fanIn);
  for (let i = 0; i < n; i++) {
    if (name.endsWith("running_var")) v[i] = 1 + 0.5 * u[i];
    else if (name.endsWith("running_mean") || name.endsWith(".bias")) v[i] = 0.2 * u[i];
    else if (shape.length === 1) v[i] = 1 + 0.4 * u[i];
    else v[i] = u[i] * bound;
  }
  return v;
}

/** Hash values for every float entry of a key/shape list (counters are 0). */
export function hashStateDict(keys: readonly (readonly [string, readonly number[]])[]): StateDict {
  const sd: StateDict = new Map();
  for (const [name, shape] of keys) {
    if (name.endsWith("num_batches_tracked")) {
      sd.set(name, { dtype: "I64", shape: [], data: Int32Array.of(0) } as HostTensor);
      continue;
    }
    sd.set(name, { dtype: "F32", shape: [...shape], data: hashValue(name, shape) } as HostTensor);
  }
  return sd;
}

/** The hash input of a case (values in [−1, 1)). */
export function hashInput(name: string, shape: readonly number[]): Float32Array {
  const u = hashUniform(name, shape.reduce((a, b) => a * b, 1));
  return Float32Array.from(u, (v) => 2 * v);
}

/** A module's state-dict keys with their shapes, in `state_dict()` order (counters have shape []). */
export function moduleKeys(
  m: {
    stateDictKeys(): string[];
    namedParameters(): [string, { shape: readonly number[] }][];
    namedBuffers(): [string, unknown][];
  },
): [string, number[]][] {
  const shapes = new Map<string, number[]>();
  for (const [n, t] of m.namedParameters()) shapes.set(n, [...t.shape]);
  for (const [n, b] of m.namedBuffers()) {
    const s = (b as { shape?: readonly number[] }).shape;
    shapes.set(n, s ? [...s] : []);
  }
  return m.stateDictKeys().map((k) => [k, shapes.get(k)!]);
}
