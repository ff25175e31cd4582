// Test helpers: where the shared real data lives, and how tests that need it skip.
import { fileURLToPath as fromFileUrl } from "node:url";

/** Absolute path of `../shared/data` beside the repository root. */
export const SHARED_DATA: string = fromFileUrl(new URL("../../shared/data", import.meta.url));

/** Returns the absolute path of a file under ../shared/data, or null (with a printed reason) when absent. */
export function sharedData(relative: string): string | null {
  const path = `${SHARED_DATA}/${relative}`;
  try {
    Deno.statSync(path);
    return path;
  } catch {
    console.warn(`skipping: ${path} is absent (real data lives in ../shared/data beside the repository)`);
    return null;
  }
}

/** Absolute path of a file under tests/fixtures. */
export function fixture(name: string): string {
  return fromFileUrl(new URL(`./fixtures/${name}`, import.meta.url));
}
