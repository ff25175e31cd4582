/**
 * The `posegpu` command line. Each sub-command lives in `cli/commands/<name>.ts` and is loaded on
 * demand, so `posegpu --help` starts fast. Exit codes: 0 success, 1 bad input, 2 environment (no WebGPU).
 *
 * ```sh
 * deno run -A jsr:@posegpu/posegpu/cli info
 * ```
 * @module
 */

import type { Command } from "./command.ts";
import { PosegpuError } from "../engine/errors.ts";

/** Sub-commands in help order, each loaded when used. */
export const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  demo: () => import("./commands/demo.ts"),
  lift: () => import("./commands/lift.ts"),
  view: () => import("./commands/view.ts"),
  info: () => import("./commands/info.ts"),
  tune: () => import("./commands/tune.ts"),
  eval: () => import("./commands/eval.ts"),
  convert: () => import("./commands/convert.ts"),
  "convert-weights": () => import("./commands/convert_weights.ts"),
  bvh: () => import("./commands/bvh.ts"),
  run: () => import("./commands/run.ts"),
  train: () => import("./commands/train.ts"),
  refine2d: () => import("./commands/refine2d.ts"),
  pose2d: () => import("./commands/pose2d.ts"),
  refine3d: () => import("./commands/refine3d.ts"),
};

/** One-line summaries for `posegpu --help` (kept here so help needs no imports). */
const SUMMARIES: Record<string, string> = {
  demo: "lift the shipped sample clip: viewer, SVG, poses/s and MPJPE (start here)",
  lift: "lift 2D keypoints (COCO, OpenPose, MediaPipe, pose JSON, CSV) to 3D",
  view: "write a self-contained HTML viewer for a pose file",
  info: "show the WebGPU adapter, backend, limits and features",
  tune: "measure kernel candidates on this adapter and cache the fastest",
  eval: "evaluate predictions: COCO keypoint AP/AR, Human3.6M protocols",
  convert: "convert keypoint files between formats and skeletons",
  "convert-weights": "convert a PyTorch checkpoint (.pth/.pt/.bin) to safetensors, checked against a model",
  bvh: "turn a BVH mocap clip into pose JSON (and pose files into BVH)",
  run: "raw network forward of a model on a safetensors input (parity checks)",
  refine2d: "refine COCO 2D keypoint results with PoseFix",
  pose2d: "2D keypoints with CPN on person boxes (file or SSD300 detector)",
  refine3d: "refine 3D poses with limb patches of the image and part segmentation (seed 000)",
  train: "train a lifting model on Human3.6M-format data (checkpoints, resume)",
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.keys(COMMANDS).map((n) => `  ${n.padEnd(width)} ${SUMMARIES[n] ?? ""}`);
  return `posegpu — human pose lifting and refinement on WebGPU

Usage: posegpu <command> [options]     (posegpu <command> --help for details and examples)

Commands:
${lines.join("\n")}

Exit codes: 0 success, 1 bad input, 2 environment (e.g. no WebGPU adapter).`;
}

/** Runs the CLI on `args`; resolves to the exit code. Errors are printed, never thrown. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return name ? 0 : 1;
  }
  if (name === "--version") {
    console.log("posegpu 0.1.0");
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`posegpu: unknown command "${name}"\n\n${mainHelp()}`);
    return 1;
  }
  try {
    const { command } = await load();
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(command.help);
      return 0;
    }
    return await command.run(rest);
  } catch (e) {
    if (e instanceof PosegpuError) {
      console.error(`posegpu ${name}: ${e.message}`);
      return e.exitCode;
    }
    // node:util parseArgs reports unknown/missing options with these codes: that is bad input.
    const code = (e as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      console.error(`posegpu ${name}: ${(e as Error).message}\n(see: posegpu ${name} --help)`);
      return 1;
    }
    // A path with a NUL byte: Deno's file APIs throw a TypeError before touching the disk. Bad input.
    if (e instanceof TypeError && /NUL byte/.test(e.message)) {
      console.error(`posegpu ${name}: ${e.message}`);
      return 1;
    }
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      console.error(`posegpu ${name}: ${(e as Error).message}`);
      return e instanceof Deno.errors.NotFound ? 1 : 2;
    }
    console.error(`posegpu ${name}: internal error: ${(e as Error).stack ?? e}`);
    return 3;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
