// Training throughput of the Martinez et al. lifter (34 → 1024, 2 residual blocks of 2 × (Linear 1024 +
// BN + ReLU + Dropout 0.5), → 51; 4.3 M parameters) at batch 64 with Adam and MSE: steps/s and poses/s,
// with PyTorch CPU training the same model in the same run when /usr/bin/python3 has torch.
// Steps record only; the loss is read back once every READ_EVERY steps (engine/optim.ts LossLog).
// Run: deno bench -A bench/train_bench.ts   (the summary and the ours/torch ratio print after the table)
import { backend, initEngine, type Tensor, tensor } from "../engine/mod.ts";
import * as ops from "../engine/ops.ts";
import { constantInit, linearInit } from "../engine/init.ts";
import { mseLoss } from "../engine/losses.ts";
import { Adam, LossLog, trainStep } from "../engine/optim.ts";
import { manualSeed, Rng } from "../engine/random.ts";
import { median, torchTimings } from "./_torch.ts";

await initEngine();
manualSeed(0);

const BATCH = 64, IN = 34, HIDDEN = 1024, OUT = 51, BLOCKS = 2, EPOCH_POSES = 293_000;
const READ_EVERY = 10;

interface Layer {
  w: Tensor;
  b: Tensor;
  gamma?: Tensor;
  beta?: Tensor;
  running?: { mean: Tensor; variance: Tensor };
}

function layer(out: number, inp: number, seed: number, bn: boolean): Layer {
  const { weight, bias } = linearInit(out, inp, { seed });
  if (!bn) return { w: weight, b: bias! };
  return {
    w: weight,
    b: bias!,
    gamma: constantInit([out], 1),
    beta: constantInit([out], 0),
    running: { mean: tensor(new Float32Array(out)), variance: tensor(new Float32Array(out).fill(1)) },
  };
}

const first = layer(HIDDEN, IN, 1, true);
const blocks = Array.from(
  { length: BLOCKS },
  (_, i) => [layer(HIDDEN, HIDDEN, 10 + 2 * i, true), layer(HIDDEN, HIDDEN, 11 + 2 * i, true)],
);
const last = layer(OUT, HIDDEN, 99, false);
const layers = [first, ...blocks.flat(), last];
const params = layers.flatMap((l) => [l.w, l.b, ...(l.gamma ? [l.gamma, l.beta!] : [])]);
const nParams = params.reduce((s, p) => s + p.size, 0);

/** Linear → BN (batch statistics, running update) → ReLU → Dropout(0.5). */
function unit(x: Tensor, l: Layer): Tensor {
  const h = ops.linear(x, l.w, { bias: l.b });
  const n = ops.batchNormTraining(h, { weight: l.gamma, bias: l.beta, running: l.running });
  n.mean.dispose();
  n.variance.dispose();
  return ops.dropout(ops.relu(n.y), { p: 0.5, training: true });
}

function forward(x: Tensor): Tensor {
  let h = unit(x, first);
  for (const [a, b] of blocks) h = ops.add(h, unit(unit(h, a), b));
  return ops.linear(h, last.w, { bias: last.b });
}

const opt = new Adam(params, { lr: 1e-3 });
const rng = new Rng(7);
const hostX = rng.fillNormal(new Float32Array(16 * BATCH * IN));
const hostY = rng.fillNormal(new Float32Array(16 * BATCH * OUT));
const log = new LossLog({ every: READ_EVERY });

/** One step on batch `i` (uploaded from the host as a data loader would). */
function step(i: number): void {
  const j = i % 16;
  const x = tensor(hostX.subarray(j * BATCH * IN, (j + 1) * BATCH * IN), [BATCH, IN]);
  const y = tensor(hostY.subarray(j * BATCH * OUT, (j + 1) * BATCH * OUT), [BATCH, OUT]);
  const loss = trainStep(opt, () => mseLoss(forward(x), y));
  log.push(loss);
  for (const t of [loss, x, y]) t.dispose();
  // Submit without waiting: the adapter works on this step while the next one is recorded.
  backend().flush();
}

async function run(steps: number): Promise<{ ms: number; losses: number[] }> {
  const losses: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    step(i);
    if (log.full) losses.push(...await log.read());
  }
  await backend().sync();
  return { ms: (performance.now() - t0) / steps, losses };
}

// Warm-up: compile every pipeline and fill the pool.
await run(READ_EVERY);

Deno.bench({
  name: `Martinez lifter train step, batch ${BATCH} (${READ_EVERY} steps per loss read)`,
  n: 3,
  warmup: 1,
}, async () => {
  await run(READ_EVERY);
});

const TORCH = `
import json, sys, time, torch
import torch.nn as nn
torch.set_num_threads(2)
torch.manual_seed(0)
B, IN, H, OUT = 64, 34, 1024, 51
def unit(i, o): return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(0.5)]
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.f = nn.Sequential(*unit(H, H), *unit(H, H))
    def forward(s, x): return x + s.f(x)
model = nn.Sequential(*unit(IN, H), Block(), Block(), nn.Linear(H, OUT))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
xs, ys = torch.randn(16, B, IN), torch.randn(16, B, OUT)
def step(i):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(xs[i % 16]), ys[i % 16])
    loss.backward(); opt.step()
    return loss
for i in range(3): step(i)
ts = []
for r in range(3):
    t = time.perf_counter()
    for i in range(10): l = step(i)
    l.item(); ts.append((time.perf_counter() - t) * 100)
ts.sort()
print(json.dumps({"step": ts[1]}))
`;

const times: number[] = [];
let losses: number[] = [];
for (let r = 0; r < 3; r++) {
  const res = await run(3 * READ_EVERY);
  times.push(res.ms);
  losses = res.losses;
}
const ms = median(times);
const torch = await torchTimings(TORCH);
const poses = BATCH * 1000 / ms;
console.log(
  `\nMartinez lifter training (${
    (nParams / 1e6).toFixed(2)
  } M parameters), batch ${BATCH}, Adam, dropout 0.5:`,
);
console.log(
  `ours   ${ms.toFixed(1)} ms/step  ${(1000 / ms).toFixed(1)} steps/s  ${poses.toFixed(0)} poses/s  ` +
    `epoch of ${EPOCH_POSES} poses ≈ ${(EPOCH_POSES / poses / 60).toFixed(1)} min  (last losses ${
      losses.slice(-3).map((l) => l.toFixed(4)).join(", ")
    })`,
);
if (torch) {
  const tp = BATCH * 1000 / torch.step;
  console.log(
    `torch  ${torch.step.toFixed(1)} ms/step  ${(1000 / torch.step).toFixed(1)} steps/s  ${
      tp.toFixed(0)
    } poses/s` +
      `  | ours/torch speed ${(torch.step / ms).toFixed(2)}`,
  );
} else console.log("torch  n/a (no /usr/bin/python3 with torch)");
