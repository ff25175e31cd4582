/**
 * zlib inflate into a buffer of known size, on the web platform's `DecompressionStream("deflate")`.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/**
 * Inflates the concatenation of `chunks` (one zlib stream) into exactly `expected` bytes.
 *
 * Reading stops as soon as `expected` bytes are out, so a stream that would inflate to far more (a
 * decompression bomb) costs no more than the image itself; extra data after the expected bytes and a
 * damaged stream end are tolerated once every expected byte is in (libpng warns and goes on likewise).
 * A stream that ends early or is corrupt before that throws `InputError`, prefixed with `options.label`
 * (e.g. `photo.png: IDAT`).
 */
export async function inflateExact(
  chunks: readonly Uint8Array[],
  expected: number,
  options: { label: string },
): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let filled = 0;
  const stream = new DecompressionStream("deflate");
  const writer = stream.writable.getWriter();
  // Chunk by chunk, so that junk at the end of the last chunk cannot swallow earlier output. Errors of the
  // writer side surface again on the reader, which is where they are reported.
  const writing = (async () => {
    for (const chunk of chunks) await writer.write(chunk as Uint8Array<ArrayBuffer>);
    await writer.close();
  })().catch(() => {});
  const reader = stream.readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, expected - filled);
      out.set(take === value.length ? value : value.subarray(0, take), filled);
      filled += take;
      if (take < value.length) {
        await reader.cancel().catch(() => {});
        break;
      }
    }
  } catch (e) {
    if (filled < expected) {
      const why = e instanceof Error ? e.message : String(e);
      throw new InputError(
        `${options.label}: zlib stream is corrupt after ${filled} of ${expected} bytes (${why})`,
        { cause: e },
      );
    }
  }
  await writing;
  if (filled < expected) {
    throw new InputError(`${options.label}: zlib stream ended after ${filled} of ${expected} bytes`);
  }
  return out;
}
