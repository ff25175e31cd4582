// Peer benchmark (issue #8 item 5): the same two workloads — the Martinez lifter (batch 1, 64, 1024) and
// PoseFix ResNet-50 at 256×192 (batch 1, 8) — with the same seeded weights and inputs in every engine
// present, one engine per subprocess (a crash or a missing package in one cannot end the run), then one table:
// median ms, throughput, time ratio to posegpu and the output's error against the reference (PyTorch when
// present, else posegpu). Setup and the measured table: bench/peers/README.md.
//
//   deno run -A bench/peers/peers.ts [--quick] [--engines=posegpu,tfjs-webgpu,...] [--workloads=lifter,posefix]
//                                    [--shim | --no-shim] [--keep-cache] [--engine-timeout=S]
//
// Engines: posegpu (this tree, Deno WebGPU), tfjs-webgpu and ortweb-webgpu (Deno, the same adapter; npm:
// specifiers pinned to bench/peers/package.json), ortnode-cpu (node + bench/peers/node_modules), torch-cpu
// (/usr/bin/python3). Weights, inputs and the ONNX models are generated into bench/peers/.cache (git-ignored).
import { writeSafetensors } from "../../engine/safetensors.ts";
import { onnxModel } from "./onnx.ts";
import {
  foldedGraph,
  inputs,
  type Plan,
  type RunnerResult,
  stateDict,
  type Workload,
  WORKLOADS,
} from "./workloads.ts";

const HERE = new URL(".", import.meta.url).pathname;
const args = Deno.args;
const quick = args.includes("--quick");
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const ALL = [
  "posegpu",
  "tfjs-webgpu",
  "ortweb-webgpu",
  "ortnode-cpu",
  "torch-cpu",
];
const engines = flag("engines")?.split(",") ?? ALL;
const only = flag("workloads")?.split(",");
for (const e of engines) {
  if (!ALL.includes(e)) {
    console.error(`peers: unknown engine ${e} (known: ${ALL.join(", ")})`);
    Deno.exit(1);
  }
}
const CACHE = `${HERE}.cache`;
const STAMP = "v1 seed 1"; // bump when workloads.ts changes what it generates

const load = (): string => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
      " ",
    );
  } catch {
    return "?";
  }
};

const pkg = JSON.parse(await Deno.readTextFile(`${HERE}package.json`))
  .devDependencies as Record<string, string>;

/** Writes weights, inputs and ONNX models unless the cache already holds this STAMP. */
async function prepare(): Promise<void> {
  await Deno.mkdir(CACHE, { recursive: true });
  let stamp = "";
  try {
    stamp = await Deno.readTextFile(`${CACHE}/stamp`);
  } catch { /* empty cache */ }
  if (stamp === STAMP) return;
  for (const w of WORKLOADS) {
    const t = performance.now();
    const sd = stateDict(w);
    const st: Record<
      string,
      { shape: number[]; data: Float32Array | Int32Array; dtype: "F32" | "I64" }
    > = {};
    for (const [k, v] of sd) {
      st[k] = { shape: v.shape, data: v.data, dtype: v.dtype };
    }
    await writeSafetensors(`${CACHE}/${w.id}.safetensors`, st);
    const x = inputs(w);
    await Deno.writeFile(
      `${CACHE}/${w.id}_input.f32`,
      new Uint8Array(x.buffer),
    );
    await Deno.writeFile(
      `${CACHE}/${w.id}.onnx`,
      onnxModel(foldedGraph(w, sd), w.inShape, w.outShape),
    );
    console.error(
      `peers: generated ${w.id} weights, inputs, ONNX (${(performance.now() - t).toFixed(0)} ms)`,
    );
  }
  await Deno.writeTextFile(`${CACHE}/stamp`, STAMP);
}

function plan(): Omit<Plan, "out"> {
  const reps = (w: Workload, b: number): { warmup: number; reps: number } => {
    if (w.id === "lifter") {
      return quick ? { warmup: 2, reps: b >= 1024 ? 3 : 5 } : { warmup: 3, reps: b >= 1024 ? 10 : 20 };
    }
    return quick ? { warmup: 1, reps: b === 1 ? 2 : 1 } : { warmup: 2, reps: b === 1 ? 5 : 3 };
  };
  return {
    cache: CACHE,
    budgetMs: quick ? 20_000 : 120_000,
    cases: WORKLOADS.filter((w) => !only || only.includes(w.id))
      .flatMap((w) => w.batches.map((batch) => ({ workload: w.id, batch, ...reps(w, batch) }))),
  };
}

interface EngineRun {
  engine: string;
  result: RunnerResult | null;
  error?: string;
  /** Why cases without a result have none (the runner died or was killed part-way). */
  missing?: string;
  wallS: number;
}

async function which(cmd: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${cmd}`],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

async function runEngine(engine: string, planPath: string): Promise<EngineRun> {
  const deno = Deno.execPath();
  const denoRun = (
    script: string,
    extra: string[] = [],
  ) => [deno, "run", "-A", "--no-lock", `${HERE}${script}`, planPath, ...extra];
  let cmd: string[];
  switch (engine) {
    case "posegpu":
      cmd = denoRun("run_posegpu.ts");
      break;
    case "tfjs-webgpu":
      cmd = denoRun("run_tfjs.ts", [pkg["@tensorflow/tfjs-backend-webgpu"]]);
      break;
    case "ortweb-webgpu":
      cmd = denoRun("run_ortweb.ts", [
        pkg["onnxruntime-web"],
        ...args.filter((a) => a === "--shim" || a === "--no-shim"),
      ]);
      break;
    case "ortnode-cpu":
      if (!(await which("node"))) {
        return {
          engine,
          result: null,
          error: "absent: no `node` on PATH",
          wallS: 0,
        };
      }
      try {
        await Deno.stat(`${HERE}node_modules/onnxruntime-node`);
      } catch {
        return {
          engine,
          result: null,
          error: "absent: run `npm ci --prefix bench/peers`",
          wallS: 0,
        };
      }
      cmd = ["node", `${HERE}run_ortnode.mjs`, planPath];
      break;
    default: {
      const py = "/usr/bin/python3";
      try {
        await Deno.stat(py);
      } catch {
        return { engine, result: null, error: `absent: no ${py}`, wallS: 0 };
      }
      cmd = [py, `${HERE}run_torch.py`, planPath];
    }
  }
  const env: Record<string, string> = {};
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    env.XDG_RUNTIME_DIR = "/tmp/xdg-runtime";
    await Deno.mkdir(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  }
  const t = performance.now();
  const limit = Number(flag("engine-timeout") ?? (quick ? 1800 : 3600)) * 1000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), limit);
  try {
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env,
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).spawn();
    // The runner's stderr (progress, warnings) is shown live and its tail kept for the failure message.
    const tail: string[] = [];
    const pump = (async () => {
      let pending = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop()!;
        for (const l of parts.filter((x) => x.trim())) {
          console.error(`  [${engine}] ${l.slice(0, 200)}`);
          tail.push(l);
          if (tail.length > 3) tail.shift();
        }
      }
      if (pending.trim()) tail.push(pending);
    })();
    const [stdout, status] = await Promise.all([new Response(child.stdout).text(), child.status]);
    await pump;
    const out = { ...status, stdout, stderr: tail.join(" | ") };
    const wallS = (performance.now() - t) / 1000;
    const lines = out.stdout.trim().split("\n");
    const last = lines.reverse().find((l) => l.startsWith("{"));
    const stderr = out.stderr;
    if (last) {
      const result = JSON.parse(last) as RunnerResult;
      if (!out.success) {
        const why = ac.signal.aborted
          ? `killed after ${limit / 1000} s`
          : `exit ${out.code}${out.signal ? ` (${out.signal})` : ""}`;
        result.notes.push(
          `process ${why} after ${result.results.length} of ${
            JSON.parse(Deno.readTextFileSync(planPath)).cases.length
          } cases`,
        );
        return { engine, result, wallS, missing: `not reached: process ${why}` };
      }
      return { engine, result, wallS };
    }
    return {
      engine,
      result: null,
      error: `failed (exit ${out.code}${out.signal ? `, ${out.signal}` : ""}${
        ac.signal.aborted ? `, killed after ${limit / 1000} s` : ""
      }): ${stderr.slice(0, 300)}`,
      wallS,
    };
  } catch (e) {
    return {
      engine,
      result: null,
      error: `failed to start: ${String(e).split("\n")[0]}`,
      wallS: 0,
    };
  } finally {
    clearTimeout(timer);
  }
}

async function readF32(path: string | undefined): Promise<Float32Array | null> {
  if (!path) return null;
  try {
    return new Float32Array((await Deno.readFile(path)).buffer);
  } catch {
    return null;
  }
}

/** max |a − ref| / max |ref|. */
function relError(a: Float32Array, ref: Float32Array): number {
  if (a.length !== ref.length) return NaN;
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / (m || 1);
}

// ---------------------------------------------------------------------------------------------------- main
const loadBefore = load();
await prepare();
const OUT = `${CACHE}/out-${Deno.pid}`; // this run's plan and outputs (runs never share them)
await Deno.mkdir(OUT, { recursive: true });
const p: Plan = { ...plan(), out: OUT };
const planPath = `${OUT}/plan.json`;
await Deno.writeTextFile(planPath, JSON.stringify(p));
const runs: EngineRun[] = [];
for (const e of engines) {
  console.error(`peers: running ${e} (load ${load()}) …`);
  const r = await runEngine(e, planPath);
  console.error(
    `peers: ${e} done in ${r.wallS.toFixed(0)} s${r.error ? `: ${r.error}` : ""}`,
  );
  runs.push(r);
}

const get = (engine: string, workload: string, batch: number) =>
  runs.find((r) => r.engine === engine)?.result?.results.find((x) =>
    x.workload === workload && x.batch === batch
  );
// The reference output of a case: PyTorch's where it ran, else posegpu's.
const refOf = (workload: string, batch: number): string =>
  get("torch-cpu", workload, batch)?.medianMs !== undefined ? "torch-cpu" : "posegpu";

const rows: string[][] = [];
for (const w of WORKLOADS.filter((x) => !only || only.includes(x.id))) {
  for (const b of w.batches) {
    const ours = get("posegpu", w.id, b)?.medianMs;
    const refEngine = refOf(w.id, b);
    const ref = await readF32(get(refEngine, w.id, b)?.output);
    for (const r of runs) {
      const x = r.result?.results.find((y) => y.workload === w.id && y.batch === b);
      const label = [w.id, String(b), r.engine];
      if (!r.result || !x || x.medianMs === undefined) {
        const why = r.error ?? x?.error ?? r.result?.notes.find((n) => n.startsWith("failed")) ?? r.missing ??
          "no result";
        rows.push([
          ...label,
          "—",
          "—",
          "—",
          "—",
          why.replaceAll("|", "/").slice(0, 160),
        ]);
        continue;
      }
      const ms = x.medianMs;
      const thr = w.unit === "poses"
        ? `${((b * 1000) / ms).toFixed(0)} poses/s`
        : `${(ms / b).toFixed(0)} ms/image`;
      const out = await readF32(x.output);
      const err = out && ref ? (r.engine === refEngine ? "ref" : relError(out, ref).toExponential(1)) : "?";
      rows.push([
        ...label,
        ms.toFixed(ms < 100 ? 2 : 0),
        (x.firstMs ?? 0).toFixed(0),
        thr,
        ours ? `${(ms / ours).toFixed(2)}×` : "—",
        err,
      ]);
    }
  }
}

const head = [
  "workload",
  "batch",
  "engine",
  "median ms",
  "first ms",
  "throughput",
  "t / t(posegpu)",
  "rel. err vs torch (else posegpu)",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(
  `\npeer benchmark${quick ? " (--quick: few iterations)" : ""}, ${new Date().toISOString()}`,
);
console.log(
  `load average before ${loadBefore}, after ${load()}; ${navigator.hardwareConcurrency} CPU threads`,
);
console.log(
  "median of upload + forward + readback; first = first call (compile, upload of weights); t / t(posegpu) > 1 means posegpu is faster",
);
console.log(line(head));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of rows) console.log(line(r));
console.log("");
for (const r of runs) {
  const notes = r.result ? [r.result.version, ...r.result.notes].filter(Boolean).join("; ") : r.error;
  console.log(`- ${r.engine} (${r.wallS.toFixed(0)} s): ${notes}`);
}

// The issue's targets, from this run.
const t = (e: string, w: string, b: number) => get(e, w, b)?.medianMs;
const target = (label: string, ok: boolean | null, value: string) =>
  console.log(
    `target ${label}: ${value} → ${ok === null ? "n/a" : ok ? "met" : "NOT met"}`,
  );
const ratio = (e: string, w: string, b: number): number | null => {
  const a = t(e, w, b), o = t("posegpu", w, b);
  return a && o ? a / o : null;
};
const show = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(1)}×`);
console.log("");
const rl = [
  ratio("tfjs-webgpu", "lifter", 1024),
  ratio("ortweb-webgpu", "lifter", 1024),
];
target(
  "lifter B=1024 ≥ 5× TF.js-WebGPU and ≥ 30× ORT-web-WebGPU",
  rl.includes(null) ? null : rl[0]! >= 5 && rl[1]! >= 30,
  `${show(rl[0])}, ${show(rl[1])}`,
);
const rp = [
  ratio("tfjs-webgpu", "posefix", 1),
  ratio("ortweb-webgpu", "posefix", 1),
];
target(
  "PoseFix B=1 ≥ 5× both",
  rp.includes(null) ? null : rp[0]! >= 5 && rp[1]! >= 5,
  `${show(rp[0])}, ${show(rp[1])}`,
);
const lb = t("posegpu", "lifter", 1024);
target(
  "lifter ≥ 4,000 poses/s at B=1024",
  lb ? 1024_000 / lb >= 4000 : null,
  lb ? `${(1024_000 / lb).toFixed(0)} poses/s` : "n/a",
);
const pb = t("posegpu", "posefix", 1);
target(
  "PoseFix ≤ 500 ms/image",
  pb ? pb <= 500 : null,
  pb ? `${pb.toFixed(0)} ms` : "n/a",
);
const floor = runs.find((r) => r.engine === "posegpu")?.result?.extra;
const l1 = t("posegpu", "lifter", 1);
if (floor) {
  const f = Math.max(floor.emptySubmitMs, floor.readback4BytesMs);
  target(
    "lifter B=1 within 2 ms of Deno's sync floor",
    l1 ? l1 <= f + 2 : null,
    `${l1?.toFixed(2) ?? "n/a"} ms vs floor ${f.toFixed(2)} ms (empty submit ${
      floor.emptySubmitMs.toFixed(2)
    } ms, 4-byte readback ${floor.readback4BytesMs.toFixed(2)} ms)`,
  );
}
const on = ratio("ortnode-cpu", "lifter", 1024),
  op = ratio("ortnode-cpu", "posefix", 1);
console.log(
  `distance to ORT-node CPU (t(ORT-node) / t(posegpu), < 1 = ORT-node faster): lifter B=1024 ${
    show(on)
  }, PoseFix B=1 ${show(op)}`,
);
await Deno.writeTextFile(
  `${CACHE}/results.json`,
  JSON.stringify({ load: [loadBefore, load()], quick, runs }, null, 1),
);
if (!args.includes("--keep-cache")) {
  await Deno.remove(OUT, { recursive: true });
}
