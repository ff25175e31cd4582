// ops.batchNormReluDropout (fused training BN → ReLU → dropout) against the three ops it replaces,
// which ops_test/autograd_test check against PyTorch: outputs, the gradients of x, γ and β, and the
// running statistics, on the vec4 layout ([N, C], C % 4 = 0), the scalar one (C odd) and [N, C, L].
import assert from "node:assert/strict";
import { initEngine, readAll, type Tensor, tensor } from "../../engine/mod.ts";
import * as ops from "../../engine/ops.ts";
import { backward, param, withGrad } from "../../engine/autograd.ts";
import { Rng } from "../../engine/random.ts";

await initEngine();

function close(what: string, got: Float32Array, want: Float32Array, tol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    assert.ok(d <= tol * (1 + Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

async function run(shape: number[], p: number, fused: boolean): Promise<Float32Array[]> {
  const rng = new Rng(11);
  const n = shape.reduce((a, b) => a * b, 1), c = shape[1];
  const x = param(tensor(rng.fillNormal(new Float32Array(n)).map((v) => 2 * v + 0.3), shape));
  const w = param(tensor(rng.fillNormal(new Float32Array(c)).map((v) => 1 + 0.3 * v)));
  const b = param(tensor(rng.fillNormal(new Float32Array(c)).map((v) => 0.2 * v)));
  const gy = tensor(rng.fillNormal(new Float32Array(n)), shape);
  const running = {
    mean: tensor(new Float32Array(c).fill(0.5)),
    variance: tensor(new Float32Array(c).fill(2)),
  };
  const seed = 987654321;
  const y = withGrad(() => {
    let y: Tensor;
    if (fused) {
      y = ops.batchNormReluDropout(x, { weight: w, bias: b, running }, { momentum: 0.1, p, seed });
    } else {
      const r = ops.batchNormTraining(x, { weight: w, bias: b, running }, { momentum: 0.1 });
      r.mean.dispose();
      r.variance.dispose();
      y = ops.relu(r.y);
      if (p > 0) y = ops.dropout(y, { p, training: true, seed });
    }
    backward(y, { grad: gy });
    return y;
  });
  const out = await readAll([y, x.grad!, w.grad!, b.grad!, running.mean, running.variance]);
  for (const t of [x, w, b, gy, y, running.mean, running.variance]) t.dispose();
  return out;
}

const CASES: [string, number[], number][] = [
  ["vec4 [16, 12] p 0.3", [16, 12], 0.3],
  ["vec4 [16, 12] no dropout", [16, 12], 0],
  ["scalar [9, 7] p 0.5", [9, 7], 0.5],
  ["[N, C, L] [4, 6, 5] p 0.2", [4, 6, 5], 0.2],
];
for (const [name, shape, p] of CASES) {
  Deno.test(`batchNormReluDropout ${name}: same output, gradients and running stats as the three ops`, async () => {
    assert.ok(
      ops.canFuseBatchNormReluDropout(tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape)),
    );
    const want = await run(shape, p, false);
    const got = await run(shape, p, true);
    const names = ["y", "dx", "dγ", "dβ", "running mean", "running var"];
    // Same formulas in the same order up to the summation order of the per-channel sums.
    names.forEach((what, i) => close(`${name} ${what}`, got[i], want[i], 2e-5));
    // Dropout really dropped (and ReLU really clipped): the test would not see a missing mask otherwise.
    const zeros = got[0].filter((v) => v === 0).length;
    assert.ok(zeros > got[0].length * (p > 0 ? 0.4 : 0.2), `${name}: ${zeros} zeros of ${got[0].length}`);
  });
}

Deno.test("batchNormReluDropout rejects p = 1 and a single value per channel", () => {
  const running = { mean: tensor(new Float32Array(4)), variance: tensor(new Float32Array(4).fill(1)) };
  const x = tensor(new Float32Array(8), [2, 4]);
  assert.throws(() => ops.batchNormReluDropout(x, { running }, { p: 1 }), /dropout probability/);
  const one = tensor(new Float32Array(4), [1, 4]);
  assert.throws(() => ops.batchNormReluDropout(one, { running }), /2 to 4096 values per channel/);
  for (const t of [x, one, running.mean, running.variance]) t.dispose();
});
