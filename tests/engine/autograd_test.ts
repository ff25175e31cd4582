// Every differentiable op against PyTorch (tests/fixtures/gen_grads.py → grads.safetensors), through one
// table and one checker: the forward output AND the gradient of each input for a random upstream
// gradient gy (torch.autograd.grad of sum(out·gy)).
//
// Tolerance (PyTorch): per element |ours − torch| ≤ 1e-4·(|torch| + max|torch|) — 1e-4 relative, with the
// floor scaled by the tensor's largest magnitude so that entries near zero (sums of cancelling terms)
// are judged on the tensor's own scale. A case may widen it (stated in the table).
//
// Finite differences (cases marked `fd`): in float32 on the GPU, central differences D(e) of the scalar
// L(x) = Σ gy·f(x) along a random direction v of each input (L accumulated on the host in float64),
// Richardson-combined, fd = (4·D(ε/2) − D(ε))/3 with ε = 1e-2:
// |fd − ⟨∇L, v⟩| ≤ 2e-2·(|⟨∇L, v⟩| + 1e-2·Σ|∇L|·|v|) + 5e-7·Σ|gy·f(x)|/ε
// (the last term is float32's rounding of L divided by the step: it judges gradients that are truly 0).
import assert from "node:assert/strict";
import { backend, initEngine, readAll, readSafetensors, Tensor, tensor, tidy } from "../../engine/mod.ts";
import * as ops from "../../engine/ops.ts";
import { hostIndexValues } from "../../engine/tensor.ts";
import { backward, noGrad, param, withGrad, zeroGrad } from "../../engine/autograd.ts";
import { dropoutMask, manualSeed, Rng } from "../../engine/random.ts";
import { dispatchLabels, fixture } from "../_shared.ts";

const file = await readSafetensors(fixture("grads.safetensors"));
await initEngine();
// Warm-up: the first matmul and convolution allocate lifelong dummy epilogue buffers.
tidy(() => ops.linear(tensor([1], [1, 1]), tensor([1], [1, 1]), { bias: tensor([1]) }));
tidy(() => ops.conv2d(tensor([1], [1, 1, 1, 1]), tensor([1], [1, 1, 1, 1])));

type Case = { run: (x: Tensor[]) => Tensor; fd?: boolean; rtol?: number; atol?: number };
const bnT = (eps = 1e-5) => ([x, g, b]: Tensor[]) =>
  ops.batchNormTraining(x, { weight: g, bias: b }, { eps }).y;

const CASES: Record<string, Case> = {
  linear: { run: ([x, w, b]) => ops.linear(x, w, { bias: b }), fd: true },
  linear_nobias: { run: ([x, w]) => ops.linear(x, w) },
  linear_relu: { run: ([x, w, b]) => ops.linear(x, w, { bias: b, activation: "relu" }) },
  linear_leaky_residual: {
    run: ([x, w, b, r]) => ops.linear(x, w, { bias: b, activation: "leaky_relu", alpha: 0.2, residual: r }),
  },
  linear_relu_residual: {
    run: ([x, w, b, r]) => ops.linear(x, w, { bias: b, activation: "relu", residual: r }),
  },
  linear_3d: { run: ([x, w, b]) => ops.linear(x, w, { bias: b }) },
  linear_in_out: { run: ([x, w, b]) => ops.linear(x, w, { bias: b, weightLayout: "in_out" }), fd: true },
  linear_wide: {
    run: ([x, w, b, r]) => ops.linear(x, w, { bias: b, activation: "leaky_relu", alpha: 0.2, residual: r }),
  },
  linear_odd: { run: ([x, w, b]) => ops.linear(x, w, { bias: b, activation: "relu" }) },
  matmul_nn: { run: ([a, b]) => ops.matmul(a, b), fd: true },
  matmul_tn: { run: ([a, b]) => ops.matmul(a, b, { transA: true }) },
  matmul_nt: { run: ([a, b]) => ops.matmul(a, b, { transB: true }) },
  matmul_tt: { run: ([a, b]) => ops.matmul(a, b, { transA: true, transB: true }) },
  matmul_batched: { run: ([a, b]) => ops.matmul(a, b) },
  matmul_bcast: { run: ([a, b]) => ops.matmul(a, b), fd: true },
  add_bcast: { run: ([a, b]) => ops.add(a, b), fd: true },
  sub_bcast: { run: ([a, b]) => ops.sub(a, b) },
  mul_bcast: { run: ([a, b]) => ops.mul(a, b), fd: true },
  div_bcast: { run: ([a, b]) => ops.div(a, b), fd: true },
  add_same: { run: ([a, b]) => ops.add(a, b) },
  mul_row: { run: ([a, b]) => ops.mul(a, b) },
  relu: { run: ([x]) => ops.relu(x), fd: true },
  leaky_relu: { run: ([x]) => ops.leakyRelu(x, { alpha: 0.2 }) },
  sigmoid: { run: ([x]) => ops.sigmoid(x), fd: true },
  tanh: { run: ([x]) => ops.tanh(x), fd: true },
  abs: { run: ([x]) => ops.abs(x) },
  square: { run: ([x]) => ops.square(x) },
  exp: { run: ([x]) => ops.exp(x) },
  log: { run: ([x]) => ops.log(x), fd: true },
  sqrt: { run: ([x]) => ops.sqrt(x) },
  neg: { run: ([x]) => ops.neg(x) },
  affine: { run: ([x]) => ops.affine(x, { scale: 1.5, shift: -0.25 }) },
  dropout_p0: { run: ([x]) => ops.dropout(x, { p: 0, training: true }) },
  bn_train_2d: { run: bnT(), fd: true },
  bn_train_3d: { run: bnT(1e-3), fd: true },
  bn_train_4d: { run: bnT() },
  bn_train_large: { run: bnT() },
  bn_train_noaffine: { run: ([x]) => ops.batchNormTraining(x, {}).y },
  bn_infer: {
    run: ([x, m, v, g, b]) => ops.batchNormInference(x, { mean: m, variance: v, weight: g, bias: b }),
    fd: true,
  },
  concat_axis1: { run: ([a, b]) => ops.concat([a, b], { axis: 1 }) },
  concat_axis0: { run: ([a, b, c]) => ops.concat([a, b, c]) },
  slice: {
    run: ([x]) => ops.slice(x, [{ axis: 1, start: 1, end: 3 }, { axis: 2, step: 2 }, { axis: 3, start: 1 }]),
  },
  slice_neg: {
    run: ([x]) => ops.slice(x, [{ axis: 0, start: -4, end: -1 }, { axis: 1, start: 2, step: 3 }]),
  },
  pad: { run: ([x]) => ops.pad(x, [[0, 0], [0, 0], [0, 1], [1, 2]], { value: 0.5 }) },
  gather_axis1: { run: ([x, i]) => ops.gather(x, i, { axis: 1 }) },
  gather_axis0: { run: ([x, i]) => ops.gather(x, i, { axis: 0 }) },
  permute: { run: ([x]) => ops.permute(x, [3, 1, 0, 2]) },
  reshape: { run: ([x]) => ops.reshape(x, [6, 20]) },
  sum_all: { run: ([x]) => ops.sum(x) },
  sum_axis1: { run: ([x]) => ops.sum(x, { axis: 1 }) },
  sum_axis2_keep: { run: ([x]) => ops.sum(x, { axis: 2, keepDims: true }) },
  mean_all: { run: ([x]) => ops.mean(x), fd: true },
  mean_axis0: { run: ([x]) => ops.mean(x, { axis: 0 }) },
  mean_axis1_keep: { run: ([x]) => ops.mean(x, { axis: 1, keepDims: true }) },
  softmax_last: { run: ([x]) => ops.softmax(x, { axis: -1 }), fd: true },
  softmax_axis1: { run: ([x]) => ops.softmax(x, { axis: 1 }) },
  log_softmax_last: { run: ([x]) => ops.logSoftmax(x, { axis: -1 }), fd: true },
  log_softmax_axis1: { run: ([x]) => ops.logSoftmax(x, { axis: 1 }) },
  residual_block: {
    run: ([x, w1, b1, g1, be1, w2, b2, g2, be2]) => {
      const h1 = ops.relu(
        ops.batchNormTraining(ops.linear(x, w1, { bias: b1 }), { weight: g1, bias: be1 }).y,
      );
      const h2 = ops.relu(
        ops.batchNormTraining(ops.linear(h1, w2, { bias: b2 }), { weight: g2, bias: be2 }).y,
      );
      return ops.add(x, h2);
    },
    // b1 and b2 feed batch norms, so their true gradients are 0 and both sides hold float32 noise (~1e-7).
    atol: 1e-5,
  },
  // The same block through tanh: smooth, so finite differences apply (through ReLUs a float32 step
  // large enough to rise above rounding crosses kinks of some of the 256 units).
  residual_block_tanh: {
    run: ([x, w1, b1, g1, be1, w2, b2, g2, be2]) => {
      const h1 = ops.tanh(
        ops.batchNormTraining(ops.linear(x, w1, { bias: b1 }), { weight: g1, bias: be1 }).y,
      );
      const h2 = ops.tanh(
        ops.batchNormTraining(ops.linear(h1, w2, { bias: b2 }), { weight: g2, bias: be2 }).y,
      );
      return ops.add(x, h2);
    },
    atol: 1e-5,
    fd: true,
  },
  conv2d_s2p1: { run: ([x, w, b]) => ops.conv2d(x, w, { bias: b, stride: 2, padding: 1 }), fd: true },
  conv2d_groups_dil: {
    run: ([x, w]) => ops.conv2d(x, w, { padding: 2, dilation: 2, groups: 2 }),
    fd: true,
  },
  conv2d_relu_residual: {
    run: ([x, w, b, r]) => ops.conv2d(x, w, { bias: b, padding: 1, activation: "relu", residual: r }),
  },
  conv2d_residual_first_relu: {
    run: ([x, w, b, r]) =>
      ops.conv2d(x, w, { bias: b, padding: 1, activation: "relu", residual: r, residualFirst: true }),
  },
  conv2d_1x1: { run: ([x, w, b]) => ops.conv2d(x, w, { bias: b }) },
  conv2d_stride3: { run: ([x, w]) => ops.conv2d(x, w, { stride: 3 }) },
  conv1d_dil3: { run: ([x, w]) => ops.conv1d(x, w, { dilation: 3 }), fd: true },
  conv1d_stride3: { run: ([x, w, b]) => ops.conv1d(x, w, { bias: b, stride: 3 }) },
  conv1d_groups_leaky: {
    run: ([x, w, b]) => ops.conv1d(x, w, { bias: b, groups: 2, activation: "leaky_relu", alpha: 0.01 }),
  },
  conv_t_4x4_s2: { run: ([x, w]) => ops.convTranspose2d(x, w, { stride: 2, padding: 1 }), fd: true },
  conv_t_groups_op: {
    run: ([x, w, b]) =>
      ops.convTranspose2d(x, w, { bias: b, stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
    fd: true,
  },
  conv_t_relu: { run: ([x, w, b]) => ops.convTranspose2d(x, w, { bias: b, padding: 1, activation: "relu" }) },
  maxpool_3s2p1: { run: ([x]) => ops.maxPool2d(x, 3, { stride: 2, padding: 1 }) },
  maxpool_2: { run: ([x]) => ops.maxPool2d(x, 2) },
  maxpool_dil: { run: ([x]) => ops.maxPool2d(x, 3, { stride: 2, dilation: 2 }) },
  avgpool_3s2p1: { run: ([x]) => ops.avgPool2d(x, 3, { stride: 2, padding: 1 }), fd: true },
  avgpool_nopad_count: {
    run: ([x]) => ops.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }),
  },
  adaptive_avg: { run: ([x]) => ops.adaptiveAvgPool2d(x, [3, 2]), fd: true },
  global_avg: { run: ([x]) => ops.globalAvgPool2d(x) },
  bilinear_up2: { run: ([x]) => ops.resizeBilinear(x, [8, 10]), fd: true },
  bilinear_ac: { run: ([x]) => ops.resizeBilinear(x, [7, 9], { alignCorners: true }) },
  bilinear_down: { run: ([x]) => ops.resizeBilinear(x, [4, 3]) },
  bilinear_odd_up: { run: ([x]) => ops.resizeBilinear(x, [10, 7]) },
  nearest_up: { run: ([x]) => ops.resizeNearest(x, [8, 15]) },
  nearest_down: { run: ([x]) => ops.resizeNearest(x, [4, 3]) },
  nearest_odd: { run: ([x]) => ops.resizeNearest(x, [7, 9]) },
  pad2d_mixed: { run: ([x]) => ops.pad2d(x, [1, -1, 2, 0], { value: 0.5 }) },
};

interface Inputs {
  host: Float32Array[];
  shapes: number[][];
  ints: boolean[];
  grads: (Float32Array | null)[];
}

function inputs(name: string): Inputs {
  const r: Inputs = { host: [], shapes: [], ints: [], grads: [] };
  for (let i = 0;; i++) {
    const t = file.tensors.get(`${name}/in${i}`);
    if (!t) break;
    r.host.push(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
    r.shapes.push(t.shape);
    r.ints.push(t.dtype === "I32");
    const g = file.tensors.get(`${name}/grad${i}`);
    r.grads.push(g ? g.data as Float32Array : null);
  }
  return r;
}

function upload(inp: Inputs, override?: { index: number; data: Float32Array }): Tensor[] {
  return inp.host.map((h, i) => {
    if (inp.ints[i]) return tensor(Int32Array.from(h), inp.shapes[i]);
    const data = override?.index === i ? override.data : h;
    const t = tensor(data, inp.shapes[i]);
    return inp.grads[i] ? param(t) : t;
  });
}

function close(name: string, got: Float32Array, ref: Float32Array, rtol: number, atol = 0): void {
  assert.equal(got.length, ref.length, `${name}: length`);
  let max = 0;
  for (const v of ref) max = Math.max(max, Math.abs(v));
  for (let i = 0; i < got.length; i++) {
    const tol = rtol * (Math.abs(ref[i]) + max) + atol;
    if (!(Math.abs(got[i] - ref[i]) <= tol)) {
      assert.fail(
        `${name}: element ${i} is ${got[i]}, PyTorch ${ref[i]} (tolerance ${tol.toExponential(2)})`,
      );
    }
  }
}

Deno.test("every gradient fixture case has an entry in the table", () => {
  const names = new Set([...file.tensors.keys()].map((k) => k.split("/")[0]));
  names.delete("bn_running");
  for (const n of names) assert(n in CASES, `fixture case ${n} has no op in the table`);
});

/** Σ gy·f(x) and Σ|gy·f(x)| in float64 from a forward pass without recording. */
async function lossAt(
  c: Case,
  inp: Inputs,
  gy: Float32Array,
  override: { index: number; data: Float32Array },
): Promise<[number, number]> {
  const out = tidy(() => c.run(upload(inp, override)));
  const [y] = await readAll([out]);
  out.dispose();
  let s = 0, a = 0;
  for (let i = 0; i < y.length; i++) {
    s += y[i] * gy[i];
    a += Math.abs(y[i] * gy[i]);
  }
  return [s, a];
}

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`grad ${name} matches PyTorch${c.fd ? " and finite differences" : ""}`, async () => {
    const inp = inputs(name);
    const gyRef = file.tensors.get(`${name}/gy`)!.data as Float32Array;
    const outRef = file.tensors.get(`${name}/out`)!;
    const recorded = (xs: Tensor[], gy: Tensor) =>
      withGrad(() =>
        tidy(() => {
          const y = c.run(xs);
          backward(y, { grad: gy });
          return y;
        })
      );
    {
      // Warm-up run: kernels may allocate lifelong buffers (e.g. a dummy binding) on their first use,
      // which must not count as a leak of the measured run below.
      const xs = upload(inp), gy = tensor(gyRef, outRef.shape);
      recorded(xs, gy).dispose();
      for (const x of [gy, ...xs]) x.dispose();
      await backend().sync();
    }
    const base = backend().getStats().liveBuffers;
    const xs = upload(inp);
    const gy = tensor(gyRef, outRef.shape);
    const out = recorded(xs, gy);
    assert.deepEqual([...out.shape], outRef.shape, `${name}: shape`);
    const withGrads = xs.filter((_, i) => inp.grads[i]);
    const vals = await readAll([out, ...withGrads.map((x) => x.grad!)]);
    const rtol = c.rtol ?? 1e-4;
    close(`${name} forward`, vals[0], outRef.data as Float32Array, rtol, c.atol);
    let k = 1;
    inp.grads.forEach((g, i) => {
      if (g) close(`${name} grad of input ${i}`, vals[k++], g, rtol, c.atol);
    });
    out.dispose();
    gy.dispose();
    for (const x of xs) x.dispose();
    assert.equal(backend().getStats().liveBuffers, base, `${name}: live buffers return to the baseline`);

    if (!c.fd) return;
    const rng = new Rng(7);
    const eps = 1e-2;
    k = 1;
    for (let i = 0; i < inp.host.length; i++) {
      if (!inp.grads[i]) continue;
      const grad = vals[k++];
      const v = rng.fillNormal(new Float32Array(inp.host[i].length));
      // Central differences at ε and ε/2, Richardson-combined: the ε² truncation term cancels.
      const central = async (e: number): Promise<[number, number]> => {
        const [lp, size] = await lossAt(c, inp, gyRef, {
          index: i,
          data: inp.host[i].map((x, j) => x + e * v[j]),
        });
        const [lm] = await lossAt(c, inp, gyRef, { index: i, data: inp.host[i].map((x, j) => x - e * v[j]) });
        return [(lp - lm) / (2 * e), size];
      };
      const [d1, size] = await central(eps);
      const [d2] = await central(eps / 2);
      const fd = (4 * d2 - d1) / 3;
      let an = 0, scale = 0;
      for (let j = 0; j < v.length; j++) {
        an += grad[j] * v[j];
        scale += Math.abs(grad[j] * v[j]);
      }
      const tol = 2e-2 * (Math.abs(an) + 1e-2 * scale) + 5e-7 * size / eps;
      assert(
        Math.abs(fd - an) <= tol,
        `${name}: input ${i} finite difference ${fd} vs analytic ${an} (tolerance ${tol.toExponential(2)})`,
      );
    }
  });
}

Deno.test("batch-norm running statistics follow PyTorch (momentum 0.1, unbiased variance)", async () => {
  const g = (k: string) => file.tensors.get(`bn_running/${k}`)!;
  const x = tensor(g("x").data as Float32Array, g("x").shape);
  const rm = tensor(g("rm").data as Float32Array), rv = tensor(g("rv").data as Float32Array);
  tidy(() => ops.batchNormTraining(x, { running: { mean: rm, variance: rv } }).y);
  const [m, v] = await readAll([rm, rv]);
  close("running mean", m, g("rm_after").data as Float32Array, 1e-5);
  close("running var", v, g("rv_after").data as Float32Array, 1e-5);
  for (const t of [x, rm, rv]) t.dispose();
});

// Index lists made from host data get their inverse on the host (an inverse map when no target repeats,
// else CSR); ones without a host copy (computed on the GPU) on the GPU: all must give the same scatter-add.
// The indices of a padding gather (-1 and len read 0 forward, so they get no gradient), with and without repeats.
const gatherCases = [
  { where: "host", idx: [3, -1, 0, 3, 5, 1, 3, 0] },
  { where: "host", idx: [4, -1, 0, 5, 2, 1] },
  { where: "gpu", idx: [3, -1, 0, 3, 5, 1, 3, 0] },
] as const;
for (const { where, idx } of gatherCases) {
  Deno.test(`gather backward (${where} inverse) of [${idx}]: against a host scatter-add`, async () => {
    const [o, len, inner] = [2, 5, 3];
    const rng = new Rng(11);
    const xs = rng.fillNormal(new Float32Array(o * len * inner));
    const gs = rng.fillNormal(new Float32Array(o * idx.length * inner));
    const x = param(tensor(xs, [o, len, inner]));
    const gy = tensor(gs, [o, idx.length, inner]);
    const i = where === "host"
      ? tensor(Int32Array.from(idx))
      : new Tensor(backend().upload(Int32Array.from(idx), { bytes: idx.length * 4 }), [idx.length], "i32");
    assert.equal(hostIndexValues(i) !== undefined, where === "host");
    withGrad(() => tidy(() => backward(ops.sum(ops.mul(ops.gather(x, i, { axis: 1 }), gy)))));
    const want = new Float32Array(xs.length);
    for (let a = 0; a < o; a++) {
      idx.forEach((l, j) => {
        if (l < 0 || l >= len) return;
        for (let c = 0; c < inner; c++) {
          want[(a * len + l) * inner + c] += gs[(a * idx.length + j) * inner + c];
        }
      });
    }
    close("dx", await x.grad!.read(), want, 1e-6);
    for (const t of [x, gy, i]) t.dispose();
  });
}

Deno.test("gather and slice backward add in place into a gradient the input already has", async () => {
  // x feeds three injective gathers (padding, selection, permutation), two slices (one strided) and a
  // product: the later contributions go into the existing gradient in place (gather_backward_add_into,
  // strided_add), not as full zero-filled tensors.
  const [o, len, inner] = [2, 5, 3];
  const lists = [[4, -1, 0], [0, 2, 3, 5], [1, 0, 4, 3, 2]];
  const rng = new Rng(12);
  const xs = rng.fillNormal(new Float32Array(o * len * inner));
  const ws = rng.fillNormal(new Float32Array(o * len * inner));
  const gs = lists.map((l) => rng.fillNormal(new Float32Array(o * l.length * inner)));
  const x = param(tensor(xs, [o, len, inner]));
  const w = tensor(ws, [o, len, inner]);
  const gys = lists.map((l, n) => tensor(gs[n], [o, l.length, inner]));
  const idx = lists.map((l) => tensor(Int32Array.from(l)));
  // As index lists: slice(start, end, step) of the 5 entries.
  const slices = [{ start: 1, end: 4, step: 1 }, { start: 0, end: 5, step: 2 }];
  const sliceLists = slices.map(({ start, end, step }) =>
    Array.from({ length: Math.ceil((end - start) / step) }, (_, i) => start + i * step)
  );
  const sgs = sliceLists.map((l) => rng.fillNormal(new Float32Array(o * l.length * inner)));
  const sys = sliceLists.map((l, n) => tensor(sgs[n], [o, l.length, inner]));
  const { labels } = await dispatchLabels(() =>
    withGrad(() =>
      tidy(() => {
        let loss = ops.sum(ops.mul(x, w));
        lists.forEach((_, n) => {
          loss = ops.add(loss, ops.sum(ops.mul(ops.gather(x, idx[n], { axis: 1 }), gys[n])));
        });
        slices.forEach(({ start, end, step }, n) => {
          const view = ops.slice(x, [{ axis: 1, start, end, step }]);
          loss = ops.add(loss, ops.sum(ops.mul(view, sys[n])));
        });
        backward(loss);
      })
    )
  );
  const want = Float32Array.from(ws);
  const allLists = [...lists, ...sliceLists], allGs = [...gs, ...sgs];
  allLists.forEach((l, n) => {
    for (let a = 0; a < o; a++) {
      l.forEach((t, j) => {
        if (t < 0 || t >= len) return;
        for (let c = 0; c < inner; c++) {
          want[(a * len + t) * inner + c] += allGs[n][(a * l.length + j) * inner + c];
        }
      });
    }
  });
  close("dx", await x.grad!.read(), want, 1e-5);
  // Five sparse contributions, at most one of them materialised (whichever came first).
  const inPlace =
    labels.filter((l) => l === "gather_backward_add_into" || l.startsWith("strided_add")).length;
  assert.ok(inPlace >= 4, labels.join(" "));
  for (const t of [x, w, ...gys, ...idx, ...sys]) t.dispose();
});

async function checkDropout(n: number): Promise<void> {
  const p = 0.3, seed = 123456789012;
  const xh = new Float32Array(n).map((_, i) => 1 + (i % 7));
  const x = param(tensor(xh));
  const gh = new Float32Array(n).map((_, i) => (i % 5) - 2);
  const gy = tensor(gh);
  const y = withGrad(() => {
    const y = ops.dropout(x, { p, training: true, seed });
    backward(y, { grad: gy });
    return y;
  });
  const [yv, gv] = await readAll([y, x.grad!]);
  const mask = dropoutMask(n, { p, seed });
  let kept = 0;
  for (let i = 0; i < n; i++) {
    kept += mask[i];
    assert.ok(Math.abs(yv[i] - mask[i] * xh[i] / (1 - p)) < 1e-5, `n=${n} y[${i}]`);
    assert.ok(Math.abs(gv[i] - mask[i] * gh[i] / (1 - p)) < 1e-5, `n=${n} grad[${i}]`);
  }
  assert.ok(Math.abs(kept / n - (1 - p)) < 0.03, `kept fraction ${kept / n}`);
  // Same seed → same mask; another seed → another mask; not training → identity.
  const again = ops.dropout(x, { p, training: true, seed });
  const other = ops.dropout(x, { p, training: true, seed: seed + 1 });
  const ident = ops.dropout(x, { p, training: false });
  const [a, o, id] = await readAll([again, other, ident]);
  assert.deepEqual(a, yv);
  assert.notDeepEqual(o, yv);
  assert.deepEqual(id, xh);
  for (const t of [x, gy, y, again, other, ident]) t.dispose();
}

Deno.test("dropout: mask from the seed (host mirror), scaling, backward with the same mask", async () => {
  // 4099 runs the scalar kernel, 4096 the vec4 one: both must follow the host mirror.
  for (const n of [4099, 4096]) await checkDropout(n);
  // The process-wide stream: manualSeed makes unseeded dropout repeatable.
  const draw = async () => {
    manualSeed(5);
    const t = tensor(new Float32Array(256).fill(1));
    const d = ops.dropout(t, { p: 0.5, training: true });
    const [v] = await readAll([d]);
    t.dispose();
    d.dispose();
    return v;
  };
  assert.deepEqual(await draw(), await draw());
});

Deno.test("tape: saved tensors survive tidy/dispose until backward; gradients accumulate; noGrad records nothing", async () => {
  const base = backend().getStats().liveBuffers;
  const w = param(tensor([1, 2, 3, 4], [2, 2]));
  const x = tensor([1, -1, 2, 0.5], [2, 2]);
  // Layers wrapped in tidy(): the intermediates they saved must survive until backward.
  const layer = (h: Tensor) => tidy(() => ops.sigmoid(ops.linear(h, w)));
  withGrad(() => {
    const h1 = layer(x);
    const h = layer(h1);
    const loss = ops.sum(h);
    h1.dispose();
    h.dispose();
    backward(loss);
    loss.dispose();
  });
  const [g1] = await readAll([w.grad!]);
  // The graph is consumed by backward: a second call says so.
  withGrad(() => {
    const loss = tidy(() => ops.sum(layer(x)));
    backward(loss);
    assert.throws(() => backward(loss), /already consumed/);
    loss.dispose();
  });
  w.grad!.dispose();
  w.grad = tensor(g1, [2, 2]);
  withGrad(() => {
    const loss = tidy(() => ops.sum(layer(layer(x))));
    backward(loss);
    loss.dispose();
  });
  const [g2] = await readAll([w.grad!]);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(g2[i] - 2 * g1[i]) < 1e-6, "second backward accumulates");
  zeroGrad([w]);
  assert.equal(w.grad, null);
  // Outside withGrad (or inside noGrad) nothing is recorded, so backward refuses.
  const y = tidy(() => ops.sum(ops.linear(x, w)));
  assert.throws(() => backward(y), /does not depend/);
  const y2 = withGrad(() => noGrad(() => tidy(() => ops.sum(ops.linear(x, w)))));
  assert.throws(() => backward(y2), /does not depend/);
  // A forward pass whose backward never runs is released at the end of the scope.
  withGrad(() => tidy(() => void layer(layer(x))));
  for (const t of [w, x, y, y2]) t.dispose();
  assert.equal(backend().getStats().liveBuffers, base, "no tape-held buffers remain");
});
