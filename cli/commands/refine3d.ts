/**
 * `posegpu refine3d`: seed 000's patch-based refinement of 3D poses (models/patch_refine.ts) from an RGB
 * image, its colour-coded part segmentation and each person's 2D joints.
 * @module
 */

import { configPairs, parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { initEngine, InputError, writeFileAtomic } from "../../engine/mod.ts";
import { manualSeed } from "../../engine/random.ts";
import { readStateDict } from "../../layers/mod.ts";
import { describeConfig, parseConfigPairs } from "../../models/config.ts";
import { PATCH_REFINE_CONFIG, PatchRefine } from "../../models/patch_refine.ts";
import { readImage } from "../../pose/image/mod.ts";

const HELP = `posegpu refine3d — patch-based 3D pose refinement (seed 000): limb patches → ResNet → residual
limb orientations, rebuilt along the Human3.6M-17 skeleton with bone-length statistics

Usage:
  posegpu refine3d --image IMG --segmentation SEG --input poses.json --weights W.safetensors \\
                   [--stats bones.json] --out refined.json

Input JSON: {"poses": [{"keypoints_2d": [x, y] × 17, "keypoints_3d": [x, y, z] × 17, ...}, ...]} (or the
array alone; flat or nested lists), Human3.6M-17 joint order, 2D in image pixels. Output: the same
document with "keypoints_3d" refined and the input kept as "keypoints_3d_initial".

Options:
  --image FILE          the RGB image
  --segmentation FILE   its colour-coded part segmentation (same size)
  --input FILE          poses (see above)
  --weights FILE        state dict (torchvision ResNet keys, conv1 [64, 96, 7, 7], fc [48, 2048])
  --untrained           no weights (seeded default initialisation): pipeline checks only
  --seed N              initialisation seed with --untrained (default 0)
  --stats FILE          training mean bone lengths: {"bone_lengths": [16 numbers]} (or the array), in
                        the unit of keypoints_3d, bone order = joints 1..16; default: each pose's own
  --config key=value    a configuration key (repeatable, see below)
  --out FILE            refined poses (written atomically)
  -h, --help            this help

Configuration keys (defaults):
${describeConfig(PATCH_REFINE_CONFIG)}

Example:
  posegpu refine3d --image S9_0001.jpg --segmentation S9_0001_parts.png --input lifted.json \\
      --weights patch_r50.safetensors --stats h36m_bones.json --out refined.json`;

function flat(v: unknown, n: number, where: string): number[] {
  const f = Array.isArray(v) ? (v as unknown[]).flat(2) : null;
  if (!f || f.length !== n || !f.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new InputError(`${where}: expected ${n} finite numbers`);
  }
  return f as number[];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`${path}: file not found`, { cause: e });
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

async function refine3d(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("refine3d", args, {
    image: { type: "string" },
    segmentation: { type: "string" },
    input: { type: "string" },
    weights: { type: "string" },
    untrained: { type: "boolean", default: false },
    seed: { type: "string" },
    stats: { type: "string" },
    config: { type: "string", multiple: true },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const pairs = configPairs("refine3d", values.config, positionals);
  for (const flag of ["image", "segmentation", "input", "out"] as const) {
    if (!values[flag]) throw new InputError(`refine3d: --${flag} FILE is required (see --help)`);
  }
  if (!values.weights === !values.untrained) {
    throw new InputError("refine3d: give --weights FILE, or --untrained for a pipeline check (see --help)");
  }
  const doc = await readJson(values.input!);
  const list = Array.isArray(doc) ? doc : (doc as { poses?: unknown })?.poses;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InputError(`${values.input}: expected {"poses": [...]} or an array of poses`);
  }
  const poses = list.map((p, i) => {
    const where = `${values.input}: pose ${i}`;
    if (typeof p !== "object" || p === null) throw new InputError(`${where}: expected an object`);
    const r = p as Record<string, unknown>;
    return {
      pose2d: flat(r.keypoints_2d, 34, `${where} "keypoints_2d"`),
      pose3d: flat(r.keypoints_3d, 51, `${where} "keypoints_3d"`),
    };
  });
  let boneLengths: number[] | undefined;
  if (values.stats) {
    const s = await readJson(values.stats);
    boneLengths = flat(
      Array.isArray(s) ? s : (s as { bone_lengths?: unknown })?.bone_lengths,
      16,
      `${values.stats} bone_lengths`,
    );
  }

  await initEngine();
  const seed = Number(values.seed ?? 0);
  if (!Number.isInteger(seed)) {
    throw new InputError(`refine3d: --seed expects an integer, got ${values.seed}`);
  }
  manualSeed(seed);
  const model = new PatchRefine(parseConfigPairs(pairs) as Record<string, never>).eval();
  try {
    if (values.weights) {
      const { stateDict } = await readStateDict(values.weights);
      try {
        await model.loadStateDict(stateDict, { fold: true });
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`${values.weights}: ${e.message}`, { cause: e });
        throw e;
      }
    } else {
      console.error("refine3d: untrained weights: the refined poses are meaningless (pipeline check only)");
    }
    const [image, segmentation] = [await readImage(values.image!), await readImage(values.segmentation!)];
    const refined = await model.refine(image, segmentation, poses, { boneLengths, name: values.image });
    const out = list.map((p, i) => ({
      ...(p as Record<string, unknown>),
      keypoints_3d: Array.from(refined[i], (v) => Math.fround(v)),
      keypoints_3d_initial: poses[i].pose3d,
    }));
    await writeFileAtomic(
      values.out!,
      JSON.stringify(Array.isArray(doc) ? out : { ...doc as object, poses: out }) + "\n",
    );
    console.log(`refine3d: ${out.length} pose${out.length === 1 ? "" : "s"} refined → ${values.out}`);
  } finally {
    model.dispose();
  }
  return 0;
}

/** The `refine3d` command. */
export const command: Command = {
  name: "refine3d",
  summary: "refine 3D poses with limb patches of the image and part segmentation (seed 000)",
  help: HELP,
  run: refine3d,
};
