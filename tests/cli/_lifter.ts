/**
 * Test helper: a small random-weight Martinez checkpoint (linear_size 64, seeded), so the lift/demo/web
 * tests run without the shipped weights. Its 3D is not meaningful, only deterministic and finite.
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { initEngine } from "../../engine/backend.ts";
import { manualSeed } from "../../engine/random.ts";
import { type CheckpointMeta, expectedJoints, saveCheckpoint } from "../../models/checkpoint.ts";
import { createModel } from "../../models/registry.ts";
import { createPoseDocument, type PoseDocument } from "../../pose/formats/pose_json.ts";

/** Writes a seeded random Martinez checkpoint (z-score normalisation with plausible H36M statistics). */
export async function writeTestCheckpoint(path: string, options: { seed?: number } = {}): Promise<void> {
  await initEngine();
  manualSeed(options.seed ?? 7);
  const config = { linear_size: 64, num_stage: 2 };
  const model = createModel("martinez", config);
  const stateDict = await model.stateDict();
  model.dispose();
  // 16 input joints (no Neck/Nose) around a 1000 × 1000 image centre; 16 output joints around the root.
  const inMean = Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? 500 : 480 + i * 4));
  const meta: CheckpointMeta = {
    model: "martinez",
    config: { ...model.config },
    input: "gt",
    normalization: {
      kind: "zscore",
      input: { mean: inMean, std: Array(32).fill(80) },
      output: {
        mean: Array.from({ length: 48 }, (_, i) => (i % 3 === 1 ? -200 + 20 * i : 0)),
        std: Array(48).fill(150),
      },
      input2d: { root: [500, 520], scale: 110, image: { width: 1000, height: 1000 } },
    },
    ...expectedJoints("martinez", model.config),
    units: "mm",
    data: "random (test)",
    trainSubjects: [],
    valSubjects: [],
    epoch: 0,
    step: 0,
    valMpjpe: null,
    seed: options.seed ?? 7,
  };
  await saveCheckpoint(path, { meta, stateDict });
}

/** Absolute path of cli/main.ts. */
export const MAIN: string = fromFileUrl(new URL("../../cli/main.ts", import.meta.url));

/** Absolute path of the repository root (with a trailing slash). */
export const ROOT: string = fromFileUrl(new URL("../../", import.meta.url));

/** What a `posegpu` run printed and how it ended. */
export interface Run {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/** Runs `posegpu ARGS` as users do (`deno run PERMISSIONS cli/main.ts ARGS`; default `-A`). */
export async function posegpu(
  args: string[],
  options: { permissions?: string[]; env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), MAIN, ...args],
    env: options.env,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** Path of a shipped weights file, or null (with a printed reason) when it has not been trained yet. */
export function shippedWeights(name: string): string | null {
  const path = `${ROOT}weights/${name}.safetensors`;
  try {
    Deno.statSync(path);
    return path;
  } catch {
    console.warn(`skipping the shipped-weights part: ${path} is absent`);
    return null;
  }
}

/** A one-person H36M-17 2D pose document of every frame of `coords` ([frames, 17, 2], all joints visible). */
export function h36mPoses2d(
  coords: Float32Array,
  options: { image?: { width: number; height: number } } = {},
): PoseDocument {
  const frames = coords.length / 34;
  return createPoseDocument({
    skeleton: "h36m17",
    ...(options.image ? { image: options.image } : {}),
    people: [{
      track: 0,
      frames: Array.from({ length: frames }, (_, i) => i),
      keypoints2d: {
        skeleton: "h36m17",
        frames,
        joints: 17,
        coords,
        scores: null,
        mask: new Uint8Array(frames * 17).fill(1),
      },
      keypoints3d: null,
    }],
  });
}
