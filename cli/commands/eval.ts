/**
 * `posegpu eval`: evaluation protocols, one sub-command each (`coco` now; `h36m` to be wired to the
 * models). Add a sub-command by adding an entry to `EVAL_SUBCOMMANDS`.
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import { COCO_STAT_KEYS, evaluateCocoKeypointFiles, formatCocoSummary } from "../../pose/coco_eval.ts";

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

Not available yet: it needs a lifting model, which is wired in with the models.
The library function runH36mProtocol (pose/protocol_h36m.ts) runs the protocol for any lifting function.`;

/** The `eval` sub-commands by name. */
export const EVAL_SUBCOMMANDS: Record<string, EvalSubcommand> = {
  coco: {
    summary: "COCO keypoint AP/AR of a results file (pycocotools numbers)",
    help: COCO_HELP,
    run: runCoco,
  },
  h36m: {
    summary: "Human3.6M MPJPE / P-MPJPE per action (needs a model; not wired yet)",
    help: H36M_HELP,
    run(args: string[]): Promise<number> {
      if (args.includes("--help") || args.includes("-h")) {
        console.log(H36M_HELP);
        return Promise.resolve(0);
      }
      console.error("posegpu eval h36m: needs a lifting model, which is not wired in yet (see --help)");
      return Promise.resolve(1);
    },
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
