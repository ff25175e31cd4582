// Test helpers: where the shared real data lives, how tests that need it skip, and which kernels ran.
import { fileURLToPath as fromFileUrl } from "node:url";
import { backend } from "../engine/backend.ts";

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

/**
 * Runs `fn` and returns its result with the labels of the kernels it dispatched, in order (the backend's
 * dispatch is wrapped for the call and restored after it, also when `fn` throws).
 */
export async function dispatchLabels<T>(fn: () => T | Promise<T>): Promise<{ result: T; labels: string[] }> {
  const be = backend();
  const dispatch = be.dispatch;
  const labels: string[] = [];
  be.dispatch = (kernel, buffers, options) => {
    labels.push(kernel.label);
    dispatch.call(be, kernel, buffers, options);
  };
  try {
    return { result: await fn(), labels };
  } finally {
    be.dispatch = dispatch;
  }
}
