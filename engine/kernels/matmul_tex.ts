/**
 * Texture-operand matmul for CPU (software) adapters: `C = act(op(A)·op(B) + bias) + residual` with the
 * operands packed into `rgba32float` textures and read with `textureLoad`.
 *
 * Why: on lavapipe a storage-buffer load is bounds-checked and gathered lane by lane, while a texel fetch
 * goes through the sampler's vectorised fetch path, so the register-tiled inner loop (each invocation owns
 * a TM×TN block of C) runs faster when it reads texels. Layout of the packed textures (zero-padded):
 * - A: `ceil(K/4)` × `rows` texels, texel (x, r) = A[r, 4x … 4x+3] (rows = batch·M: the batch folds in);
 * - B `[K, N]`: `ceil(N/4)` × `4·ceil(K/4)` texels, texel (x, k) = B[k, 4x … 4x+3] ("nn");
 * - B `[N, K]` (transB, a PyTorch Linear weight): `ceil(K/4)` × N texels, texel (x, n) = B[n, 4x … 4x+3]
 *   ("nk", the matrix as it is stored, so packing is a copy). An f16 B (f16 weights) packs into an
 *   `rgba16float` texture (exact, half the bytes); an f16 A is not taken here.
 * The inner loop reads one A texel per block row and four B texels per 4 columns for every 4 steps of K, and
 * does `TM·TN·4` vec4 FMAs. With `rowOuter` the B texels of 4 k steps are fetched first and the rows
 * follow one by one, each accumulator taking its 4 FMAs in a row: LLVM spills the accumulators of a large
 * block either way, and this order loads and stores each once per 4 FMAs instead of once per FMA
 * (lavapipe 1024³: 32×32 blocks 47 GFLOP/s, against 26 in the k-outer order and 32 for its best 16×16;
 * the first compile of a 32×32 block takes ~10 s, then Mesa's shader disk cache serves it in ~0.2 s).
 * The "ab" variant reads A from the texture; the "b" variant reads A as vec4 from
 * its storage buffer (no packing of the activations; needs K % 4 = 0 and A not transposed).
 *
 * Weight textures are cached per weight tensor when the caller says the weight is constant
 * (`constantB`; eval-mode Linear layers pass their cached `[in, out]` weight, which is a fresh tensor
 * whenever weights may change), destroyed when that tensor is disposed. A non-constant B is packed per
 * call. Shapes over `maxTextureDimension2D` are not supported here: `texFits` says so and the caller
 * falls back to the storage-buffer kernels.
 * @module
 */

import { backend, type Binding, type GpuBuffer, type Kernel } from "../backend.ts";
import type { Tensor } from "../tensor.ts";
import { uniformDecl, Uniforms } from "./common.ts";
import type { Activation, MatmulTile } from "./matmul.ts";

/** How A reaches the texture kernel: packed into a texture ("ab") or read from its buffer ("b"). */
export type TexOperands = "ab" | "b";

const FMT: GPUTextureFormat = "rgba32float";

function texLayout(aTex: boolean): GPUBindGroupLayout {
  const key = aTex ? "ab" : "b";
  const hit = layouts.get(key);
  if (hit) return hit;
  const C = GPUShaderStage.COMPUTE;
  const tex = { sampleType: "unfilterable-float", viewDimension: "2d" } as const;
  const entries: GPUBindGroupLayoutEntry[] = [
    aTex ? { binding: 0, visibility: C, texture: tex } : {
      binding: 0,
      visibility: C,
      buffer: { type: "read-only-storage" },
    },
    { binding: 1, visibility: C, texture: tex },
    { binding: 2, visibility: C, buffer: { type: "read-only-storage" } },
    { binding: 3, visibility: C, buffer: { type: "read-only-storage" } },
    { binding: 4, visibility: C, buffer: { type: "storage" } },
    { binding: 5, visibility: C, buffer: { type: "uniform" } },
  ];
  const l = backend().device.createBindGroupLayout({ entries, label: `matmul_tex:${key}` });
  layouts.set(key, l);
  return l;
}
const layouts = new Map<string, GPUBindGroupLayout>();

/**
 * WGSL of the texture-operand kernel for a tile (exported for tests and tuning). `bNK`: B's texture holds
 * a `[N, K]` matrix as is (texel (k/4, n) = B[n, k … k+3]) instead of the "nn" layout; each k step then
 * fetches one texel per column and regroups them into the same vec4s the "nn" kernel fetches, so the
 * arithmetic and its order are the same.
 */
export function matmulTexSource(tile: MatmulTile, aTex: boolean, vecC: boolean, bNK = false): string {
  const { tm, tn, wgx, wgy } = tile;
  const tn4 = tn / 4;
  const c4 = vecC ? "4" : "", f4 = vecC ? "vec4<f32>" : "f32";
  let s = `${
    aTex
      ? "@group(0) @binding(0) var At: texture_2d<f32>;"
      : "@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;"
  }
@group(0) @binding(1) var Bt: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> Bias${c4}: array<${f4}>;
@group(0) @binding(3) var<storage, read> R${c4}: array<${f4}>;
@group(0) @binding(4) var<storage, read_write> C${c4}: array<${f4}>;
${uniformDecl(5, 8)}
@compute @workgroup_size(${wgx}, ${wgy}, 1)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let M = P(0u); let N = P(1u); let K4 = P(2u); let NB = P(3u);
  let row0 = g.y * ${tm}u; let col0 = g.x * ${tn}u;
  if (row0 >= M || col0 >= N) { return; }
`;
  // Rows past M read a clamped row whose results are never stored.
  for (let r = 0; r < tm; r++) s += `  let r${r} = i32(min(row0 + ${r}u, M - 1u));\n`;
  if (bNK) { for (let c = 0; c < tn; c++) s += `  let cn${c} = i32(min(col0 + ${c}u, N - 1u));\n`; }
  else for (let j = 0; j < tn4; j++) s += `  let cb${j} = i32(min(col0 / 4u + ${j}u, NB - 1u));\n`;
  for (let r = 0; r < tm; r++) for (let j = 0; j < tn4; j++) s += `  var acc${r}_${j} = vec4<f32>(0.0);\n`;
  s += `  for (var k4 = 0u; k4 < K4; k4++) {\n    let kx = i32(k4); let ky = i32(k4 * 4u);\n`;
  const aLoad = (r: number): string =>
    aTex
      ? `    let a${r} = textureLoad(At, vec2<i32>(kx, r${r}), 0);\n`
      : `    let a${r} = A[u32(r${r}) * K4 + k4];\n`;
  const comp = ["x", "y", "z", "w"];
  // b{kk}_{j}: B[k4·4 + kk, col0 + 4j … +3], fetched for one kk ("nn") or regrouped from column texels.
  const bLoads = (kk: number): string => {
    let b = "";
    for (let j = 0; j < tn4; j++) {
      b += bNK
        ? `    let b${kk}_${j} = vec4<f32>(${
          [0, 1, 2, 3].map((i) => `bt${4 * j + i}.${comp[kk]}`).join(", ")
        });\n`
        : `    let b${kk}_${j} = textureLoad(Bt, vec2<i32>(cb${j}, ky + ${kk}), 0);\n`;
    }
    return b;
  };
  if (bNK) {
    for (let c = 0; c < tn; c++) {
      s += `    let bt${c} = textureLoad(Bt, vec2<i32>(kx, cn${c}), 0);\n`;
    }
  }
  if (tile.rowOuter) {
    for (let kk = 0; kk < 4; kk++) s += bLoads(kk);
    for (let r = 0; r < tm; r++) {
      s += aLoad(r);
      for (let j = 0; j < tn4; j++) {
        // Same summation order as the k-outer loop: x first.
        s += `    acc${r}_${j} = fma(vec4<f32>(a${r}.w), b3_${j}, fma(vec4<f32>(a${r}.z), b2_${j}, ` +
          `fma(vec4<f32>(a${r}.y), b1_${j}, fma(vec4<f32>(a${r}.x), b0_${j}, acc${r}_${j}))));\n`;
      }
    }
  } else for (let r = 0; r < tm; r++) s += aLoad(r);
  for (let kk = 0; kk < 4 && !tile.rowOuter; kk++) {
    s += bLoads(kk);
    for (let r = 0; r < tm; r++) {
      for (let j = 0; j < tn4; j++) {
        s += `    acc${r}_${j} = fma(vec4<f32>(a${r}.${comp[kk]}), b${kk}_${j}, acc${r}_${j});\n`;
      }
    }
  }
  s += `  }\n  let hb = PF(4u); let slope = PF(5u); let hr = PF(6u);\n`;
  if (vecC) {
    // Straight-line vec4 epilogue (as the buffer kernel's): unconditional bias/residual loads scaled by flags.
    s += `  let N4 = N / 4u; let nb = arrayLength(&Bias4) - 1u; let nr = arrayLength(&R4) - 1u;\n`;
    for (let j = 0; j < tn4; j++) s += `  let bias${j} = Bias4[min(col0 / 4u + ${j}u, nb)] * hb;\n`;
    for (let r = 0; r < tm; r++) {
      s += `  if (row0 + ${r}u < M) {\n    let base${r} = (row0 + ${r}u) * N4 + col0 / 4u;\n`;
      for (let j = 0; j < tn4; j++) {
        s += `    if (col0 / 4u + ${j}u < N4) { let v = acc${r}_${j} + bias${j}; ` +
          `C4[base${r} + ${j}u] = select(v * slope, v, v > vec4<f32>(0.0)) + R4[min(base${r} + ${j}u, nr)] * hr; }\n`;
      }
      s += `  }\n`;
    }
    return s + `}\n`;
  }
  for (let r = 0; r < tm; r++) {
    for (let j = 0; j < tn4; j++) {
      s += `  store(row0 + ${r}u, col0 + ${4 * j}u, acc${r}_${j}, hb, slope, hr);\n`;
    }
  }
  s += `}\n` + STORE_FN;
  return s;
}

// The scalar-C epilogue (N % 4 ≠ 0): bias, activation and residual per element.
const STORE_FN = `fn store(row: u32, col: u32, acc: vec4<f32>, hb: f32, slope: f32, hr: f32) {
  let M = P(0u); let N = P(1u);
  if (row >= M) { return; }
  let nb = arrayLength(&Bias) - 1u; let nr = arrayLength(&R) - 1u;
  for (var i = 0u; i < 4u; i++) {
    let c = col + i;
    if (c < N) {
      let v = acc[i] + Bias[min(c, nb)] * hb;
      C[row * N + c] = select(v * slope, v, v > 0.0) + R[min(row * N + c, nr)] * hr;
    }
  }
}
`;

// Packs a row-major [rows, cols] matrix (or its transpose, src stored [cols, rows]) into an rgba32float
// texture of ceil(cols/4) × height texels, zero outside the matrix. An f16 source (f16 weights) packs into
// an rgba16float texture instead: the same values (f16 is exact in it) at half the bytes; textureLoad of
// either format returns vec4<f32>, so the product kernel is the same.
const packSource = (half: boolean): string =>
  `${half ? "enable f16;\n" : ""}@group(0) @binding(0) var<storage, read> S: array<${half ? "f16" : "f32"}>;
@group(0) @binding(1) var T: texture_storage_2d<${half ? HALF_FMT : FMT}, write>;
${uniformDecl(2, 4)}
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let rows = P(0u); let cols = P(1u); let trans = P(2u); let height = P(3u);
  let dims = textureDimensions(T);
  if (g.x >= dims.x || g.y >= height) { return; }
  var v = vec4<f32>(0.0);
  let n = arrayLength(&S) - 1u;
  for (var i = 0u; i < 4u; i++) {
    let c = g.x * 4u + i;
    let idx = select(g.y * cols + c, c * rows + g.y, trans != 0u);
    v[i] = select(0.0, ${half ? "f32(S[min(idx, n)])" : "S[min(idx, n)]"}, g.y < rows && c < cols);
  }
  textureStore(T, vec2<i32>(i32(g.x), i32(g.y)), v);
}
`;
const HALF_FMT: GPUTextureFormat = "rgba16float";

function packKernel(half: boolean): Kernel {
  const fmt = half ? HALF_FMT : FMT;
  let packLayout = packLayouts.get(fmt);
  if (!packLayout) {
    packLayout = backend().device.createBindGroupLayout({
      label: `matmul_tex:pack:${fmt}`,
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "read-only-storage" } },
        {
          binding: 1,
          visibility: GPUShaderStage.COMPUTE,
          storageTexture: { access: "write-only", format: fmt, viewDimension: "2d" },
        },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } },
      ],
    });
    packLayouts.set(fmt, packLayout);
  }
  return backend().kernel(packSource(half), {
    storageBindings: 2,
    hasUniform: true,
    label: `matmul_tex:pack:${fmt}`,
    layout: packLayout,
  });
}
const packLayouts = new Map<GPUTextureFormat, GPUBindGroupLayout>();

/** A packed operand texture. */
interface Packed {
  texture: GPUTexture;
  view: GPUTextureView;
}

/**
 * Whether an untransposed operand of `cols` columns packs by a buffer-to-texture copy (rows already in
 * texel order, row pitch a multiple of 256 bytes) rather than by the pack shader.
 */
export function packIsCopy(cols: number, half: boolean): boolean {
  return cols % 4 === 0 && (cols * (half ? 2 : 4)) % 256 === 0;
}

/**
 * Packs `buf` (`rows`×`cols` row-major, or stored transposed as `cols`×`rows`) into a new texture of
 * `ceil(cols/4)` × `height` texels (height ≥ rows; the extra rows are zero).
 */
function pack(
  buf: GpuBuffer,
  shape: { rows: number; cols: number; trans: boolean; height: number; half?: boolean },
): Packed {
  const be = backend();
  const width = Math.ceil(shape.cols / 4);
  const format = shape.half ? HALF_FMT : FMT;
  const pooled = texturePool.get(poolKey(format, width, shape.height))?.pop();
  let texture: GPUTexture, view: GPUTextureView;
  if (pooled) {
    pooledTextureBytes -= textureBytes(pooled.texture);
    ({ texture, view } = pooled);
  } else {
    texture = be.device.createTexture({
      size: [width, shape.height],
      format,
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
      label: "matmul_tex operand",
    });
    view = texture.createView();
  }
  // A copy leaves the rows below `rows` as they were: zero only in a new texture.
  const copyZeroes = !pooled || shape.height === shape.rows;
  if (!shape.trans && packIsCopy(shape.cols, shape.half ?? false) && copyZeroes) {
    const rowBytes = shape.cols * (shape.half ? 2 : 4);
    // Rows already in texel order: a copy (the rows below `rows` stay zero, as new textures are).
    be.copyToTexture(buf, texture, { bytesPerRow: rowBytes, width, height: shape.rows });
    return { texture, view };
  }
  const u = new Uniforms().int(shape.rows, shape.cols, shape.trans ? 1 : 0, shape.height);
  be.dispatch(packKernel(shape.half ?? false), [buf, { view }], {
    uniforms: u.build(),
    workgroups: [Math.ceil(width / 8), Math.ceil(shape.height / 8), 1],
  });
  return { texture, view };
}

// Operand textures for reuse, by format and size. Training packs every weight and activation anew each
// step; a new texture costs an allocation and a zero-fill on software adapters. Reuse is safe as soon as
// the last reader is recorded: later packs into it are recorded after that reader, and run in order.
const texturePool = new Map<string, Packed[]>();
let pooledTextureBytes = 0;
const TEXTURE_POOL_LIMIT = 256 * 1024 * 1024;

const poolKey = (format: GPUTextureFormat, width: number, height: number): string =>
  `${format}:${width}x${height}`;

function textureBytes(t: GPUTexture): number {
  return t.width * t.height * (t.format === HALF_FMT ? 8 : 16);
}

function release(p: Packed): void {
  const bytes = textureBytes(p.texture);
  if (pooledTextureBytes + bytes <= TEXTURE_POOL_LIMIT) {
    const key = poolKey(p.texture.format, p.texture.width, p.texture.height);
    const list = texturePool.get(key);
    if (list) list.push(p);
    else texturePool.set(key, [p]);
    pooledTextureBytes += bytes;
    return;
  }
  // Pending commands may still read it: destroy after they are submitted.
  backend().afterPendingSubmit(() => p.texture.destroy());
}

/** Bytes held by idle pooled operand textures (not in the engine's buffer statistics). */
export function texturePoolBytes(): number {
  return pooledTextureBytes;
}

/** Destroys the idle pooled operand textures (after the pending commands are submitted). */
export function trimTexturePool(): void {
  for (const list of texturePool.values()) {
    for (const p of list) backend().afterPendingSubmit(() => p.texture.destroy());
  }
  texturePool.clear();
  pooledTextureBytes = 0;
}

// Weight textures of constant B operands, by tensor (and transposition); swept when tensors are disposed.
const weightCache = new Map<Tensor, { trans: boolean; packed: Packed }>();

function sweepWeights(): void {
  for (const [t, e] of weightCache) {
    if (t.disposed) {
      release(e.packed);
      weightCache.delete(t);
    }
  }
}

/** Number of weight textures cached now (for leak tests). */
export function cachedWeightTextures(): number {
  sweepWeights();
  return weightCache.size;
}

/**
 * Bytes held by the cached weight textures (not in the engine's buffer statistics: on CPU adapters the
 * eval-mode weights of texture-operand matmuls are held twice, as the weight tensor and as its texture).
 */
export function weightTextureBytes(): number {
  sweepWeights();
  let bytes = 0;
  for (const e of weightCache.values()) {
    const texel = e.packed.texture.format === HALF_FMT ? 8 : 16;
    bytes += e.packed.texture.width * e.packed.texture.height * texel;
  }
  return bytes;
}

/** Destroys every cached weight texture. */
export function clearWeightTextures(): void {
  for (const e of weightCache.values()) release(e.packed);
  weightCache.clear();
}

/**
 * Whether an M×N×K product (`rows` = batch·M rows of A; B stored [N, K] with `transB`) fits the texture
 * limits of this adapter.
 */
export function texFits(rows: number, n: number, k: number, transB = false): boolean {
  const max = backend().device.limits.maxTextureDimension2D;
  const k4 = Math.ceil(k / 4);
  return rows <= max && k4 <= max && (transB ? n <= max : k4 * 4 <= max && Math.ceil(n / 4) <= max);
}

/** What `matmulTex` needs besides the operands. */
export interface TexRequest {
  /** The tile (kind "tex"; `texA` false reads A from its buffer). */
  tile: MatmulTile;
  /** Rows of A per batch entry, columns of C, inner dimension, batch entries (A batched, B 2-D). */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch entries of A (B is shared). */
  batch: number;
  /** A stored [K, M]. */
  transA: boolean;
  /** B stored [N, K]. */
  transB: boolean;
  /** Bias [N]. */
  bias?: Tensor;
  /** Activation. */
  activation?: Activation;
  /** Negative slope of leaky_relu. */
  alpha?: number;
  /** Residual (same shape as C). */
  residual?: Tensor;
  /** B does not change while this tensor lives: its texture is cached. */
  constantB?: boolean;
  /** The output tensor to fill. */
  out: Tensor;
}

let dummy: GpuBuffer | null = null;

/**
 * The 16-byte buffer bound where a matmul kernel has no bias or residual (never read; allocated once,
 * shared by the register and texture kernels).
 */
export function dummyBuffer(): GpuBuffer {
  dummy ??= backend().alloc(16);
  return dummy;
}

/** Records the texture-operand product into `req.out`. The caller checks `texFits` first. */
export function matmulTex(a: Tensor, b: Tensor, req: TexRequest): void {
  const be = backend();
  const { tile, m, n, k, batch, transA, transB } = req;
  if (tile.tm < 1 || tile.tn % 4 !== 0) throw new RangeError(`matmul_tex: bad tile ${tile.tm}x${tile.tn}`);
  const rows = batch * m;
  const k4 = Math.ceil(k / 4);
  const aTex = tile.texA !== false || transA || k % 4 !== 0;
  if (transA && batch > 1) throw new RangeError("matmul_tex: a batched transposed A is not supported");
  sweepWeights();
  // B → texture: cached for constant weights, else packed for this call.
  let bPacked: Packed;
  let temp: Packed | null = null;
  const hit = req.constantB ? weightCache.get(b) : undefined;
  if (hit && hit.trans === transB) bPacked = hit.packed;
  else {
    // B [K, N]: texture rows run over K, texels over 4 columns of N. B stored [N, K] (transB) is taken as
    // is ("nk": rows over N, texels over 4 steps of K): a plain copy instead of a transposing gather.
    bPacked = transB
      ? pack(b.buf, { rows: n, cols: k, trans: false, height: n, half: b.dtype === "f16" })
      : pack(b.buf, { rows: k, cols: n, trans: false, height: k4 * 4, half: b.dtype === "f16" });
    if (req.constantB) {
      if (hit) release(hit.packed);
      weightCache.set(b, { trans: transB, packed: bPacked });
    } else temp = bPacked;
  }
  let aBind: Binding = a.buf;
  let aPacked: Packed | null = null;
  if (aTex) {
    aPacked = pack(a.buf, { rows, cols: k, trans: transA, height: rows });
    aBind = { view: aPacked.view };
  }
  const vecC = n % 4 === 0;
  const code = matmulTexSource(tile, aTex, vecC, transB);
  const kernel = be.kernel(code, {
    storageBindings: 5,
    hasUniform: true,
    label: `matmul_tex:${aTex ? "ab" : "b"}${tile.tm}x${tile.tn}${tile.rowOuter ? "r" : ""}${
      transB ? "nk" : ""
    }${vecC ? "vC" : ""}`,
    layout: texLayout(aTex),
  });
  const act = req.activation ?? "none";
  const slope = act === "relu" ? 0 : act === "leaky_relu" ? req.alpha ?? 0.01 : 1;
  const u = new Uniforms().int(rows, n, k4, Math.ceil(n / 4)).float(
    req.bias ? 1 : 0,
    slope,
    req.residual ? 1 : 0,
  );
  be.dispatch(kernel, [
    aBind,
    { view: bPacked.view },
    req.bias?.buf ?? dummyBuffer(),
    req.residual?.buf ?? dummyBuffer(),
    req.out.buf,
  ], {
    uniforms: u.build(),
    workgroups: [Math.ceil(n / (tile.tn * tile.wgx)), Math.ceil(rows / (tile.tm * tile.wgy)), 1],
  });
  if (aPacked) release(aPacked);
  if (temp) release(temp);
}
