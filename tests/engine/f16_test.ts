// f16 storage: host conversion against numpy (tests/fixtures/gen_f16.py → f16_cases.json), the storage
// round trip at awkward sizes, the GPU cast, f16 operands of matmul against f32 (and against PyTorch within
// the f16 rounding bound), the data-movement ops, safetensors straight to f16 tensors, and the f32 fallback
// without shader-f16 (a subprocess with POSEGPU_NO_F16=1).
import assert from "node:assert/strict";
import {
  cast,
  concat,
  f16BitsToF32,
  f16Supported,
  f16ToF32Array,
  f32ToF16Array,
  f32ToF16Bits,
  initEngine,
  loadSafetensorsTensors,
  matmul,
  type MatmulTile,
  ops,
  permute,
  readSafetensors,
  roundToF16,
  serializeSafetensors,
  slice,
  type Tensor,
  tensor,
  tensorFromF16Bits,
} from "../../engine/mod.ts";
import { weightTextureBytes } from "../../engine/kernels/matmul_tex.ts";
import { backward, param, withGrad } from "../../engine/autograd.ts";
import { fixture } from "../_shared.ts";

await initEngine();

const cases = JSON.parse(await Deno.readTextFile(fixture("f16_cases.json"))) as {
  f32_bits: number[];
  f16_bits: number[];
  back_f32_bits: number[];
  edge_count: number;
};
const inputs = new Float32Array(Uint32Array.from(cases.f32_bits).buffer);
const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const hex = (v: number) => `0x${v.toString(16)}`;

/** Lavapipe and every f16 GPU path need the feature; without it the f16 cases below test the fallback. */
const F16 = f16Supported();
if (!F16) console.warn("note: this adapter has no shader-f16; f16 tensors fall back to f32 storage here");

Deno.test("host f32 → f16 is bit-exact with numpy astype(float16) (edge values and 1,500 random)", () => {
  const got = f32ToF16Array(inputs);
  for (let i = 0; i < inputs.length; i++) {
    const want = cases.f16_bits[i];
    assert.equal(
      got[i],
      want,
      `case ${i}: f32 ${hex(cases.f32_bits[i])} → ${hex(got[i])}, numpy ${hex(want)}`,
    );
    // The scalar form takes a JS number, in which a NaN has lost its f32 payload: NaN-ness is what it keeps.
    const scalar = f32ToF16Bits(inputs[i]);
    if (isNaN16(want)) assert.ok(isNaN16(scalar), `scalar f32ToF16Bits, case ${i}: ${hex(scalar)}`);
    else assert.equal(scalar, want, `scalar f32ToF16Bits, case ${i}`);
  }
  // Odd lengths are padded with +0 halves on request.
  assert.deepEqual([...f32ToF16Array([1, 2, 3], { length: 4 })], [0x3c00, 0x4000, 0x4200, 0]);
});

Deno.test("host f16 → f32 is exact (numpy's expansion; NaN stays NaN with its sign)", () => {
  const back = f16ToF32Array(Uint16Array.from(cases.f16_bits));
  const backBits = new Uint32Array(back.buffer);
  for (let i = 0; i < back.length; i++) {
    const h = cases.f16_bits[i];
    if (isNaN16(h)) assert.ok(Number.isNaN(back[i]), `case ${i}: ${hex(h)} should expand to NaN`);
    else assert.equal(backBits[i], cases.back_f32_bits[i], `case ${i}: ${hex(h)} → ${hex(backBits[i])}`);
  }
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x7bff), 65504);
});

Deno.test("f16 storage round trip at sizes 1, 2, 3, 17, 1023, 1025 (packed halves, 4-byte aligned)", async () => {
  for (const n of [1, 2, 3, 17, 1023, 1025]) {
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 300 + (i % 7) * 1e-3);
    const t = tensor(data, [n], { dtype: "f16" });
    assert.equal(t.dtype, F16 ? "f16" : "f32");
    assert.equal(t.byteLength, F16 ? Math.ceil(n / 2) * 4 : n * 4, `n=${n}`);
    const want = F16 ? roundToF16(data) : data;
    assert.deepEqual([...await t.read()], [...want], `n=${n}`);
    if (F16) {
      assert.deepEqual([...await t.readF16Bits()], [...f32ToF16Array(data)], `bits n=${n}`);
      const r = t.reshape([1, n]);
      assert.equal(r.dtype, "f16");
      assert.deepEqual([...await r.read()], [...want], `reshape n=${n}`);
      r.dispose();
      const fromBits = tensorFromF16Bits(f32ToF16Array(data), [n]);
      assert.deepEqual([...await fromBits.read()], [...want], `from bits n=${n}`);
      fromBits.dispose();
    }
    t.dispose();
  }
  assert.throws(() => tensor([1, 2, 3], [2, 2], { dtype: "f16" }), /3 values but shape \[2, 2\] needs 4/);
  assert.throws(() => tensorFromF16Bits(new Uint16Array(3), [2]), /3 values but shape \[2\] needs 2/);
});

Deno.test("GPU cast f32 → f16 equals the host rounding on every fixture value; f16 → f32 is exact", async () => {
  const x = tensor(inputs);
  const h = cast(x, "f16");
  assert.equal(h.dtype, F16 ? "f16" : "f32");
  if (F16) {
    const bits = await h.readF16Bits();
    for (let i = 0; i < inputs.length; i++) {
      const want = cases.f16_bits[i];
      // The GPU may quieten a signalling NaN (a different payload): NaN-ness and sign are what is fixed.
      if (isNaN16(want)) {
        assert.ok(
          isNaN16(bits[i]) && (bits[i] & 0x8000) === (want & 0x8000),
          `case ${i}: NaN → ${hex(bits[i])}`,
        );
      } else assert.equal(bits[i], want, `case ${i}: f32 ${hex(cases.f32_bits[i])} → ${hex(bits[i])}`);
    }
  }
  const back = await cast(h, "f32").read();
  const want = F16 ? f16ToF32Array(Uint16Array.from(cases.f16_bits)) : inputs;
  for (let i = 0; i < back.length; i++) {
    if (Number.isNaN(want[i])) assert.ok(Number.isNaN(back[i]), `case ${i}`);
    else assert.equal(back[i], want[i], `case ${i}`);
  }
  // Odd counts (the last pair repeats into the padding half), i32 → f16 and f16 → i32.
  const odd = cast(tensor([1.5, -2.25, 1e-3]), "f16");
  assert.deepEqual([...await odd.read()], [...roundToF16([1.5, -2.25, 1e-3])]);
  const ints = cast(tensor(Int32Array.from([3, -7, 2049])), "f16");
  assert.deepEqual([...await ints.read()], F16 ? [3, -7, 2048] : [3, -7, 2049]);
  assert.deepEqual([...await cast(ints, "i32").readInt()], F16 ? [3, -7, 2048] : [3, -7, 2049]);
  assert.throws(() => cast(x, "f64" as "f32"), /unknown dtype "f64"/);
  for (const t of [x, h, odd, ints]) t.dispose();
});

Deno.test("ops.cast is differentiable: the gradient comes back through f16 in the input's dtype", async () => {
  const x = param(tensor([0.5, -1.25, 3]));
  const gy = tensor([1.0001, -2, 0.25]);
  withGrad(() => {
    const y = ops.cast(ops.cast(x, "f16"), "f32");
    backward(y, { grad: gy });
    return y;
  });
  assert.equal(x.grad!.dtype, "f32");
  assert.deepEqual([...await x.grad!.read()], [
    ...(F16 ? roundToF16([1.0001, -2, 0.25]) : Float32Array.of(1.0001, -2, 0.25)),
  ]);
  x.dispose();
  gy.dispose();
});

Deno.test("data movement on f16: permute, slice, concat keep f16 and move the exact halves", async () => {
  const data = Float32Array.from({ length: 3 * 5 }, (_, i) => i * 0.1 - 0.7);
  const h = tensor(data, [3, 5], { dtype: "f16" });
  const r = roundToF16(data);
  const p = permute(h, [1, 0]);
  assert.equal(p.dtype, h.dtype);
  const want = Float32Array.from({ length: 15 }, (_, i) => r[(i % 3) * 5 + Math.floor(i / 3)]);
  assert.deepEqual([...await p.read()], [...want]);
  const s = slice(h, [{ axis: 0, start: 1, end: 3 }, { axis: 1, start: 1, end: 4 }]);
  assert.deepEqual([...await s.read()], [r[6], r[7], r[8], r[11], r[12], r[13]]);
  const c = concat([h, h], { axis: 1 });
  assert.deepEqual([...(await c.read()).subarray(5, 10)], [...r.subarray(0, 5)]);
  for (const t of [h, p, s, c]) t.dispose();
});

// matmul with f16 operands. Against f32 on the f16-rounded values the arithmetic is the same (f32 FMAs),
// so the tolerance is f32 reordering only; against the unrounded f32 product the error is bounded by the
// rounding of the f16 operand: |Δ| ≤ 2⁻¹¹·(|A|·|B|) per element (+1e-5).
const SHAPES: { m: number; k: number; n: number; transB?: boolean; transA?: boolean; tile?: MatmulTile }[] = [
  { m: 1, k: 34, n: 1024 },
  { m: 33, k: 64, n: 48 },
  { m: 17, k: 33, n: 7 },
  { m: 64, k: 1024, n: 48, transB: true },
  { m: 5, k: 13, n: 9, transB: true },
  { m: 16, k: 12, n: 20, transA: true },
  { m: 130, k: 96, n: 72, tile: { kind: "shared", tm: 4, tn: 4, wgx: 16, wgy: 16 } },
  { m: 70, k: 40, n: 36, tile: { kind: "reg", tm: 8, tn: 16, wgx: 8, wgy: 4 } },
  // Texture operands (f16 B packed into rgba16float; an f16 A falls back to the buffer kernel).
  { m: 64, k: 64, n: 128, transB: true, tile: { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 4 } },
  { m: 70, k: 40, n: 36, tile: { kind: "tex", tm: 16, tn: 8, wgx: 8, wgy: 4, texA: false } },
  { m: 33, k: 30, n: 20, tile: { kind: "tex", tm: 16, tn: 8, wgx: 8, wgy: 4 } },
];

function hostMatmulAbs(a: Float32Array, b: Float32Array, s: (typeof SHAPES)[number]): Float32Array {
  const { m, k, n } = s;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let q = 0; q < k; q++) {
        const av = s.transA ? a[q * m + i] : a[i * k + q];
        const bv = s.transB ? b[j * k + q] : b[q * n + j];
        acc += Math.abs(av * bv);
      }
      out[i * n + j] = acc;
    }
  }
  return out;
}

for (const s of SHAPES) {
  const name = `${s.m}x${s.k}x${s.n}${s.transA ? " Aᵀ" : ""}${s.transB ? " Bᵀ" : ""}${
    s.tile ? ` ${s.tile.kind}` : ""
  }`;
  Deno.test(`matmul with f16 B (and f16 A) vs f32: ${name}`, async () => {
    const a = Float32Array.from({ length: s.m * s.k }, (_, i) => Math.sin(i * 0.31) * 2);
    const b = Float32Array.from({ length: s.k * s.n }, (_, i) => Math.cos(i * 0.17) * 0.5);
    const aShape = s.transA ? [s.k, s.m] : [s.m, s.k], bShape = s.transB ? [s.n, s.k] : [s.k, s.n];
    const opts = { transA: s.transA, transB: s.transB, tile: s.tile };
    const ta = tensor(a, aShape), tb = tensor(b, bShape);
    const tb16 = tensor(b, bShape, { dtype: "f16" }), ta16 = tensor(a, aShape, { dtype: "f16" });
    const tbr = tensor(F16 ? roundToF16(b) : b, bShape), tar = tensor(F16 ? roundToF16(a) : a, aShape);
    const texBefore = weightTextureBytes();
    const got = await matmul(ta, tb16, { ...opts, constantB: true }).read();
    if (s.tile?.kind === "tex" && F16) {
      // Cached as an rgba16float texture: 8 bytes per texel of ceil(N/4) × 4·ceil(K/4).
      const texels = Math.ceil(s.n / 4) * Math.ceil(s.k / 4) * 4;
      assert.equal(weightTextureBytes() - texBefore, texels * 8, `${name}: f16 B weight texture bytes`);
    }
    // A second product with the same constant f16 B reuses its cached texture (texture tiles).
    assert.deepEqual([...await matmul(ta, tb16, { ...opts, constantB: true }).read()], [...got]);
    const ref = await matmul(ta, tbr, opts).read();
    const exact = await matmul(ta, tb, opts).read();
    const both = await matmul(ta16, tb16, opts).read();
    const bothRef = await matmul(tar, tbr, opts).read();
    const bound = hostMatmulAbs(a, b, s);
    for (let i = 0; i < got.length; i++) {
      const tol = 1e-5 + 1e-5 * Math.abs(ref[i]);
      assert.ok(Math.abs(got[i] - ref[i]) <= tol, `${name} [${i}]: ${got[i]} vs rounded-B f32 ${ref[i]}`);
      assert.ok(Math.abs(both[i] - bothRef[i]) <= tol, `${name} [${i}]: f16 A,B ${both[i]} vs ${bothRef[i]}`);
      const lim = 1e-5 + 2 ** -11 * bound[i];
      assert.ok(Math.abs(got[i] - exact[i]) <= lim, `${name} [${i}]: |${got[i]} − ${exact[i]}| > ${lim}`);
    }
    for (const t of [ta, tb, tb16, ta16, tbr, tar]) t.dispose();
  });
}

Deno.test("matmul f16 B against PyTorch (ops fixture) within the f16 rounding bound; bias/relu/residual f32", async () => {
  const file = await readSafetensors(fixture("ops.safetensors"));
  const get = (n: string) => file.tensors.get(n)!;
  for (const base of ["matmul_17x1025x33", "matmul_1x34x1024", "linear_relu", "linear_leaky_residual"]) {
    const ins: Tensor[] = [];
    for (let i = 0; get(`${base}/in${i}`); i++) {
      const h = get(`${base}/in${i}`);
      ins.push(tensor(h.data as Float32Array, h.shape, { dtype: i === 1 ? "f16" : "f32" }));
    }
    const linear = base.startsWith("linear");
    const y = matmul(ins[0], ins[1], {
      transB: linear,
      bias: ins[2],
      activation: base === "linear_relu"
        ? "relu"
        : base === "linear_leaky_residual"
        ? "leaky_relu"
        : undefined,
      alpha: 0.2,
      residual: ins[3],
    });
    const got = await y.read();
    const want = get(`${base}/out`).data as Float32Array;
    const a = get(`${base}/in0`), b = get(`${base}/in1`);
    const [m, k] = a.shape, n = linear ? b.shape[0] : b.shape[1];
    const bound = hostMatmulAbs(a.data as Float32Array, b.data as Float32Array, { m, k, n, transB: linear });
    for (let i = 0; i < got.length; i++) {
      const lim = 1e-4 + 1e-4 * Math.abs(want[i]) + (F16 ? 2 ** -11 * bound[i] : 0);
      assert.ok(
        Math.abs(got[i] - want[i]) <= lim,
        `${base} [${i}]: ${got[i]} vs torch ${want[i]} (limit ${lim})`,
      );
    }
    for (const t of [...ins, y]) t.dispose();
  }
  // Only A and B may be f16.
  const x = tensor(new Float32Array(8), [2, 4]), w = tensor(new Float32Array(8), [4, 2]);
  const b16 = tensor([1, 2], [2], { dtype: "f16" });
  if (F16) assert.throws(() => matmul(x, w, { bias: b16 }), /matmul: bias must be f32, got f16/);
  assert.throws(
    () => matmul(tensor(Int32Array.of(1, 2, 3, 4), [1, 4]), w),
    /matmul: A must be f32 or f16, got i32/,
  );
  for (const t of [x, w, b16]) t.dispose();
});

Deno.test("ops.linear with an f16 weight in both layouts (and the transposed route) matches f32 on rounded weights", async () => {
  for (const [rows, inF, outF] of [[3, 40, 24], [64, 256, 512]]) {
    const x = tensor(Float32Array.from({ length: rows * inF }, (_, i) => Math.sin(i)), [rows, inF]);
    const w = Float32Array.from({ length: outF * inF }, (_, i) => Math.cos(i * 0.7) * 0.1);
    const bias = tensor(Float32Array.from({ length: outF }, (_, i) => i * 0.01));
    for (const layout of ["out_in", "in_out"] as const) {
      const shape = layout === "out_in" ? [outF, inF] : [inF, outF];
      const wHost = layout === "out_in"
        ? w
        : Float32Array.from({ length: w.length }, (_, i) => w[(i % outF) * inF + Math.floor(i / outF)]);
      const w16 = tensor(wHost, shape, { dtype: "f16" });
      const wr = tensor(F16 ? roundToF16(wHost) : wHost, shape);
      const got = await ops.linear(x, w16, { bias, activation: "relu", weightLayout: layout }).read();
      const want = await ops.linear(x, wr, { bias, activation: "relu", weightLayout: layout }).read();
      for (let i = 0; i < got.length; i++) {
        assert.ok(
          Math.abs(got[i] - want[i]) <= 1e-5 + 1e-5 * Math.abs(want[i]),
          `${layout} ${rows}x${inF}x${outF} [${i}]`,
        );
      }
      w16.dispose();
      wr.dispose();
    }
    x.dispose();
    bias.dispose();
  }
});

Deno.test("safetensors F16 straight to f16 tensors (same bits), F32 stored as f16 on load, integers as i32", async () => {
  const f16data = Float32Array.from({ length: 7 }, (_, i) => (i - 3) * 0.3337);
  const f32data = Float32Array.from({ length: 5 }, (_, i) => i * 1.0001 + 1e-4);
  const bytes = serializeSafetensors({
    h: { shape: [7], data: f16data, dtype: "F16" },
    f: { shape: [5], data: f32data },
    n: { shape: [2], data: Int32Array.of(4, -9), dtype: "I64" },
  });
  const keep = await loadSafetensorsTensors(bytes, { float: "keep" });
  assert.equal(keep.get("h")!.dtype, F16 ? "f16" : "f32");
  assert.equal(keep.get("f")!.dtype, "f32");
  assert.equal(keep.get("n")!.dtype, "i32");
  if (F16) assert.deepEqual([...await keep.get("h")!.readF16Bits()], [...f32ToF16Array(f16data)]);
  assert.deepEqual([...await keep.get("f")!.read()], [...f32data]);
  assert.deepEqual([...await keep.get("n")!.readInt()], [4, -9]);
  const half = await loadSafetensorsTensors(bytes, { float: "f16", names: ["f", "h"] });
  assert.deepEqual([...half.keys()], ["f", "h"]);
  assert.deepEqual([...await half.get("f")!.read()], [...(F16 ? roundToF16(f32data) : f32data)]);
  assert.deepEqual([...await half.get("h")!.read()], [...roundToF16(f16data)]);
  const full = await loadSafetensorsTensors(bytes);
  assert.equal(full.get("h")!.dtype, "f32");
  assert.deepEqual([...await full.get("h")!.read()], [...roundToF16(f16data)]);
  await assert.rejects(
    () => loadSafetensorsTensors(bytes, { names: ["nope"] }),
    /tensor "nope": no such tensor/,
  );
  await assert.rejects(
    () => loadSafetensorsTensors(bytes, { float: "bf16" as "f16" }),
    /float must be "f32", "f16" or "keep"/,
  );
  for (const m of [keep, half, full]) for (const t of m.values()) t.dispose();
});

Deno.test("without shader-f16 (POSEGPU_NO_F16=1) f16 requests fall back to f32 storage with the same API", async () => {
  const script = `
    import { initEngine, tensor, cast, matmul, f16Supported } from ${
    JSON.stringify(new URL("../../engine/mod.ts", import.meta.url).href)
  };
    await initEngine();
    const t = tensor([1.0001, 2, 3], [3], { dtype: "f16" });
    const c = cast(tensor([1.0001, 2]), "f16");
    const y = matmul(tensor([1, 2], [1, 2]), tensor([0.1, 0.2, 0.3, 0.4], [2, 2], { dtype: "f16" }));
    console.log(JSON.stringify({ f16: f16Supported(), dtype: t.dtype, bytes: t.byteLength, t: [...await t.read()],
      cdtype: c.dtype, c: [...await c.read()], y: [...await y.read()] }));`;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(path, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path],
      env: { POSEGPU_NO_F16: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text.trim().split("\n").pop()!);
    assert.equal(r.f16, false);
    assert.equal(r.dtype, "f32");
    assert.equal(r.bytes, 12);
    assert.deepEqual(r.t, [...Float32Array.of(1.0001, 2, 3)]);
    assert.equal(r.cdtype, "f32");
    assert.deepEqual(r.c, [...Float32Array.of(1.0001, 2)]);
    const y = Float32Array.of(1 * 0.1 + 2 * 0.3, 1 * 0.2 + 2 * 0.4);
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(r.y[i] - y[i]) < 1e-6, `y[${i}] = ${r.y[i]}`);
  } finally {
    await Deno.remove(path);
  }
});
