// The device: info, no-WebGPU handling (exit code 2 with an install hint), and GPU errors surfacing on
// the next call instead of hanging.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { adapterSummary, backend, initEngine, tensor, unary } from "../../engine/mod.ts";

const MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout), err: new TextDecoder().decode(r.stderr) };
}

Deno.test("adapter summary has limits above the spec defaults where the adapter offers them", async () => {
  await initEngine();
  const s = adapterSummary();
  assert.ok(s.description.length > 0);
  assert.ok(s.limits.maxStorageBufferBindingSize >= 134217728);
  assert.equal(backend().device.limits.maxStorageBufferBindingSize, s.limits.maxStorageBufferBindingSize);
});

Deno.test("posegpu info prints adapter, backend, limits and features", async () => {
  const r = await cli(["info", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  for (const k of ["description", "backend", "limits", "features"]) assert.ok(k in j, k);
});

Deno.test("without WebGPU the CLI names what to install and exits 2", async () => {
  const r = await cli(["info"], { POSEGPU_NO_WEBGPU: "1" });
  assert.equal(r.code, 2);
  assert.match(r.err, /mesa-vulkan-drivers/);
  assert.doesNotMatch(r.err, /at .*\.ts:\d+/, "no stack trace");
});

Deno.test("an uncaptured GPU error surfaces on the next engine call", async () => {
  await initEngine();
  const b = backend();
  b.device.pushErrorScope("validation"); // keep the console quiet; then raise one outside a scope
  await b.device.popErrorScope();
  try {
    b.kernel("this is not WGSL", { storageBindings: 0, hasUniform: false, label: "broken" });
  } catch {
    // Some implementations throw at once; others report through the uncapturederror event.
  }
  await new Promise((r) => setTimeout(r, 50));
  await b.device.queue.onSubmittedWorkDone();
  await assert.rejects(async () => {
    const t = tensor([1, 2]);
    await unary(t, "neg").read();
  }, /WebGPU error|WGSL|shader/i);
  // The error is reported once; the engine keeps working afterwards.
  const t = tensor([1, 2]);
  assert.deepEqual([...await unary(t, "neg").read()], [-1, -2]);
});
