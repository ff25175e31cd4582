// Training on a tiny synthetic Human3.6M folder: the loss falls, checkpoints are written atomically with
// the full metadata, `resume` continues at the right step and reproduces the uninterrupted run, the other
// model families train, and `posegpu eval h36m --json` has the documented shape.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initEngine } from "../../engine/mod.ts";
import { exportCheckpoint, loadCheckpoint } from "../../models/checkpoint.ts";
import { trainLifter, type TrainOptions } from "../../models/training/trainer.ts";
import { mirrorPoses } from "../../pose/mirror.ts";
import { loadH36mPoses } from "../../models/training/h36m_data.ts";
import { main } from "../../cli/main.ts";
import { writeTinyH36m } from "./_tiny_h36m.ts";

await initEngine();
const dir = await writeTinyH36m(await Deno.makeTempDir({ prefix: "posegpu_tiny_h36m_" }));
const SMALL = { linear_size: 64, num_stage: 1 };

function base(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model: "martinez",
    config: SMALL,
    data: dir,
    trainSubjects: ["S1", "S5"],
    valSubjects: ["S8"],
    input: "gt",
    epochs: 3,
    batch: 32,
    out,
    seed: 7,
    logEvery: 4,
    log: () => {},
    ...extra,
  };
}

Deno.test("tiny H36M folder: samples per frame × camera, root-relative camera-frame targets", async () => {
  const set = await loadH36mPoses(dir, { subjects: ["S1"], input: "sh" });
  assert.equal(set.count, 2 * 96 * 2);
  assert.equal(set.clips.length, 4);
  for (let f = 0; f < set.count; f++) {
    assert.deepEqual([...set.target3d.subarray(f * 51, f * 51 + 3)], [0, 0, 0]);
    // Neck/Nose of SH input is the Thorax–Head midpoint.
    const p = set.input2d.subarray(f * 34, f * 34 + 34);
    assert.ok(Math.abs(p[18] - (p[16] + p[20]) / 2) < 1e-3);
  }
  assert.ok(set.height.includes(1002) && set.height.includes(1000));
});

Deno.test("martinez trains: loss falls, validation improves, atomic checkpoint with metadata", async () => {
  const tmp = await Deno.makeTempDir();
  const out = join(tmp, "ckpt.safetensors");
  const r = await trainLifter(base(out));
  assert.equal(r.step, 3 * Math.floor(768 / 32));
  const first = r.losses.slice(0, 4).reduce((a, b) => a + b) / 4;
  const last = r.losses.slice(-4).reduce((a, b) => a + b) / 4;
  assert.ok(last < 0.7 * first, `loss ${first} → ${last}`);
  assert.equal(r.history.length, 3);
  assert.ok(r.history[2].valMpjpe! < r.history[0].valMpjpe! + 1e-6 || r.history[2].valMpjpe! < 150);
  // Only the checkpoint: no temporary files left beside it.
  const files = [...Deno.readDirSync(tmp)].map((e) => e.name);
  assert.deepEqual(files, ["ckpt.safetensors"]);
  const ck = await loadCheckpoint(out);
  assert.equal(ck.meta.model, "martinez");
  assert.equal(ck.meta.epoch, 3);
  assert.equal(ck.meta.step, r.step);
  assert.equal(ck.meta.seed, 7);
  assert.deepEqual(ck.meta.trainSubjects, ["S1", "S5"]);
  assert.deepEqual(ck.meta.valSubjects, ["S8"]);
  assert.equal(ck.meta.jointsIn.length, 16);
  assert.ok(!ck.meta.jointsIn.includes("Neck/Nose"));
  assert.equal(ck.meta.normalization.kind, "zscore");
  assert.equal(ck.meta.config.max_norm, false);
  assert.ok(ck.optimizer && ck.optimizer.step === r.step);
  assert.ok(Math.abs(ck.meta.valMpjpe! - r.history[2].valMpjpe!) < 1e-9);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("resume continues at the saved step and matches the uninterrupted run", async () => {
  const tmp = await Deno.makeTempDir();
  const full = join(tmp, "full.safetensors"), part = join(tmp, "part.safetensors");
  const total = 30; // crosses the end of epoch 1 (24 steps) so the resumed run reshuffles too
  // With max-norm, so the projection is covered by the resume check too.
  const config = { ...SMALL, max_norm: true };
  await trainLifter(base(full, { maxSteps: total, valSubjects: [], config }));
  await trainLifter(base(part, { maxSteps: 13, valSubjects: [], config }));
  const mid = await loadCheckpoint(part);
  assert.equal(mid.meta.step, 13);
  const resumed = await trainLifter(base(part, { maxSteps: total, resume: part, valSubjects: [], config }));
  assert.equal((await loadCheckpoint(part)).meta.config.max_norm, true);
  assert.equal(resumed.step, total);
  assert.equal(resumed.losses.length, total - 13);
  const a = await loadCheckpoint(full), b = await loadCheckpoint(part);
  assert.equal(b.meta.step, total);
  for (const [k, t] of a.stateDict) {
    const u = b.stateDict.get(k)!;
    let max = 0;
    for (let i = 0; i < t.data.length; i++) max = Math.max(max, Math.abs(t.data[i] - u.data[i]));
    assert.ok(max <= 1e-5, `${k}: resumed run differs by ${max}`);
  }
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("mirrorPoses: x mirrored and every left/right pair of H36M-17 swapped (2D and 3D, two poses)", () => {
  // Pose p, joint j holds (j + 20p, 100 + j[, 200 + j]).
  for (const [dims, width] of [[2, 0], [3, 0], [2, 1000]]) {
    const v = new Float32Array(2 * 17 * dims);
    for (let p = 0; p < 2; p++) {
      for (let j = 0; j < 17; j++) {
        for (let c = 0; c < dims; c++) v[(p * 17 + j) * dims + c] = 100 * c + j + 20 * p * +!c;
      }
    }
    mirrorPoses(v, { dims, width });
    // Hip 0, RHip 1, RKnee 2, RFoot 3, LHip 4, LKnee 5, LFoot 6, …, LShoulder 11 … RWrist 16.
    const mirror = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13];
    for (let p = 0; p < 2; p++) {
      for (let j = 0; j < 17; j++) {
        const src = mirror[j], at = (p * 17 + j) * dims;
        assert.equal(v[at], width - (src + 20 * p), `pose ${p} joint ${j} x (${dims}D, width ${width})`);
        for (let c = 1; c < dims; c++) assert.equal(v[at + c], 100 * c + src, `joint ${j} c${c}`);
      }
    }
  }
  assert.throws(() => mirrorPoses(new Float32Array(35), { dims: 2 }), /not a whole number of 17-joint poses/);
});

Deno.test("flip augmentation: srnet's default, reproducible on resume, changes the run; martinez refuses it", async () => {
  const tmp = await Deno.makeTempDir();
  const cfg = { model: "srnet", config: { channels: 16, filter_widths: [1, 1] }, valSubjects: [] };
  const run = async (name: string, extra: Partial<TrainOptions>) => {
    const out = join(tmp, name);
    await trainLifter(base(out, { ...cfg, maxSteps: 10, ...extra }));
    return (await loadCheckpoint(out)).stateDict;
  };
  const flip = await run("flip.safetensors", {});
  const plain = await run("plain.safetensors", { augment: "none" });
  await run("part.safetensors", { maxSteps: 4 });
  const resumed = await run("part.safetensors", { resume: join(tmp, "part.safetensors") });
  let diffPlain = 0, diffResumed = 0;
  for (const [k, t] of flip) {
    const p = plain.get(k)!.data, r = resumed.get(k)!.data;
    for (let i = 0; i < t.data.length; i++) {
      diffPlain = Math.max(diffPlain, Math.abs(t.data[i] - p[i]));
      diffResumed = Math.max(diffResumed, Math.abs(t.data[i] - r[i]));
    }
  }
  assert.ok(diffResumed <= 1e-5, `resumed flip run differs by ${diffResumed}`);
  assert.ok(diffPlain > 1e-4, `flip and plain runs should differ (max ${diffPlain})`);
  await assert.rejects(
    () => trainLifter(base(join(tmp, "m.safetensors"), { augment: "flip", maxSteps: 1 })),
    /flip augmentation is for the screen-normalised models/,
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("resume refuses another model or input", async () => {
  const tmp = await Deno.makeTempDir();
  const out = join(tmp, "c.safetensors");
  await trainLifter(base(out, { maxSteps: 2, valSubjects: [] }));
  await assert.rejects(() => trainLifter(base(out, { resume: out, input: "sh" })), /trained on --input gt/);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("init starts from an export's weights with a fresh optimiser; resume refuses an export", async () => {
  const tmp = await Deno.makeTempDir();
  const ckpt = join(tmp, "c.safetensors"), exported = join(tmp, "e.safetensors");
  const trained = await trainLifter(base(ckpt, { epochs: 4, valSubjects: [] }));
  await exportCheckpoint(ckpt, exported, { dtype: "F32" });
  await assert.rejects(() => trainLifter(base(join(tmp, "x.safetensors"), { resume: exported })), /--init/);
  const fresh = await trainLifter(base(join(tmp, "f.safetensors"), { maxSteps: 4, valSubjects: [] }));
  const more = await trainLifter(base(join(tmp, "m.safetensors"), { maxSteps: 4, init: exported, seed: 8 }));
  assert.equal(more.step, 4); // counts from 0
  // The trained weights start far below a fresh initialisation's loss, and near where training ended.
  const end = trained.losses.slice(-4).reduce((a, b) => a + b) / 4;
  assert.ok(more.losses[0] < 0.5 * fresh.losses[0], `init ${more.losses[0]} vs fresh ${fresh.losses[0]}`);
  assert.ok(more.losses[0] < 2 * end, `init ${more.losses[0]} vs end of training ${end}`);
  await assert.rejects(
    () => trainLifter(base(join(tmp, "y.safetensors"), { init: exported, resume: ckpt })),
    /not both/,
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("dual_channel --init from a Martinez checkpoint starts basic.* from its weights", async () => {
  const tmp = await Deno.makeTempDir();
  const mz = join(tmp, "m.safetensors"), dual = join(tmp, "d.safetensors");
  await trainLifter(base(mz, { maxSteps: 6, valSubjects: [] }));
  const dualRun = (extra: Partial<TrainOptions>) =>
    trainLifter(base(dual, {
      model: "dual_channel",
      config: { refine_size: 32 },
      init: mz,
      maxSteps: 1,
      lr: 1e-12, // one step that moves nothing measurable: the weights stay those loaded
      valSubjects: [],
      ...extra,
    }));
  await dualRun({});
  const m = await loadCheckpoint(mz), d = await loadCheckpoint(dual);
  assert.equal(d.meta.model, "dual_channel");
  assert.equal(d.meta.config.linear_size, SMALL.linear_size);
  assert.equal(d.meta.config.num_stage, SMALL.num_stage);
  assert.deepEqual(d.meta.normalization, m.meta.normalization);
  let n = 0;
  for (const [k, t] of m.stateDict) {
    if (k.endsWith("num_batches_tracked")) continue;
    const u = d.stateDict.get(`basic.${k}`);
    assert.ok(u, `basic.${k} present`);
    const a = t.data as Float32Array, b = u.data as Float32Array;
    const tol = k.includes("running") ? 0.2 : 1e-6; // one training step moves BN's running statistics
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(a[i])), `basic.${k}[${i}]`);
    }
    n++;
  }
  assert.ok(n >= 10, `${n} tensors compared`);
  await assert.rejects(
    () => dualRun({ config: { refine_size: 32, linear_size: 128 } }),
    /linear_size=128 differs/,
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("best keeps the checkpoint of lowest validation MPJPE; out the latest", async () => {
  const tmp = await Deno.makeTempDir();
  const out = join(tmp, "last.safetensors"), best = join(tmp, "best.safetensors");
  const r = await trainLifter(base(out, { best, checkpointEvery: 4, epochs: 2, lr: 3e-3 }));
  const vals = r.history.map((h) => h.valMpjpe!).filter((v) => v !== null);
  assert.ok(vals.length >= 4, `${vals.length} validations`);
  const b = await loadCheckpoint(best), l = await loadCheckpoint(out);
  assert.equal(b.meta.valMpjpe, Math.min(...vals));
  assert.equal(l.meta.valMpjpe, vals[vals.length - 1]);
  assert.ok(b.optimizer, "the best file resumes too");
  await assert.rejects(() => trainLifter(base(out, { best: out, maxSteps: 1 })), /--best must name another/);
  await Deno.remove(tmp, { recursive: true });
});

for (
  const [model, config] of [
    ["dual_channel", { linear_size: 32, num_stage: 1, refine_size: 32 }],
    ["srnet", { channels: 40, filter_widths: [1, 1, 1] }],
    ["videopose", { channels: 32, filter_widths: [3, 3] }],
  ] as const
) {
  Deno.test(`${model} trains a few steps on the tiny folder (loss finite and falling)`, async () => {
    const tmp = await Deno.makeTempDir();
    const out = join(tmp, "m.safetensors");
    const r = await trainLifter(
      base(out, {
        model,
        config: config as Record<string, unknown>,
        maxSteps: 24,
        input: "sh",
        valStride: 4,
      }),
    );
    assert.ok(r.losses.every(Number.isFinite));
    const first = r.losses.slice(0, 4).reduce((a, b) => a + b) / 4;
    const last = r.losses.slice(-4).reduce((a, b) => a + b) / 4;
    assert.ok(last < first, `${model}: loss ${first} → ${last}`);
    const ck = await loadCheckpoint(out);
    assert.equal(ck.meta.normalization.kind, model === "dual_channel" ? "zscore" : "screen");
    assert.ok(Number.isFinite(ck.meta.valMpjpe!));
    await Deno.remove(tmp, { recursive: true });
  });
}

Deno.test("posegpu train + eval h36m --json on the tiny folder", async () => {
  const tmp = await Deno.makeTempDir();
  const out = join(tmp, "cli.safetensors");
  const quiet = console.error;
  console.error = () => {};
  const logged: string[] = [];
  const log = console.log;
  try {
    const code = await main([
      "train",
      "martinez",
      "--data",
      dir,
      "--train-subjects",
      "S1,S5",
      "--input",
      "gt",
      "--epochs",
      "1",
      "--batch",
      "32",
      "--out",
      out,
      "--config",
      "linear_size=32",
      "num_stage=1",
    ]);
    assert.equal(code, 0);
    console.log = (s: string) => logged.push(s);
    const code2 = await main(["eval", "h36m", "--data", dir, "--subjects", "S8", "--weights", out, "--json"]);
    assert.equal(code2, 0);
    // Rarest 25% by occurrence in the training subjects, with a per-action chart.
    const svg = join(tmp, "chart.svg");
    const code3 = await main([
      "eval",
      "h36m",
      "--data",
      dir,
      "--subjects",
      "S8",
      "--weights",
      out,
      "--json",
      "--rare",
      "25",
      "--train-subjects",
      "S1,S5",
      "--svg",
      svg,
    ]);
    assert.equal(code3, 0);
    assert.match(await Deno.readTextFile(svg), /<svg[\s\S]*MPJPE/);
    const args4 = ["eval", "h36m", "--data", dir, "--subjects", "S8", "--weights", out, "--json", "--joints"];
    assert.equal(await main(args4), 0);
    // --train-subjects / --train-data belong to --rare: alone they are a clear input error.
    const errors: string[] = [];
    console.error = (s: string) => errors.push(s);
    const args = ["eval", "h36m", "--data", dir, "--subjects", "S8", "--weights", out, "--json"];
    assert.equal(await main([...args, "--train-subjects", "S1"]), 1);
    assert.equal(await main([...args, "--train-data", dir]), 1);
    assert.equal(errors.length, 2);
    assert.ok(
      errors.every((e) => /--train-data and --train-subjects only apply with --rare/.test(e)),
      errors[0],
    );
  } finally {
    console.error = quiet;
    console.log = log;
  }
  assert.equal(logged.length, 3);
  const joints = JSON.parse(logged[2]);
  assert.deepEqual(Object.keys(joints), ["mpjpe", "p_mpjpe", "frames", "joints"]);
  assert.deepEqual(Object.keys(joints.joints), ["per_joint", "hard_joints", "bone_length"]);
  assert.equal(Object.keys(joints.joints.per_joint).length, 17);
  assert.equal(joints.joints.per_joint.Hip, 0);
  assert.equal(Object.keys(joints.joints.bone_length.per_segment).length, 8);
  // The per-joint means pool the same frames as MPJPE (every action here has the same frame count per
  // unit, so the mean over joints of the pooled means is close to the action average).
  const perJoint = Object.values(joints.joints.per_joint) as number[];
  const meanJ = perJoint.reduce((a, b) => a + b, 0) / 17;
  assert.ok(
    Math.abs(meanJ - joints.mpjpe.average) < 0.05 * joints.mpjpe.average,
    `${meanJ} vs ${joints.mpjpe.average}`,
  );
  const rare = JSON.parse(logged[1]);
  assert.equal(rare.frames, Math.round(0.25 * 2 * 96 * 2));
  const json = JSON.parse(logged[0]);
  assert.deepEqual(Object.keys(json), ["mpjpe", "p_mpjpe", "frames"]);
  assert.deepEqual(Object.keys(json.mpjpe), ["average", "per_action"]);
  assert.deepEqual(Object.keys(json.mpjpe.per_action).sort(), ["Directions", "Walking"]);
  assert.equal(json.frames, 2 * 96 * 2);
  assert.ok(json.p_mpjpe.average <= json.mpjpe.average + 1e-9);
  await Deno.remove(tmp, { recursive: true });
});
