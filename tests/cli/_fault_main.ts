/**
 * The CLI with a simulated device fault, for tests/cli/cli_faults_test.ts: the N-th engine dispatch
 * (env POSEGPU_TEST_FAULT_AFTER, default 1) first reports a device error through
 * `reportDeviceError` (POSEGPU_TEST_FAULT=error, the default) or destroys the device (=lost), then
 * proceeds. Arguments are passed to `main` as to cli/main.ts.
 * @module
 */

import { COMMANDS, main } from "../../cli/main.ts";
import { Backend } from "../../engine/backend.ts";
import { reportDeviceError } from "../../engine/device.ts";
import { EnvironmentError } from "../../engine/errors.ts";

// `run` is the command that drives the GPU end to end; register it if cli/main.ts does not (yet).
COMMANDS.run ??= () => import("../../cli/commands/run.ts");

const after = Number(Deno.env.get("POSEGPU_TEST_FAULT_AFTER") ?? "1");
const kind = Deno.env.get("POSEGPU_TEST_FAULT") ?? "error";
let dispatches = 0;
const dispatch = Backend.prototype.dispatch;
Backend.prototype.dispatch = function (this: Backend, ...args: Parameters<Backend["dispatch"]>): void {
  if (++dispatches === after) {
    if (kind === "lost") this.device.destroy();
    else reportDeviceError(new EnvironmentError("WebGPU error: simulated device fault (test)"));
  }
  return dispatch.apply(this, args);
};
// Report how far the run got, so the test can tell that the fault hit mid-run.
globalThis.addEventListener("unload", () => console.error(`[fault test] dispatches: ${dispatches}`));
Deno.exit(await main(Deno.args));
