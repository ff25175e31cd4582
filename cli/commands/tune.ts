/**
 * `posegpu tune`: measures the matmul kernel candidates on this adapter for the shapes posegpu's models
 * use and caches the winners on disk (keyed by adapter and engine version).
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { initEngine } from "../../engine/backend.ts";
import { adapterSummary } from "../../engine/device.ts";
import { cacheDir, saveTuning, tuneMatmul } from "../../engine/tuning.ts";
import { InputError } from "../../engine/errors.ts";

/** Shape classes of the shipped models: the lifter at batch 1/64/1024 and a square reference product. */
const DEFAULT_SHAPES = [
  { m: 1024, n: 1024, k: 1024 },
  { m: 1024, n: 1024, k: 32 },
  { m: 64, n: 1024, k: 1024 },
  { m: 1, n: 1024, k: 1024 },
  { m: 1024, n: 48, k: 1024 },
];

/** The `tune` command. */
export const command: Command = {
  name: "tune",
  summary: "measure kernel candidates on this adapter and cache the fastest",
  help: `posegpu tune [--shape MxNxK …] [--reps N] [--json]

Times each matmul kernel candidate (register-tiled blocks of several sizes, shared-memory tiled) for the
shape classes the models use, and caches the fastest per adapter in $POSEGPU_CACHE_DIR, else
$XDG_CACHE_HOME/posegpu, else ~/.cache/posegpu. Later runs reuse the cache. Large tiles compile for
seconds on software adapters, so a full run takes a few minutes there.

Examples:
  posegpu tune
  posegpu tune --shape 1024x1024x1024 --shape 64x1024x1024`,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args,
      options: {
        shape: { type: "string", multiple: true },
        reps: { type: "string" },
        json: { type: "boolean" },
      },
    });
    const shapes = values.shape?.map((s) => {
      const p = s.split("x").map(Number);
      if (p.length !== 3 || p.some((v) => !Number.isInteger(v) || v < 1)) {
        throw new InputError(`--shape ${s}: expected MxNxK with positive integers, e.g. 1024x1024x1024`);
      }
      return { m: p[0], n: p[1], k: p[2] };
    }) ?? DEFAULT_SHAPES;
    const reps = values.reps === undefined ? 3 : Number(values.reps);
    if (!Number.isInteger(reps) || reps < 1) {
      throw new InputError(`--reps ${values.reps}: expected a positive integer`);
    }
    await initEngine();
    console.error(
      `tuning on ${adapterSummary().description}; cache: ${cacheDir() ?? "(none: no env permission)"}`,
    );
    const report: Record<string, unknown> = {};
    for (const [i, s] of shapes.entries()) {
      console.error(`[${i + 1}/${shapes.length}] ${s.m}x${s.n}x${s.k}`);
      const r = await tuneMatmul(s, {
        reps,
        log: (l) => console.error(l),
        save: false,
      });
      report[`${s.m}x${s.n}x${s.k}`] = r[0];
      const est = r[0].cpuMs === undefined
        ? ""
        : ` wall, ${
          (2 * s.m * s.n * s.k / (r[0].cpuMs / (navigator.hardwareConcurrency || 1)) / 1e6).toFixed(1)
        } ` +
          `GFLOP/s CPU-time estimate for an idle machine (software adapters rank by CPU time)`;
      console.error(
        `  -> ${r[0].tile.kind}${r[0].tile.texA === false ? "(A buffer)" : ""} ${r[0].tile.tm}x${
          r[0].tile.tn
        }: ${r[0].gflops.toFixed(1)} GFLOP/s${est}`,
      );
    }
    const path = await saveTuning();
    if (values.json) console.log(JSON.stringify({ cache: path, best: report }, null, 1));
    else console.log(`saved: ${path ?? "(not saved: no cache directory or write permission)"}`);
    return 0;
  },
};
