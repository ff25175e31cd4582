// Issue #2's rule, model by model: a whole forward pass records into one command encoder and is submitted
// once, at the readback (Deno pays ≥ 10 ms per GPU sync). Every registered model, in eval mode with its
// random initialisation, at a small configuration and input; the first forward (shader compiles, weight
// textures) is not counted.
import assert from "node:assert/strict";
import { backend, initEngine, tensor, tidy } from "../../engine/mod.ts";
import { createModel, MODEL_NAMES } from "../../models/registry.ts";

await initEngine();

const CASES: Record<string, { config: Record<string, unknown>; input: number[] }> = {
  martinez: { config: {}, input: [8, 32] },
  dual_channel: { config: { linear_size: 256, refine_size: 128 }, input: [8, 32] },
  videopose: { config: { filter_widths: [3, 3], channels: 128 }, input: [2, 9, 17, 2] },
  srnet: { config: { filter_widths: [3, 3], channels: 160 }, input: [2, 9, 17, 2] },
  srnet_fc: { config: { filter_widths: [1, 1, 1], channels: 256 }, input: [4, 1, 17, 2] },
  resnet: { config: { depth: 18, num_classes: 10 }, input: [1, 3, 64, 64] },
  pose_resnet: { config: { num_layers: 18, num_joints: 17 }, input: [1, 3, 64, 48] },
  cpn: { config: { input_height: 64, input_width: 64 }, input: [1, 3, 64, 64] },
  ssd300: { config: { num_classes: 2 }, input: [1, 3, 300, 300] },
  patch_refine: { config: {}, input: [1, 96, 32, 32] },
  posefix: { config: { num_layers: 18 }, input: [1, 20, 64, 48] },
};

Deno.test("the case table covers every registered model", () => {
  assert.deepEqual([...MODEL_NAMES].sort(), Object.keys(CASES).sort());
});

for (const name of MODEL_NAMES) {
  Deno.test(`${name}: forward + readback is one submit`, async () => {
    const c = CASES[name];
    const model = createModel(name, c.config);
    model.checkInput(c.input);
    const n = c.input.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5);
    const run = async (): Promise<Float32Array> => {
      const x = tensor(data, c.input);
      const y = tidy(() => model.forward(x));
      const out = await y.read();
      y.dispose();
      x.dispose();
      return out;
    };
    await run(); // compiles and caches
    await backend().sync();
    const s0 = backend().getStats().submits;
    const out = await run();
    assert.equal(backend().getStats().submits - s0, 1, `${name}: submits per forward`);
    assert.ok(out.length > 0 && out.every(Number.isFinite), `${name}: finite output`);
    model.dispose?.();
  });
}
