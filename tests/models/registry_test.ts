// Registry: names, config parsing from strings and typed values, eval mode, and that forward passes
// neither leak GPU buffers nor keep them after dispose().
import assert from "node:assert/strict";
import { backend, initEngine, InputError, tensor, tidy } from "../../engine/mod.ts";
import { parseConfigPairs, resolveConfig } from "../../models/config.ts";
import { createModel, MODEL_NAMES } from "../../models/registry.ts";
import { SrnetFc } from "../../models/srnet_fc.ts";
import { VIDEOPOSE_CONFIG } from "../../models/videopose.ts";

await initEngine();

Deno.test("registry names and string configs (lists, booleans, numbers, choices)", () => {
  for (const n of ["dual_channel", "martinez", "srnet", "srnet_fc", "videopose"]) {
    assert.ok(MODEL_NAMES.includes(n), n);
  }
  const pairs = parseConfigPairs(["filter_widths=3,3,3", "causal=true", "dropout=0.1", "channels=64"]);
  const c = resolveConfig("videopose", VIDEOPOSE_CONFIG, pairs);
  assert.deepEqual(c.filter_widths, [3, 3, 3]);
  assert.equal(c.causal, true);
  assert.equal(c.dropout, 0.1);
  assert.equal(c.num_joints_in, 17);
  assert.throws(() => parseConfigPairs(["channels"]), /key=value/);
  assert.throws(
    () => resolveConfig("videopose", VIDEOPOSE_CONFIG, { causal: "maybe" }),
    /causal="maybe": expected true or false/,
  );
  assert.throws(
    () => resolveConfig("videopose", VIDEOPOSE_CONFIG, { filter_widths: "3,x" }),
    /list of integers/,
  );
  assert.throws(() => createModel("srnet", { recombine: "sum" }), /expected one of multiply, add, concat/);
  assert.throws(() => createModel("lifter"), InputError);
  const m = createModel("martinez", { linear_size: "16", residual: "false" });
  assert.equal(m.training, false);
  assert.equal((m.config as { residual: boolean }).residual, false);
  m.dispose();
  const fc = createModel("srnet", { structure: "fc", channels: 16 });
  assert.ok(fc instanceof SrnetFc);
  fc.dispose();
});

Deno.test("every model: repeated forwards keep the live buffer count flat; dispose() frees the model", async () => {
  const cases: [string, Record<string, unknown>, number[]][] = [
    ["martinez", { linear_size: 32 }, [3, 32]],
    ["dual_channel", { linear_size: 16, refine_size: 8 }, [2, 32]],
    ["videopose", { channels: 16, filter_widths: [3, 3] }, [1, 12, 17, 2]],
    ["srnet", { channels: 64, filter_widths: [3, 3] }, [2, 12, 17, 2]],
    ["srnet_fc", { channels: 16 }, [2, 1, 17, 2]],
  ];
  // The engine allocates a few global buffers lazily on first use (e.g. matmul's dummy operand).
  const warm = createModel("martinez", { linear_size: 8 });
  const w = tidy(() => warm.forward(tensor(new Float32Array(32), [1, 32])));
  await w.read();
  w.dispose();
  warm.dispose();
  for (const [name, cfg, shape] of cases) {
    const before = backend().getStats().liveBuffers;
    const m = createModel(name, cfg);
    const x = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const live: number[] = [];
    for (let i = 0; i < 3; i++) {
      const y = tidy(() => m.forward(x));
      await y.read();
      y.dispose();
      live.push(backend().getStats().liveBuffers);
    }
    assert.equal(live[2], live[1], `${name}: live buffers ${live.join(", ")}`);
    m.dispose();
    x.dispose();
    assert.equal(backend().getStats().liveBuffers, before, `${name}: buffers left after dispose()`);
  }
});
