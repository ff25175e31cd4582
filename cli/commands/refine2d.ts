/**
 * `posegpu refine2d`: PoseFix refinement of COCO keypoint results (models/posefix.ts), as PoseFix_RELEASE's
 * `test.py`: reads a results JSON (any number of people per image), keeps person records with a positive
 * score, crops each person around its input pose, refines, applies the per-image OKS-NMS and writes
 * `{image_id, category_id, keypoints: [x, y, 1] × 17, score}` records (images by descending id, people in
 * NMS order, x/y rounded to 3 decimals, the input score to 4).
 * @module
 */

import { configPairs, parseCommandArgs } from "../args.ts";
import { join } from "node:path";
import type { Command } from "../command.ts";
import { initEngine, InputError } from "../../engine/mod.ts";
import { manualSeed } from "../../engine/random.ts";
import { uploadImage } from "../../engine/kernels/image.ts";
import { readStateDict } from "../../layers/mod.ts";
import { describeConfig, parseConfigPairs } from "../../models/config.ts";
import { PoseFix, POSEFIX_CONFIG, type PoseFixResult, refineResults } from "../../models/posefix.ts";
import { readCocoKeypoints, readCocoResults, writeCocoResults } from "../../pose/formats/coco.ts";
import { readImage, toRgb } from "../../pose/image/mod.ts";

const HELP = `posegpu refine2d — refine 2D keypoints with PoseFix (COCO results JSON in and out)

Usage:
  posegpu refine2d --image IMG --input results.json --weights W.safetensors --out refined.json
  posegpu refine2d --image-dir DIR [--annotations person_keypoints.json] --input results.json \\
                   --weights W.safetensors --out refined.json

As PoseFix_RELEASE's test.py: each person's crop comes from the box of all its input keypoints (×1.2
about the centre, aspect 4:3, ×1.25), warped to the network input (256×192, BGR minus the pixel means);
the input pose is drawn as Gaussian heatmaps (σ 7, ×255) beside the image; flip test; coordinates mapped
back through the crop box. Every keypoint gets the record's score, a per-image OKS-NMS (0.9, config
oks_nms_thr) removes duplicates, and the output records are {image_id, category_id 1, keypoints
[x, y, 1] × 17 (3 decimals), score (the input's, 4 decimals)}, images by descending id. Records of
another category than 1 or with a score ≤ 0 are dropped, as the reference does.

Options:
  --image FILE         the image all results belong to (they must share one image_id)
  --image-dir DIR      folder of images, found by image_id: the file_name of --annotations, else
                       the COCO name %012d.jpg
  --annotations FILE   COCO annotation file mapping image ids to file names (images[].file_name)
  --input FILE         COCO keypoint results (image_id, category_id, keypoints [x,y,score]×17, score)
  --weights FILE       PoseFix state dict (pose_resnet keys, conv1 [64, 3+K, 7, 7]); config from its
                       __metadata__ "config" (JSON) and --config
  --untrained          no weights: PyTorch-default initialisation (seeded by --seed); the output is
                       meaningless, for pipeline checks only
  --seed N             initialisation seed with --untrained (default 0)
  --config key=value   a PoseFix configuration key (repeatable, see below)
  --no-flip            skip the flip test (half the work)
  --no-nms             keep every refined pose (no OKS-NMS)
  --batch N            people per forward pass (default 8; doubled by the flip test)
  --out FILE           refined results (written atomically)
  -h, --help           this help

Configuration keys (defaults):
${describeConfig(POSEFIX_CONFIG)}

Examples:
  posegpu refine2d --image 000000000785.jpg --input cpn_results.json --weights posefix_r50.safetensors \\
      --out refined.json
  posegpu refine2d --image-dir val2017 --annotations person_keypoints_val2017.json \\
      --input cpn_results.json --weights posefix_r50.safetensors --out refined.json
  posegpu eval coco --gt person_keypoints_val2017.json --dt refined.json`;

interface Values {
  image?: string;
  "image-dir"?: string;
  annotations?: string;
  input?: string;
  weights?: string;
  untrained?: boolean;
  seed?: string;
  config?: string[];
  "no-flip"?: boolean;
  "no-nms"?: boolean;
  batch?: string;
  out?: string;
  help?: boolean;
}

function positiveInt(v: string | undefined, flag: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError(`refine2d: --${flag} expects a positive integer, got ${v}`);
  }
  return n;
}

/** Loads the model: weights (with their metadata config) or an untrained one. */
async function loadModel(values: Values, pairs: string[]): Promise<PoseFix> {
  let fromFile: Record<string, unknown> = {};
  let stateDict = null;
  if (values.weights) {
    const r = await readStateDict(values.weights);
    stateDict = r.stateDict;
    if (r.metadata.config !== undefined) {
      try {
        fromFile = JSON.parse(r.metadata.config);
      } catch (e) {
        throw new InputError(`${values.weights}: __metadata__ "config" is not JSON: ${(e as Error).message}`);
      }
      if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
        throw new InputError(`${values.weights}: __metadata__ "config" must be a JSON object`);
      }
      // Weights saved by `posegpu run`/pose_resnet carry keys PoseFix derives itself.
      for (const k of Object.keys(fromFile)) if (!(k in POSEFIX_CONFIG)) delete fromFile[k];
    }
  }
  const seed = Number(values.seed ?? 0);
  if (!Number.isInteger(seed)) {
    throw new InputError(`refine2d: --seed expects an integer, got ${values.seed}`);
  }
  manualSeed(seed);
  const model = new PoseFix({ ...fromFile, ...parseConfigPairs(pairs) } as Record<string, never>).eval();
  if (stateDict) {
    try {
      await model.loadStateDict(stateDict, { fold: true });
    } catch (e) {
      model.dispose();
      if (e instanceof InputError) throw new InputError(`${values.weights}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return model;
}

async function imagePaths(values: Values, ids: number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (values.image) {
    if (ids.length > 1) {
      throw new InputError(
        `${values.input}: results hold ${ids.length} image ids (${ids.slice(0, 5).join(", ")}${
          ids.length > 5 ? ", …" : ""
        }) but --image gives one image; use --image-dir`,
      );
    }
    for (const id of ids) out.set(id, values.image);
    return out;
  }
  const names = new Map<number, string>();
  if (values.annotations) {
    const data = await readCocoKeypoints(values.annotations);
    for (const im of data.images) if (im.file_name) names.set(im.id, im.file_name);
  }
  for (const id of ids) {
    const name = names.get(id) ?? (values.annotations ? undefined : `${String(id).padStart(12, "0")}.jpg`);
    if (!name) throw new InputError(`${values.annotations}: no image record (file_name) for image_id ${id}`);
    out.set(id, join(values["image-dir"]!, name));
  }
  return out;
}

async function refine2d(args: string[]): Promise<number> {
  const { values, positionals }: { values: Values; positionals: string[] } = parseCommandArgs(
    "refine2d",
    args,
    {
      image: { type: "string" },
      "image-dir": { type: "string" },
      annotations: { type: "string" },
      input: { type: "string" },
      weights: { type: "string" },
      untrained: { type: "boolean", default: false },
      seed: { type: "string" },
      config: { type: "string", multiple: true },
      "no-flip": { type: "boolean", default: false },
      "no-nms": { type: "boolean", default: false },
      batch: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const pairs = configPairs("refine2d", values.config, positionals);
  if (!values.image === !values["image-dir"]) {
    throw new InputError("refine2d: give exactly one of --image FILE and --image-dir DIR (see --help)");
  }
  for (const flag of ["input", "out"] as const) {
    if (!values[flag]) throw new InputError(`refine2d: --${flag} FILE is required (see --help)`);
  }
  if (!values.weights === !values.untrained) {
    throw new InputError("refine2d: give --weights FILE, or --untrained for a pipeline check (see --help)");
  }
  const batchSize = positiveInt(values.batch, "batch", 8);

  const results = await readCocoResults(values.input!);
  const byImage = new Map<number, typeof results>();
  let dropped = 0;
  for (const r of results) {
    if (r.category_id !== 1 || !(r.score > 0)) {
      dropped++;
      continue;
    }
    const list = byImage.get(r.image_id);
    if (list) list.push(r);
    else byImage.set(r.image_id, [r]);
  }
  // test.py walks the input sorted by (image_id, score), descending.
  const ids = [...byImage.keys()].sort((a, b) => b - a);
  const paths = await imagePaths(values, ids);

  await initEngine();
  const model = await loadModel(values, pairs);
  if (values.untrained) {
    console.error("refine2d: untrained weights: the refined keypoints are meaningless (pipeline check only)");
  }
  if (dropped) console.error(`refine2d: ${dropped} records of another category or with score ≤ 0 dropped`);
  const out: PoseFixResult[] = [];
  const t0 = performance.now();
  let people = 0;
  try {
    for (const id of ids) {
      const path = paths.get(id)!;
      const records = byImage.get(id)!;
      const decoded = await readImage(path);
      const image = uploadImage(decoded.channels === 3 ? decoded : toRgb(decoded), { name: path });
      try {
        out.push(
          ...await refineResults(model, image, {
            records,
            flip: values["no-flip"] ? false : undefined,
            batchSize,
            nmsThreshold: values["no-nms"] ? Infinity : undefined,
            name: `${values.input}: image_id ${id}`,
          }),
        );
        people += records.length;
      } finally {
        image.packed.dispose();
      }
    }
  } finally {
    model.dispose();
  }
  await writeCocoResults(values.out!, out);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `refine2d: ${people} people on ${byImage.size} image${byImage.size === 1 ? "" : "s"} in ${
      s.toFixed(1)
    } s, ${out.length} kept by OKS-NMS ` +
      `(${model.config.flip_test && !values["no-flip"] ? "flip test" : "no flip"}) → ${values.out}`,
  );
  return 0;
}

/** The `refine2d` command. */
export const command: Command = {
  name: "refine2d",
  summary: "refine COCO 2D keypoint results with PoseFix",
  help: HELP,
  run: refine2d,
};
