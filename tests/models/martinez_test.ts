// Martinez baseline against the PyTorch port (tests/fixtures/gen_models.py); tolerance in _parity.ts.
import assert from "node:assert/strict";
import { initEngine, tensor, tidy } from "../../engine/mod.ts";
import { Martinez } from "../../models/martinez.ts";
import { hashStateDict } from "./_hash_weights.ts";
import { assertClose, checkCase, ioTensor, run } from "./_parity.ts";

await initEngine();

for (const name of ["martinez_small", "martinez_no_residual", "martinez_no_bn", "martinez_1stage"]) {
  Deno.test(`${name} matches PyTorch (forward, state dict, folded)`, () => checkCase(name));
}

Deno.test("martinez default size: 4,291,632 parameters, PyTorch port key names", () => {
  const m = new Martinez();
  assert.equal(m.numParameters(), 4_291_632);
  const keys = m.stateDictKeys();
  assert.equal(keys.length, 7 + 2 * 14 + 2);
  assert.deepEqual(keys.slice(0, 3), ["w1.weight", "w1.bias", "batch_norm1.weight"]);
  assert.ok(keys.includes("linear_stages.1.batch_norm2.num_batches_tracked"));
  assert.deepEqual(keys.slice(-2), ["w2.weight", "w2.bias"]);
  m.dispose();
});

Deno.test("martinez default size matches PyTorch on hash weights, unfolded and folded", async () => {
  const m = new Martinez();
  const shapes = await m.stateDict();
  await m.loadStateDict(hashStateDict([...shapes].map(([k, t]) => [k, t.shape])), { strict: false });
  const input = await ioTensor("martinez_default.input");
  const expected = await ioTensor("martinez_default.output");
  assertClose(await run(m, input), expected.data, "martinez default");
  assert.equal(await m.foldBatchNorm(), 5);
  assertClose(await run(m, input), expected.data, "martinez default folded");
  m.dispose();
});

Deno.test("martinez applyMaxNorm clips every weight matrix to Frobenius norm ≤ 1 and leaves small ones", async () => {
  const m = new Martinez({ linear_size: 16, num_stage: 1 });
  await m.foldBatchNorm();
  m.applyMaxNorm();
  const sd = await m.stateDict();
  for (const [k, t] of sd) {
    if (!k.endsWith("weight") || k.includes("batch_norm")) continue;
    const norm = Math.sqrt((t.data as Float32Array).reduce((s, v) => s + v * v, 0));
    assert.ok(norm <= 1 + 1e-5, `${k} norm ${norm}`);
  }
  // A matrix on or inside the unit ball is (up to the rounding of its norm) untouched: idempotent.
  const before = (await m.stateDict()).get("w2.weight")!.data as Float32Array;
  m.applyMaxNorm();
  assertClose((await m.stateDict()).get("w2.weight")!.data as Float32Array, before, "max-norm twice", 1e-6);
  assert.equal(m.w1.folded, false, "editing weights drops the fold");
  m.dispose();
});

Deno.test("martinez rejects a wrong input width, naming the layout", () => {
  const m = new Martinez({ linear_size: 8 });
  const x = tensor(new Float32Array(2 * 34), [2, 34]);
  assert.throws(() => tidy(() => m.forward(x)), /martinez expects input \[B, 32\]/);
  x.dispose();
  m.dispose();
});
