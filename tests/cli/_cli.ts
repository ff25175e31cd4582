/**
 * Runs the CLI as a subprocess (as users run it) and checks how it failed: exit code, a message that
 * names the file or argument at fault, and no stack trace.
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** Absolute path of cli/main.ts. */
export const MAIN: string = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** What a CLI run printed and how it ended. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Signal that ended the process, if one did. */
  signal: Deno.Signal | null;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/** Runs `posegpu ARGS` (`deno run -A cli/main.ts ARGS`), or a shell line around it when `shell` is given
 * (`$POSEGPU` in it stands for the command). */
export async function cli(
  args: string[],
  options: { env?: Record<string, string>; shell?: string } = {},
): Promise<CliResult> {
  const cmd = options.shell === undefined
    ? new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      env: options.env,
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command("bash", {
      args: ["-c", options.shell, "posegpu-test", ...args],
      env: { ...options.env, POSEGPU: `${Deno.execPath()} run -A ${MAIN}` },
      stdout: "piped",
      stderr: "piped",
    });
  const r = await cmd.output();
  const dec = new TextDecoder();
  return { code: r.code, signal: r.signal, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

// A V8 stack frame line: "    at f (file:///x.ts:1:2)".
const STACK_LINE = /^\s+at\s/m;

/** Asserts a clean failure: exit `code`, stderr naming `names`, no stack trace, no "internal error". */
export function assertCleanFailure(
  r: CliResult,
  options: { code?: number; names: string | RegExp; what: string },
): void {
  const { what } = options;
  const shown = `${what}\n--- exit ${r.code}\n--- stderr:\n${r.err}\n--- stdout:\n${r.out.slice(0, 400)}`;
  assert.equal(r.code, options.code ?? 1, `exit code: ${shown}`);
  assert.doesNotMatch(r.err, STACK_LINE, `stack trace printed: ${shown}`);
  assert.doesNotMatch(r.err, /internal error/, `internal error: ${shown}`);
  const text = r.err + r.out;
  if (typeof options.names === "string") {
    assert.ok(text.includes(options.names), `does not name ${options.names}: ${shown}`);
  } else assert.match(text, options.names, `message: ${shown}`);
}
