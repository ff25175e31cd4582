/**
 * Runs one fuzz case: writes the input to a file, runs the target's parser on it, checks the result and
 * classifies how it ended. Used by the worker (fuzz runs) and in-process (regression replays).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { TARGETS } from "./targets.ts";

/** How a case ended. */
export interface CaseReply {
  /** Request id (echoed by the worker). */
  id: number;
  /** ok: valid result; input-error: an InputError; invalid: a result that fails its check; crash: any
   * other exception. */
  outcome: "ok" | "input-error" | "invalid" | "crash";
  /** The file the input was written to (the name errors must carry). */
  path: string;
  /** Other files the parser read: an error may name one of them instead. */
  companions?: string[];
  /** Error class name (crash, input-error). */
  errorName?: string;
  /** Error message, or what is wrong with an invalid result. */
  message?: string;
  /** Stack of a crash. */
  stack?: string;
  /** Milliseconds the parser took. */
  ms: number;
  /** Memory the parser's isolate holds after the case (V8 heap + external buffers), bytes. */
  memory: number;
}

/** Runs `target` on `bytes` (written to a file in `dir`). Never throws for what the parser does. */
export async function runCase(
  target: string,
  bytes: Uint8Array,
  options: { dir: string; id?: number },
): Promise<CaseReply> {
  const t = TARGETS[target];
  const id = options.id ?? 0;
  const path = `${options.dir}/${t.fileName}`;
  await Deno.writeFile(path, bytes);
  const t0 = performance.now();
  let reply: Omit<CaseReply, "ms" | "memory">;
  try {
    const result = await t.run(path, bytes);
    const problem = t.check(result);
    reply = problem === null
      ? { id, outcome: "ok", path }
      : { id, outcome: "invalid", path, message: problem };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = {
      id,
      outcome: e instanceof InputError ? "input-error" : "crash",
      path,
      errorName: err.name,
      message: err.message,
      stack: err.stack,
    };
  }
  const ms = performance.now() - t0;
  // Heap and external memory are this isolate's own (the process RSS would count other workers and tests).
  const { heapTotal, external } = Deno.memoryUsage();
  return { ...reply, companions: t.companions?.(path), ms, memory: heapTotal + external };
}
