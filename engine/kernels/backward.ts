/**
 * Kernels that the backward pass needs beyond the forward set: an N-ary broadcasting point-wise map (one
 * dispatch for expressions such as `g·y·(1−y)`), reduction of a gradient to a broadcast operand's shape,
 * batch-norm backward and running statistics, softmax backward, gather backward (scatter-add), and the
 * sum of squares used by gradient clipping and max-norm.
 * @module
 */

import { InputError } from "../errors.ts";
import { hostIndexValues, numel, stridesOf, type Tensor, tensor } from "../tensor.ts";
import {
  compile,
  flatMain,
  normAxis,
  output,
  runFlat,
  storageDecl,
  uniformDecl,
  Uniforms,
} from "./common.ts";
import { broadcastShapes, collapseDims } from "./elementwise.ts";
import { bnLayout, channelLoop } from "./batch_norm.ts";
import { backend } from "../backend.ts";
import { forEachRowChunk } from "../chunking.ts";
import { gather, gatherAddressing } from "./shape.ts";
import type { SparseGrad } from "../autograd.ts";

/** Strides of `shape` broadcast to `target` (0 on broadcast dimensions), right-aligned. */
function bstrides(shape: readonly number[], target: readonly number[]): number[] {
  const s = new Array(target.length).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[target.length - shape.length + i] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * `out[i] = expr(x0, x1, …)` over the broadcast shape of the inputs; `a`, `b` are float parameters the
 * expression may use. The expression is WGSL over f32 values `x0..x{n-1}`, `a`, `b`.
 */
export function pointwise(
  inputs: Tensor[],
  expr: string,
  options: { a?: number; b?: number; shape?: readonly number[] } = {},
): Tensor {
  let shape: readonly number[] = options.shape ?? [];
  for (const t of inputs) shape = broadcastShapes(shape, t.shape);
  const out = output(shape);
  if (out.size === 0) return out;
  const c = collapseDims([...shape], inputs.map((t) => bstrides(t.shape, shape)));
  const nd = c.shape.length, k = inputs.length;
  // Uniform words: n, a, b, then the collapsed shape, then each input's strides.
  let idx = `  var r = gi;${inputs.map((_, j) => ` var i${j} = 0u;`).join("")}\n`;
  for (let d = nd - 1; d >= 0; d--) {
    idx += `  { let n = P(${3 + d}u); let q = r % n; r = r / n;${
      inputs.map((_, j) => ` i${j} += q * P(${3 + nd + j * nd + d}u);`).join("")
    } }\n`;
  }
  const code = `${storageDecl(inputs.map((_, j) => ({ name: `X${j}` })), [{ name: "Y" }])}${
    uniformDecl(k + 1, 3 + nd + k * nd)
  }
${flatMain()}  if (gi >= P(0u)) { return; }
  let a = PF(1u); let b = PF(2u);
${idx}${inputs.map((_, j) => `  let x${j} = X${j}[i${j}];\n`).join("")}  Y[gi] = ${expr};
}`;
  const u = new Uniforms().int(out.size).float(options.a ?? 0, options.b ?? 0).int(...c.shape);
  for (const s of c.strides) u.int(...s);
  runFlat(
    compile(code, k + 1, `pointwise:${k}:${nd}:${expr}`),
    [...inputs.map((t) => t.buf), out.buf],
    u,
    out.size,
  );
  return out;
}

/**
 * Sums `g` over the dimensions along which `shape` was broadcast to `g.shape` (NumPy rules), giving a
 * tensor of `shape`: the gradient of a broadcast operand. One invocation per output element.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (broadcastShapes(shape, g.shape).join() !== g.shape.join()) {
    throw new InputError(`cannot reduce a gradient of [${g.shape.join(", ")}] to [${shape.join(", ")}]`);
  }
  const out = output(shape);
  if (out.size === 0) return out;
  const nd0 = g.shape.length;
  const padded = [...new Array(nd0 - shape.length).fill(1), ...shape];
  // Merge runs of adjacent dimensions that are all kept or all reduced (g is contiguous).
  const gs = stridesOf(g.shape);
  const dims: { n: number; stride: number; kept: boolean }[] = [];
  for (let d = 0; d < nd0; d++) {
    if (g.shape[d] === 1) continue;
    const kept = padded[d] !== 1;
    const last = dims[dims.length - 1];
    if (last && last.kept === kept && last.stride === gs[d] * g.shape[d]) {
      last.n *= g.shape[d];
      last.stride = gs[d];
    } else dims.push({ n: g.shape[d], stride: gs[d], kept });
  }
  const keptDims = dims.filter((d) => d.kept), redDims = dims.filter((d) => !d.kept);
  const R = numel(redDims.map((d) => d.n));
  // Words: nOut, R, then (n, stride) of kept dims, then (n, stride) of reduced dims.
  let w = 2;
  let body = "  var o = gi; var base = 0u;\n";
  for (let j = keptDims.length - 1; j >= 0; j--) {
    body += `  { let n = P(${w + 2 * j}u); base += (o % n) * P(${w + 2 * j + 1}u); o = o / n; }\n`;
  }
  w += 2 * keptDims.length;
  body += "  var acc = 0.0;\n  for (var r = 0u; r < P(1u); r++) {\n    var q = r; var idx = base;\n";
  for (let j = redDims.length - 1; j >= 0; j--) {
    body += `    { let n = P(${w + 2 * j}u); idx += (q % n) * P(${w + 2 * j + 1}u); q = q / n; }\n`;
  }
  body += "    acc += G[idx];\n  }\n  Y[gi] = acc;\n";
  const words = 2 + 2 * dims.length;
  const code = `${storageDecl([{ name: "G" }], [{ name: "Y" }])}${uniformDecl(2, words)}
${flatMain()}  if (gi >= P(0u)) { return; }
${body}}`;
  const u = new Uniforms().int(out.size, R);
  for (const d of keptDims) u.int(d.n, d.stride);
  for (const d of redDims) u.int(d.n, d.stride);
  runFlat(
    compile(code, 2, `sum_to_shape:${keptDims.length}:${redDims.length}`),
    [g.buf, out.buf],
    u,
    out.size,
  );
  return out;
}

/**
 * Per-channel sums of the batch-norm backward: `Σ g` (= dβ) and `Σ g·x̂` (= dγ) with
 * `x̂ = (x − mean)/sqrt(var + eps)`, each a [C] tensor. Over one storage binding, per chunk of rows of N,
 * each chunk adding into the sums.
 */
export function batchNormSums(
  g: Tensor,
  x: Tensor,
  options: { mean: Tensor; variance: Tensor; eps: number },
): { sumG: Tensor; sumGXhat: Tensor } {
  const stats = options;
  const { n, c, inner } = bnLayout(x);
  const sumG = output([c]), sumGXhat = output([c]);
  const code = `${
    storageDecl([{ name: "G" }, { name: "X" }, { name: "Mean" }, { name: "Var" }], [{ name: "SG" }, {
      name: "SGX",
    }])
  }${uniformDecl(6, 5)}
${flatMain()}  let n = P(0u); let C = P(1u); let inner = P(2u);
  if (gi >= C) { return; }
  let m = Mean[gi]; let inv = inverseSqrt(Var[gi] + PF(3u));
  var sg = 0.0; var sgx = 0.0;
  ${channelLoop("let gv = G[j]; sg += gv; sgx += gv * (X[j] - m);")}
  let add = P(4u) != 0u; // a later chunk of rows: add to the earlier chunks' sums
  SG[gi] = select(0.0, SG[gi], add) + sg; SGX[gi] = select(0.0, SGX[gi], add) + sgx * inv;
}`;
  const kernel = compile(code, 6, "batch_norm_sums");
  const rowBytes = c * inner * 4;
  forEachRowChunk(n, [rowBytes], (start, rows, bind) => {
    runFlat(
      kernel,
      [
        bind(g.buf, rowBytes),
        bind(x.buf, rowBytes),
        stats.mean.buf,
        stats.variance.buf,
        sumG.buf,
        sumGXhat.buf,
      ],
      new Uniforms().int(rows, c, inner).float(options.eps).int(start > 0 ? 1 : 0),
      c,
    );
  }, { wholeBytes: [c * 4], what: "batch_norm_sums" });
  return { sumG, sumGXhat };
}

/**
 * Batch-norm input gradient. Training (batch statistics): `dx = γ·inv·(g − Σg/M − x̂·Σg·x̂/M)`, M = N·inner;
 * inference (fixed statistics): `dx = γ·inv·g`. `sums` are `batchNormSums` (training only).
 */
export function batchNormGradInput(
  g: Tensor,
  x: Tensor,
  options: {
    mean: Tensor;
    variance: Tensor;
    weight?: Tensor;
    sums?: { sumG: Tensor; sumGXhat: Tensor };
    eps: number;
    training: boolean;
  },
): Tensor {
  const params = options;
  const { n, c, inner } = bnLayout(x);
  const out = output(x.shape);
  const sums = options.training ? params.sums : undefined;
  if (options.training && !sums) throw new InputError("batch-norm training backward needs the channel sums");
  const code = `${
    storageDecl([{ name: "G" }, { name: "X" }, { name: "Mean" }, { name: "Var" }, { name: "W" }, {
      name: "SG",
    }, { name: "SGX" }], [{ name: "Y" }])
  }${uniformDecl(8, 7)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let C = P(1u);
  let ch = (gi / P(2u)) % C;
  let inv = inverseSqrt(Var[ch] + PF(3u));
  let w = select(1.0, W[min(ch, arrayLength(&W) - 1u)], P(4u) != 0u);
  var gv = G[gi];
  if (P(5u) != 0u) {
    let M = PF(6u);
    let xh = (X[gi] - Mean[ch]) * inv;
    gv = gv - SG[ch] / M - xh * SGX[ch] / M;
  }
  Y[gi] = w * inv * gv;
}`;
  const d = params.mean;
  const kernel = compile(code, 8, "batch_norm_grad_input");
  // Over one binding: in chunks of whole rows of N, each starting at channel 0.
  const rowBytes = c * inner * 4;
  forEachRowChunk(n, [rowBytes], (_, rows, bind) => {
    const size = rows * c * inner;
    const u = new Uniforms().int(size, c, inner).float(options.eps).int(params.weight ? 1 : 0, sums ? 1 : 0)
      .float(n * inner);
    runFlat(
      kernel,
      [
        bind(g.buf, rowBytes),
        bind(x.buf, rowBytes),
        params.mean.buf,
        params.variance.buf,
        (params.weight ?? d).buf,
        (sums?.sumG ?? d).buf,
        (sums?.sumGXhat ?? d).buf,
        bind(out.buf, rowBytes),
      ],
      u,
      size,
    );
  }, { wholeBytes: [c * 4], what: "batch_norm_grad_input" });
  return out;
}

/**
 * In-place running-statistics update as PyTorch: `rm ← (1−m)·rm + m·mean`,
 * `rv ← (1−m)·rv + m·var·count/(count−1)` (the running variance is unbiased; the batch one is biased).
 */
export function updateRunningStats(
  running: { mean: Tensor; variance: Tensor },
  batch: { mean: Tensor; variance: Tensor },
  options: { momentum: number; count: number },
): void {
  const c = running.mean.size;
  if (running.variance.size !== c || batch.mean.size !== c || batch.variance.size !== c) {
    throw new InputError(`running statistics need ${c} channels in every tensor`);
  }
  const code = `${storageDecl([{ name: "BM" }, { name: "BV" }], [{ name: "RM" }, { name: "RV" }])}${
    uniformDecl(4, 3)
  }
${flatMain()}  if (gi >= P(0u)) { return; }
  let m = PF(1u);
  RM[gi] = (1.0 - m) * RM[gi] + m * BM[gi];
  RV[gi] = (1.0 - m) * RV[gi] + m * BV[gi] * PF(2u);
}`;
  const corr = options.count > 1 ? options.count / (options.count - 1) : 1;
  runFlat(
    compile(code, 4, "bn_running_stats"),
    [batch.mean.buf, batch.variance.buf, running.mean.buf, running.variance.buf],
    new Uniforms().int(c).float(options.momentum, corr),
    c,
  );
}

/**
 * Softmax backward along `axis` from the forward output `y`: softmax `gx = y·(g − Σ g·y)`;
 * log-softmax `gx = g − exp(y)·Σ g`.
 */
export function softmaxBackward(y: Tensor, g: Tensor, options: { axis: number; log: boolean }): Tensor {
  const axis = normAxis(options.axis, y.rank);
  const outer = numel(y.shape.slice(0, axis)), len = y.shape[axis], inner = numel(y.shape.slice(axis + 1));
  const out = output(y.shape);
  const dot = options.log ? "G[j]" : "G[j] * Y[j]";
  const write = options.log ? "G[j] - exp(Y[j]) * s" : "Y[j] * (G[j] - s)";
  const code = `${storageDecl([{ name: "Y" }, { name: "G" }], [{ name: "D" }])}${uniformDecl(3, 3)}
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u);
  if (gi >= n) { return; }
  let base = (gi / inner) * len * inner + gi % inner;
  var s = 0.0;
  for (var i = 0u; i < len; i++) { let j = base + i * inner; s += ${dot}; }
  for (var i = 0u; i < len; i++) { let j = base + i * inner; D[j] = ${write}; }
}`;
  runFlat(
    compile(code, 3, options.log ? "log_softmax_backward" : "softmax_backward"),
    [y.buf, g.buf, out.buf],
    new Uniforms().int(outer * inner, len, inner),
    outer * inner,
  );
  return out;
}

/**
 * Backward of `gather(x, indices, {axis})`: `dx[o, l, i] = Σ_{j: I[j] = l} g[o, j, i]` (a repeated index
 * accumulates; out-of-range indices contribute nothing, as the forward read 0 there).
 *
 * The inverse of the index list as CSR (`start[l]`, then the j with `I[j] = l` in ascending order), then
 * one dispatch in which each output element sums only its own rows. The direct form — every output
 * element scanning all k indices — cost outer·len·inner·k and took 90 % of an SRNet training step.
 * An index list created from host data (all of the models') gets its inverse by a counting sort on the
 * host, cached with the index tensor: O(k + len) once, where the GPU form is O(k²) per step (it stalled
 * training once weights were packed by a gather of k ≈ 10⁵–10⁶). Either way the sum runs over
 * ascending j, so results are unchanged bit for bit.
 */
export function gatherBackward(
  g: Tensor,
  indices: Tensor,
  options: { shape: readonly number[]; axis: number },
): Tensor {
  const axis = normAxis(options.axis, options.shape.length);
  const outer = numel(options.shape.slice(0, axis)), len = options.shape[axis];
  const inner = numel(options.shape.slice(axis + 1)), k = indices.size;
  const host = hostIndexValues(indices);
  // An injective list (a permutation, a padding or a selection: every target at most once) inverts to
  // another index list, and its backward is a forward gather: one load per element, no CSR walk.
  const map = host && inverseMap(host, len);
  if (map) return gather(g, indices.derived(`gather_inverse_map:${len}`, () => tensor(map)), { axis });
  const out = output(options.shape);
  const csr = host
    ? indices.derived(`gather_inverse:${len}`, () => tensor(inverseCsr(host, len)))
    : gpuInverseCsr(indices, len);
  const code = `${storageDecl([{ name: "G" }, { name: "C", type: "i32" }], [{ name: "D" }])}${
    uniformDecl(3, 4)
  }
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u); let k = P(3u);
  if (gi >= n) { return; }
  let o = gi / (len * inner); let l = (gi / inner) % len; let i = gi % inner;
  var acc = 0.0;
  for (var p = C[l]; p < C[l + 1u]; p++) { acc += G[(o * k + u32(C[len + 1u + u32(p)])) * inner + i]; }
  D[gi] = acc;
}`;
  runFlat(
    compile(code, 3, "gather_backward"),
    [g.buf, csr.buf, out.buf],
    new Uniforms().int(outer * len * inner, len, inner, k),
    outer * len * inner,
  );
  if (!host) csr.dispose();
  return out;
}

/**
 * gather's backward as autograd takes it: for an injective index list from host data a `SparseGrad`
 * (added in place into a gradient the input already has, it writes only the k gathered entries —
 * SRNet's groups, each a padded slice of the same rows, no longer write and add a full-width zero-filled
 * gradient each); otherwise `gatherBackward`.
 */
export function gatherGrad(
  g: Tensor,
  indices: Tensor,
  options: { shape: readonly number[]; axis: number },
): Tensor | SparseGrad {
  const axis = normAxis(options.axis, options.shape.length);
  const len = options.shape[axis];
  const host = hostIndexValues(indices);
  if (!host || !inverseMap(host, len)) return gatherBackward(g, indices, options);
  const shape = [...options.shape];
  return {
    shape,
    materialize: () => gatherBackward(g, indices, options),
    addInto: (target) => scatterAddInto(target, g, indices, { axis }),
  };
}

// target[o, I[j], i] += g[o, j, i] for an injective I (no two threads write one element).
function scatterAddInto(target: Tensor, g: Tensor, indices: Tensor, options: { axis: number }): void {
  const axis = options.axis;
  const outer = numel(target.shape.slice(0, axis)), len = target.shape[axis];
  const inner = numel(target.shape.slice(axis + 1)), k = indices.size;
  // The forward gather's addressing, with the copy turned around.
  const at = gatherAddressing(outer, inner);
  const code = `${storageDecl([{ name: "G" }, { name: "I", type: "i32" }], [{ name: "D" }])}${
    uniformDecl(3, 4)
  }
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u); let k = P(3u);
  if (gi >= n) { return; }
  ${at.locate}
  let src = I[j];
  if (src < 0 || u32(src) >= len) { return; }
  let d = ${at.element};
  D[d] = D[d] + G[gi];
}`;
  runFlat(
    compile(code, 3, `gather_backward_add_into${at.form}`),
    [g.buf, indices.buf, target.buf],
    new Uniforms().int(outer * k * inner, len, inner, k),
    outer * k * inner,
  );
}

/**
 * `[start[0..len], j…]`: for each target l in [0, len), the positions j with `I[j] = l` in ascending
 * order (a stable counting sort); out-of-range targets are left out.
 */
export function inverseCsr(indices: Int32Array, len: number): Int32Array {
  const csr = new Int32Array(len + 1 + indices.length);
  for (const t of indices) if (t >= 0 && t < len) csr[t + 1]++;
  for (let l = 0; l < len; l++) csr[l + 1] += csr[l];
  const next = csr.slice(0, len);
  indices.forEach((t, j) => {
    if (t >= 0 && t < len) csr[len + 1 + next[t]++] = j;
  });
  return csr;
}

const inverseMaps = new WeakMap<Int32Array, Map<number, Int32Array | null>>();

/**
 * For an injective index list, `inv[l] = j` where `I[j] = l` (−1 for targets never read); null for a
 * list with a repeated target (it needs the CSR form). Computed once per list and length.
 */
export function inverseMap(indices: Int32Array, len: number): Int32Array | null {
  let byLen = inverseMaps.get(indices);
  if (!byLen) inverseMaps.set(indices, byLen = new Map());
  if (byLen.has(len)) return byLen.get(len)!;
  let inv: Int32Array | null = new Int32Array(len).fill(-1);
  for (let j = 0; j < indices.length; j++) {
    const t = indices[j];
    if (t < 0 || t >= len) continue;
    if (inv[t] >= 0) {
      inv = null;
      break;
    }
    inv[t] = j;
  }
  byLen.set(len, inv);
  return inv;
}

// The same CSR built on the GPU, for index lists computed there: O(k) per element.
function gpuInverseCsr(indices: Tensor, len: number): Tensor {
  const k = indices.size;
  // csr[0..len] = start offsets, csr[len + 1 + p] = the p-th source index j in (target, j) order.
  const csr = output([len + 1 + k], "i32");
  const inverse = `${storageDecl([{ name: "I", type: "i32" }], [{ name: "C", type: "i32" }])}${
    uniformDecl(2, 2)
  }
${flatMain()}  let len = i32(P(0u)); let k = P(1u);
  if (gi > u32(len) + k) { return; }
  if (gi <= u32(len)) {
    let l = i32(gi);
    var c = 0;
    for (var j = 0u; j < k; j++) { let t = I[j]; if (t >= 0 && t < l) { c++; } }
    C[gi] = c;
    return;
  }
  let j = gi - u32(len) - 1u;
  let t = I[j];
  if (t < 0 || t >= len) { return; }
  var p = 0;
  for (var q = 0u; q < k; q++) {
    let u = I[q];
    if ((u >= 0 && u < t) || (u == t && q < j)) { p++; }
  }
  C[len + 1 + p] = i32(j);
}`;
  runFlat(
    compile(inverse, 2, "gather_backward_inverse"),
    [indices.buf, csr.buf],
    new Uniforms().int(len, k),
    len + 1 + k,
  );
  return csr;
}

const SQ_WG = 256;

/**
 * Writes `Σ x²` of each tensor into `out[slot + i]` (one dispatch per tensor, one workgroup each: a
 * strided loop then a tree reduction in workgroup memory — a fixed order, so results are reproducible).
 */
export function sumSquaresInto(xs: Tensor[], out: Tensor, options: { slot?: number } = {}): void {
  const code = `${storageDecl([{ name: "X" }], [{ name: "S" }])}${uniformDecl(2, 2)}
var<workgroup> part: array<f32, ${SQ_WG}>;
@compute @workgroup_size(${SQ_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = P(0u);
  var acc = 0.0;
  for (var i = lid; i < n; i += ${SQ_WG}u) { let v = X[i]; acc += v * v; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${SQ_WG / 2}u; s > 0u; s = s / 2u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { S[P(1u)] = part[0]; }
}`;
  const k = compile(code, 2, "sum_squares");
  const slot = options.slot ?? 0;
  xs.forEach((x, i) => {
    backend().dispatch(k, [x.buf, out.buf], {
      uniforms: new Uniforms().int(x.size, slot + i).build(),
      workgroups: [1],
    });
  });
}

/**
 * `y[m, n] = act(yT[n, m] + bias[n]) + residual[m, n]`: the epilogue of a linear layer computed as
 * `yᵀ = W·xᵀ` (see `ops.linear`), fused into the transpose back. `slope` as the matmul epilogue
 * (1 none, 0 relu, α leaky).
 */
export function transposeEpilogue(
  yT: Tensor,
  options: { bias?: Tensor; residual?: Tensor; slope: number },
): Tensor {
  const [n, m] = yT.shape;
  const out = output([m, n]);
  const d = yT;
  const code = `${storageDecl([{ name: "T" }, { name: "Bias" }, { name: "R" }], [{ name: "Y" }])}${
    uniformDecl(4, 6)
  }
${flatMain()}  let M = P(0u); let N = P(1u);
  if (gi >= M * N) { return; }
  let r = gi / N; let c = gi % N;
  var v = T[c * M + r];
  if (P(2u) != 0u) { v += Bias[c]; }
  v = select(v * PF(3u), v, v > 0.0);
  if (P(4u) != 0u) { v += R[gi]; }
  Y[gi] = v;
}`;
  runFlat(
    compile(code, 4, "transpose_epilogue"),
    [yT.buf, (options.bias ?? d).buf, (options.residual ?? d).buf, out.buf],
    new Uniforms().int(m, n, options.bias ? 1 : 0).float(options.slope).int(options.residual ? 1 : 0),
    m * n,
  );
  return out;
}

/** Geometry of a 2-D window: kernel, stride, padding, dilation as [h, w] pairs. */
export interface Window2d {
  /** Kernel size. */
  kernel: readonly [number, number];
  /** Stride. */
  stride: readonly [number, number];
  /** Padding on each side. */
  padding: readonly [number, number];
  /** Dilation. */
  dilation: readonly [number, number];
}

/**
 * The weight gradient shared by convolution and transposed convolution:
 * `dW[p, q, kh, kw] = Σ_n Σ_i Σ_j a[n, p, i, j] · b[n, g(p)·Q + q, i·sh − ph + kh·dh, j·sw − pw + kw·dw]`
 * (zero outside b), with `g(p)` the group of channel p and `Q = b.channels/groups`. Convolution: a = the
 * output gradient, b = the input; transposed convolution: a = the input, b = the output gradient.
 * One invocation per weight element (the same multiply-adds as the forward pass).
 */
export function convWeightGrad(
  a: Tensor,
  b: Tensor,
  options: Window2d & { groups: number },
): Tensor {
  if (a.rank !== 4 || b.rank !== 4 || a.shape[0] !== b.shape[0]) {
    throw new InputError(`convWeightGrad: operands [${a.shape.join(", ")}] and [${b.shape.join(", ")}]`);
  }
  const [N, P, AH, AW] = a.shape, [, CB, BH, BW] = b.shape;
  const G = options.groups, Q = CB / G;
  const [KH, KW] = options.kernel;
  const out = output([P, Q, KH, KW]);
  const code = `${storageDecl([{ name: "A" }, { name: "B" }], [{ name: "D" }])}${uniformDecl(3, 17)}
${flatMain()}  let N = P(0u); let Pc = P(1u); let AH = P(2u); let AW = P(3u);
  let CB = P(4u); let BH = i32(P(5u)); let BW = i32(P(6u)); let Q = P(7u); let KH = P(8u); let KW = P(9u);
  if (gi >= Pc * Q * KH * KW) { return; }
  let kw = gi % KW; var t = gi / KW; let kh = t % KH; t = t / KH; let q = t % Q; let p = t / Q;
  let cb = (p / P(16u)) * Q + q;
  let oh = i32(kh * P(14u)) - PI(12u); let ow = i32(kw * P(15u)) - PI(13u);
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    let ab = (n * Pc + p) * AH * AW; let bb = (n * CB + cb) * u32(BH) * u32(BW);
    for (var i = 0u; i < AH; i++) {
      let bh = i32(i * P(10u)) + oh;
      if (bh < 0 || bh >= BH) { continue; }
      for (var j = 0u; j < AW; j++) {
        let bw = i32(j * P(11u)) + ow;
        if (bw >= 0 && bw < BW) { acc += A[ab + i * AW + j] * B[bb + u32(bh) * u32(BW) + u32(bw)]; }
      }
    }
  }
  D[gi] = acc;
}`;
  const u = new Uniforms().int(N, P, AH, AW, CB, BH, BW, Q, KH, KW, ...options.stride, ...options.padding)
    .int(...options.dilation, P / G);
  runFlat(compile(code, 3, "conv_weight_grad"), [a.buf, b.buf, out.buf], u, out.size);
  return out;
}

/**
 * Max-pooling backward: each output gradient goes to its window's first maximum in scan order (rows,
 * then columns: PyTorch's tie rule), recomputed from `x`; gathered per input element (no atomics).
 */
export function maxPool2dBackward(x: Tensor, g: Tensor, options: Window2d): Tensor {
  const [, , H, W] = x.shape, [, , OH, OW] = g.shape;
  const out = output(x.shape);
  const code = `${storageDecl([{ name: "X" }, { name: "G" }], [{ name: "D" }])}${uniformDecl(3, 13)}
fn argmaxOf(base: u32, oh: u32, ow: u32) -> i32 {
  let H = i32(P(1u)); let W = i32(P(2u));
  let h0 = i32(oh * P(7u)) - PI(9u); let w0 = i32(ow * P(8u)) - PI(10u);
  var best = -3.402823466e+38; var at = -1;
  for (var i = 0u; i < P(5u); i++) {
    let ih = h0 + i32(i * P(11u));
    if (ih < 0 || ih >= H) { continue; }
    for (var j = 0u; j < P(6u); j++) {
      let iw = w0 + i32(j * P(12u));
      if (iw < 0 || iw >= W) { continue; }
      let v = X[base + u32(ih * W + iw)];
      if (at < 0 || v > best) { best = v; at = ih * W + iw; }
    }
  }
  return at;
}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let w = i32(gi % W); let h = i32((gi / W) % H); let nc = gi / (W * H);
  let base = nc * H * W;
  var acc = 0.0;
  for (var i = 0u; i < P(5u); i++) {
    let sh = h + PI(9u) - i32(i * P(11u));
    if (sh < 0 || u32(sh) % P(7u) != 0u || u32(sh) / P(7u) >= OH) { continue; }
    let oh = u32(sh) / P(7u);
    for (var j = 0u; j < P(6u); j++) {
      let sw = w + PI(10u) - i32(j * P(12u));
      if (sw < 0 || u32(sw) % P(8u) != 0u || u32(sw) / P(8u) >= OW) { continue; }
      let ow = u32(sw) / P(8u);
      if (argmaxOf(base, oh, ow) == h * i32(W) + w) { acc += G[(nc * OH + oh) * OW + ow]; }
    }
  }
  D[gi] = acc;
}`;
  const { kernel: k, stride: s, padding: p, dilation: d } = options;
  const u = new Uniforms().int(x.size, H, W, OH, OW, ...k, ...s, ...p, ...d);
  runFlat(compile(code, 3, "max_pool2d_backward"), [x.buf, g.buf, out.buf], u, x.size);
  return out;
}

/**
 * Average-pooling backward: each input element gathers `g/divisor` from the windows that contain it;
 * the divisor is kh·kw (`countIncludePad`, PyTorch's default) or the window's in-bounds count.
 */
export function avgPool2dBackward(
  g: Tensor,
  options: Window2d & { shape: readonly number[]; countIncludePad: boolean },
): Tensor {
  const [, , H, W] = options.shape, [, , OH, OW] = g.shape;
  const out = output(options.shape);
  const code = `${storageDecl([{ name: "G" }], [{ name: "D" }])}${uniformDecl(2, 12)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = i32(P(1u)); let W = i32(P(2u)); let OH = P(3u); let OW = P(4u);
  let KH = i32(P(5u)); let KW = i32(P(6u));
  let w = i32(gi % u32(W)); let h = i32((gi / u32(W)) % u32(H)); let nc = gi / u32(W * H);
  var acc = 0.0;
  for (var i = 0; i < KH; i++) {
    let sh = h + PI(9u) - i;
    if (sh < 0 || u32(sh) % P(7u) != 0u || u32(sh) / P(7u) >= OH) { continue; }
    let oh = u32(sh) / P(7u);
    let h0 = i32(oh * P(7u)) - PI(9u);
    for (var j = 0; j < KW; j++) {
      let sw = w + PI(10u) - j;
      if (sw < 0 || u32(sw) % P(8u) != 0u || u32(sw) / P(8u) >= OW) { continue; }
      let ow = u32(sw) / P(8u);
      let w0 = i32(ow * P(8u)) - PI(10u);
      var div = f32(KH * KW);
      if (P(11u) == 0u) {
        div = f32((min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0)));
      }
      acc += G[(nc * OH + oh) * OW + ow] / div;
    }
  }
  D[gi] = acc;
}`;
  const { kernel: k, stride: s, padding: p } = options;
  const n = numel(options.shape);
  const u = new Uniforms().int(n, H, W, OH, OW, ...k, ...s, ...p, options.countIncludePad ? 1 : 0);
  runFlat(compile(code, 2, "avg_pool2d_backward"), [g.buf, out.buf], u, n);
  return out;
}

/**
 * Adaptive average-pooling backward (PyTorch's bins: rows ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1): each input
 * element gathers `g/bin size` from every bin that contains it (bins may overlap).
 */
export function adaptiveAvgPool2dBackward(g: Tensor, options: { shape: readonly number[] }): Tensor {
  const [, , H, W] = options.shape, [, , OH, OW] = g.shape;
  const out = output(options.shape);
  const code = `${storageDecl([{ name: "G" }], [{ name: "D" }])}${uniformDecl(2, 5)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u);
  let w = gi % W; let h = (gi / W) % H; let nc = gi / (W * H);
  var acc = 0.0;
  for (var i = 0u; i < OH; i++) {
    let hs = (i * H) / OH; let he = ((i + 1u) * H + OH - 1u) / OH;
    if (h < hs || h >= he) { continue; }
    for (var j = 0u; j < OW; j++) {
      let ws = (j * W) / OW; let we = ((j + 1u) * W + OW - 1u) / OW;
      if (w >= ws && w < we) { acc += G[(nc * OH + i) * OW + j] / f32((he - hs) * (we - ws)); }
    }
  }
  D[gi] = acc;
}`;
  const n = numel(options.shape);
  runFlat(
    compile(code, 2, "adaptive_avg_pool2d_backward"),
    [g.buf, out.buf],
    new Uniforms().int(n, H, W, OH, OW),
    n,
  );
  return out;
}

/**
 * Training-mode batch-norm backward in one dispatch, one invocation per channel: the channel sums `Σ g`
 * (= dβ) and `Σ g·x̂` (= dγ), then `dx` of that channel (for short channels — N·inner ≤ 4096 — where a
 * second pass over all elements would cost more in dispatch than it gains in parallelism). Same formulas
 * as `batchNormSums` + `batchNormGradInput`. With `relu` (the backward of `dropout(relu(bn(x)))`, engine/kernels/batch_norm_train.ts), the upstream
 * gradient is first masked and scaled by `y > 0 ? scale : 0`: ReLU and dropout both passed exactly where
 * the forward output `y` is positive, so no mask is recomputed. The scale is linear in g and is applied
 * to the sums and dx, not to every load.
 */
export function batchNormTrainBackward(
  g: Tensor,
  x: Tensor,
  options: {
    mean: Tensor;
    variance: Tensor;
    weight?: Tensor;
    eps: number;
    relu?: { y: Tensor; scale: number };
  },
): { dx: Tensor; sumG: Tensor; sumGXhat: Tensor } {
  const { n, c, inner } = bnLayout(x);
  const dx = output(x.shape), sumG = output([c]), sumGXhat = output([c]);
  const relu = options.relu;
  const inputs = [{ name: "G" }, { name: "X" }, ...(relu ? [{ name: "Y" }] : []), { name: "Mean" }, {
    name: "Var",
  }, { name: "W" }];
  const code = `${storageDecl(inputs, [{ name: "DX" }, { name: "SG" }, { name: "SGX" }])}${
    uniformDecl(inputs.length + 3, 6)
  }
fn gm(j: u32) -> f32 { return ${relu ? "select(0.0, G[j], Y[j] > 0.0)" : "G[j]"}; }
${flatMain()}  let n = P(0u); let C = P(1u); let inner = P(2u);
  if (gi >= C) { return; }
  let m = Mean[gi]; let inv = inverseSqrt(Var[gi] + PF(3u));
  let w = select(1.0, W[min(gi, arrayLength(&W) - 1u)], P(4u) != 0u);
  var sg = 0.0; var sgx = 0.0;
  ${channelLoop("let gv = gm(j); sg += gv; sgx += gv * (X[j] - m);")}
  sgx = sgx * inv;
  let scale = PF(5u);
  SG[gi] = sg * scale; SGX[gi] = sgx * scale;
  let M = f32(n * inner);
  let k = scale * w * inv;
  ${channelLoop("let xh = (X[j] - m) * inv; DX[j] = k * (gm(j) - sg / M - xh * sgx / M);")}
}`;
  const u = new Uniforms().int(n, c, inner).float(options.eps).int(options.weight ? 1 : 0).float(
    relu?.scale ?? 1,
  );
  runFlat(
    compile(code, inputs.length + 3, relu ? "batch_norm_relu_dropout_backward" : "batch_norm_train_backward"),
    [
      g.buf,
      x.buf,
      ...(relu ? [relu.y.buf] : []),
      options.mean.buf,
      options.variance.buf,
      (options.weight ?? options.mean).buf,
      dx.buf,
      sumG.buf,
      sumGXhat.buf,
    ],
    u,
    c,
  );
  return { dx, sumG, sumGXhat };
}

/**
 * Backward of `resizeBilinear` (engine/kernels/resize.ts) in gather form: each input pixel sums
 * `g·weight` over the output pixels whose interpolation reads it, with the forward's own float32 source
 * positions (`scale` as the forward computes it; `alignCorners` as PyTorch). Only the few output rows
 * and columns near the pixel's image under the scale are visited.
 */
export function resizeBilinearBackward(
  g: Tensor,
  options: { shape: readonly number[]; scale: readonly [number, number]; alignCorners: boolean },
): Tensor {
  const [, , H, W] = options.shape, [, , OH, OW] = g.shape;
  const out = output(options.shape);
  const code = `${storageDecl([{ name: "G" }], [{ name: "D" }])}${uniformDecl(2, 8)}
fn src(d: u32, s: f32) -> f32 {
  if (P(7u) != 0u) { return s * f32(d); }
  return max(s * (f32(d) + 0.5) - 0.5, 0.0);
}
// Weight of input index i in the interpolation of output index d (0 when it is not read).
fn wt(d: u32, i: u32, n: u32, s: f32) -> f32 {
  let f = src(d, s);
  let i0 = min(u32(f), n - 1u); let i1 = min(i0 + 1u, n - 1u);
  let l = f - f32(i0);
  return select(0.0, 1.0 - l, i0 == i) + select(0.0, l, i1 == i);
}
// Output indices that can read input i: a margin of 2 around the inverse image of [i − 1, i + 1].
fn lo(i: u32, s: f32, n: u32) -> u32 {
  if (s <= 0.0) { return 0u; }
  var v: f32;
  if (P(7u) != 0u) { v = (f32(i) - 1.0) / s; } else { v = (f32(i) - 0.5) / s - 0.5; }
  return u32(clamp(floor(v) - 2.0, 0.0, f32(n - 1u)));
}
fn hi(i: u32, s: f32, n: u32) -> u32 {
  if (s <= 0.0) { return n - 1u; }
  var v: f32;
  if (P(7u) != 0u) { v = (f32(i) + 1.0) / s; } else { v = (f32(i) + 1.5) / s - 0.5; }
  return u32(clamp(ceil(v) + 2.0, 0.0, f32(n - 1u)));
}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u); let sh = PF(5u); let sw = PF(6u);
  let w = gi % W; let h = (gi / W) % H; let nc = gi / (W * H);
  var acc = 0.0;
  for (var oh = lo(h, sh, OH); oh <= hi(h, sh, OH); oh++) {
    let a = wt(oh, h, H, sh);
    if (a == 0.0) { continue; }
    for (var ow = lo(w, sw, OW); ow <= hi(w, sw, OW); ow++) {
      let b = wt(ow, w, W, sw);
      if (b != 0.0) { acc += G[(nc * OH + oh) * OW + ow] * a * b; }
    }
  }
  D[gi] = acc;
}`;
  const n = numel(options.shape);
  const u = new Uniforms().int(n, H, W, OH, OW).float(...options.scale).int(options.alignCorners ? 1 : 0);
  runFlat(compile(code, 2, "resize_bilinear_backward"), [g.buf, out.buf], u, n);
  return out;
}

/**
 * Backward of `resizeNearest`: each input pixel sums the gradients of the output pixels that copied it
 * (source `min(⌊dst·scale⌋, in − 1)` with the forward's float32 scale).
 */
export function resizeNearestBackward(
  g: Tensor,
  options: { shape: readonly number[]; scale: readonly [number, number] },
): Tensor {
  const [, , H, W] = options.shape, [, , OH, OW] = g.shape;
  const out = output(options.shape);
  const code = `${storageDecl([{ name: "G" }], [{ name: "D" }])}${uniformDecl(2, 7)}
fn srcOf(d: u32, s: f32, n: u32) -> u32 { return min(u32(floor(f32(d) * s)), n - 1u); }
fn lo(i: u32, s: f32) -> u32 { return u32(max(floor(f32(i) / s) - 2.0, 0.0)); }
fn hi(i: u32, s: f32, n: u32) -> u32 {
  // The last input row also takes every output row clamped onto it.
  if (i + 1u >= u32(ceil(f32(n) * s)) || s <= 0.0) { return n - 1u; }
  return min(u32(ceil(f32(i + 1u) / s) + 2.0), n - 1u);
}
${flatMain()}  if (gi >= P(0u)) { return; }
  let H = P(1u); let W = P(2u); let OH = P(3u); let OW = P(4u); let sh = PF(5u); let sw = PF(6u);
  let w = gi % W; let h = (gi / W) % H; let nc = gi / (W * H);
  var acc = 0.0;
  for (var oh = lo(h, sh); oh <= hi(h, sh, OH); oh++) {
    if (srcOf(oh, sh, H) != h) { continue; }
    for (var ow = lo(w, sw); ow <= hi(w, sw, OW); ow++) {
      if (srcOf(ow, sw, W) == w) { acc += G[(nc * OH + oh) * OW + ow]; }
    }
  }
  D[gi] = acc;
}`;
  const n = numel(options.shape);
  const u = new Uniforms().int(n, H, W, OH, OW).float(...options.scale);
  runFlat(compile(code, 2, "resize_nearest_backward"), [g.buf, out.buf], u, n);
  return out;
}
