// A device error in the middle of a GPU run (engine/device.ts `reportDeviceError`, or the device destroyed)
// ends the command with exit 2 and a message, promptly (no hang), and writes no output.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { writeSafetensors } from "../../engine/safetensors.ts";
import { assertCleanFailure, type CliResult } from "./_cli.ts";
import { type Fault, runWithFault } from "./_fault.ts";

const WEIGHTS = fileURLToPath(new URL("../fixtures/models_martinez_small.safetensors", import.meta.url));
const ORIGINAL = "ORIGINAL CONTENT\n";

/** `posegpu ARGS` with a fault at dispatch `after` (see _fault_main.ts); killed after 120 s (a hang). */
function faulty(args: string[], fault: Fault): Promise<CliResult & { dispatches: number }> {
  return runWithFault(args, fault);
}

Deno.test("cli run: a device error or a lost device mid-run exits 2, writes no output, does not hang", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_cli_fault_" });
  try {
    const input = `${dir}/x.safetensors`;
    await writeSafetensors(input, {
      input: { shape: [8, 32], data: new Float32Array(256).map((_, i) => Math.sin(i)) },
    });
    const args = (
      out: string,
    ) => ["run", "martinez", "--weights", WEIGHTS, "--input", input, "--output", out];
    // Without a fault: how many dispatches a whole run records.
    const clean = await faulty(args(`${dir}/clean.safetensors`), { kind: "error", after: 1e9 });
    assert.equal(clean.code, 0, clean.err);
    assert.ok(clean.dispatches >= 4, `dispatches of a clean run: ${clean.dispatches}`);
    await Deno.stat(`${dir}/clean.safetensors`);
    const mid = Math.ceil(clean.dispatches / 2);
    await Deno.writeTextFile(`${dir}/kept.safetensors`, ORIGINAL);
    for (const kind of ["error", "lost"] as const) {
      for (const out of ["kept.safetensors", "new.safetensors"]) {
        const r = await faulty(args(`${dir}/${out}`), { kind, after: mid });
        assertCleanFailure(r, { code: 2, names: /WebGPU/, what: `device ${kind} at dispatch ${mid}` });
        assert.ok(
          r.dispatches >= mid,
          `the fault came mid-run (${r.dispatches} of ${clean.dispatches} dispatches)`,
        );
      }
      assert.equal(await Deno.readTextFile(`${dir}/kept.safetensors`), ORIGINAL, `${kind}: output changed`);
      await assert.rejects(
        () => Deno.stat(`${dir}/new.safetensors`),
        Deno.errors.NotFound,
        `${kind}: output written`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
