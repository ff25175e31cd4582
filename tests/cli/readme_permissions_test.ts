// The README's narrow-permission command line works as written: the exact `deno run --allow-read
// --allow-write=out cli/main.ts lift ...` line is taken from README.md and run (in a temporary folder,
// with a small COCO results file as results.json and no out/ folder yet): exit 0, the output written.
// Writing anywhere else is refused with exit 2 and a message, and nothing is written.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { COCO_17 } from "../../pose/skeletons.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function readmeCommand(): string[] {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`).replace(/\n\s*/g, " ");
  const m = /`(deno run --allow-read --allow-write=out cli\/main\.ts lift [^`]+)`/.exec(readme);
  assert.ok(m, "README.md has no `deno run --allow-read --allow-write=out cli/main.ts lift ...` line");
  return m[1].split(/\s+/);
}

async function run(args: string[], cwd: string): Promise<{ code: number; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
  return { code: r.code, err: new TextDecoder().decode(r.stderr) };
}

Deno.test("README: the narrow-permission lift command works as written", async () => {
  const cmd = readmeCommand();
  assert.deepEqual(cmd.slice(0, 5), ["deno", "run", "--allow-read", "--allow-write=out", "cli/main.ts"]);
  const input = cmd[6], outFlag = cmd.indexOf("--out");
  assert.ok(
    outFlag > 0 && cmd[outFlag + 1].startsWith("out/"),
    `the output is inside out/: ${cmd.join(" ")}`,
  );
  const dir = await Deno.makeTempDir({ prefix: "posegpu_readme_" });
  try {
    const person = (dx: number) => ({
      image_id: 1,
      category_id: 1,
      score: 0.9,
      keypoints: COCO_17.joints.flatMap((_, j) => [300 + dx + 15 * Math.sin(j), 200 + 22 * j, 0.9]),
    });
    await Deno.writeTextFile(`${dir}/${input}`, JSON.stringify([person(0), person(250)]));
    // As written, except that cli/main.ts is this checkout's (the folder is a fresh one without out/).
    const args = [...cmd.slice(1, 4), `${ROOT}cli/main.ts`, ...cmd.slice(5)];
    const r = await run(args, dir);
    assert.equal(r.code, 0, `${cmd.join(" ")}\n${r.err}`);
    const out = JSON.parse(await Deno.readTextFile(`${dir}/${cmd[outFlag + 1]}`));
    assert.equal(out.people.length, 2);
    assert.ok(out.people.every((p: { keypoints3d: unknown[] }) => p.keypoints3d.length === 1));
    // Outside the granted folder: refused (exit 2), a message naming the path, nothing written.
    const denied = await run(args.map((a, i) => (args[i - 1] === "--out" ? "elsewhere.json" : a)), dir);
    assert.equal(denied.code, 2, denied.err);
    assert.match(denied.err, /elsewhere\.json/);
    await assert.rejects(() => Deno.stat(`${dir}/elsewhere.json`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
