/**
 * Reductions along one axis (sum, mean, max, min, argmax) and softmax / log-softmax. A tensor is viewed
 * as [outer, axis, inner]; one invocation reduces one (outer, inner) line, which keeps every kernel
 * barrier-free (what CPU adapters want) and exact in its order of summation.
 * @module
 */

import { backend, type Kernel } from "../backend.ts";
import { bindingLimit, combineArgPartials, forEachRowChunk } from "../chunking.ts";
import { EnvironmentError, InputError } from "../errors.ts";
import { empty, numel, type Tensor } from "../tensor.ts";
import {
  compile,
  flatMain,
  normAxis,
  output,
  runFlat,
  storageDecl,
  uniformDecl,
  Uniforms,
} from "./common.ts";

/** Reduction kinds. */
export type ReduceOp = "sum" | "mean" | "max" | "min" | "argmax" | "argmin";

function split(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  return { outer: numel(shape.slice(0, axis)), len: shape[axis], inner: numel(shape.slice(axis + 1)) };
}

/** Reduces along `axis` (all axes when omitted). `keepDims` keeps a size-1 axis. argmax/argmin give i32. */
export function reduce(x: Tensor, op: ReduceOp, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  if (options.axis === undefined) {
    const flat = x.reshape([x.size]);
    const r = reduce(flat, op, { axis: 0 });
    flat.dispose();
    if (!options.keepDims) return r;
    const k = r.reshape(x.shape.map(() => 1));
    r.dispose();
    return k;
  }
  const axis = normAxis(options.axis, x.rank);
  const { outer, len, inner } = split(x.shape, axis);
  if (len === 0 && op !== "sum" && op !== "mean") throw new InputError(`${op} over an empty axis ${axis}`);
  const outShape = options.keepDims
    ? x.shape.map((d, i) => i === axis ? 1 : d)
    : x.shape.filter((_, i) => i !== axis);
  const isArg = op === "argmax" || op === "argmin";
  const out = output(outShape, isArg ? "i32" : "f32");
  if (len * inner * 4 > bindingLimit() && outer * inner > 0) {
    reduceLongLines(x, out, { op, outer, len, inner });
    return out;
  }
  const kernel = reduceKernel(op);
  // Over the binding limit: in chunks of outer indices (each a whole [len, inner] block).
  forEachRowChunk(outer, [len * inner * 4, inner * 4], (_, rows, bind) => {
    runFlat(
      kernel,
      [bind(x.buf, len * inner * 4), bind(out.buf, inner * 4)],
      new Uniforms().int(rows * inner, len, inner),
      rows * inner,
    );
  }, { what: `reduce ${op}` });
  return out;
}

function reduceKernel(op: ReduceOp): Kernel {
  const isArg = op === "argmax" || op === "argmin";
  let body: string;
  switch (op) {
    case "sum":
    case "mean":
      body = `var acc = 0.0;
  for (var i = 0u; i < len; i++) { acc += X[base + i * inner]; }
  Y[gi] = ${op === "mean" ? "acc / f32(max(len, 1u))" : "acc"};`;
      break;
    case "max":
    case "min":
      body = `var acc = X[base];
  for (var i = 1u; i < len; i++) { acc = ${op}(acc, X[base + i * inner]); }
  Y[gi] = acc;`;
      break;
    default: {
      const cmp = op === "argmax" ? ">" : "<";
      // First index wins ties, as in PyTorch and NumPy.
      body = `var best = X[base]; var bi = 0u;
  for (var i = 1u; i < len; i++) { let v = X[base + i * inner]; if (v ${cmp} best) { best = v; bi = i; } }
  Y[gi] = i32(bi);`;
    }
  }
  const code = `${storageDecl([{ name: "X" }], [{ name: "Y", type: isArg ? "i32" : "f32" }])}${
    uniformDecl(2, 3)
  }
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u);
  if (gi >= n) { return; }
  let base = (gi / inner) * len * inner + gi % inner;
  ${body}
}`;
  return compile(code, 2, `reduce:${op}`);
}

/**
 * A reduction whose [len, inner] block of one outer index is itself over the binding limit: for each
 * outer index, copies chunks of lines into a scratch tensor, reduces each, and combines the partials
 * (sum, max/min element-wise; argmax/argmin keep the first best index), then writes the outer index's
 * result into `out`. Copies have no binding limit and need only 4-byte alignment.
 */
function reduceLongLines(
  x: Tensor,
  out: Tensor,
  shape: { op: ReduceOp; outer: number; len: number; inner: number },
): void {
  const { op, outer, len, inner } = shape;
  const b = backend();
  const per = Math.floor(bindingLimit() / (inner * 4));
  if (per < 1) {
    throw new EnvironmentError(
      `reduce ${op}: ${
        inner * 4
      } bytes of results per reduced index exceed this adapter's storage binding limit`,
    );
  }
  const isArg = op === "argmax" || op === "argmin";
  const partialOp: ReduceOp = op === "mean" ? "sum" : op;
  const valueOp: ReduceOp = op === "argmax" ? "max" : op === "argmin" ? "min" : partialOp;
  const scratch = empty([Math.min(per, len) * inner]);
  const part = (rows: number, which: ReduceOp): Tensor => {
    const t = output([inner], which === "argmax" || which === "argmin" ? "i32" : "f32");
    runFlat(reduceKernel(which), [scratch.buf, t.buf], new Uniforms().int(inner, rows, inner), inner);
    return t;
  };
  for (let o = 0; o < outer; o++) {
    let best: { values: Tensor; indices: Tensor | null } | null = null;
    for (let l0 = 0; l0 < len; l0 += per) {
      const rows = Math.min(per, len - l0);
      b.copy(x.buf, scratch.buf, { srcOffset: (o * len + l0) * inner * 4, bytes: rows * inner * 4 });
      const values = part(rows, valueOp);
      const indices = isArg ? part(rows, partialOp) : null;
      if (best === null) best = { values, indices };
      else if (isArg) {
        combineArgPartials({ values, indices: indices! }, { values: best.values, indices: best.indices! }, {
          n: inner,
          base: l0,
          max: op === "argmax",
        });
        values.dispose();
        indices!.dispose();
      } else {
        const kernel = elementwiseFold(op === "min" ? "min" : op === "max" ? "max" : "add");
        runFlat(kernel, [values.buf, best.values.buf], new Uniforms().int(inner), inner);
        values.dispose();
      }
    }
    const result = isArg ? best!.indices! : best!.values;
    if (op === "mean") runFlat(scaleKernel(), [result.buf], new Uniforms().int(inner).float(len), inner);
    b.copy(result.buf, out.buf, { dstOffset: o * inner * 4, bytes: inner * 4 });
    best!.values.dispose();
    best!.indices?.dispose();
  }
  scratch.dispose();
}

/** In-place fold of partials: `Acc[i] = f(Acc[i], V[i])`. */
function elementwiseFold(kind: "add" | "max" | "min"): Kernel {
  const f = kind === "add" ? "a + v" : `${kind}(a, v)`;
  const code = `${storageDecl([{ name: "V" }], [{ name: "Acc" }])}${uniformDecl(2, 2)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let a = Acc[gi]; let v = V[gi];
  Acc[gi] = ${f};
}`;
  return compile(code, 2, `reduce:fold_${kind}`);
}

/** In place `Acc[i] /= len`, as the mean kernel divides its sum. */
function scaleKernel(): Kernel {
  const code = `${storageDecl([], [{ name: "Acc" }])}${uniformDecl(1, 2)}
${flatMain()}  if (gi >= P(0u)) { return; }
  Acc[gi] = Acc[gi] / PF(1u);
}`;
  return compile(code, 1, "reduce:scale");
}

/** Sum along an axis (or all). */
export function sum(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  return reduce(x, "sum", options);
}

/** Mean along an axis (or all). */
export function mean(x: Tensor, options: { axis?: number; keepDims?: boolean } = {}): Tensor {
  return reduce(x, "mean", options);
}

/** Softmax (or log-softmax) along `axis`, max-subtracted for stability. */
export function softmax(x: Tensor, options: { axis?: number; log?: boolean } = {}): Tensor {
  const axis = normAxis(options.axis ?? -1, x.rank);
  const { outer, len, inner } = split(x.shape, axis);
  const out = output(x.shape);
  const write = options.log ? "X[j] - m - log(s)" : "exp(X[j] - m) / s";
  const code = `${storageDecl([{ name: "X" }], [{ name: "Y" }])}${uniformDecl(2, 3)}
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u);
  if (gi >= n) { return; }
  let base = (gi / inner) * len * inner + gi % inner;
  var m = X[base];
  for (var i = 1u; i < len; i++) { m = max(m, X[base + i * inner]); }
  var s = 0.0;
  for (var i = 0u; i < len; i++) { s += exp(X[base + i * inner] - m); }
  for (var i = 0u; i < len; i++) { let j = base + i * inner; Y[j] = ${write}; }
}`;
  const kernel = compile(code, 2, options.log ? "log_softmax" : "softmax");
  // Over the binding limit: in chunks of outer indices (a softmax line itself must fit one binding).
  const row = len * inner * 4;
  forEachRowChunk(outer, [row, row], (_, rows, bind) => {
    runFlat(
      kernel,
      [bind(x.buf, row), bind(out.buf, row)],
      new Uniforms().int(rows * inner, len, inner),
      rows * inner,
    );
  }, { what: options.log ? "log_softmax" : "softmax" });
  return out;
}

/** Log-softmax along `axis`. */
export function logSoftmax(x: Tensor, options: { axis?: number } = {}): Tensor {
  return softmax(x, { axis: options.axis, log: true });
}
