// posegpu run with the image models: pose_resnet [N, C, H, W] → [N, K, H/4, W/4] and resnet → logits,
// the configuration from --config and from the weights' metadata; a wrong channel count names the tensor.
import assert from "node:assert/strict";
import { join } from "node:path";
import { command as run } from "../../cli/commands/run.ts";
import { initEngine, readSafetensors, writeSafetensors } from "../../engine/mod.ts";
import { writeStateDict } from "../../layers/mod.ts";
import { createModel } from "../../models/registry.ts";

Deno.test("posegpu run pose_resnet / resnet: reference layouts in and out", async () => {
  await initEngine();
  const tmp = await Deno.makeTempDir();
  const w = join(tmp, "w.safetensors"), x = join(tmp, "x.safetensors"), y = join(tmp, "y.safetensors");
  const cfg = { num_layers: 18, num_joints: 5, in_channels: 4 };
  const m = createModel("pose_resnet", cfg);
  await writeStateDict(w, await m.stateDict());
  m.dispose();
  await writeSafetensors(x, {
    input: { shape: [2, 4, 64, 32], data: new Float32Array(2 * 4 * 64 * 32).fill(0.5) },
  });
  const conf = ["--config", "num_layers=18", "num_joints=5", "in_channels=4"];
  assert.equal(await run.run(["pose_resnet", "--weights", w, "--input", x, "--output", y, ...conf]), 0);
  assert.deepEqual((await readSafetensors(y)).tensors.get("output")!.shape, [2, 5, 16, 8]);
  await writeSafetensors(x, { input: { shape: [1, 3, 64, 32], data: new Float32Array(3 * 64 * 32) } });
  await assert.rejects(
    () => run.run(["pose_resnet", "--weights", w, "--input", x, "--output", y, ...conf]),
    /tensor "input"/,
  );

  const r = createModel("resnet", { depth: 18, in_channels: 3, num_classes: 7 });
  await writeStateDict(w, await r.stateDict(), { metadata: { config: JSON.stringify(r.config) } });
  r.dispose();
  assert.equal(await run.run(["resnet", "--weights", w, "--input", x, "--output", y]), 0);
  assert.deepEqual((await readSafetensors(y)).tensors.get("output")!.shape, [1, 7]);
  await Deno.remove(tmp, { recursive: true });
});
