// `posegpu lift` hit by a device error or a lost device mid-run (tests/cli/_fault_main.ts) exits 2 with
// a message, promptly, and writes nothing: a new output is not created, an existing one keeps its bytes,
// and no temporary file is left in the output folder. `--batch-size 64` makes a run many submits.
import assert from "node:assert/strict";
import { join } from "node:path";
import { h36mPoses2d, writeTestCheckpoint } from "./_lifter.ts";
import { assertCleanFailure, type CliResult } from "./_cli.ts";
import { type Fault, runWithFault } from "./_fault.ts";
import { poseJsonText } from "../../pose/formats/pose_json.ts";

function lift(args: string[], fault: Fault): Promise<CliResult & { dispatches: number }> {
  return runWithFault(["lift", ...args], fault);
}

Deno.test("lift: a device fault mid-run exits 2 and writes no output (new or existing, JSON or viewer)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_lift_fault_" });
  try {
    const weights = join(dir, "w.safetensors");
    await writeTestCheckpoint(weights);
    const frames = 640, J = 17;
    const coords = new Float32Array(frames * J * 2).map((_, i) => 450 + 100 * Math.sin(i * 0.37));
    const doc = h36mPoses2d(coords, { image: { width: 1000, height: 1000 } });
    const input = join(dir, "in.json");
    await Deno.writeTextFile(input, poseJsonText(doc));
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const args = (
      o: string,
    ) => [input, "--weights", weights, "--batch-size", "64", "--out", o, "--view", `${o}.html`];
    const clean = await lift(args(join(out, "clean.json")), { kind: "error", after: 1e9 });
    assert.equal(clean.code, 0, clean.err);
    assert.ok(clean.dispatches >= 20, `dispatches of a clean run: ${clean.dispatches}`);
    const kept = join(out, "kept.json");
    for (const kind of ["error", "lost"] as const) {
      const after = Math.round(clean.dispatches / 2);
      for (const name of ["kept.json", "new.json"]) {
        await Deno.writeTextFile(kept, "ORIGINAL\n");
        const t0 = performance.now();
        const r = await lift(args(join(out, name)), { kind, after });
        assertCleanFailure(r, {
          code: 2,
          names: /WebGPU/,
          what: `lift with a device ${kind} at dispatch ${after}`,
        });
        assert.ok(r.dispatches >= after, `the fault came mid-run (${r.dispatches} of ${clean.dispatches})`);
        assert.ok(performance.now() - t0 < 60_000, "no hang");
        assert.equal(await Deno.readTextFile(kept), "ORIGINAL\n", `${kind}: existing output changed`);
      }
      const left = [...Deno.readDirSync(out)].map((e) => e.name).sort();
      assert.deepEqual(
        left,
        ["clean.json", "clean.json.html", "kept.json"],
        `${kind}: files in the output folder`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
