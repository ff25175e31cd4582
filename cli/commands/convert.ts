/**
 * `posegpu convert`: keypoint files between formats (pose JSON, CSV, COCO annotations/results, OpenPose,
 * MediaPipe input, BVH) and skeletons.
 * @module
 */

import { parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import {
  formatFromExtension,
  parsePoseFormat,
  POSE_FORMATS,
  type PoseFormat,
  readPoseDocument,
  writePoseDocument,
} from "../../pose/formats/detect.ts";
import { convertPoseDocument, type PoseDocument } from "../../pose/formats/pose_json.ts";
import { SKELETONS } from "../../pose/skeletons.ts";
import { DEFAULT_MIN_SCORE } from "../../pose/convert.ts";

const HELP = `posegpu convert — convert keypoint files between formats and skeletons

Usage:
  posegpu convert --in FILE|FOLDER --out FILE|FOLDER [--from FMT] [--to FMT] [--skeleton NAME] [options]

Options:
  --in PATH          input file (an OpenPose output folder is a folder)
  --out PATH         output file (OpenPose: a folder)
  --from FMT         input format (default: detected from the extension and content)
  --to FMT           output format (default: from the extension: .json pose JSON, .csv, .bvh)
  --skeleton NAME    convert the keypoints to this skeleton (${Object.keys(SKELETONS).join(", ")});
                     COCO outputs convert to coco17 and OpenPose to body25 on their own
  --min-score X      joints scored below X count as missing in conversions (default ${DEFAULT_MIN_SCORE})
  --width W          MediaPipe input: image width in pixels (landmarks are normalised)
  --height H         MediaPipe input: image height in pixels
  --pixels           MediaPipe input: the landmarks are already in pixels
  --layout L         CSV output: long (one row per joint, default) or wide (one row per frame)
  --fps N            set the frame rate of the output
  -h, --help         this help

Formats: ${POSE_FORMATS.join(", ")} (MediaPipe is read-only; BVH output needs 3D keypoints).

Examples:
  posegpu convert --in openpose_out/ --out poses.json --skeleton h36m17
  posegpu convert --in results.json --out results.csv --layout wide
  posegpu convert --in landmarks.json --width 1920 --height 1080 --out h36m.json --skeleton h36m17
  posegpu convert --in poses.json --out refined_results.json --to coco-results
  posegpu convert --in lifted.json --out lifted.bvh`;

/** Skeleton each output format requires (converted to automatically). */
const FORMAT_SKELETON: Partial<Record<PoseFormat, string>> = {
  "coco-keypoints": "coco17",
  "coco-results": "coco17",
  openpose: "body25",
};

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (!(Number.isFinite(v) && v > 0)) {
    throw new InputError(`convert: ${flag} ${value} is not a positive number`);
  }
  return v;
}

function summary(doc: PoseDocument): string {
  const frames = new Set(doc.people.flatMap((p) => p.frames)).size;
  return `${doc.people.length} ${
    doc.people.length === 1 ? "person" : "people"
  }, ${frames} frames, skeleton ${doc.skeleton}`;
}

/** The `convert` command. */
export const command: Command = {
  name: "convert",
  summary:
    "convert keypoint files between formats (pose JSON, CSV, COCO, OpenPose, MediaPipe, BVH) and skeletons",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("convert", args, {
      in: { type: "string" },
      out: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      skeleton: { type: "string" },
      "min-score": { type: "string" },
      width: { type: "string" },
      height: { type: "string" },
      pixels: { type: "boolean", default: false },
      layout: { type: "string" },
      fps: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
    if (positionals.length > 0) {
      throw new InputError(`convert: unexpected argument "${positionals[0]}" (see posegpu convert --help)`);
    }
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const input = values.in as string | undefined;
    const output = values.out as string | undefined;
    if (!input || !output) {
      throw new InputError("convert: --in and --out are both required (see posegpu convert --help)");
    }
    const layout = values.layout as string | undefined;
    if (layout !== undefined && layout !== "long" && layout !== "wide") {
      throw new InputError(`convert: --layout ${layout}: expected long or wide`);
    }
    const minScoreText = values["min-score"] as string | undefined;
    const minScore = minScoreText === undefined ? undefined : Number(minScoreText);
    if (minScore !== undefined && !Number.isFinite(minScore)) {
      throw new InputError(`convert: --min-score ${minScoreText} is not a number`);
    }
    const from = values.from ? parsePoseFormat(values.from as string) : undefined;
    const to = values.to ? parsePoseFormat(values.to as string) : formatFromExtension(output) ?? "pose-json";
    let doc = await readPoseDocument(input, {
      format: from,
      width: positiveNumber(values.width as string | undefined, "--width"),
      height: positiveNumber(values.height as string | undefined, "--height"),
      pixels: values.pixels === true,
    });
    const skeleton = (values.skeleton as string | undefined) ?? FORMAT_SKELETON[to];
    if (skeleton) doc = convertPoseDocument(doc, skeleton, { minScore });
    const fps = positiveNumber(values.fps as string | undefined, "--fps");
    if (fps !== undefined) doc = { ...doc, fps };
    await writePoseDocument(output, doc, { format: to, csvLayout: layout as "long" | "wide" | undefined });
    console.log(`wrote ${output} (${to}): ${summary(doc)}`);
    return 0;
  },
};
