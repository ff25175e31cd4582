/**
 * Web Worker body of `occurrenceParallel` (rare_pose.ts): computes `occurrence` for one contiguous
 * slice of the test poses against the whole training set, with the σ the caller resolved once.
 * @module
 */

import { occurrence, type RarePoseOptions } from "./rare_pose.ts";

/** What the main thread posts: a slice of test poses, the training set and the resolved options. */
interface Job {
  test: Float64Array;
  train: Float64Array;
  options: RarePoseOptions;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

scope.onmessage = (e: MessageEvent<Job>): void => {
  const { test, train, options } = e.data;
  try {
    const occ = occurrence(test, train, options);
    scope.postMessage({ occ }, [occ.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ error: (err as Error)?.message ?? String(err) }, []);
  }
};
