// The reference recipes of SRNet / VideoPose3D in the trainer: BatchNorm momentum 0.1 → 0.001 set per epoch
// (checked through the running statistics it produces), AMSGrad state in checkpoints and on resume, the
// loss choice, and the defaults per family.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initEngine } from "../../engine/mod.ts";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import {
  bnMomentumAt,
  trainingRecipe,
  trainLifter,
  type TrainOptions,
} from "../../models/training/trainer.ts";
import { writeTinyH36m } from "./_tiny_h36m.ts";
import { main } from "../../cli/main.ts";

await initEngine();
const dir = await writeTinyH36m(await Deno.makeTempDir({ prefix: "posegpu_tiny_h36m_" }));
// 768 samples (S1, S5), batch 32: 24 steps per epoch.
const STEPS_PER_EPOCH = 24;

function srnet(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model: "srnet",
    config: { channels: 16, filter_widths: [1, 1] },
    data: dir,
    trainSubjects: ["S1", "S5"],
    valSubjects: [],
    input: "gt",
    epochs: 4,
    batch: 32,
    out,
    seed: 3,
    logEvery: 4,
    log: () => {},
    ...extra,
  };
}

Deno.test("bnMomentumAt and the recipes: hand-computed values", () => {
  assert.equal(bnMomentumAt(0, 60), 0.1);
  assert.ok(Math.abs(bnMomentumAt(30, 60) - 0.01) < 1e-12); // halfway: 0.1 · 100^(−½)
  assert.ok(Math.abs(bnMomentumAt(60, 60) - 0.001) < 1e-12);
  const sr = trainingRecipe("srnet"), vp = trainingRecipe("videopose"), mz = trainingRecipe("martinez");
  assert.deepEqual(
    [sr.batch, sr.epochs, sr.decaySteps, sr.decayRate, sr.loss, sr.optimizer, sr.bnMomentum, sr.augment],
    [1024, 60, "epoch", 0.95, "l1", "amsgrad", "decay", "flip"],
  );
  assert.deepEqual([vp.batch, vp.loss, vp.optimizer, vp.bnMomentum], [1024, "mpjpe", "amsgrad", "decay"]);
  assert.deepEqual(
    [mz.batch, mz.epochs, mz.decaySteps, mz.decayRate, mz.loss, mz.optimizer, mz.bnMomentum],
    [64, 200, 100_000, 0.96, "mse", "adam", "fixed"],
  );
  assert.equal(trainingRecipe("dual_channel").loss, "hard_joint_l1");
});

Deno.test("BN momentum decay: same weights as fixed, running statistics updated with bnMomentumAt(epoch)", async () => {
  const tmp = await Deno.makeTempDir();
  const run = async (name: string, extra: Partial<TrainOptions>) => {
    const out = join(tmp, name);
    await trainLifter(srnet(out, extra));
    return (await loadCheckpoint(out)).stateDict;
  };
  // Through epoch 1 both use 0.1; one step into epoch 2 the decayed run uses bnMomentumAt(1, 4) ≈ 0.0316.
  const fixed1 = await run("f1.safetensors", { bnMomentum: "fixed", maxSteps: STEPS_PER_EPOCH });
  const decay1 = await run("d1.safetensors", { bnMomentum: "decay", maxSteps: STEPS_PER_EPOCH });
  const fixed2 = await run("f2.safetensors", { bnMomentum: "fixed", maxSteps: STEPS_PER_EPOCH + 1 });
  const decay2 = await run("d2.safetensors", { bnMomentum: "decay", maxSteps: STEPS_PER_EPOCH + 1 });
  const m = bnMomentumAt(1, 4);
  let running = 0, weights = 0, worst = 0;
  for (const [k, t] of fixed2) {
    if (k.endsWith("num_batches_tracked")) continue;
    const a = t.data as Float32Array, b = decay2.get(k)!.data as Float32Array;
    if (!k.includes("running")) {
      // Training-mode BN normalises with the batch statistics: the momentum never reaches the weights.
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6, `${k}[${i}] differs`);
      weights++;
      continue;
    }
    const r0 = fixed1.get(k)!.data as Float32Array, r0d = decay1.get(k)!.data as Float32Array;
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(r0[i] - r0d[i]) <= 1e-6, `${k}[${i}] differs after epoch 1 (both momentum 0.1)`);
      const s = (a[i] - 0.9 * r0[i]) / 0.1; // the step's batch statistic, from the fixed run
      const expect = (1 - m) * r0[i] + m * s;
      worst = Math.max(worst, Math.abs(b[i] - expect) / (1e-3 + Math.abs(expect)));
    }
    running++;
  }
  assert.ok(running >= 4 && weights >= 4, `${running} running statistics, ${weights} weights compared`);
  assert.ok(worst <= 1e-3, `running statistics off by ${worst} (relative) from momentum ${m}`);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("AMSGrad: maxima checkpointed, resume exact; resume refuses another optimiser", async () => {
  const tmp = await Deno.makeTempDir();
  const full = join(tmp, "full.safetensors"), part = join(tmp, "part.safetensors");
  await trainLifter(srnet(full, { maxSteps: 30 }));
  await trainLifter(srnet(part, { maxSteps: 11 }));
  const mid = await loadCheckpoint(part);
  assert.ok(mid.optimizer?.vMax, "an AMSGrad checkpoint holds the maxima");
  assert.deepEqual([...mid.optimizer.vMax.keys()].sort(), [...mid.optimizer.m.keys()].sort());
  for (const [k, vMax] of mid.optimizer.vMax) {
    const v = mid.optimizer.v.get(k)!;
    for (let i = 0; i < v.length; i++) assert.ok(vMax[i] >= v[i], `${k}[${i}]: max below the moment`);
  }
  await trainLifter(srnet(part, { maxSteps: 30, resume: part }));
  const a = await loadCheckpoint(full), b = await loadCheckpoint(part);
  for (const [k, t] of a.stateDict) {
    const u = b.stateDict.get(k)!.data;
    for (let i = 0; i < t.data.length; i++) {
      assert.ok(Math.abs(t.data[i] - u[i]) <= 1e-5, `${k}[${i}]: resumed run differs`);
    }
  }
  await assert.rejects(
    () => trainLifter(srnet(part, { maxSteps: 40, resume: part, optimizer: "adam" })),
    /trained with --optimizer amsgrad, this run uses adam/,
  );
  const plain = join(tmp, "plain.safetensors");
  await trainLifter(srnet(plain, { maxSteps: 2, optimizer: "adam" }));
  assert.equal((await loadCheckpoint(plain)).optimizer?.vMax, undefined);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("loss: srnet's default is L1; MPJPE trains differently; martinez refuses --loss", async () => {
  const tmp = await Deno.makeTempDir();
  const run = async (name: string, extra: Partial<TrainOptions>) => {
    const r = await trainLifter(srnet(join(tmp, name), { maxSteps: 3, ...extra }));
    return r.losses;
  };
  const byDefault = await run("a.safetensors", {});
  const l1 = await run("b.safetensors", { loss: "l1" });
  const mpjpe = await run("c.safetensors", { loss: "mpjpe" });
  assert.deepEqual(byDefault, l1);
  // Per joint, the mean |dx|+|dy|+|dz| over 3 lies between ‖d‖/3 and ‖d‖/√3: so does L1 against MPJPE
  // on the same first batch (same initialisation and samples).
  assert.ok(
    l1[0] >= mpjpe[0] / 3 - 1e-6 && l1[0] <= mpjpe[0] / Math.sqrt(3) + 1e-6,
    `${l1[0]} vs ${mpjpe[0]}`,
  );
  await assert.rejects(
    () => trainLifter(srnet(join(tmp, "m.safetensors"), { model: "martinez", config: {}, loss: "l1" })),
    /--loss is for the screen-normalised models/,
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("posegpu train: recipe flags reach the trainer; bad values name the flag", async () => {
  const tmp = await Deno.makeTempDir();
  const out = join(tmp, "cli.safetensors");
  const errors: string[] = [];
  const quiet = console.error;
  console.error = (s: string) => errors.push(s);
  const args = (...extra: string[]) => [
    "train",
    "srnet",
    "--data",
    dir,
    "--train-subjects",
    "S1,S5",
    "--batch",
    "32",
    "--max-steps",
    "2",
    "--out",
    out,
    "--config",
    "channels=16",
    "filter_widths=1,1",
    ...extra,
  ];
  try {
    assert.equal(await main(args("--optimizer", "adam", "--loss", "mpjpe", "--decay-steps", "epoch")), 0);
    assert.equal((await loadCheckpoint(out)).optimizer?.vMax, undefined);
    assert.ok(errors.some((l) => /loss mpjpe, adam lr 0\.001 ×0\.95 every epoch/.test(l)), errors.join("\n"));
    assert.equal(await main(args()), 0);
    assert.ok((await loadCheckpoint(out)).optimizer?.vMax, "amsgrad by default");
    for (
      const [flag, value] of [["--optimizer", "sgd"], ["--loss", "l2"], ["--bn-momentum", "none"], [
        "--decay-rate",
        "-1",
      ]]
    ) {
      errors.length = 0;
      assert.equal(await main(args(flag, value)), 1, `${flag} ${value}`);
      assert.ok(errors.some((l) => l.includes(flag)), `${flag}: ${errors.join("\n")}`);
    }
  } finally {
    console.error = quiet;
  }
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("the recipe's learning rate falls ×0.95 after each epoch (decaySteps: epoch)", async () => {
  const tmp = await Deno.makeTempDir();
  const lines: string[] = [];
  await trainLifter(
    srnet(join(tmp, "lr.safetensors"), { maxSteps: 2 * STEPS_PER_EPOCH + 4, log: (l) => lines.push(l) }),
  );
  const lrOf = (epoch: number) =>
    lines.filter((l) => l.startsWith(`epoch ${epoch}/4 step`)).map((l) => Number(/ lr (\S+)/.exec(l)![1]));
  assert.deepEqual([...new Set(lrOf(1))], [1e-3]);
  assert.deepEqual([...new Set(lrOf(2))], [9.5e-4]);
  assert.deepEqual([...new Set(lrOf(3))], [9.02e-4]); // 1e-3 · 0.95² = 9.025e-4 in binary, printed 9.02e-4
  await Deno.remove(tmp, { recursive: true });
});
