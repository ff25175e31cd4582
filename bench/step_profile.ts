// Where the time of one Martinez training step (batch 64, the real model of models/martinez.ts with
// BN, ReLU, dropout, MSE and Adam) goes on this adapter: each phase and the kernels at the step's
// shapes, timed by syncing after R repetitions, rounds interleaved, medians printed: wall time and the
// process's CPU time (user + system, all lavapipe threads: on a machine shared with other jobs the CPU
// time measures the work, the wall time mostly the contention). For profiling work on the training
// path; the throughput figure of record is bench/epoch_bench.ts.
// Run: deno run -A bench/step_profile.ts [--reps 10] [--rounds 3]
import { parseArgs } from "node:util";
import process from "node:process";
import { backend, initEngine, type Tensor, tensor } from "../engine/mod.ts";
import * as ops from "../engine/ops.ts";
import { matmul as matmulKernel, type MatmulTile } from "../engine/kernels/matmul.ts";
import { permute as permuteKernel } from "../engine/kernels/shape.ts";
import { batchNormTrainBackward } from "../engine/kernels/backward.ts";
import { dropoutApply } from "../engine/kernels/random.ts";
import { mseLoss } from "../engine/losses.ts";
import { backward, param, withGrad } from "../engine/autograd.ts";
import { Adam, trainStep } from "../engine/optim.ts";
import { manualSeed, Rng } from "../engine/random.ts";
import { tidy } from "../engine/tensor.ts";
import { Martinez } from "../models/martinez.ts";
import { Linear } from "../layers/linear.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { reps: { type: "string", default: "10" }, rounds: { type: "string", default: "3" } },
});
const REPS = Number(values.reps), ROUNDS = Number(values.rounds), B = 64;

await initEngine();
manualSeed(0);
const model = new Martinez();
model.train();
const opt = new Adam(model.parameters(), { lr: 1e-3 });
const rng = new Rng(3);
const x = tensor(rng.fillNormal(new Float32Array(B * 32)), [B, 32]);
const y = tensor(rng.fillNormal(new Float32Array(B * 48)), [B, 48]);
/** Runs `fn` with Linear's training forward as before 2026-12-03: the weight permuted to [in, out] each call. */
function withOldLinear(fn: () => void): void {
  const proto = Linear.prototype as unknown as { forward: (x: Tensor) => Tensor };
  const current = proto.forward;
  proto.forward = function (this: Linear, x: Tensor): Tensor {
    return ops.linear(x, ops.permute(this.weight, [1, 0]), {
      bias: this.bias ?? undefined,
      weightLayout: "in_out",
    });
  };
  try {
    fn();
  } finally {
    proto.forward = current;
  }
}
const lossOf = () => mseLoss(model.forward(x), y);

const a64 = tensor(rng.fillNormal(new Float32Array(B * 1024)), [B, 1024]);
const g64 = tensor(rng.fillNormal(new Float32Array(B * 1024)), [B, 1024]);
const w = tensor(rng.fillNormal(new Float32Array(1024 * 1024)), [1024, 1024]);
const gT = tensor(rng.fillNormal(new Float32Array(B * 1024)), [1024, B]);
const wp = param(tensor(rng.fillNormal(new Float32Array(1024 * 1024)), [1024, 1024]));
const bp = param(tensor(new Float32Array(1024)));
const xp = param(tensor(rng.fillNormal(new Float32Array(B * 1024)), [B, 1024]));
/** One Linear layer's forward and backward (x, W and b all need gradients) in either weight layout. */
function linearStep(layout: "in_out" | "out_in"): void {
  withGrad(() =>
    tidy(() => {
      const wt = layout === "in_out" ? ops.permute(wp, [1, 0]) : wp;
      const out = ops.linear(xp, wt, { bias: bp, weightLayout: layout });
      backward(ops.sum(out));
      return null;
    })
  );
  for (const t of [wp, bp, xp]) {
    t.grad?.dispose();
    t.grad = null;
  }
}
const REG16: MatmulTile = { kind: "reg", tm: 16, tn: 16, wgx: 8, wgy: 8 };
const mean = tensor(new Float32Array(1024)), variance = tensor(new Float32Array(1024).fill(1));

const cases: [string, () => void][] = [
  ["full step (trainStep + flush)", () => trainStep(opt, lossOf).dispose()],
  [
    "full step, weights transposed per step (before)",
    () => withOldLinear(() => trainStep(opt, lossOf).dispose()),
  ],
  ["forward + loss (recorded, no backward)", () => withGrad(() => tidy(() => lossOf())).dispose()],
  ["forward + backward (no optimiser)", () => {
    withGrad(() =>
      tidy(() => {
        const l = lossOf();
        backward(l);
        return l;
      })
    ).dispose();
    opt.zeroGrad();
  }],
  ["Adam step alone (4.3 M parameters)", () => opt.step()],
  ["matmul x·W  64×1024·1024×1024 (NN)", () => matmulKernel(a64, w).dispose()],
  ["matmul x·Wᵀ 64×1024·(1024×1024)ᵀ", () => matmulKernel(a64, w, { transB: true }).dispose()],
  ["matmul xᵀ·g 1024×64·64×1024 (transA)", () => matmulKernel(a64, g64, { transA: true }).dispose()],
  ["linear 1024→1024 fwd+bwd, in_out (permuted weight)", () => linearStep("in_out")],
  ["linear 1024→1024 fwd+bwd, out_in (weight as stored)", () => linearStep("out_in")],
  ["matmul W·xᵀ 1024×1024·1024×64 (NN)", () => matmulKernel(w, gT).dispose()],
  // The three matmuls of a training step on a weight that changes every step (no cached texture), with
  // the default tile and with the buffer kernel's 16×16 register tile.
  ["train fwd x·Wᵀ, default tile", () => matmulKernel(a64, w, { transB: true }).dispose()],
  ["train fwd x·Wᵀ, reg 16×16", () => matmulKernel(a64, w, { transB: true, tile: REG16 }).dispose()],
  ["train dx g·W, default tile", () => matmulKernel(g64, w).dispose()],
  ["train dx g·W, reg 16×16", () => matmulKernel(g64, w, { tile: REG16 }).dispose()],
  ["train dW gᵀ·x, default tile", () => matmulKernel(g64, a64, { transA: true }).dispose()],
  ["train dW gᵀ·x, reg 16×16", () => matmulKernel(g64, a64, { transA: true, tile: REG16 }).dispose()],
  ["permute 1024×1024", () => permuteKernel(w, [1, 0]).dispose()],
  ["BN train backward [64, 1024]", () => {
    const r = batchNormTrainBackward(g64, a64, { mean, variance, weight: mean, eps: 1e-5 });
    for (const t of [r.dx, r.sumG, r.sumGXhat]) t.dispose();
  }],
  ["dropout [64, 1024]", () => dropoutApply(a64, { p: 0.5, seed: 1 }).dispose()],
  ["relu [64, 1024]", () => ops.relu(a64).dispose()],
];

// Warm-up: compile every pipeline, allocate the optimiser state and pooled buffers.
for (const [, f] of cases) f();
opt.zeroGrad();
await backend().sync();

const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
const cpu = new Map<string, number[]>(cases.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of cases) {
    if (name.startsWith("Adam")) {
      // Adam needs gradients: one backward (not timed) first.
      withGrad(() => tidy(() => (backward(lossOf()), null)));
      await backend().sync();
    }
    const t = performance.now(), c = process.cpuUsage();
    for (let i = 0; i < REPS; i++) {
      f();
      backend().flush();
    }
    await backend().sync();
    times.get(name)!.push((performance.now() - t) / REPS);
    const used = process.cpuUsage(c);
    cpu.get(name)!.push((used.user + used.system) / 1000 / REPS);
    if (name.startsWith("Adam")) opt.zeroGrad();
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3).join(" ");
console.log(`Martinez step profile, batch ${B}, ${REPS} reps × ${ROUNDS} rounds, load ${load}`);
console.log("  wall ms    CPU ms");
for (const [name, v] of times) {
  console.log(`${med(v).toFixed(2).padStart(9)} ${med(cpu.get(name)!).toFixed(2).padStart(9)}  ${name}`);
}
const st = backend().getStats();
console.log(`dispatches so far ${st.dispatches}, submits ${st.submits}`);
