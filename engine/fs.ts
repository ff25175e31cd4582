/**
 * File helpers: outputs are written to a temporary file beside the target and renamed into place,
 * so a failed or interrupted run never leaves a half-written file.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { EnvironmentError, InputError, PosegpuError } from "./errors.ts";

/**
 * Writes bytes or text to `path` atomically (temporary file in the same folder, then rename). A path that
 * cannot hold a file (a folder, or below a file) throws `InputError`; a failed write (no space, file too
 * large, no permission) throws `EnvironmentError`; either names the path, and the target is left as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    try {
      if (typeof data === "string") await Deno.writeTextFile(tmp, data);
      else await Deno.writeFile(tmp, data);
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  } catch (e) {
    throw writeError(path, e);
  }
}

// Raw OS errors would reach the CLI as internal errors with a stack trace; these carry the exit code.
function writeError(path: string, e: unknown): Error {
  if (e instanceof PosegpuError) return e;
  const why = e instanceof Error ? e.message : String(e);
  if (
    e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.AlreadyExists
  ) {
    return new InputError(`${path}: cannot write a file there (${why})`, { cause: e });
  }
  return new EnvironmentError(`${path}: cannot write (${why})`, { cause: e });
}
