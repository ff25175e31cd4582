// Convolution throughput: `deno bench -A bench/conv_bench.ts`. Each iteration records REPS convolutions
// and waits once (a GPU→CPU sync costs ~10 ms in Deno, which would otherwise dominate), so Deno's
// time/iter is REPS convolutions; the GFLOP/s table printed at the end uses the same runs (median
// iteration). FLOPs count 2 per multiply-add of the dense operation (for the transposed convolution:
// every input pixel × every kernel tap). The table also gives the process CPU time per convolution
// (lavapipe's worker threads included): on a shared machine wall time depends on the neighbours' load,
// CPU time much less.
import process from "node:process";
import { backend, initEngine } from "../engine/backend.ts";
import { adapterSummary } from "../engine/device.ts";
import { conv1d, conv2d, convTranspose2d } from "../engine/kernels/conv.ts";
import type { Tensor } from "../engine/tensor.ts";
import { randomTensor } from "./_random.ts";

await initEngine();

const REPS = 8;

interface BenchCase {
  name: string;
  flops: number;
  run: () => Tensor;
}

function conv2dCase(
  name: string,
  xs: number[],
  ws: number[],
  options: { stride?: number; padding?: number },
): BenchCase {
  const x = randomTensor(xs, 1), w = randomTensor(ws, 2), b = randomTensor([ws[0]], 3);
  const run = (): Tensor => conv2d(x, w, { ...options, bias: b, activation: "relu" });
  const y = run();
  const flops = 2 * y.size * ws[1] * ws[2] * ws[3];
  y.dispose();
  return { name, flops, run };
}

const cases: BenchCase[] = [
  conv2dCase("conv2d 3x3 64->64 56x56", [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1 }),
  conv2dCase("conv2d 7x7/2 3->64 256x192", [1, 3, 256, 192], [64, 3, 7, 7], { stride: 2, padding: 3 }),
  conv2dCase("conv2d 1x1 256->64 64x48", [1, 256, 64, 48], [64, 256, 1, 1], {}),
  (() => {
    const x = randomTensor([1, 256, 32, 24], 4), w = randomTensor([256, 256, 4, 4], 5);
    return {
      name: "convT 4x4/2 256->256 32x24->64x48",
      flops: 2 * 256 * 32 * 24 * 256 * 16,
      run: () => convTranspose2d(x, w, { stride: 2, padding: 1 }),
    };
  })(),
  (() => {
    const x = randomTensor([1, 1024, 81], 6), w = randomTensor([1024, 1024, 3], 7);
    return {
      name: "conv1d k3 d27 1024->1024 T=81",
      flops: 2 * 1024 * 27 * 1024 * 3,
      run: () => conv1d(x, w, { dilation: 27 }),
    };
  })(),
];

const times = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
for (const c of cases) {
  // Compile and warm up outside the measured runs.
  const y = c.run();
  await y.read();
  y.dispose();
  times.set(c.name, []);
  cpu.set(c.name, []);
  Deno.bench({
    name: c.name,
    group: "conv",
    fn: async () => {
      const t0 = performance.now(), c0 = process.cpuUsage();
      for (let i = 0; i < REPS; i++) c.run().dispose();
      await backend().sync();
      const used = process.cpuUsage(c0);
      times.get(c.name)!.push((performance.now() - t0) / REPS);
      cpu.get(c.name)!.push((used.user + used.system) / 1000 / REPS);
    },
  });
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

globalThis.addEventListener("unload", () => {
  console.log(`\nconv throughput on ${adapterSummary().description} (medians of the bench iterations):`);
  for (const c of cases) {
    const t = times.get(c.name)!;
    if (!t.length) continue;
    const ms = median(t), cpuMs = median(cpu.get(c.name)!);
    console.log(
      `  ${c.name.padEnd(36)} ${ms.toFixed(2).padStart(8)} ms ${
        (c.flops / ms / 1e6).toFixed(1).padStart(6)
      } GFLOP/s` +
        `   cpu ${cpuMs.toFixed(2).padStart(8)} ms`,
    );
  }
});
