/**
 * For tests/pose/stream_heap_test.ts: lifts every person-frame of a CSV or pose JSON file with
 * `streamPoseFile` → H36M-17 → `Lifter.liftStream`, in a process whose heap is capped by the test
 * (`--max-old-space-size`), and prints one JSON line: poses lifted, a checksum, the gc'd heap samples.
 * `deno run -A --v8-flags=--expose-gc,--max-old-space-size=64 _stream_lift_main.ts FILE WEIGHTS [whole]`
 * (`whole`: read the file with readPoseDocument instead, to show that the cap is tight for that;
 * `generated`: FILE is a number of synthetic poses to stream, no file read).
 * @module
 */

import { initEngine } from "../../engine/backend.ts";
import { type LiftBatch, loadLifter } from "../../models/lifter.ts";
import { convertKeypoints2D } from "../../pose/convert.ts";
import { readPoseDocument } from "../../pose/formats/detect.ts";
import { streamPoseFile } from "../../pose/formats/stream.ts";

const [file, weights, mode] = Deno.args;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
await initEngine();
const lifter = await loadLifter(weights);
const heap: number[] = [];
let batches = 0;
async function* source(): AsyncGenerator<LiftBatch> {
  if (mode === "generated") {
    // FILE is a pose count: synthetic [4096, 17, 2] batches, no file at all.
    const total = Number(file);
    for (let at = 0; at < total; at += 4096) {
      const b = Math.min(4096, total - at);
      const kp = new Float32Array(b * 34);
      for (let i = 0; i < kp.length; i++) kp[i] = 500 + 80 * Math.sin(i * 0.37 + at * 1e-3);
      if (batches++ % 16 === 0) {
        gc();
        heap.push(Deno.memoryUsage().heapUsed);
      }
      yield { keypoints2d: kp };
    }
    return;
  }
  if (mode === "whole") {
    const doc = await readPoseDocument(file);
    for (const p of doc.people) {
      const k = convertKeypoints2D(p.keypoints2d!, "h36m17", { minScore: 0 });
      yield { keypoints2d: k.coords, mask: k.mask };
    }
    return;
  }
  for await (const b of streamPoseFile(file, { batchSize: 4096 })) {
    const k = convertKeypoints2D(b.keypoints2d!, "h36m17", { minScore: 0 });
    if (batches++ % 4 === 0) {
      gc();
      heap.push(Deno.memoryUsage().heapUsed);
    }
    yield { keypoints2d: k.coords, mask: k.mask };
  }
}
const t0 = performance.now();
let poses = 0, checksum = 0;
for await (const y of lifter.liftStream(source(), { batchSize: 4096, normalizeInput: "auto" })) {
  poses += y.length / 51;
  for (let i = 0; i < y.length; i += 51 * 97) checksum += y[i + 50];
}
gc();
heap.push(Deno.memoryUsage().heapUsed);
lifter.dispose();
console.log(JSON.stringify({ poses, checksum, heap, seconds: (performance.now() - t0) / 1000 }));
