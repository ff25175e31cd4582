/**
 * Parameter initialisation: a small seeded random generator and PyTorch's default schemes. Layers seed
 * their generator from the engine's process-wide stream, so `manualSeed` (engine/random.ts) makes a
 * fresh model reproducible (weights of a model that then loads a checkpoint are overwritten anyway).
 * @module
 */

import { nextSeed } from "../engine/random.ts";

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** A seeded generator (mulberry32): fast, reproducible, good enough for initialisation and dropout masks. */
export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  return (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator a layer uses when none is given: seeded from the engine's stream (`manualSeed`). */
export function nextRng(): Rng {
  return seededRng(nextSeed() % 4294967296);
}

/** `n` values uniform in [−bound, bound). */
export function uniform(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() * 2 - 1) * bound;
  return out;
}

/**
 * PyTorch's default bound for Linear/Conv weights and biases: `kaiming_uniform_(a=√5)` reduces to
 * U(−1/√fan_in, 1/√fan_in), and the bias uses the same bound.
 */
export function defaultBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}
