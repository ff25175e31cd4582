// Optimisers, clipping, schedules, losses, initialisation, randomness and whole training runs.
// References: tests/fixtures/gen_grads.py → grads_optim.safetensors (torch.optim, torch losses, a tiny MLP
// trained by PyTorch). Tolerances are stated per test; "rel" means per element
// |ours − ref| ≤ rel·(|ref| + max|ref|) as in autograd_test.ts.
import assert from "node:assert/strict";
import {
  backend,
  initEngine,
  readAll,
  readSafetensors,
  type Tensor,
  tensor,
  tidy,
} from "../../engine/mod.ts";
import * as ops from "../../engine/ops.ts";
import { backward, param, withGrad } from "../../engine/autograd.ts";
import {
  Adam,
  AdamW,
  applyMaxNorm,
  clipGradNorm,
  exponentialDecay,
  exponentialLr,
  LossLog,
  type Optimizer,
  SGD,
  stepLr,
  trainStep,
} from "../../engine/optim.ts";
import {
  hardJointLoss,
  integralLoss,
  l1Loss,
  mseLoss,
  onehotHeatmap,
  softArgmax,
} from "../../engine/losses.ts";
import {
  constantInit,
  kaimingNormal,
  kaimingUniform,
  linearInit,
  varianceScaling,
} from "../../engine/init.ts";
import { philox4x32, Rng, seedKey, u32ToUniform } from "../../engine/random.ts";
import { randomNormal, randomUniform } from "../../engine/kernels/random.ts";
import { fixture } from "../_shared.ts";

const file = await readSafetensors(fixture("grads_optim.safetensors"));
await initEngine();

const ref = (k: string): Float32Array => {
  const t = file.tensors.get(k);
  if (!t) throw new Error(`fixture ${k} missing`);
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
};
const shapeOf = (k: string): number[] => file.tensors.get(k)!.shape;
const up = (k: string): Tensor => tensor(ref(k), shapeOf(k));

function close(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  assert.equal(got.length, want.length, `${name}: length`);
  let max = 0;
  for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i]));
  for (let i = 0; i < got.length; i++) {
    const tol = rel * (Math.abs(want[i]) + max);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      assert.fail(
        `${name}: element ${i} is ${got[i]}, reference ${want[i]} (tolerance ${tol.toExponential(2)})`,
      );
    }
  }
}

// Warm-up: lifelong helper buffers (matmul's dummy epilogue, the optimisers' unit scale) exist before any
// test measures live buffers.
{
  const p = param(tensor([1, 2], [1, 2]));
  p.grad = tensor([1, 1], [1, 2]);
  const o = new SGD([p]);
  o.step();
  p.grad = tensor([1, 1], [1, 2]);
  new Adam([p]).step();
  tidy(() => ops.linear(p, p, { bias: tensor([1]) }));
  o.dispose();
  p.dispose();
}

// ------------------------------------------------------------------------------------------------------
// Optimisers: 6 steps on two parameters with the fixture's gradients, every step compared (rel 1e-5).
const OPTIMS: Record<string, (ps: Tensor[]) => Optimizer> = {
  adam: (ps) => new Adam(ps, { lr: 1e-2 }),
  adam_l2: (ps) => new Adam(ps, { lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
  adamw: (ps) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.1 }),
  // β2 = 0.9 lets the second moment fall within 6 steps, so the running maximum matters.
  adam_amsgrad: (ps) => new Adam(ps, { lr: 1e-2, betas: [0.9, 0.9], amsgrad: true }),
  sgd: (ps) => new SGD(ps, { lr: 0.1 }),
  sgd_momentum: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }),
};

for (const [name, make] of Object.entries(OPTIMS)) {
  Deno.test(`${name} follows torch.optim step by step`, async () => {
    const base = backend().getStats().liveBuffers;
    const ps = [param(up("opt/p0")), param(up("opt/p1"))];
    const opt = make(ps);
    const s0 = backend().getStats().submits;
    const snaps: Tensor[] = [];
    for (let s = 0; s < 6; s++) {
      ps.forEach((p, i) => p.grad = up(`opt/g${s}_${i}`));
      opt.step();
      opt.zeroGrad();
      for (const p of ps) snaps.push(p.reshape(p.shape));
    }
    assert.equal(backend().getStats().submits, s0, "steps record without submitting");
    const vals = await readAll(snaps);
    for (let s = 0; s < 6; s++) {
      for (let i = 0; i < 2; i++) {
        close(`${name} step ${s} param ${i}`, vals[2 * s + i], ref(`${name}/step${s}_${i}`), 1e-5);
      }
    }
    for (const t of [...snaps, ...ps]) t.dispose();
    opt.dispose();
    assert.equal(backend().getStats().liveBuffers, base, "optimiser state and gradients are freed");
  });
}

Deno.test("clipGradNorm matches clip_grad_norm_ (norm and clipped gradients, rel 1e-5)", async () => {
  const ps = [param(up("opt/p0")), param(up("opt/p1"))];
  ps.forEach((p, i) => p.grad = up(`opt/g0_${i}`));
  const norm = clipGradNorm(ps, { maxNorm: 1 });
  const [n, g0, g1] = await readAll([norm, ps[0].grad!, ps[1].grad!]);
  close("total norm", n, ref("clip/total"), 1e-5);
  close("clipped grad 0", g0, ref("clip/g0"), 1e-5);
  close("clipped grad 1", g1, ref("clip/g1"), 1e-5);
  // Adam with maxGradNorm clips inside its step: the same as clipping first.
  const a = [param(up("opt/p0"))], b = [param(up("opt/p0"))];
  a[0].grad = up("opt/g0_0");
  b[0].grad = up("opt/g0_0");
  const oa = new Adam(a, { lr: 0.1, maxGradNorm: 0.5 }), ob = new Adam(b, { lr: 0.1 });
  oa.step();
  clipGradNorm(b, { maxNorm: 0.5 }).dispose();
  ob.step();
  const [va, vb] = await readAll([a[0], b[0]]);
  close("Adam maxGradNorm", va, vb, 1e-6);
  for (const t of [norm, ...ps, ...a, ...b]) t.dispose();
  oa.dispose();
  ob.dispose();
});

Deno.test("applyMaxNorm is TF clip_by_norm(w, c) per tensor", async () => {
  const rng = new Rng(3);
  const big = rng.fillNormal(new Float32Array(64 * 32)); // Frobenius norm ≈ 45
  const small = new Float32Array(10).fill(0.01); // norm 0.0316: unchanged
  const w1 = tensor(big, [64, 32]), w2 = tensor(small);
  applyMaxNorm([w1, w2], { maxNorm: 1 });
  const [a, b] = await readAll([w1, w2]);
  let n = 0;
  for (const v of big) n += v * v;
  n = Math.sqrt(n);
  close("clipped", a, big.map((v) => v / n), 1e-5);
  close("unchanged", b, small, 1e-7);
  w1.dispose();
  w2.dispose();
});

Deno.test("learning-rate schedules", () => {
  const tf = exponentialDecay({ lr: 1e-3, decaySteps: 100_000, decayRate: 0.96 });
  assert.equal(tf(0), 1e-3);
  assert.equal(tf(99_999), 1e-3);
  assert.ok(Math.abs(tf(100_000) - 0.96e-3) < 1e-15);
  assert.ok(Math.abs(tf(250_000) - 1e-3 * 0.96 ** 2) < 1e-15);
  const smooth = exponentialDecay({ lr: 1e-3, staircase: false });
  assert.ok(Math.abs(smooth(50_000) - 1e-3 * 0.96 ** 0.5) < 1e-15);
  assert.ok(Math.abs(exponentialLr({ lr: 0.1, gamma: 0.9 })(3) - 0.1 * 0.9 ** 3) < 1e-15);
  const st = stepLr({ lr: 0.1, stepSize: 10, gamma: 0.5 });
  assert.deepEqual([st(0), st(9), st(10), st(25)], [0.1, 0.1, 0.05, 0.025]);
});

// ------------------------------------------------------------------------------------------------------
// Losses against PyTorch: value and gradient with respect to the prediction (rel 1e-5).
const LOSSES: Record<string, (p: Tensor, t: Tensor, m?: Tensor) => Tensor> = {
  mse: (p, t) => mseLoss(p, t),
  l1: (p, t) => l1Loss(p, t),
  masked_l1: (p, t, m) => l1Loss(p, t, { mask: m }),
  masked_mse: (p, t, m) => mseLoss(p, t, { mask: m }),
};
for (const [name, f] of Object.entries(LOSSES)) {
  Deno.test(`loss ${name} matches PyTorch (value and gradient, rel 1e-5)`, async () => {
    const p = param(up(`${name}/in0`)), t = up(`${name}/in1`);
    const m = file.tensors.has(`${name}/in2`) ? up(`${name}/in2`) : undefined;
    const loss = withGrad(() =>
      tidy(() => {
        const l = f(p, t, m);
        backward(l);
        return l;
      })
    );
    const [v, g] = await readAll([loss, p.grad!]);
    close(`${name} value`, v, ref(`${name}/out`), 1e-5);
    close(`${name} gradient`, g, ref(`${name}/grad0`), 1e-5);
    for (const x of [p, t, loss, ...(m ? [m] : [])]) x.dispose();
  });
}

Deno.test("PoseFix integral loss: one-hot targets, soft-argmax, both terms and the gradient (rel 1e-5)", async () => {
  const logits = param(up("integral/logits")), coord = up("integral/coord"), valid = up("integral/valid");
  const [n, k, H, W] = logits.shape;
  const hm = onehotHeatmap(coord, { height: H, width: W });
  const sa = softArgmax(logits);
  const r = withGrad(() => {
    const r = integralLoss(logits, coord, { valid });
    backward(r.total);
    return r;
  });
  const [h, t, hl, cl, c, g, s] = await readAll([
    hm,
    r.total,
    r.heatmap,
    r.coord,
    r.coords,
    logits.grad!,
    sa,
  ]);
  close("one-hot heatmaps", h, ref("integral/onehot"), 1e-6);
  const L = ref("integral/loss");
  close("total", t, [L[0]], 1e-5);
  close("heatmap term", hl, [L[1]], 1e-5);
  close("coordinate term", cl, [L[2]], 1e-5);
  close("soft-argmax coordinates", c, ref("integral/coords"), 1e-5);
  close("soft-argmax alone", s, ref("integral/coords"), 1e-5);
  close("gradient", g, ref("integral/grad"), 1e-5);
  assert.equal(h.length, n * k * H * W);
  for (const x of [logits, coord, valid, hm, sa, r.total, r.heatmap, r.coord, r.coords]) x.dispose();
});

Deno.test("hard-joint loss = L1(all joints) + masked L1 per channel (host reference, rel 1e-5)", async () => {
  const rng = new Rng(11);
  const N = 4, J = 16, Jc = 5;
  const h = (n: number) => rng.fillNormal(new Float32Array(n));
  const bp = h(N * J * 3),
    bt = h(N * J * 3),
    ap = h(N * Jc * 3),
    at = h(N * Jc * 3),
    cp = h(N * Jc * 3),
    ct = h(N * Jc * 3);
  const qa = Float32Array.from([1, 0, 1, 1, 0]), qb = Float32Array.from([0, 1, 0, 0, 1]);
  const P = param(tensor(bp, [N, J, 3]));
  const A = param(tensor(ap, [N, Jc, 3])), B = param(tensor(cp, [N, Jc, 3]));
  const T = [tensor(bt, [N, J, 3]), tensor(at, [N, Jc, 3]), tensor(ct, [N, Jc, 3])];
  const Q = [tensor(qa, [1, Jc, 1]), tensor(qb, [1, Jc, 1])];
  const r = withGrad(() => {
    const r = hardJointLoss({ pred: P, target: T[0] }, {
      channels: [{ pred: A, target: T[1], mask: Q[0] }, { pred: B, target: T[2], mask: Q[1] }],
    });
    backward(r.total);
    return r;
  });
  const [tot, gA] = await readAll([r.total, A.grad!]);
  const l1 = (p: Float32Array, t: Float32Array, q?: Float32Array) => {
    let s = 0, c = 0;
    for (let i = 0; i < p.length; i++) {
      const w = q ? q[Math.floor(i / 3) % Jc] : 1;
      s += w * Math.abs(p[i] - t[i]);
      c += w;
    }
    return s / c;
  };
  close("total", tot, [l1(bp, bt) + l1(ap, at, qa) + l1(cp, ct, qb)], 1e-5);
  const cnt = N * 3 * 3; // selected entries of channel A
  close(
    "channel gradient",
    gA,
    ap.map((v, i) => qa[Math.floor(i / 3) % Jc] * Math.sign(v - at[i]) / cnt),
    1e-5,
  );
  for (const x of [P, A, B, ...T, ...Q, r.total, r.basic, ...r.channels]) x.dispose();
});

// ------------------------------------------------------------------------------------------------------
// Randomness and initialisation.
Deno.test("Philox4x32-10 known-answer vectors (Random123 kat_vectors) and GPU = host bits", async () => {
  const hex = (a: Uint32Array) => [...a].map((x) => x.toString(16).padStart(8, "0")).join(" ");
  assert.equal(hex(philox4x32([0, 0, 0, 0], [0, 0])), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const f = 0xffffffff;
  assert.equal(hex(philox4x32([f, f, f, f], [f, f])), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  assert.equal(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    "d16cfe09 94fdcceb 5001e420 24126ea1",
  );
  const seed = 2 ** 40 + 12345, n = 1000;
  const u = randomUniform([n], { seed });
  const z = randomNormal([n], { seed, mean: 1, std: 2 });
  const [uv, zv] = await readAll([u, z]);
  const key = seedKey(seed);
  let m = 0, v = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(uv[i], u32ToUniform(philox4x32([i, 0, 0, 0], key)[0]), `uniform ${i}`);
    m += zv[i] / n;
  }
  for (let i = 0; i < n; i++) v += (zv[i] - m) ** 2 / n;
  assert.ok(
    Math.abs(m - 1) < 0.2 && Math.abs(Math.sqrt(v) - 2) < 0.2,
    `normal mean ${m} std ${Math.sqrt(v)}`,
  );
  u.dispose();
  z.dispose();
  const a = new Rng(9), b = new Rng(9), c = new Rng(10);
  const sa = Array.from({ length: 10 }, () => a.nextU32()),
    sb = Array.from({ length: 10 }, () => b.nextU32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, Array.from({ length: 10 }, () => c.nextU32()));
});

Deno.test("initialisers: PyTorch/TF bounds and variances, seeded", async () => {
  const stats = (x: Float32Array) => {
    let m = 0, v = 0, mx = 0;
    for (const e of x) m += e / x.length;
    for (const e of x) {
      v += (e - m) ** 2 / x.length;
      mx = Math.max(mx, Math.abs(e));
    }
    return { m, std: Math.sqrt(v), max: mx };
  };
  const { weight, bias } = linearInit(256, 100, { seed: 1 });
  const again = linearInit(256, 100, { seed: 1 });
  const kn = kaimingNormal([512, 64], { seed: 2, nonlinearity: "relu" });
  const ku = kaimingUniform([512, 64, 3], { seed: 3, nonlinearity: "relu" });
  const vs = varianceScaling([200, 300], { seed: 4 });
  const [w, b, w2, n, uu, t] = await readAll([weight, bias!, again.weight, kn, ku, vs]);
  assert.ok(weight.requiresGrad && bias!.requiresGrad);
  assert.deepEqual(w, w2, "same seed, same weights");
  const sw = stats(w), sb = stats(b);
  assert.ok(
    sw.max <= 0.1 && Math.abs(sw.std - 0.1 / Math.sqrt(3)) < 0.003,
    `linear weight ${JSON.stringify(sw)}`,
  );
  assert.ok(sb.max <= 0.1, "linear bias bound 1/√fan_in");
  const sn = stats(n);
  assert.ok(Math.abs(sn.std - Math.sqrt(2 / 64)) < 0.005, `kaiming normal std ${sn.std}`);
  const su = stats(uu);
  assert.ok(su.max <= Math.sqrt(2) * Math.sqrt(3 / 192) && Math.abs(su.std - Math.sqrt(2 / 192)) < 0.003);
  const stf = stats(t);
  const std = Math.sqrt(1.3 * 2 / 200);
  assert.ok(stf.max <= 2 * std + 1e-6, "truncated at 2σ");
  // A normal truncated at ±2σ has std 0.8796σ: TF's 1.3 factor brings it back to √(factor/n).
  assert.ok(Math.abs(stf.std - Math.sqrt(2 / 200)) < 0.003, `variance scaling std ${stf.std}`);
  for (const x of [weight, bias!, again.weight, again.bias!, kn, ku, vs]) x.dispose();
});

// ------------------------------------------------------------------------------------------------------
// Training runs.
interface Mlp {
  params: Tensor[];
  running: { mean: Tensor; variance: Tensor };
  forward: (x: Tensor, opts: { dropout: number; seed?: number }) => Tensor;
  dispose: () => void;
}

/** Linear(10,32) + BN + ReLU + Dropout + Linear(32,5), from given or seeded weights. */
function mlp(init: Record<string, Float32Array> | { seed: number }): Mlp {
  let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor;
  if ("seed" in init) {
    ({ weight: w1, bias: b1 } = linearInit(32, 10, { seed: init.seed as number }) as {
      weight: Tensor;
      bias: Tensor;
    });
    ({ weight: w2, bias: b2 } = linearInit(5, 32, { seed: (init.seed as number) + 1 }) as {
      weight: Tensor;
      bias: Tensor;
    });
  } else {
    const i = init as Record<string, Float32Array>;
    w1 = param(tensor(i["0.weight"], [32, 10]));
    b1 = param(tensor(i["0.bias"]));
    w2 = param(tensor(i["4.weight"], [5, 32]));
    b2 = param(tensor(i["4.bias"]));
  }
  const g = constantInit([32], 1), be = constantInit([32], 0);
  const running = { mean: tensor(new Float32Array(32)), variance: tensor(new Float32Array(32).fill(1)) };
  const params = [w1, b1, g, be, w2, b2];
  return {
    params,
    running,
    forward: (x, o) => {
      const h = ops.linear(x, w1, { bias: b1 });
      const n = ops.batchNormTraining(h, { weight: g, bias: be, running }, { momentum: 0.1 });
      n.mean.dispose();
      n.variance.dispose();
      const d = ops.dropout(ops.relu(n.y), { p: o.dropout, training: true, seed: o.seed });
      return ops.linear(d, w2, { bias: b2 });
    },
    dispose: () => {
      for (const t of [...params, running.mean, running.variance]) t.dispose();
    },
  };
}

Deno.test("tiny MLP trained 20 steps with Adam matches PyTorch's loss curve (rel 1e-3) and final state", async () => {
  const init: Record<string, Float32Array> = {};
  for (const k of ["0.weight", "0.bias", "4.weight", "4.bias"]) init[k] = ref(`mlp/init/${k}`);
  const m = mlp(init);
  const opt = new Adam(m.params, { lr: 1e-2 });
  const xs = up("mlp/x"), ys = up("mlp/y");
  const log = new LossLog({ every: 20 });
  const s0 = backend().getStats().submits;
  for (let s = 0; s < 20; s++) {
    const loss = trainStep(opt, () => {
      const x = ops.reshape(ops.slice(xs, [{ axis: 0, start: s, end: s + 1 }]), [16, 10]);
      const y = ops.reshape(ops.slice(ys, [{ axis: 0, start: s, end: s + 1 }]), [16, 5]);
      return mseLoss(m.forward(x, { dropout: 0 }), y);
    });
    log.push(loss);
    loss.dispose();
  }
  assert.equal(backend().getStats().submits, s0, "20 steps, no submit");
  const losses = await log.read();
  const want = ref("mlp/losses");
  for (let i = 0; i < 20; i++) {
    assert.ok(
      Math.abs(losses[i] - want[i]) <= 1e-3 * want[i],
      `step ${i}: loss ${losses[i]} vs PyTorch ${want[i]}`,
    );
  }
  assert.ok(losses[19] < losses[0] * 0.8, "the loss goes down");
  const finals = await readAll([...m.params, m.running.mean, m.running.variance]);
  const names = [
    "0.weight",
    "0.bias",
    "1.weight",
    "1.bias",
    "4.weight",
    "4.bias",
    "1.running_mean",
    "1.running_var",
  ];
  names.forEach((k, i) => {
    // The first bias feeds a batch norm: its true gradient is 0, so Adam amplifies float32 noise
    // (m/√v ≈ ±1) on both sides and its value — and the running mean it shifts — are not comparable
    // (the running-mean rule itself is checked in autograd_test.ts).
    if (k !== "0.bias" && k !== "1.running_mean") close(`final ${k}`, finals[i], ref(`mlp/final/${k}`), 1e-3);
  });
  opt.dispose();
  m.dispose();
  for (const t of [xs, ys]) t.dispose();
  log.dispose();
});

/** Trains a seeded MLP with dropout 0.5 for `steps` steps, reading the loss every 10 steps. */
async function seededRun(seed: number, steps: number, onStep?: (s: number) => void): Promise<Float32Array> {
  const m = mlp({ seed });
  const opt = new AdamW(m.params, { lr: 1e-2 });
  const rng = new Rng(seed + 100);
  const xs = tensor(rng.fillNormal(new Float32Array(16 * 10)), [16, 10]);
  const ys = tensor(rng.fillNormal(new Float32Array(16 * 5)), [16, 5]);
  const log = new LossLog({ every: 10 });
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = trainStep(opt, () => mseLoss(m.forward(xs, { dropout: 0.5, seed: seed * 1000 + s }), ys));
    applyMaxNorm([m.params[0], m.params[4]], { maxNorm: 1 });
    log.push(loss);
    loss.dispose();
    if (log.full) out.push(...await log.read());
    onStep?.(s);
  }
  opt.dispose();
  m.dispose();
  xs.dispose();
  ys.dispose();
  log.dispose();
  return Float32Array.from(out);
}

Deno.test("seed determinism: same seed → identical run; another seed → another run", async () => {
  const a = await seededRun(1, 20), b = await seededRun(1, 20), c = await seededRun(2, 20);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("no buffer growth over 50 training steps; live buffers return to the baseline", async () => {
  await backend().sync();
  const base = backend().getStats();
  const live: number[] = [];
  const submits: number[] = [];
  await seededRun(3, 50, () => {
    live.push(backend().getStats().liveBuffers);
    submits.push(backend().getStats().submits);
  });
  // After step 1 (Adam moments allocated) the count is flat at every step.
  for (let s = 1; s < 50; s++) assert.equal(live[s], live[0], `live buffers after step ${s}`);
  // One submit per 10 steps: the LossLog reads, nothing else.
  assert.equal(submits[49] - base.submits, 5);
  const after = backend().getStats();
  assert.equal(after.liveBuffers, base.liveBuffers, "everything released");
  assert.ok(after.allocatedBuffers <= base.allocatedBuffers + 64, "the pool serves the steady state");
});
