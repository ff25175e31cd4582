// Convolutions, pooling and resizing against PyTorch (tests/fixtures/gen_ops_conv.py → ops_conv.json +
// ops_conv.safetensors), through one case table and one checker. Every case runs with the default kernel
// choice and then once per listed variant (a forced kernel family: uniform-window tiled, storage tiled,
// direct), all against the same reference.
// Tolerance: max |ours − torch| ≤ 1e-4·(1 + |torch|), per element.
import assert from "node:assert/strict";
import { backend, initEngine } from "../../engine/backend.ts";
import { InputError } from "../../engine/errors.ts";
import {
  cachedConvPacks,
  conv1d,
  conv2d,
  convTranspose2d,
  packedConvWeightBytes,
} from "../../engine/kernels/conv.ts";
import { adaptiveAvgPool2d, avgPool2d, globalAvgPool2d, maxPool2d } from "../../engine/kernels/pool.ts";
import { pad2d, resizeBilinear, resizeNearest } from "../../engine/kernels/resize.ts";
import { readSafetensors } from "../../engine/safetensors.ts";
import { type Tensor, tensor, tidy } from "../../engine/tensor.ts";
import { fixture } from "../_shared.ts";

const TOL = 1e-4;

// deno-lint-ignore no-explicit-any
type Options = Record<string, any>;
interface Case {
  name: string;
  op: string;
  options: Options;
  variants: Options[];
}

const spec = JSON.parse(Deno.readTextFileSync(fixture("ops_conv.json"))) as { cases: Case[] };
const file = await readSafetensors(fixture("ops_conv.safetensors"));
await initEngine();

type Get = (key: string) => Tensor | undefined;
type Runner = (t: Get, o: Options) => Tensor;

/** The fused-epilogue options of a case: bias/residual flags become the case's tensors. */
function epilogue(t: Get, o: Options): Options {
  const { bias, residual, ...rest } = o;
  return { ...rest, bias: bias ? t("bias") : undefined, residual: residual ? t("residual") : undefined };
}

const x = (t: Get): Tensor => t("x")!;
const OPS: Record<string, Runner> = {
  conv2d: (t, o) => conv2d(x(t), t("w")!, epilogue(t, o)),
  conv1d: (t, o) => conv1d(x(t), t("w")!, epilogue(t, o)),
  convTranspose2d: (t, o) => convTranspose2d(x(t), t("w")!, epilogue(t, o)),
  maxPool2d: (t, { kernel, ...o }) => maxPool2d(x(t), kernel, o),
  avgPool2d: (t, { kernel, ...o }) => avgPool2d(x(t), kernel, o),
  globalAvgPool2d: (t) => globalAvgPool2d(x(t)),
  adaptiveAvgPool2d: (t, o) => adaptiveAvgPool2d(x(t), o.size),
  resizeBilinear: (t, { size, ...o }) => resizeBilinear(x(t), size, o),
  resizeNearest: (t, o) => resizeNearest(x(t), o.size),
  pad2d: (t, { pads, ...o }) => pad2d(x(t), pads, o),
};

/** Runs a case's op on fresh tensors and compares element-wise with PyTorch's result. */
async function check(c: Case, options: Options, label: string): Promise<void> {
  const ref = file.tensors.get(`${c.name}/y`);
  assert(ref, `${c.name}: fixture has no reference output`);
  const out = tidy(() => {
    const cache = new Map<string, Tensor>();
    const get: Get = (key) => {
      const h = file.tensors.get(`${c.name}/${key}`);
      if (!h) return undefined;
      if (!cache.has(key)) cache.set(key, tensor(h.data as Float32Array, h.shape));
      return cache.get(key);
    };
    return OPS[c.op](get, options);
  });
  try {
    assert.deepEqual([...out.shape], ref.shape, `${label}: shape`);
    const got = await out.read();
    let at = -1, worst = 0;
    for (let i = 0; i < got.length; i++) {
      const excess = Math.abs(got[i] - ref.data[i]) - TOL * (1 + Math.abs(ref.data[i]));
      if (!(excess <= worst)) {
        worst = excess;
        at = i;
      }
    }
    assert(
      at < 0,
      `${label}: element ${at} is ${got[at]}, PyTorch ${ref.data[at]} (tolerance ${TOL}·(1 + |ref|))`,
    );
  } finally {
    out.dispose();
  }
}

Deno.test("ops_conv: every fixture case has an op", () => {
  assert(spec.cases.length > 40);
  for (const c of spec.cases) assert(c.op in OPS, `case ${c.name}: no runner for op ${c.op}`);
});

for (const c of spec.cases) {
  Deno.test(`ops_conv: ${c.op} ${c.name} matches PyTorch`, async () => {
    await check(c, c.options, c.name);
    for (const v of c.variants) await check(c, { ...c.options, ...v }, `${c.name} ${JSON.stringify(v)}`);
  });
}

Deno.test("ops_conv: bad shapes are InputErrors that name the tensor", () => {
  tidy(() => {
    const x4 = tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const w = tensor(new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
    assert.throws(() => conv2d(x4, w), (e: Error) => e instanceof InputError && /weight w/.test(e.message));
    const w3 = tensor(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
    assert.throws(
      () => conv2d(x4, w3, { bias: tensor([1, 2, 3]) }),
      (e: Error) => e instanceof InputError && /bias/.test(e.message),
    );
    assert.throws(
      () => conv2d(x4, w3, { residual: tensor(new Float32Array(4), [1, 4, 1, 1]) }),
      (e: Error) => e instanceof InputError && /residual/.test(e.message),
    );
    assert.throws(() => conv2d(x4, tensor(new Float32Array(4 * 3 * 7 * 7), [4, 3, 7, 7])), InputError);
    assert.throws(() => conv1d(x4, w3), (e: Error) => e instanceof InputError && /input x/.test(e.message));
    assert.throws(
      () =>
        convTranspose2d(x4, tensor(new Float32Array(3 * 4 * 3 * 3), [3, 4, 3, 3]), {
          stride: 2,
          outputPadding: 2,
        }),
      (e: Error) => e instanceof InputError && /outputPadding/.test(e.message),
    );
    assert.throws(() => maxPool2d(x4, 3, { padding: 2 }), InputError);
    assert.throws(() => avgPool2d(x4, 7), InputError);
    assert.throws(() => resizeBilinear(x4, [0, 3]), InputError);
    assert.throws(() => pad2d(x4, [-3, -3, 0, 0]), InputError);
  });
});

Deno.test("ops_conv: constant weights keep their packed windows (fewer dispatches, same values, released with the tensor)", async () => {
  const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s));
  const cases: { name: string; run: (w: Tensor, constantWeight: boolean) => Tensor; w: number[] }[] = [
    // 64 input channels × 3×3 × 32 outputs: three uniform windows; the storage path packs one buffer.
    ...(["uniform", "storage"] as const).map((weights) => ({
      name: `conv2d ${weights}`,
      w: [32, 64, 3, 3],
      run: (w: Tensor, constantWeight: boolean) =>
        conv2d(tensor(rnd(64 * 6 * 8, 1), [1, 64, 6, 8]), w, {
          padding: 1,
          kernel: "tiled",
          tile: { tm: 8, tn: 8, weights },
          constantWeight,
        }),
    })),
    {
      name: "convTranspose2d (four phases)",
      w: [16, 16, 4, 4],
      run: (w: Tensor, constantWeight: boolean) =>
        convTranspose2d(tensor(rnd(16 * 5 * 6, 2), [1, 16, 5, 6]), w, {
          stride: 2,
          padding: 1,
          constantWeight,
        }),
    },
  ];
  for (const c of cases) {
    const w = tensor(rnd(c.w.reduce((a, b) => a * b), 3), c.w);
    const before = cachedConvPacks();
    const run = async (constant: boolean): Promise<{ y: Float32Array; dispatches: number }> => {
      const d0 = backend().getStats().dispatches;
      const y = tidy(() => c.run(w, constant));
      const dispatches = backend().getStats().dispatches - d0;
      const v = await y.read();
      y.dispose();
      return { y: v, dispatches };
    };
    const plain = await run(false);
    const first = await run(true);
    const again = await run(true);
    assert.equal(cachedConvPacks(), before + 1, `${c.name}: one cached entry for the weight`);
    assert.deepEqual(first.y, plain.y, `${c.name}: first constant call`);
    assert.deepEqual(again.y, plain.y, `${c.name}: cached call`);
    assert.equal(first.dispatches, plain.dispatches, `${c.name}: the first call packs`);
    assert(again.dispatches < first.dispatches, `${c.name}: the cached call does not pack again`);
    assert(packedConvWeightBytes() > 0);
    w.dispose();
    assert.equal(cachedConvPacks(), before, `${c.name}: released with the weight`);
  }
});
