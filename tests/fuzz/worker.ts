/**
 * Fuzz worker: runs one parser on one input per message and reports how it ended. Parsers run here, not
 * in the harness, so that a case that loops forever is stopped by terminating the worker.
 * @module
 */

import { runCase } from "./case.ts";

/** A case to run. */
export interface CaseRequest {
  /** Request id (echoed). */
  id: number;
  /** Target name. */
  target: string;
  /** The input. */
  bytes: Uint8Array;
}

const dir = Deno.makeTempDirSync({ prefix: "posegpu_fuzz_" });
// The worker's global scope, typed here rather than with the deno.worker lib: a lib reference would apply
// to every file type-checked together with this one.
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<CaseRequest | "close">) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (ev) => {
  if (ev.data === "close") {
    Deno.removeSync(dir, { recursive: true });
    scope.postMessage("closed");
    return;
  }
  const { id, target, bytes } = ev.data;
  scope.postMessage(await runCase(target, bytes, { dir, id }));
};
