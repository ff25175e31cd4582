/**
 * `posegpu pose2d`: top-down 2D pose estimation with CPN (models/cpn.ts) on person boxes from a file or
 * from the SSD300 detector (models/ssd300.ts); COCO keypoint results JSON out.
 * @module
 */

import { configPairs, parseCommandArgs } from "../args.ts";
import { basename, join } from "node:path";
import type { Command } from "../command.ts";
import { initEngine, InputError } from "../../engine/mod.ts";
import { manualSeed } from "../../engine/random.ts";
import { type ImageTensor, uploadImage } from "../../engine/kernels/image.ts";
import { type Module, readStateDict } from "../../layers/mod.ts";
import { describeConfig, parseConfigPairs } from "../../models/config.ts";
import { Cpn, CPN_CONFIG, type PersonBox } from "../../models/cpn.ts";
import { Ssd300, SSD300_CONFIG } from "../../models/ssd300.ts";
import { type CocoResultRecord, readCocoKeypoints, writeCocoResults } from "../../pose/formats/coco.ts";
import { readImage, toRgb } from "../../pose/image/mod.ts";

const HELP = `posegpu pose2d — 2D keypoints with CPN (top-down) on person boxes; COCO results JSON out

Usage:
  posegpu pose2d --image IMG --boxes boxes.json --weights cpn.safetensors --out results.json
  posegpu pose2d --image IMG --detector ssd --detector-weights ssd300.safetensors \\
                 --weights cpn.safetensors --out results.json
  posegpu pose2d --image-dir DIR [--annotations FILE] --boxes detections.json --weights W --out results.json

Each box is cropped as seed 001 does (a square from its longest side plus a margin, resized to 224×224,
normalised as pytorch-cpn: RGB/255 minus its pixel means); the flip-averaged heatmaps are decoded as
pytorch-cpn's test.py (Gaussian blur 21×21, argmax, a quarter-cell shift toward the second maximum,
(4x + 2) back through the crop). Records are written as pytorch-cpn does: keypoints [x, y, 1] × 17,
score = box score × the mean keypoint score (heatmap/255 + 0.5 at each peak).

Options:
  --image FILE            one image
  --image-dir DIR         images found by image_id (file_name from --annotations, else %012d.jpg)
  --annotations FILE      COCO annotation file mapping image ids to file names
  --image-id N            image_id written for --image (default: the digits of its file name, else 0)
  --boxes FILE            person boxes: COCO detections [{image_id, category_id, bbox, score}] (category 1
                          kept), or [[x, y, w, h(, score)], ...] for --image
  --detector ssd          detect people with SSD300 instead of --boxes (--image only)
  --detector-weights FILE SSD300 state dict (ssd.pytorch keys); --detector-config key=value for its keys
  --detector-config k=v   an SSD300 configuration key (repeat the flag for each key, see below)
  --box-thresh S          minimum box score (default 0.5 for the detector, 0 for --boxes)
  --weights FILE          CPN state dict (pytorch-cpn keys); config from its __metadata__ and --config
  --untrained             no weights (neither CPN nor SSD): seeded default initialisation, for pipeline
                          checks only — the output is meaningless
  --seed N                initialisation seed with --untrained (default 0)
  --config key=value      a CPN configuration key (repeatable, see below)
  --no-flip               skip the flip average
  --batch N               boxes per forward pass (default 8)
  --out FILE              COCO keypoint results (written atomically)
  -h, --help              this help

CPN configuration keys (defaults):
${describeConfig(CPN_CONFIG)}

SSD300 configuration keys (defaults):
${describeConfig(SSD300_CONFIG)}

Examples:
  posegpu pose2d --image 000000000785.jpg --boxes dets.json --weights cpn_r50.safetensors --out pose.json
  posegpu pose2d --image street.jpg --detector ssd --detector-weights ssd300_voc.safetensors \\
      --weights cpn_r50.safetensors --out pose.json
  posegpu eval coco --gt person_keypoints_val2017.json --dt pose.json`;

interface Values {
  image?: string;
  "image-dir"?: string;
  annotations?: string;
  "image-id"?: string;
  boxes?: string;
  detector?: string;
  "detector-weights"?: string;
  "detector-config"?: string[];
  "box-thresh"?: string;
  weights?: string;
  untrained?: boolean;
  seed?: string;
  config?: string[];
  "no-flip"?: boolean;
  batch?: string;
  out?: string;
  help?: boolean;
}

function num(v: string | undefined, flag: string, def: number, integer = false): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && (!Number.isInteger(n) || n < 1))) {
    throw new InputError(`pose2d: --${flag} expects a ${integer ? "positive integer" : "number"}, got ${v}`);
  }
  return n;
}

/** Builds a model from weights (metadata config + overrides) or untrained. */
async function load<M extends Module>(
  make: (config: Record<string, unknown>) => M,
  source: { weights?: string; pairs: string[]; keys: Record<string, unknown> },
): Promise<M> {
  let fromFile: Record<string, unknown> = {};
  let sd = null;
  if (source.weights) {
    const r = await readStateDict(source.weights);
    sd = r.stateDict;
    if (r.metadata.config !== undefined) {
      try {
        fromFile = JSON.parse(r.metadata.config);
      } catch (e) {
        throw new InputError(`${source.weights}: __metadata__ "config" is not JSON: ${(e as Error).message}`);
      }
      for (const k of Object.keys(fromFile)) if (!(k in source.keys)) delete fromFile[k];
    }
  }
  const model = make({ ...fromFile, ...parseConfigPairs(source.pairs) }).eval() as M;
  if (sd) {
    try {
      await model.loadStateDict(sd, { fold: true });
    } catch (e) {
      model.dispose();
      if (e instanceof InputError) throw new InputError(`${source.weights}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return model;
}

/** Person boxes by image id from a boxes file. */
async function readBoxes(path: string, single: number | null): Promise<Map<number, PersonBox[]>> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new InputError(`${path}: cannot read boxes JSON (${(e as Error).message})`, { cause: e });
  }
  if (!Array.isArray(json)) throw new InputError(`${path}: expected a JSON array of boxes`);
  const out = new Map<number, PersonBox[]>();
  const push = (id: number, b: PersonBox) => {
    const list = out.get(id);
    if (list) list.push(b);
    else out.set(id, [b]);
  };
  json.forEach((r, i) => {
    const where = `${path}: box ${i}`;
    const box = Array.isArray(r) ? r : (r as { bbox?: unknown })?.bbox;
    if (!Array.isArray(box) || box.length < 4 || !box.slice(0, 4).every((v) => Number.isFinite(v))) {
      throw new InputError(`${where}: expected [x, y, w, h(, score)] or {"bbox": [x, y, w, h], ...}`);
    }
    if (Array.isArray(r)) {
      if (single === null) {
        throw new InputError(`${where}: plain boxes need --image (they carry no image_id)`);
      }
      push(single, { bbox: box.slice(0, 4), score: box.length > 4 ? Number(box[4]) : 1 });
      return;
    }
    const rec = r as { image_id?: unknown; category_id?: unknown; score?: unknown };
    if (rec.category_id !== undefined && rec.category_id !== 1) return;
    const id = rec.image_id === undefined ? single : Number(rec.image_id);
    if (id === null || !Number.isInteger(id)) throw new InputError(`${where}: "image_id" must be an integer`);
    if (single !== null && rec.image_id !== undefined && id !== single) return;
    push(id, { bbox: box.slice(0, 4), score: rec.score === undefined ? 1 : Number(rec.score) });
  });
  return out;
}

async function pose2d(args: string[]): Promise<number> {
  const { values, positionals }: { values: Values; positionals: string[] } = parseCommandArgs(
    "pose2d",
    args,
    {
      image: { type: "string" },
      "image-dir": { type: "string" },
      annotations: { type: "string" },
      "image-id": { type: "string" },
      boxes: { type: "string" },
      detector: { type: "string" },
      "detector-weights": { type: "string" },
      "detector-config": { type: "string", multiple: true },
      "box-thresh": { type: "string" },
      weights: { type: "string" },
      untrained: { type: "boolean", default: false },
      seed: { type: "string" },
      config: { type: "string", multiple: true },
      "no-flip": { type: "boolean", default: false },
      batch: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const pairs = configPairs("pose2d", values.config, positionals);
  if (!values.image === !values["image-dir"]) {
    throw new InputError("pose2d: give exactly one of --image FILE and --image-dir DIR (see --help)");
  }
  if (!values.boxes === !values.detector) {
    throw new InputError("pose2d: give exactly one of --boxes FILE and --detector ssd (see --help)");
  }
  if (values.detector && values.detector !== "ssd") {
    throw new InputError(`pose2d: unknown detector "${values.detector}" (available: ssd)`);
  }
  if (values.detector && !values.image) throw new InputError("pose2d: --detector works on one --image");
  if (!values.out) throw new InputError("pose2d: --out FILE is required (see --help)");
  if (!values.weights === !values.untrained) {
    throw new InputError("pose2d: give --weights FILE, or --untrained for a pipeline check (see --help)");
  }
  if (values.detector && !values["detector-weights"] && !values.untrained) {
    throw new InputError("pose2d: --detector ssd needs --detector-weights FILE (or --untrained)");
  }
  const batchSize = num(values.batch, "batch", 8, true);
  const boxThresh = num(values["box-thresh"], "box-thresh", values.detector ? 0.5 : 0);
  const seed = num(values.seed, "seed", 0);
  const single = values.image
    ? num(values["image-id"], "image-id", Number(basename(values.image).match(/^(\d+)\./)?.[1] ?? 0))
    : null;

  const byImage = values.boxes
    ? await readBoxes(values.boxes, single)
    : new Map([[single!, [] as PersonBox[]]]);
  const paths = new Map<number, string>();
  if (values.image) paths.set(single!, values.image);
  else {
    const names = new Map<number, string>();
    if (values.annotations) {
      for (const im of (await readCocoKeypoints(values.annotations)).images) {
        if (im.file_name) names.set(im.id, im.file_name);
      }
    }
    for (const id of byImage.keys()) {
      const name = names.get(id) ?? (values.annotations ? undefined : `${String(id).padStart(12, "0")}.jpg`);
      if (!name) {
        throw new InputError(`${values.annotations}: no image record (file_name) for image_id ${id}`);
      }
      paths.set(id, join(values["image-dir"]!, name));
    }
  }

  await initEngine();
  manualSeed(seed);
  const cpn = await load((c) => new Cpn(c), { weights: values.weights, pairs, keys: CPN_CONFIG });
  const ssd = values.detector
    ? await load((c) => new Ssd300(c), {
      weights: values["detector-weights"],
      pairs: values["detector-config"] ?? [],
      keys: SSD300_CONFIG,
    })
    : null;
  if (values.untrained) {
    console.error("pose2d: untrained weights: the keypoints are meaningless (pipeline check only)");
  }
  const results: CocoResultRecord[] = [];
  const t0 = performance.now();
  try {
    for (const [id, given] of byImage) {
      const decoded = await readImage(paths.get(id)!);
      const image: ImageTensor = uploadImage(decoded.channels === 3 ? decoded : toRgb(decoded), {
        name: paths.get(id),
      });
      try {
        const boxes = ssd ? (await ssd.detect(image)).map((d) => ({ bbox: d.bbox, score: d.score })) : given;
        const kept = boxes.filter((b) => (b.score ?? 1) >= boxThresh && b.bbox[2] > 0 && b.bbox[3] > 0);
        const poses = await cpn.estimate(image, kept, {
          batchSize,
          flip: values["no-flip"] ? false : undefined,
          name: paths.get(id),
        });
        poses.forEach((p) =>
          results.push({
            image_id: id,
            category_id: 1,
            // pytorch-cpn writes 1 as every keypoint's third value; the pose score carries the confidence.
            keypoints: Array.from(p.keypoints, (v, k) => (k % 3 === 2 ? 1 : v)),
            score: p.score,
          })
        );
      } finally {
        image.packed.dispose();
      }
    }
  } finally {
    cpn.dispose();
    ssd?.dispose();
  }
  if (results.length === 0) {
    throw new InputError("pose2d: no person boxes to estimate (check --boxes / --box-thresh)");
  }
  await writeCocoResults(values.out, results);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `pose2d: ${results.length} people on ${byImage.size} image(s) in ${s.toFixed(1)} s → ${values.out}`,
  );
  return 0;
}

/** The `pose2d` command. */
export const command: Command = {
  name: "pose2d",
  summary: "2D keypoints with CPN on person boxes (file or SSD300 detector)",
  help: HELP,
  run: pose2d,
};
