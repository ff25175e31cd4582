/**
 * The shape of a CLI sub-command. Each command lives in `cli/commands/<name>.ts` and is registered
 * in `cli/main.ts`.
 * @module
 */

/** One `posegpu` sub-command. */
export interface Command {
  /** The word after `posegpu` (e.g. `eval`). */
  name: string;
  /** One line for `posegpu --help`. */
  summary: string;
  /** Full help text with usage and examples, printed by `posegpu NAME --help`. */
  help: string;
  /** Runs the command on its arguments (after the name); resolves to the exit code. Throw
   * `InputError`/`EnvironmentError` (engine/errors.ts) for bad input / environment. */
  run(args: string[]): Promise<number>;
}
