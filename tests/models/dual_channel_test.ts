// Dual-channel refinement (posegpu's reading of the seed-003 paper) against its PyTorch twin in
// tests/fixtures/gen_models.py. Tolerance in _parity.ts.
import assert from "node:assert/strict";
import { initEngine, tensor, tidy } from "../../engine/mod.ts";
import { DualChannel } from "../../models/dual_channel.ts";
import { checkCase } from "./_parity.ts";

await initEngine();

for (const name of ["dual_channel", "dual_single", "dual_no_fusion"]) {
  Deno.test(`${name} matches PyTorch (forward, state dict, folded)`, () => checkCase(name));
}

Deno.test("dual_channel: key layout and hard-joint replacement", async () => {
  const m = new DualChannel({ linear_size: 16, refine_size: 8 });
  const keys = m.stateDictKeys();
  assert.ok(keys.includes("basic.linear_stages.1.w2.weight"));
  assert.ok(keys.includes("refine_a.w3.bias") && keys.includes("refine_b.batch_norm2.running_var"));
  // Channel A sees 10 output joints × 3 + 10 input joints × 2 and refines 4 joints.
  const shape = (k: string) => m.namedParameters().find(([n]) => n === k)![1].shape;
  assert.deepEqual(shape("refine_a.w1.weight"), [8, 50]);
  assert.deepEqual(shape("refine_b.w3.weight"), [12, 8]);
  const x = tensor(new Float32Array(3 * 32).map((_, i) => Math.sin(i)), [3, 32]);
  const { basic, output } = tidy(() => m.forwardAll(x));
  const [b, o] = [await basic.read(), await output.read()];
  // Joint 8 (Thorax, output row 7) is no hard joint: copied; joint 13 (LWrist, row 12) is refined.
  for (let r = 0; r < 3; r++) {
    for (let d = 0; d < 3; d++) assert.equal(o[r * 48 + 7 * 3 + d], b[r * 48 + 7 * 3 + d]);
  }
  assert.notEqual(o[12 * 3], b[12 * 3]);
  m.dispose();
});
