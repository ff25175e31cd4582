// Outputs are never half-written: an input that fails late, a process killed while writing and a write
// that fails (file too large) all leave the output path as it was (absent or unchanged).
import assert from "node:assert/strict";
import { createPoseDocument, poseJsonText } from "../../pose/formats/pose_json.ts";
import { fileURLToPath } from "node:url";
import { assertCleanFailure, cli } from "./_cli.ts";

const REGRESSIONS = fileURLToPath(new URL("../fuzz/regressions", import.meta.url));
const ORIGINAL = "ORIGINAL CONTENT\n";
const linux = Deno.build.os === "linux";

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_cli_out_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The output keeps its old content; a new output was not created; no temporary file is left behind. */
async function assertUntouched(dir: string, options: { kept: string; absent: string; tmpAllowed?: boolean }) {
  assert.equal(await Deno.readTextFile(options.kept), ORIGINAL, `${options.kept} changed`);
  await assert.rejects(
    () => Deno.stat(options.absent),
    Deno.errors.NotFound,
    `${options.absent} was created`,
  );
  if (!options.tmpAllowed) {
    for await (const e of Deno.readDir(dir)) {
      assert.ok(!e.name.endsWith(".tmp"), `temporary file left: ${e.name}`);
    }
  }
}

/** A 3D pose file of `frames` frames (about 350 bytes per frame). */
function bigPoses(frames: number): string {
  const coords = new Float32Array(frames * 17 * 3).map((_, i) => 1000 + Math.sin(i) * 300);
  return poseJsonText(createPoseDocument({
    skeleton: "h36m17",
    people: [{
      track: 0,
      frames: Array.from({ length: frames }, (_, i) => i),
      keypoints2d: null,
      keypoints3d: {
        skeleton: "h36m17",
        frames,
        joints: 17,
        coords,
        mask: new Uint8Array(frames * 17).fill(1),
      },
    }],
  }));
}

Deno.test("cli convert: an input that fails on its last line leaves the outputs as they were", async () => {
  await withDir(async (dir) => {
    const rows = ["frame,track,joint,x,y"];
    for (let f = 0; f < 2000; f++) rows.push(`${f},0,Hip,${f},${f + 1}`);
    rows.push("2000,0,Hip,1,not-a-number");
    await Deno.writeTextFile(`${dir}/late.csv`, rows.join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/kept.json`, ORIGINAL);
    for (const out of ["kept.json", "new.json"]) {
      const r = await cli(["convert", "--in", `${dir}/late.csv`, "--out", `${dir}/${out}`]);
      assertCleanFailure(r, { names: `${dir}/late.csv: line 2002`, what: "late CSV error" });
    }
    await assertUntouched(dir, { kept: `${dir}/kept.json`, absent: `${dir}/new.json` });
  });
});

Deno.test("cli bvh: forward kinematics that overflow late leave the outputs as they were", async () => {
  await withDir(async (dir) => {
    const input = `${REGRESSIONS}/bvh/position_overflow_unnamed.bvh`;
    await Deno.writeTextFile(`${dir}/kept.json`, ORIGINAL);
    for (const out of ["kept.json", "new.json"]) {
      assertCleanFailure(await cli(["bvh", input, "--out", `${dir}/${out}`]), {
        names: input,
        what: "bvh overflow",
      });
    }
    await assertUntouched(dir, { kept: `${dir}/kept.json`, absent: `${dir}/new.json` });
  });
});

Deno.test({
  name: "cli convert: killed while writing (file size limit, SIGXFSZ): the output keeps its old content",
  ignore: !linux,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/big.json`, bigPoses(1500));
      await Deno.writeTextFile(`${dir}/kept.csv`, ORIGINAL);
      for (const out of ["kept.csv", "new.csv"]) {
        // 64 KiB per file: the ~500 KB CSV is cut while being written.
        const r = await cli(["convert", "--in", `${dir}/big.json`, "--out", `${dir}/${out}`], {
          shell: 'ulimit -f 64 && exec $POSEGPU "$@"',
        });
        assert.ok(r.signal === "SIGXFSZ" || r.code !== 0, `expected the process to die: ${r.code} ${r.err}`);
      }
      // The temporary file the killed process was writing stays; the outputs themselves are intact.
      await assertUntouched(dir, { kept: `${dir}/kept.csv`, absent: `${dir}/new.csv`, tmpAllowed: true });
    });
  },
});

Deno.test({
  name:
    "cli convert: a write that fails (file too large) exits 2 naming the output, removes its temporary file",
  ignore: !linux,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/big.json`, bigPoses(1500));
      await Deno.writeTextFile(`${dir}/kept.csv`, ORIGINAL);
      for (const out of ["kept.csv", "new.csv"]) {
        // SIGXFSZ ignored: the write fails with EFBIG instead of killing the process.
        const r = await cli(["convert", "--in", `${dir}/big.json`, "--out", `${dir}/${out}`], {
          shell: `trap '' XFSZ && ulimit -f 64 && exec $POSEGPU "$@"`,
        });
        assertCleanFailure(r, { code: 2, names: `${dir}/${out}: cannot write`, what: "EFBIG" });
      }
      await assertUntouched(dir, { kept: `${dir}/kept.csv`, absent: `${dir}/new.csv` });
    });
  },
});
