// Tensors beyond one storage binding (engine/chunking.ts): element-wise ops, matmul (rows, or K for Aᵀ·B),
// batch norm, dropout, reductions, softmax and strided copies (permute, slice, concat, pad) split their work; a kernel that does not split fails clearly; allocations beyond maxBufferSize throw
// EnvironmentError. Chunk boundaries are checked on small tensors under a lowered binding limit, then once
// on a real ~160 MiB tensor (over lavapipe's 128 MiB binding limit).
import assert from "node:assert/strict";
import {
  backend,
  binary,
  EnvironmentError,
  fill,
  initEngine,
  matmul,
  reduce,
  softmax,
  tensor,
  tidy,
  unary,
} from "../../engine/mod.ts";
import { bindingLimit, planRows, setBindingLimit } from "../../engine/chunking.ts";
import { concat, gather, pad, permute, slice, stridedCopy, transpose } from "../../engine/kernels/shape.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { batchNorm, batchStats } from "../../engine/kernels/batch_norm.ts";
import { dropoutApply } from "../../engine/kernels/random.ts";
import { dropoutMask } from "../../engine/random.ts";
import { batchNormGradInput, batchNormSums } from "../../engine/kernels/backward.ts";

await initEngine();

/** Deterministic values in [-1, 1) with some repeats (ties for argmax) and exact small sums. */
function values(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 20) % 64) / 32 - 1;
  }
  return out;
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i];
    if (!(Math.abs(actual[i] - e) <= tol * Math.max(1, Math.abs(e)))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${e}`);
    }
  }
}

/** Runs `f` with every op planning for a binding limit of `bytes`; counts the dispatches it recorded. */
async function underLimit<T>(bytes: number, f: () => Promise<T>): Promise<{ result: T; dispatches: number }> {
  const d0 = backend().getStats().dispatches;
  setBindingLimit(bytes);
  try {
    const result = await f();
    return { result, dispatches: backend().getStats().dispatches - d0 };
  } finally {
    setBindingLimit(null);
  }
}

async function readDispose(t: Tensor): Promise<Float32Array> {
  const v = await t.read();
  t.dispose();
  return v;
}

Deno.test("chunk planning: aligned offsets in every operand, whole-bound operands must fit", () => {
  setBindingLimit(4096);
  try {
    const align = backend().device.limits.minStorageBufferOffsetAlignment;
    const plan = planRows(1000, [256, 12, 4])!;
    assert.ok(plan.length > 1);
    let next = 0;
    for (const c of plan) {
      assert.equal(c.start, next);
      next += c.count;
      for (const rb of [256, 12, 4]) {
        assert.equal((c.start * rb) % align, 0, `offset of a ${rb}-byte row`);
        assert.ok(c.count * rb <= 4096);
      }
    }
    assert.equal(next, 1000);
    assert.equal(planRows(10, [256]), null, "fits: no chunks");
    assert.throws(() => planRows(10, [8192]), EnvironmentError);
    assert.throws(() => planRows(10, [4], { wholeBytes: [8192] }), EnvironmentError);
  } finally {
    setBindingLimit(null);
  }
  assert.equal(bindingLimit(), backend().device.limits.maxStorageBufferBindingSize);
});

Deno.test("chunked element-wise ops equal the CPU (binding limit lowered to 4 KiB)", async () => {
  const N = 1001, C = 64;
  const a = values(N * C, 1), b = values(C, 2), col = values(N, 3), same = values(N * C, 4);
  const { result, dispatches } = await underLimit(4096, async () => {
    const ta = tensor(a, [N, C]), tb = tensor(b, [C]), tcol = tensor(col, [N, 1]), ts = tensor(same, [N, C]);
    const outs = tidy(() => [
      unary(ta, "affine", { a: 2, b: 0.5 }),
      binary(ta, tb, "add"), // broadcast along rows: b bound whole
      binary(tcol, ta, "mul"), // a column broadcast along the inner dimension
      binary(ta, ts, "sub"), // same shapes: flat chunks
      binary(tensor([3], [1]), ta, "mul"), // a scalar
      fill([N, C], 7),
    ]);
    const read = [];
    for (const t of outs) read.push(await readDispose(t));
    for (const t of [ta, tb, tcol, ts]) t.dispose();
    return read;
  });
  assert.ok(dispatches > 6 * 10, `ops were split (${dispatches} dispatches)`);
  const [aff, add, mulc, sub, scal, filled] = result;
  assertClose(aff, a.map((v) => v * 2 + 0.5), "affine");
  assertClose(add, a.map((v, i) => v + b[i % C]), "add broadcast");
  assertClose(mulc, a.map((v, i) => v * col[Math.floor(i / C)]), "mul column");
  assertClose(sub, a.map((v, i) => v - same[i]), "sub");
  assertClose(scal, a.map((v) => v * 3), "scalar mul");
  assertClose(filled, new Float32Array(N * C).fill(7), "fill");
});

Deno.test("chunked reductions and softmax equal the CPU (binding limit lowered to 4 KiB)", async () => {
  const N = 700, C = 64;
  const a = values(N * C, 5);
  a[3 * C + 5] = 5; // a maximum in row 3 and column 5
  a[600 * C + 5] = 5; // tie in the same column: the first index wins
  const { result } = await underLimit(4096, async () => {
    const x = tensor(a, [N, C]);
    const outs: Tensor[] = tidy(() => [
      reduce(x, "sum", { axis: 1 }), // outer chunks
      reduce(x, "sum", { axis: 0 }), // lines of 700 × 64 floats: copied chunks, partial sums
      reduce(x, "mean", { axis: 0 }),
      reduce(x, "max", { axis: 0 }),
      reduce(x, "min", { axis: 0 }),
      reduce(x, "argmax", { axis: 0 }),
      reduce(x, "argmin", { axis: 0 }),
      reduce(x, "sum"), // everything: one long line
      softmax(x, { axis: 1 }),
    ]);
    const read = [];
    for (const t of outs) read.push(await readDispose(t));
    x.dispose();
    return read;
  });
  const [rowSum, colSum, colMean, colMax, colMin, argmax, argmin, total, soft] = result;
  const col = (c: number) => Array.from({ length: N }, (_, r) => a[r * C + c]);
  const rows = (r: number) => Array.from(a.subarray(r * C, (r + 1) * C));
  const sum = (xs: number[]) => xs.reduce((s, v) => s + v, 0);
  assertClose(rowSum, Array.from({ length: N }, (_, r) => sum(rows(r))), "sum axis 1", 1e-4);
  assertClose(colSum, Array.from({ length: C }, (_, c) => sum(col(c))), "sum axis 0", 1e-4);
  assertClose(colMean, Array.from({ length: C }, (_, c) => sum(col(c)) / N), "mean axis 0", 1e-4);
  assertClose(colMax, Array.from({ length: C }, (_, c) => Math.max(...col(c))), "max axis 0");
  assertClose(colMin, Array.from({ length: C }, (_, c) => Math.min(...col(c))), "min axis 0");
  const argOf = (xs: number[], better: (v: number, b: number) => boolean) =>
    xs.reduce((bi, v, i) => better(v, xs[bi]) ? i : bi, 0);
  assertClose(argmax, Array.from({ length: C }, (_, c) => argOf(col(c), (v, b) => v > b)), "argmax axis 0");
  assertClose(argmin, Array.from({ length: C }, (_, c) => argOf(col(c), (v, b) => v < b)), "argmin axis 0");
  assert.equal(argmax[5], 3, "first of tied maxima");
  assertClose(total, [sum(Array.from(a))], "sum of all", 1e-4);
  const softmaxRow = (r: number) => {
    const xs = rows(r), m = Math.max(...xs), e = xs.map((v) => Math.exp(v - m)), s = sum(e);
    return e.map((v) => v / s);
  };
  assertClose(soft, Array.from({ length: N }, (_, r) => softmaxRow(r)).flat(), "softmax", 1e-5);
});

Deno.test("chunked strided copies equal the CPU: permute, stepped slice, concat, pad, accumulate", async () => {
  const [A, B, C] = [37, 19, 23];
  const a = values(A * B * C, 10), acc = values(A * 5 * C, 11);
  const at = (i: number, j: number, k: number) => a[(i * B + j) * C + k];
  const { result, dispatches } = await underLimit(1024, async () => {
    const x = tensor(a, [A, B, C]);
    const into = tensor(acc, [A, 5, C]);
    // slice(x, axis 1, 2::4) added into `into` (the slice's backward form).
    stridedCopy(x, into, {
      shape: [A, 5, C],
      from: { offset: 2 * C, strides: [B * C, 4 * C, 1] },
      to: { offset: 0, strides: [5 * C, C, 1] },
      accumulate: true,
    });
    const outs = tidy(() => [
      permute(x, [2, 0, 1]),
      slice(x, [{ axis: 1, start: 1, end: 18, step: 3 }, { axis: 2, start: 4 }]),
      concat([x, x], { axis: 2 }),
      pad(x, [[0, 0], [1, 2], [0, 0]], { value: 0.5 }),
      into,
    ]);
    const read = [];
    for (const t of outs) read.push(await readDispose(t));
    x.dispose();
    return read;
  });
  assert.ok(dispatches > 5 * 8, `copies were split (${dispatches} dispatches)`);
  const [perm, sl, cat, padded, added] = result;
  const grid = (dims: number[], f: (...i: number[]) => number) => {
    const out: number[] = [];
    const walk = (prefix: number[]) => {
      if (prefix.length === dims.length) return void out.push(f(...prefix));
      for (let i = 0; i < dims[prefix.length]; i++) walk([...prefix, i]);
    };
    walk([]);
    return out;
  };
  assertClose(perm, grid([C, A, B], (k, i, j) => at(i, j, k)), "permute", 0);
  assertClose(sl, grid([A, 6, C - 4], (i, j, k) => at(i, 1 + 3 * j, 4 + k)), "stepped slice", 0);
  assertClose(cat, grid([A, B, 2 * C], (i, j, k) => at(i, j, k % C)), "concat", 0);
  assertClose(padded, grid([A, B + 3, C], (i, j, k) => (j < 1 || j > B ? 0.5 : at(i, j - 1, k))), "pad", 0);
  assertClose(
    added,
    grid([A, 5, C], (i, j, k) => acc[(i * 5 + j) * C + k] + at(i, 2 + 4 * j, k)),
    "add",
    1e-6,
  );
});

Deno.test("chunked matmul equals the CPU: bias, activation, residual, batch folded into rows", async () => {
  const M = 300, K = 64, N = 24, B = 3;
  const a = values(B * M * K, 6), w = values(K * N, 7), bias = values(N, 8), res = values(B * M * N, 9);
  const { result, dispatches } = await underLimit(8192, async () => {
    const ta = tensor(a, [B, M, K]),
      tw = tensor(w, [K, N]),
      tb = tensor(bias, [N]),
      tr = tensor(res, [B, M, N]);
    const y = matmul(ta, tw, { bias: tb, activation: "relu", residual: tr });
    const r = await readDispose(y);
    for (const t of [ta, tw, tb, tr]) t.dispose();
    return r;
  });
  assert.ok(dispatches > 5, `matmul was split (${dispatches} dispatches)`);
  const expected = new Float32Array(B * M * N);
  for (let r = 0; r < B * M; r++) {
    for (let n = 0; n < N; n++) {
      let s = bias[n];
      for (let k = 0; k < K; k++) s += a[r * K + k] * w[k * N + n];
      expected[r * N + n] = Math.max(s, 0) + res[r * N + n];
    }
  }
  assertClose(result, expected, "matmul", 1e-4);
});

Deno.test("chunked dropout draws the unchunked mask (binding limit lowered to 4 KiB)", async () => {
  for (const n of [40_000, 40_001]) { // vec4 and scalar kernels
    const x = values(n, 18).map((v) => v + 2); // no zeros: a zero output means dropped
    const { result, dispatches } = await underLimit(4096, async () => {
      const t = tensor(x, [n]);
      const y = await readDispose(dropoutApply(t, { p: 0.3, seed: 4242 }));
      t.dispose();
      return y;
    });
    assert.ok(dispatches >= Math.floor((n * 4) / 4096), `n = ${n}: split (${dispatches} dispatches)`);
    const keep = dropoutMask(n, { p: 0.3, seed: 4242 });
    assertClose(result, x.map((v, i) => keep[i] ? v / 0.7 : 0), `dropout n = ${n}`, 1e-6);
  }
});

Deno.test("chunked transposed-A matmul (weight gradients) equals the CPU: K in chunks, bias, residual", async () => {
  // Aᵀ·B with A [K, M], B [K, N]: K rows in chunks of the lowered limit, an even and an odd number of them.
  const M = 24, N = 20;
  for (const K of [400, 520]) {
    const a = values(K * M, 10), b = values(K * N, 11), bias = values(N, 12), res = values(M * N, 13);
    const { result, dispatches } = await underLimit(8192, async () => {
      const ta = tensor(a, [K, M]),
        tb = tensor(b, [K, N]),
        tbias = tensor(bias, [N]),
        tr = tensor(res, [M, N]);
      const plain = matmul(ta, tb, { transA: true });
      const full = matmul(ta, tb, { transA: true, bias: tbias, residual: tr });
      const r = [await readDispose(plain), await readDispose(full)];
      for (const t of [ta, tb, tbias, tr]) t.dispose();
      return r;
    });
    assert.ok(
      dispatches >= 2 * Math.ceil((K * N * 4) / 8192),
      `K = ${K}: split along K (${dispatches} dispatches)`,
    );
    const expected = new Float32Array(M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[k * M + m] * b[k * N + n];
        expected[m * N + n] = s;
      }
    }
    assertClose(result[0], expected, `AᵀB, K = ${K}`, 1e-4);
    assertClose(
      result[1],
      expected.map((v, i) => v + bias[i % N] + res[i]),
      `AᵀB + bias + residual, K = ${K}`,
      1e-4,
    );
  }
});

Deno.test("chunked batch norm equals the CPU: statistics, normalisation, backward sums, input gradient", async () => {
  const N = 50, C = 8, I = 12, eps = 1e-5;
  const x = values(N * C * I, 14).map((v, i) => v + (i % 5) * 0.25), g = values(N * C * I, 15);
  const w = values(C, 16).map((v) => v + 1.5), b = values(C, 17);
  const { result, dispatches } = await underLimit(4096, async () => {
    const tx = tensor(x, [N, C, I]), tg = tensor(g, [N, C, I]), tw = tensor(w, [C]), tb = tensor(b, [C]);
    const { mean, variance } = batchStats(tx);
    const y = batchNorm(tx, { mean, variance, weight: tw, bias: tb }, { eps });
    const sums = batchNormSums(tg, tx, { mean, variance, eps });
    const dx = batchNormGradInput(tg, tx, { mean, variance, weight: tw, sums, eps, training: true });
    const r = [];
    for (const t of [mean, variance, y, sums.sumG, sums.sumGXhat, dx]) r.push(await readDispose(t));
    for (const t of [tx, tg, tw, tb]) t.dispose();
    return r;
  });
  assert.ok(dispatches > 6 * 4, `batch norm was split (${dispatches} dispatches)`);
  const [mean, variance, y, sumG, sumGX, dx] = result;
  const at = (n: number, c: number, i: number) => (n * C + c) * I + i;
  const M = N * I;
  for (let c = 0; c < C; c++) {
    let s = 0, q = 0, sg = 0, sgx = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < I; i++) s += x[at(n, c, i)];
    const m = s / M;
    for (let n = 0; n < N; n++) for (let i = 0; i < I; i++) q += (x[at(n, c, i)] - m) ** 2;
    const v = q / M, inv = 1 / Math.sqrt(v + eps);
    assert.ok(Math.abs(mean[c] - m) <= 1e-5, `mean[${c}] ${mean[c]} vs ${m}`);
    assert.ok(Math.abs(variance[c] - v) <= 1e-5 * Math.max(1, v), `variance[${c}] ${variance[c]} vs ${v}`);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < I; i++) {
        const j = at(n, c, i), xh = (x[j] - m) * inv;
        sg += g[j];
        sgx += g[j] * xh;
        assert.ok(Math.abs(y[j] - (xh * w[c] + b[c])) <= 1e-4, `y[${j}]`);
      }
    }
    assert.ok(Math.abs(sumG[c] - sg) <= 1e-4, `Σg[${c}] ${sumG[c]} vs ${sg}`);
    assert.ok(Math.abs(sumGX[c] - sgx) <= 1e-4, `Σg·x̂[${c}] ${sumGX[c]} vs ${sgx}`);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < I; i++) {
        const j = at(n, c, i), xh = (x[j] - m) * inv;
        const e = w[c] * inv * (g[j] - sg / M - xh * sgx / M);
        assert.ok(Math.abs(dx[j] - e) <= 1e-4 * Math.max(1, Math.abs(e)), `dx[${j}] ${dx[j]} vs ${e}`);
      }
    }
  }
});

Deno.test("a ~160 MiB tensor (over the 128 MiB binding limit): unary, row-wise matmul and row sums", async () => {
  const limit = backend().device.limits.maxStorageBufferBindingSize;
  // N·64·4 bytes just over 1.25× the adapter's binding limit (160 MiB on lavapipe's 128 MiB).
  const C = 64, N = Math.ceil((limit * 1.25) / (C * 4) / 64) * 64;
  assert.ok(N * C * 4 > limit);
  const host = new Float32Array(N * C);
  for (let i = 0; i < host.length; i++) host[i] = (i % 7) - 3 + (i % 64) / 128;
  const x = tensor(host, [N, C]);
  const d0 = backend().getStats().dispatches;
  const y = unary(x, "affine", { a: -2, b: 1 });
  assert.ok(backend().getStats().dispatches - d0 >= 2, "the unary op was split");
  const yv = await readDispose(y);
  for (let i = 0; i < yv.length; i += 9973) {
    if (yv[i] !== host[i] * -2 + 1) {
      assert.fail(`unary: element ${i} is ${yv[i]}, expected ${host[i] * -2 + 1}`);
    }
  }
  assert.equal(yv[yv.length - 1], host[host.length - 1] * -2 + 1, "last element");

  const w = new Float32Array(C * 8).map((_, i) => ((i * 5) % 11) / 8 - 0.5);
  const tw = tensor(w, [C, 8]);
  const z = matmul(x, tw);
  const zv = await readDispose(z);
  tw.dispose();
  for (const r of [0, 1, N >> 1, N - 2, N - 1, 123457 % N, 654321 % N]) {
    for (let n = 0; n < 8; n++) {
      let s = 0;
      for (let k = 0; k < C; k++) s += host[r * C + k] * w[k * 8 + n];
      assert.ok(Math.abs(zv[r * 8 + n] - s) <= 1e-4 * Math.max(1, Math.abs(s)), `matmul row ${r} col ${n}`);
    }
  }
  const sums = await readDispose(reduce(x, "sum", { axis: 1 }));
  for (const r of [0, N >> 1, N - 1]) {
    let s = 0;
    for (let k = 0; k < C; k++) s += host[r * C + k];
    assert.ok(Math.abs(sums[r] - s) <= 1e-4, `row sum ${r}: ${sums[r]} vs ${s}`);
  }
  // Strided copies split: a transpose of the whole tensor.
  const tv = await readDispose(transpose(x));
  for (const [r, c] of [[0, 0], [N - 1, 63], [N >> 1, 17], [12345 % N, 40]]) {
    assert.equal(tv[c * N + r], host[r * C + c], `transpose [${c}, ${r}]`);
  }
  // A kernel that does not split fails clearly instead of reading a truncated binding.
  assert.throws(
    () => tidy(() => gather(x, tensor(Int32Array.from([0, 2]), [2]), { axis: 1 })),
    (e) => e instanceof EnvironmentError && /maxStorageBufferBindingSize/.test(e.message),
  );
  x.dispose();
  backend().trimPool();
});

Deno.test("allocations beyond maxBufferSize throw EnvironmentError naming the limit", () => {
  const max = backend().device.limits.maxBufferSize;
  assert.throws(
    () => backend().alloc(max + 1),
    (e) => e instanceof EnvironmentError && e.exitCode === 2 && /maxBufferSize/.test(e.message),
  );
  assert.throws(
    () => tidy(() => fill([Math.ceil(max / 4) + 16], 0)),
    (e) => e instanceof EnvironmentError && /maxBufferSize/.test(e.message),
  );
  // The engine keeps working afterwards.
  const t = tensor([1, 2, 3]);
  t.dispose();
});
