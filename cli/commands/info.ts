/**
 * `posegpu info`: the WebGPU adapter, backend, limits and features the engine runs on.
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { adapterSummary } from "../../engine/device.ts";
import { initEngine } from "../../engine/backend.ts";

/** The `info` command. */
export const command: Command = {
  name: "info",
  summary: "show the WebGPU adapter, backend, limits and features",
  help: `posegpu info [--json]

Prints the adapter posegpu runs on (name, backend, whether it is a software adapter), the device limits
it was granted and its features. Exit code 2 when no WebGPU adapter is available.

Examples:
  posegpu info
  posegpu info --json`,
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true });
    await initEngine();
    const s = adapterSummary();
    if (values.json) {
      console.log(JSON.stringify(s, null, 2));
      return 0;
    }
    console.log(`adapter:  ${s.description}`);
    console.log(`backend:  ${s.backend}${s.isSoftware ? " (software adapter: CPU-tuned kernels)" : ""}`);
    console.log(`vendor:   ${s.vendor}${s.architecture ? `  architecture: ${s.architecture}` : ""}`);
    console.log(`features: ${s.features.join(", ") || "(none)"}`);
    console.log("limits:");
    for (const [k, v] of Object.entries(s.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
    return 0;
  },
};
