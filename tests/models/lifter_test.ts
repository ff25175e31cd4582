// Checkpoint format (round trip, validation listing every problem) and the Lifter API against a manual
// forward of the same network: z-score (Martinez), screen-normalised single frame (SRNet) and temporal
// (VideoPose3D) models; missing-joint filling and the "auto" input mapping.
import assert from "node:assert/strict";
import { initEngine, InputError, readSafetensors, tensor } from "../../engine/mod.ts";
import { manualSeed, Rng } from "../../engine/random.ts";
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  checkpointMetadata,
  expectedJoints,
  exportCheckpoint,
  loadCheckpoint,
  type Normalization,
  parseCheckpointMeta,
  saveCheckpoint,
} from "../../models/checkpoint.ts";
import { loadLifter } from "../../models/lifter.ts";
import { createModel } from "../../models/registry.ts";
import { decodeOutput, encodeInput } from "../../models/training/codec.ts";
import { sharedData } from "../_shared.ts";

await initEngine();

const rng = new Rng(5);
const MEAN_POSE = [
  [500, 500],
  [470, 500],
  [470, 600],
  [470, 700],
  [530, 500],
  [530, 600],
  [530, 700],
  [500, 440],
  [500, 380],
  [500, 360],
  [500, 340],
  [540, 390],
  [560, 450],
  [570, 500],
  [460, 390],
  [440, 450],
  [430, 500],
];

function poses(frames: number, noise = 15): Float32Array {
  const out = new Float32Array(frames * 34);
  for (let f = 0; f < frames; f++) {
    for (let j = 0; j < 17; j++) {
      out[f * 34 + 2 * j] = MEAN_POSE[j][0] + rng.normal() * noise;
      out[f * 34 + 2 * j + 1] = MEAN_POSE[j][1] + rng.normal() * noise;
    }
  }
  return out;
}

function zscoreNorm(): Normalization {
  const inMean: number[] = [], inStd: number[] = [];
  for (let j = 0; j < 17; j++) {
    if (j === 9) continue;
    inMean.push(MEAN_POSE[j][0], MEAN_POSE[j][1]);
    inStd.push(40, 50);
  }
  return {
    kind: "zscore",
    input: { mean: inMean, std: inStd },
    output: {
      mean: Array.from({ length: 48 }, (_, i) => (i % 3 === 1 ? 100 - 10 * i : 5)),
      std: Array(48).fill(120),
    },
    input2d: { root: [500, 500], scale: 120, image: { width: 1000, height: 1000 } },
  };
}

function metaFor(
  model: string,
  config: Record<string, unknown>,
  normalization: Normalization,
): CheckpointMeta {
  return {
    model,
    config,
    input: "gt",
    normalization,
    ...expectedJoints(model, config),
    units: "mm",
    data: "test",
    trainSubjects: ["S1", "S5"],
    valSubjects: ["S8"],
    epoch: 3,
    step: 120,
    valMpjpe: 87.5,
    seed: 9,
  };
}

async function writeModel(
  model: string,
  config: Record<string, unknown>,
  normalization: Normalization,
  options: { dtype?: "F32" | "F16" } = {},
): Promise<{ path: string; meta: CheckpointMeta }> {
  manualSeed(11);
  const m = createModel(model, config);
  const meta = metaFor(model, { ...m.config }, normalization);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await saveCheckpoint(path, { meta, stateDict: await m.stateDict() }, options);
  m.dispose();
  return { path, meta };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("checkpoint round trip: metadata, state dict and optimiser state", async () => {
  const { path, meta } = await writeModel("martinez", { linear_size: 32, num_stage: 1 }, zscoreNorm());
  const ck = await loadCheckpoint(path);
  assert.deepEqual({ ...ck.meta, extra: undefined }, { ...meta, extra: undefined });
  assert.equal(ck.meta.jointsIn.length, 16);
  assert.ok(!ck.meta.jointsIn.includes("Neck/Nose"));
  assert.ok(!ck.meta.jointsOut.includes("Hip"));
  assert.equal(ck.optimizer, null);
  const raw = await readSafetensors(path);
  assert.equal(raw.metadata.format, CHECKPOINT_FORMAT);
  assert.equal(raw.metadata.units, "mm");
  // With optimiser moments and as F16.
  const m = new Map([["w1.weight", new Float32Array(32 * 32).fill(0.5)]]);
  const v = new Map([["w1.weight", new Float32Array(32 * 32).fill(0.25)]]);
  const p2 = await Deno.makeTempFile({ suffix: ".safetensors" });
  await saveCheckpoint(p2, { meta, stateDict: ck.stateDict }, {
    dtype: "F16",
    optimizer: { step: 120, m, v },
  });
  const ck2 = await loadCheckpoint(await Deno.readFile(p2));
  assert.equal(ck2.optimizer!.step, 120);
  assert.deepEqual(ck2.optimizer!.m.get("w1.weight"), m.get("w1.weight"));
  assert.equal((await readSafetensors(p2)).tensors.get("w1.weight")!.dtype, "F16");
  assert.ok(
    maxDiff(
      ck2.stateDict.get("w1.weight")!.data as Float32Array,
      ck.stateDict.get("w1.weight")!.data as Float32Array,
    ) < 1e-3,
  );
  // Export for shipping: F16, no optimiser state, extra metadata kept.
  const p3 = await Deno.makeTempFile({ suffix: ".safetensors" });
  await exportCheckpoint(p2, p3, { extra: { license: "research only" } });
  const ck3 = await loadCheckpoint(p3);
  assert.equal(ck3.optimizer, null);
  assert.equal(ck3.meta.extra?.license, "research only");
  assert.equal(ck3.meta.step, 120);
  assert.equal((await readSafetensors(p3)).tensors.get("w1.weight")!.dtype, "F16");
  for (const p of [path, p2, p3]) await Deno.remove(p);
});

Deno.test("checkpoint validation lists every mismatch in one error", () => {
  const meta = checkpointMetadata(metaFor("martinez", { linear_size: 32 }, zscoreNorm()));
  // Swap two input joints, drop the normalisation, break the units.
  const names = meta.joints_in.split(",");
  [names[1], names[4]] = [names[4], names[1]];
  const bad = { ...meta, joints_in: names.join(","), units: "m" } as Record<string, string>;
  delete bad.normalization;
  let err: unknown;
  try {
    parseCheckpointMeta(bad, "bad.safetensors");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InputError);
  const msg = (err as Error).message;
  assert.match(msg, /bad\.safetensors/);
  assert.match(msg, /3 problems/);
  assert.match(msg, /"normalization"/);
  assert.match(msg, /joints_in.*first difference at position 1: "LHip" instead of "RHip"/s);
  assert.match(msg, /"units" is "m"/);
  // Wrong statistic lengths and an unknown model are reported too.
  const n = zscoreNorm();
  if (n.kind === "zscore") n.input.mean.pop();
  assert.throws(
    () => parseCheckpointMeta({ ...meta, normalization: JSON.stringify(n) }, "x"),
    /normalization\.input\.mean must be 32/,
  );
  assert.throws(() => parseCheckpointMeta({ ...meta, model: "nope" }, "x"), /"model" is "nope"/);
  assert.throws(() => parseCheckpointMeta({ ...meta, format: "other/2" }, "x"), /"format" is "other\/2"/);
});

Deno.test("lifter (martinez) equals the manual z-score forward, batches streamed", async () => {
  const config = { linear_size: 64, num_stage: 2 };
  const { path, meta } = await writeModel("martinez", config, zscoreNorm());
  const lifter = await loadLifter(path);
  const kp = poses(37);
  const out = await lifter.lift(kp, { batchSize: 8 });
  assert.equal(out.length, 37 * 51);
  const ck = await loadCheckpoint(path);
  const model = createModel("martinez", meta.config);
  await model.loadStateDict(ck.stateDict);
  const rows = encodeInput("martinez", {
    config: meta.config,
    normalization: meta.normalization,
    input2d: kp,
  });
  const y = model.forward(tensor(rows, [37, 32]));
  const manual = decodeOutput("martinez", {
    config: meta.config,
    normalization: meta.normalization,
    output: await y.read(),
  });
  assert.ok(maxDiff(out, manual) < 1e-2, `lift vs manual ${maxDiff(out, manual)}`);
  for (let f = 0; f < 37; f++) assert.deepEqual([...out.subarray(f * 51, f * 51 + 3)], [0, 0, 0]);
  // Neck/Nose is not an input of this model: changing it changes nothing.
  const moved = new Float32Array(kp);
  moved[18] += 100;
  assert.ok(maxDiff(await lifter.lift(moved.subarray(0, 34)), out.subarray(0, 51)) < 1e-3);
  assert.equal(lifter.lastReport!.filledJoints, 0);
  lifter.dispose();
  model.dispose();
  await Deno.remove(path);
});

Deno.test("lifter fills masked joints and reports them; auto mode is similarity invariant", async () => {
  const { path } = await writeModel("martinez", { linear_size: 32, num_stage: 1 }, zscoreNorm());
  const lifter = await loadLifter(path);
  const kp = poses(4);
  const mask = new Uint8Array(4 * 17).fill(1);
  mask[0 * 17 + 13] = 0; // LWrist of frame 0
  mask[1 * 17 + 9] = 0; // Neck/Nose of frame 1: not an input of this model, not counted
  mask.fill(0, 2 * 17, 3 * 17); // all of frame 2
  kp[3 * 34 + 6] = NaN; // RFoot x of frame 3
  const out = await lifter.lift(kp, { mask });
  assert.ok(out.every(Number.isFinite));
  assert.deepEqual(lifter.lastReport, {
    frames: 4,
    filledJoints: 1 + 16 + 1,
    framesWithMissing: 3,
    emptyFrames: 1,
    remapped: 0,
  });
  // A scaled and shifted copy of a pose lifts to the same 3D in auto mode.
  const one = poses(1);
  const other = one.map((v, i) => v * 0.4 + (i % 2 ? 37 : 1200));
  const a = await lifter.lift(one, { normalizeInput: "auto" });
  const b = await lifter.lift(other, { normalizeInput: "auto" });
  assert.ok(maxDiff(a, b) < 1e-2, `auto ${maxDiff(a, b)}`);
  assert.equal(lifter.lastReport!.remapped, 1);
  await assert.rejects(() => lifter.lift(new Float32Array(33)), InputError);
  await assert.rejects(() => lifter.lift(one, { mask: new Uint8Array(3) }), /mask has 3 values/);
  lifter.dispose();
  await Deno.remove(path);
});

const SCREEN: Normalization = {
  kind: "screen",
  outputScale: 1000,
  input2d: {
    root: [500, 500],
    scale: 120,
    image: { width: 1000, height: 1002 },
    meanPose: MEAN_POSE.flat(),
  },
};

Deno.test("lifter (srnet single frame, screen normalisation) equals the manual forward", async () => {
  const config = { channels: 40, filter_widths: [1, 1, 1] };
  const { path, meta } = await writeModel("srnet", config, SCREEN);
  const lifter = await loadLifter(path, { fold: false });
  const kp = poses(9);
  const out = await lifter.lift(kp, { image: { width: 1000, height: 1000 }, batchSize: 4 });
  const model = createModel("srnet", meta.config);
  await model.loadStateDict((await loadCheckpoint(path)).stateDict);
  const x = kp.map((v, i) => (i % 2 === 0 ? (v / 1000) * 2 - 1 : (v / 1000) * 2 - 1));
  const y = await model.forward(tensor(x, [9, 1, 17, 2])).read();
  const manual = new Float32Array(y.length);
  for (let f = 0; f < 9; f++) {
    for (let j = 0; j < 17; j++) {
      for (let c = 0; c < 3; c++) manual[f * 51 + j * 3 + c] = (y[f * 51 + j * 3 + c] - y[f * 51 + c]) * 1000;
    }
  }
  assert.ok(maxDiff(out, manual) < 1e-2, `srnet ${maxDiff(out, manual)}`);
  lifter.dispose();
  model.dispose();
  await Deno.remove(path);
});

Deno.test("lifter flipTest averages the lift with the mirrored-back lift of the mirrored input", async () => {
  const config = { channels: 40, filter_widths: [1, 1, 1] };
  const { path } = await writeModel("srnet", config, SCREEN);
  const lifter = await loadLifter(path);
  const kp = poses(6);
  const mask = Float32Array.from({ length: 6 * 17 }, (_, i) => (i % 17 === 12 && i < 17 ? 0 : 1));
  const image = { width: 1000, height: 1000 };
  const plain = await lifter.lift(kp, { image, mask });
  // Mirror by hand: x → 1000 − x, joints of H36M-17's left/right pairs swapped (LElbow 12 ↔ RElbow 15).
  const pairs = [[4, 1], [5, 2], [6, 3], [11, 14], [12, 15], [13, 16]];
  const swap = (j: number) => pairs.find((p) => p.includes(j))?.find((k) => k !== j) ?? j;
  const m2 = new Float32Array(kp.length), mm = new Float32Array(mask.length);
  for (let f = 0; f < 6; f++) {
    for (let j = 0; j < 17; j++) {
      const s = swap(j);
      m2[f * 34 + 2 * j] = 1000 - kp[f * 34 + 2 * s];
      m2[f * 34 + 2 * j + 1] = kp[f * 34 + 2 * s + 1];
      mm[f * 17 + j] = mask[f * 17 + s];
    }
  }
  const back = await lifter.lift(m2, { image, mask: mm });
  const want = new Float32Array(plain.length);
  for (let f = 0; f < 6; f++) {
    for (let j = 0; j < 17; j++) {
      const s = swap(j);
      for (let c = 0; c < 3; c++) {
        const b = back[f * 51 + s * 3 + c] * (c === 0 ? -1 : 1);
        want[f * 51 + j * 3 + c] = (plain[f * 51 + j * 3 + c] + b) / 2;
      }
    }
  }
  const got = await lifter.lift(kp, { image, mask, flipTest: true });
  assert.ok(maxDiff(got, want) < 1e-3, `flip test ${maxDiff(got, want)}`);
  assert.ok(maxDiff(got, plain) > 1e-2, "an untrained network is not mirror-symmetric");
  assert.equal(lifter.lastReport?.frames, 6, "the report counts the caller's frames once");
  lifter.dispose();
  await Deno.remove(path);
});

Deno.test("lifter rejects SRNet norm=lcn (its outputs need the repository's camera post-processing)", async () => {
  const { path } = await writeModel("srnet", { channels: 40, norm: "lcn" }, SCREEN);
  await assert.rejects(
    () => loadLifter(path),
    (e: Error) =>
      e instanceof InputError && /srnet config norm=lcn: lifting to mm supports norm=base/.test(e.message),
  );
  await Deno.remove(path);
});

Deno.test("lifter (videopose, temporal) equals per-frame windows with repeated edges", async () => {
  const config = { channels: 32, filter_widths: [3, 3] };
  const { path, meta } = await writeModel("videopose", config, SCREEN);
  const lifter = await loadLifter(path);
  const frames = 11, rf = 9;
  const kp = poses(frames);
  const out = await lifter.lift(kp, { batchSize: 4 });
  const model = createModel("videopose", meta.config);
  await model.loadStateDict((await loadCheckpoint(path)).stateDict);
  const enc = encodeInput("videopose", { config: meta.config, normalization: SCREEN, input2d: kp });
  for (const f of [0, 3, 10]) {
    const win = new Float32Array(rf * 34);
    for (let t = 0; t < rf; t++) {
      const s = Math.min(Math.max(f - 4 + t, 0), frames - 1);
      win.set(enc.subarray(s * 34, s * 34 + 34), t * 34);
    }
    const y = await model.forward(tensor(win, [1, rf, 17, 2])).read();
    const manual = decodeOutput("videopose", { config: meta.config, normalization: SCREEN, output: y });
    assert.ok(maxDiff(out.subarray(f * 51, f * 51 + 51), manual) < 1e-2, `frame ${f}`);
  }
  lifter.dispose();
  model.dispose();
  await Deno.remove(path);
});

Deno.test("shipped weights lift real Human3.6M frames (needs ../shared/data)", async () => {
  const data = sharedData("h36m/S8.safetensors");
  if (!data) return;
  const { loadH36mPoses } = await import("../../models/training/h36m_data.ts");
  const { meanMpjpe } = await import("../../models/training/codec.ts");
  const dir = data.replace(/\/S8\.safetensors$/, "");
  for (const [input, bound] of [["gt", 80], ["sh", 95]] as const) {
    const weights = new URL(`../../weights/martinez_${input}.safetensors`, import.meta.url);
    try {
      Deno.statSync(weights);
    } catch {
      console.warn(`skipping: ${weights.pathname} is absent`);
      continue;
    }
    const set = await loadH36mPoses(dir, { subjects: ["S8"], input });
    // Every 50th sample of S8 (a training subject: this checks the pipeline, not generalisation).
    const idx = Array.from({ length: Math.floor(set.count / 50) }, (_, i) => i * 50);
    const kp = new Float32Array(idx.length * 34), gt = new Float32Array(idx.length * 51);
    idx.forEach((s, i) => {
      kp.set(set.input2d.subarray(s * 34, s * 34 + 34), i * 34);
      gt.set(set.target3d.subarray(s * 51, s * 51 + 51), i * 51);
    });
    const lifter = await loadLifter(await Deno.readFile(weights));
    assert.equal(lifter.meta.input, input);
    const err = meanMpjpe(await lifter.lift(kp), gt);
    assert.ok(err < bound, `${input}: MPJPE ${err.toFixed(1)} mm ≥ ${bound}`);
    lifter.dispose();
  }
});
