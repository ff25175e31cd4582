// Peer-bench runner: onnxruntime-node (native CPU execution provider) under Node, running the ONNX files
// peers.ts wrote (BatchNorm folded; ORT fuses Conv+Add+ReLU itself). Input from and output to host memory.
// Usage: node bench/peers/run_ortnode.mjs PLAN.json   (needs `npm ci --prefix bench/peers`)
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { createRequire } from "node:module";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(import.meta.url);
const result = { engine: "ortnode-cpu", version: "", results: [], notes: [] };
const WORKLOADS = {
  lifter: { inShape: [32] },
  posefix: { inShape: [20, 256, 192] },
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const ort = require("onnxruntime-node");
  const pkg = JSON.parse(
    readFileSync(require.resolve("onnxruntime-node/package.json"), "utf8"),
  );
  result.version = `onnxruntime-node ${pkg.version} CPU EP`;
  result.notes.push(
    `intra-op threads: ORT default (${os.cpus().length} cores)`,
  );
  for (const id of Object.keys(WORKLOADS)) {
    const cases = plan.cases.filter((c) => c.workload === id);
    if (!cases.length) continue;
    const session = await ort.InferenceSession.create(
      `${plan.cache}/${id}.onnx`,
      {
        executionProviders: ["cpu"],
        graphOptimizationLevel: "all",
      },
    );
    const buf = readFileSync(`${plan.cache}/${id}_input.f32`);
    const all = new Float32Array(
      buf.buffer,
      buf.byteOffset,
      buf.byteLength / 4,
    );
    const shape = WORKLOADS[id].inShape;
    const per = shape.reduce((a, b) => a * b, 1);
    for (const c of cases) {
      console.log(JSON.stringify(result)); // results so far: kept if the process is killed later
      try {
        const x = all.slice(0, c.batch * per);
        const run = async () => {
          const input = new ort.Tensor("float32", x, [c.batch, ...shape]);
          const outs = await session.run({ [session.inputNames[0]]: input });
          return Float32Array.from(outs[session.outputNames[0]].data);
        };
        // As workloads.ts timeCase: first call, warmups and reps bounded by plan.budgetMs.
        const start = performance.now();
        let t = start;
        let last = await run();
        const firstMs = performance.now() - t;
        let lastMs = firstMs;
        const left = () => plan.budgetMs - (performance.now() - start);
        for (let i = 1; i < c.warmup && left() > 2 * lastMs; i++) {
          t = performance.now();
          last = await run();
          lastMs = performance.now() - t;
        }
        const times = [];
        while (times.length < c.reps && (times.length === 0 || left() > lastMs)) {
          t = performance.now();
          last = await run();
          times.push(lastMs = performance.now() - t);
        }
        console.error(
          `${id} B=${c.batch}: first ${firstMs.toFixed(0)} ms, median ${median(times).toFixed(1)} ms`,
        );
        const output = `${plan.out ?? `${plan.cache}/out`}/ortnode-cpu_${id}_${c.batch}.f32`;
        writeFileSync(output, new Uint8Array(last.buffer));
        result.results.push({
          workload: id,
          batch: c.batch,
          firstMs,
          medianMs: median(times),
          times,
          output,
        });
      } catch (e) {
        result.results.push({
          workload: id,
          batch: c.batch,
          error: String(e).split("\n")[0],
        });
      }
    }
    await session.release();
  }
} catch (e) {
  result.notes.push(`failed: ${String(e).split("\n")[0]}`);
}
console.log(JSON.stringify(result));
