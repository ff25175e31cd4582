// Every registered command answers --help with usage and examples (exit 0), the top-level help lists
// them all, an unknown command exits 1, and mod.ts's JSDoc examples run (`deno test --doc`).
import assert from "node:assert/strict";
import { COMMANDS } from "../../cli/main.ts";
import { posegpu, ROOT } from "./_lifter.ts";

Deno.test("cli: posegpu --help lists every command", async () => {
  const r = await posegpu(["--help"]);
  assert.equal(r.code, 0, r.err);
  for (const name of Object.keys(COMMANDS)) assert.match(r.out, new RegExp(`^  ${name} `, "m"), name);
  const unknown = await posegpu(["frobnicate"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown command "frobnicate"/);
});

for (const name of Object.keys(COMMANDS)) {
  Deno.test(`cli: posegpu ${name} --help shows usage and examples`, async () => {
    const r = await posegpu([name, "--help"]);
    assert.equal(r.code, 0, `${name} --help: exit ${r.code}\n${r.err}`);
    assert.match(r.out, new RegExp(`posegpu ${name}`), `${name} --help names the command`);
    assert.match(r.out, /Examples?:/, `${name} --help has examples`);
    // The command's module loads and describes itself consistently.
    const { command } = await COMMANDS[name]();
    assert.equal(command.name, name);
    assert.ok(command.summary.length > 0);
  });
}

Deno.test("mod.ts: the JSDoc examples run (deno test --doc)", async () => {
  // The first example lifts with the shipped weights.
  try {
    Deno.statSync(`${ROOT}weights/martinez_sh.safetensors`);
  } catch {
    console.warn("skipping: weights/martinez_sh.safetensors is absent (mod.ts's lifting example needs it)");
    return;
  }
  const dec = new TextDecoder();
  const once = async () => {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--doc", "mod.ts"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: run.code, out: dec.decode(run.stdout) + dec.decode(run.stderr) };
  };
  let run = await once();
  // About 1 run in 12 here (before and after 2026-12-07's changes alike) the process aborts in native code
  // after every example has passed ("malloc_consolidate(): unaligned fastbin chunk detected", exit 134,
  // during Deno's WebGPU teardown): that one case runs again once; any failing example still fails.
  if (run.code === 134 && /\| \d+ passed \| 0 failed/.test(run.out) && /malloc|free\(\)/.test(run.out)) {
    console.warn(`deno test --doc aborted at exit after all examples passed; running it again`);
    run = await once();
  }
  assert.equal(run.code, 0, `mod.ts examples failed:\n${run.out}`);
  assert.match(run.out, /passed/);
});
