// ResNet (torchvision keys) and pose_resnet (Simple Baselines) against the PyTorch references of
// tests/fixtures/gen_image_models.py (section "resnet"), with hash-generated weights and inputs (see
// _hash.ts). Tolerance: max |ours − torch| ≤ 1e-3 · max |torch| (eval with BatchNorm folded, eval
// unfolded, and training-mode BatchNorm with its running-mean update).
import assert from "node:assert/strict";
import { backend, initEngine, tensor, tidy } from "../../engine/mod.ts";
import { createModel } from "../../models/registry.ts";
import { ResNet } from "../../models/resnet.ts";
import { PoseResNet } from "../../models/pose_resnet.ts";
import { hashInput, hashStateDict, moduleKeys } from "./_hash.ts";
import { assertClose, loadFixture } from "./_util.ts";

await initEngine();
const fx = await loadFixture("resnet");
const keys: Record<string, [string, number[]][]> = JSON.parse(fx.metadata.keys);
interface Case {
  name: string;
  model: string;
  config: Record<string, number>;
  input: number[];
  train: boolean;
}
const cases = fx.cases as unknown as Case[];

Deno.test("state-dict keys and shapes equal torchvision's / pose_resnet's for every depth", () => {
  for (const depth of [18, 34, 50, 101, 152]) {
    const r = new ResNet({ depth, num_classes: 1000 });
    assert.deepEqual(moduleKeys(r), keys[`resnet${depth}`], `resnet${depth}`);
    r.dispose();
    const p = new PoseResNet({ num_layers: depth });
    assert.deepEqual(moduleKeys(p), keys[`pose_resnet${depth}`], `pose_resnet${depth}`);
    p.dispose();
  }
});

for (const c of cases) {
  Deno.test(`${c.name}: eval (BN folded${c.train ? ", unfolded, training mode" : ""}) matches PyTorch`, async () => {
    const model = createModel(c.model, c.config);
    const sd = hashStateDict(moduleKeys(model));
    await model.loadStateDict(sd, { fold: true });
    const x = tensor(hashInput(`input/${c.name}`, c.input), c.input);
    model.checkInput(x.shape);
    const want = fx.get(`${c.name}/output`);
    const t0 = performance.now();
    const y = tidy(() => model.forward(x));
    const got = await y.read();
    const ms = performance.now() - t0;
    assert.deepEqual(y.shape, want.shape);
    assertClose(got, want.data as Float32Array, `${c.name} folded`);
    if (c.input[2] >= 256) {
      console.log(`${c.name}: [${c.input}] → [${y.shape}] in ${ms.toFixed(0)} ms (first run)`);
    }
    y.dispose();
    if (c.train) {
      await model.loadStateDict(sd, { fold: false });
      const u = tidy(() => model.forward(x));
      assertClose(await u.read(), want.data as Float32Array, `${c.name} unfolded`);
      u.dispose();
      model.train();
      const t = tidy(() => model.forward(x));
      assertClose(await t.read(), fx.get(`${c.name}/train_output`).data as Float32Array, `${c.name} train`);
      t.dispose();
      const bn1 = (model as unknown as ResNet).bn1;
      assertClose(
        await bn1.runningMean.read(),
        fx.get(`${c.name}/train_running_mean`).data as Float32Array,
        `${c.name} running mean`,
        1e-4,
      );
    }
    model.dispose();
    x.dispose();
  });
}

Deno.test("resnet / pose_resnet reject bad configurations and inputs; no buffers leak across forwards", async () => {
  assert.throws(() => createModel("resnet", { depth: 20 }), /depth 20/);
  assert.throws(() => createModel("pose_resnet", { num_deconv_kernels: 5 }), /num_deconv_kernels/);
  assert.throws(
    () => createModel("pose_resnet", { num_deconv_layers: 2, num_deconv_filters: [8, 8, 8] }),
    /3 entries for num_deconv_layers 2/,
  );
  assert.deepEqual(
    (createModel("pose_resnet", { num_layers: 18, num_deconv_filters: "32,16,8" }) as PoseResNet).poseConfig
      .num_deconv_filters,
    [32, 16, 8],
  );
  const m = createModel("pose_resnet", { num_layers: 18, in_channels: 4, num_joints: 3 });
  assert.throws(() => m.checkInput([1, 3, 64, 48]), /\[N, 4, H, W\]/);
  await m.loadStateDict(hashStateDict(moduleKeys(m)), { fold: true });
  const x = tensor(new Float32Array(4 * 64 * 48), [1, 4, 64, 48]);
  const run = async () => {
    const y = tidy(() => m.forward(x));
    await y.read();
    y.dispose();
  };
  await run();
  const live = backend().getStats().liveBuffers;
  await run();
  assert.equal(backend().getStats().liveBuffers, live);
  m.dispose();
  x.dispose();
});
