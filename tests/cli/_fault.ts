// Runs the CLI with an injected device fault (tests/cli/_fault_main.ts) for the fault tests.
import { fileURLToPath } from "node:url";
import { type CliResult, MAIN } from "./_cli.ts";

const FAULT_MAIN = fileURLToPath(new URL("./_fault_main.ts", import.meta.url));

/** Which fault, after how many dispatches. */
export interface Fault {
  kind: "error" | "lost";
  after: number;
}

/**
 * `posegpu ARGS` with `fault` injected (none: the plain CLI, counting dispatches); killed after `timeoutMs`,
 * so that a hang fails the test instead of blocking it. `dispatches` is what the fault hook counted (-1: none).
 */
export async function runWithFault(
  args: string[],
  fault: Fault | undefined,
  options: { timeoutMs?: number } = {},
): Promise<CliResult & { dispatches: number }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fault ? FAULT_MAIN : MAIN, ...args],
    env: fault
      ? { POSEGPU_TEST_FAULT: fault.kind, POSEGPU_TEST_FAULT_AFTER: String(fault.after) }
      : { POSEGPU_TEST_FAULT_AFTER: "1000000000" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  const m = /\[fault test\] dispatches: (\d+)/.exec(err);
  return {
    code: r.code,
    signal: r.signal,
    out: new TextDecoder().decode(r.stdout),
    err: err.replace(/\[fault test\].*\n?/, ""),
    dispatches: m ? Number(m[1]) : -1,
  };
}
