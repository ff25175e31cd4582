/**
 * Convolutions, NCHW f32, with PyTorch semantics: `conv2d`, `conv1d` and `convTranspose2d`, each with a
 * fused epilogue (bias, activation, residual add) so a ResNet block needs no extra passes.
 *
 * Two kernel families:
 * - tiled (implicit GEMM, register-tiled, barrier-free): each invocation owns TM output channels × TN
 *   consecutive output pixels of one row, accumulated as vec4 along W. im2col is folded into the loads:
 *   per (input channel, kernel row) the invocation loads the span of input that its TN pixels × KW taps
 *   touch once, and every tap reuses it. The W-direction geometry (KW, stride, dilation, padding) is
 *   compiled in, so the tap → input-element mapping is resolved at code-generation time: when the input
 *   width is a multiple of 4 the span is read as aligned vec4 chunks and each tap's operand is a swizzle
 *   of them (free on SoA CPU adapters such as lavapipe, where every storage-buffer load is a per-lane
 *   loop). Weights are repacked per call into [block][channel][kh][kw][TM] and read as vec4 of TM/4
 *   output channels — from 64 KiB uniform-buffer windows when the feature map is large enough to fill
 *   a dispatch per window (a uniform-offset uniform load costs lavapipe one scalar load, a storage load
 *   a loop over the lanes), otherwise from one storage buffer. Sizes, H geometry and channel counts come
 *   from uniforms, so one compiled kernel serves every shape of a layer type. A transposed convolution
 *   (dilation 1) runs as stride×stride such convolutions, one per output phase.
 * - direct: one output element per invocation, all geometry from uniforms. Used for depthwise, grouped
 *   convolutions with few channels per group, tiny output-channel counts and dilated transposed
 *   convolutions.
 *
 * Measured on lavapipe (2 cores, AVX2) by bench/conv_bench.ts: 3×3 64→64 at 56×56 ≈ 25 GFLOP/s.
 * @module
 */

import { backend, type Binding, type GpuBuffer } from "../backend.ts";
import { InputError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { compile, flatMain, grid, output, runFlat, uniformDecl, Uniforms } from "./common.ts";
import type { Activation } from "./matmul.ts";

export type { Activation } from "./matmul.ts";

/** A size given for both spatial dimensions (one number) or as [h, w]. */
export type Size2 = number | readonly [number, number];

/** Fused epilogue options shared by the forward convolutions. */
export interface ConvEpilogue {
  /** Bias [O] added per output channel. */
  bias?: Tensor;
  /** Activation after the bias (default "none"). */
  activation?: Activation;
  /** Negative slope of leaky_relu (default 0.01, as PyTorch). */
  alpha?: number;
  /** Tensor of the output's shape added after the activation. */
  residual?: Tensor;
  /** Add the residual before the activation, `act(conv + bias + residual)` (a ResNet block's tail). */
  residualFirst?: boolean;
  /**
   * The weight stays unchanged while its tensor lives (an eval-mode layer's cached weight): its packed
   * copy is kept and reused by later calls (released when the tensor is disposed).
   */
  constantWeight?: boolean;
}

/** Options of `conv2d`. */
export interface Conv2dOptions extends ConvEpilogue {
  /** Stride (default 1). */
  stride?: Size2;
  /** Zero padding on each side (default 0). */
  padding?: Size2;
  /** Dilation (default 1). */
  dilation?: Size2;
  /** Groups (default 1): C and O must both be multiples of it. */
  groups?: number;
  /** Force a kernel family (tests and benchmarks); by default chosen from the shape. */
  kernel?: "tiled" | "direct";
  /** Force the tiled kernel's block: output channels × pixels per invocation, multiples of 4 (tuning). */
  tile?: ConvTile;
}

/** Block of the tiled kernel: `tm` output channels × `tn` output pixels per invocation. */
export interface ConvTile {
  /** Output channels per invocation (a multiple of 4). */
  tm: number;
  /** Output pixels along W per invocation (a multiple of 4). */
  tn: number;
  /** Where the kernel reads packed weights: 64 KiB uniform windows (one dispatch each) or one storage buffer. */
  weights?: "uniform" | "storage";
  /** Pixel blocks along output rows, or over the flattened (image, row, column) pixels. */
  layout?: "rows" | "flat";
}

/** Options of `conv1d`. */
export interface Conv1dOptions extends ConvEpilogue {
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default 0). */
  padding?: number;
  /** Dilation (default 1). */
  dilation?: number;
  /** Groups (default 1). */
  groups?: number;
  /** Force a kernel family (tests and benchmarks). */
  kernel?: "tiled" | "direct";
  /** Force the tiled kernel's block (tuning). */
  tile?: ConvTile;
}

/** Options of `convTranspose2d`. */
export interface ConvTranspose2dOptions extends ConvEpilogue {
  /** Stride (default 1). */
  stride?: Size2;
  /** Padding removed from each side of the full output (default 0). */
  padding?: Size2;
  /** Extra rows/columns added at the bottom/right (default 0; must be < stride or < dilation). */
  outputPadding?: Size2;
  /** Dilation (default 1). */
  dilation?: Size2;
  /** Groups (default 1): C and O must both be multiples of it. */
  groups?: number;
  /** Force a kernel family (tests and benchmarks); the tiled one needs dilation 1. */
  kernel?: "tiled" | "direct";
  /** Force the tiled kernel's block (tuning). */
  tile?: ConvTile;
}

/** Full geometry of one 2-D convolution (forward or transposed). */
interface Geom {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PH: number;
  PW: number;
  DH: number;
  DW: number;
  G: number;
  OH: number;
  OW: number;
}

const fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

function pair(v: Size2 | undefined, def: number, what: string, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [def, def] : typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isSafeInteger(d) && d >= min)) {
    throw new InputError(`${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function slopeOf(e: ConvEpilogue): number {
  const act = e.activation ?? "none";
  if (act !== "none" && act !== "relu" && act !== "leaky_relu") {
    throw new InputError(`unknown activation "${act}" (expected "none", "relu" or "leaky_relu")`);
  }
  return act === "relu" ? 0 : act === "leaky_relu" ? e.alpha ?? 0.01 : 1;
}

function checkEpilogue(op: string, e: ConvEpilogue, O: number, outShape: readonly number[]): void {
  if (e.bias && (e.bias.size !== O || e.bias.rank !== 1)) {
    throw new InputError(`${op} bias has shape ${fmt(e.bias.shape)}, expected [${O}]`);
  }
  if (e.residual && e.residual.shape.join() !== outShape.join()) {
    throw new InputError(`${op} residual has shape ${fmt(e.residual.shape)}, expected ${fmt(outShape)}`);
  }
  for (const t of [e.bias, e.residual]) {
    if (t && t.dtype !== "f32") throw new InputError(`${op} expects f32 tensors, got ${t.dtype}`);
  }
}

let dummy: GpuBuffer | null = null;
function dummyBuffer(): GpuBuffer {
  dummy ??= backend().alloc(16);
  return dummy;
}

// ---------------------------------------------------------------------------------------------------
// Tiled kernel (forward convolutions, and each output phase of a transposed one)
// ---------------------------------------------------------------------------------------------------

/** Compile-time parameters of a tiled kernel. */
interface TiledVariant {
  /** Output channels per invocation (multiple of 4). */
  tm: number;
  /** Output pixels per invocation along W (multiple of 4). */
  tn: number;
  /** Input channels per main-loop iteration (unrolled; 4 for 1×1 kernels, whose loop body is tiny). */
  cu: number;
  /** Weights in a uniform-buffer window (else one storage buffer holding every block). */
  ubo: boolean;
  /** Kernel rows when unrolled at compile time; 0 for a loop over the KH uniform. */
  kh: number;
  /** Whether input rows / columns can fall outside the input (padding, or a transposed conv's phases). */
  maskH: boolean;
  maskW: boolean;
  kw: number;
  sw: number;
  dw: number;
  pw: number;
  /** Input width is a multiple of 4: read the input as aligned vec4 chunks. */
  vecIn: boolean;
  /** Output rows are contiguous and a multiple of 4 wide: vec4 stores and residual loads. */
  vecOut: boolean;
  /**
   * Pixels of a block are TN consecutive pixels of the flattened (image, row, column) space instead of
   * one row's: for outputs narrower than a block (a temporal model's last frames, 1×1 maps), where
   * row-aligned blocks would mostly compute padding. Scalar loads, addresses per pixel.
   */
  flat: boolean;
}

const TILED_WG = 16;
/** Floats in one uniform-buffer window of packed weights (64 KiB, WebGPU's default binding limit). */
const UBO_FLOATS = 16384;
const COMP = ["x", "y", "z", "w"];
const signed = (v: number): string => (v >= 0 ? `+ ${v}` : `- ${-v}`);

/** Accumulator names acc{m}_{q} in the order of the private arrays of the init and epilogue loops. */
function accNames(tm: number, tn4: number): string[] {
  const names: string[] = [];
  for (let m = 0; m < tm; m++) for (let q = 0; q < tn4; q++) names.push(`acc${m}_${q}`);
  return names;
}

/** The WGSL of a tiled convolution variant. */
function tiledSource(v: TiledVariant): string {
  if (v.flat) return flatSource(v);
  const { tm, tn, cu, kw: KW, sw: SW, dw: DW, pw: PW } = v;
  const tm4 = tm / 4, tn4 = tn / 4;
  // Offsets (relative to the first input column of the invocation) that tap k of pixel j reads.
  const off = (j: number, k: number): number => j * SW + k * DW;
  const offsets = new Set<number>();
  for (let j = 0; j < tn; j++) for (let k = 0; k < KW; k++) offsets.add(off(j, k));
  // vecIn: the first input column is 4·A − PW; with q0 = ⌊−PW/4⌋ and r = −PW − 4·q0 ∈ [0, 4), offset e
  // lies in chunk A + q0 + ⌊(r + e)/4⌋ at component (r + e) mod 4.
  const q0 = Math.floor(-PW / 4), r = -PW - 4 * q0;
  const chunks = new Set<number>();
  for (const e of offsets) chunks.add(Math.floor((r + e) / 4));
  const elem = (u: number, e: number): string =>
    v.vecIn ? `x${u}_${Math.floor((r + e) / 4)}.${COMP[(r + e) % 4]}` : `x${u}_${e}`;
  const xt = v.vecIn ? "vec4<f32>" : "f32";
  const yt = v.vecOut ? "vec4<f32>" : "f32";
  let s = `@group(0) @binding(0) var<storage, read> X: array<${xt}>;
${
    v.ubo
      ? `@group(0) @binding(1) var<uniform> Wu: array<vec4<f32>, ${UBO_FLOATS / 4}>;`
      : `@group(0) @binding(1) var<storage, read> Wu: array<vec4<f32>>;`
  }
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<${yt}>;
@group(0) @binding(4) var<storage, read_write> Y: array<${yt}>;
${uniformDecl(5, 30)}
@compute @workgroup_size(${TILED_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let total = P(0u); let nch = P(1u); let OHp = P(2u); let OWp = P(3u); let H = P(4u); let W = P(5u);
  let Cg = P(6u); let Cin = P(7u); let KH = P(8u); let SH = P(9u); let PH = PI(10u); let DH = P(11u);
  let Og = P(12u); let O = P(13u); let bpg = P(14u); let z0 = P(15u); let c0 = P(16u); let c1 = P(17u);
  let Kc = P(18u); let OH = P(19u); let OW = P(20u); let oy0 = P(21u); let osh = P(22u); let ox0 = P(23u);
  let osw = P(24u);
  let gi = (wid.y * nwg.x + wid.x) * ${TILED_WG}u + lid;
  // Out-of-range invocations compute a duplicate of the last block instead of returning early, so the
  // main loop runs outside any divergent branch; only the stores are guarded.
  let p = min(gi, total - 1u);
  let chunk = p % nch; let t = p / nch; let oh = t % OHp; let n = t / OHp;
  let z = z0 + wid.z; let g = z / bpg; let ob = z % bpg;
  let ow0 = chunk * ${tn}u;
  let ih0 = i32(oh * SH) - PH;
  let xb = (n * Cin + g * Cg) * H;
  let wz = wid.z * Kc * ${tm4}u;
  let oy = oy0 + osh * oh;
`;
  if (v.vecIn) {
    s += `  let W4 = i32(W / 4u);\n  let A = i32(ow0 * ${SW}u / 4u) ${signed(q0)};\n`;
    for (const q of chunks) {
      s += `  let iq${q} = u32(clamp(A + ${q}, 0, W4 - 1)); let mq${q} = A + ${q} >= 0 && A + ${q} < W4;\n`;
    }
  } else {
    s += `  let iw0 = i32(ow0 * ${SW}u) ${signed(-PW)};\n`;
    for (const e of offsets) {
      s += `  let iq${e} = u32(clamp(iw0 + ${e}, 0, i32(W) - 1)); ` +
        `let mq${e} = iw0 + ${e} >= 0 && iw0 + ${e} < i32(W);\n`;
    }
  }
  for (let m = 0; m < tm; m++) for (let q = 0; q < tn4; q++) s += `  var acc${m}_${q} = vec4<f32>(0.0);\n`;
  // Later passes of a split input-channel range continue from the partial sums already in Y. The
  // initial load and the epilogue are loops over a private array: unrolled per accumulator they were
  // most of the shader, and lavapipe's compile time grows steeply with shader size.
  const accList = accNames(tm, tn4);
  const yRow = `((n * O + g * Og + ob * ${tm}u + m) * OH + oy) * OW`;
  s += `  if (P(25u) == 0u) {
    let ny = arrayLength(&Y) - 1u;
    var ini: array<vec4<f32>, ${tm * tn4}>;
    for (var m = 0u; m < ${tm}u; m++) {
`;
  s += v.vecOut
    ? `      let yb = (${yRow} + ow0) / 4u;
      for (var q = 0u; q < ${tn4}u; q++) { ini[m * ${tn4}u + q] = Y[min(yb + q, ny)]; }
`
    : `      let yb = ${yRow} + ox0 + osw * ow0;
      for (var j = 0u; j < ${tn}u; j++) { ini[m * ${tn4}u + j / 4u][j % 4u] = Y[min(yb + osw * j, ny)]; }
`;
  s += `    }
${accList.map((a, i) => `    ${a} = ini[${i}];`).join("\n")}
  }
`;
  s += `  for (var c = c0; c < c1; c += ${cu}u) {
`;
  for (let u = 0; u < cu; u++) {
    // Channels past c1 (the padded tail of an unrolled loop) read zeros; their packed weights are zero too.
    const cv = cu > 1 ? `c + ${u}u < c1` : "";
    s += `    {
    let xc = (xb + min(c + ${u}u, Cg - 1u) * H);
    let wc = wz + (c + ${u}u - c0) * KH * ${KW * tm4}u;
`;
    const rows = v.kh > 0 ? Array.from({ length: v.kh }, (_, i) => `${i}u`) : [null];
    for (const khConst of rows) {
      s += khConst === null
        ? `    for (var kh = 0u; kh < KH; kh++) {\n`
        : `    {\n      let kh = ${khConst};\n`;
      s += `      let ih = ih0 + i32(kh * DH);
      let row = (xc + u32(clamp(ih, 0, i32(H) - 1))) * W;
      let wr = wc + kh * ${KW * tm4}u;
`;
      const rowMask = [v.maskH ? "ih >= 0 && ih < i32(H)" : "", cv].filter(Boolean).join(" && ");
      if (rowMask) s += `      let vh = ${rowMask};\n`;
      const mask = (m: string): string =>
        [rowMask ? "vh" : "", v.maskW ? m : ""].filter(Boolean).join(" && ");
      if (v.vecIn) {
        s += `      let row4 = row / 4u;\n`;
        for (const q of chunks) {
          const mk = mask(`mq${q}`);
          s += mk
            ? `      let x${u}_${q} = select(vec4<f32>(0.0), X[row4 + iq${q}], ${mk});\n`
            : `      let x${u}_${q} = X[row4 + iq${q}];\n`;
        }
      } else {
        for (const e of offsets) {
          const mk = mask(`mq${e}`);
          s += mk
            ? `      let x${u}_${e} = select(0.0, X[row + iq${e}], ${mk});\n`
            : `      let x${u}_${e} = X[row + iq${e}];\n`;
        }
      }
      for (let k = 0; k < KW; k++) {
        for (let t = 0; t < tm4; t++) s += `      let w${k}_${t} = Wu[wr + ${k * tm4 + t}u];\n`;
        for (let q = 0; q < tn4; q++) {
          const parts = [0, 1, 2, 3].map((i) => elem(u, off(4 * q + i, k)));
          s += `      let v${k}_${q} = vec4<f32>(${parts.join(", ")});\n`;
        }
        for (let m = 0; m < tm; m++) {
          for (let q = 0; q < tn4; q++) {
            s += `      acc${m}_${q} = fma(vec4<f32>(w${k}_${m >> 2}.${
              COMP[m & 3]
            }), v${k}_${q}, acc${m}_${q});\n`;
          }
        }
      }
      s += `    }\n`;
    }
    s += `    }\n`;
  }
  s += `  }
${TILED_EPILOGUE_WORDS}  var accs = array<vec4<f32>, ${tm * tn4}>(${accList.join(", ")});
  for (var m = 0u; m < ${tm}u; m++) {
    let oc = ob * ${tm}u + m;
    if (live && oc < Og) {
      let bias = Bias[min(g * Og + oc, nb)] * hb;
`;
  s += v.vecOut
    ? `      let yb = (${yRow} + ow0) / 4u;
      for (var q = 0u; q < ${tn4}u; q++) {
        if (ow0 + 4u * q < OWp) {
          let i = yb + q; let r = R[min(i, nr)]; let a = accs[m * ${tn4}u + q] + bias + r * hf;
          Y[i] = select(a * slope, a, a > vec4<f32>(0.0)) + r * ha;
        }
      }
`
    : `      let yb = ${yRow} + ox0 + osw * ow0;
      for (var j = 0u; j < ${tn}u; j++) {
        if (ow0 + j < OWp) {
          let k = yb + osw * j; let r = R[min(k, nr)]; let a = accs[m * ${tn4}u + j / 4u][j % 4u] + bias + r * hf;
          Y[k] = select(a * slope, a, a > 0.0) + r * ha;
        }
      }
`;
  s += `    }
  }
`;
  s += `}\n`;
  return s;
}

/** The epilogue's uniform words, shared by both tiled layouts. */
const TILED_EPILOGUE_WORDS = `  let hb = PF(26u); let slope = PF(27u); let hr = PF(28u);
  // Residual weight before (ResNet tails: residualFirst) and after the activation.
  let hf = select(0.0, hr, P(29u) != 0u); let ha = hr - hf;
  let nb = arrayLength(&Bias) - 1u; let nr = arrayLength(&R) - 1u;
  let live = gi < total;
`;

/** Declarations and the uniform block shared by both tiled layouts. */
function tiledHeader(v: TiledVariant, xt: string, yt: string): string {
  return `@group(0) @binding(0) var<storage, read> X: array<${xt}>;
${
    v.ubo
      ? `@group(0) @binding(1) var<uniform> Wu: array<vec4<f32>, ${UBO_FLOATS / 4}>;`
      : `@group(0) @binding(1) var<storage, read> Wu: array<vec4<f32>>;`
  }
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<${yt}>;
@group(0) @binding(4) var<storage, read_write> Y: array<${yt}>;
${uniformDecl(5, 30)}
@compute @workgroup_size(${TILED_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let total = P(0u); let OHp = P(2u); let OWp = P(3u); let H = P(4u); let W = P(5u);
  let Cg = P(6u); let Cin = P(7u); let KH = P(8u); let SH = P(9u); let PH = PI(10u); let DH = P(11u);
  let Og = P(12u); let O = P(13u); let bpg = P(14u); let z0 = P(15u); let c0 = P(16u); let c1 = P(17u);
  let Kc = P(18u); let OH = P(19u); let OW = P(20u); let oy0 = P(21u); let osh = P(22u); let ox0 = P(23u);
  let osw = P(24u);
  let gi = (wid.y * nwg.x + wid.x) * ${TILED_WG}u + lid;
  // Out-of-range invocations compute a duplicate of the last block instead of returning early, so the
  // main loop runs outside any divergent branch; only the stores are guarded.
  let p = min(gi, total - 1u);
  let z = z0 + wid.z; let g = z / bpg; let ob = z % bpg;
  let wz = wid.z * Kc * ${v.tm / 4}u;
`;
}

/** The flat-pixel layout of the tiled kernel (see `TiledVariant.flat`); uniform 1 holds the pixel count. */
function flatSource(v: TiledVariant): string {
  const { tm, tn, cu, kw: KW, sw: SW, dw: DW, pw: PW } = v;
  const tm4 = tm / 4, tn4 = tn / 4;
  let s = tiledHeader(v, "f32", "f32") + `  let NP = P(1u);\n`;
  for (let j = 0; j < tn; j++) {
    s +=
      `  let q${j} = min(p * ${tn}u + ${j}u, NP - 1u); let ow${j} = q${j} % OWp; let t${j} = q${j} / OWp; ` +
      `let oh${j} = t${j} % OHp; let n${j} = t${j} / OHp;\n` +
      `  let ih${j} = i32(oh${j} * SH) - PH; let xb${j} = (n${j} * Cin + g * Cg) * H; ` +
      `let iw${j} = i32(ow${j} * ${SW}u) ${signed(-PW)};\n` +
      `  let yb${j} = (n${j} * O + g * Og + ob * ${tm}u) * OH + oy0 + osh * oh${j}; ` +
      `let yc${j} = ox0 + osw * ow${j};\n`;
    for (let k = 0; k < KW; k++) {
      s += `  let ic${j}_${k} = u32(clamp(iw${j} + ${k * DW}, 0, i32(W) - 1)); ` +
        `let mc${j}_${k} = iw${j} + ${k * DW} >= 0 && iw${j} + ${k * DW} < i32(W);\n`;
    }
  }
  for (let m = 0; m < tm; m++) for (let q = 0; q < tn4; q++) s += `  var acc${m}_${q} = vec4<f32>(0.0);\n`;
  const accList = accNames(tm, tn4);
  s += `  var ybs = array<u32, ${tn}>(${Array.from({ length: tn }, (_, j) => `yb${j}`).join(", ")});
  var ycs = array<u32, ${tn}>(${Array.from({ length: tn }, (_, j) => `yc${j}`).join(", ")});
  if (P(25u) == 0u) {
    let ny = arrayLength(&Y) - 1u;
    var ini: array<vec4<f32>, ${tm * tn4}>;
    for (var m = 0u; m < ${tm}u; m++) {
      for (var j = 0u; j < ${tn}u; j++) { ini[m * ${tn4}u + j / 4u][j % 4u] = Y[min((ybs[j] + m * OH) * OW + ycs[j], ny)]; }
    }
${accList.map((a, i) => `    ${a} = ini[${i}];`).join("\n")}
  }
`;
  s += `  for (var c = c0; c < c1; c += ${cu}u) {
`;
  for (let u = 0; u < cu; u++) {
    const cv = cu > 1 ? `c + ${u}u < c1` : "";
    s += `    {
    let cc = min(c + ${u}u, Cg - 1u);
    let wc = wz + (c + ${u}u - c0) * KH * ${KW * tm4}u;
`;
    const rows = v.kh > 0 ? Array.from({ length: v.kh }, (_, i) => `${i}u`) : [null];
    for (const khConst of rows) {
      s += khConst === null
        ? `    for (var kh = 0u; kh < KH; kh++) {\n`
        : `    {\n      let kh = ${khConst};\n`;
      s += `      let wr = wc + kh * ${KW * tm4}u;\n`;
      for (let j = 0; j < tn; j++) {
        const rowMask = [v.maskH ? `ih${j} + i32(kh * DH) >= 0 && ih${j} + i32(kh * DH) < i32(H)` : "", cv]
          .filter(Boolean).join(" && ");
        s += `      let r${j} = (xb${j} + cc * H + u32(clamp(ih${j} + i32(kh * DH), 0, i32(H) - 1))) * W;\n`;
        if (rowMask) s += `      let vh${j} = ${rowMask};\n`;
        for (let k = 0; k < KW; k++) {
          const mk = [rowMask ? `vh${j}` : "", v.maskW ? `mc${j}_${k}` : ""].filter(Boolean).join(" && ");
          s += mk
            ? `      let x${j}_${k} = select(0.0, X[r${j} + ic${j}_${k}], ${mk});\n`
            : `      let x${j}_${k} = X[r${j} + ic${j}_${k}];\n`;
        }
      }
      for (let k = 0; k < KW; k++) {
        for (let t = 0; t < tm4; t++) s += `      let w${k}_${t} = Wu[wr + ${k * tm4 + t}u];\n`;
        for (let q = 0; q < tn4; q++) {
          const parts = [0, 1, 2, 3].map((i) => `x${4 * q + i}_${k}`);
          s += `      let v${k}_${q} = vec4<f32>(${parts.join(", ")});\n`;
        }
        for (let m = 0; m < tm; m++) {
          for (let q = 0; q < tn4; q++) {
            s += `      acc${m}_${q} = fma(vec4<f32>(w${k}_${m >> 2}.${
              COMP[m & 3]
            }), v${k}_${q}, acc${m}_${q});\n`;
          }
        }
      }
      s += `    }\n`;
    }
    s += `    }\n`;
  }
  s += `  }
${TILED_EPILOGUE_WORDS}`;
  s += `  var accs = array<vec4<f32>, ${tm * tn4}>(${accList.join(", ")});
  for (var m = 0u; m < ${tm}u; m++) {
    let oc = ob * ${tm}u + m;
    if (live && oc < Og) {
      let bias = Bias[min(g * Og + oc, nb)] * hb;
      for (var j = 0u; j < ${tn}u; j++) {
        if (p * ${tn}u + j < NP) {
          let k = (ybs[j] + m * OH) * OW + ycs[j]; let r = R[min(k, nr)];
          let a = accs[m * ${tn4}u + j / 4u][j % 4u] + bias + r * hf;
          Y[k] = select(a * slope, a, a > 0.0) + r * ha;
        }
      }
    }
  }
`;
  s += `}\n`;
  return s;
}

// Packs one dispatch's weights into a uniform window laid out [block][channel][kh][kw][TM]. The source
// index is affine in (group, channel in block, input channel, kh, kw) with the strides given, and the
// tap is `a + b·k'`, which covers both forward weights [O, C/g, kh, kw] (a = 0, b = 1) and the flipped
// per-phase taps of transposed weights [C, O/g, kh, kw] (a = first tap + stride·(taps − 1), b = −stride).
const PACK_WG = 64;
const PACK = `@group(0) @binding(0) var<storage, read> Wt: array<f32>;
@group(0) @binding(1) var<storage, read_write> U: array<vec4<f32>>;
${uniformDecl(2, 21)}
@compute @workgroup_size(${PACK_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Grid (channel, tap, block): integer division is scalarised on CPU adapters, so the index is taken
  // from the grid instead of decomposed, and each invocation writes a block's TM weights of one tap.
  let TM = P(1u); let cPad = P(2u); let KHp = P(3u); let KWp = P(4u); let z0 = P(5u); let bpg = P(6u);
  let Og = P(7u); let c0 = P(8u); let c1 = P(9u);
  let cl = wid.x * ${PACK_WG}u + lid;
  if (cl >= cPad) { return; }
  let c = c0 + cl; let tap = wid.y; let zl = wid.z;
  let khp = tap / KWp; let kwp = tap % KWp;
  let z = z0 + zl; let g = z / bpg; let o0 = (z % bpg) * TM;
  let kh = PI(15u) + PI(16u) * i32(khp); let kw = PI(17u) + PI(18u) * i32(kwp);
  let ok = c < c1 && kh >= 0 && kh < PI(19u) && kw >= 0 && kw < PI(20u);
  let src = g * P(10u) + c * P(12u) + u32(max(kh, 0)) * P(13u) + u32(max(kw, 0)) * P(14u);
  let sO = P(11u); let last = arrayLength(&Wt) - 1u;
  let dst = ((zl * cPad + cl) * KHp * KWp + tap) * (TM / 4u);
  for (var t = 0u; t < TM; t += 4u) {
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
      let o = o0 + t + i;
      v[i] = select(0.0, Wt[min(src + o * sO, last)], ok && o < Og);
    }
    U[dst + t / 4u] = v;
  }
}`;

/** Uniform-buffer windows for packed weights, reused round-robin (every use is ordered in the encoder). */
const uboRing: GpuBuffer[] = [];
let uboNext = 0;
function uboWindow(): GpuBuffer {
  const RING = 4;
  if (uboRing.length < RING) {
    // Not pooled: a pool buffer cannot be bound as a uniform buffer. A handful of 64 KiB windows serve
    // every convolution of the process.
    const size = UBO_FLOATS * 4;
    const buffer = backend().device.createBuffer({
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label: "conv weights window",
    });
    uboRing.push({ buffer, size, epoch: 0, live: true });
  }
  const b = uboRing[uboNext % uboRing.length];
  uboNext++;
  return b;
}

/** How the weights of one tiled convolution are split into uniform windows (or kept in one buffer). */
interface TiledPlan {
  tm: number;
  tn: number;
  cu: number;
  /** Uniform-buffer windows (else a single dispatch reading packed weights from a storage buffer). */
  ubo: boolean;
  /** Blocks of flattened pixels (see `TiledVariant.flat`). */
  flat: boolean;
  /** Input channels per pass (a multiple of cu). */
  cPer: number;
  /** Output-channel blocks per dispatch. */
  nb: number;
}

/**
 * Output pixels per invocation: the multiple of 4 ≤ 28 that wastes least on row ends and halos, keeping
 * the distinct input elements an invocation holds per kernel row ≤ 40 (with large strides or dilations
 * taps stop sharing inputs, and beyond that the kernel drowns in register spills).
 */
function pickTn(OWp: number, KW: number, SW: number, DW: number, max: number): number {
  let best = 4, bestCost = Infinity;
  for (const tn of [4, 8, 12, 16, 20, 24, 28]) {
    if (tn > max) break;
    const span = new Set<number>();
    for (let j = 0; j < tn; j++) for (let k = 0; k < KW; k++) span.add(j * SW + k * DW);
    if (tn > 4 && span.size > 40) break;
    // Work ∝ (padded pixels) + per-invocation overhead ∝ the halo each block reloads.
    const cost = Math.ceil(OWp / tn) * (tn + ((KW - 1) * Math.min(DW, 4) + 4 * SW) / 2);
    if (cost < bestCost - 1e-9) {
      best = tn;
      bestCost = cost;
    }
  }
  return best;
}

// Uniform windows make weight reads nearly free on CPU adapters (a uniform-offset UBO load is one scalar
// load, where every storage-buffer load is a per-lane loop), but each 64 KiB window is its own dispatch
// (~0.1 ms of overhead on lavapipe), and a dispatch's parallelism is only the pixel blocks × channel
// blocks in its window. Small feature maps (or huge reductions) therefore take the storage path: one
// dispatch over every channel block. Measured on lavapipe, the crossover is near 256 invocations.
const MIN_UBO_INVOCATIONS = 256;

function planTiled(
  Cg: number,
  KHp: number,
  KWp: number,
  Og: number,
  rows: number,
  OWp: number,
  SW: number,
  DW: number,
  tile?: ConvTile,
): TiledPlan {
  const taps = KHp * KWp;
  const cu = taps === 1 ? 4 : 1;
  // Rows narrower than a block of 8 would mostly compute padding: block the flattened pixels instead.
  const flat = tile?.layout ? tile.layout === "flat" : OWp < 8 && rows * OWp >= 8;
  // 1×1 kernels and flat blocks reuse each input load over more channels (measured on lavapipe).
  const tm = tile?.tm ?? (taps === 1 || flat ? (Og >= 16 ? 16 : Og >= 8 ? 8 : 4) : Og >= 8 ? 8 : 4);
  let tn = tile?.tn ?? (flat || taps === 1 ? 8 : pickTn(OWp, KWp, SW, DW, 28));
  const blocks = Math.ceil(Og / tm);
  const perBlock = flat ? Math.ceil((rows * OWp) / tn) : rows * Math.ceil(OWp / tn);
  const perChannel = tm * taps;
  const maxC = Math.floor(UBO_FLOATS / (perChannel * cu)) * cu;
  if (maxC >= cu && tile?.weights !== "storage") {
    // Channels past maxC are split into passes that accumulate in the output.
    const cPer = Math.min(Math.ceil(Cg / cu) * cu, maxC);
    const nb = Math.floor(UBO_FLOATS / (perChannel * cPer));
    if (tile?.weights === "uniform" || perBlock * Math.min(nb, blocks) >= MIN_UBO_INVOCATIONS) {
      return { tm, tn, cu, ubo: true, flat, cPer, nb };
    }
  }
  // Storage-path blocks stay ≤ 16 pixels wide: their per-lane weight loads leave fewer registers, and
  // wider blocks measured slower on lavapipe.
  if (!flat && !tile?.tn && taps > 1) tn = pickTn(OWp, KWp, SW, DW, 16);
  // Large dilations on short rows (a temporal model's late layers): taps share no input, so keep the
  // block narrow and deep — 16×4 measured 2.5× faster than 8×12 for k3/d27 at T=27 on lavapipe.
  if (!flat && !tile && DW >= 16 && OWp <= 64 && Og >= 16) {
    return { tm: 16, tn: 4, cu, ubo: false, flat, cPer: Cg, nb: Math.ceil(Og / 16) };
  }
  return { tm, tn, cu, ubo: false, flat, cPer: Cg, nb: blocks };
}

/** The W-direction and output-mapping geometry of one tiled launch (a forward conv, or one deconv phase). */
interface TiledLaunch {
  /** Kernel taps (rows, columns) as packed, and the W-direction stride/dilation/padding in input space. */
  KHp: number;
  KWp: number;
  SH: number;
  DH: number;
  PH: number;
  SW: number;
  DW: number;
  PW: number;
  /** Iteration space (rows, columns) and where its pixels land in the output. */
  OHp: number;
  OWp: number;
  oy0: number;
  osh: number;
  ox0: number;
  osw: number;
  /** Weight packing: strides of (group, output channel, input channel, kh, kw) and tap maps a + b·k'. */
  sG: number;
  sO: number;
  sC: number;
  sKH: number;
  sKW: number;
  ah: number;
  bh: number;
  aw: number;
  bw: number;
}

// Packed weights of constant weight tensors (`ConvEpilogue.constantWeight`), by tensor and launch: every
// window of one launch in one buffer. Re-packing them was 62 dispatches (27 ms) of a PoseFix R50 forward
// on lavapipe. Swept when their tensors are disposed.
const packCache = new Map<Tensor, Map<string, GpuBuffer>>();

function sweepPacks(): void {
  for (const t of packCache.keys()) if (t.disposed) dropConvPacks(t);
}

/** Releases the packed copies of `w` (a layer whose weights may change calls it, e.g. on `train()`). */
export function dropConvPacks(w: Tensor): void {
  const m = packCache.get(w);
  if (!m) return;
  for (const b of m.values()) backend().afterPendingSubmit(() => b.buffer.destroy());
  packCache.delete(w);
}

/** Bytes of the packed convolution weights cached for constant weights (outside the buffer pool's statistics). */
export function packedConvWeightBytes(): number {
  sweepPacks();
  let bytes = 0;
  for (const m of packCache.values()) for (const b of m.values()) bytes += b.size;
  return bytes;
}

/** Number of weight tensors whose packed windows are cached (for leak tests). */
export function cachedConvPacks(): number {
  sweepPacks();
  return packCache.size;
}

function launchTiled(
  x: Tensor,
  w: Tensor,
  g: Geom,
  L: TiledLaunch,
  plan: TiledPlan,
  e: ConvEpilogue,
  out: Tensor,
  label: string,
): void {
  const { tm, tn, cu, cPer, nb } = plan;
  const Og = g.O / g.G, Cg = g.C / g.G;
  const bpg = Math.ceil(Og / tm);
  const blocks = g.G * bpg;
  // Windows (output-channel blocks × input-channel passes) and their byte ranges in a cached pack.
  const windows: {
    z0: number;
    nz: number;
    c0: number;
    c1: number;
    Kc: number;
    offset: number;
    size: number;
  }[] = [];
  let packBytes = 0;
  for (let z0 = 0; z0 < blocks; z0 += nb) {
    const nz = Math.min(nb, blocks - z0);
    for (let c0 = 0; c0 < Cg; c0 += cPer) {
      const c1 = Math.min(Cg, c0 + cPer);
      const Kc = Math.ceil((c1 - c0) / cu) * cu * L.KHp * L.KWp;
      const size = plan.ubo ? UBO_FLOATS * 4 : nz * Kc * tm * 4;
      windows.push({ z0, nz, c0, c1, Kc, offset: packBytes, size });
      packBytes += Math.ceil(size / 256) * 256;
    }
  }
  let pack: GpuBuffer | null = null, packed = false;
  if (e.constantWeight) {
    sweepPacks();
    const key = [tm, cu, cPer, nb, plan.ubo, g.C, g.O, g.G, ...Object.values(L)].join(",");
    let byLaunch = packCache.get(w);
    if (!byLaunch) packCache.set(w, byLaunch = new Map());
    pack = byLaunch.get(key) ?? null;
    packed = pack !== null;
    if (!pack) {
      const buffer = backend().device.createBuffer({
        size: packBytes,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE,
        label: "conv packed weights",
      });
      pack = { buffer, size: packBytes, epoch: 0, live: true };
      byLaunch.set(key, pack);
    }
  }
  const variant: TiledVariant = {
    tm,
    tn,
    cu,
    ubo: plan.ubo,
    // Unrolling the kernel rows only pays for KH = 1 (no loop at all); it triples 3×3 compile times.
    kh: L.KHp === 1 ? 1 : 0,
    maskH: L.PH !== 0 || L.osh !== 1,
    maskW: L.PW !== 0 || L.osw !== 1,
    kw: L.KWp,
    sw: L.SW,
    dw: L.DW,
    pw: L.PW,
    vecIn: !plan.flat && g.W % 4 === 0,
    vecOut: !plan.flat && L.osw === 1 && L.ox0 === 0 && g.OW === L.OWp && g.OW % 4 === 0,
    flat: plan.flat,
  };
  const kernel = compile(
    tiledSource(variant),
    5,
    `${label}:tiled:${
      plan.ubo ? "ubo" : "ssbo"
    }:${tm}x${tn}c${cu}:k${variant.kh}x${L.KWp}s${L.SW}d${L.DW}p${L.PW}${variant.vecIn ? "vI" : ""}${
      variant.vecOut ? "vO" : ""
    }${variant.maskH ? "mH" : ""}${variant.maskW ? "mW" : ""}${variant.flat ? "F" : ""}`,
  );
  const packKernel = compile(PACK, 2, "conv:pack");
  const NP = g.N * L.OHp * L.OWp;
  // Uniform 1: chunks per row, or (flat layout) the pixel count.
  const nch = plan.flat ? NP : Math.ceil(L.OWp / tn);
  const total = plan.flat ? Math.ceil(NP / tn) : g.N * L.OHp * nch;
  const [gx, gy] = grid(Math.ceil(total / TILED_WG));
  const d = dummyBuffer();
  const slope = slopeOf(e);
  for (const { z0, nz, c0, c1, Kc, offset, size } of windows) {
    const last = c1 === Cg;
    const tmp = plan.ubo || pack ? null : output([nz * Kc * tm]);
    const win: Binding = pack ? { buf: pack, offset, size } : tmp ? tmp.buf : uboWindow();
    if (!packed) {
      const cPad = Kc / (L.KHp * L.KWp);
      const pu = new Uniforms()
        .int(0, tm, cPad, L.KHp, L.KWp, z0, bpg, Og, c0, c1)
        .int(L.sG, L.sO, L.sC, L.sKH, L.sKW, L.ah, L.bh, L.aw, L.bw, g.KH, g.KW);
      backend().dispatch(packKernel, [w.buf, win], {
        uniforms: pu.build(),
        workgroups: [Math.ceil(cPad / PACK_WG), L.KHp * L.KWp, nz],
      });
    }
    const u = new Uniforms()
      .int(total, nch, L.OHp, L.OWp, g.H, g.W, Cg, g.C, L.KHp, L.SH, L.PH, L.DH, Og, g.O, bpg, z0, c0, c1)
      .int(Kc, g.OH, g.OW, L.oy0, L.osh, L.ox0, L.osw, c0 === 0 ? 1 : 0)
      .float(last && e.bias ? 1 : 0, last ? slope : 1, last && e.residual ? 1 : 0)
      .int(last && e.residualFirst ? 1 : 0);
    backend().dispatch(kernel, [x.buf, win, e.bias?.buf ?? d, e.residual?.buf ?? d, out.buf], {
      uniforms: u.build(),
      workgroups: [gx, gy, nz],
    });
    tmp?.dispose();
  }
}

function runTiled(x: Tensor, w: Tensor, g: Geom, e: ConvEpilogue, out: Tensor, plan: TiledPlan): void {
  const Cg = g.C / g.G, Og = g.O / g.G;
  const L: TiledLaunch = {
    KHp: g.KH,
    KWp: g.KW,
    SH: g.SH,
    DH: g.DH,
    PH: g.PH,
    SW: g.SW,
    DW: g.DW,
    PW: g.PW,
    OHp: g.OH,
    OWp: g.OW,
    oy0: 0,
    osh: 1,
    ox0: 0,
    osw: 1,
    sG: Og * Cg * g.KH * g.KW,
    sO: Cg * g.KH * g.KW,
    sC: g.KH * g.KW,
    sKH: g.KW,
    sKW: 1,
    ah: 0,
    bh: 1,
    aw: 0,
    bw: 1,
  };
  launchTiled(x, w, g, L, plan, e, out, "conv2d");
}

// ---------------------------------------------------------------------------------------------------
// Direct forward kernel
// ---------------------------------------------------------------------------------------------------

/** The direct kernels' epilogue of `acc` at output `gi` (channel `o`): words 17–20 of their uniforms. */
const DIRECT_EPILOGUE = `  let r = R[min(gi, arrayLength(&R) - 1u)] * PF(19u); let first = P(20u) != 0u;
  let a = acc + Bias[min(o, arrayLength(&Bias) - 1u)] * PF(17u) + select(0.0, r, first);
  Y[gi] = select(a * PF(18u), a, a > 0.0) + select(r, 0.0, first);`;

const DIRECT_FWD = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${uniformDecl(5, 21)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let OH = P(1u); let OW = P(2u); let H = P(3u); let W = P(4u); let Cg = P(5u); let Cin = P(6u);
  let KH = P(7u); let KW = P(8u); let SH = P(9u); let SW = P(10u); let PH = PI(11u); let PW = PI(12u);
  let DH = P(13u); let DW = P(14u); let Og = P(15u); let O = P(16u);
  let ow = gi % OW; var t = gi / OW; let oh = t % OH; t = t / OH; let o = t % O; let n = t / O;
  let g = o / Og;
  let ih0 = i32(oh * SH) - PH; let iw0 = i32(ow * SW) - PW;
  var acc = 0.0;
  for (var c = 0u; c < Cg; c++) {
    let xc = (n * Cin + g * Cg + c) * H;
    let wc = (o * Cg + c) * KH;
    for (var kh = 0u; kh < KH; kh++) {
      let ih = ih0 + i32(kh * DH);
      if (ih < 0 || ih >= i32(H)) { continue; }
      let xr = (xc + u32(ih)) * W;
      let wr = (wc + kh) * KW;
      for (var kw = 0u; kw < KW; kw++) {
        let iw = iw0 + i32(kw * DW);
        if (iw >= 0 && iw < i32(W)) { acc = fma(X[xr + u32(iw)], Wt[wr + kw], acc); }
      }
    }
  }
${DIRECT_EPILOGUE}
}`;

function runDirect(x: Tensor, w: Tensor, g: Geom, e: ConvEpilogue, out: Tensor): void {
  const u = new Uniforms()
    .int(out.size, g.OH, g.OW, g.H, g.W, g.C / g.G, g.C, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW)
    .int(g.O / g.G, g.O)
    .float(e.bias ? 1 : 0, slopeOf(e), e.residual ? 1 : 0)
    .int(e.residualFirst ? 1 : 0);
  const d = dummyBuffer();
  runFlat(
    compile(DIRECT_FWD, 5, "conv2d:direct"),
    [x.buf, w.buf, e.bias?.buf ?? d, e.residual?.buf ?? d, out.buf],
    u,
    out.size,
  );
}

/** Whether the tiled kernel suits a shape: enough output channels and reduction length to fill a block. */
function tiledSuits(g: Geom): boolean {
  const Og = g.O / g.G, Cg = g.C / g.G;
  // Channel blocks are the third dispatch dimension (≤ 65,535 workgroups).
  return Og >= 8 && Cg * g.KH * g.KW >= 8 && g.G * Math.ceil(Og / 4) <= 65535;
}

function forward(
  op: string,
  x: Tensor,
  w: Tensor,
  g: Geom,
  e: ConvEpilogue & { kernel?: "tiled" | "direct"; tile?: ConvTile },
): Tensor {
  const outShape = op === "conv1d" ? [g.N, g.O, g.OW] : [g.N, g.O, g.OH, g.OW];
  checkEpilogue(op, e, g.O, outShape);
  const out = output(outShape);
  if (out.size === 0) return out;
  const plan = (e.kernel ?? (tiledSuits(g) ? "tiled" : "direct")) === "tiled"
    ? planTiled(g.C / g.G, g.KH, g.KW, g.O / g.G, g.N * g.OH, g.OW, g.SW, g.DW, e.tile)
    : null;
  if (plan) runTiled(x, w, g, e, out, plan);
  else runDirect(x, w, g, e, out);
  return out;
}

function checkF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== "f32") throw new InputError(`${op}: ${name} must be f32, got ${t.dtype}`);
}

function outSize(
  op: string,
  inSize: number,
  k: number,
  s: number,
  p: number,
  d: number,
  dim: string,
): number {
  const o = Math.floor((inSize + 2 * p - d * (k - 1) - 1) / s) + 1;
  if (o < 1) {
    throw new InputError(
      `${op}: output ${dim} would be ${o} (input ${inSize}, kernel ${k}, stride ${s}, padding ${p}, dilation ${d})`,
    );
  }
  return o;
}

/**
 * 2-D convolution as `torch.nn.functional.conv2d`, with a fused epilogue:
 * `y = act(conv(x, w) + bias) + residual`.
 *
 * @param x input [N, C, H, W]
 * @param w weight [O, C/groups, kh, kw]
 * @param options stride/padding/dilation (number or [h, w]), groups, bias [O], activation, alpha, residual
 * @returns [N, O, OH, OW]
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const op = "conv2d";
  if (x.rank !== 4) throw new InputError(`${op}: input x must be [N, C, H, W], got ${fmt(x.shape)}`);
  if (w.rank !== 4) {
    throw new InputError(`${op}: weight w must be [O, C/groups, kh, kw], got ${fmt(w.shape)}`);
  }
  checkF32(op, "x", x);
  checkF32(op, "w", w);
  const [SH, SW] = pair(options.stride, 1, `${op} stride`, 1);
  const [PH, PW] = pair(options.padding, 0, `${op} padding`, 0);
  const [DH, DW] = pair(options.dilation, 1, `${op} dilation`, 1);
  const G = options.groups ?? 1;
  const [N, C, H, W] = x.shape;
  const [O, Cg, KH, KW] = w.shape;
  if (!Number.isSafeInteger(G) || G < 1 || C % G !== 0 || O % G !== 0) {
    throw new InputError(`${op}: groups ${G} must divide input channels ${C} and output channels ${O}`);
  }
  if (Cg !== C / G) {
    throw new InputError(
      `${op}: weight w ${fmt(w.shape)} needs C/groups = ${Cg} but input x ${
        fmt(x.shape)
      } with groups ${G} gives ${C / G}`,
    );
  }
  if (KH < 1 || KW < 1 || O < 1) throw new InputError(`${op}: empty weight w ${fmt(w.shape)}`);
  const OH = outSize(op, H, KH, SH, PH, DH, "height");
  const OW = outSize(op, W, KW, SW, PW, DW, "width");
  return forward(
    op,
    x,
    w,
    { N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, G, OH, OW },
    options,
  );
}

/**
 * 1-D convolution as `torch.nn.functional.conv1d` (runs as a 2-D convolution of height 1, without copies),
 * with the same fused epilogue as `conv2d`.
 *
 * @param x input [N, C, T]
 * @param w weight [O, C/groups, k]
 * @param options stride, padding, dilation, groups, bias [O], activation, alpha, residual
 * @returns [N, O, OT]
 */
export function conv1d(x: Tensor, w: Tensor, options: Conv1dOptions = {}): Tensor {
  const op = "conv1d";
  if (x.rank !== 3) throw new InputError(`${op}: input x must be [N, C, T], got ${fmt(x.shape)}`);
  if (w.rank !== 3) throw new InputError(`${op}: weight w must be [O, C/groups, k], got ${fmt(w.shape)}`);
  checkF32(op, "x", x);
  checkF32(op, "w", w);
  const [SW] = pair(options.stride, 1, `${op} stride`, 1);
  const [PW] = pair(options.padding, 0, `${op} padding`, 0);
  const [DW] = pair(options.dilation, 1, `${op} dilation`, 1);
  const G = options.groups ?? 1;
  const [N, C, T] = x.shape;
  const [O, Cg, K] = w.shape;
  if (!Number.isSafeInteger(G) || G < 1 || C % G !== 0 || O % G !== 0) {
    throw new InputError(`${op}: groups ${G} must divide input channels ${C} and output channels ${O}`);
  }
  if (Cg !== C / G) {
    throw new InputError(
      `${op}: weight w ${fmt(w.shape)} needs C/groups = ${Cg} but input x ${
        fmt(x.shape)
      } with groups ${G} gives ${C / G}`,
    );
  }
  if (K < 1 || O < 1) throw new InputError(`${op}: empty weight w ${fmt(w.shape)}`);
  const OW = outSize(op, T, K, SW, PW, DW, "length");
  return forward(
    op,
    x,
    w,
    { N, C, H: 1, W: T, O, KH: 1, KW: K, SH: 1, SW, PH: 0, PW, DH: 1, DW, G, OH: 1, OW },
    options,
  );
}

// ---------------------------------------------------------------------------------------------------
// Transposed convolution
// ---------------------------------------------------------------------------------------------------

// Gather form: each output pixel sums the input pixels that map onto it (ih·SH − PH + kh·DH = oh), so
// no zero-inserted input is materialised. One output element per invocation; the general fallback.
const DIRECT_T = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> R: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${uniformDecl(5, 21)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let OH = P(1u); let OW = P(2u); let H = P(3u); let W = P(4u); let Cg = P(5u); let Cin = P(6u);
  let KH = P(7u); let KW = P(8u); let SH = i32(P(9u)); let SW = i32(P(10u)); let PH = PI(11u); let PW = PI(12u);
  let DH = i32(P(13u)); let DW = i32(P(14u)); let Og = P(15u); let O = P(16u);
  let ow = gi % OW; var t = gi / OW; let oh = t % OH; t = t / OH; let o = t % O; let n = t / O;
  let g = o / Og; let ol = o % Og;
  var acc = 0.0;
  for (var c = 0u; c < Cg; c++) {
    let xc = (n * Cin + g * Cg + c) * H;
    let wc = ((g * Cg + c) * Og + ol) * KH;
    for (var kh = 0u; kh < KH; kh++) {
      let th = i32(oh) + PH - i32(kh) * DH;
      if (th < 0 || th % SH != 0 || th / SH >= i32(H)) { continue; }
      let xr = (xc + u32(th / SH)) * W;
      let wr = (wc + kh) * KW;
      for (var kw = 0u; kw < KW; kw++) {
        let tw = i32(ow) + PW - i32(kw) * DW;
        if (tw >= 0 && tw % SW == 0 && tw / SW < i32(W)) { acc = fma(X[xr + u32(tw / SW)], Wt[wr + kw], acc); }
      }
    }
  }
${DIRECT_EPILOGUE}
}`;

/**
 * Runs a transposed convolution (dilation 1) as SH·SW ordinary convolutions, one per output phase
 * (oh mod SH, ow mod SW): within a phase every output pixel uses the same taps kh ≡ (ph + PH) mod SH, so
 * the phase is a stride-1 convolution of the input with a flipped sub-kernel of ⌈KH/SH⌉×⌈KW/SW⌉ taps
 * whose results land on every SH-th row and SW-th column of the output.
 */
function runTiledTranspose(
  x: Tensor,
  w: Tensor,
  g: Geom,
  e: ConvEpilogue,
  out: Tensor,
  tile?: ConvTile,
): void {
  const Cg = g.C / g.G, Og = g.O / g.G;
  const TH = Math.ceil(g.KH / g.SH), TW = Math.ceil(g.KW / g.SW);
  const plans: { L: TiledLaunch; plan: TiledPlan }[] = [];
  for (let ph = 0; ph < g.SH; ph++) {
    for (let pw = 0; pw < g.SW; pw++) {
      const OHp = Math.ceil((g.OH - ph) / g.SH), OWp = Math.ceil((g.OW - pw) / g.SW);
      if (OHp <= 0 || OWp <= 0) continue;
      const kh0 = (ph + g.PH) % g.SH, kw0 = (pw + g.PW) % g.SW;
      const bh = Math.floor((ph + g.PH) / g.SH), bw = Math.floor((pw + g.PW) / g.SW);
      const plan = planTiled(Cg, TH, TW, Og, g.N * OHp, OWp, 1, 1, tile);
      plans.push({
        plan,
        L: {
          KHp: TH,
          KWp: TW,
          SH: 1,
          DH: 1,
          PH: TH - 1 - bh,
          SW: 1,
          DW: 1,
          PW: TW - 1 - bw,
          OHp,
          OWp,
          oy0: ph,
          osh: g.SH,
          ox0: pw,
          osw: g.SW,
          // Weights [C, O/g, KH, KW]: group g's input channels are rows g·Cg…, its outputs columns 0…Og.
          sG: Cg * Og * g.KH * g.KW,
          sO: g.KH * g.KW,
          sC: Og * g.KH * g.KW,
          sKH: g.KW,
          sKW: 1,
          ah: kh0 + g.SH * (TH - 1),
          bh: -g.SH,
          aw: kw0 + g.SW * (TW - 1),
          bw: -g.SW,
        },
      });
    }
  }
  for (const { L, plan } of plans) launchTiled(x, w, g, L, plan, e, out, "conv_transpose2d");
}

/**
 * 2-D transposed convolution as `torch.nn.functional.conv_transpose2d`, computed in gather form (each
 * output pixel sums the input pixels that map to it), with the same fused epilogue as `conv2d`.
 *
 * Output size: (H − 1)·stride − 2·padding + dilation·(kh − 1) + outputPadding + 1 (likewise W).
 *
 * @param x input [N, C, H, W]
 * @param w weight [C, O/groups, kh, kw]
 * @param options stride, padding, outputPadding, dilation (number or [h, w]), groups, bias [O], activation,
 *   alpha, residual
 * @returns [N, O, OH, OW]
 */
export function convTranspose2d(x: Tensor, w: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const op = "convTranspose2d";
  if (x.rank !== 4) throw new InputError(`${op}: input x must be [N, C, H, W], got ${fmt(x.shape)}`);
  if (w.rank !== 4) {
    throw new InputError(`${op}: weight w must be [C, O/groups, kh, kw], got ${fmt(w.shape)}`);
  }
  checkF32(op, "x", x);
  checkF32(op, "w", w);
  const [SH, SW] = pair(options.stride, 1, `${op} stride`, 1);
  const [PH, PW] = pair(options.padding, 0, `${op} padding`, 0);
  const [OPH, OPW] = pair(options.outputPadding, 0, `${op} outputPadding`, 0);
  const [DH, DW] = pair(options.dilation, 1, `${op} dilation`, 1);
  const G = options.groups ?? 1;
  const [N, C, H, W] = x.shape;
  const [Cw, Og, KH, KW] = w.shape;
  if (!Number.isSafeInteger(G) || G < 1 || C % G !== 0) {
    throw new InputError(`${op}: groups ${G} must divide input channels ${C}`);
  }
  if (Cw !== C) {
    throw new InputError(
      `${op}: weight w ${fmt(w.shape)} needs ${Cw} input channels, input x ${fmt(x.shape)} has ${C}`,
    );
  }
  if (KH < 1 || KW < 1 || Og < 1) throw new InputError(`${op}: empty weight w ${fmt(w.shape)}`);
  if (OPH >= Math.max(SH, DH) || OPW >= Math.max(SW, DW)) {
    throw new InputError(
      `${op}: outputPadding [${OPH}, ${OPW}] must be smaller than stride or dilation ([${SH}, ${SW}], [${DH}, ${DW}])`,
    );
  }
  const O = Og * G;
  const OH = (H - 1) * SH - 2 * PH + DH * (KH - 1) + OPH + 1;
  const OW = (W - 1) * SW - 2 * PW + DW * (KW - 1) + OPW + 1;
  if (OH < 1 || OW < 1) {
    throw new InputError(
      `${op}: output would be ${OH}×${OW} for input x ${fmt(x.shape)} and weight w ${fmt(w.shape)}`,
    );
  }
  const g: Geom = { N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, G, OH, OW };
  const outShape = [N, O, OH, OW];
  checkEpilogue(op, options, O, outShape);
  const out = output(outShape);
  if (out.size === 0) return out;
  const suits = DH === 1 && DW === 1 && Og >= 8 && C / G >= 4 && G * Math.ceil(Og / 4) <= 65535;
  const kind = options.kernel ?? (suits ? "tiled" : "direct");
  if (kind === "tiled" && DH === 1 && DW === 1) {
    runTiledTranspose(x, w, g, options, out, options.tile);
    return out;
  }
  const u = new Uniforms()
    .int(out.size, OH, OW, H, W, C / G, C, KH, KW, SH, SW, PH, PW, DH, DW, Og, O)
    .float(options.bias ? 1 : 0, slopeOf(options), options.residual ? 1 : 0)
    .int(options.residualFirst ? 1 : 0);
  const d = dummyBuffer();
  runFlat(
    compile(DIRECT_T, 5, "conv_transpose2d:direct"),
    [x.buf, w.buf, options.bias?.buf ?? d, options.residual?.buf ?? d, out.buf],
    u,
    out.size,
  );
  return out;
}
