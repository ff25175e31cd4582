// Training-mode batch norm over long channels (many rows of one value each: a temporal model's [B·T, C]),
// forward and backward against float64 on the CPU. Lavapipe miscomputed the statistics' former nested loop
// (over N, then over inner) once N passed ~10⁴ with inner 1: the variance of [16384, 64, 1] came out 3×
// too small, and VideoPose3D-243's first layer at batch 256 trained on it.
import assert from "node:assert/strict";
import { initEngine, tensor } from "../../engine/mod.ts";
import * as ops from "../../engine/ops.ts";
import { backward, param, withGrad } from "../../engine/autograd.ts";
import { Rng } from "../../engine/random.ts";

await initEngine();

function check(what: string, got: Float32Array, want: Float64Array, tol: number): void {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
    }
  }
}

// [N, C, inner]: 16384 and 20000 rows take the unfused backward (more than 4096 values per channel), 4096
// the fused one; [40, 8, 500] has the long channel in the inner axis.
for (const [N, C, I] of [[16384, 16, 1], [20000, 8, 1], [4096, 16, 1], [40, 8, 500]]) {
  Deno.test(`batch norm training [${N}, ${C}, ${I}]: statistics, output and gradients equal float64`, async () => {
    const rng = new Rng(N + C);
    const n = N * C * I, M = N * I;
    const xs = rng.fillNormal(new Float32Array(n)).map((v, i) => 1.5 * v + (i % 3) * 0.2 + 0.7);
    const gs = rng.fillNormal(new Float32Array(n));
    const ws = rng.fillNormal(new Float32Array(C)).map((v) => 1 + 0.2 * v);
    const shape = I === 1 ? [N, C] : [N, C, I];
    const x = param(tensor(xs, shape)), w = param(tensor(ws)), b = param(tensor(new Float32Array(C)));
    const running = { mean: tensor(new Float32Array(C)), variance: tensor(new Float32Array(C).fill(1)) };
    const y = withGrad(() => {
      const r = ops.batchNormTraining(x, { weight: w, bias: b, running }, { momentum: 0.1 });
      r.mean.dispose();
      r.variance.dispose();
      backward(r.y, { grad: tensor(gs, shape) });
      return r.y;
    });
    const [yv, dx, dw, db, rv] = [
      await y.read(),
      await x.grad!.read(),
      await w.grad!.read(),
      await b.grad!.read(),
      await running.variance.read(),
    ];
    const at = (r: number, c: number, i: number) => (r * C + c) * I + i;
    const yWant = new Float64Array(n), dxWant = new Float64Array(n);
    const dwWant = new Float64Array(C), dbWant = new Float64Array(C), rvWant = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0, q = 0, sg = 0, sgx = 0;
      for (let r = 0; r < N; r++) for (let i = 0; i < I; i++) s += xs[at(r, c, i)];
      const m = s / M;
      for (let r = 0; r < N; r++) for (let i = 0; i < I; i++) q += (xs[at(r, c, i)] - m) ** 2;
      const inv = 1 / Math.sqrt(q / M + 1e-5);
      rvWant[c] = 0.9 + 0.1 * q / (M - 1);
      for (let r = 0; r < N; r++) {
        for (let i = 0; i < I; i++) {
          const j = at(r, c, i);
          yWant[j] = (xs[j] - m) * inv * ws[c];
          sg += gs[j];
          sgx += gs[j] * (xs[j] - m) * inv;
        }
      }
      dbWant[c] = sg;
      dwWant[c] = sgx;
      for (let r = 0; r < N; r++) {
        for (let i = 0; i < I; i++) {
          const j = at(r, c, i);
          dxWant[j] = ws[c] * inv * (gs[j] - sg / M - (xs[j] - m) * inv * sgx / M);
        }
      }
    }
    check("running variance", rv, rvWant, 1e-5);
    check("y", yv, yWant, 1e-4);
    check("dβ", db, dbWant, 2e-4);
    check("dγ", dw, dwWant, 2e-4);
    check("dx", dx, dxWant, 1e-4);
  });
}
