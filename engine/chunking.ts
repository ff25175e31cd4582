/**
 * Work on tensors larger than one storage binding. WebGPU binds at most `maxStorageBufferBindingSize`
 * bytes of a buffer to a shader (128 MiB on many adapters, lavapipe included) while a buffer may be far
 * larger (`maxBufferSize`). Kernels that can split their work along the leading dimension do so here:
 * the rows are cut into chunks whose byte ranges fit one binding, each chunk binds sub-ranges of the
 * buffers at offsets aligned to `minStorageBufferOffsetAlignment`, and the kernel runs once per chunk on
 * the smaller problem. Small tensors take the single-dispatch path unchanged.
 *
 * Split this way: element-wise unary/binary ops, dropout and fill (flat, or along the leading dimension
 * with broadcast operands bound whole), matmul (rows of A, C and the residual; for Aᵀ·B, the shared K
 * rows, each chunk's product added to the last), batch norm (rows of N: statistics and backward sums
 * added chunk by chunk), reductions and softmax (along the outer dimension; a reduced line itself over
 * the limit is reduced in copied chunks and the partial results combined). Kernels that do not split
 * throw `EnvironmentError` naming the kernel when a binding would exceed the limit (see
 * `Backend.dispatch`), rather than computing on a truncated binding.
 * @module
 */

import { backend, type Binding, type BufferRange, type GpuBuffer } from "./backend.ts";
import { EnvironmentError } from "./errors.ts";
import { compile, flatMain, runFlat, storageDecl, uniformDecl, Uniforms } from "./kernels/common.ts";
import type { Tensor } from "./tensor.ts";

let limitOverride: number | null = null;

/**
 * Lowers the binding size the kernels plan their chunks for (null restores the adapter's limit), so tests
 * can exercise chunk boundaries on small tensors. Never raises it above the adapter's limit.
 */
export function setBindingLimit(bytes: number | null): void {
  if (bytes !== null && !(Number.isInteger(bytes) && bytes >= 4)) {
    throw new RangeError(`binding limit must be an integer ≥ 4 bytes, got ${bytes}`);
  }
  limitOverride = bytes;
}

/** The largest number of bytes one storage binding may cover when planning chunks. */
export function bindingLimit(): number {
  const device = backend().device.limits.maxStorageBufferBindingSize;
  const limit = limitOverride === null ? device : Math.min(limitOverride, device);
  return Math.floor(limit / 4) * 4;
}

/** The alignment of a binding's byte offset. */
export function offsetAlignment(): number {
  return backend().device.limits.minStorageBufferOffsetAlignment;
}

/** A sub-range of a buffer, `size` bytes from byte `offset` (offset aligned, both multiples of 4). */
export function range(buf: GpuBuffer, offset: number, size: number): BufferRange {
  return { buf, offset, size };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** One chunk of rows: `count` rows from row `start`. */
export interface RowChunk {
  /** First row. */
  start: number;
  /** Number of rows. */
  count: number;
}

/** Options of `planRows`. */
export interface PlanOptions {
  /** Bytes of the operands bound whole in every chunk (broadcast operands, weights): each must fit. */
  wholeBytes?: readonly number[];
  /** Most rows one dispatch may take (workgroup-count limits), when smaller than what fits. */
  maxRows?: number;
  /** The operation, for error messages. */
  what?: string;
}

/**
 * Plans chunks of `rows` rows for operands whose rows are `rowBytes[k]` bytes each (0 for none): null
 * when every operand fits one binding (and `maxRows` allows all rows at once), else chunks whose byte
 * ranges fit the limit and start at aligned offsets in every operand. Throws `EnvironmentError` when a
 * whole-bound operand or a single row (rounded up to the alignment) does not fit.
 */
export function planRows(
  rows: number,
  rowBytes: readonly number[],
  options: PlanOptions = {},
): RowChunk[] | null {
  const limit = bindingLimit();
  const what = options.what ?? "operation";
  for (const b of options.wholeBytes ?? []) {
    if (b > limit) {
      throw new EnvironmentError(
        `${what}: an operand of ${b} bytes is bound whole and exceeds this adapter's storage binding limit ` +
          `(${limit} bytes); it cannot be split`,
      );
    }
  }
  const widest = Math.max(4, ...rowBytes);
  const maxRows = options.maxRows ?? Infinity;
  if (rows * widest <= limit && rows <= maxRows) return null;
  // Every chunk starts at a multiple of `step` rows, so every operand's offset is aligned.
  const align = offsetAlignment();
  let step = 1;
  for (const b of rowBytes) {
    if (b > 0) {
      const q = align / gcd(align, b);
      step = (step * q) / gcd(step, q);
    }
  }
  let per = Math.min(Math.floor(limit / widest), maxRows);
  per = Math.floor(per / step) * step;
  if (per < 1) {
    throw new EnvironmentError(
      `${what}: one row of ${widest} bytes (in chunks of ${step} rows for ${align}-byte aligned offsets) ` +
        `exceeds this adapter's storage binding limit (${limit} bytes); it cannot be split`,
    );
  }
  const chunks: RowChunk[] = [];
  for (let start = 0; start < rows; start += per) chunks.push({ start, count: Math.min(per, rows - start) });
  return chunks;
}

/** Binds rows `[start, start + count)` of a buffer with `rowBytes`-byte rows (the buffer itself when the
 * plan is a single whole chunk). */
export type BindRows = (buf: GpuBuffer, rowBytes: number) => Binding;

/**
 * Runs `record` once for the whole problem (when it fits, `bind` returns the buffers themselves) or once
 * per chunk of rows (then `bind` returns the chunk's sub-range of a buffer).
 */
export function forEachRowChunk(
  rows: number,
  rowBytes: readonly number[],
  record: (start: number, count: number, bind: BindRows) => void,
  options: PlanOptions = {},
): void {
  const plan = planRows(rows, rowBytes, options);
  if (plan === null) {
    record(0, rows, (buf) => buf);
    return;
  }
  for (const { start, count } of plan) {
    record(start, count, (buf, rb) => range(buf, start * rb, Math.max(4, count * rb)));
  }
}

/** Whether `bytes` fit one storage binding (as planned, including a test override). */
export function fitsBinding(bytes: number): boolean {
  return bytes <= bindingLimit();
}

// Running best value and index of argmax/argmin over chunks: a candidate replaces the best only when
// strictly better, so the first index wins ties and a NaN never displaces a number (as the kernel does).
let argCombine: ReturnType<typeof compile> | null = null;
function argCombineKernel(): ReturnType<typeof compile> {
  argCombine ??= compile(
    `${
      storageDecl([{ name: "CV" }, { name: "CI", type: "i32" }], [{ name: "BV" }, {
        name: "BI",
        type: "i32",
      }])
    }${uniformDecl(4, 3)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let v = CV[gi]; let b = BV[gi];
  let better = select((v < b), (v > b), P(2u) == 1u);
  if (better) { BV[gi] = v; BI[gi] = CI[gi] + PI(1u); }
}`,
    4,
    "chunking:arg_combine",
  );
  return argCombine;
}

/**
 * Folds the partial argmax/argmin of a chunk (`values`, `indices` relative to the chunk, which starts at
 * line index `base`) into the running best (`bestValues`, `bestIndices`), `n` lines at once.
 */
export function combineArgPartials(
  partial: { values: Tensor; indices: Tensor },
  best: { values: Tensor; indices: Tensor },
  options: { n: number; base: number; max: boolean },
): void {
  runFlat(
    argCombineKernel(),
    [partial.values.buf, partial.indices.buf, best.values.buf, best.indices.buf],
    new Uniforms().int(options.n, options.base, options.max ? 1 : 0),
    options.n,
  );
}
