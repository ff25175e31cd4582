/**
 * Argument parsing shared by the sub-commands: `node:util` parseArgs with positionals, whose own errors
 * become `InputError`s that point at the command's help.
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { InputError } from "../engine/errors.ts";

/** What `parseArgs` returns for `options` (strict, with positionals). */
export type ParsedArgs<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>
>;

/** Parses `args` strictly against `options`; unknown or malformed options are an `InputError`. */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  options: T,
): ParsedArgs<T> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new InputError(`${(e as Error).message} (see posegpu ${command} --help)`, { cause: e });
  }
}

/**
 * The `--config key=value` pairs of a command without other positionals: `--config a=1 b=2` leaves the
 * values after the first as positionals, so those join the pairs; any other positional is an `InputError`.
 */
export function configPairs(
  command: string,
  config: readonly string[] | undefined,
  positionals: readonly string[],
): string[] {
  const stray = positionals.filter((p) => !p.includes("="));
  if (stray.length) {
    throw new InputError(
      `${command}: unexpected argument ${stray.join(" ")} (see posegpu ${command} --help)`,
    );
  }
  return [...(config ?? []), ...positionals];
}
