// Training survives a device fault: `posegpu train` hit by a device error (or a lost device) mid-run exits
// 2 promptly with a message, its last checkpoint stays intact, and `--resume` from it reaches the same
// weights as an uninterrupted run (within 1e-5). The fault comes from tests/cli/_fault_main.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import { writeTinyH36m } from "../training/_tiny_h36m.ts";
import { assertCleanFailure, type CliResult } from "./_cli.ts";
import { type Fault, runWithFault } from "./_fault.ts";

function train(args: string[], fault?: Fault): Promise<CliResult & { dispatches: number }> {
  return runWithFault(["train", ...args], fault, { timeoutMs: 180_000 });
}

async function maxDiff(a: string, b: string): Promise<number> {
  const x = await loadCheckpoint(a), y = await loadCheckpoint(b);
  let max = 0;
  for (const [k, t] of x.stateDict) {
    const u = y.stateDict.get(k);
    assert.ok(u, `${b} lacks ${k}`);
    for (let i = 0; i < t.data.length; i++) max = Math.max(max, Math.abs(t.data[i] - u.data[i]));
  }
  return max;
}

Deno.test("train: a device fault mid-run exits 2, keeps the last checkpoint; --resume matches an uninterrupted run", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "posegpu_train_fault_" });
  try {
    const data = await writeTinyH36m(join(tmp, "h36m"), { subjects: ["S1", "S5"] });
    // 768 samples / batch 32 = 24 steps per epoch, 2 epochs; a checkpoint every 10 steps and per epoch.
    const args = (out: string, extra: string[] = []) => [
      "martinez",
      "--data",
      data,
      "--train-subjects",
      "S1,S5",
      "--input",
      "gt",
      "--epochs",
      "2",
      "--batch",
      "32",
      "--checkpoint-every",
      "10",
      "--log-every",
      "5",
      "--seed",
      "3",
      "--out",
      out,
      "--config",
      "linear_size=64",
      "num_stage=1",
      ...extra,
    ];
    const full = join(tmp, "full.safetensors");
    // Uninterrupted, through the fault harness without a fault: how many dispatches a whole run records.
    const clean = await train(args(full), { kind: "error", after: 1e9 });
    assert.equal(clean.code, 0, clean.err);
    assert.equal((await loadCheckpoint(full)).meta.step, 48);
    for (const kind of ["error", "lost"] as const) {
      const part = join(tmp, `part_${kind}.safetensors`);
      const after = Math.round(clean.dispatches * 0.6);
      const r = await train(args(part), { kind, after });
      assertCleanFailure(r, {
        code: 2,
        names: /WebGPU/,
        what: `train with a device ${kind} at dispatch ${after}`,
      });
      const mid = await loadCheckpoint(part); // the last checkpoint is whole (written atomically)
      assert.ok(mid.meta.step > 0 && mid.meta.step < 48, `checkpoint at step ${mid.meta.step}`);
      assert.ok(mid.optimizer && mid.optimizer.step === mid.meta.step);
      const files = [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.includes(".tmp"));
      assert.deepEqual(files, [], "no temporary file left behind");
      const resumed = await train(args(part, ["--resume", part]));
      assert.equal(resumed.code, 0, resumed.err);
      assert.match(resumed.err, new RegExp(`resuming at step ${mid.meta.step}`));
      assert.equal((await loadCheckpoint(part)).meta.step, 48);
      const d = await maxDiff(full, part);
      assert.ok(d <= 1e-5, `${kind}: resumed weights differ from the uninterrupted run by ${d}`);
      console.log(
        `device ${kind} at dispatch ${after}/${clean.dispatches}: resumed from step ${mid.meta.step}, max |Δw| ${d}`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
