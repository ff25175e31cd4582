// Tensor life cycle, scopes, the buffer pool and its counters, large dispatch grids, and the one-submit rule.
import assert from "node:assert/strict";
import { backend, binary, initEngine, keep, matmul, sum, tensor, tidy, unary } from "../../engine/mod.ts";
import { sizeClass } from "../../engine/backend.ts";

await initEngine();

Deno.test("tensor round trip and shape errors", async () => {
  const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.deepEqual([...await t.read()], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values but shape \[2, 2\] needs 4/);
  t.dispose();
  assert.throws(() => t.buf, /disposed/);
});

Deno.test("size classes waste at most 25% and are multiples of 4", () => {
  for (const b of [1, 17, 1000, 1025, 4097, 123457, 1 << 20, (1 << 20) + 1]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 4 === 0, `${b} -> ${c}`);
    if (b > 1024) assert.ok(c <= b * 1.25 + 4, `${b} -> ${c}`);
  }
});

Deno.test("tidy disposes intermediates and keeps results; live counters return to baseline", async () => {
  const base = backend().getStats().liveBuffers;
  const a = tensor(new Float32Array(100).fill(1), [10, 10]);
  const kept = tidy(() => {
    const b = unary(a, "exp");
    const c = binary(b, a, "add");
    keep(unary(c, "neg")).dispose(); // keep() escapes the scope; disposing by hand is then ours to do
    return sum(c);
  });
  assert.equal(backend().getStats().liveBuffers, base + 2); // a and the result
  assert.ok(Math.abs((await kept.read())[0] - 100 * (Math.E + 1)) < 1e-3);
  kept.dispose();
  a.dispose();
  assert.equal(backend().getStats().liveBuffers, base);
});

Deno.test("no buffer growth over 2,000 repeated forward passes (pool reuse)", async () => {
  const w = tensor(new Float32Array(64 * 64).fill(0.01), [64, 64]);
  const x = tensor(new Float32Array(8 * 64).fill(1), [8, 64]);
  const run = () => tidy(() => unary(matmul(x, w, { activation: "relu" }), "sqrt"));
  for (let i = 0; i < 10; i++) {
    const y = run();
    await y.read();
    y.dispose();
  }
  const before = backend().getStats();
  for (let i = 0; i < 2000; i++) {
    const y = run();
    if (i % 500 === 499) await y.read();
    y.dispose();
  }
  await backend().sync();
  const after = backend().getStats();
  assert.equal(after.liveBuffers, before.liveBuffers);
  assert.equal(after.allocatedBuffers, before.allocatedBuffers, "the pool must serve every allocation");
  w.dispose();
  x.dispose();
});

Deno.test("a forward pass of many ops is one submit", async () => {
  const x = tensor(new Float32Array(256).fill(0.5), [16, 16]);
  const s0 = backend().getStats().submits;
  const y = tidy(() => {
    let h = x;
    for (let i = 0; i < 20; i++) h = unary(matmul(h, x), "tanh");
    return h;
  });
  await y.read();
  assert.equal(backend().getStats().submits - s0, 1);
  x.dispose();
  y.dispose();
});

Deno.test("dispatches beyond 65,535 workgroups are split over a 2-D grid", async () => {
  const n = 65536 * 256 + 777; // needs 65,540 workgroups of 256 invocations
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 4099) data[i] = i % 100_003;
  const t = tensor(data);
  const y = unary(t, "affine", { a: 2, b: 1 });
  const out = await y.read();
  for (const i of [0, 4099, n - 777 - (n - 777) % 4099, n - 1]) {
    assert.equal(out[i], data[i] * 2 + 1, `element ${i}`);
  }
  t.dispose();
  y.dispose();
});

Deno.test("writes never overtake pending reads of a recycled buffer", async () => {
  // a is read by a pending op, then disposed; a new upload must not land in a's buffer before that op runs.
  const a = tensor([1, 2, 3, 4]);
  const y = unary(a, "neg");
  a.dispose();
  const b = tensor([10, 20, 30, 40]);
  assert.deepEqual([...await y.read()], [-1, -2, -3, -4]);
  assert.deepEqual([...await b.read()], [10, 20, 30, 40]);
  y.dispose();
  b.dispose();
});
