// Epoch time of Martinez training on the shared Human3.6M set (S1,S5,S6,S7,S8, GT 2D, every frame × camera
// of the 10 fps snapshot) with the real training loop (models/training/trainer.ts: data gathering,
// upload, Adam, max-norm, loss read every 50 steps), and PyTorch CPU training the same model on the same
// number of poses when /usr/bin/python3 has torch.
//
// A full epoch takes minutes on a software adapter, so this measures a slice of STEPS steps (after WARMUP
// steps) and extrapolates to the epoch — the printed numbers say so. Both sides report wall time and the
// process's CPU time: on a machine shared with other jobs the wall time mostly measures the contention,
// and the CPU-time ratio is the one to compare across runs (the load average is printed).
// Run: deno run -A bench/epoch_bench.ts [--steps 150] [--batch 64] [--max-norm false|true] [--torch-steps 300]
import { parseArgs } from "node:util";
import process from "node:process";
import { initEngine } from "../engine/mod.ts";
import { trainLifter } from "../models/training/trainer.ts";
import { loadH36mPoses } from "../models/training/h36m_data.ts";
import { sharedData } from "../tests/_shared.ts";
import { torchTimings } from "./_torch.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "150" },
    warmup: { type: "string", default: "20" },
    batch: { type: "string", default: "64" },
    "max-norm": { type: "string", default: "false" },
    "torch-steps": { type: "string", default: "300" },
  },
});
const STEPS = Number(values.steps), WARMUP = Number(values.warmup), BATCH = Number(values.batch);

const dir = sharedData("h36m/S1.safetensors") ? sharedData("h36m")! : null;
if (!dir) Deno.exit(0);
await initEngine();
const t0 = performance.now();
const set = await loadH36mPoses(dir, { subjects: ["S1", "S5", "S6", "S7", "S8"], input: "gt" });
const loadS = (performance.now() - t0) / 1000;
const stepsPerEpoch = Math.floor(set.count / BATCH);
const out = await Deno.makeTempFile({ suffix: ".safetensors" });

async function slice(steps: number): Promise<{ wall: number; cpu: number }> {
  const t = performance.now(), c = process.cpuUsage();
  await trainLifter({
    model: "martinez",
    config: { max_norm: values["max-norm"] === "true" },
    data: dir!,
    trainSubjects: ["S1", "S5", "S6", "S7", "S8"],
    input: "gt",
    epochs: 1,
    batch: BATCH,
    out,
    maxSteps: steps,
    logEvery: 50,
    trainSet: set,
    log: () => {},
  });
  const used = process.cpuUsage(c);
  return { wall: (performance.now() - t) / 1000, cpu: (used.user + used.system) / 1e6 };
}

// Warm-up run compiles every pipeline; the measured run's time includes setup (normalisation, encode,
// one checkpoint write), which the per-step figure below subtracts with the warm-up run's.
const warm = await slice(WARMUP);
const full = await slice(WARMUP + STEPS);
const perStep = (full.wall - warm.wall) / STEPS;
const cpuPerStep = (full.cpu - warm.cpu) / STEPS;
const posesPerS = BATCH / perStep;
const epochS = stepsPerEpoch * perStep;
await Deno.remove(out).catch(() => {});

const TORCH = `
import json, sys, time, torch
import torch.nn as nn
torch.set_num_threads(2)
torch.manual_seed(0)
B, IN, H, OUT, STEPS = ${BATCH}, 32, 1024, 48, ${Number(values["torch-steps"])}
MAX_NORM = ${values["max-norm"] === "true" ? "True" : "False"}
def unit(i, o): return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(0.5)]
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.f = nn.Sequential(*unit(H, H), *unit(H, H))
    def forward(s, x): return x + s.f(x)
model = nn.Sequential(*unit(IN, H), Block(), Block(), nn.Linear(H, OUT))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
N = 4096
xs, ys = torch.randn(N, IN), torch.randn(N, OUT)
def step(i):
    idx = torch.randint(0, N, (B,))
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(xs[idx]), ys[idx])
    loss.backward(); opt.step()
    if MAX_NORM:
      with torch.no_grad():
        for m in model.modules():
          if isinstance(m, nn.Linear):
            n = m.weight.norm()
            if n > 1: m.weight.mul_(1 / n)
    return loss
for i in range(20): step(i)
t, c = time.perf_counter(), time.process_time()
for i in range(STEPS):
    l = step(i)
    if i % 50 == 49: l.item()
print(json.dumps({"step": (time.perf_counter() - t) * 1000 / STEPS, "cpu": (time.process_time() - c) * 1000 / STEPS}))
`;
const torch = await torchTimings(TORCH);
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "? ? ?")).split(" ").slice(0, 3).join(" ");

console.log(
  `Martinez training epoch on Human3.6M S1,S5,S6,S7,S8 (GT 2D): ${set.count} poses, batch ${BATCH}, ` +
    `${stepsPerEpoch} steps/epoch, max-norm ${values["max-norm"]} (data load ${loadS.toFixed(1)} s)`,
);
console.log(
  `ours   ${(perStep * 1000).toFixed(1)} ms/step  ${posesPerS.toFixed(0)} poses/s  epoch ≈ ${
    (epochS / 60).toFixed(1)
  } min  CPU ${(cpuPerStep * 1000).toFixed(1)} ms/step  (measured over ${STEPS} steps after ${WARMUP} ` +
    `warm-up steps, extrapolated; load average ${load}, ${navigator.hardwareConcurrency} cores)`,
);
if (torch) {
  const tEpoch = stepsPerEpoch * torch.step / 1000;
  console.log(
    `torch  ${torch.step.toFixed(1)} ms/step  ${(BATCH * 1000 / torch.step).toFixed(0)} poses/s  epoch ≈ ${
      (tEpoch / 60).toFixed(1)
    } min  CPU ${torch.cpu.toFixed(1)} ms/step  (2 threads, ${
      values["torch-steps"]
    } steps extrapolated)  | ` +
      `ours/torch speed ${(torch.step / (perStep * 1000)).toFixed(2)} (wall), ${
        (torch.cpu / (cpuPerStep * 1000)).toFixed(2)
      } (CPU time)`,
  );
} else console.log("torch  n/a (no /usr/bin/python3 with torch)");
