// Peer-bench runner: posegpu (this repository) on Deno's WebGPU adapter. Loads the seeded PyTorch-named
// weights into models/martinez.ts and models/posefix.ts, folds BatchNorm (`loadStateDict(..., {fold})`), and
// times upload + forward + readback per case. Usage: deno run -A bench/peers/run_posegpu.ts PLAN.json
import { backend, initEngine, type Tensor, tensor, tidy } from "../../engine/mod.ts";
import { readStateDict } from "../../layers/state_dict.ts";
import type { StateDict } from "../../layers/module.ts";
import { Martinez } from "../../models/martinez.ts";
import { PoseFix } from "../../models/posefix.ts";
import { median, type Plan, runCase, type RunnerResult, WORKLOADS } from "./workloads.ts";

const plan: Plan = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const result: RunnerResult = {
  engine: "posegpu",
  version: "",
  results: [],
  notes: [],
};
await initEngine();
const info = backend().device.adapterInfo;
result.version = `posegpu (this tree), ${info?.description || info?.vendor || "WebGPU"}`;

type Net = { forward(x: Tensor): Tensor };
const models = new Map<string, Net>();
async function model(id: string): Promise<Net> {
  let m = models.get(id);
  if (m) return m;
  const { stateDict } = await readStateDict(`${plan.cache}/${id}.safetensors`);
  const net = id === "lifter" ? new Martinez() : new PoseFix({ num_layers: 50 });
  net.eval();
  await net.loadStateDict(stateDict as StateDict, { fold: true });
  models.set(id, m = net);
  return net;
}

for (const c of plan.cases) {
  const w = WORKLOADS.find((x) => x.id === c.workload)!;
  await runCase(result, c, {
    plan,
    prefix: "posegpu",
    setup: async () => {
      const net = await model(c.workload);
      const all = new Float32Array(
        (await Deno.readFile(`${plan.cache}/${c.workload}_input.f32`)).buffer,
      );
      const per = w.inShape.reduce((a, b) => a * b, 1);
      const x = all.subarray(0, c.batch * per);
      const run = async (): Promise<Float32Array> => {
        const input = tensor(x, [c.batch, ...w.inShape]);
        const y = tidy(() => net.forward(input));
        const out = await y.read();
        y.dispose();
        input.dispose();
        return out;
      };
      return { run };
    },
  });
}
// Deno's sync floor on this adapter: an empty submit + onSubmittedWorkDone, and a 4-byte readback (copy to a
// MAP_READ buffer, submit, mapAsync) — the least any batch-1 forward that reads its result can cost.
{
  const device = backend().device;
  const src = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const empty: number[] = [], readback: number[] = [];
  for (let i = 0; i < 15; i++) {
    let t = performance.now();
    device.queue.submit([device.createCommandEncoder().finish()]);
    await device.queue.onSubmittedWorkDone();
    empty.push(performance.now() - t);
    t = performance.now();
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, 4);
    device.queue.submit([enc.finish()]);
    await dst.mapAsync(GPUMapMode.READ);
    dst.unmap();
    readback.push(performance.now() - t);
  }
  src.destroy();
  dst.destroy();
  result.extra = { emptySubmitMs: median(empty.slice(3)), readback4BytesMs: median(readback.slice(3)) };
}
console.log(JSON.stringify(result));
