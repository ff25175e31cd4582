/**
 * `posegpu view POSES --out view.html [--gt GT]`: the self-contained HTML viewer (`viewerHtml`) for any
 * pose file posegpu reads, optionally with a ground truth drawn as a grey dashed overlay.
 * @module
 */

import { parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import { parsePoseFormat, POSE_FORMATS, readPoseDocument } from "../../pose/formats/detect.ts";
import { convertPoseDocument, type PoseDocument } from "../../pose/formats/pose_json.ts";
import { getSkeleton } from "../../pose/skeletons.ts";
import type { UpAxis } from "../../pose/viz/axes.ts";
import { viewerHtml } from "../../pose/viz/html_viewer.ts";

const UP_AXES: readonly UpAxis[] = ["x", "-x", "y", "-y", "z", "-z"];

const HELP = `posegpu view — write a self-contained HTML viewer for a pose file

Usage:
  posegpu view POSES --out VIEW.html [--gt GT] [--format FMT] [--up AXIS] [--title TEXT] [--json]

Plays the frames (play/pause, scrubber, fps), shows the 3D keypoints (drag to rotate) and the 2D keypoints
beside them when the file has both; every track is drawn. The page has no external resources: open it
from disk in any browser.

Options:
  --out FILE       the HTML page to write (required)
  --gt FILE        ground-truth poses: tracks matched by track id, frames by frame index, drawn as a grey
                   dashed overlay moved to each pose's root; converted to the poses' skeleton if needed
  --format FMT     format of POSES (default: detected; ${POSE_FORMATS.join(", ")})
  --up AXIS        data axis pointing up (${UP_AXES.join(", ")}; default: -y for camera frames, guessed
                   otherwise)
  --title TEXT     page title (default: the file name)
  --json           print a JSON summary on stdout
  -h, --help       this help

Examples:
  posegpu view lifted.json --out lifted.html
  posegpu view out/demo.json --out demo.html --gt pose/data/cmu_131_01_2d.json
  posegpu view walk.csv --out walk.html --up y`;

/** The `view` command. */
export const command: Command = {
  name: "view",
  summary: "write a self-contained HTML viewer (3D + 2D, ground-truth overlay) for a pose file",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("view", args, {
      out: { type: "string" },
      gt: { type: "string" },
      format: { type: "string" },
      up: { type: "string" },
      title: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new InputError(`expected one pose file, got ${positionals.length} (see posegpu view --help)`);
    }
    const input = positionals[0];
    const out = values.out as string | undefined;
    if (!out) throw new InputError("--out VIEW.html is required (see posegpu view --help)");
    const up = values.up as string | undefined;
    if (up !== undefined && !UP_AXES.includes(up as UpAxis)) {
      throw new InputError(`--up ${up} is not one of ${UP_AXES.join(", ")}`);
    }
    const format = values.format === undefined ? undefined : parsePoseFormat(values.format as string);
    const doc = await readPoseDocument(input, { format });
    let gt: PoseDocument | null = null;
    if (values.gt !== undefined) {
      gt = await readPoseDocument(values.gt as string);
      if (getSkeleton(gt.skeleton).name !== getSkeleton(doc.skeleton).name) {
        try {
          gt = convertPoseDocument(gt, doc.skeleton);
        } catch (e) {
          throw new InputError(
            `${values.gt}: ground truth on skeleton ${gt.skeleton} cannot be converted to ${doc.skeleton} ` +
              `(${(e as Error).message})`,
            { cause: e },
          );
        }
      }
      if (!gt.people.some((p) => p.keypoints3d)) {
        throw new InputError(`${values.gt}: the ground truth has no 3D keypoints`);
      }
    }
    const html = viewerHtml(doc, {
      title: (values.title as string | undefined) ?? input.split("/").filter(Boolean).pop() ?? input,
      groundTruth: gt,
      up: up as UpAxis | undefined,
    });
    await writeFileAtomic(out, html);
    const frames = new Set(doc.people.flatMap((p) => p.frames)).size;
    if (values.json) {
      console.log(JSON.stringify({
        input,
        out,
        groundTruth: (values.gt as string | undefined) ?? null,
        skeleton: doc.skeleton,
        people: doc.people.length,
        frames,
        has3d: doc.people.some((p) => p.keypoints3d),
        bytes: new TextEncoder().encode(html).length,
      }));
    } else {
      console.log(
        `wrote ${out}: ${doc.people.length} ${
          doc.people.length === 1 ? "track" : "tracks"
        }, ${frames} frames` +
          (gt ? `, ground truth from ${values.gt}` : ""),
      );
    }
    return 0;
  },
};
