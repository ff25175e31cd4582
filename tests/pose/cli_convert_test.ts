import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { command } from "../../cli/commands/convert.ts";
import { readPoseJson } from "../../pose/formats/pose_json.ts";
import { readCocoResults } from "../../pose/formats/coco.ts";

const person = (base: number) => ({
  person_id: [-1],
  pose_keypoints_2d: Array.from({ length: 25 }, (_, j) => [base + j, base + 2 * j, 0.8]).flat(),
});

Deno.test("posegpu convert: OpenPose folder -> H36M-17 pose JSON -> COCO results", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/op`);
    for (const f of [0, 1]) {
      await Deno.writeTextFile(
        `${dir}/op/v_${String(f).padStart(12, "0")}_keypoints.json`,
        JSON.stringify({ people: [person(100 * f)] }),
      );
    }
    assert.equal(
      await command.run([
        "--in",
        `${dir}/op`,
        "--out",
        `${dir}/h.json`,
        "--skeleton",
        "h36m17",
        "--fps",
        "25",
      ]),
      0,
    );
    const doc = await readPoseJson(`${dir}/h.json`);
    assert.equal(doc.skeleton, "h36m17");
    assert.equal(doc.fps, 25);
    assert.deepEqual(doc.people[0].frames, [0, 1]);
    // Thorax <- Neck (BODY_25 joint 1) of frame 1: (101, 102).
    const kp = doc.people[0].keypoints2d!;
    assert.deepEqual([kp.coords[34 + 16], kp.coords[34 + 17]], [101, 102]);
    // COCO output converts BODY_25 to coco17 by itself.
    assert.equal(
      await command.run(["--in", `${dir}/op`, "--out", `${dir}/dt.json`, "--to", "coco-results"]),
      0,
    );
    const dt = await readCocoResults(`${dir}/dt.json`);
    assert.equal(dt.length, 2);
    assert.deepEqual(dt[1].keypoints.slice(0, 3), [100, 100, 0.8]); // nose of frame 1
    assert.equal(await command.run(["--help"]), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("posegpu convert: bad arguments are input errors", async () => {
  const rejects = (args: string[], re: RegExp) =>
    assert.rejects(() => command.run(args), (e) => e instanceof InputError && re.test(e.message), String(re));
  await rejects(["--in", "a.json"], /--in and --out are both required/);
  await rejects(["--in", "a", "--out", "b", "--bogus"], /Unknown option '--bogus'/);
  await rejects(["--in", "a", "--out", "b", "--to", "xml"], /unknown format "xml"/);
  await rejects(["--in", "a", "--out", "b", "--layout", "tall"], /--layout tall/);
  await rejects(["--in", "a", "--out", "b", "--min-score", "x"], /--min-score x is not a number/);
  await rejects(["--in", "/nonexistent/a.json", "--out", "b.json"], /a\.json: cannot read/);
});
