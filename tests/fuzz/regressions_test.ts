// Replays every input kept in tests/fuzz/regressions/<parser>/: inputs that once crashed a parser (or
// made it fail without naming the file) must now give a valid result or an InputError naming the file.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runCase } from "./case.ts";
import { judge } from "./harness.ts";
import { TARGETS } from "./targets.ts";

const ROOT = fileURLToPath(new URL("./regressions", import.meta.url));

Deno.test("fuzz regressions: every kept input is handled (valid result or InputError naming the file)", async () => {
  const dir = await Deno.makeTempDir();
  let count = 0;
  try {
    for await (const folder of Deno.readDir(ROOT)) {
      if (!folder.isDirectory) continue;
      assert.ok(TARGETS[folder.name], `regressions/${folder.name}: no fuzz target of that name`);
      for await (const f of Deno.readDir(`${ROOT}/${folder.name}`)) {
        const bytes = await Deno.readFile(`${ROOT}/${folder.name}/${f.name}`);
        const reply = await runCase(folder.name, bytes, { dir });
        assert.equal(judge(reply), null, `regressions/${folder.name}/${f.name}: ${judge(reply)}`);
        count++;
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(count > 0, "no regression inputs found");
});

Deno.test("fuzz regressions: a huge BVH frame count is rejected before allocating, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["frames_99999999999_alloc.bvh", "frames_u32max_alloc.bvh"]) {
      const reply = await runCase("bvh", await Deno.readFile(`${ROOT}/bvh/${name}`), { dir });
      assert.equal(reply.outcome, "input-error", name);
      assert.match(reply.message!, /"Frames: \d+" but \d+ motion rows/);
      assert.ok(reply.ms < 500, `${name}: ${reply.ms} ms`);
    }
    for (const name of ["position_overflow_unnamed.bvh", "frame_time_huge_fps0_unnamed.bvh"]) {
      const reply = await runCase("bvh", await Deno.readFile(`${ROOT}/bvh/${name}`), { dir });
      assert.equal(reply.outcome, "input-error", name);
      assert.ok(reply.message!.startsWith(reply.path), `${name}: ${reply.message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
