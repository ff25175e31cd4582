// Deterministic "hash" weights for the default-size Martinez model and SRNet at 1024 channels,
// bit-identical to hash_tensor() in tests/fixtures/gen_models.py (too big to store as fixtures).
// 1-D weights (BatchNorm scales) are 1 ± 0.2; other weights ±sqrt(3 / shape[1]).
import type { HostTensor } from "../../engine/mod.ts";
import type { StateDict } from "../../layers/mod.ts";

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(s)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

function hashUniform(name: string, n: number): Float64Array {
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

/** The hash value of every float tensor of a model's key/shape list (counters are left out). */
export function hashStateDict(keys: [string, readonly number[]][]): StateDict {
  const sd: StateDict = new Map();
  for (const [name, shape] of keys) {
    if (name.endsWith("num_batches_tracked")) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const u = hashUniform(name, n);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (name.endsWith("running_var")) v[i] = 1 + 0.5 * u[i];
      else if (name.endsWith("running_mean") || name.endsWith(".bias")) v[i] = 0.2 * u[i];
      else if (name.endsWith(".weight") && (name.includes("batch_norm") || shape.length === 1)) {
        v[i] = 1 + 0.4 * u[i];
      } else v[i] = u[i] * (2 * Math.sqrt(3 / shape[1]));
    }
    sd.set(name, { dtype: "F32", shape: [...shape], data: v } as HostTensor);
  }
  return sd;
}
