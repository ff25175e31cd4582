// Lifter.liftStream against Lifter.lift: the streamed chunks, concatenated, equal one lift of the whole
// input (single-frame Martinez with masks and non-finite joints; temporal VideoPose3D whose windows span
// batch boundaries), the report counts the whole stream, and GPU memory does not grow with the stream.
import assert from "node:assert/strict";
import { backend, initEngine, InputError } from "../../engine/mod.ts";
import { manualSeed, Rng } from "../../engine/random.ts";
import {
  type CheckpointMeta,
  expectedJoints,
  type Normalization,
  saveCheckpoint,
} from "../../models/checkpoint.ts";
import { type LiftBatch, loadLifter } from "../../models/lifter.ts";
import { createModel } from "../../models/registry.ts";
import { writeTestCheckpoint } from "../cli/_lifter.ts";

await initEngine();
const rng = new Rng(21);

function poses(frames: number): Float32Array {
  const out = new Float32Array(frames * 34);
  for (let i = 0; i < out.length; i++) out[i] = 500 + rng.normal() * 60;
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits `[frames, 17, 2]` (and its mask) into batches of the given sizes (cycled). */
function* batches(kp: Float32Array, mask: Uint8Array | null, sizes: number[]): Generator<LiftBatch> {
  const frames = kp.length / 34;
  for (let at = 0, k = 0; at < frames; k++) {
    const b = Math.min(sizes[k % sizes.length], frames - at);
    yield {
      keypoints2d: kp.slice(at * 34, (at + b) * 34),
      mask: mask ? mask.slice(at * 17, (at + b) * 17) : undefined,
    };
    at += b;
  }
}

async function collect(it: AsyncIterable<Float32Array>): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const y of it) out.push(y);
  return out;
}

const SCREEN: Normalization = {
  kind: "screen",
  outputScale: 1000,
  input2d: {
    root: [500, 500],
    scale: 120,
    image: { width: 1000, height: 1000 },
    meanPose: Array.from({ length: 34 }, (_, i) => 480 + (i % 7) * 10),
  },
};

async function videoposeCheckpoint(): Promise<string> {
  manualSeed(3);
  const m = createModel("videopose", { channels: 32, filter_widths: [3, 3] });
  const meta: CheckpointMeta = {
    model: "videopose",
    config: { ...m.config },
    input: "gt",
    normalization: SCREEN,
    ...expectedJoints("videopose", m.config),
    units: "mm",
    data: "random (test)",
    trainSubjects: [],
    valSubjects: [],
    epoch: 0,
    step: 0,
    valMpjpe: null,
    seed: 3,
  };
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await saveCheckpoint(path, { meta, stateDict: await m.stateDict() });
  m.dispose();
  return path;
}

Deno.test("liftStream (martinez) equals lift of the whole input; the report counts the stream", async () => {
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await writeTestCheckpoint(path);
  const lifter = await loadLifter(path);
  const frames = 157;
  const kp = poses(frames);
  const mask = new Uint8Array(frames * 17).fill(1);
  for (let f = 0; f < frames; f += 5) mask[f * 17 + (f % 17)] = 0;
  kp[3 * 34 + 8] = NaN; // a non-finite joint counts as missing
  for (const mode of ["h36m-camera", "auto"] as const) {
    const whole = await lifter.lift(kp, { mask, batchSize: 16, normalizeInput: mode });
    const wholeReport = { ...lifter.lastReport! };
    const parts = await collect(lifter.liftStream(batches(kp, mask, [1, 7, 40, 3, 64]), {
      batchSize: 16,
      normalizeInput: mode,
    }));
    assert.equal(parts[0].length, 51, "one output chunk per input batch");
    assert.equal(parts[1].length, 7 * 51);
    const streamed = concat(parts);
    assert.equal(streamed.length, whole.length);
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - streamed[i]));
    // The same network on the same rows; only the batch composition differs (float32 sums).
    assert.ok(maxDiff < 1e-3, `${mode}: max |lift - liftStream| = ${maxDiff} mm`);
    assert.deepEqual(lifter.lastReport, wholeReport);
    assert.equal(wholeReport.frames, frames);
    assert.ok(wholeReport.filledJoints >= 30, `filled ${wholeReport.filledJoints}`);
  }
  // An async source of bare arrays works too, and a bad batch is named.
  async function* asyncSource(): AsyncGenerator<Float32Array> {
    yield kp.slice(0, 34 * 4);
    yield new Float32Array(0); // empty batches are skipped
    yield kp.slice(34 * 4, 34 * 10);
  }
  assert.equal(concat(await collect(lifter.liftStream(asyncSource()))).length, 10 * 51);
  await assert.rejects(
    () => collect(lifter.liftStream([kp.slice(0, 34), new Float32Array(33)])),
    (e: Error) => e instanceof InputError && /batch 1/.test(e.message) && /33 values/.test(e.message),
  );
  lifter.dispose();
  await Deno.remove(path);
});

Deno.test("liftStream (videopose, receptive field 9) equals lift: windows span batch boundaries", async () => {
  const path = await videoposeCheckpoint();
  const lifter = await loadLifter(path);
  for (const frames of [3, 11, 40]) {
    const kp = poses(frames);
    const whole = await lifter.lift(kp, { batchSize: 8 });
    for (const sizes of [[1], [2, 5], [40]]) {
      const parts = await collect(lifter.liftStream(batches(kp, null, sizes), { batchSize: 8 }));
      const streamed = concat(parts);
      assert.equal(streamed.length, frames * 51, `${frames} frames, batches ${sizes}`);
      let maxDiff = 0;
      for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - streamed[i]));
      assert.ok(maxDiff < 1e-3, `${frames} frames, batches ${sizes}: max diff ${maxDiff} mm`);
      assert.equal(lifter.lastReport!.frames, frames);
    }
  }
  lifter.dispose();
  await Deno.remove(path);
});

// A long stream: GPU live memory stays at the model's weights plus one batch (the JS heap under a cap:
// tests/pose/stream_heap_test.ts). POSEGPU_LONG=1: 10^6 poses; otherwise 3·10^4 (same checks).
Deno.test("liftStream over a long generated stream keeps GPU memory bounded", async () => {
  const long = Deno.env.get("POSEGPU_LONG") === "1";
  const total = long ? 1_000_000 : 30_000;
  const batch = 2048;
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await writeTestCheckpoint(path);
  const lifter = await loadLifter(path);
  const template = poses(batch);
  let produced = 0;
  function* source(): Generator<Float32Array> {
    while (produced < total) {
      const b = Math.min(batch, total - produced);
      const kp = template.slice(0, b * 34);
      for (let i = 0; i < kp.length; i += 34) kp[i] += (produced % 97) * 0.5;
      produced += b;
      yield kp;
    }
  }
  const be = backend();
  await lifter.lift(template.slice(0, 34 * batch), { batchSize: batch }); // warm the pool and pipelines
  const base = be.getStats();
  be.resetPeak();
  let lifted = 0, checksum = 0;
  for await (const y of lifter.liftStream(source(), { batchSize: batch })) {
    lifted += y.length / 51;
    checksum += y[y.length - 1];
  }
  const end = be.getStats();
  assert.equal(lifted, total);
  assert.ok(Number.isFinite(checksum));
  assert.equal(end.liveBuffers, base.liveBuffers, "live GPU buffers after the stream");
  assert.equal(end.liveBytes, base.liveBytes, "live GPU bytes after the stream");
  // Peak: the weights plus at most one batch's activations (input, 64-wide hidden layers, output).
  const perBatch = batch * 4 * (32 + 64 * 3 + 48);
  assert.ok(
    end.peakLiveBytes - base.liveBytes <= 2 * perBatch,
    `peak live bytes ${end.peakLiveBytes - base.liveBytes} over ${2 * perBatch}`,
  );
  assert.ok(
    end.allocatedBytes <= base.allocatedBytes + 2 * perBatch,
    "the pool did not grow with the stream",
  );
  console.log(
    `${total} poses: GPU live +${end.liveBytes - base.liveBytes} B, peak +${
      end.peakLiveBytes - base.liveBytes
    } B`,
  );
  lifter.dispose();
  await Deno.remove(path);
});
