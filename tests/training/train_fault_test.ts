// A device error in the middle of trainLifter (library use) rejects with an EnvironmentError and leaves
// nothing live on the GPU: the model, the optimiser state, the loss log and the step's batch are freed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Backend, backend, initEngine } from "../../engine/backend.ts";
import { reportDeviceError } from "../../engine/device.ts";
import { EnvironmentError } from "../../engine/errors.ts";
import { trainLifter } from "../../models/training/trainer.ts";
import { writeTinyH36m } from "./_tiny_h36m.ts";

await initEngine();

Deno.test("trainLifter: a device error mid-run rejects and frees every GPU buffer it held", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "posegpu_train_fault_lib_" });
  const dispatch = Backend.prototype.dispatch;
  try {
    const data = await writeTinyH36m(join(tmp, "h36m"), { subjects: ["S1"] });
    const options = {
      model: "martinez",
      config: { linear_size: 64, num_stage: 1 },
      data,
      trainSubjects: ["S1"],
      input: "gt" as const,
      epochs: 2,
      batch: 32,
      out: join(tmp, "c.safetensors"),
      log: () => {},
    };
    // A first run creates the engine's lifelong singletons (dummy bindings, a ones tensor): the baseline.
    await trainLifter({ ...options, maxSteps: 2 });
    const before = backend().getStats();
    let count = 0;
    for (const at of [50, 400, 900]) {
      count = 0;
      Backend.prototype.dispatch = function (this: Backend, ...args: Parameters<Backend["dispatch"]>): void {
        if (++count === at) reportDeviceError(new EnvironmentError("WebGPU error: simulated fault (test)"));
        return dispatch.apply(this, args);
      };
      await assert.rejects(
        () => trainLifter(options),
        (e: Error) => e instanceof EnvironmentError && /simulated/.test(e.message),
      );
      Backend.prototype.dispatch = dispatch;
      const after = backend().getStats();
      assert.equal(after.liveBuffers, before.liveBuffers, `fault at dispatch ${at}: live buffers`);
      assert.equal(after.liveBytes, before.liveBytes, `fault at dispatch ${at}: live bytes`);
    }
    // And the engine still trains afterwards (an uncaptured error is not a lost device).
    const r = await trainLifter({ ...options, epochs: 1 });
    assert.equal(r.step, 12);
  } finally {
    Backend.prototype.dispatch = dispatch;
    await Deno.remove(tmp, { recursive: true });
  }
});
