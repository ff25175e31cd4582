/**
 * Fuzz worker: runs one parser on one input per message and reports how it ended. Parsers run here, not
 * in the harness, so that a case that loops forever is stopped by terminating the worker.
 * @module
 */

/// <reference lib="deno.worker" />

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

self.onmessage = async (ev: MessageEvent<CaseRequest | "close">) => {
  if (ev.data === "close") {
    Deno.removeSync(dir, { recursive: true });
    self.postMessage("closed");
    return;
  }
  const { id, target, bytes } = ev.data;
  self.postMessage(await runCase(target, bytes, { dir, id }));
};
