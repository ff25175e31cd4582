// Safetensors I/O: round trips against files written by tests/fixtures/st.py (the reference byte
// layout), byte equality of our writer with it, f16 rounding, and one case per malformed-file rule.
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../engine/errors.ts";
import {
  f16BitsToF32,
  f32ToF16Bits,
  type HostTensor,
  parseSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  readSafetensorsTensor,
  SafetensorsError,
  serializeSafetensors,
  type TensorToWrite,
  writeSafetensors,
} from "../../engine/safetensors.ts";
import { fileURLToPath } from "node:url";

// Local stand-in for `fixture()` of tests/_shared.ts, which currently fails to load
// (`fromFileUrl` is not an export of node:url).
function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  bits?: number[];
  values?: number[];
}
interface WriterSpec {
  metadata: Record<string, string>;
  tensors: Record<
    string,
    { dtype: "F32" | "F16" | "I32" | "I64"; shape: number[]; bits?: number[]; values?: number[] }
  >;
}

const MULTI = fixture("safetensors_multi.safetensors");
const multiExpected = JSON.parse(Deno.readTextFileSync(fixture("safetensors_multi.json"))) as {
  metadata: Record<string, string>;
  order: string[];
  tensors: Record<string, ExpectedTensor>;
};
const writerSpec = JSON.parse(Deno.readTextFileSync(fixture("safetensors_writer.json"))) as WriterSpec;

function f32FromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

/** Asserts a decoded tensor equals the generator's expectation (floats bit-exact, NaN as NaN). */
function assertTensor(name: string, got: HostTensor, want: ExpectedTensor): void {
  assert.equal(got.dtype, want.dtype, `${name}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  if (want.bits) {
    assert.ok(got.data instanceof Float32Array, `${name}: Float32Array`);
    const gotBits = new Uint32Array(got.data.buffer, got.data.byteOffset, got.data.length);
    const wantF = f32FromBits(want.bits);
    assert.equal(got.data.length, wantF.length, `${name}: length`);
    for (let i = 0; i < wantF.length; i++) {
      if (Number.isNaN(wantF[i])) assert.ok(Number.isNaN(got.data[i]), `${name}[${i}]: NaN`);
      else assert.equal(gotBits[i], want.bits[i], `${name}[${i}]: ${got.data[i]} vs ${wantF[i]}`);
    }
  } else {
    assert.ok(got.data instanceof Int32Array, `${name}: Int32Array`);
    assert.deepEqual([...got.data], want.values, `${name}: values`);
  }
}

Deno.test("reads every dtype written by st.py (file, bytes, header, single tensor)", async () => {
  const file = await readSafetensors(MULTI);
  assert.deepEqual(file.metadata, multiExpected.metadata);
  assert.deepEqual([...file.tensors.keys()], multiExpected.order, "tensors in file order");
  for (const [name, want] of Object.entries(multiExpected.tensors)) {
    const got = file.tensors.get(name);
    assert.ok(got, `missing ${name}`);
    assertTensor(name, got, want);
  }

  const bytes = await Deno.readFile(MULTI);
  const fromBytes = parseSafetensors(bytes, { name: "multi" });
  assert.deepEqual(fromBytes, file);

  const header = await readSafetensorsHeader(MULTI);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(header.dataOffset, 8 + n);
  assert.deepEqual(header.metadata, multiExpected.metadata);
  assert.deepEqual([...header.entries.keys()], multiExpected.order);
  let expectBegin = 0;
  for (const [name, e] of header.entries) {
    assert.equal(e.begin, expectBegin, `${name}: contiguous`);
    assert.equal(e.dtype, multiExpected.tensors[name].dtype);
    assert.deepEqual(e.shape, multiExpected.tensors[name].shape);
    expectBegin = e.end;
  }
  assert.equal(header.dataOffset + expectBegin, bytes.length);

  for (const [name, want] of Object.entries(multiExpected.tensors)) {
    assertTensor(name, await readSafetensorsTensor(MULTI, name), want);
  }
});

Deno.test("f16 and bf16 decode exactly: subnormals, extremes, inf, NaN, -0", () => {
  const want = multiExpected.tensors.half;
  assert.deepEqual(
    [...f32FromBits(want.bits!)].slice(0, 6),
    [0, -0, 2 ** -24, 2 ** -14 - 2 ** -24, 2 ** -14, 65504],
  );
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x8001), -(2 ** -24));
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  const brain = multiExpected.tensors.brain;
  assert.equal(f32FromBits(brain.bits!)[5], 2 ** -133, "bf16 subnormal");
});

Deno.test("f32ToF16Bits: inverse of f16BitsToF32 on all 65536 patterns, ties to even, overflow", () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToF32(h);
    if (Number.isNaN(x)) {
      const back = f32ToF16Bits(x);
      assert.ok((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0, `NaN ${h.toString(16)}`);
    } else {
      assert.equal(f32ToF16Bits(x), h, `pattern 0x${h.toString(16)} (${x})`);
    }
  }
  const cases: Array<[number, number]> = [
    [1 + 2 ** -11, 0x3c00], // tie -> even
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
    [65519, 0x7bff],
    [65520, 0x7c00],
    [1e9, 0x7c00],
    [-1e9, 0xfc00],
    [2 ** -25, 0x0000], // tie with 0 -> 0
    [3 * 2 ** -25, 0x0002],
    [2 ** -14 - 2 ** -25, 0x0400],
    [1e-45, 0x0000],
    [-1e-45, 0x8000],
  ];
  for (const [x, h] of cases) assert.equal(f32ToF16Bits(x), h, `f32ToF16Bits(${x})`);
});

function writerInputs(): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(writerSpec.tensors)) {
    const data = t.bits ? f32FromBits(t.bits) : Int32Array.from(t.values!);
    out[name] = { shape: t.shape, data, dtype: t.dtype };
  }
  return out;
}

Deno.test("serializeSafetensors byte-equals the reference-layout Python writer (and the committed file)", async () => {
  const ours = serializeSafetensors(writerInputs(), { metadata: writerSpec.metadata });
  const python = await Deno.readFile(fixture("safetensors_writer_py.safetensors"));
  assert.deepEqual(ours, python);
  // Also the file our writer produced when the generator ran (which st.py was checked to load).
  assert.deepEqual(ours, await Deno.readFile(fixture("safetensors_from_deno.safetensors")));
  // Reference test vectors from huggingface/safetensors tensor.rs.
  assert.deepEqual(
    [...serializeSafetensors({})],
    [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
  );
  const one = serializeSafetensors({
    "attn.0": { shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  });
  assert.equal(new DataView(one.buffer).getBigUint64(0, true), 64n);
  assert.equal(
    new TextDecoder().decode(one.subarray(8, 72)),
    '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
  );
});

Deno.test("writeSafetensors round trip (atomic write, F16 rounding as numpy, I64)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "sub", "out.safetensors");
    await writeSafetensors(path, writerInputs(), { metadata: writerSpec.metadata });
    assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), ["out.safetensors"]);
    const ours = await readSafetensors(path);
    const python = await readSafetensors(fixture("safetensors_writer_py.safetensors"));
    assert.deepEqual(ours.metadata, { format: "pt" });
    assert.deepEqual(ours, python);
    assert.deepEqual([...ours.tensors.get("steps")!.data], [-5, 0, 2147483647]);
    assert.equal(ours.tensors.get("half")!.dtype, "F16");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writer rejects bad tensors with SafetensorsError naming the tensor", () => {
  const bad: Array<[Record<string, TensorToWrite>, RegExp]> = [
    [{ w: { shape: [2, 2], data: new Float32Array(3) } }, /"w".*4 elements, data has 3/],
    [{ w: { shape: [-1], data: new Float32Array(0) } }, /"w".*dimension 0/],
    [{ w: { shape: [1], data: new Float32Array([1.5]), dtype: "I32" } }, /"w".*element 0 is 1.5/],
    [{ w: { shape: [1], data: new Float32Array([3e9]), dtype: "I64" } }, /"w".*not an int32/],
    [{ w: { shape: [1], data: new Float32Array(1), dtype: "BF16" as "F16" } }, /"w".*cannot write dtype/],
    [{ __metadata__: { shape: [1], data: new Float32Array(1) } }, /reserved/],
  ];
  for (const [tensors, re] of bad) {
    assert.throws(
      () => serializeSafetensors(tensors),
      (e: unknown) => e instanceof SafetensorsError && re.test(e.message),
    );
  }
  assert.throws(
    () => serializeSafetensors({}, { metadata: { k: 1 as unknown as string } }),
    /metadata value of "k" must be a string/,
  );
});

// ------------------------------------------------------------------------------------------------
// Hand-built files

const enc = new TextEncoder();

/** Builds file bytes: 8-byte length (default: the header's), header text, `data` bytes. */
function build(header: string | object, data: number | number[] = 0, length?: bigint): Uint8Array {
  const text = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  const body = typeof data === "number" ? new Uint8Array(data) : Uint8Array.from(data);
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

const t = (dtype: string, shape: unknown[], offsets: unknown[]) => ({ dtype, shape, data_offsets: offsets });

Deno.test("decodes little-endian data at unaligned offsets, header not padded, bytes at odd byteOffset", () => {
  const dv = new DataView(new ArrayBuffer(31));
  [1, 2, 3].forEach((v, i) => dv.setUint8(i, v));
  dv.setFloat32(3, 1.25, true);
  dv.setFloat32(7, -3.5, true);
  dv.setUint16(11, 0x3c00, true); // f16 1.0
  dv.setBigInt64(13, -42n, true);
  dv.setUint16(21, 0xc040, true); // bf16 -3.0
  dv.setFloat64(23, 0.1, true);
  const header = {
    a: t("U8", [3], [0, 3]),
    b: t("F32", [2], [3, 11]),
    c: t("F16", [1], [11, 13]),
    d: t("I64", [1], [13, 21]),
    e: t("BF16", [], [21, 23]),
    f: t("F64", [1, 1], [23, 31]),
  };
  const raw = build(header, [...new Uint8Array(dv.buffer)]);
  assert.notEqual((raw.length - 31) % 8, 0, "header length deliberately not a multiple of 8");
  const shifted = new Uint8Array(raw.length + 1);
  shifted.set(raw, 1);
  const file = parseSafetensors(shifted.subarray(1), { name: "odd.safetensors" });
  const get = (k: string) => [...file.tensors.get(k)!.data];
  assert.deepEqual(get("a"), [1, 2, 3]);
  assert.deepEqual(get("b"), [1.25, -3.5]);
  assert.deepEqual(get("c"), [1]);
  assert.deepEqual(get("d"), [-42]);
  assert.deepEqual(get("e"), [-3]);
  assert.deepEqual(get("f"), [Math.fround(0.1)]);
  assert.deepEqual(file.tensors.get("e")!.shape, []);
});

Deno.test("header-only parse with fileSize; metadata null accepted; empty file of tensors", () => {
  const raw = build({ __metadata__: null, a: t("F32", [2], [0, 8]) }, 8);
  const onlyHeader = raw.subarray(0, raw.length - 8);
  const h = parseSafetensorsHeader(onlyHeader, { name: "h.safetensors", fileSize: raw.length });
  assert.deepEqual(h.metadata, {});
  assert.deepEqual(h.entries.get("a"), { dtype: "F32", shape: [2], begin: 0, end: 8 });
  assert.equal(h.dataOffset, raw.length - 8);
  assert.equal(parseSafetensors(build("{}")).tensors.size, 0);
  // Accepted by the reference too: 2^40 * 0 never overflows.
  const zero = parseSafetensors(build({ z: t("F32", [2 ** 40, 0], [0, 0]) }));
  assert.deepEqual(zero.tensors.get("z"), { dtype: "F32", shape: [2 ** 40, 0], data: new Float32Array(0) });
  // A key named like Object.prototype's stays plain data.
  const proto = parseSafetensors(
    build('{"__metadata__":{"__proto__":"x"},"__proto__":' + JSON.stringify(t("U8", [1], [0, 1])) + "}", 1),
  );
  assert.equal(proto.metadata["__proto__"], "x");
  assert.deepEqual([...proto.tensors.keys()], ["__proto__"]);
});

interface BadCase {
  what: string;
  bytes: () => Uint8Array;
  message: RegExp;
  tensor?: string;
}

const f32a = t("F32", [1], [0, 4]);
const BAD: BadCase[] = [
  { what: "empty file", bytes: () => new Uint8Array(0), message: /0 bytes, shorter than the 8-byte/ },
  { what: "truncated length", bytes: () => new Uint8Array(5), message: /5 bytes, shorter than the 8-byte/ },
  {
    what: "header length past end",
    bytes: () => build("{}", 0, 1000n),
    message: /header length 1000 runs past/,
  },
  {
    what: "header length > 100 MB",
    bytes: () => build("{}", 0, 100_000_001n),
    message: /header length 100000001 exceeds the 100,000,000-byte limit/,
  },
  {
    what: "header length 2^64-1",
    bytes: () => build("{}", 0, 2n ** 64n - 1n),
    message: /header length 18446744073709551615 exceeds/,
  },
  {
    what: "header not UTF-8",
    bytes: () => build(String.fromCharCode(0) + "{}").map((b, i) => (i === 8 ? 0xff : b)),
    message: /not valid UTF-8/,
  },
  { what: "bad JSON", bytes: () => build('{"a":'), message: /header is not valid JSON/ },
  { what: "empty header", bytes: () => build(""), message: /header is not valid JSON/ },
  { what: "JSON array", bytes: () => build("[1,2]"), message: /must be a JSON object, got an array/ },
  { what: "JSON string", bytes: () => build('"x"'), message: /must be a JSON object, got the string "x"/ },
  { what: "JSON null", bytes: () => build("null"), message: /must be a JSON object, got null/ },
  { what: "deep nesting", bytes: () => build("[".repeat(100000) + "]".repeat(100000)), message: /JSON/ },
  {
    what: "unknown dtype",
    bytes: () => build({ w: t("Q7", [1], [0, 4]) }, 4),
    message: /unknown dtype the string "Q7"/,
    tensor: "w",
  },
  {
    what: "unsupported dtype",
    bytes: () => build({ w: t("U32", [1], [0, 4]) }, 4),
    message: /dtype "U32" is not supported/,
    tensor: "w",
  },
  {
    what: "dtype not a string",
    bytes: () => build({ w: t(4 as unknown as string, [1], [0, 4]) }, 4),
    message: /unknown dtype number 4/,
    tensor: "w",
  },
  {
    what: "duplicate names",
    bytes: () => build(`{"a":${JSON.stringify(f32a)},"a":${JSON.stringify(f32a)}}`, 4),
    message: /tensor name "a" more than once/,
  },
  {
    what: "duplicate names via escapes",
    bytes: () => build(`{"a":${JSON.stringify(f32a)},"\\u0061":${JSON.stringify(f32a)}}`, 4),
    message: /tensor name "a" more than once/,
  },
  {
    what: "duplicate field",
    bytes: () => build(`{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4),
    message: /field "dtype" more than once/,
    tensor: "w",
  },
  {
    what: "duplicate metadata key",
    bytes: () => build(`{"__metadata__":{"k":"1","k":"2"}}`),
    message: /__metadata__ has key "k" more than once/,
  },
  {
    what: "metadata not strings",
    bytes: () => build({ __metadata__: { k: 1 } }),
    message: /value of "k" must be a string, got number 1/,
  },
  {
    what: "metadata array",
    bytes: () => build({ __metadata__: ["a"] }),
    message: /__metadata__ must be an object/,
  },
  {
    what: "entry not an object",
    bytes: () => build({ w: 5 }),
    message: /header entry must be an object/,
    tensor: "w",
  },
  {
    what: "missing data_offsets",
    bytes: () => build({ w: { dtype: "F32", shape: [1] } }, 4),
    message: /no "data_offsets"/,
    tensor: "w",
  },
  {
    what: "overlap",
    bytes: () => build({ a: t("F32", [2], [0, 8]), b: t("F32", [2], [4, 12]) }, 12),
    message: /data_offsets \[4, 12\] overlap tensor "a", which ends at 8/,
    tensor: "b",
  },
  {
    what: "gap",
    bytes: () => build({ a: t("F32", [1], [0, 4]), b: t("F32", [1], [8, 12]) }, 12),
    message: /data_offsets \[8, 12\] leave a gap: tensor "a" ends at 4/,
    tensor: "b",
  },
  {
    what: "gap at start",
    bytes: () => build({ a: t("F32", [1], [4, 8]) }, 8),
    message: /leave a gap: the data section starts at 0/,
    tensor: "a",
  },
  {
    what: "end before begin",
    bytes: () => build({ a: t("F32", [0], [0, 0]), b: t("F32", [0], [4, 0]) }, 4),
    message: /data_offsets \[4, 0\] end before they begin/,
    tensor: "b",
  },
  {
    what: "wrong byte size",
    bytes: () => build({ "w1.weight": t("F32", [5, 6], [0, 100]) }, 100),
    message:
      /^bad\.safetensors: tensor "w1\.weight": data_offsets \[0, 100\] hold 100 bytes, shape \[5, 6\] of F32 needs 120$/,
    tensor: "w1.weight",
  },
  {
    what: "trailing bytes",
    bytes: () => build({ a: f32a }, 7),
    message: /3 trailing bytes: the data section holds 7 bytes, tensors end at 4/,
  },
  {
    what: "data truncated",
    bytes: () => build({ a: t("F32", [4], [0, 16]) }, 10),
    message: /file truncated/,
  },
  {
    what: "huge shape",
    bytes: () => build({ h: t("F32", [2 ** 40, 2 ** 40], [0, 8]) }, 8),
    message: /shape \[1099511627776, 1099511627776\] overflows 64 bits/,
    tensor: "h",
  },
  {
    what: "huge shape of small dims (overflows before its 0 dim, as in the reference)",
    bytes: () => build({ h: t("F64", [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20, 0], [0, 0]) }),
    message: /overflows 64 bits \(F64 element count\)/,
    tensor: "h",
  },
  {
    what: "byte count overflows 64 bits",
    bytes: () => build({ h: t("F64", [2 ** 31, 2 ** 31], [0, 8]) }, 8),
    message: /overflows 64 bits \(byte count\)/,
    tensor: "h",
  },
  {
    what: "huge byte count within 64 bits",
    bytes: () => build({ h: t("F64", [2 ** 52], [0, 8]) }, 8),
    message: /hold 8 bytes, shape \[4503599627370496\] of F64 needs 36028797018963968/,
    tensor: "h",
  },
  {
    what: "negative dim",
    bytes: () => build({ n: t("F32", [-1, 2], [0, 0]) }),
    message: /dimension 0 is number -1/,
    tensor: "n",
  },
  {
    what: "fractional dim",
    bytes: () => build({ n: t("F32", [1.5], [0, 4]) }, 4),
    message: /dimension 0 is number 1.5/,
    tensor: "n",
  },
  {
    what: "string dim",
    bytes: () => build({ n: t("F32", ["2"], [0, 8]) }, 8),
    message: /dimension 0 is the string "2"/,
    tensor: "n",
  },
  {
    what: "shape not array",
    bytes: () => build({ n: t("F32", 3 as unknown as [], [0, 4]) }, 4),
    message: /shape must be an array/,
    tensor: "n",
  },
  {
    what: "offsets strings",
    bytes: () => build({ o: t("F32", [1], ["0", "4"]) }, 4),
    message: /data_offsets must be \[begin, end\]/,
    tensor: "o",
  },
  {
    what: "offsets length 3",
    bytes: () => build({ o: t("F32", [1], [0, 4, 8]) }, 4),
    message: /data_offsets must be/,
    tensor: "o",
  },
  {
    what: "offsets negative",
    bytes: () => build({ o: t("F32", [1], [-4, 0]) }, 4),
    message: /data_offsets must be/,
    tensor: "o",
  },
  {
    what: "offsets unsafe",
    bytes: () => build('{"o":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}', 1),
    message: /data_offsets must be/,
    tensor: "o",
  },
  {
    what: "I64 outside int32",
    bytes: () => build({ big: t("I64", [2], [0, 16]) }, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
    message: /I64 element 1 is 4294967296, outside the int32 range/,
    tensor: "big",
  },
];

Deno.test("malformed files: each rule gives a SafetensorsError naming the file and tensor", () => {
  for (const c of BAD) {
    const started = performance.now();
    assert.throws(
      () => parseSafetensors(c.bytes(), { name: "bad.safetensors" }),
      (e: unknown) => {
        assert.ok(e instanceof SafetensorsError, `${c.what}: got ${e}`);
        assert.ok(e instanceof InputError, `${c.what}: an InputError`);
        assert.equal(e.file, "bad.safetensors");
        assert.ok(e.message.startsWith("bad.safetensors: "), `${c.what}: ${e.message}`);
        assert.match(e.message, c.message, c.what);
        assert.equal(e.tensor, c.tensor, `${c.what}: tensor`);
        if (c.tensor !== undefined) {
          assert.ok(e.message.includes(`tensor ${JSON.stringify(c.tensor)}`), e.message);
        }
        return true;
      },
      c.what,
    );
    assert.ok(performance.now() - started < 2000, `${c.what}: took too long`);
  }
});

Deno.test("file readers: clean errors for bad header on disk, unknown tensor, missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Declares a 99,999,999-byte header in a 16-byte file: must fail without reading or allocating it.
    const liar = join(dir, "liar.safetensors");
    await Deno.writeFile(liar, build("{}", 6, 99_999_999n));
    for (
      const read of [readSafetensorsHeader, readSafetensors, (p: string) => readSafetensorsTensor(p, "x")]
    ) {
      await assert.rejects(() => read(liar), (e: unknown) => {
        assert.ok(e instanceof SafetensorsError);
        assert.match(
          e.message,
          /liar\.safetensors: header length 99999999 runs past the end of the 16-byte file/,
        );
        return true;
      });
    }
    const short = join(dir, "short.safetensors");
    await Deno.writeFile(short, new Uint8Array(3));
    await assert.rejects(() => readSafetensorsHeader(short), /short\.safetensors: file is 3 bytes/);

    await assert.rejects(() => readSafetensorsTensor(MULTI, "w9.weight"), (e: unknown) => {
      assert.ok(e instanceof SafetensorsError);
      assert.equal(e.tensor, "w9.weight");
      assert.ok(e.message.startsWith(`${MULTI}: tensor "w9.weight": no tensor named "w9.weight"`), e.message);
      assert.match(e.message, /it holds 14: "layers\.0\.bn\.num_batches_tracked", "steps"/);
      return true;
    });
    const missing = join(dir, "nope.safetensors");
    for (
      const read of [readSafetensorsHeader, readSafetensors, (p: string) => readSafetensorsTensor(p, "x")]
    ) {
      await assert.rejects(
        () => read(missing),
        (e: unknown) => e instanceof SafetensorsError && /nope\.safetensors: no such file/.test(e.message),
      );
    }
    await assert.rejects(() => readSafetensors(dir), (e: unknown) => e instanceof SafetensorsError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readSafetensorsTensor reads only that tensor's bytes", async () => {
  // The other tensor's bytes are garbage for its dtype (an I64 outside int32): a full decode fails,
  // reading just "keep" succeeds, so the reader did not decode (or need) the rest of the data.
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "two.safetensors");
    const data = [0, 0, 0, 0, 0, 0, 0, 0x80, ...new Uint8Array(new Float32Array([2.5, -1]).buffer)];
    await Deno.writeFile(path, build({ bad: t("I64", [1], [0, 8]), keep: t("F32", [2], [8, 16]) }, data));
    await assert.rejects(() => readSafetensors(path), /tensor "bad": I64 element 0/);
    const keep = await readSafetensorsTensor(path, "keep");
    assert.deepEqual(keep, { dtype: "F32", shape: [2], data: new Float32Array([2.5, -1]) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
