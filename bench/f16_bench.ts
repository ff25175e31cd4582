// f16 vs f32 weights for the shipped Martinez lifter (weights/martinez_gt.safetensors: 1024 wide, 2 residual
// blocks, BatchNorm folded) at batch 1024 (and 64, 1), in the same run: `Lifter.lift` time (upload, forward,
// readback), the f16/f32 ratio, and the peak GPU bytes of each model (the engine's peakLiveBytes over a
// fresh load and one B=1024 lift, less what was live before).
// Both models run the kernels the tile chooser picks (on CPU adapters the texture-operand kernels of
// kernels/matmul_tex.ts where they apply: an f16 weight is packed into an rgba16float texture, an f32 one
// into rgba32float); a third column times f32 with texture tiles mapped to register tiles (the storage-buffer
// kernels), for reference.
// Run: deno bench -A bench/f16_bench.ts   (the summary prints after Deno's table)
import { backend, chosenTile, f16Supported, initEngine } from "../engine/mod.ts";
import { type MatmulTile, setTileChooser } from "../engine/kernels/matmul.ts";
import { weightTextureBytes } from "../engine/kernels/matmul_tex.ts";
import { installTuning } from "../engine/tuning.ts";
import { loadCheckpoint } from "../models/checkpoint.ts";
import { type Lifter, loadLifter, meanPose2d } from "../models/lifter.ts";
import { median } from "./_torch.ts";

await initEngine();
if (!f16Supported()) console.warn("this adapter has no shader-f16: the f16 model falls back to f32 storage");

const bytes = await Deno.readFile(new URL("../weights/martinez_gt.safetensors", import.meta.url));
const BATCHES = [1024, 64, 1];

// Inputs: the checkpoint's mean 2D pose, deterministically jittered by up to ±30 px.
const { meta } = await loadCheckpoint(bytes);
const mean = meanPose2d(meta.model, meta);
const INPUTS = new Map(BATCHES.map((b) => {
  const kp = new Float32Array(b * 34);
  for (let i = 0; i < kp.length; i++) kp[i] = mean[i % 34] + 30 * Math.sin(i * 0.37);
  return [b, kp] as const;
}));

async function once(l: Lifter, b: number): Promise<void> {
  await l.lift(INPUTS.get(b)!, { batchSize: b });
}

/** A lifter with `dtype` weights, the peak GPU bytes of its load and first B=1024 lift, and its weight bytes. */
async function open(
  dtype: "f32" | "f16",
): Promise<{ lifter: Lifter; peak: number; weights: number; textures: number }> {
  const be = backend();
  const before = be.getStats().liveBytes, texBefore = weightTextureBytes();
  be.resetPeak();
  const lifter = await loadLifter(bytes, { weightsDtype: dtype });
  await once(lifter, 1024);
  const peak = be.getStats().peakLiveBytes - before;
  const textures = weightTextureBytes() - texBefore;
  // Bytes of the weight tensors the forward reads (the cached eval-mode [in, out] copies).
  let weights = 0;
  for (const m of lifter.model.modules()) {
    const l = m as unknown as { weightInOut?: () => { byteLength: number } };
    if (typeof l.weightInOut === "function") weights += l.weightInOut().byteLength;
  }
  return { lifter, peak, weights, textures };
}

const f32 = await open("f32");
const f16 = await open("f16");
const f32reg = await loadLifter(bytes);

/** Runs `fn` with texture tiles mapped to register tiles of the same block (the f16 path's kernels). */
async function onRegTiles<T>(fn: () => Promise<T>): Promise<T> {
  setTileChooser((m, n, k, _batch, flags): MatmulTile => {
    const t = chosenTile(m, n, k, flags);
    const reg: MatmulTile = { kind: "reg", tm: t.tm, tn: t.tn, wgx: t.wgx, wgy: t.wgy };
    return t.kind === "shared" ? t : reg;
  });
  try {
    return await fn();
  } finally {
    installTuning();
  }
}

for (const b of BATCHES) {
  const n = b >= 1024 ? 3 : 10;
  // Async bodies with explicit start/end: a plain arrow returning the promise is timed as a sync function.
  Deno.bench({ name: `f32 weights B=${b}`, group: `B=${b}`, baseline: true, n, warmup: 1 }, async (t) => {
    t.start();
    await once(f32.lifter, b);
    t.end();
  });
  Deno.bench({ name: `f16 weights B=${b}`, group: `B=${b}`, n, warmup: 1 }, async (t) => {
    t.start();
    await once(f16.lifter, b);
    t.end();
  });
}

/** Interleaved timing (f32, f16, f32-on-reg, f32, …) so that load swings hit all alike; medians in ms. */
async function interleaved(b: number, reps: number): Promise<[number, number, number]> {
  for (const l of [f32.lifter, f16.lifter]) await once(l, b);
  await onRegTiles(() => once(f32reg, b));
  const ts: number[][] = [[], [], []];
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    await once(f32.lifter, b);
    ts[0].push(performance.now() - t);
    t = performance.now();
    await once(f16.lifter, b);
    ts[1].push(performance.now() - t);
    await onRegTiles(async () => {
      t = performance.now();
      await once(f32reg, b);
      ts[2].push(performance.now() - t);
    });
  }
  return [median(ts[0]), median(ts[1]), median(ts[2])];
}

globalThis.addEventListener("unload", () => {});
const load = (): string => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").trim().split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
};
const mib = (n: number): string => `${(n / 2 ** 20).toFixed(2)} MiB`;
console.log(`\nf16 vs f32 weights, martinez_gt, same run (load average ${load()})`);
console.log(
  `peak GPU bytes (load + one B=1024 lift): f32 ${mib(f32.peak)}, f16 ${mib(f16.peak)} (f16/f32 ${
    (f16.peak / f32.peak).toFixed(3)
  }); weight tensors the forward reads: f32 ${mib(f32.weights)}, f16 ${mib(f16.weights)}; cached weight ` +
    `textures (texture-operand kernels, outside the buffer counts): f32 ${mib(f32.textures)}, f16 ${
      mib(f16.textures)
    }`,
);
for (const b of BATCHES) {
  const [a, h, r] = await interleaved(b, b >= 1024 ? 5 : 15);
  const pps = (ms: number): string => ((b * 1000) / ms).toFixed(0);
  console.log(
    `B=${String(b).padEnd(5)} f32 ${a.toFixed(2)} ms (${pps(a)} poses/s) | f16 ${h.toFixed(2)} ms (${
      pps(h)
    } poses/s)` +
      ` | f16/f32 time ${(h / a).toFixed(3)} | f32 on register tiles ${r.toFixed(2)} ms`,
  );
}
console.log(`load average after: ${load()}`);
