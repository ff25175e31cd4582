// Matmul throughput on the current adapter: 1024³ and the lifter's shapes (B×32→1024, 1024→1024 at
// B = 1, 64, 1024), with PyTorch CPU on the same shapes in the same run when it is installed.
// Run: deno bench -A bench/matmul_bench.ts   (GFLOP/s and our/torch ratios are printed after the table)
import { backend, initEngine, matmul, type Tensor, tensor } from "../engine/mod.ts";
import { median, torchTimings } from "./_torch.ts";

await initEngine();
const SHAPES: [string, number, number, number][] = [
  ["1024^3", 1024, 1024, 1024],
  ["lifter in B=1024 (1024x32->1024)", 1024, 1024, 32],
  ["lifter hidden B=1", 1, 1024, 1024],
  ["lifter hidden B=64", 64, 1024, 1024],
  ["lifter hidden B=1024", 1024, 1024, 1024],
];
const operands = new Map<string, [Tensor, Tensor]>();
for (const [name, m, n, k] of SHAPES) {
  operands.set(name, [
    tensor(Float32Array.from({ length: m * k }, () => Math.random() - 0.5), [m, k]),
    tensor(Float32Array.from({ length: n * k }, () => Math.random() - 0.5), [k, n]),
  ]);
}
// Several products per submit, as in a forward pass (Deno pays ~11 ms per GPU sync). B is a constant weight
// (`constantB`), as eval-mode Linear layers pass it: CPU adapters cache its texture (matmul_tex.ts).
const PER_SUBMIT = 8;
async function timeOurs(name: string): Promise<number> {
  const [a, b] = operands.get(name)!;
  matmul(a, b, { constantB: true }).dispose();
  await backend().sync();
  const ts: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < PER_SUBMIT; i++) matmul(a, b, { constantB: true }).dispose();
    await backend().sync();
    ts.push((performance.now() - t) / PER_SUBMIT);
  }
  return median(ts);
}
for (const [name] of SHAPES) {
  Deno.bench({ name: `matmul ${name} (${PER_SUBMIT} per submit)`, n: 3, warmup: 1 }, async () => {
    const [a, b] = operands.get(name)!;
    for (let i = 0; i < PER_SUBMIT; i++) matmul(a, b, { constantB: true }).dispose();
    await backend().sync();
  });
}

const TORCH = `
import json, sys, time, torch
torch.set_num_threads(2)
out = {}
for spec in sys.argv[1:]:
    name, m, n, k = spec.split("|"); m, n, k = int(m), int(n), int(k)
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3): a @ b
    ts = []
    for _ in range(7):
        t = time.perf_counter(); a @ b; ts.append((time.perf_counter() - t) * 1000)
    ts.sort(); out[name] = ts[len(ts) // 2]
print(json.dumps(out))
`;
globalThis.addEventListener("unload", () => {});
const ours: Record<string, number> = {};
for (const [name] of SHAPES) ours[name] = await timeOurs(name);
const torch = await torchTimings(TORCH, SHAPES.map(([n, m, nn, k]) => `${n}|${m}|${nn}|${k}`));
console.log(`\nmatmul on ${backend().device.limits ? "this adapter" : ""}: ours vs PyTorch CPU (same run)`);
for (const [name, m, n, k] of SHAPES) {
  const g = 2 * m * n * k / ours[name] / 1e6;
  const t = torch?.[name];
  console.log(
    `${name.padEnd(34)} ${ours[name].toFixed(2).padStart(8)} ms ${g.toFixed(1).padStart(6)} GFLOP/s` +
      (t
        ? ` | torch ${t.toFixed(2)} ms ${(2 * m * n * k / t / 1e6).toFixed(1)} GFLOP/s | ours/torch speed ${
          (t / ours[name]).toFixed(2)
        }`
        : " | torch n/a"),
  );
}
