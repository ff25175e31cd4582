// A lost device (here: destroyed mid-run, as a driver reset would) fails the readbacks in flight with an
// EnvironmentError instead of hanging, and every later engine call throws at once; an uncaptured error is
// thrown once by the next call and the engine then goes on. Its own file: the device does not come back.
import assert from "node:assert/strict";
import { backend, EnvironmentError, initEngine, ops, tensor, tidy } from "../../engine/mod.ts";
import { reportDeviceError } from "../../engine/device.ts";

await initEngine();

async function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("an uncaptured error is thrown once by the next readback; nothing leaks; the engine then works", async () => {
  const x = tensor(Float32Array.of(1, -2, 3), [3]);
  const base = backend().getStats();
  reportDeviceError(new EnvironmentError("WebGPU error: simulated (test)"));
  // Recording goes on (a kernel is never cut off half-way with its temporaries live) ...
  const y = tidy(() => ops.relu(ops.affine(x, { scale: 2 })));
  // ... and the readback (or submit) throws the error, dropping the failed work.
  await assert.rejects(
    () => y.read(),
    (e: Error) => e instanceof EnvironmentError && /simulated/.test(e.message),
  );
  y.dispose();
  assert.equal(backend().getStats().liveBuffers, base.liveBuffers);
  const z = tidy(() => ops.relu(x));
  assert.deepEqual([...await z.read()], [1, 0, 3]);
  x.dispose();
  z.dispose();
});

Deno.test("a device lost mid-readback fails the waits in flight and every later call, never hangs", async () => {
  const be = backend();
  // Enough work that the readbacks are still in flight when the device goes.
  const a = tensor(new Float32Array(512 * 512).fill(0.5), [512, 512]);
  const ys = Array.from({ length: 6 }, () => tidy(() => ops.matmul(a, a)));
  const reads = ys.map((y) => y.read());
  be.device.destroy();
  const results = await settlesWithin(Promise.allSettled(reads), 20_000, "readbacks in flight");
  // Each read either finished before the loss or failed with an EnvironmentError; none hangs.
  for (const r of results) {
    if (r.status === "rejected") {
      assert.ok(r.reason instanceof EnvironmentError, `rejected with ${r.reason}`);
      assert.match(r.reason.message, /WebGPU device lost|WebGPU readback failed/);
    }
  }
  const failed = results.filter((r) => r.status === "rejected").length;
  console.log(`${failed} of ${results.length} readbacks in flight failed with the device`);
  assert.ok(failed >= 1, "no readback was still in flight: the test did not test the race");
  // Later calls: the next readback or submit, at once, an EnvironmentError (exit code 2 in the CLI).
  const t0 = performance.now();
  const late = tidy(() => ops.relu(tensor(Float32Array.of(1), [1])));
  await assert.rejects(() => settlesWithin(late.read(), 5_000, "read after the loss"), EnvironmentError);
  assert.throws(() => be.flush(), EnvironmentError);
  await assert.rejects(() => settlesWithin(a.read(), 5_000, "read after the loss"), EnvironmentError);
  await assert.rejects(() => settlesWithin(be.sync(), 5_000, "sync after the loss"), EnvironmentError);
  assert.ok(performance.now() - t0 < 5_000);
  // No wait is left registered on the dead device.
  assert.equal((be as unknown as { lostWaiters: Set<unknown> }).lostWaiters.size, 0);
});
