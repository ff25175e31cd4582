/**
 * `posegpu bvh`: BVH motion files to pose files (forward kinematics, optionally mapped to H36M-17) and
 * pose files with 3D keypoints back to BVH (for Blender and other animation tools).
 * @module
 */

import { extname } from "node:path";
import { parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import { bvhToPoseDocument, CMU_UNIT_MM, readBvh } from "../../pose/bvh.ts";
import { readPoseDocument, writePoseDocument } from "../../pose/formats/detect.ts";
import type { PoseUnits } from "../../pose/formats/pose_json.ts";

const HELP = `posegpu bvh — BVH motion to pose files, and 3D poses to BVH

Usage:
  posegpu bvh CLIP.bvh --out POSES.json|.csv [--skeleton h36m17|cmu31] [--scale S] [--every N]
  posegpu bvh POSES.json --out CLIP.bvh [--track ID] [--no-branch-joints] [--fps N]

BVH → poses: forward kinematics of every frame (Euler channels in any order), written in the BVH's own
axes (CMU files: Y up) as frame "world".
  --skeleton NAME    h36m17 (default: CMU skeletons mapped joint by joint, see CMU_TO_H36M in
                     pose/bvh.ts; a BVH whose joints are the H36M-17 names is taken as is) or cmu31
                     (the 31 CMU joints unchanged)
  --scale S          multiply positions by S (default: ${
  CMU_UNIT_MM.toFixed(4)
} for CMU files, i.e. millimetres;
                     1 otherwise)
  --every N          keep every N-th frame (CMU files are 120 fps: --every 12 gives 10 fps)
  --units U          units to record in the pose file (default: mm for CMU files, else "unit")

Poses → BVH: joint rotations solved from the bone directions of the first track with 3D keypoints,
offsets = mean bone lengths, rest pose = the first frame; positions are kept as they are (Blender's
importer has forward/up axis options).
  --track ID         which track to write (default: the first with 3D keypoints)
  --no-branch-joints write the bare tree: no zero-length joint per branch (<parent>_<child>), so bones at
                     branch points (hips, shoulders) follow a least-squares fit instead of exactly
  --fps N            frame rate of the BVH (default: the pose file's, else 50)

  --out PATH         output file (required)
  -h, --help         this help

Examples:
  posegpu bvh 131_01.bvh --out walk.json --every 12
  posegpu bvh 131_01.bvh --out walk_cmu.csv --skeleton cmu31
  posegpu bvh lifted.json --out lifted.bvh`;

/** The `bvh` command. */
export const command: Command = {
  name: "bvh",
  summary: "BVH motion to pose JSON/CSV (forward kinematics, CMU → H36M-17) and 3D poses to BVH",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("bvh", args, {
      out: { type: "string" },
      skeleton: { type: "string" },
      scale: { type: "string" },
      every: { type: "string" },
      track: { type: "string" },
      "no-branch-joints": { type: "boolean", default: false },
      units: { type: "string" },
      fps: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new InputError(
        `bvh: expected one input file, got ${positionals.length} (see posegpu bvh --help)`,
      );
    }
    const input = positionals[0];
    const output = values.out as string | undefined;
    if (!output) throw new InputError("bvh: --out is required (see posegpu bvh --help)");
    const number = (flag: "scale" | "every" | "fps" | "track", integer: boolean): number | undefined => {
      const text = values[flag];
      if (text === undefined) return undefined;
      const v = Number(text);
      if (!Number.isFinite(v) || (integer ? !Number.isInteger(v) || v < 0 : v <= 0)) {
        throw new InputError(
          `bvh: --${flag} ${text} is not a ${integer ? "non-negative integer" : "positive number"}`,
        );
      }
      return v;
    };
    if (extname(input).toLowerCase() === ".bvh") {
      if (extname(output).toLowerCase() === ".bvh") {
        throw new InputError("bvh: --out must be a pose file (.json or .csv)");
      }
      const every = number("every", true);
      if (every === 0) throw new InputError("bvh: --every must be at least 1");
      const clip = await readBvh(input);
      const doc = bvhToPoseDocument(clip, {
        skeleton: values.skeleton as string | undefined,
        scale: number("scale", false),
        every,
        units: values.units as PoseUnits | undefined,
      });
      await writePoseDocument(output, doc);
      const kp = doc.people[0].keypoints3d!;
      console.log(
        `wrote ${output}: ${kp.frames} frames of ${doc.skeleton} at ${doc.fps} fps, units ${doc.units}`,
      );
      return 0;
    }
    if (extname(output).toLowerCase() !== ".bvh") {
      throw new InputError("bvh: pose input needs --out CLIP.bvh");
    }
    let doc = await readPoseDocument(input);
    const fps = number("fps", false);
    if (fps !== undefined) doc = { ...doc, fps };
    await writePoseDocument(output, doc, {
      format: "bvh",
      track: number("track", true),
      branchJoints: values["no-branch-joints"] !== true,
    });
    console.log(`wrote ${output} from ${input} (skeleton ${doc.skeleton})`);
    return 0;
  },
};
