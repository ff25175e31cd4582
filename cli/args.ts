/**
 * Argument parsing shared by the sub-commands: `node:util` parseArgs with positionals, whose own errors
 * become `InputError`s that point at the command's help.
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError } from "../engine/errors.ts";

/** Parsed flags (string or boolean options) and positionals. */
export interface ParsedArgs {
  /** Option values by name. */
  values: Record<string, string | boolean | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/** Parses `args` strictly against `options`; unknown or malformed options are an `InputError`. */
export function parseCommandArgs(
  command: string,
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (e) {
    throw new InputError(`${(e as Error).message} (see posegpu ${command} --help)`, { cause: e });
  }
}
