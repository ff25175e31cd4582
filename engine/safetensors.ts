/**
 * Safetensors reading and writing (huggingface/safetensors format): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON (`{"__metadata__": {...}, "name": {"dtype", "shape",
 * "data_offsets": [begin, end]}}`), then the raw little-endian, C-ordered tensor bytes.
 *
 * Validation follows the reference Rust reader (`SafeTensors::read_metadata` + `Metadata::validate`),
 * with messages that name the file and the tensor. Nothing is allocated from a declared size before
 * that size has been checked against the real file size.
 * @module
 */

import { InputError } from "./errors.ts";
import { writeFileAtomic } from "./fs.ts";

/** Element types posegpu reads from safetensors files. */
export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/**
 * A decoded tensor in host memory. Floating dtypes (F64/F32/F16/BF16) decode to `Float32Array`;
 * integer dtypes and BOOL (as 0/1) decode to `Int32Array`. `dtype` is the dtype stored in the file.
 */
export interface HostTensor {
  /** The dtype the tensor had in the file. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first (`[]` for a scalar). */
  shape: number[];
  /** Values in C order. */
  data: Float32Array | Int32Array;
}

/** One tensor's header entry; `begin`/`end` are byte offsets relative to the start of the data section. */
export interface SafetensorsEntry {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** First byte of the tensor, relative to `dataOffset`. */
  begin: number;
  /** One past the last byte of the tensor, relative to `dataOffset`. */
  end: number;
}

/** A parsed and validated header. `entries` is in file (data offset) order. */
export interface SafetensorsHeader {
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
  /** Tensor entries by name, in data-offset order. */
  entries: Map<string, SafetensorsEntry>;
  /** Absolute file offset of the data section (8 + header length). */
  dataOffset: number;
}

/** A fully decoded safetensors file. `tensors` is in file (data offset) order. */
export interface SafetensorsFile {
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
  /** Decoded tensors by name, in data-offset order. */
  tensors: Map<string, HostTensor>;
}

/** A tensor to write. `dtype` defaults to F32 for a `Float32Array` and I32 for an `Int32Array`. */
export interface TensorToWrite {
  /** Dimensions, outermost first; their product must equal `data.length`. */
  shape: number[];
  /** Values in C order. */
  data: Float32Array | Int32Array;
  /** Stored dtype: F16 rounds to nearest even; integer dtypes need integers in their range (BOOL: 0/1). */
  dtype?: "F32" | "F16" | "I32" | "I64" | "I16" | "I8" | "U8" | "BOOL";
}

/** A malformed or unreadable safetensors file (or a bad tensor to write); names the file and tensor. */
export class SafetensorsError extends InputError {
  /** The file (or `options.name`) at fault. */
  readonly file: string;
  /** The tensor at fault, when one is. */
  readonly tensor?: string;
  /** Builds `"<file>: tensor "<tensor>": <detail>"` (the tensor part only when given). */
  constructor(file: string, detail: string, options: { tensor?: string; cause?: unknown } = {}) {
    const where = options.tensor === undefined
      ? `${file}: `
      : `${file}: tensor ${JSON.stringify(options.tensor)}: `;
    super(where + detail, { cause: options.cause });
    this.name = "SafetensorsError";
    this.file = file;
    if (options.tensor !== undefined) this.tensor = options.tensor;
  }
}

/** The reference reader's limit on the header length (100 MB). */
const MAX_HEADER_SIZE = 100_000_000;
const DEFAULT_NAME = "<safetensors bytes>";
const U64_MAX = 2n ** 64n - 1n;

/** Bytes per element of each safetensors dtype. */
export const DTYPE_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
// The reference writer orders tensors by descending position in its Dtype enum, then by name.
const DTYPE_RANK: Record<SafetensorsDtype, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};
// Valid in the reference format but not decodable here: named as such rather than "unknown".
const UNSUPPORTED_DTYPES = new Set([
  "U16",
  "U32",
  "U64",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "C64",
]);

function isDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === "string" && Object.hasOwn(DTYPE_SIZE, x);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// f16 conversion

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * IEEE binary16 bits of `x` after rounding it to f32: round to nearest even, overflow to ±inf,
 * gradual underflow to subnormals, NaN kept NaN (bit pattern as numpy's `astype(float16)`).
 */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    // NaN: keep the top payload bits (as numpy does), never collapse to inf.
    const h = 0x7c00 | (mant >>> 13);
    return sign | (h === 0x7c00 ? 0x7c01 : h);
  }
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value = m * 2^(exp-150), in units of 2^-24 that is m >> (14 - e).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let q = m >>> shift;
    const r = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (r > half || (r === half && (q & 1) === 1)) q++;
    return sign | q;
  }
  let h = (e << 10) | (mant >>> 13);
  const r = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and 0x7bff + 1 is inf).
  if (r > 0x1000 || (r === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** The exact f32 value of IEEE binary16 bits `h` (subnormals, ±0, ±inf and NaN included). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

let f16Table: Float32Array | undefined;
function f16Lookup(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

// ---------------------------------------------------------------------------------------------
// Header parsing

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x)}`;
  if (typeof x === "object") return "an object";
  return `${typeof x} ${String(x)}`;
}

function formatList(xs: unknown[]): string {
  const shown = xs.slice(0, 8).map((v) => (typeof v === "number" ? String(v) : JSON.stringify(v)));
  return `[${shown.join(", ")}${xs.length > 8 ? ", …" : ""}]`;
}

/**
 * Finds the first duplicate object key anywhere in `text` (already known to be valid JSON), since
 * JSON.parse silently keeps the last one. Iterative, so deep nesting cannot overflow the stack.
 */
function findDuplicateKey(text: string): { owner?: string; key: string; depth: number } | null {
  interface Frame {
    isObject: boolean;
    keys: Set<string>;
    expectKey: boolean;
    lastKey?: string;
    owner?: string;
  }
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const owner = parent === undefined ? undefined : stack.length === 1 ? parent.lastKey : parent.owner;
      stack.push({ isObject: c === 0x7b, keys: new Set(), expectKey: c === 0x7b, owner });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.isObject) top.expectKey = true;
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n && text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c) {
          escaped = true;
          j += 2;
        } else j++;
      }
      const top = stack[stack.length - 1];
      if (top?.isObject && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) return { owner: top.owner, key, depth: stack.length };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    }
  }
  return null;
}

function isNonNegativeSafeInteger(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function parseEntry(file: string, name: string, raw: unknown): SafetensorsEntry {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail, { tensor: name });
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(`header entry must be an object with dtype, shape and data_offsets, got ${describe(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!Object.hasOwn(obj, field)) fail(`header entry has no "${field}"`);
  }
  const dtype = obj.dtype;
  if (!isDtype(dtype)) {
    if (typeof dtype === "string" && UNSUPPORTED_DTYPES.has(dtype)) {
      fail(`dtype "${dtype}" is not supported (supported: ${Object.keys(DTYPE_SIZE).join(", ")})`);
    }
    fail(`unknown dtype ${describe(dtype)} (expected one of ${Object.keys(DTYPE_SIZE).join(", ")})`);
  }
  const shape = obj.shape;
  if (!Array.isArray(shape)) fail(`shape must be an array of non-negative integers, got ${describe(shape)}`);
  const dims = shape as unknown[];
  for (let i = 0; i < dims.length; i++) {
    if (!isNonNegativeSafeInteger(dims[i])) {
      fail(
        `shape ${formatList(dims)}: dimension ${i} is ${describe(dims[i])}, expected a non-negative integer`,
      );
    }
  }
  const offsets = obj.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 || !isNonNegativeSafeInteger(offsets[0]) ||
    !isNonNegativeSafeInteger(offsets[1])
  ) {
    fail(
      `data_offsets must be [begin, end] (two non-negative integers), got ${
        Array.isArray(offsets) ? formatList(offsets) : describe(offsets)
      }`,
    );
  }
  const [begin, end] = offsets as [number, number];
  return { dtype: dtype as SafetensorsDtype, shape: (dims as number[]).slice(), begin, end };
}

/**
 * Parses and validates a safetensors header as the reference reader does. `bytes` must hold at
 * least the 8-byte length and the header; the data section may be absent when `fileSize` (the
 * whole file's size, default `bytes.length`) is given. Throws `SafetensorsError` on any violation.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  options: { name?: string; fileSize?: number } = {},
): SafetensorsHeader {
  const file = options.name ?? DEFAULT_NAME;
  const fileSize = options.fileSize ?? bytes.length;
  const fail = (detail: string, tensor?: string): never => {
    throw new SafetensorsError(file, detail, { tensor });
  };
  if (fileSize < 8) fail(`file is ${fileSize} bytes, shorter than the 8-byte header length`);
  if (bytes.length < 8) fail(`only ${bytes.length} bytes given, shorter than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_SIZE)) {
    fail(`header length ${n64} exceeds the 100,000,000-byte limit (corrupt or not a safetensors file)`);
  }
  const n = Number(n64);
  if (8 + n > fileSize) {
    fail(`header length ${n} runs past the end of the ${fileSize}-byte file (truncated or not safetensors)`);
  }
  if (8 + n > bytes.length) {
    fail(`only ${bytes.length} bytes given, the ${n}-byte header needs ${8 + n}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    throw new SafetensorsError(file, "header is not valid UTF-8", { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // RangeError (nesting too deep) lands here too.
    const why = e instanceof Error ? e.message : String(e);
    throw new SafetensorsError(file, `header is not valid JSON (${why})`, { cause: e });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail(`header must be a JSON object, got ${describe(json)}`);
  }
  const dup = findDuplicateKey(text);
  if (dup) {
    if (dup.depth === 1) fail(`header lists tensor name ${JSON.stringify(dup.key)} more than once`);
    if (dup.owner === "__metadata__") fail(`__metadata__ has key ${JSON.stringify(dup.key)} more than once`);
    fail(`header entry has field ${JSON.stringify(dup.key)} more than once`, dup.owner);
  }

  const top = json as Record<string, unknown>;
  let metadata: Record<string, string> = {};
  const rawMeta = top.__metadata__;
  // serde reads `"__metadata__": null` as an absent Option, so it is accepted here too.
  if (rawMeta !== undefined && rawMeta !== null) {
    if (typeof rawMeta !== "object" || Array.isArray(rawMeta)) {
      fail(`__metadata__ must be an object of strings, got ${describe(rawMeta)}`);
    }
    const pairs = Object.entries(rawMeta as Record<string, unknown>);
    for (const [k, v] of pairs) {
      if (typeof v !== "string") {
        fail(`__metadata__ value of ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
      }
    }
    // fromEntries defines own properties, so a "__proto__" key stays data.
    metadata = Object.fromEntries(pairs) as Record<string, string>;
  }

  const list: Array<[string, SafetensorsEntry]> = [];
  for (const [name, raw] of Object.entries(top)) {
    if (name === "__metadata__") continue;
    list.push([name, parseEntry(file, name, raw)]);
  }
  // The reference sorts by (begin, end), then requires contiguous, non-overlapping regions from 0.
  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  const dataLength = fileSize - 8 - n;
  let start = 0;
  let previous: string | undefined;
  for (const [name, e] of list) {
    const offsets = `data_offsets [${e.begin}, ${e.end}]`;
    if (e.end < e.begin) fail(`${offsets} end before they begin`, name);
    if (e.begin > start) {
      fail(
        `${offsets} leave a gap: ${
          previous === undefined
            ? "the data section starts at 0"
            : `tensor ${JSON.stringify(previous)} ends at ${start}`
        }`,
        name,
      );
    }
    if (e.begin < start) {
      fail(`${offsets} overlap tensor ${JSON.stringify(previous)}, which ends at ${start}`, name);
    }
    start = e.end;
    previous = name;
    // As the reference's checked u64 arithmetic: overflow at any step (even before a 0 dim) fails.
    let numel = 1n;
    for (const d of e.shape) {
      numel *= BigInt(d);
      if (numel > U64_MAX) {
        fail(`shape ${formatList(e.shape)} overflows 64 bits (${e.dtype} element count)`, name);
      }
    }
    const needBig = numel * BigInt(DTYPE_SIZE[e.dtype]);
    if (needBig > U64_MAX) {
      fail(`shape ${formatList(e.shape)} of ${e.dtype} overflows 64 bits (byte count)`, name);
    }
    const need = needBig.toString();
    if (BigInt(e.end - e.begin) !== needBig) {
      fail(
        `${offsets} hold ${e.end - e.begin} bytes, shape ${formatList(e.shape)} of ${e.dtype} needs ${need}`,
        name,
      );
    }
  }
  if (start !== dataLength) {
    if (start < dataLength) {
      fail(
        `${
          dataLength - start
        } trailing bytes: the data section holds ${dataLength} bytes, tensors end at ${start}`,
      );
    }
    fail(`file truncated: tensors end at data byte ${start}, the data section holds only ${dataLength}`);
  }
  return { metadata, entries: new Map(list), dataOffset: 8 + n };
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Copies `bytes[begin, end)` into a fresh (hence aligned) buffer. */
function alignedCopy(bytes: Uint8Array, begin: number, end: number): ArrayBuffer {
  return bytes.slice(begin, end).buffer;
}

/** Decodes one tensor whose raw bytes are `bytes[begin, end)` (already validated to fit the entry). */
function decodeTensor(
  file: string,
  name: string,
  entry: SafetensorsEntry,
  bytes: Uint8Array,
  at: number,
): HostTensor {
  const len = entry.end - entry.begin;
  const count = len / DTYPE_SIZE[entry.dtype];
  const shape = entry.shape.slice();
  const begin = at;
  const end = at + len;
  if (!LITTLE_ENDIAN_HOST) return decodeWithDataView(file, name, entry, bytes, begin);
  switch (entry.dtype) {
    case "F32":
      return { dtype: "F32", shape, data: new Float32Array(alignedCopy(bytes, begin, end)) };
    case "F64":
      return {
        dtype: "F64",
        shape,
        data: Float32Array.from(new Float64Array(alignedCopy(bytes, begin, end))),
      };
    case "F16": {
      const table = f16Lookup();
      const h = new Uint16Array(alignedCopy(bytes, begin, end));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[h[i]];
      return { dtype: "F16", shape, data: out };
    }
    case "BF16": {
      // bf16 is the top half of an f32: shifting the bits is exact, NaN payloads included.
      const h = new Uint16Array(alignedCopy(bytes, begin, end));
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = h[i] << 16;
      return { dtype: "BF16", shape, data: new Float32Array(bits.buffer) };
    }
    case "I64": {
      const words = new Int32Array(alignedCopy(bytes, begin, end));
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = words[2 * i];
        if (words[2 * i + 1] !== lo >> 31) throwI64Range(file, name, bytes, begin, i);
        out[i] = lo;
      }
      return { dtype: "I64", shape, data: out };
    }
    case "I32":
      return { dtype: "I32", shape, data: new Int32Array(alignedCopy(bytes, begin, end)) };
    case "I16":
      return { dtype: "I16", shape, data: Int32Array.from(new Int16Array(alignedCopy(bytes, begin, end))) };
    case "I8":
      return { dtype: "I8", shape, data: Int32Array.from(new Int8Array(alignedCopy(bytes, begin, end))) };
    case "U8":
      return { dtype: "U8", shape, data: Int32Array.from(bytes.subarray(begin, end)) };
    case "BOOL": {
      const src = bytes.subarray(begin, end);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = src[i] !== 0 ? 1 : 0;
      return { dtype: "BOOL", shape, data: out };
    }
  }
}

function throwI64Range(file: string, name: string, bytes: Uint8Array, begin: number, i: number): never {
  const v = new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(begin + 8 * i, true);
  throw new SafetensorsError(
    file,
    `I64 element ${i} is ${v}, outside the int32 range posegpu holds integers in`,
    { tensor: name },
  );
}

/** Portable (big-endian host) decoding path. */
function decodeWithDataView(
  file: string,
  name: string,
  entry: SafetensorsEntry,
  bytes: Uint8Array,
  begin: number,
): HostTensor {
  const size = DTYPE_SIZE[entry.dtype];
  const count = (entry.end - entry.begin) / size;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + begin, count * size);
  const isFloat = entry.dtype === "F32" || entry.dtype === "F64" || entry.dtype === "F16" ||
    entry.dtype === "BF16";
  const data = isFloat ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * size;
    switch (entry.dtype) {
      case "F32":
        data[i] = dv.getFloat32(o, true);
        break;
      case "F64":
        data[i] = dv.getFloat64(o, true);
        break;
      case "F16":
        data[i] = f16BitsToF32(dv.getUint16(o, true));
        break;
      case "BF16":
        data[i] = new Float32Array(new Uint32Array([dv.getUint16(o, true) << 16]).buffer)[0];
        break;
      case "I64": {
        const v = dv.getBigInt64(o, true);
        if (v < -2147483648n || v > 2147483647n) throwI64Range(file, name, bytes, begin, i);
        data[i] = Number(v);
        break;
      }
      case "I32":
        data[i] = dv.getInt32(o, true);
        break;
      case "I16":
        data[i] = dv.getInt16(o, true);
        break;
      case "I8":
        data[i] = dv.getInt8(o);
        break;
      case "U8":
        data[i] = dv.getUint8(o);
        break;
      case "BOOL":
        data[i] = dv.getUint8(o) !== 0 ? 1 : 0;
        break;
    }
  }
  return { dtype: entry.dtype, shape: entry.shape.slice(), data };
}

/**
 * Decodes one tensor of a file held in memory whose header `parseSafetensorsHeader` validated (as
 * `parseSafetensors` does for every tensor). `options.name` names the file in errors.
 */
export function decodeSafetensorsTensor(
  bytes: Uint8Array,
  header: SafetensorsHeader,
  tensor: string,
  options: { name?: string } = {},
): HostTensor {
  const file = options.name ?? DEFAULT_NAME;
  const entry = header.entries.get(tensor);
  if (!entry) throw new SafetensorsError(file, "no such tensor", { tensor });
  return decodeTensor(file, tensor, entry, bytes, header.dataOffset + entry.begin);
}

/**
 * The raw binary16 bits of an F16 tensor (no conversion; byte-swapped on big-endian hosts), for
 * uploading straight to an f16 GPU tensor. Other dtypes are a `SafetensorsError`.
 */
export function safetensorsF16Bits(
  bytes: Uint8Array,
  header: SafetensorsHeader,
  tensor: string,
  options: { name?: string } = {},
): Uint16Array {
  const file = options.name ?? DEFAULT_NAME;
  const entry = header.entries.get(tensor);
  if (!entry) throw new SafetensorsError(file, "no such tensor", { tensor });
  if (entry.dtype !== "F16") {
    throw new SafetensorsError(file, `dtype is ${entry.dtype}, not F16`, { tensor });
  }
  const begin = header.dataOffset + entry.begin, end = header.dataOffset + entry.end;
  if (LITTLE_ENDIAN_HOST) return new Uint16Array(alignedCopy(bytes, begin, end));
  const dv = new DataView(bytes.buffer, bytes.byteOffset + begin, end - begin);
  return Uint16Array.from({ length: (end - begin) / 2 }, (_, i) => dv.getUint16(2 * i, true));
}

/** Parses, validates and decodes a whole safetensors file held in memory. */
export function parseSafetensors(bytes: Uint8Array, options: { name?: string } = {}): SafetensorsFile {
  const file = options.name ?? DEFAULT_NAME;
  const header = parseSafetensorsHeader(bytes, { name: file });
  const tensors = new Map<string, HostTensor>();
  for (const [name, entry] of header.entries) {
    tensors.set(name, decodeTensor(file, name, entry, bytes, header.dataOffset + entry.begin));
  }
  return { metadata: header.metadata, tensors };
}

// ---------------------------------------------------------------------------------------------
// File reading

/** Wraps file-system errors (missing file, a directory, no permission) as input errors naming the file. */
function ioError(path: string, e: unknown): Error {
  if (e instanceof InputError) return e;
  if (e instanceof Deno.errors.NotFound) return new SafetensorsError(path, "no such file", { cause: e });
  if (e instanceof Deno.errors.PermissionDenied) {
    return new SafetensorsError(path, "permission denied", { cause: e });
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new SafetensorsError(path, "is a directory", { cause: e });
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Reads exactly `buf.length` bytes at the file's current position (fewer only at end of file). */
async function readFull(f: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const r = await f.read(buf.subarray(got));
    if (r === null) break;
    got += r;
  }
  return got;
}

async function openWithHeader(path: string): Promise<{ f: Deno.FsFile; header: SafetensorsHeader }> {
  const f = await Deno.open(path, { read: true });
  try {
    const { size, isFile } = await f.stat();
    if (!isFile) throw new SafetensorsError(path, "is not a regular file");
    const head = new Uint8Array(8);
    const got = await readFull(f, head);
    const lengthBytes = head.subarray(0, got);
    if (got < 8) parseSafetensorsHeader(lengthBytes, { name: path, fileSize: Math.min(size, got) });
    const n = new DataView(head.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_SIZE) || 8n + n > BigInt(size)) {
      // Let the parser produce the error, before anything is allocated from `n`.
      parseSafetensorsHeader(lengthBytes, { name: path, fileSize: size });
    }
    const bytes = new Uint8Array(8 + Number(n));
    bytes.set(head);
    const body = await readFull(f, bytes.subarray(8));
    if (body < Number(n)) throw new SafetensorsError(path, "file shrank while its header was being read");
    return { f, header: parseSafetensorsHeader(bytes, { name: path, fileSize: size }) };
  } catch (e) {
    f.close();
    throw e;
  }
}

/** Reads and validates only the header of a safetensors file (the tensor data is not read). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  try {
    const { f, header } = await openWithHeader(path);
    f.close();
    return header;
  } catch (e) {
    throw ioError(path, e);
  }
}

/** Reads, validates and decodes a whole safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw ioError(path, e);
  }
  return parseSafetensors(bytes, { name: path });
}

/**
 * Reads one tensor: the header, then (by seeking) only that tensor's bytes. An unknown name is a
 * `SafetensorsError` listing some of the names the file holds.
 */
export async function readSafetensorsTensor(path: string, name: string): Promise<HostTensor> {
  let opened: { f: Deno.FsFile; header: SafetensorsHeader };
  try {
    opened = await openWithHeader(path);
  } catch (e) {
    throw ioError(path, e);
  }
  const { f, header } = opened;
  try {
    const entry = header.entries.get(name);
    if (!entry) {
      const names = [...header.entries.keys()];
      const shown = names.slice(0, 10).map((s) => JSON.stringify(s)).join(", ");
      const list = names.length === 0
        ? "it holds no tensors"
        : `it holds ${names.length}: ${shown}${names.length > 10 ? ", …" : ""}`;
      throw new SafetensorsError(path, `no tensor named ${JSON.stringify(name)}; ${list}`, { tensor: name });
    }
    const len = entry.end - entry.begin;
    await f.seek(header.dataOffset + entry.begin, Deno.SeekMode.Start);
    const buf = new Uint8Array(len);
    if (await readFull(f, buf) < len) {
      throw new SafetensorsError(path, "file shrank while the tensor was being read", { tensor: name });
    }
    return decodeTensor(path, name, { ...entry, begin: 0, end: len }, buf, 0);
  } catch (e) {
    throw ioError(path, e);
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Compares strings by Unicode code point, i.e. by UTF-8 bytes, as Rust's `String` ordering does. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function encodeTensor(file: string, name: string, t: TensorToWrite): { dtype: string; bytes: Uint8Array } {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail, { tensor: name });
  };
  if (typeof t !== "object" || t === null) fail(`expected { shape, data }, got ${describe(t)}`);
  const { shape, data } = t;
  if (!(data instanceof Float32Array) && !(data instanceof Int32Array)) {
    fail(`data must be a Float32Array or Int32Array, got ${describe(data)}`);
  }
  if (!Array.isArray(shape)) fail(`shape must be an array of non-negative integers, got ${describe(shape)}`);
  let numel = 1;
  for (let i = 0; i < shape.length; i++) {
    if (!isNonNegativeSafeInteger(shape[i])) {
      fail(
        `shape ${formatList(shape)}: dimension ${i} is ${
          describe(shape[i])
        }, expected a non-negative integer`,
      );
    }
    numel *= shape[i];
  }
  if (numel !== data.length) {
    fail(`shape ${formatList(shape)} has ${numel} elements, data has ${data.length}`);
  }
  const dtype = t.dtype ?? (data instanceof Float32Array ? "F32" : "I32");
  const n = data.length;
  const checkInt = (i: number): number => {
    const v = data[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      fail(`element ${i} is ${v}, not an int32 (dtype ${dtype})`);
    }
    return v;
  };
  switch (dtype) {
    case "F32": {
      const f = data instanceof Float32Array ? data : Float32Array.from(data);
      return { dtype, bytes: toLittleEndianBytes(f, 4) };
    }
    case "F16": {
      const dv = new DataView(new ArrayBuffer(2 * n));
      for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToF16Bits(data[i]), true);
      return { dtype, bytes: new Uint8Array(dv.buffer) };
    }
    case "I32": {
      if (data instanceof Int32Array) return { dtype, bytes: toLittleEndianBytes(data, 4) };
      const dv = new DataView(new ArrayBuffer(4 * n));
      for (let i = 0; i < n; i++) dv.setInt32(4 * i, checkInt(i), true);
      return { dtype, bytes: new Uint8Array(dv.buffer) };
    }
    case "I64": {
      const dv = new DataView(new ArrayBuffer(8 * n));
      for (let i = 0; i < n; i++) {
        const v = checkInt(i);
        dv.setInt32(8 * i, v, true);
        dv.setInt32(8 * i + 4, v < 0 ? -1 : 0, true);
      }
      return { dtype, bytes: new Uint8Array(dv.buffer) };
    }
    case "I16":
    case "I8":
    case "U8":
    case "BOOL": {
      const [lo, hi] = { I16: [-32768, 32767], I8: [-128, 127], U8: [0, 255], BOOL: [0, 1] }[dtype];
      const size = dtype === "I16" ? 2 : 1;
      const dv = new DataView(new ArrayBuffer(size * n));
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (!Number.isInteger(v) || v < lo || v > hi) {
          fail(`element ${i} is ${v}, outside ${dtype}'s ${lo}..${hi}`);
        }
        if (size === 2) dv.setInt16(2 * i, v, true);
        else dv.setUint8(i, v & 0xff);
      }
      return { dtype, bytes: new Uint8Array(dv.buffer) };
    }
    default:
      return fail(`cannot write dtype ${describe(dtype)} (expected F32, F16, I32, I64, I16, I8, U8 or BOOL)`);
  }
}

function toLittleEndianBytes(a: Float32Array | Int32Array, size: number): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.length * size));
  const dv = new DataView(new ArrayBuffer(a.length * size));
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(4 * i, a[i], true);
    else dv.setInt32(4 * i, a[i], true);
  }
  return new Uint8Array(dv.buffer);
}

function serializeNamed(
  file: string,
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> | undefined,
): Uint8Array {
  if (typeof tensors !== "object" || tensors === null) {
    throw new SafetensorsError(
      file,
      `tensors must be an object of { shape, data }, got ${describe(tensors)}`,
    );
  }
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === "__metadata__") {
      throw new SafetensorsError(file, "the name is reserved for the metadata map", { tensor: name });
    }
    const { dtype, bytes } = encodeTensor(file, name, t);
    return { name, dtype: dtype as SafetensorsDtype, shape: t.shape, bytes };
  });
  // The reference writer's order: descending dtype, then name.
  items.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(a.name, b.name));
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      throw new SafetensorsError(file, `metadata must be an object of strings, got ${describe(metadata)}`);
    }
    const kv: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new SafetensorsError(
          file,
          `metadata value of ${JSON.stringify(k)} must be a string, got ${describe(v)}`,
        );
      }
      kv.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${kv.join(",")}}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.length;
    parts.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${
        it.shape.join(",")
      }],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  if (padded > MAX_HEADER_SIZE) {
    throw new SafetensorsError(file, `header would be ${padded} bytes, over the 100,000,000-byte limit`);
  }
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const it of items) {
    out.set(it.bytes, at);
    at += it.bytes.length;
  }
  return out;
}

/**
 * Serializes tensors to safetensors bytes, byte-identical to the reference writer: tensors ordered
 * by descending dtype then name, compact JSON with `__metadata__` first, padded to 8 with spaces.
 */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite>,
  options: { metadata?: Record<string, string> } = {},
): Uint8Array {
  return serializeNamed("<serialized safetensors>", tensors, options.metadata);
}

/** Writes tensors to `path` as safetensors, atomically (temporary file, then rename). */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  options: { metadata?: Record<string, string> } = {},
): Promise<void> {
  await writeFileAtomic(path, serializeNamed(path, tensors, options.metadata));
}
