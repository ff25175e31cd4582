/**
 * `Tensor`: a shape, a dtype and a pooled GPU buffer. Created from typed arrays, read back with one
 * `await`. Tensors are released by `dispose()` or by the `tidy()` scope that created them.
 * @module
 */

import { backend, type GpuBuffer } from "./backend.ts";
import { InputError } from "./errors.ts";
import { f16Bytes, f16ToF32Array, f32ToF16Array } from "./f16.ts";

/**
 * Element types. `f32` is the compute type; `i32` holds indices (argmax, gather); `f16` is a storage type
 * (packed halves, 2 bytes each, the buffer rounded up to 4 bytes) for weights, read by `cast`, `matmul`
 * (either operand, accumulating in f32) and the data-movement ops (`reshape`, `permute`, `slice`,
 * `concat`). Other ops need f32: `cast(t, "f32")` first. On an adapter without `shader-f16` (or with
 * `POSEGPU_NO_F16=1`) an f16 request gives an f32 tensor with the same values (see `f16Supported`).
 */
export type DType = "f32" | "i32" | "f16";

/** Whether f16 tensors are stored as f16 on this device (`shader-f16` granted); else they fall back to f32. */
export function f16Supported(): boolean {
  return backend().device.features.has("shader-f16");
}

/** The dtype a request for `dtype` gets on this device: `f16` falls back to `f32` without `shader-f16`. */
export function storageDType(dtype: DType): DType {
  return dtype === "f16" && !f16Supported() ? "f32" : dtype;
}

/** Bytes of GPU storage `n` elements of `dtype` occupy (f16: packed halves, rounded up to 4 bytes). */
export function bytesOf(n: number, dtype: DType): number {
  return dtype === "f16" ? f16Bytes(n) : n * 4;
}

/** Host values of a readback of `n` elements of `dtype` as float32. */
function hostFloat(ab: ArrayBuffer, n: number, dtype: DType): Float32Array {
  if (dtype === "f32") return new Float32Array(ab);
  if (dtype === "f16") return f16ToF32Array(new Uint16Array(ab, 0, n));
  return Float32Array.from(new Int32Array(ab));
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Contiguous row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new InputError(`invalid tensor shape [${shape.join(", ")}]`);
  }
}

type Scope = Set<Tensor>;
const scopes: Scope[] = [];

/** A tensor on the GPU. */
export class Tensor {
  /** The shape. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** A trainable leaf: `backward()` accumulates its gradient into `grad` (see engine/autograd.ts). */
  requiresGrad = false;
  /** The gradient accumulated by `backward()`; null until then (engine/autograd.ts). */
  grad: Tensor | null = null;
  #buf: GpuBuffer | null;
  // The autograd tape retains tensors it saved for backward: a dispose() meanwhile waits for release().
  #holds = 0;
  #disposeOnRelease = false;
  // Tensors derived from this one and cached with it (see `derived`), disposed together with it.
  #derived: Map<string, Tensor> | null = null;

  /** Wraps a buffer (engine-internal; use `tensor()`/`zeros()` or the ops). */
  constructor(buf: GpuBuffer, shape: readonly number[], dtype: DType = "f32") {
    checkShape(shape);
    this.#buf = buf;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    const scope = scopes[scopes.length - 1];
    if (scope) scope.add(this);
  }

  /** The GPU buffer; throws if the tensor was disposed. */
  get buf(): GpuBuffer {
    if (!this.#buf) throw new Error(`use of a disposed tensor of shape [${this.shape.join(", ")}]`);
    return this.#buf;
  }

  /** Whether `dispose()` has been called. */
  get disposed(): boolean {
    return this.#buf === null;
  }

  /** Bytes of GPU storage the values occupy (`bytesOf(size, dtype)`). */
  get byteLength(): number {
    return bytesOf(this.size, this.dtype);
  }

  /** Rank (number of dimensions). */
  get rank(): number {
    return this.shape.length;
  }

  /** Defers `dispose()` until a matching `release()` (the autograd tape keeps saved tensors alive). */
  retain(): void {
    this.#holds++;
  }

  /** Drops one `retain()`; a `dispose()` that came meanwhile happens now. */
  release(): void {
    if (this.#holds > 0 && --this.#holds === 0 && this.#disposeOnRelease) this.dispose();
  }

  /**
   * A tensor computed from this one (engine-internal: e.g. the inverse of an index list for gather's
   * backward), built once per `key` and disposed together with this tensor.
   */
  derived(key: string, build: () => Tensor): Tensor {
    this.#derived ??= new Map();
    let t = this.#derived.get(key);
    if (!t) {
      t = keep(build());
      this.#derived.set(key, t);
    }
    return t;
  }

  /** Returns the buffer (and any `grad`) to the pool. Pending commands that read it still see its data. */
  dispose(): void {
    if (this.#holds > 0) {
      this.#disposeOnRelease = true;
      return;
    }
    if (this.#derived) {
      for (const t of this.#derived.values()) t.dispose();
      this.#derived = null;
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.#buf) {
      backend().release(this.#buf);
      this.#buf = null;
    }
  }

  /** Reads the values back as float32 (one submit, one wait; f16 values are expanded exactly). */
  async read(): Promise<Float32Array> {
    const [ab] = await backend().readMany([{ buf: this.buf, bytes: this.byteLength }]);
    return hostFloat(ab, this.size, this.dtype);
  }

  /** Reads the values back as int32 (for `i32` tensors such as argmax). */
  async readInt(): Promise<Int32Array> {
    const [ab] = await backend().readMany([{ buf: this.buf, bytes: this.byteLength }]);
    return this.dtype === "i32" ? new Int32Array(ab) : Int32Array.from(hostFloat(ab, this.size, this.dtype));
  }

  /** Reads the raw binary16 bits of an `f16` tensor (one submit, one wait). */
  async readF16Bits(): Promise<Uint16Array> {
    if (this.dtype !== "f16") throw new InputError(`readF16Bits needs an f16 tensor, got ${this.dtype}`);
    const [ab] = await backend().readMany([{ buf: this.buf, bytes: this.byteLength }]);
    return new Uint16Array(ab, 0, this.size);
  }

  /** A view with another shape of the same size, sharing nothing: a copy on the GPU queue (cheap). */
  reshape(shape: readonly number[]): Tensor {
    const s = [...shape];
    const neg = s.indexOf(-1);
    if (neg >= 0) s[neg] = this.size / numel(s.filter((_, i) => i !== neg));
    if (numel(s) !== this.size || !s.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new InputError(`cannot reshape [${this.shape.join(", ")}] to [${shape.join(", ")}]`);
    }
    const out = empty(s, this.dtype);
    if (this.size > 0) backend().copy(this.buf, out.buf, { bytes: this.byteLength });
    return out;
  }
}

/** Creates an uninitialised tensor (`f16` falls back to `f32` without `shader-f16`, see `DType`). */
export function empty(shape: readonly number[], dtype: DType = "f32"): Tensor {
  checkShape(shape);
  const d = storageDType(dtype);
  return new Tensor(backend().alloc(bytesOf(numel(shape), d)), shape, d);
}

/**
 * An `f16` tensor from raw binary16 bits (no f32 round trip), e.g. an F16 safetensors tensor. Without
 * `shader-f16` the bits are expanded to an f32 tensor of the same values.
 */
export function tensorFromF16Bits(bits: Uint16Array, shape?: readonly number[]): Tensor {
  const s = shape ?? [bits.length];
  checkShape(s);
  if (numel(s) !== bits.length) {
    throw new InputError(`f16 data has ${bits.length} values but shape [${s.join(", ")}] needs ${numel(s)}`);
  }
  if (!f16Supported()) return tensor(f16ToF32Array(bits), s);
  // Buffers are written in whole 4-byte words: an odd count is padded with one +0 half.
  const host = bits.length % 2 === 0
    ? bits
    : Uint16Array.from({ length: bits.length + 1 }, (_, i) => bits[i] ?? 0);
  return new Tensor(backend().upload(host, { bytes: f16Bytes(bits.length) }), s, "f16");
}

/**
 * Creates a tensor from host data (copied to the GPU). `dtype: "f16"` converts on the host (round to
 * nearest even, as numpy's `astype(float16)`) and stores packed halves; it falls back to `f32` storage
 * of the unrounded values on adapters without `shader-f16` (see `DType`).
 */
export function tensor(
  data: Float32Array | Int32Array | number[],
  shape?: readonly number[],
  options: { dtype?: DType } = {},
): Tensor {
  const dtype = storageDType(options.dtype ?? (data instanceof Int32Array ? "i32" : "f32"));
  const n = data.length;
  const s = shape ?? [n];
  checkShape(s);
  if (numel(s) !== n) {
    throw new InputError(`tensor data has ${n} values but shape [${s.join(", ")}] needs ${numel(s)}`);
  }
  if (dtype === "f16") {
    const bits = f32ToF16Array(data instanceof Float32Array ? data : Float32Array.from(data), {
      length: n + (n % 2),
    });
    return new Tensor(backend().upload(bits, { bytes: f16Bytes(n) }), s, "f16");
  }
  const arr = data instanceof Float32Array || data instanceof Int32Array
    ? data
    : dtype === "i32"
    ? Int32Array.from(data)
    : Float32Array.from(data);
  let host: Float32Array | Int32Array = arr;
  if (dtype === "f32" && arr instanceof Int32Array) host = Float32Array.from(arr);
  if (dtype === "i32" && arr instanceof Float32Array) host = Int32Array.from(arr);
  const t = new Tensor(backend().upload(host, { bytes: arr.length * 4 }), s, dtype);
  // Index lists keep a host copy: what depends only on them (gather's inverse) is built on the host.
  if (dtype === "i32") hostIndices.set(t, host === data ? Int32Array.from(host) : host as Int32Array);
  return t;
}

const hostIndices = new WeakMap<Tensor, Int32Array>();

/** The host values of an `i32` tensor created from host data by `tensor()`; undefined otherwise. */
export function hostIndexValues(t: Tensor): Int32Array | undefined {
  return hostIndices.get(t);
}

/** A tensor filled with zeros. */
export function zeros(shape: readonly number[], options: { dtype?: DType } = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor filled with one value. */
export function full(shape: readonly number[], value: number, options: { dtype?: DType } = {}): Tensor {
  const n = numel(shape);
  const data = options.dtype === "i32" ? new Int32Array(n).fill(value) : new Float32Array(n).fill(value);
  return tensor(data, shape, options);
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (a tensor, an array or
 * an object of tensors) and those passed to `keep()`. Synchronous: ops record, they do not wait.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // A throwing body (bad shape, lost device) must not leak what it had already created.
    scopes.pop();
    for (const t of scope) if (!kept.has(t)) t.dispose();
    throw e;
  }
  scopes.pop();
  const keepSet = new Set<Tensor>();
  collect(result, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepSet.has(t) || kept.has(t)) {
      if (parent) parent.add(t);
    } else t.dispose();
  }
  return result;
}

const kept = new WeakSet<Tensor>();

/** Marks a tensor so that no enclosing `tidy()` disposes it. */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(v: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 4 || v === null || typeof v !== "object") return;
  if (v instanceof Tensor) into.add(v);
  else if (Array.isArray(v)) { for (const x of v) collect(x, into, depth + 1); }
  else if (v instanceof Map) { for (const x of v.values()) collect(x, into, depth + 1); }
  else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v as Record<string, unknown>)) collect(x, into, depth + 1);
  }
}

/** Reads several tensors back with a single submit and wait. */
export async function readAll(tensors: Tensor[]): Promise<Float32Array[]> {
  const abs = await backend().readMany(tensors.map((t) => ({ buf: t.buf, bytes: t.byteLength })));
  return abs.map((ab, i) => hostFloat(ab, tensors[i].size, tensors[i].dtype));
}
