// Every engine op against PyTorch (tests/fixtures/gen_ops.py → ops.safetensors), through one table and
// one checker. Tolerance: |ours − torch| ≤ atol + rtol·|torch| per element, stated per case.
import assert from "node:assert/strict";
import {
  batchNorm,
  batchNormFold,
  batchStats,
  binary,
  concat,
  gather,
  initEngine,
  matmul,
  mean,
  pad,
  permute,
  readSafetensors,
  reduce,
  slice,
  softmax,
  sum,
  type Tensor,
  tensor,
  tidy,
  unary,
} from "../../engine/mod.ts";
import { fixture } from "../_shared.ts";
import { defaultTile, matmul as matmulKernel, type MatmulTile } from "../../engine/kernels/matmul.ts";
import { adapterSummary } from "../../engine/device.ts";
import {
  cachedWeightTextures,
  texturePoolBytes,
  trimTexturePool,
  weightTextureBytes,
} from "../../engine/kernels/matmul_tex.ts";

const file = await readSafetensors(fixture("ops.safetensors"));
await initEngine();

type Case = {
  run: (x: Tensor[], h: Float32Array[]) => Tensor;
  rtol?: number;
  atol?: number;
  /** The fixture case it reads (default: its own name). */
  fixture?: string;
};
const mm: Case = { run: ([a, b]) => matmul(a, b), rtol: 1e-4, atol: 1e-4 };
const CASES: Record<string, Case> = {
  matmul_1x34x1024: mm,
  matmul_3x5x7: mm,
  matmul_17x1025x33: mm,
  matmul_1023x17x3: mm,
  matmul_1025x8x36: mm,
  matmul_2x4099x5: mm,
  matmul_64x64x64: mm,
  matmul_transB: { run: ([a, b]) => matmul(a, b, { transB: true }) },
  matmul_transA: { run: ([a, b]) => matmul(a, b, { transA: true }) },
  matmul_transB_k64: { run: ([a, b]) => matmul(a, b, { transB: true }), rtol: 1e-4, atol: 1e-4 },
  matmul_transB_large: { run: ([a, b]) => matmul(a, b, { transB: true }), rtol: 1e-4, atol: 1e-4 },
  matmul_transA_m64: { run: ([a, b]) => matmul(a, b, { transA: true }), rtol: 1e-4, atol: 1e-4 },
  matmul_transA_large: { run: ([a, b]) => matmul(a, b, { transA: true }), rtol: 1e-4, atol: 1e-4 },
  matmul_transAB: { run: ([a, b]) => matmul(a, b, { transA: true, transB: true }) },
  matmul_batched: { run: ([a, b]) => matmul(a, b) },
  matmul_batch_bcast: { run: ([a, b]) => matmul(a, b) },
  linear_relu: { run: ([x, w, b]) => matmul(x, w, { transB: true, bias: b, activation: "relu" }) },
  linear_leaky_residual: {
    run: ([x, w, b, r]) =>
      matmul(x, w, { transB: true, bias: b, activation: "leaky_relu", alpha: 0.2, residual: r }),
  },
  linear_odd_n: { run: ([x, w, b]) => matmul(x, w, { transB: true, bias: b, activation: "relu" }) },
  add_bcast: { run: ([a, b]) => binary(a, b, "add") },
  sub_bcast: { run: ([a, b]) => binary(a, b, "sub") },
  mul_bcast: { run: ([a, b]) => binary(a, b, "mul") },
  div_bcast: { run: ([a, b]) => binary(a, b, "div") },
  max_bcast: { run: ([a, b]) => binary(a, b, "max") },
  pow: { run: ([a, b]) => binary(a, b, "pow"), rtol: 1e-5 },
  gt: { run: ([a, b]) => binary(a, b, "gt") },
  add_rowvec_vec4: { run: ([a, b]) => binary(a, b, "add") },
  mul_colvec_vec4: { run: ([a, b]) => binary(a, b, "mul") },
  sub_outer_vec4: { run: ([a, b]) => binary(a, b, "sub") },
  div_scalar_vec4: { run: ([a, b]) => binary(a, b, "div") },
  relu_grad_vec4: { run: ([a, b]) => binary(a, b, "relu_grad") },
  relu_vec4: { run: ([x]) => unary(x, "relu") },
  sigmoid_vec4: { run: ([x]) => unary(x, "sigmoid"), rtol: 1e-5 },
  relu: { run: ([x]) => unary(x, "relu") },
  leaky_relu: { run: ([x]) => unary(x, "leaky_relu", { a: 0.2 }) },
  sigmoid: { run: ([x]) => unary(x, "sigmoid") },
  tanh: { run: ([x]) => unary(x, "tanh") },
  exp: { run: ([x]) => unary(x, "exp") },
  log: { run: ([x]) => unary(x, "log") },
  sqrt: { run: ([x]) => unary(x, "sqrt") },
  clamp: { run: ([x]) => unary(x, "clamp", { a: -0.5, b: 0.5 }) },
  neg: { run: ([x]) => unary(x, "neg") },
  abs: { run: ([x]) => unary(x, "abs") },
  sum_all: { run: ([x]) => sum(x), atol: 1e-4 },
  mean_keepdims: { run: ([x]) => mean(x, { axis: 1, keepDims: true }) },
  batch_norm_2d: { run: ([x, m, v, g, b]) => batchNorm(x, { mean: m, variance: v, weight: g, bias: b }) },
  batch_norm_4d: {
    run: ([x, m, v, g, b]) => batchNorm(x, { mean: m, variance: v, weight: g, bias: b }, { eps: 1e-3 }),
  },
  batch_stats_mean: { run: ([x]) => batchStats(x).mean },
  batch_stats_var: { run: ([x]) => batchStats(x).variance },
  batch_stats3d_var: { run: ([x]) => batchStats(x).variance },
  bn_fold: {
    run: ([x], [, w, b, m, v, g, be]) => {
      const f = batchNormFold({ weight: w, bias: b }, {
        mean: m,
        variance: v,
        weight: g,
        bias: be,
        eps: 1e-5,
      });
      return matmul(x, tensor(f.weight, [4, 6]), { transB: true, bias: tensor(f.bias) });
    },
  },
  permute: { run: ([x]) => permute(x, [3, 1, 0, 2]) },
  slice: {
    run: ([x]) => slice(x, [{ axis: 1, start: 1, end: 3 }, { axis: 2, step: 2 }, { axis: 3, start: 1 }]),
  },
  concat_axis1: { run: ([a, b]) => concat([a, b], { axis: 1 }) },
  pad: { run: ([x]) => pad(x, [[0, 0], [0, 0], [0, 1], [1, 2]], { value: 0.5 }) },
  gather_axis1: { run: ([x, i]) => gather(x, i, { axis: 1 }) },
  gather_rows: { run: ([x, i]) => gather(x, i, { axis: 1 }) },
  gather_flat: { run: ([x, i]) => gather(x, i, { axis: 0 }) },
};
for (const ax of [0, 1, 2]) {
  CASES[`sum_axis${ax}`] = { run: ([x]) => sum(x, { axis: ax }) };
  CASES[`mean_axis${ax}`] = { run: ([x]) => mean(x, { axis: ax }) };
  CASES[`max_axis${ax}`] = { run: ([x]) => reduce(x, "max", { axis: ax }) };
  CASES[`min_axis${ax}`] = { run: ([x]) => reduce(x, "min", { axis: ax }) };
  CASES[`argmax_axis${ax}`] = { run: ([x]) => reduce(x, "argmax", { axis: ax }), atol: 0 };
}
// Every matmul kernel family on every matmul fixture (forced tiles; shapes a family cannot take fall back
// to the buffer kernel of the same block): register-tiled buffers, texture operands with A packed ("ab")
// or read from its buffer ("b"), in the k-outer and row-outer orders, each with the weight texture cached
// as eval-mode layers do (one family packs it per call).
const FAMILIES: Record<string, MatmulTile> = {
  reg16x16: { kind: "reg", tm: 16, tn: 16, wgx: 8, wgy: 8 },
  reg1x8: { kind: "reg", tm: 1, tn: 8, wgx: 32, wgy: 1 },
  tex16x16: { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 8 },
  tex3x8: { kind: "tex", tm: 3, tn: 8, wgx: 8, wgy: 4 },
  texb4x8: { kind: "tex", tm: 4, tn: 8, wgx: 8, wgy: 4, texA: false },
  tex1x4: { kind: "tex", tm: 1, tn: 4, wgx: 32, wgy: 1 },
  texr32x32: { kind: "tex", tm: 32, tn: 32, wgx: 8, wgy: 2, rowOuter: true },
  // Odd block, B packed on every call (as training weights are): copies and the pack kernel both run.
  texr5x12_percall: { kind: "tex", tm: 5, tn: 12, wgx: 8, wgy: 2, rowOuter: true },
  // The 24-row block CPU adapters take for short products (each variant compiles for seconds on
  // lavapipe, so it runs on the fixtures below only).
  texr24x32: { kind: "tex", tm: 24, tn: 32, wgx: 8, wgy: 2, rowOuter: true },
};
const FAMILY_FIXTURES: Record<string, string[]> = {
  texr24x32: ["matmul_17x1025x33", "matmul_transB_large", "matmul_batched", "linear_leaky_residual"],
};
const MATMUL_FIXTURES: [string, { transA?: boolean; transB?: boolean; epilogue?: "relu" | "leaky" }][] = [
  ["matmul_1x34x1024", {}],
  ["matmul_3x5x7", {}],
  ["matmul_17x1025x33", {}],
  ["matmul_1023x17x3", {}],
  ["matmul_1025x8x36", {}],
  ["matmul_2x4099x5", {}],
  ["matmul_64x64x64", {}],
  ["matmul_transB", { transB: true }],
  ["matmul_transA", { transA: true }],
  ["matmul_transAB", { transA: true, transB: true }],
  ["matmul_transB_large", { transB: true }],
  ["matmul_transA_large", { transA: true }],
  ["matmul_batched", {}],
  ["matmul_batch_bcast", {}],
  ["linear_relu", { transB: true, epilogue: "relu" }],
  ["linear_leaky_residual", { transB: true, epilogue: "leaky" }],
  ["linear_odd_n", { transB: true, epilogue: "relu" }],
];
for (const [fam, tile] of Object.entries(FAMILIES)) {
  for (const [fx, o] of MATMUL_FIXTURES) {
    if (FAMILY_FIXTURES[fam] && !FAMILY_FIXTURES[fam].includes(fx)) continue;
    CASES[`${fx}@${fam}`] = {
      fixture: fx,
      rtol: 1e-4,
      atol: 1e-4,
      run: ([a, b, bias, res]) =>
        matmulKernel(a, b, {
          tile,
          transA: o.transA,
          transB: o.transB,
          bias: o.epilogue ? bias : undefined,
          activation: o.epilogue === "leaky" ? "leaky_relu" : o.epilogue,
          alpha: 0.2,
          residual: o.epilogue === "leaky" ? res : undefined,
          constantB: fam.startsWith("tex") && !fam.endsWith("_percall"),
        }),
    };
  }
}
for (const ax of [-1, 1]) {
  CASES[`softmax_axis${ax}`] = { run: ([x]) => softmax(x, { axis: ax }) };
  CASES[`log_softmax_axis${ax}`] = { run: ([x]) => softmax(x, { axis: ax, log: true }) };
}

function inputs(name: string): { host: Float32Array[]; dtypes: string[]; shapes: number[][] } {
  const host: Float32Array[] = [], dtypes: string[] = [], shapes: number[][] = [];
  for (let i = 0;; i++) {
    const t = file.tensors.get(`${name}/in${i}`);
    if (!t) break;
    host.push(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
    dtypes.push(t.dtype);
    shapes.push(t.shape);
  }
  return { host, dtypes, shapes };
}

Deno.test("every fixture case has an entry in the op table", () => {
  const names = new Set([...file.tensors.keys()].map((k) => k.split("/")[0]));
  for (const n of names) assert(n in CASES, `fixture case ${n} has no op in the table`);
});

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`op ${name} matches PyTorch`, async () => {
    const fx = c.fixture ?? name;
    const ref = file.tensors.get(`${fx}/out`);
    if (!ref) throw new Error(`fixture ${fx}/out missing`);
    const { host, dtypes, shapes } = inputs(fx);
    const out = tidy(() => {
      const xs = host.map((h, i) =>
        dtypes[i] === "I32" ? tensor(Int32Array.from(h), shapes[i]) : tensor(h, shapes[i])
      );
      return c.run(xs, host);
    });
    assert.deepEqual([...out.shape], ref.shape, `${name}: shape`);
    const got = await out.read();
    out.dispose();
    const rtol = c.rtol ?? 1e-5, atol = c.atol ?? 1e-5;
    let worst = 0, at = -1;
    for (let i = 0; i < got.length; i++) {
      const e = Math.abs(got[i] - ref.data[i]) - (atol + rtol * Math.abs(ref.data[i]));
      if (!(e <= worst)) {
        worst = e;
        at = i;
      }
    }
    assert(
      at < 0,
      `${name}: element ${at} is ${got[at]}, PyTorch ${ref.data[at]} (atol ${atol}, rtol ${rtol})`,
    );
  });
}

Deno.test("texture matmul: a cached weight texture is reused, and dropped with its tensor", async () => {
  const tile: MatmulTile = { kind: "tex", tm: 4, tn: 8, wgx: 8, wgy: 4 };
  const before = cachedWeightTextures();
  // A = I (3×4): the product returns B's first three rows, so a stale or wrong texture shows.
  const a = tensor(Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]), [3, 4]);
  const w = tensor(Float32Array.from({ length: 4 * 6 }, (_, i) => i + 1), [4, 6]);
  const first = await matmulKernel(a, w, { tile, constantB: true }).read();
  assert.equal(cachedWeightTextures(), before + 1);
  assert.ok(weightTextureBytes() >= 2 * 4 * 16, "a 4×6 weight packs into ≥ 2×4 rgba32float texels");
  const second = await matmulKernel(a, w, { tile, constantB: true }).read();
  assert.equal(cachedWeightTextures(), before + 1, "the second product reuses the texture");
  assert.deepEqual([...second], Array.from({ length: 18 }, (_, i) => i + 1));
  assert.deepEqual([...first], Array.from({ length: 18 }, (_, i) => i + 1));
  w.dispose();
  a.dispose();
  assert.equal(cachedWeightTextures(), before, "disposing the weight drops its texture");
});

Deno.test("texture matmul: pooled operand textures are reused, with no stale rows under a short K", async () => {
  const tile: MatmulTile = { kind: "tex", tm: 4, tn: 8, wgx: 8, wgy: 4 };
  // B [8, 64] packs by a copy into 8 texture rows; B [6, 64] then gets the same 16×8 texture from the
  // pool, whose rows 6 and 7 still hold the infinities of the first B unless they are zeroed again.
  const a8 = tensor(new Float32Array(3 * 8).fill(1), [3, 8]);
  const b8 = tensor(Float32Array.from({ length: 8 * 64 }, (_, i) => (i >= 6 * 64 ? Infinity : 1)), [8, 64]);
  const inf = await matmulKernel(a8, b8, { tile }).read();
  assert.ok(inf.every((v) => v === Infinity), "the first product sums the infinite rows");
  const before = texturePoolBytes();
  assert.ok(before > 0, "its textures went to the pool");
  const a6 = tensor(Float32Array.from({ length: 3 * 6 }, (_, i) => i % 6), [3, 6]);
  const b6 = tensor(Float32Array.from({ length: 6 * 64 }, (_, i) => Math.floor(i / 64) + 1), [6, 64]);
  const got = await matmulKernel(a6, b6, { tile }).read();
  // Row r of A is 0..5, B row k is k + 1: every entry is Σ k·(k + 1) = 70.
  assert.deepEqual([...got], new Array(3 * 64).fill(70));
  for (const t of [a8, b8, a6, b6]) t.dispose();
  trimTexturePool();
  assert.equal(texturePoolBytes(), 0);
});

Deno.test("defaultTile on CPU adapters: 24-row blocks where 64-row workgroups would pad (PoseFix layer4), 32 for 1024³", () => {
  const t = (m: number, n: number, batch = 1) => defaultTile(m, n, 1024, batch, "");
  if (adapterSummary().isSoftware) {
    // M = 48: one 48-row workgroup instead of a 64-row one, whatever the core count.
    assert.deepEqual([t(48, 4096).tm, t(48, 512).tm], [24, 24]);
    // 1024 rows divide into 64-row workgroups; 48-row ones would pad the last and add work per core.
    assert.equal(t(1024, 1024).tm, 32);
    assert.equal(t(1024, 1024).kind, "tex");
  } else {
    // GPUs keep the shared-memory tiles.
    assert.equal(t(48, 4096).kind, "shared");
  }
});
