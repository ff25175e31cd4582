/**
 * Matrix multiply `C = act(op(A)·op(B) + bias) + residual`, batched, either operand transposed.
 *
 * Two kernel families: register-tiled and barrier-free (each invocation owns a TM×TN block of C, vec4
 * loads where the layout allows) for CPU adapters such as lavapipe, where large per-invocation blocks win;
 * and shared-memory tiled for real GPUs. Which tile is used for a shape class is measured once per adapter
 * (see `tuning.ts`); the epilogue is chosen at run time by uniforms, so one compiled kernel serves every
 * bias/activation combination.
 * @module
 */

import { backend, type GpuBuffer } from "../backend.ts";
import { bindingLimit, planRows, range } from "../chunking.ts";
import { adapterSummary } from "../device.ts";
import { EnvironmentError, InputError } from "../errors.ts";
import { numel, type Tensor } from "../tensor.ts";
import { compile, output, uniformDecl, Uniforms } from "./common.ts";
import { dummyBuffer, matmulTex, packIsCopy, texFits } from "./matmul_tex.ts";

/** Activation applied in the epilogue. */
export type Activation = "none" | "relu" | "leaky_relu";

/** A matmul kernel configuration. */
export interface MatmulTile {
  /**
   * "reg": register-tiled barrier-free; "shared": workgroup-memory tiled; "tex": register-tiled with the
   * operands in rgba32float textures (CPU adapters; `matmul_tex.ts`).
   */
  kind: "reg" | "shared" | "tex";
  /** "tex" only: false reads A from its storage buffer instead of a packed texture (default true). */
  texA?: boolean;
  /**
   * "tex" only: the order of the inner loop. false (default): for each of the 4 k steps, all rows;
   * true: all B texels of the 4 k steps first, then row by row (each A texel fetched just before use and
   * each accumulator updated 4 times in a row, so spilled accumulators are loaded and stored once per 4
   * FMAs).
   */
  rowOuter?: boolean;
  /** Rows of C per invocation. */
  tm: number;
  /** Columns of C per invocation (multiple of 4). */
  tn: number;
  /** Workgroup size x (columns). */
  wgx: number;
  /** Workgroup size y (rows). */
  wgy: number;
}

/** The register-tiled buffer kernel of the same block size (the fallback of a "tex" tile). */
function regTile(t: MatmulTile): MatmulTile {
  return { kind: "reg", tm: t.tm, tn: t.tn, wgx: t.wgx, wgy: t.wgy };
}

/** Options of `matmul`. */
export interface MatmulOptions {
  /** Use Aᵀ: A is stored [..., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: B is stored [..., N, K] (PyTorch Linear weight layout). */
  transB?: boolean;
  /** Bias [N] added to every row. */
  bias?: Tensor;
  /** Activation after the bias. */
  activation?: Activation;
  /** Negative slope of leaky_relu. */
  alpha?: number;
  /** Added after the activation (same shape as C). */
  residual?: Tensor;
  /** Force a tile (tuning and tests). */
  tile?: MatmulTile;
  /** B stays unchanged while its tensor lives (an eval-mode weight): kernels may cache a packed copy. */
  constantB?: boolean;
}

interface Variant {
  tile: MatmulTile;
  transA: boolean;
  transB: boolean;
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
  /** Bᵀ read as vec4 runs along K (dot-product form). */
  dotB: boolean;
  /** Aᵀ read as vec4 runs along M. */
  vecAT: boolean;
  /** A stored as f16 (converted to f32 on load; accumulation stays f32). Default false. */
  aF16?: boolean;
  /** B stored as f16, e.g. f16 weights (converted on load; accumulation stays f32). Default false. */
  bF16?: boolean;
}

/** WGSL loading `idx` of an operand: as stored for f32, widened to f32 (`vec`: vec4) for f16. */
function load(name: string, idx: string, f16: boolean | undefined, vec: boolean): string {
  return f16 ? `${vec ? "vec4<f32>" : "f32"}(${name}[${idx}])` : `${name}[${idx}]`;
}

/** The element type of an operand's storage array. */
function elemType(f16: boolean | undefined, vec: boolean): string {
  const t = f16 ? "f16" : "f32";
  return vec ? `vec4<${t}>` : t;
}

function regKernel(v: Variant): string {
  const { tm, tn, wgx, wgy } = v.tile;
  const tn4 = tn / 4;
  const c4 = v.vecC ? "4" : "", f4 = v.vecC ? "vec4<f32>" : "f32";
  const ldA = (idx: string, vec: boolean) => load("A", idx, v.aF16, vec);
  const ldB = (idx: string, vec: boolean) => load("B", idx, v.bF16, vec);
  let s = `${v.aF16 || v.bF16 ? "enable f16;\n" : ""}@group(0) @binding(0) var<storage, read> A: array<${
    elemType(v.aF16, v.vecA || v.vecAT)
  }>;
@group(0) @binding(1) var<storage, read> B: array<${elemType(v.bF16, v.vecB || v.dotB)}>;
@group(0) @binding(2) var<storage, read> Bias${c4}: array<${f4}>;
@group(0) @binding(3) var<storage, read> R${c4}: array<${f4}>;
@group(0) @binding(4) var<storage, read_write> C${c4}: array<${f4}>;
${uniformDecl(5, 10)}
@compute @workgroup_size(${wgx}, ${wgy}, 1)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let M = P(0u); let N = P(1u); let K = P(2u);
  let row0 = g.y * ${tm}u; let col0 = g.x * ${tn}u;
  if (row0 >= M || col0 >= N) { return; }
  let aOff = g.z * P(3u); let bOff = g.z * P(4u); let cOff = g.z * P(5u);
`;
  for (let r = 0; r < tm; r++) s += `  let r${r} = min(row0 + ${r}u, M - 1u);\n`;
  if (v.vecB) {
    for (let j = 0; j < tn4; j++) s += `  let cb${j} = min(col0 / 4u + ${j}u, N / 4u - 1u);\n`;
  } else {
    for (let c = 0; c < tn; c++) s += `  let c${c} = min(col0 + ${c}u, N - 1u);\n`;
  }
  for (let r = 0; r < tm; r++) for (let j = 0; j < tn4; j++) s += `  var acc${r}_${j} = vec4<f32>(0.0);\n`;
  const bRow = (k: string, j: number): string => {
    if (v.vecB) return ldB(`(bOff + ${k} * N) / 4u + cb${j}`, true);
    const e = (c: number) => ldB(v.transB ? `bOff + c${c} * K + ${k}` : `bOff + ${k} * N + c${c}`, false);
    return `vec4<f32>(${e(4 * j)}, ${e(4 * j + 1)}, ${e(4 * j + 2)}, ${e(4 * j + 3)})`;
  };
  if (v.vecA) {
    s += `  let K4 = K / 4u; let aRow = (aOff + row0 * K) / 4u;\n  for (var k4 = 0u; k4 < K4; k4++) {\n`;
    // Row r of the block starts r·K/4 vec4s after row0; rows past M read clamped (robust access) values
    // whose results are never stored, which saves TM registers of clamped row indices.
    for (let r = 0; r < tm; r++) s += `    let a${r} = ${ldA(`aRow + ${r}u * K4 + k4`, true)};\n`;
    const comp = ["x", "y", "z", "w"];
    if (v.dotB) {
      // Bᵀ stored [N, K]: each column is a vec4 run along K, so A·Bᵀ becomes dot products of vec4s.
      for (let c = 0; c < tn; c++) s += `    let bt${c} = ${ldB(`(bOff + c${c} * K) / 4u + k4`, true)};\n`;
      for (let r = 0; r < tm; r++) {
        for (let j = 0; j < tn4; j++) {
          const d = [0, 1, 2, 3].map((q) => `dot(a${r}, bt${4 * j + q})`).join(", ");
          s += `    acc${r}_${j} += vec4<f32>(${d});\n`;
        }
      }
    }
    for (let kk = 0; kk < (v.dotB ? 0 : 4); kk++) {
      for (let j = 0; j < tn4; j++) s += `    let b${kk}_${j} = ${bRow(`(k4 * 4u + ${kk}u)`, j)};\n`;
      for (let r = 0; r < tm; r++) {
        for (let j = 0; j < tn4; j++) {
          s += `    acc${r}_${j} = fma(vec4<f32>(a${r}.${comp[kk]}), b${kk}_${j}, acc${r}_${j});\n`;
        }
      }
    }
    s += `  }\n`;
  } else {
    s += `  for (var k = 0u; k < K; k++) {\n`;
    if (v.vecAT) {
      // Aᵀ stored [K, M]: four consecutive rows of C read one vec4 of A.
      for (let q = 0; q < tm / 4; q++) {
        s += `    let aq${q} = ${ldA(`(aOff + k * M) / 4u + min(row0 / 4u + ${q}u, M / 4u - 1u)`, true)};\n`;
      }
      for (let r = 0; r < tm; r++) s += `    let a${r} = aq${Math.floor(r / 4)}[${r % 4}];\n`;
    } else {
      for (let r = 0; r < tm; r++) {
        s += `    let a${r} = ${ldA(v.transA ? `aOff + k * M + r${r}` : `aOff + r${r} * K + k`, false)};\n`;
      }
    }
    for (let j = 0; j < tn4; j++) s += `    let b${j} = ${bRow("k", j)};\n`;
    for (let r = 0; r < tm; r++) {
      for (let j = 0; j < tn4; j++) s += `    acc${r}_${j} = fma(vec4<f32>(a${r}), b${j}, acc${r}_${j});\n`;
    }
    s += `  }\n`;
  }
  if (v.vecC) {
    // Straight-line vec4 epilogue: bias and residual loads are unconditional (multiplied by 0/1 flags;
    // the dummy buffers are clamped by WGSL's bounds rules), so each accumulator costs a few instructions
    // and large tiles still compile in seconds.
    s += `  let N4 = N / 4u; let hb = PF(6u); let slope = PF(8u); let hr = PF(9u);\n`;
    s += `  let nb = arrayLength(&Bias4) - 1u; let nr = arrayLength(&R4) - 1u;\n`;
    for (let j = 0; j < tn4; j++) s += `  let bias${j} = Bias4[min(col0 / 4u + ${j}u, nb)] * hb;\n`;
    for (let r = 0; r < tm; r++) {
      s += `  if (row0 + ${r}u < M) {\n    let base${r} = (cOff + (row0 + ${r}u) * N + col0) / 4u;\n`;
      for (let j = 0; j < tn4; j++) {
        s += `    if (col0 / 4u + ${j}u < N4) { let v = acc${r}_${j} + bias${j}; ` +
          `C4[base${r} + ${j}u] = select(v * slope, v, v > vec4<f32>(0.0)) + R4[min(base${r} + ${j}u, nr)] * hr; }\n`;
      }
      s += `  }\n`;
    }
    s += `}\n`;
    return s;
  }
  for (let r = 0; r < tm; r++) {
    for (let j = 0; j < tn4; j++) s += `  epilogue(row0 + ${r}u, col0 + ${4 * j}u, acc${r}_${j}, cOff);\n`;
  }
  s += `}\n${EPILOGUE}`;
  return s;
}

// Shared by both kernel families: bias, activation, residual and bounds-checked stores of 4 columns.
// Branch-free activation: y = x > 0 ? x : slope·x, with slope 1 (none), 0 (relu) or α (leaky_relu); a
// switch here, inlined once per accumulator, made large tiles take minutes to compile on lavapipe.
const EPILOGUE = `
fn epilogue(row: u32, col: u32, acc: vec4<f32>, cOff: u32) {
  let M = P(0u); let N = P(1u);
  if (row >= M) { return; }
  let nb = arrayLength(&Bias) - 1u;
  let bias = vec4<f32>(Bias[min(col, nb)], Bias[min(col + 1u, nb)], Bias[min(col + 2u, nb)], Bias[min(col + 3u, nb)]);
  var v = acc + bias * PF(6u);
  v = select(v * PF(8u), v, v > vec4<f32>(0.0));
  let base = cOff + row * N + col;
  if (PF(9u) != 0.0) {
    let nr = arrayLength(&R) - 1u;
    v += vec4<f32>(R[min(base, nr)], R[min(base + 1u, nr)], R[min(base + 2u, nr)], R[min(base + 3u, nr)]);
  }
  if (col + 3u < N) {
    C[base] = v.x; C[base + 1u] = v.y; C[base + 2u] = v.z; C[base + 3u] = v.w;
  } else {
    for (var i = 0u; i < 4u; i++) { if (col + i < N) { C[base + i] = v[i]; } }
  }
}
`;

function sharedKernel(v: Variant): string {
  // Classic tiled GEMM: a (wgy·tm)×(wgx·tn) tile of C per workgroup, K in steps of 16 through
  // workgroup memory; each invocation accumulates a tm×tn block.
  const { tm, tn, wgx, wgy } = v.tile;
  const BM = wgy * tm, BN = wgx * tn, BK = 16;
  const threads = wgx * wgy;
  const tn4 = tn / 4;
  const aIdx = v.transA ? "aOff + kk * M + rr" : "aOff + rr * K + kk";
  const bIdx = v.transB ? "bOff + cc * K + kk" : "bOff + kk * N + cc";
  const loadA = load("A", `min(${aIdx}, arrayLength(&A) - 1u)`, v.aF16, false);
  const loadB = load("B", `min(${bIdx}, arrayLength(&B) - 1u)`, v.bF16, false);
  let s = `${v.aF16 || v.bF16 ? "enable f16;\n" : ""}@group(0) @binding(0) var<storage, read> A: array<${
    elemType(v.aF16, false)
  }>;
@group(0) @binding(1) var<storage, read> B: array<${elemType(v.bF16, false)}>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
${uniformDecl(5, 10)}
var<workgroup> As: array<f32, ${BM * BK}>;
var<workgroup> Bs: array<f32, ${BK * BN}>;
@compute @workgroup_size(${wgx}, ${wgy}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = P(0u); let N = P(1u); let K = P(2u);
  let aOff = wg.z * P(3u); let bOff = wg.z * P(4u); let cOff = wg.z * P(5u);
  let tileRow = wg.y * ${BM}u; let tileCol = wg.x * ${BN}u;
`;
  for (let r = 0; r < tm; r++) for (let j = 0; j < tn4; j++) s += `  var acc${r}_${j} = vec4<f32>(0.0);\n`;
  s += `  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    for (var i = li; i < ${BM * BK}u; i += ${threads}u) {
      let rr = tileRow + i / ${BK}u; let kk = k0 + i % ${BK}u;
      As[i] = select(0.0, ${loadA}, rr < M && kk < K);
    }
    for (var i = li; i < ${BK * BN}u; i += ${threads}u) {
      let kk = k0 + i / ${BN}u; let cc = tileCol + i % ${BN}u;
      Bs[i] = select(0.0, ${loadB}, cc < N && kk < K);
    }
    workgroupBarrier();
    for (var k = 0u; k < ${BK}u; k++) {
`;
  for (let j = 0; j < tn4; j++) {
    s += `      let b${j} = vec4<f32>(`;
    s += [0, 1, 2, 3].map((q) => `Bs[k * ${BN}u + l.x * ${tn}u + ${4 * j + q}u]`).join(", ");
    s += `);\n`;
  }
  for (let r = 0; r < tm; r++) {
    s += `      let a${r} = As[(l.y * ${tm}u + ${r}u) * ${BK}u + k];\n`;
    for (let j = 0; j < tn4; j++) s += `      acc${r}_${j} = fma(vec4<f32>(a${r}), b${j}, acc${r}_${j});\n`;
  }
  s += `    }
    workgroupBarrier();
  }
`;
  for (let r = 0; r < tm; r++) {
    for (let j = 0; j < tn4; j++) {
      s += `  if (tileCol + l.x * ${tn}u + ${4 * j}u < N) { epilogue(tileRow + l.y * ${tm}u + ${r}u, ` +
        `tileCol + l.x * ${tn}u + ${4 * j}u, acc${r}_${j}, cOff); }\n`;
    }
  }
  // Out-of-range A/B reads are guarded by select(); WGSL evaluates both operands, hence the clamped index.
  s += `}\n${EPILOGUE}`;
  return s;
}

/** The WGSL source of a matmul variant (exported for tuning and tests). */
export function matmulSource(v: Variant): string {
  return v.tile.kind === "shared" ? sharedKernel(v) : regKernel(v);
}

/** Picks a tile for a shape: the tuned choice when one is cached, else a default by adapter kind. */
export type TileChooser = (m: number, n: number, k: number, batch: number, flags: string) => MatmulTile;

let chooser: TileChooser = defaultTile;

/** Replaces the tile chooser (the tuner installs itself here). */
export function setTileChooser(c: TileChooser): void {
  chooser = c;
}

/** Row-outer texture blocks of 32 and 24 rows (two block rows per workgroup: 64 or 48 rows). */
const TEX_32: MatmulTile = { kind: "tex", tm: 32, tn: 32, wgx: 8, wgy: 2, rowOuter: true };
const TEX_24: MatmulTile = { kind: "tex", tm: 24, tn: 32, wgx: 8, wgy: 2, rowOuter: true };

/**
 * The row-outer block, 32 or 24 rows, whose padded work per core is least: a CPU adapter runs whole
 * workgroups on its cores, so rows padded up to a workgroup's 64 and a workgroup count that does not
 * divide among the cores are both idle lanes. Measured on lavapipe (2 cores, ms, 32 → 24 rows): PoseFix
 * layer4 at batch 1, M = 48 (one 48-row workgroup instead of 64): 48×2048×4096 24.9 → 18.5, 48×4608×512
 * 6.6 → 6.1, 48×2048×512 3.4 → 2.8; layer3 192×2304×256 (4 workgroups instead of 3) 6.9 → 5.9; 384×4608×512
 * 43.5 vs 43.2 (equal cost, 32 kept); 1024³ keeps 32.
 */
function balancedTexTile(m: number, n: number, batch: number): MatmulTile {
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const cost = (t: MatmulTile): number => {
    const rows = t.tm * t.wgy, cols = t.tn * t.wgx;
    const groups = Math.ceil(m / rows) * Math.ceil(n / cols) * Math.max(1, batch);
    return Math.ceil(groups / cores) * rows * cols;
  };
  return cost(TEX_24) < cost(TEX_32) ? TEX_24 : TEX_32;
}

/** The built-in tile heuristics, used until a measurement says otherwise. */
export function defaultTile(m: number, n: number, _k: number, batch: number, _flags: string): MatmulTile {
  if (adapterSummary().isSoftware) {
    // CPU adapters: big register blocks, but keep enough invocations to fill the SIMD lanes of both cores.
    // Texture operands (matmul_tex.ts) beat storage-buffer loads on lavapipe by ~1.5× at these sizes
    // (1024³: 22 vs 14, 64×1024×1024: 25 vs 15 GFLOP/s in one A/B run); other cases fall back to "reg".
    // Row-outer 32×32 blocks (matmul_tex.ts): 1024³ 47 vs 32 GFLOP/s for 16×16, 64×1024×1024 40 vs 21,
    // 1024×1024×32 26 vs 21 (one A/B run on lavapipe); 24-row blocks where they pad less (balancedTexTile).
    if (m >= 32 && n >= 256) return balancedTexTile(m, n, batch);
    if (m >= 32 && n >= 64) return { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 4 };
    // Narrow outputs of long batches (the lifters' last layer, 1024×48×1024: 11.8 vs 8.2 GFLOP/s est.).
    if (m >= 256 && n >= 16) return { kind: "tex", tm: 16, tn: 8, wgx: 8, wgy: 4 };
    if (m <= 4) return { kind: "reg", tm: m <= 1 ? 1 : 4, tn: 8, wgx: 32, wgy: 1 };
    return { kind: "reg", tm: 4, tn: 8, wgx: 16, wgy: 4 };
  }
  if (m >= 64 && n >= 64) return { kind: "shared", tm: 4, tn: 4, wgx: 16, wgy: 16 };
  return { kind: "reg", tm: 2, tn: 4, wgx: 16, wgy: 8 };
}

/** Matrix product with optional transposes, batch, bias, activation and residual. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false, transB = options.transB ?? false;
  if (a.rank < 2 || b.rank < 2) {
    throw new InputError(
      `matmul needs rank ≥ 2 operands, got [${a.shape.join(", ")}] and [${b.shape.join(", ")}]`,
    );
  }
  const M = transA ? a.shape[a.rank - 1] : a.shape[a.rank - 2];
  const Ka = transA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const Kb = transB ? b.shape[b.rank - 1] : b.shape[b.rank - 2];
  const N = transB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
  if (Ka !== Kb) {
    throw new InputError(
      `matmul inner dimensions differ: [${a.shape.join(", ")}]${transA ? "ᵀ" : ""} · [${b.shape.join(", ")}]${
        transB ? "ᵀ" : ""
      }`,
    );
  }
  const K = Ka;
  // A and B may be f16 (weights): widened on load, accumulated in f32. Bias, residual and C are f32.
  const operands = [["A", a], ["B", b], ["bias", options.bias], ["residual", options.residual]] as const;
  for (const [what, t] of operands) {
    const ok = what === "A" || what === "B" ? ["f32", "f16"] : ["f32"];
    if (t && !ok.includes(t.dtype)) {
      throw new InputError(`matmul: ${what} must be ${ok.join(" or ")}, got ${t.dtype}`);
    }
  }
  const aF16 = a.dtype === "f16", bF16 = b.dtype === "f16";
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const nA = numel(batchA), nB = numel(batchB);
  let batchShape: readonly number[];
  if (batchB.length === 0 || nB === 1) batchShape = batchA;
  else if (batchA.length === 0 || nA === 1) batchShape = batchB;
  else if (batchA.join() === batchB.join()) batchShape = batchA;
  else {
    throw new InputError(
      `matmul batch dimensions differ: [${a.shape.join(", ")}] and [${b.shape.join(", ")}]`,
    );
  }
  const batch = numel(batchShape);
  const out = output([...batchShape, M, N]);
  if (out.size === 0) return out;
  if (options.bias && options.bias.size !== N) {
    throw new InputError(`matmul bias has ${options.bias.size} values, expected ${N}`);
  }
  if (options.residual && options.residual.size !== out.size) {
    throw new InputError(
      `matmul residual has shape [${options.residual.shape.join(", ")}], expected [${out.shape.join(", ")}]`,
    );
  }
  const flags = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  let tile = options.tile ?? chooser(M, N, K, batch, flags);
  if (
    !options.tile && (bF16 || options.constantB) && !aF16 && !transA && nB === 1 && batch * M <= 4 &&
    tile.kind === "reg" &&
    adapterSummary().isSoftware
  ) {
    // A short batch against an f16 or a constant (cached-texture) weight on a CPU adapter: B read as an
    // rgba16float/rgba32float texture beats storage loads (lavapipe, process CPU per 1×1024·1024×1024
    // product: 1.47 ms, against 3.92 ms for the default 1×8 register tile on f16 and 2.28 ms on f32;
    // 4×1024·1024²: 4.2 against 14.9 ms; folded Martinez batch 1 with f32 weights, forward + readback:
    // 14.7 → 14.05 ms wall, 6.2 → 4.8 ms CPU).
    tile = { kind: "tex", tm: 1, tn: 4, wgx: 64, wgy: 1, texA: false };
  }
  if (
    tile.kind === "tex" && !options.tile && !options.constantB && b.size > a.size &&
    !packIsCopy(transB ? K : N, bF16)
  ) {
    // A B that changes every call (training weights) is packed into its texture on every call; when B is
    // the bigger operand and the pack shader has to run, packing costs more than the texel reads save
    // (lavapipe, process CPU per 64×1024·(1024×1024)ᵀ product: 30.3 ms packed, 9.8 ms on the register
    // tile). A pack that is a buffer-to-texture copy is cheap enough.
    tile = regTile(tile);
  }
  if (tile.kind === "tex" && aF16) {
    // The texture kernels take an f16 B (packed into an rgba16float texture), not an f16 A: an f16 A takes
    // the buffer kernel of the same block size.
    tile = regTile(tile);
  }
  if (tile.kind === "tex") {
    // Texture operands (matmul_tex.ts): B shared by the batch, within the texture and binding limits;
    // anything else takes the register-tiled buffer kernel of the same block size.
    // Every buffer it binds is bound whole: A (read or packed), B (packed), the residual and C.
    const fits = Math.max(a.size, b.size, out.size) * 4 <= bindingLimit();
    if (nB === 1 && !(transA && batch > 1) && texFits(batch * M, N, K, transB) && fits) {
      matmulTex(a, b, { ...options, tile, m: M, n: N, k: K, batch, transA, transB, out });
      return out;
    }
    tile = regTile(tile);
  }
  const strideA = nA === 1 ? 0 : M * K, strideB = nB === 1 ? 0 : K * N;
  const variant: Variant = {
    tile,
    transA,
    transB,
    vecA: tile.kind === "reg" && !transA && K % 4 === 0 && strideA % 4 === 0,
    vecB: tile.kind === "reg" && !transB && N % 4 === 0 && strideB % 4 === 0,
    vecC: tile.kind === "reg" && N % 4 === 0,
    dotB: tile.kind === "reg" && transB && !transA && K % 4 === 0 && strideA % 4 === 0,
    vecAT: tile.kind === "reg" && transA && M % 4 === 0 && tile.tm % 4 === 0 && strideA % 4 === 0,
    aF16,
    bF16,
  };
  const kernel = compile(
    matmulSource(variant),
    5,
    `matmul:${tile.kind}${tile.tm}x${tile.tn}:${flags}${variant.vecA ? "vA" : ""}${variant.vecB ? "vB" : ""}${
      variant.vecC ? "vC" : ""
    }${variant.dotB ? "dB" : ""}${variant.vecAT ? "vAT" : ""}${aF16 ? ":hA" : ""}${bF16 ? ":hB" : ""}`,
  );
  const act = options.activation ?? "none";
  const slope = act === "relu" ? 0 : act === "leaky_relu" ? options.alpha ?? 0.01 : 1;
  const u = new Uniforms()
    .int(M, N, K, strideA, strideB, M * N)
    .float(options.bias ? 1 : 0, 0, slope, options.residual ? 1 : 0);
  const d = dummyBuffer();
  const rows = tile.tm * tile.wgy;
  const cols = tile.tn * tile.wgx;
  // Over the binding limit (or the workgroup-count limit): with A not transposed and B shared by every
  // batch, the batch folds into rows, and rows of A, C and the residual go in chunks (engine/chunking.ts).
  if (!transA && nB === 1) {
    const maxRows = backend().device.limits.maxComputeWorkgroupsPerDimension * rows;
    const res = options.residual;
    const plan = planRows(batch * M, [K * 4, N * 4], {
      wholeBytes: [b.byteLength, (options.bias?.size ?? 0) * 4],
      maxRows,
      what: "matmul",
    });
    if (plan && aF16) {
      throw new EnvironmentError(
        `matmul: an f16 A of ${a.byteLength} bytes exceeds one storage binding; cast it to f32 or split the batch`,
      );
    }
    if (plan) {
      for (const { start, count } of plan) {
        const bind = (buf: GpuBuffer, rowBytes: number) => range(buf, start * rowBytes, count * rowBytes);
        const uc = new Uniforms()
          .int(count, N, K, 0, 0, count * N)
          .float(options.bias ? 1 : 0, 0, slope, res ? 1 : 0);
        backend().dispatch(kernel, [
          bind(a.buf, K * 4),
          b.buf,
          options.bias?.buf ?? d,
          res ? bind(res.buf, N * 4) : d,
          bind(out.buf, N * 4),
        ], { uniforms: uc.build(), workgroups: [Math.ceil(N / cols), Math.ceil(count / rows), 1] });
      }
      return out;
    }
  }
  if (transA && !transB && batch === 1) {
    // Aᵀ·B over one binding (weight gradients: A and B are [K, ·] with K the batch × time rows): in chunks of
    // K, each chunk's product added to the previous chunk's through the residual, ping-ponging between C and
    // a scratch matrix (a binding may not be read and written at once) so that the last chunk writes C.
    const plan = planRows(K, [M * 4, N * 4], {
      wholeBytes: [out.byteLength, (options.bias?.size ?? 0) * 4],
      what: "matmul",
    });
    if (plan && (aF16 || bF16 || act !== "none")) {
      throw new EnvironmentError(
        `matmul: a transposed-A product over one storage binding splits along K only for f32 operands without an activation`,
      );
    }
    if (plan) {
      const scratch = plan.length > 1 ? output([M, N]) : null;
      let prev: GpuBuffer | null = options.residual?.buf ?? null;
      plan.forEach(({ start, count }, k) => {
        const dst = (plan.length - 1 - k) % 2 === 0 ? out.buf : scratch!.buf;
        const uc = new Uniforms()
          .int(M, N, count, 0, 0, M * N)
          .float(options.bias && k === 0 ? 1 : 0, 0, slope, prev ? 1 : 0);
        backend().dispatch(kernel, [
          range(a.buf, start * M * 4, count * M * 4),
          range(b.buf, start * N * 4, count * N * 4),
          options.bias?.buf ?? d,
          prev ?? d,
          dst,
        ], { uniforms: uc.build(), workgroups: [Math.ceil(N / cols), Math.ceil(M / rows), 1] });
        prev = dst;
      });
      scratch?.dispose();
      return out;
    }
  }
  backend().dispatch(kernel, [a.buf, b.buf, options.bias?.buf ?? d, options.residual?.buf ?? d, out.buf], {
    uniforms: u.build(),
    workgroups: [Math.ceil(N / cols), Math.ceil(M / rows), batch],
  });
  return out;
}
