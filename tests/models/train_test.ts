// Training mode through the differentiable ops (engine/autograd.ts): one forward with BatchNorm batch
// statistics and an MSE backward give PyTorch's parameter gradients (tolerance: max error ≤ 1e-3 ·
// max(max |grad| of the tensor, 1e-3 · max |grad| of the model): float32 sums in another order, and the
// biases before a training-mode BatchNorm have a zero gradient, i.e. pure rounding) and running
// statistics (≤ 1e-4 relative).
import assert from "node:assert/strict";
import { initEngine, readSafetensors, type Tensor, tensor, tidy } from "../../engine/mod.ts";
import { backward, withGrad, zeroGrad } from "../../engine/autograd.ts";
import { mseLoss } from "../../engine/losses.ts";
import { createModel, type LiftingModel } from "../../models/registry.ts";
import type { VideoPose } from "../../models/videopose.ts";
import { fixture } from "../_shared.ts";
import { assertClose, ioTensor, loadCase } from "./_parity.ts";

await initEngine();
const grads = (await readSafetensors(fixture("models_grads.safetensors"))).tensors;
const g = (name: string) => grads.get(name)!.data as Float32Array;

const CASES: [string, Record<string, unknown>][] = [
  ["martinez_small", { p_dropout: 0 }],
  ["videopose_t27", { dropout: 0 }],
  ["srnet_multiply", {}],
  ["srnet_t27_concat", {}],
  ["srnet_t27_multiply", {}],
  ["srnet_mixed_t9", {}],
  ["dual_channel", { p_dropout: 0 }],
];

/**
 * One training-mode step of the `weights` case's model (config `override`) through `forward` on the `name`
 * fixture's input and target: loss, every parameter's gradient, the running statistics after the step and
 * the batch counter against PyTorch.
 */
async function checkTrainingStep(
  name: string,
  options: {
    weights: string;
    override: Record<string, unknown>;
    forward: (m: LiftingModel, x: Tensor) => Tensor;
  },
): Promise<void> {
  const c = await loadCase(options.weights);
  c.model.dispose();
  const model = createModel(c.modelName, { ...c.config, ...options.override });
  await model.loadStateDict(c.stateDict);
  model.train();
  const input = await ioTensor(`${name}.input`);
  const x = tensor(input.data, input.shape);
  const target = grads.get(`${name}.target`)!;
  const t = tensor(target.data as Float32Array, target.shape);
  const loss = withGrad(() =>
    tidy(() => {
      const l = mseLoss(options.forward(model, x), t);
      backward(l);
      return l;
    })
  );
  assertClose(await loss.read(), g(`${name}.loss`), `${name} loss`);
  const params = model.namedParameters();
  const global = Math.max(
    ...params.map(([k]) => g(`${name}.grad.${k}`).reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
  );
  for (const [k, p] of params) {
    assert.ok(p.grad, `${name}: ${k} has no gradient`);
    assertClose(await p.grad.read(), g(`${name}.grad.${k}`), `${name}: grad of ${k}`, 1e-3, 1e-3 * global);
  }
  for (const [k, b] of model.namedBuffers()) {
    if (!k.endsWith("running_mean") && !k.endsWith("running_var")) continue;
    assertClose(await (b as typeof x).read(), g(`${name}.after.${k}`), `${name}: ${k} after the step`);
  }
  const sd = await model.stateDict();
  const counter = [...sd].find(([k]) => k.endsWith("num_batches_tracked"))!;
  assert.equal(counter[1].data[0], c.stateDict.get(counter[0])!.data[0] + 1, "num_batches_tracked + 1");
  zeroGrad(model.parameters());
  for (const v of [x, t, loss]) v.dispose();
  model.dispose();
}

for (const [name, override] of CASES) {
  Deno.test(`${name}: training-mode gradients and running statistics match PyTorch`, () =>
    checkTrainingStep(name, { weights: name, override, forward: (m, x) => m.forward(x) }));
}

// VideoPose3D's training model (TemporalModelOptimized1f) is our `forwardSingleFrame` on the same weights.
for (const weights of ["videopose_t27", "videopose_causal"]) {
  Deno.test(`${weights}_opt1f: forwardSingleFrame in training mode matches TemporalModelOptimized1f's gradients`, () =>
    checkTrainingStep(`${weights}_opt1f`, {
      weights,
      override: { dropout: 0 },
      forward: (m, x) => (m as VideoPose).forwardSingleFrame(x),
    }));
}
