/**
 * `Tensor`: a shape, a dtype and a pooled GPU buffer. Created from typed arrays, read back with one
 * `await`. Tensors are released by `dispose()` or by the `tidy()` scope that created them.
 * @module
 */

import { backend, type GpuBuffer } from "./backend.ts";
import { InputError } from "./errors.ts";

/** Element types. `f32` is the compute type; `i32` holds indices (argmax, gather). */
export type DType = "f32" | "i32";

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

  /** Returns the buffer (and any `grad`) to the pool. Pending commands that read it still see its data. */
  dispose(): void {
    if (this.#holds > 0) {
      this.#disposeOnRelease = true;
      return;
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

  /** Reads the values back as float32 (one submit, one wait). */
  async read(): Promise<Float32Array> {
    const [ab] = await backend().readMany([{ buf: this.buf, bytes: this.size * 4 }]);
    return this.dtype === "f32" ? new Float32Array(ab) : Float32Array.from(new Int32Array(ab));
  }

  /** Reads the values back as int32 (for `i32` tensors such as argmax). */
  async readInt(): Promise<Int32Array> {
    const [ab] = await backend().readMany([{ buf: this.buf, bytes: this.size * 4 }]);
    return this.dtype === "i32" ? new Int32Array(ab) : Int32Array.from(new Float32Array(ab));
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
    if (this.size > 0) backend().copy(this.buf, out.buf, { bytes: this.size * 4 });
    return out;
  }
}

/** Creates an uninitialised tensor. */
export function empty(shape: readonly number[], dtype: DType = "f32"): Tensor {
  checkShape(shape);
  return new Tensor(backend().alloc(numel(shape) * 4), shape, dtype);
}

/** Creates a tensor from host data (copied to the GPU). */
export function tensor(
  data: Float32Array | Int32Array | number[],
  shape?: readonly number[],
  options: { dtype?: DType } = {},
): Tensor {
  const dtype = options.dtype ?? (data instanceof Int32Array ? "i32" : "f32");
  const arr = data instanceof Float32Array || data instanceof Int32Array
    ? data
    : dtype === "i32"
    ? Int32Array.from(data)
    : Float32Array.from(data);
  const s = shape ?? [arr.length];
  checkShape(s);
  if (numel(s) !== arr.length) {
    throw new InputError(
      `tensor data has ${arr.length} values but shape [${s.join(", ")}] needs ${numel(s)}`,
    );
  }
  let host: Float32Array | Int32Array = arr;
  if (dtype === "f32" && arr instanceof Int32Array) host = Float32Array.from(arr);
  if (dtype === "i32" && arr instanceof Float32Array) host = Int32Array.from(arr);
  return new Tensor(backend().upload(host, { bytes: arr.length * 4 }), s, dtype);
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
  const abs = await backend().readMany(tensors.map((t) => ({ buf: t.buf, bytes: t.size * 4 })));
  return abs.map((ab, i) =>
    tensors[i].dtype === "f32" ? new Float32Array(ab) : Float32Array.from(new Int32Array(ab))
  );
}
