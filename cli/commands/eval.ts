/**
 * `posegpu eval`: evaluation protocols, one sub-command each (`coco`: keypoint AP/AR; `h36m`: Protocol
 * #1/#2 of a posegpu checkpoint via `runH36mProtocol` and `loadLifter`). Add a sub-command by adding an
 * entry to `EVAL_SUBCOMMANDS`.
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import { COCO_STAT_KEYS, evaluateCocoKeypointFiles, formatCocoSummary } from "../../pose/coco_eval.ts";
import { initEngine } from "../../engine/backend.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import { loadLifter } from "../../models/lifter.ts";
import { shTo17 } from "../../models/training/h36m_data.ts";
import { type ActionTable, formatActionTable } from "../../pose/metrics/per_action.ts";
import {
  H36M_TEST_SUBJECTS,
  H36M_TRAIN_SUBJECTS,
  type H36mDataSource,
  type H36mJointStats,
  type H36mLifter,
  openH36mFolder,
  runH36mProtocol,
} from "../../pose/protocol_h36m.ts";
import { H36M_17 } from "../../pose/skeletons.ts";
import { actionBarChartSvg } from "../../pose/viz/bar_chart.ts";

/** One `posegpu eval <name>` sub-command. */
export interface EvalSubcommand {
  /** One line for `posegpu eval --help`. */
  summary: string;
  /** Full help text. */
  help: string;
  /** Runs on the arguments after the sub-command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

const COCO_HELP = `posegpu eval coco — COCO keypoint AP/AR, as pycocotools' COCOeval (iouType 'keypoints')

Usage:
  posegpu eval coco --gt FILE --dt FILE [--json]

Options:
  --gt FILE   COCO ground truth (person_keypoints_*.json)
  --dt FILE   keypoint results (COCO results format: image_id, category_id, keypoints, score)
  --json      print {"AP":…,"AP50":…,"AP75":…,"APm":…,"APl":…,"AR":…,"AR50":…,"AR75":…,"ARm":…,"ARl":…}
  -h, --help  this help

Examples:
  posegpu eval coco --gt person_keypoints_val2017.json --dt results.json
  posegpu eval coco --gt gt.json --dt refined.json --json > stats.json`;

async function runCoco(args: string[]): Promise<number> {
  let values: { gt?: string; dt?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        gt: { type: "string" },
        dt: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new InputError(`eval coco: ${(e as Error).message} (see posegpu eval coco --help)`, { cause: e });
  }
  if (values.help) {
    console.log(COCO_HELP);
    return 0;
  }
  if (!values.gt || !values.dt) {
    throw new InputError(
      `eval coco: --gt FILE and --dt FILE are both required (see posegpu eval coco --help)`,
    );
  }
  const { stats } = await evaluateCocoKeypointFiles(values.gt, values.dt);
  if (values.json) {
    const out: Record<string, number> = {};
    for (const k of COCO_STAT_KEYS) out[k] = stats[k];
    console.log(JSON.stringify(out));
  } else {
    console.log(formatCocoSummary(stats));
  }
  return 0;
}

const H36M_HELP = `posegpu eval h36m — Human3.6M Protocol #1 (MPJPE) and #2 (P-MPJPE) per action

Usage:
  posegpu eval h36m --data DIR --weights W.safetensors [--subjects S9,S11] [--input gt|sh]
                    [--rare R [--train-data DIR] [--train-subjects LIST]] [--json] [--svg chart.svg]
                    [--batch N] [--flip-test]

Lifts every frame of every sequence × camera of the test subjects with a posegpu checkpoint (posegpu
train, or the shipped weights/) and reports MPJPE (root-aligned) and P-MPJPE (similarity-aligned) in mm
per action — the mean over the action's frames of all sequences and cameras, sub-sequences merged
("Walking 1" and "Walking" are Walking; TakingPhoto is Photo, WalkingDog WalkDog) — and the average over
actions (the unweighted mean of the per-action means, as the papers report it). 2D input: the ground
truth projected through each camera (gt) or the Stacked Hourglass detections (sh; Neck/Nose filled as
the Thorax–Head midpoint for 17-joint models).

Options:
  --data DIR             Human3.6M folder (S<n>.safetensors + cameras.json)
  --weights FILE         posegpu checkpoint (model, configuration and normalisation in its metadata)
  --subjects LIST        test subjects (default S9,S11)
  --input gt|sh          2D input (default: the one the checkpoint was trained on)
  --rare R               only the rarest R% of test poses (all cameras pooled) by occurrence in the
                         training set (SRNet; poses root-relative in each camera's frame, every 10th
                         training frame, σ per joint = the training set's spread; see pose/rare_pose.ts)
  --train-data DIR       folder of the training subjects for --rare (default --data)
  --train-subjects LIST  training subjects for --rare (default S1,S5,S6,S7,S8)
  --json                 print {"mpjpe":{"average":…,"per_action":{…}},"p_mpjpe":{…},"frames":…} (mm)
  --joints               also per-joint MPJPE, the hard joints' mean (knees, feet, elbows, wrists) and
                         the bone-length RMSE of the 8 limb segments, pooled over all frames (the
                         dual-channel paper's tables); with --json under "joints":{"per_joint":{…},
                         "hard_joints":…,"bone_length":{"average":…,"per_segment":{…}}}
  --svg FILE             also write a per-action bar chart (MPJPE and P-MPJPE)
  --batch N              frames per GPU batch (default 1024)
  --flip-test            also lift the mirrored 2D and average with the mirrored-back 3D (how VideoPose3D
                         and SRNet evaluate by default; twice the work)
  --weights-dtype T      f32 (default) or f16: Linear weights stored as f16 (adapters with shader-f16)
  -h, --help             this help

Examples:
  posegpu eval h36m --data h36m/ --weights weights/martinez_gt.safetensors --subjects S9,S11 --input gt
  posegpu eval h36m --data h36m/ --weights weights/martinez_sh.safetensors --input sh --json
  posegpu eval h36m --data h36m/ --weights srnet.safetensors --rare 10 --train-subjects S1,S5,S6,S7,S8`;

function subjectList(flag: string, text: string | undefined, fallback: readonly string[]): string[] {
  if (text === undefined) return [...fallback];
  const list = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (!list.length) throw new InputError(`eval h36m: ${flag} is empty`);
  for (const s of list) {
    if (!/^S\d+$/.test(s)) throw new InputError(`eval h36m: ${flag} "${s}" is not a subject name like S9`);
  }
  return list;
}

function perAction(table: ActionTable): { average: number; per_action: Record<string, number> } {
  return {
    average: table.average,
    per_action: Object.fromEntries(table.rows.map((r) => [r.action, r.error])),
  };
}

/** A data source reading training subjects from another folder (for --rare with --train-data). */
async function combinedSource(
  testDir: string,
  trainDir: string | undefined,
  testSubjects: readonly string[],
): Promise<H36mDataSource> {
  const test = await openH36mFolder(testDir);
  if (!trainDir || trainDir === testDir) return test;
  const train = await openH36mFolder(trainDir);
  const pick = (s: string) => (testSubjects.includes(s) ? test : train);
  return {
    loadSubject: (s) => pick(s).loadSubject(s),
    cameras: (s) => pick(s).cameras(s),
  };
}

async function runH36m(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      weights: { type: "string" },
      subjects: { type: "string" },
      input: { type: "string" },
      rare: { type: "string" },
      "train-data": { type: "string" },
      "train-subjects": { type: "string" },
      json: { type: "boolean", default: false },
      joints: { type: "boolean", default: false },
      svg: { type: "string" },
      batch: { type: "string" },
      "weights-dtype": { type: "string" },
      "flip-test": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(H36M_HELP);
    return 0;
  }
  if (!values.data) throw new InputError("eval h36m: --data DIR is required (see posegpu eval h36m --help)");
  if (!values.weights) throw new InputError("eval h36m: --weights FILE is required (a posegpu checkpoint)");
  const subjects = subjectList("--subjects", values.subjects, H36M_TEST_SUBJECTS);
  const trainSubjects = subjectList("--train-subjects", values["train-subjects"], H36M_TRAIN_SUBJECTS);
  let rare: number | undefined;
  if (
    values.rare === undefined &&
    (values["train-data"] !== undefined || values["train-subjects"] !== undefined)
  ) {
    throw new InputError("eval h36m: --train-data and --train-subjects only apply with --rare R");
  }
  if (values.rare !== undefined) {
    rare = Number(values.rare);
    if (!(rare > 0 && rare <= 100)) {
      throw new InputError(`eval h36m: --rare must be in (0, 100], got "${values.rare}"`);
    }
  }
  const batch = values.batch === undefined ? 1024 : Number(values.batch);
  if (!Number.isSafeInteger(batch) || batch < 1) throw new InputError(`eval h36m: --batch must be ≥ 1`);
  await initEngine();
  const dtype = values["weights-dtype"] ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new InputError(`eval h36m: --weights-dtype must be f32 or f16, got "${dtype}"`);
  }
  const lifter = await loadLifter(values.weights, { weightsDtype: dtype });
  const input = values.input ?? lifter.meta.input;
  if (input !== "gt" && input !== "sh") {
    throw new InputError(`eval h36m: --input must be gt or sh, got "${input}"`);
  }
  const source = await combinedSource(values.data, values["train-data"], subjects);
  let done = 0;
  const t0 = performance.now();
  const lift: H36mLifter = async (input2d, meta) => {
    const kp = meta.inputJoints.length === 17 ? input2d : shTo17(input2d);
    return await lifter.lift(kp, {
      image: { width: meta.camera.resW, height: meta.camera.resH },
      batchSize: batch,
      flipTest: values["flip-test"],
    });
  };
  const result = await runH36mProtocol(lift, source, {
    input,
    subjects,
    rare: rare === undefined ? undefined : { percent: rare, trainSubjects },
    joints: values.joints,
    onProgress: ({ subject, sequence, cameraId }) => {
      done++;
      console.error(
        `eval h36m: ${done} sequence × camera done (${subject} "${sequence}" ${cameraId}, ${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s)`,
      );
    },
  });
  lifter.dispose();
  if (values.svg) {
    const svg = actionBarChartSvg([{ name: "MPJPE", table: result.mpjpe }, {
      name: "P-MPJPE",
      table: result.pMpjpe,
    }], {
      title: `Human3.6M ${subjects.join(",")} (${input} 2D${rare !== undefined ? `, rarest ${rare}%` : ""})`,
      unit: "mm",
    });
    await writeFileAtomic(values.svg, svg);
  }
  if (values.json) {
    console.log(JSON.stringify({
      mpjpe: perAction(result.mpjpe),
      p_mpjpe: perAction(result.pMpjpe),
      frames: result.mpjpe.frames,
      ...(result.joints ? { joints: jointsJson(result.joints) } : {}),
    }));
  } else {
    console.log(`MPJPE (Protocol #1), ${result.mpjpe.frames} frames\n${formatActionTable(result.mpjpe)}`);
    console.log(`\nP-MPJPE (Protocol #2)\n${formatActionTable(result.pMpjpe)}`);
    if (result.joints) console.log(`\n${formatJoints(result.joints)}`);
  }
  return 0;
}

/** The `eval` sub-commands by name. */
export const EVAL_SUBCOMMANDS: Record<string, EvalSubcommand> = {
  coco: {
    summary: "COCO keypoint AP/AR of a results file (pycocotools numbers)",
    help: COCO_HELP,
    run: runCoco,
  },
  h36m: {
    summary: "Human3.6M MPJPE / P-MPJPE per action of a posegpu checkpoint",
    help: H36M_HELP,
    run: runH36m,
  },
};

function overview(): string {
  const width = Math.max(...Object.keys(EVAL_SUBCOMMANDS).map((n) => n.length));
  return `posegpu eval — evaluation protocols

Usage:
  posegpu eval <protocol> [options]

Protocols:
${Object.entries(EVAL_SUBCOMMANDS).map(([n, s]) => `  ${n.padEnd(width)}  ${s.summary}`).join("\n")}

Examples:
  posegpu eval coco --gt person_keypoints_val2017.json --dt results.json
  posegpu eval coco --gt gt.json --dt results.json --json
  posegpu eval coco --help`;
}

/** `posegpu eval`. */
export const command: Command = {
  name: "eval",
  summary: "Evaluate predictions (COCO keypoint AP/AR; Human3.6M protocols)",
  // cli/main.ts answers any `--help` with this text, so it carries every protocol's help too.
  help: [overview(), ...Object.values(EVAL_SUBCOMMANDS).map((s) => s.help)].join("\n\n"),
  async run(args: string[]): Promise<number> {
    const [name, ...rest] = args;
    if (name === undefined || name === "--help" || name === "-h") {
      console.log(overview());
      return name === undefined ? 1 : 0;
    }
    const sub = EVAL_SUBCOMMANDS[name];
    if (sub === undefined) {
      throw new InputError(
        `eval: unknown protocol "${name}"; expected one of ${Object.keys(EVAL_SUBCOMMANDS).join(", ")}`,
      );
    }
    return await sub.run(rest);
  },
};

function jointsJson(j: H36mJointStats): Record<string, unknown> {
  return {
    per_joint: Object.fromEntries(H36M_17.joints.map((name, i) => [name, j.perJoint[i]])),
    hard_joints: j.hardJoints,
    bone_length: {
      average: j.limbSegments.average,
      per_segment: Object.fromEntries(j.limbSegments.segments.map((s) => [s.name, s.rmse])),
    },
  };
}

function formatJoints(j: H36mJointStats): string {
  const rows = H36M_17.joints.map((name, i) => `${name.padEnd(16)}${j.perJoint[i].toFixed(1).padStart(8)}`);
  const segs = j.limbSegments.segments.map((s) => `${s.name.padEnd(16)}${s.rmse.toFixed(1).padStart(8)}`);
  return [
    "MPJPE per joint (mm, all frames)",
    ...rows,
    `${"hard joints".padEnd(16)}${j.hardJoints.toFixed(1).padStart(8)}`,
    "",
    "Bone-length RMSE per limb segment (mm)",
    ...segs,
    `${"average".padEnd(16)}${j.limbSegments.average.toFixed(1).padStart(8)}`,
  ].join("\n");
}
