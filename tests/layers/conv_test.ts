// Conv1d (features-last, stride/padding/dilation/groups, fused epilogue) and GroupConv1d against
// direct loops on the host. Tolerance 1e-5 absolute on values of order 1. Conv2d / ConvTranspose2d's eval-mode
// packed-weight cache.
import assert from "node:assert/strict";
import { initEngine, readAll, tensor, tidy } from "../../engine/mod.ts";
import { dispatchLabels } from "../_shared.ts";
import { backward, param, withGrad, zeroGrad } from "../../engine/autograd.ts";
import { setBindingLimit } from "../../engine/chunking.ts";
import { Rng } from "../../engine/random.ts";
import { seededRng } from "../../layers/init.ts";
import { cachedConvPacks } from "../../engine/kernels/conv.ts";
import { Conv1d, Conv2d, ConvTranspose2d, GroupConv1d } from "../../layers/mod.ts";

await initEngine();

function naiveConv(
  x: Float32Array,
  [n, t, c]: number[],
  w: Float32Array,
  b: Float32Array | null,
  o: { out: number; k: number; stride: number; padding: number; dilation: number; groups: number },
): { y: Float32Array; frames: number } {
  const frames = Math.floor((t + 2 * o.padding - o.dilation * (o.k - 1) - 1) / o.stride) + 1;
  const cg = c / o.groups, og = o.out / o.groups;
  const y = new Float32Array(n * frames * o.out);
  for (let s = 0; s < n; s++) {
    for (let f = 0; f < frames; f++) {
      for (let oc = 0; oc < o.out; oc++) {
        const g = Math.floor(oc / og);
        let acc = b ? b[oc] : 0;
        for (let ic = 0; ic < cg; ic++) {
          for (let j = 0; j < o.k; j++) {
            const tt = f * o.stride + j * o.dilation - o.padding;
            if (tt < 0 || tt >= t) continue;
            acc += w[(oc * cg + ic) * o.k + j] * x[(s * t + tt) * c + g * cg + ic];
          }
        }
        y[(s * frames + f) * o.out + oc] = acc;
      }
    }
  }
  return { y, frames };
}

const host = (len: number, seed: number) =>
  Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.7 + seed));

for (
  const o of [
    { out: 5, k: 3, stride: 1, padding: 0, dilation: 1, groups: 1 },
    { out: 6, k: 3, stride: 2, padding: 1, dilation: 2, groups: 1 },
    { out: 6, k: 2, stride: 1, padding: 2, dilation: 3, groups: 3 },
    { out: 4, k: 1, stride: 1, padding: 0, dilation: 1, groups: 2 },
  ]
) {
  Deno.test(`Conv1d k=${o.k} stride=${o.stride} pad=${o.padding} dil=${o.dilation} groups=${o.groups} equals direct loops`, async () => {
    const [n, t, c] = [2, 11, 6];
    const conv = new Conv1d(c, o.out, o.k, o);
    const x = host(n * t * c, 1);
    const w = host(conv.weight.size, 2), b = host(o.out, 3);
    await conv.loadStateDict(
      new Map([
        ["weight", { dtype: "F32", shape: [...conv.weight.shape], data: w }],
        ["bias", { dtype: "F32", shape: [o.out], data: b }],
      ]),
    );
    const { y: want, frames } = naiveConv(x, [n, t, c], w, b, o);
    const xt = tensor(x, [n, t, c]);
    const y = tidy(() => conv.forward(xt));
    assert.deepEqual(y.shape, [n, frames, o.out]);
    const got = await y.read();
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
    }
    // Fused epilogue: relu(conv(x)) + residual.
    const r = tensor(host(want.length, 4), y.shape);
    const z = await tidy(() => conv.forward(xt, { activation: "relu", residual: r })).read();
    const rh = host(want.length, 4);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(z[i] - (Math.max(want[i], 0) + rh[i])) < 1e-5);
    conv.dispose();
  });
}

Deno.test("Conv1d pointwise takes rows [M, C]; a bad layout names the expectation", () => {
  const conv = new Conv1d(4, 3, 1);
  assert.deepEqual(tidy(() => conv.forward(tensor(new Float32Array(20), [5, 4]))).shape, [5, 3]);
  const k3 = new Conv1d(4, 3, 3);
  assert.throws(() => k3.forward(tensor(new Float32Array(20), [5, 4])), /expected \[N, T, 4\]/);
  assert.throws(
    () => tidy(() => k3.forward(tensor(new Float32Array(2 * 2 * 4), [2, 2, 4]))),
    /needs at least 3 frames/,
  );
});

Deno.test("GroupConv1d: unequal groups, dilation, each group sees only its channels", async () => {
  const gc = new GroupConv1d([2, 3], [4, 1], 3, { dilation: 2 });
  const [n, t] = [2, 9];
  const x = host(n * t * 5, 5);
  const sd = new Map();
  const ws = [host(4 * 2 * 3, 6), host(1 * 3 * 3, 7)];
  ws.forEach((w, g) =>
    sd.set(`group_conv.${g}.weight`, { dtype: "F32", shape: g ? [1, 3, 3] : [4, 2, 3], data: w })
  );
  await gc.loadStateDict(sd);
  const y = await tidy(() => gc.forward(tensor(x, [n, t, 5]))).read();
  const frames = t - 4;
  for (const [g, [a, cg, og, o0]] of [[0, [0, 2, 4, 0]], [1, [2, 3, 1, 4]]] as const) {
    const xs = new Float32Array(n * t * cg);
    for (let r = 0; r < n * t; r++) for (let i = 0; i < cg; i++) xs[r * cg + i] = x[r * 5 + a + i];
    const { y: want } = naiveConv(xs, [n, t, cg], ws[g], null, {
      out: og,
      k: 3,
      stride: 1,
      padding: 0,
      dilation: 2,
      groups: 1,
    });
    for (let r = 0; r < n * frames; r++) {
      for (let oc = 0; oc < og; oc++) assert.ok(Math.abs(y[r * 5 + o0 + oc] - want[r * og + oc]) < 1e-5);
    }
  }
  gc.dispose();
});

Deno.test("Conv2d / ConvTranspose2d eval mode: packed weights cached across calls, dropped by train()", async () => {
  const conv = new Conv2d(16, 16, 3, { padding: 1 });
  const deconv = new ConvTranspose2d(16, 8, 4, { stride: 2, padding: 1 });
  conv.eval();
  deconv.eval();
  const x = tensor(Float32Array.from({ length: 16 * 6 * 8 }, (_, i) => Math.cos(i)), [1, 16, 6, 8]);
  const before = cachedConvPacks();
  const run = () => tidy(() => deconv.forward(conv.forward(x, { activation: "relu" })));
  const a = run(), b = run();
  assert.equal(cachedConvPacks(), before + 2);
  assert.deepEqual(await b.read(), await a.read());
  conv.train();
  deconv.train();
  assert.equal(cachedConvPacks(), before, "train() releases the packed copies");
  for (const t of [a, b, x]) t.dispose();
});

Deno.test("Conv1d: a batch whose unfolded input exceeds one binding runs in chunks of samples, forward and backward", async () => {
  // Lower the planning limit so that 7 samples of [9 frames, k = 3 × 6 channels] split into chunks of 2.
  const conv = new Conv1d(6, 5, 3, { dilation: 2, rng: seededRng(4) });
  conv.train();
  const rng = new Rng(5);
  const xs = rng.fillNormal(new Float32Array(7 * 9 * 6));
  const rs = rng.fillNormal(new Float32Array(7 * 5 * 5));
  const gs = rng.fillNormal(new Float32Array(7 * 5 * 5));
  const run = async (limit: number | null, residualShape: number[]) => {
    setBindingLimit(limit);
    const x = param(tensor(xs, [7, 9, 6]));
    try {
      zeroGrad(conv.parameters());
      const { result: y, labels } = await dispatchLabels(() =>
        withGrad(() => {
          const y = conv.forward(x, { residual: tensor(rs, residualShape), activation: "relu" });
          backward(y, { grad: tensor(gs, [7, 5, 5]) });
          return y;
        })
      );
      const out = await readAll([y, x.grad!, conv.weight.grad!, conv.bias!.grad!]);
      y.dispose();
      return { out, matmuls: labels.filter((l) => l.startsWith("matmul")).length };
    } finally {
      setBindingLimit(null);
      x.dispose();
    }
  };
  // The residual as [N, T', O] or as rows [N·T', O]: both layouts, whole and chunked, give the same results.
  const whole = await run(null, [35, 5]);
  for (const shape of [[35, 5], [7, 5, 5]]) {
    for (const limit of [null, 2 * 5 * 18 * 4]) {
      const other = await run(limit, shape);
      if (limit !== null) {
        assert.ok(other.matmuls > whole.matmuls, `${other.matmuls} vs ${whole.matmuls} matmuls`);
      }
      ["y", "dx", "dW", "db"].forEach((name, i) => {
        const a = whole.out[i], b = other.out[i];
        const err = a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j])), 0);
        assert.ok(err <= 1e-5, `${name} (residual [${shape}], limit ${limit}): max |difference| = ${err}`);
      });
    }
  }
});
