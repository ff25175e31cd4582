/**
 * GPU random kernels on Philox4x32-10 (the same bits as `engine/random.ts` on the host): uniform and
 * normal fills, and dropout. Counter-based: element `i` uses the block with counter (i, 0, 0, 0) under
 * the seed's key, so a mask is a pure function of (seed, index) — the backward pass recomputes it instead
 * of saving it, and the same seed gives the same mask on every adapter (the keep test is an integer
 * comparison).
 * @module
 */

import { forEachRowChunk } from "../chunking.ts";
import { dropThreshold, seedKey } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

/** WGSL of `philox(ctr, key) -> vec4<u32>` (mulhi by 16-bit halves: WGSL has no 64-bit product). */
export const PHILOX_WGSL = `
fn mulhi32(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr; var k = key;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = mulhi32(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi32(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}
fn u01(x: u32) -> f32 { return f32(x >> 8u) * (1.0 / 16777216.0); }
`;

function keyWords(seed: number): [number, number] {
  return seedKey(seed);
}

/** A tensor of uniforms in [low, high) from `seed` (element i: word 0 of block i). */
export function randomUniform(
  shape: readonly number[],
  options: { seed: number; low?: number; high?: number },
): Tensor {
  const out = output(shape);
  const code = `${storageDecl([], [{ name: "Y" }])}${uniformDecl(1, 5)}${PHILOX_WGSL}
${flatMain()}  if (gi >= P(0u)) { return; }
  let w = philox(vec4<u32>(gi, 0u, 0u, 0u), vec2<u32>(P(1u), P(2u)));
  Y[gi] = PF(3u) + (PF(4u) - PF(3u)) * u01(w.x);
}`;
  const lo = options.low ?? 0, hi = options.high ?? 1;
  const u = new Uniforms().int(out.size, ...keyWords(options.seed)).float(lo, hi);
  runFlat(compile(code, 1, "random_uniform"), [out.buf], u, out.size);
  return out;
}

/** A tensor of normals from `seed` (Box–Muller on words 0 and 1 of block i; GPU transcendental precision). */
export function randomNormal(
  shape: readonly number[],
  options: { seed: number; mean?: number; std?: number },
): Tensor {
  const out = output(shape);
  const code = `${storageDecl([], [{ name: "Y" }])}${uniformDecl(1, 5)}${PHILOX_WGSL}
${flatMain()}  if (gi >= P(0u)) { return; }
  let w = philox(vec4<u32>(gi, 0u, 0u, 0u), vec2<u32>(P(1u), P(2u)));
  let u1 = 1.0 - u01(w.x); let u2 = u01(w.y);
  Y[gi] = PF(3u) + PF(4u) * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}`;
  const u = new Uniforms().int(out.size, ...keyWords(options.seed)).float(
    options.mean ?? 0,
    options.std ?? 1,
  );
  runFlat(compile(code, 1, "random_normal"), [out.buf], u, out.size);
  return out;
}

/**
 * Inverted dropout: `y = keep(i) ? x·1/(1−p) : 0` with the keep test of `engine/random.ts`
 * (`dropoutMask`: word i mod 4 of block ⌊i/4⌋). Applying it to an upstream gradient with the same seed is
 * its backward. Sizes divisible by 4 run one vec4 per invocation (one Philox block, vector loads).
 */
export function dropoutApply(x: Tensor, options: { p: number; seed: number }): Tensor {
  const out = output(x.shape);
  const t = dropThreshold(options.p);
  const scale = options.p >= 1 ? 0 : 1 / (1 - options.p);
  const lane = x.size % 4 === 0 ? 4 : 1;
  // P(5): the chunk's first element (vec4: first vector), so a chunked run draws the same mask.
  const code = lane === 4
    ? `${storageDecl([{ name: "X", type: "vec4<f32>" }], [{ name: "Y", type: "vec4<f32>" }])}${
      uniformDecl(2, 6)
    }${PHILOX_WGSL}
${flatMain()}  if (gi >= P(0u)) { return; }
  let w = philox(vec4<u32>(gi + P(5u), 0u, 0u, 0u), vec2<u32>(P(1u), P(2u)));
  Y[gi] = select(X[gi] * PF(4u), vec4<f32>(0.0), w < vec4<u32>(P(3u)));
}`
    : `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 6)}${PHILOX_WGSL}
${flatMain()}  if (gi >= P(0u)) { return; }
  let e = gi + P(5u);
  let w = philox(vec4<u32>(e / 4u, 0u, 0u, 0u), vec2<u32>(P(1u), P(2u)));
  Y[gi] = select(X[gi] * PF(4u), 0.0, w[e % 4u] < P(3u));
}`;
  const kernel = compile(code, 2, `dropout:${lane}`);
  // Over one binding: in flat chunks (engine/chunking.ts).
  forEachRowChunk(x.size / lane, [4 * lane], (start, n, bind) => {
    const u = new Uniforms().int(n, ...keyWords(options.seed), t).float(scale).int(start);
    runFlat(kernel, [bind(x.buf, 4 * lane), bind(out.buf, 4 * lane)], u, n);
  }, { what: "dropout" });
  return out;
}
