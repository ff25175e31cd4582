/**
 * File helpers: outputs are written to a temporary file beside the target and renamed into place,
 * so a failed or interrupted run never leaves a half-written file.
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Writes bytes or text to `path` atomically (temporary file in the same folder, then rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
