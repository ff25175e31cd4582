// posegpu against PyTorch CPU on the same shapes, in the same run: `deno run -A bench/vs_torch.ts`.
//
// Shapes: matmul 1024³; the lifter's layers (B×34→1024 and 1024→1024, bias + ReLU fused, B = 1, 64, 1024)
// as eval-mode Linear layers run them (weight texture cached on CPU adapters); a 3×3 conv 64→64 at 56×56;
// ResNet-50 convolutions at a 256×192 input (stem, one conv of each stage). Each case prints wall-clock
// GFLOP/s and a CPU-time estimate (FLOPs over process CPU time ÷ cores: what an idle machine would give,
// an estimate printed as such), for posegpu and for PyTorch (2 threads, torch.no_grad, timed in a
// /usr/bin/python3 child), and the our/torch ratios of both. Matmul rows also time the storage-buffer
// kernel of the previous default ("buffer") next to the kernel in use, for a before/after in one run.
// Without PyTorch the table has our columns only and says why. FLOPs: 2 per multiply-add.
import process from "node:process";
import { backend, initEngine, type Tensor } from "../engine/mod.ts";
import { adapterSummary } from "../engine/device.ts";
import { conv2d } from "../engine/kernels/conv.ts";
import { chosenTile } from "../engine/tuning.ts";
import { matmul, type MatmulTile } from "../engine/kernels/matmul.ts";
import { randomTensor } from "./_random.ts";

await initEngine();
const CORES = navigator.hardwareConcurrency || 1;

interface Case {
  name: string;
  flops: number;
  /** Records one op (the kernel in use). */
  run: () => Tensor;
  /** Records one op with the previous default buffer kernel (matmul rows). */
  buffer?: () => Tensor;
  /** The PyTorch spec: "mm|M|N|K|epilogue" or "conv|N|C|H|W|O|kh|stride|pad". */
  torch: string;
}

/** The storage-buffer tile the engine used by default before the texture family (for the A/B column). */
function bufferTile(m: number, n: number): MatmulTile {
  if (m >= 256 && n >= 256) return { kind: "reg", tm: 16, tn: 16, wgx: 8, wgy: 8 };
  if (m >= 32 && n >= 64) return { kind: "reg", tm: 8, tn: 16, wgx: 8, wgy: 4 };
  if (m <= 4) return { kind: "reg", tm: m <= 1 ? 1 : 4, tn: 8, wgx: 32, wgy: 1 };
  return { kind: "reg", tm: 4, tn: 8, wgx: 16, wgy: 4 };
}

function mmCase(name: string, m: number, n: number, k: number, fused: boolean): Case {
  const a = randomTensor([m, k], m + k), w = randomTensor([k, n], n + 7), b = randomTensor([n], 3);
  const opts = fused ? { bias: b, activation: "relu" as const } : {};
  return {
    name,
    flops: 2 * m * n * k,
    run: () => matmul(a, w, { ...opts, constantB: true }),
    buffer: () => matmul(a, w, { ...opts, tile: bufferTile(m, n) }),
    torch: `mm|${m}|${n}|${k}|${fused ? 1 : 0}`,
  };
}

function convCase(name: string, x: number[], o: number, kh: number, stride: number, pad: number): Case {
  const xt = randomTensor(x, 11), w = randomTensor([o, x[1], kh, kh], 12), b = randomTensor([o], 13);
  const oh = Math.floor((x[2] + 2 * pad - kh) / stride) + 1,
    ow = Math.floor((x[3] + 2 * pad - kh) / stride) + 1;
  return {
    name,
    flops: 2 * x[0] * o * oh * ow * x[1] * kh * kh,
    run: () => conv2d(xt, w, { bias: b, stride, padding: pad, activation: "relu" }),
    torch: `conv|${x.join("|")}|${o}|${kh}|${stride}|${pad}`,
  };
}

const CASES: Case[] = [
  mmCase("matmul 1024^3", 1024, 1024, 1024, false),
  ...[1, 64, 1024].map((b) => mmCase(`lifter in B=${b} (34->1024)`, b, 1024, 34, true)),
  ...[1, 64, 1024].map((b) => mmCase(`lifter hidden B=${b} (1024->1024)`, b, 1024, 1024, true)),
  convCase("conv 3x3 64->64 56x56", [1, 64, 56, 56], 64, 3, 1, 1),
  convCase("R50 stem 7x7/2 3->64 256x192", [1, 3, 256, 192], 64, 7, 2, 3),
  convCase("R50 L1 1x1 64->256 64x48", [1, 64, 64, 48], 256, 1, 1, 0),
  convCase("R50 L1 3x3 64->64 64x48", [1, 64, 64, 48], 64, 3, 1, 1),
  convCase("R50 L2 3x3 128->128 32x24", [1, 128, 32, 24], 128, 3, 1, 1),
  convCase("R50 L3 3x3 256->256 16x12", [1, 256, 16, 12], 256, 3, 1, 1),
  convCase("R50 L3 1x1 1024->256 16x12", [1, 1024, 16, 12], 256, 1, 1, 0),
  convCase("R50 L4 3x3 512->512 8x6", [1, 512, 8, 6], 512, 3, 1, 1),
];

interface Timing {
  /** Median wall milliseconds per op. */
  ms: number;
  /** Median process CPU milliseconds per op (lavapipe's threads included). */
  cpuMs: number;
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Times `fn` with several ops per submit (Deno pays ~11 ms per GPU sync, as a forward pass does once). */
async function time(fn: () => Tensor, reps = 5): Promise<Timing> {
  const y = fn();
  await y.read();
  y.dispose();
  const t0 = performance.now();
  fn().dispose();
  await backend().sync();
  const once = performance.now() - t0;
  const per = Math.max(1, Math.min(64, Math.ceil(150 / Math.max(once, 0.1))));
  const ms: number[] = [], cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now(), c = process.cpuUsage();
    for (let i = 0; i < per; i++) fn().dispose();
    await backend().sync();
    const used = process.cpuUsage(c);
    ms.push((performance.now() - t) / per);
    cpu.push((used.user + used.system) / 1000 / per);
  }
  return { ms: median(ms), cpuMs: median(cpu) };
}

const TORCH = `
import json, sys, time
try:
    import torch
    import torch.nn.functional as F
except Exception as e:
    print(json.dumps({"error": "import torch failed: %s" % e})); sys.exit(0)
torch.set_num_threads(2)
torch.manual_seed(0)
out = {}
with torch.no_grad():
    for spec in sys.argv[1:]:
        p = spec.split("|")
        if p[0] == "mm":
            m, n, k, fused = map(int, p[1:])
            a, w, b = torch.randn(m, k), torch.randn(k, n), torch.randn(n)
            fn = (lambda: torch.relu(torch.addmm(b, a, w))) if fused else (lambda: a @ w)
            flops = 2 * m * n * k
        else:
            N, C, H, W, O, kh, s, pad = map(int, p[1:])
            x, w, b = torch.randn(N, C, H, W), torch.randn(O, C, kh, kh), torch.randn(O)
            fn = lambda: torch.relu(F.conv2d(x, w, b, stride=s, padding=pad))
        for _ in range(2): fn()
        t = time.perf_counter(); fn(); once = (time.perf_counter() - t) * 1000
        per = max(1, min(64, int(150 / max(once, 0.1)) + 1))
        ws, cs = [], []
        for _ in range(5):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(per): fn()
            ws.append((time.perf_counter() - t) * 1000 / per); cs.append((time.process_time() - c) * 1000 / per)
        ws.sort(); cs.sort()
        out[spec] = {"ms": ws[2], "cpuMs": cs[2]}
out["version"] = torch.__version__
print(json.dumps(out))
`;

async function torchRun(specs: string[]): Promise<{ timings: Record<string, Timing> | null; why: string }> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", TORCH, ...specs],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (r.code !== 0) {
      return {
        timings: null,
        why: `python3 exited ${r.code}: ${new TextDecoder().decode(r.stderr).slice(-200)}`,
      };
    }
    const j = JSON.parse(new TextDecoder().decode(r.stdout));
    if (j.error) return { timings: null, why: j.error };
    return { timings: j, why: `PyTorch ${j.version} CPU, 2 threads` };
  } catch (e) {
    return { timings: null, why: `/usr/bin/python3 not runnable (${(e as Error).message})` };
  }
}

const load = (): string => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
};

const load0 = load();
const ours = new Map<string, Timing>(), buffer = new Map<string, Timing>();
for (const c of CASES) {
  ours.set(c.name, await time(c.run));
  if (c.buffer) buffer.set(c.name, await time(c.buffer));
}
const load1 = load();
const torch = await torchRun(CASES.map((c) => c.torch));
const load2 = load();

const g = (flops: number, ms: number): string => (flops / ms / 1e6).toFixed(1);
// CPU-time estimate for an idle machine: the op's CPU time spread over all cores.
const ge = (flops: number, cpuMs: number): string => (flops / (cpuMs / CORES) / 1e6).toFixed(1);
console.log(
  `posegpu vs PyTorch CPU, same run — adapter ${adapterSummary().description}; ${CORES} cores; ` +
    `load ${load0} (start), ${load1} (after ours), ${load2} (after torch)`,
);
console.log(`torch: ${torch.timings ? torch.why : `not measured: ${torch.why}`}`);
console.log(
  `GFLOP/s: wall | est = FLOPs/(CPU time/${CORES} cores), the idle-machine estimate. tile = kernel in use.`,
);
const head = [
  "case".padEnd(34),
  "tile".padEnd(12),
  "ours wall".padStart(9),
  "est".padStart(6),
  "buffer".padStart(7),
  "b.est".padStart(6),
  "torch".padStart(6),
  "t.est".padStart(6),
  "ours/torch".padStart(10),
  "(est)".padStart(6),
];
console.log(head.join(" "));
for (const c of CASES) {
  const o = ours.get(c.name)!, b = buffer.get(c.name), t = torch.timings?.[c.torch];
  let tileName = "conv";
  if (c.torch.startsWith("mm")) {
    const [, m, n, k] = c.torch.split("|").map(Number);
    const tl = chosenTile(m, n, k, "NN");
    tileName = `${tl.kind}${tl.texA === false ? "b" : ""} ${tl.tm}x${tl.tn}`;
  }
  console.log([
    c.name.padEnd(34),
    tileName.padEnd(12),
    g(c.flops, o.ms).padStart(9),
    ge(c.flops, o.cpuMs).padStart(6),
    (b ? g(c.flops, b.ms) : "-").padStart(7),
    (b ? ge(c.flops, b.cpuMs) : "-").padStart(6),
    (t ? g(c.flops, t.ms) : "n/a").padStart(6),
    (t ? ge(c.flops, t.cpuMs) : "n/a").padStart(6),
    (t ? (t.ms / o.ms).toFixed(2) : "n/a").padStart(10),
    (t ? (t.cpuMs / o.cpuMs).toFixed(2) : "n/a").padStart(6),
  ].join(" "));
}
const gf = (name: string): number => {
  const c = CASES.find((x) => x.name === name)!;
  const o = ours.get(name)!;
  return Math.max(c.flops / o.ms / 1e6, c.flops / (o.cpuMs / CORES) / 1e6);
};
const mm = gf("matmul 1024^3"), cv = gf("conv 3x3 64->64 56x56");
console.log(
  `targets (best of wall and idle estimate): matmul 1024^3 ${mm.toFixed(1)} GFLOP/s — ≥25 (#2) ${
    mm >= 25 ? "met" : "NOT met"
  }, ≥40 (#8) ${mm >= 40 ? "met" : "NOT met"}; conv 3x3 64->64@56² ${cv.toFixed(1)} — ≥15 ${
    cv >= 15 ? "met" : "NOT met"
  }`,
);
