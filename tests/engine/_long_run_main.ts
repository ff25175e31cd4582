/**
 * Long runs for tests/engine/long_run_test.ts, in a child process started with `--expose-gc` so that the
 * JS heap can be read after a full collection. `deno run -A --v8-flags=--expose-gc _long_run_main.ts MODE`
 * prints one JSON line: `samples` of `{ at, liveBuffers, liveBytes, allocatedBuffers, allocatedBytes, heap }`.
 *
 * - `infer N`: N consecutive batch-1 forwards of a small Martinez (linear 64), read back 100 at a time
 *   (one submit and wait per 100), then 200 more each read back alone; a sample every 1000.
 * - `lift N`: N `Lifter.lift` calls of 8 frames each; a sample every N/10.
 * - `train`: 3 epochs of `trainLifter` on the tiny synthetic Human3.6M folder; a sample after each epoch.
 * @module
 */

import { backend, initEngine, readAll, type Tensor, tensor, tidy } from "../../engine/mod.ts";
import { loadLifter } from "../../models/lifter.ts";
import { trainLifter } from "../../models/training/trainer.ts";
import { writeTestCheckpoint } from "../cli/_lifter.ts";
import { writeTinyH36m } from "../training/_tiny_h36m.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
await initEngine();
const samples: Record<string, number>[] = [];
function sample(at: number): void {
  gc!();
  const s = backend().getStats();
  samples.push({
    at,
    liveBuffers: s.liveBuffers,
    liveBytes: s.liveBytes,
    allocatedBuffers: s.allocatedBuffers,
    allocatedBytes: s.allocatedBytes,
    heap: Deno.memoryUsage().heapUsed,
  });
}

const [mode, nText] = Deno.args;
const tmp = await Deno.makeTempDir({ prefix: "posegpu_long_run_" });
const t0 = performance.now();
try {
  if (mode === "infer" || mode === "lift") {
    const path = `${tmp}/lifter.safetensors`;
    await writeTestCheckpoint(path);
    const lifter = await loadLifter(path);
    const n = Number(nText);
    if (mode === "infer") {
      const model = lifter.model;
      const x0 = new Float32Array(32).map((_, i) => Math.sin(i));
      const group = 100;
      for (let done = 0; done < n + 1000; done += group) {
        // The first 1000 warm the pool, the pipelines and the JIT; samples start after them.
        const ys: Tensor[] = [];
        for (let i = 0; i < group; i++) {
          const x = tensor(x0, [1, 32]);
          ys.push(tidy(() => model.forward(x)));
          x.dispose();
        }
        const out = await readAll(ys);
        for (const y of ys) y.dispose();
        if (!Number.isFinite(out[group - 1][0])) throw new Error("non-finite output");
        if ((done + group) % 1000 === 0 && done + group >= 1000) sample(done + group - 1000);
      }
      for (let i = 0; i < 200; i++) {
        const x = tensor(x0, [1, 32]);
        const y = tidy(() => model.forward(x));
        await y.read();
        y.dispose();
        x.dispose();
      }
      sample(n + 200);
    } else {
      const kp = new Float32Array(8 * 34).map((_, i) => 500 + 80 * Math.sin(i * 0.7));
      for (let i = 0; i < 50; i++) await lifter.lift(kp);
      for (let i = 0; i <= n; i++) {
        if (i % Math.max(1, Math.floor(n / 10)) === 0) sample(i);
        if (i < n) await lifter.lift(kp, { normalizeInput: i % 2 ? "auto" : "h36m-camera" });
      }
    }
    lifter.dispose();
  } else if (mode === "train") {
    const data = await writeTinyH36m(`${tmp}/h36m`);
    sample(0);
    await trainLifter({
      model: "martinez",
      config: { linear_size: 64, num_stage: 1 },
      data,
      trainSubjects: ["S1", "S5"],
      valSubjects: ["S8"],
      input: "gt",
      epochs: 3,
      batch: 32,
      out: `${tmp}/martinez.safetensors`,
      log: () => {},
      onEpoch: (r) => sample(r.epoch),
    });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  console.log(JSON.stringify({ mode, seconds: (performance.now() - t0) / 1000, samples }));
} finally {
  await Deno.remove(tmp, { recursive: true });
}
