// Long runs do not grow: 10,000 consecutive batch-1 inferences, 1,000 lifts and a 3-epoch training run
// keep the live GPU buffer count and bytes identical from sample to sample (and the pool's allocation
// flat), and the JS heap (read after gc() in a child process with --expose-gc) within a few MiB.
// Each run is a child process (tests/engine/_long_run_main.ts); before the fixes these tests caught,
// a lift leaked 5 activations per batch, validation 10 buffers (0.94 MiB) per epoch, and every readback
// ~0.5 kB of heap (a reaction left on device.lost).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./_long_run_main.ts", import.meta.url));

interface Sample {
  at: number;
  liveBuffers: number;
  liveBytes: number;
  allocatedBuffers: number;
  allocatedBytes: number;
  heap: number;
}

async function longRun(args: string[]): Promise<{ seconds: number; samples: Sample[] }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, `${args.join(" ")} failed:\n${err}`);
  const line = new TextDecoder().decode(r.stdout).trim().split("\n").pop()!;
  return JSON.parse(line);
}

const MiB = 2 ** 20;

function assertFlat(samples: Sample[], what: string, heapMiB: number): void {
  assert.ok(samples.length >= 3, `${what}: ${samples.length} samples`);
  const [first] = samples;
  for (const s of samples) {
    const at = `${what} at ${s.at}`;
    assert.equal(s.liveBuffers, first.liveBuffers, `${at}: live buffers`);
    assert.equal(s.liveBytes, first.liveBytes, `${at}: live bytes`);
    assert.equal(s.allocatedBuffers, first.allocatedBuffers, `${at}: pool buffers`);
    assert.equal(s.allocatedBytes, first.allocatedBytes, `${at}: pool bytes`);
    const grew = (s.heap - first.heap) / MiB;
    assert.ok(grew < heapMiB, `${at}: JS heap grew by ${grew.toFixed(2)} MiB (limit ${heapMiB})`);
  }
  const last = samples[samples.length - 1];
  console.log(
    `${what}: live ${last.liveBuffers} buffers / ${last.liveBytes} B throughout; heap ${
      (first.heap / MiB).toFixed(2)
    } → ${(last.heap / MiB).toFixed(2)} MiB`,
  );
}

Deno.test("10,000 consecutive batch-1 inferences: flat GPU buffers and heap", async () => {
  const r = await longRun(["infer", "10000"]);
  assert.equal(r.samples[r.samples.length - 1].at, 10_200);
  // 2 MiB over 10,200 inferences: 200 bytes each; the leak fixed in Backend.guard cost 529 bytes each.
  assertFlat(r.samples, "inference", 2);
});

Deno.test("1,000 lifts: flat GPU buffers and heap", async () => {
  const r = await longRun(["lift", "1000"]);
  assert.equal(r.samples[r.samples.length - 1].at, 1000);
  assertFlat(r.samples, "lift", 2);
});

Deno.test("3 training epochs: identical live buffers after each epoch, flat heap", async () => {
  const r = await longRun(["train"]);
  const epochs = r.samples.filter((s) => s.at >= 1);
  assert.deepEqual(epochs.map((s) => s.at), [1, 2, 3]);
  assertFlat(epochs, "training", 3);
});
