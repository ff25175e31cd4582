/**
 * The fuzz harness: generates seeded cases for a target, runs each in a worker (terminated and restarted
 * when a case does not answer), and judges the outcome. A parser may return a valid result or throw an
 * `InputError` whose message names the file; anything else — another exception type, an invalid result,
 * more than `maxMs` per case, more than `maxMemoryBytes` held after it, no answer at all — is a failure.
 * @module
 */

import { caseSeed, Rng } from "./mutate.ts";
import { type FuzzTarget, TARGETS } from "./targets.ts";
import type { CaseReply } from "./case.ts";

/** Options of `fuzzTarget`. */
export interface FuzzOptions {
  /** Number of mutated cases. */
  cases: number;
  /** Run seed: case i uses `caseSeed(seed, i)`. */
  seed: number;
  /** First case index (to resume or replay one case). Default 0. */
  first?: number;
  /** Longest a case may take, ms (default 2000). */
  maxMs?: number;
  /** A case not answered within this many ms is a hang: the worker is terminated (default 30000). */
  hangMs?: number;
  /** Most memory (V8 heap + external buffers) the parser may hold after a case (default 1 GiB; runs stay
   * under 0.1 GiB). */
  maxMemoryBytes?: number;
  /** Largest input generated (mutations that grow past it are cut). Default 1 MiB. */
  maxInputBytes?: number;
  /** Called after every case (progress). */
  onCase?: (index: number, reply: CaseReply | null) => void;
}

/** One failing case. */
export interface FuzzFailure {
  /** Target name. */
  target: string;
  /** Case index (replay: `tools/fuzz.ts --parser T --seed S --case I`). */
  index: number;
  /** Why it failed. */
  reason: string;
  /** The input. */
  bytes: Uint8Array;
}

/** What a run found. */
export interface FuzzReport {
  /** Target name. */
  target: string;
  /** Cases run. */
  cases: number;
  /** Count per outcome (ok, input-error, invalid, crash, hang). */
  outcomes: Record<string, number>;
  /** Failing cases. */
  failures: FuzzFailure[];
  /** Slowest case, ms. */
  slowestMs: number;
  /** Most memory held after a case, bytes. */
  maxMemory: number;
}

/** Runs cases in a worker; restarts it after a hang. */
export class FuzzRunner {
  private worker: Worker | null = null;
  private nextId = 1;

  private start(): Worker {
    this.worker ??= new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    return this.worker;
  }

  /** Runs one input; resolves to the worker's reply, or null when it did not answer within `hangMs`. */
  run(target: string, bytes: Uint8Array, hangMs = 30000): Promise<CaseReply | null> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        worker.onmessage = null;
        worker.terminate();
        this.worker = null;
        resolve(null);
      }, hangMs);
      worker.onmessage = (ev: MessageEvent<CaseReply>) => {
        if (ev.data.id !== id) return;
        clearTimeout(timer);
        worker.onmessage = null;
        resolve(ev.data);
      };
      worker.onerror = (ev) => {
        // An error that escaped the worker's handler (it should not happen): report it as a crash.
        ev.preventDefault();
        clearTimeout(timer);
        worker.terminate();
        this.worker = null;
        resolve({
          id,
          outcome: "crash",
          path: "",
          errorName: "WorkerError",
          message: ev.message,
          ms: 0,
          memory: 0,
        });
      };
      worker.postMessage({ id, target, bytes });
    });
  }

  /** Stops the worker (it removes its temporary folder first). */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      w.onmessage = () => {
        clearTimeout(timer);
        resolve();
      };
      w.postMessage("close");
    });
    w.terminate();
  }
}

/** Judges a reply: null when the parser behaved, else the reason it did not. */
export function judge(
  reply: CaseReply | null,
  limits: { maxMs?: number; maxMemoryBytes?: number; hangMs?: number } = {},
): string | null {
  if (reply === null) return `no answer within ${limits.hangMs ?? 30000} ms (hang; worker terminated)`;
  const maxMs = limits.maxMs ?? 2000;
  const maxMemory = limits.maxMemoryBytes ?? 1024 ** 3;
  const first = (s?: string) => (s ?? "").split("\n").slice(0, 6).join("\n");
  switch (reply.outcome) {
    case "crash":
      return `threw ${reply.errorName}: ${reply.message}\n${first(reply.stack)}`;
    case "invalid":
      return `returned an invalid result: ${reply.message}`;
    case "input-error":
      if (!reply.message || reply.message.trim() === "") return "InputError with an empty message";
      if (![reply.path, ...reply.companions ?? []].some((p) => reply.message!.includes(p))) {
        return `InputError does not name the file ${reply.path}: ${reply.message}`;
      }
  }
  if (reply.ms > maxMs) return `took ${reply.ms.toFixed(0)} ms (limit ${maxMs})`;
  if (reply.memory > maxMemory) return `holds ${(reply.memory / 2 ** 20).toFixed(0)} MiB after the case`;
  return null;
}

/** Generates case `index` of a run: a seed input with 1 to 4 stacked mutations. */
export function generateCase(
  target: FuzzTarget,
  seeds: Uint8Array[],
  options: { seed: number; index: number; maxInputBytes?: number },
): Uint8Array {
  const rng = new Rng(caseSeed(options.seed, options.index));
  let b = rng.pick(seeds);
  // Half the cases carry one mutation (most reach deep into the parser), the rest 2 to 4 stacked.
  const count = rng.chance(0.5) ? 1 : 2 + rng.int(3);
  const max = options.maxInputBytes ?? 1 << 20;
  for (let i = 0; i < count; i++) {
    b = rng.pick(target.mutators)(b, rng);
    if (b.length > max) b = b.slice(0, max);
  }
  return b;
}

/** Fuzzes one target. Failures are collected, not thrown. */
export async function fuzzTarget(
  name: string,
  options: FuzzOptions,
  runner: FuzzRunner = new FuzzRunner(),
): Promise<FuzzReport> {
  const target = TARGETS[name];
  if (!target) throw new Error(`unknown fuzz target "${name}" (targets: ${Object.keys(TARGETS).join(", ")})`);
  const seeds = await target.seeds();
  const report: FuzzReport = {
    target: name,
    cases: 0,
    outcomes: {},
    failures: [],
    slowestMs: 0,
    maxMemory: 0,
  };
  const first = options.first ?? 0;
  // The seeds themselves must parse: a seed that fails means the target, not the parser, is broken.
  for (const [i, s] of seeds.entries()) {
    const r = await runner.run(name, s, options.hangMs);
    if (r?.outcome !== "ok") throw new Error(`${name}: seed ${i} does not parse: ${judge(r) ?? r?.message}`);
  }
  for (let index = first; index < first + options.cases; index++) {
    const bytes = generateCase(target, seeds, {
      seed: options.seed,
      index,
      maxInputBytes: options.maxInputBytes,
    });
    const reply = await runner.run(name, bytes, options.hangMs);
    const outcome = reply?.outcome ?? "hang";
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    report.cases++;
    if (reply) {
      report.slowestMs = Math.max(report.slowestMs, reply.ms);
      report.maxMemory = Math.max(report.maxMemory, reply.memory);
    }
    const reason = judge(reply, options);
    if (reason) report.failures.push({ target: name, index, reason, bytes });
    options.onCase?.(index, reply);
  }
  return report;
}

/** Writes a failing input where a developer can find it; returns the path. */
export async function saveFailure(f: FuzzFailure, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const ext = TARGETS[f.target].fileName.replace(/^[^.]*/, "");
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", f.bytes as Uint8Array<ArrayBuffer>));
  const id = Array.from(hash.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join("");
  const path = `${dir}/${f.target}_${id}${ext}`;
  await Deno.writeFile(path, f.bytes);
  return path;
}
