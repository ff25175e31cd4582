/**
 * Reductions along one axis (sum, mean, max, min, argmax) and softmax / log-softmax. A tensor is viewed
 * as [outer, axis, inner]; one invocation reduces one (outer, inner) line, which keeps every kernel
 * barrier-free (what CPU adapters want) and exact in its order of summation.
 * @module
 */

import { InputError } from "../errors.ts";
import { numel, type Tensor } from "../tensor.ts";
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
  runFlat(
    compile(code, 2, `reduce:${op}`),
    [x.buf, out.buf],
    new Uniforms().int(outer * inner, len, inner),
    outer * inner,
  );
  return out;
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
  runFlat(
    compile(code, 2, options.log ? "log_softmax" : "softmax"),
    [x.buf, out.buf],
    new Uniforms().int(outer * inner, len, inner),
    outer * inner,
  );
  return out;
}

/** Log-softmax along `axis`. */
export function logSoftmax(x: Tensor, options: { axis?: number } = {}): Tensor {
  return softmax(x, { axis: options.axis, log: true });
}
