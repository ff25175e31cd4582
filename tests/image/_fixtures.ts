// Loads the image fixtures written by tests/fixtures/gen_images.py (PIL is the oracle).
import { fixture } from "../_shared.ts";

/** One generated case: the image file and PIL's expected pixels (or the error it must raise). */
export interface ImageCase {
  case: string;
  file: string;
  width: number;
  height: number;
  channels: number;
  /** Substring of the expected error message, for files that must be rejected. */
  error?: string;
}

const manifest = JSON.parse(Deno.readTextFileSync(fixture("images/manifest.json"))) as { cases: ImageCase[] };

/** The cases whose file name starts with `prefix` (e.g. `png_`). */
export function cases(prefix: string): ImageCase[] {
  return manifest.cases.filter((c) => c.case.startsWith(prefix));
}

/** Bytes of a fixture image file. */
export function imageBytes(c: ImageCase | string): Uint8Array {
  return Deno.readFileSync(fixture(`images/${typeof c === "string" ? c : c.file}`));
}

/** PIL's decoded pixels for a case (zlib-compressed in `<case>.px.z`). */
export async function expectedPixels(c: ImageCase): Promise<Uint8Array> {
  const z = Deno.readFileSync(fixture(`images/${c.case}.px.z`));
  const stream = new Blob([z]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Max and mean absolute difference of two equal-length byte arrays. */
export function diffStats(a: Uint8Array, b: Uint8Array): { max: number; mean: number; count: number } {
  let max = 0, sum = 0, count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    sum += d;
    if (d) count++;
  }
  return { max, mean: a.length ? sum / a.length : 0, count };
}
