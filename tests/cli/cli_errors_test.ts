// Every registered command, run as a subprocess: --help exits 0; bad arguments, missing files and
// malformed files exit 1 with a message naming the file or argument and no stack trace. Commands
// registered in cli/main.ts get the generic checks at once; the per-command cases are in CASES.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createPoseDocument, poseJsonText } from "../../pose/formats/pose_json.ts";
import { assertCleanFailure, cli } from "./_cli.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures", import.meta.url));
const REGRESSIONS = fileURLToPath(new URL("../fuzz/regressions", import.meta.url));
const dir = await Deno.makeTempDir({ prefix: "posegpu_cli_" });

// The registered commands, as `posegpu --help` lists them (the CLI as users see it; importing cli/main.ts
// would also type-check every command module here).
const help = await cli(["--help"]);
const COMMANDS =
  help.out.split("Commands:\n")[1]?.split("\n\n")[0].split("\n").map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean) ?? [];
const at = (name: string) => `${dir}/${name}`;

// Inputs: a valid 2D pose file, malformed files of each kind, a folder.
const coords = new Float32Array(17 * 2).map((_, i) => 100 + i);
await Deno.writeTextFile(
  at("poses.json"),
  poseJsonText(createPoseDocument({
    skeleton: "h36m17",
    people: [{
      track: 0,
      frames: [0],
      keypoints2d: {
        skeleton: "h36m17",
        frames: 1,
        joints: 17,
        coords,
        scores: null,
        mask: new Uint8Array(17).fill(1),
      },
      keypoints3d: null,
    }],
  })),
);
await Deno.writeTextFile(at("truncated.json"), '{"format": "posegpu-pose", "version": 1, "skel');
await Deno.writeTextFile(
  at("wrong_type.json"),
  JSON.stringify({ format: "posegpu-pose", version: 1, skeleton: 17 }),
);
await Deno.writeTextFile(at("bad.csv"), "frame,track,joint,x,y\n0,0,Hip,1,2\n0,0,Hip,x,y\n");
await Deno.writeTextFile(at("bad.bvh"), "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 3\n");
await Deno.writeTextFile(
  at("results.json"),
  JSON.stringify([{ image_id: 1, category_id: 1, keypoints: [1, 2] }]),
);
await Deno.writeFile(at("bad.safetensors"), new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]));
await Deno.mkdir(at("folder"));

Deno.test("cli: every registered command answers --help with exit 0 and rejects an unknown option", async () => {
  const names = COMMANDS;
  assert.ok(names.length >= 5, names.join(", "));
  for (const name of names) {
    const help = await cli([name, "--help"]);
    assert.equal(help.code, 0, `${name} --help: ${help.err}`);
    assert.ok(help.out.includes(name), `${name} --help prints its usage`);
    const bad = await cli([name, "--no-such-option"]);
    assertCleanFailure(bad, { names: "--no-such-option", what: `${name} --no-such-option` });
  }
  assertCleanFailure(await cli(["frobnicate"]), { names: "frobnicate", what: "unknown command" });
  assert.equal((await cli(["--help"])).code, 0);
});

interface Case {
  args: string[];
  names: string | RegExp;
  code?: number;
}

const CASES: Record<string, Case[]> = {
  info: [
    { args: ["--json", "extra"], names: "extra" },
  ],
  tune: [
    { args: ["--shape", "3x"], names: "--shape 3x" },
    { args: ["--shape", "0x8x8"], names: "--shape 0x8x8" },
    { args: ["--shape"], names: "--shape" },
    { args: ["--reps", "abc", "--shape", "8x8x8"], names: "--reps abc" },
    { args: ["--reps", "0", "--shape", "8x8x8"], names: "--reps 0" },
  ],
  eval: [
    { args: [], names: /protocol/ },
    { args: ["nope"], names: '"nope"' },
    { args: ["coco", "--dt", at("results.json")], names: "--gt" },
    { args: ["coco", "--gt", at("missing.json"), "--dt", at("results.json")], names: at("missing.json") },
    { args: ["coco", "--gt", at("truncated.json"), "--dt", at("results.json")], names: at("truncated.json") },
    { args: ["coco", "--gt", at("folder"), "--dt", at("results.json")], names: at("folder") },
    { args: ["coco", "--gt", at("poses.json"), "--dt", at("results.json")], names: at("poses.json") },
    { args: ["coco", "--gt", at("poses.json"), "--dt", at("results.json"), "stray"], names: "stray" },
    { args: ["h36m"], names: "h36m" },
  ],
  convert: [
    { args: ["--in", at("poses.json")], names: "--out" },
    { args: ["--in", at("missing.json"), "--out", at("o.json")], names: at("missing.json") },
    { args: ["--in", at("truncated.json"), "--out", at("o.json")], names: at("truncated.json") },
    { args: ["--in", at("wrong_type.json"), "--out", at("o.json")], names: at("wrong_type.json") },
    { args: ["--in", at("bad.csv"), "--out", at("o.json")], names: `${at("bad.csv")}: line 3` },
    { args: ["--in", at("bad.bvh"), "--out", at("o.json")], names: at("bad.bvh") },
    { args: ["--in", at("results.json"), "--out", at("o.json")], names: at("results.json") },
    { args: ["--in", at("folder"), "--out", at("o.json")], names: at("folder") },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--to", "xml"], names: '"xml"' },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--from", "xml"], names: '"xml"' },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--width=-5"], names: "--width -5" },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--fps", "0"], names: "--fps 0" },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--min-score", "x"], names: "--min-score x" },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--layout", "tall"], names: "--layout tall" },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "--skeleton", "nope"], names: "nope" },
    { args: ["--in", at("poses.json"), "--out", at("o.json"), "stray"], names: "stray" },
    // The output path cannot hold a file: a folder, or below a file.
    { args: ["--in", at("poses.json"), "--out", at("folder")], names: at("folder") },
    { args: ["--in", at("poses.json"), "--out", `${at("poses.json")}/o.json`], names: at("poses.json") },
  ],
  "convert-weights": [
    { args: ["--in", `${FIXTURES}/torch/dataparallel.pth`], names: "--out" },
    { args: ["--in", at("missing.pth"), "--out", at("y.safetensors")], names: at("missing.pth") },
    { args: ["--in", at("folder"), "--out", at("y.safetensors")], names: at("folder") },
    { args: ["--in", at("bad.safetensors"), "--out", at("y.safetensors")], names: at("bad.safetensors") },
    { args: ["--in", at("truncated.json"), "--out", at("y.safetensors")], names: at("truncated.json") },
    {
      args: ["--in", `${FIXTURES}/torch/evil_os_system.pth`, "--out", at("y.safetensors")],
      names: "global os.system is not allowed",
    },
    {
      args: ["--in", `${FIXTURES}/torch/nested.pth.tar`, "--out", at("y.safetensors"), "--key", "nope"],
      names: 'no key "nope"',
    },
    {
      args: ["--in", `${FIXTURES}/torch/dataparallel.pth`, "--out", at("y.safetensors"), "stray"],
      names: "stray",
    },
    { args: ["--in", `${FIXTURES}/torch/dataparallel.pth`, "--out", at("folder")], names: at("folder") },
  ],
  bvh: [
    { args: [], names: "one input file" },
    { args: [at("a.bvh"), at("b.bvh"), "--out", at("o.json")], names: "one input file" },
    { args: [`${FIXTURES}/bvh_synthetic_h36m.bvh`], names: "--out" },
    { args: [at("missing.bvh"), "--out", at("o.json")], names: at("missing.bvh") },
    { args: [at("bad.bvh"), "--out", at("o.json")], names: at("bad.bvh") },
    { args: [`${FIXTURES}/bvh_synthetic_h36m.bvh`, "--out", at("o.bvh")], names: "--out" },
    { args: [`${FIXTURES}/bvh_synthetic_h36m.bvh`, "--out", at("o.json"), "--every", "0"], names: "--every" },
    {
      args: [`${FIXTURES}/bvh_synthetic_h36m.bvh`, "--out", at("o.json"), "--scale=-1"],
      names: "--scale -1",
    },
    {
      args: [`${FIXTURES}/bvh_synthetic_h36m.bvh`, "--out", at("o.json"), "--skeleton", "nope"],
      names: "nope",
    },
    // Forward kinematics overflows: found by the fuzzer, the error now names the file.
    {
      args: [`${REGRESSIONS}/bvh/position_overflow_unnamed.bvh`, "--out", at("o.json")],
      names: `${REGRESSIONS}/bvh/position_overflow_unnamed.bvh`,
    },
    { args: [at("truncated.json"), "--out", at("o.bvh")], names: at("truncated.json") },
    { args: [at("poses.json"), "--out", at("o.json")], names: "--out" },
    { args: [at("poses.json"), "--out", at("o.bvh"), "--track", "x"], names: "--track x" },
  ],
  run: [
    { args: [], names: "which model" },
    { args: ["nope", "--weights", "w", "--input", "x", "--output", "y"], names: '"nope"' },
    { args: ["martinez", "--input", "x", "--output", "y"], names: "--weights" },
    {
      args: [
        "martinez",
        "--weights",
        at("missing.safetensors"),
        "--input",
        "x",
        "--output",
        at("y.safetensors"),
      ],
      names: at("missing.safetensors"),
    },
    {
      args: ["martinez", "--weights", at("bad.safetensors"), "--input", "x", "--output", at("y.safetensors")],
      names: at("bad.safetensors"),
    },
    {
      args: [
        "martinez",
        "--weights",
        `${FIXTURES}/models_martinez_1stage.safetensors`,
        "--input",
        at("bad.safetensors"),
        "--output",
        at("y.safetensors"),
      ],
      names: at("bad.safetensors"),
    },
  ],
  // Commands in development when these cases were written: only what any implementation must satisfy.
  lift: [
    { args: [at("missing.json")], names: at("missing.json") },
    { args: [at("truncated.json")], names: at("truncated.json") },
  ],
  view: [
    { args: [at("missing.json"), "--out", at("v.html")], names: at("missing.json") },
    { args: [at("truncated.json"), "--out", at("v.html")], names: at("truncated.json") },
  ],
  train: [
    { args: [], names: "which model" },
    { args: ["nope", "--data", at("folder"), "--out", at("ck.safetensors")], names: '"nope"' },
    { args: ["martinez", "--out", at("ck.safetensors"), "--train-subjects", "S1"], names: "--data" },
    { args: ["martinez", "--data", at("folder"), "--train-subjects", "S1"], names: "--out" },
    { args: ["martinez", "--data", at("folder"), "--out", at("ck.safetensors")], names: "--train-subjects" },
    {
      args: ["martinez", "--data", at("folder"), "--out", at("ck.safetensors"), "--train-subjects", "X1"],
      names: '"X1"',
    },
    {
      args: [
        "martinez",
        "--data",
        at("folder"),
        "--out",
        at("ck.safetensors"),
        "--train-subjects",
        "S1",
        "--lr=-1",
      ],
      names: "--lr",
    },
    {
      args: [
        "martinez",
        "--data",
        at("folder"),
        "--out",
        at("ck.safetensors"),
        "--train-subjects",
        "S1",
        "--epochs",
        "x",
      ],
      names: "--epochs",
    },
    // An empty data folder: the files it must hold are named.
    {
      args: ["martinez", "--data", at("folder"), "--out", at("ck.safetensors"), "--train-subjects", "S1"],
      names: at("folder"),
    },
  ],
};

for (const [name, cases] of Object.entries(CASES)) {
  Deno.test({
    name: `cli ${name}: bad arguments, missing and malformed files exit 1 naming them, without a stack trace`,
    // Cases of a command that is not registered (yet) are skipped; every registered one has cases.
    ignore: !COMMANDS.includes(name),
    async fn() {
      // The runs are independent processes: two at a time keeps both cores busy.
      const results = await Promise.all(cases.map((c) => cli([name, ...c.args])));
      cases.forEach((c, i) => {
        assertCleanFailure(results[i], {
          names: c.names,
          code: c.code,
          what: `posegpu ${name} ${c.args.join(" ")}`,
        });
      });
      for (const out of ["o.json", "o.bvh", "y.safetensors", "ck.safetensors", "v.html"]) {
        await assert.rejects(() => Deno.stat(at(out)), `no output written (${out})`);
      }
    },
  });
}

// Runs last in this file (tests run in order): removes the inputs.
Deno.test("cli errors: clean up", async () => {
  await Deno.remove(dir, { recursive: true });
});
