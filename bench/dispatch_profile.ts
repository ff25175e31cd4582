// Where the time of one forward (or one training step) of a lifting model goes, kernel by kernel: the
// step's dispatches are recorded once, then each is replayed R times in its own submit and timed (wall,
// minus an empty submit), summed per kernel label and printed, largest first. Replayed in isolation a
// kernel runs on warm caches and without its neighbours, so the sum is a guide to where the time goes,
// not the step's wall time (printed too). For profiling work; figures of record are the other benches.
// Run: deno run -A bench/dispatch_profile.ts [--model srnet|martinez|posefix|...] [--batch 1024] [--mode train|infer]
//      [--config k=v ...] [--reps 5] [--top 30]
import { parseArgs } from "node:util";
import { backend, initEngine, type Tensor, tensor } from "../engine/mod.ts";
import type { Binding, Kernel } from "../engine/backend.ts";
import { mseLoss } from "../engine/losses.ts";
import { noGrad } from "../engine/autograd.ts";
import { Adam, trainStep } from "../engine/optim.ts";
import { manualSeed, Rng } from "../engine/random.ts";
import { tidy } from "../engine/tensor.ts";
import { createModel } from "../models/registry.ts";
import { forwardWindows } from "../models/sequence.ts";
import { parseConfigPairs } from "../models/config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "srnet" },
    batch: { type: "string", default: "1024" },
    mode: { type: "string", default: "train" },
    config: { type: "string", multiple: true, default: [] },
    reps: { type: "string", default: "5" },
    top: { type: "string", default: "30" },
  },
});
const B = Number(values.batch), REPS = Number(values.reps), TOP = Number(values.top);
const config = parseConfigPairs(values.config);

await initEngine();
manualSeed(0);
const model = createModel(values.model, config);
const image = values.model === "posefix" || values.model === "pose_resnet";
// Inference is profiled as models infer: BatchNorm folded into the linear layers and convolutions.
if (values.mode !== "train") await model.foldBatchNorm();
const rf = (model as unknown as { receptiveField?: () => number }).receptiveField?.() ?? 1;
const inputShape = values.model === "martinez" || values.model === "dual_channel"
  ? [B, 32]
  : image
  ? [B, values.model === "posefix" ? 20 : 3, 256, 192]
  : [B, rf, 17, 2];
const rng = new Rng(3);
const x = tensor(rng.fillNormal(new Float32Array(inputShape.reduce((a, b) => a * b))), inputShape);
const outShape = tidy(() => noGrad(() => model.forward(x)).shape);
const y = tensor(rng.fillNormal(new Float32Array(outShape.reduce((a, b) => a * b))), outShape);
const train = values.mode === "train";
if (train) model.train();
const opt = new Adam(model.parameters(), { lr: 1e-3 });
// Temporal models train one output frame per window, as the trainer runs them.
const step = (): Tensor =>
  train ? trainStep(opt, () => mseLoss(forwardWindows(model, x), y)) : tidy(() => model.forward(x));
for (let i = 0; i < 3; i++) {
  const out = step();
  await out.read();
  out.dispose();
}

const be = backend();
type Dispatch = { kernel: Kernel; buffers: Binding[]; options: Parameters<typeof be.dispatch>[2] };
const recorded: Dispatch[] = [];
const dispatch = be.dispatch.bind(be);
// Textures (packed matmul operands) stay alive so that their dispatches can be replayed.
const destroy = GPUTexture.prototype.destroy;
GPUTexture.prototype.destroy = function () {};
be.dispatch = (kernel, buffers, options) => {
  recorded.push({ kernel, buffers, options: { ...options, uniforms: options.uniforms?.slice() } });
  dispatch(kernel, buffers, options);
};
let t0 = performance.now();
const out = step();
await out.read();
out.dispose();
const stepMs = performance.now() - t0;
be.dispatch = dispatch;

await be.sync();
t0 = performance.now();
await be.sync();
const floor = performance.now() - t0;
const byLabel = new Map<string, { calls: number; ms: number }>();
for (const d of recorded) {
  t0 = performance.now();
  for (let i = 0; i < REPS; i++) dispatch(d.kernel, d.buffers, d.options);
  await be.sync();
  const e = byLabel.get(d.kernel.label) ?? { calls: 0, ms: 0 };
  e.calls++;
  e.ms += Math.max(0, performance.now() - t0 - floor) / REPS;
  byLabel.set(d.kernel.label, e);
}
GPUTexture.prototype.destroy = destroy;
const rows = [...byLabel].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(
  `${values.model} ${values.mode} batch ${B}: step ${
    stepMs.toFixed(1)
  } ms wall, ${recorded.length} dispatches, ` +
    `replayed kernels ${total.toFixed(1)} ms (empty-submit floor ${floor.toFixed(1)} ms)`,
);
for (const [label, e] of rows.slice(0, TOP)) {
  console.log(
    `${e.ms.toFixed(2).padStart(9)} ms ${
      (100 * e.ms / total).toFixed(1).padStart(5)
    } %  ×${e.calls}  ${label}`,
  );
}
