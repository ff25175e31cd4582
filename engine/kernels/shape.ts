/**
 * Data movement: permute, slice, concat, pad and gather. All but gather are one primitive, a strided
 * copy of a block between two strided views, so there is one kernel to get right.
 * @module
 */

import { InputError } from "../errors.ts";
import { numel, stridesOf, type Tensor } from "../tensor.ts";
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
import { collapseDims, fill } from "./elementwise.ts";
import { bindingLimit, offsetAlignment, range } from "../chunking.ts";

const bytesOf = (dtype: Tensor["dtype"]): number => (dtype === "f16" ? 2 : 4);

/** A strided view for `stridedCopy`. */
export interface StridedView {
  /** Element offset of the block's first element. */
  offset: number;
  /** Element strides, one per dimension of the block. */
  strides: number[];
}

/**
 * Copies a block of `shape` from a strided view of `src` into a strided view of `dst` (recorded on the GPU);
 * with `accumulate` it adds into `dst` instead (the view must not write one element twice).
 */
export function stridedCopy(
  src: Tensor,
  dst: Tensor,
  block: { shape: number[]; from: StridedView; to: StridedView; accumulate?: boolean },
): void {
  const n = numel(block.shape);
  if (n === 0) return;
  const c = collapseDims(block.shape, [block.from.strides, block.to.strides]);
  const nd = c.shape.length;
  let idx = "  var r = gi; var is = P(1u); var id = P(2u);\n";
  for (let d = nd - 1; d >= 0; d--) {
    idx += `  { let n = P(${3 + d}u); let q = r % n; r = r / n; is += q * P(${3 + nd + d}u); id += q * P(${
      3 + 2 * nd + d
    }u); }\n`;
  }
  // f16 views are arrays of halves (one element per invocation; WGSL makes each half its own location).
  const enable = src.dtype === "f16" || dst.dtype === "f16" ? "enable f16;\n" : "";
  const code = `${enable}${storageDecl([{ name: "S", type: src.dtype }], [{ name: "D", type: dst.dtype }])}${
    uniformDecl(2, 3 + 3 * nd)
  }
${flatMain()}  if (gi >= P(0u)) { return; }
${idx}  D[id] = ${block.accumulate ? "D[id] + " : ""}${
    src.dtype === dst.dtype ? "S[is]" : `${dst.dtype}(S[is])`
  };
}`;
  const u = new Uniforms().int(
    n,
    block.from.offset,
    block.to.offset,
    ...c.shape,
    ...c.strides[0],
    ...c.strides[1],
  );
  const label = `strided_${block.accumulate ? "add" : "copy"}:${nd}:${src.dtype}${dst.dtype}`;
  const kernel = compile(code, 2, label);
  const limit = bindingLimit();
  const srcBytes = numel(src.shape) * bytesOf(src.dtype), dstBytes = numel(dst.shape) * bytesOf(dst.dtype);
  if (srcBytes <= limit && dstBytes <= limit) {
    runFlat(kernel, [src.buf, dst.buf], u, n);
    return;
  }
  // A view larger than one binding: copy sub-blocks whose source and destination spans each fit one,
  // bound from an aligned offset below their first element (the kernel takes offsets in the binding).
  const align = offsetAlignment();
  const bind = (t: Tensor, first: number, span: number) => {
    const eb = bytesOf(t.dtype);
    const start = Math.floor((first * eb) / align) * align;
    const size = Math.min(Math.ceil((first * eb + span * eb - start) / 4) * 4, t.buf.size - start);
    return { binding: range(t.buf, start, size), offset: (first * eb - start) / eb, size };
  };
  const span = (shape: number[], strides: number[]) =>
    shape.reduce((e, len, d) => e + (len - 1) * strides[d], 1);
  const copy = (shape: number[], from: number, to: number): void => {
    const s = bind(src, from, span(shape, c.strides[0])), t = bind(dst, to, span(shape, c.strides[1]));
    if (s.size <= limit && t.size <= limit) {
      const count = numel(shape);
      const part = new Uniforms().int(count, s.offset, t.offset, ...shape, ...c.strides[0], ...c.strides[1]);
      runFlat(kernel, [s.binding, t.binding], part, count);
      return;
    }
    // Split the dimension with the largest stride on a side that does not fit (it shrinks that span most).
    const side = s.size > limit ? 0 : 1;
    const wide = c.strides[side];
    let d = -1;
    for (let i = 0; i < shape.length; i++) if (shape[i] > 1 && (d < 0 || wide[i] > wide[d])) d = i;
    if (d < 0) throw new Error(`${label}: one element does not fit a binding: an engine bug`);
    // The most entries along d whose span on that side fits (the slack covers the aligned-down start);
    // the other side, if still too wide, is split further down.
    const one = shape.map((len, i) => (i === d ? 1 : len));
    const eb = bytesOf((side ? dst : src).dtype);
    const room = Math.floor(limit / eb) - align / eb - span(one, wide);
    const per = Math.max(1, Math.floor(room / wide[d]) + 1);
    for (let i = 0; i < shape[d]; i += per) {
      const part = shape.map((len, j) => (j === d ? Math.min(per, len - i) : len));
      copy(part, from + i * c.strides[0][d], to + i * c.strides[1][d]);
    }
  };
  copy(c.shape, block.from.offset, block.to.offset);
}

/** Permutes dimensions (`perm[i]` = which input axis becomes output axis i). */
export function permute(x: Tensor, perm: number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort().some((p, i) => p !== i)) {
    throw new InputError(`permute [${perm.join(", ")}] is not a permutation of ${x.rank} axes`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const xs = stridesOf(x.shape);
  const out = output(shape, x.dtype);
  stridedCopy(x, out, {
    shape,
    from: { offset: 0, strides: perm.map((p) => xs[p]) },
    to: { offset: 0, strides: stridesOf(shape) },
  });
  return out;
}

/** Swaps the last two axes. */
export function transpose(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return permute(x, perm);
}

/** Slice `[start, end)` with `step` along each given axis (like `x[:, 2:5]`). */
export function slice(
  x: Tensor,
  ranges: { axis: number; start?: number; end?: number; step?: number }[],
): Tensor {
  const starts = x.shape.map(() => 0), steps = x.shape.map(() => 1);
  const shape = [...x.shape];
  for (const r of ranges) {
    const a = normAxis(r.axis, x.rank);
    const len = x.shape[a];
    const step = r.step ?? 1;
    if (step < 1) throw new InputError(`slice step must be ≥ 1, got ${step}`);
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
    const s = clampIdx(r.start ?? 0), e = clampIdx(r.end ?? len);
    starts[a] = s;
    steps[a] = step;
    shape[a] = Math.max(0, Math.ceil((e - s) / step));
  }
  const xs = stridesOf(x.shape);
  const out = output(shape, x.dtype);
  stridedCopy(x, out, {
    shape,
    from: {
      offset: starts.reduce((acc, s, i) => acc + s * xs[i], 0),
      strides: xs.map((s, i) => s * steps[i]),
    },
    to: { offset: 0, strides: stridesOf(shape) },
  });
  return out;
}

/** Concatenates along `axis`. */
export function concat(xs: Tensor[], options: { axis?: number } = {}): Tensor {
  if (xs.length === 0) throw new InputError("concat of no tensors");
  const axis = normAxis(options.axis ?? 0, xs[0].rank);
  for (const t of xs) {
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== axis && d !== xs[0].shape[i])) {
      throw new InputError(
        `concat along axis ${axis}: shapes [${xs[0].shape.join(", ")}] and [${
          t.shape.join(", ")
        }] differ elsewhere`,
      );
    }
  }
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((s, t) => s + t.shape[axis], 0);
  const out = output(shape, xs[0].dtype);
  const os = stridesOf(shape);
  let at = 0;
  for (const t of xs) {
    stridedCopy(t, out, {
      shape: [...t.shape],
      from: { offset: 0, strides: stridesOf(t.shape) },
      to: { offset: at * os[axis], strides: os },
    });
    at += t.shape[axis];
  }
  return out;
}

/** Constant padding: `pads[i] = [before, after]` for each axis (missing axes unpadded). */
export function pad(x: Tensor, pads: [number, number][], options: { value?: number } = {}): Tensor {
  const p = x.shape.map((_, i) => pads[i] ?? [0, 0]);
  const shape = x.shape.map((d, i) => d + p[i][0] + p[i][1]);
  const out = fill(shape, options.value ?? 0);
  const os = stridesOf(shape);
  stridedCopy(x, out, {
    shape: [...x.shape],
    from: { offset: 0, strides: stridesOf(x.shape) },
    to: { offset: p.reduce((acc, [b], i) => acc + b * os[i], 0), strides: os },
  });
  return out;
}

/**
 * WGSL addressing of a gather over [outer, len, inner] with k indices, for flat invocation `gi` (output
 * element [o, j, i]) and uniforms `len`, `inner`, `k`: `locate` defines `j`, `element` is the index of
 * [o, src, i] in the gathered tensor (given `src = I[j]`), `form` a label suffix. Integer division is
 * scalarised on CPU adapters: the common inner = 1 (and outer = 1) forms skip it.
 */
export function gatherAddressing(
  outer: number,
  inner: number,
): { form: string; locate: string; element: string } {
  if (inner === 1 && outer === 1) return { form: ":flat", locate: "let j = gi;", element: "u32(src)" };
  if (inner === 1) {
    return { form: ":rows", locate: "let o = gi / k; let j = gi - o * k;", element: "o * len + u32(src)" };
  }
  return {
    form: "",
    locate: "let o = gi / (k * inner); let r = gi - o * k * inner; let j = r / inner; let i = r - j * inner;",
    element: "(o * len + u32(src)) * inner + i",
  };
}

/** Selects entries along `axis` by index (like `torch.index_select`); indices are an i32 tensor or numbers. */
export function gather(x: Tensor, indices: Tensor, options: { axis?: number } = {}): Tensor {
  const axis = normAxis(options.axis ?? 0, x.rank);
  if (indices.dtype !== "i32") throw new InputError("gather indices must be an i32 tensor");
  const outer = numel(x.shape.slice(0, axis)), len = x.shape[axis], inner = numel(x.shape.slice(axis + 1));
  const k = indices.size;
  const shape = [...x.shape];
  shape[axis] = k;
  const out = output(shape, x.dtype);
  // Out-of-range indices read 0 rather than another row: a wrong index must not silently alias data.
  const at = gatherAddressing(outer, inner);
  const code = `${x.dtype === "f16" ? "enable f16;\n" : ""}${
    storageDecl([{ name: "X", type: x.dtype }, { name: "I", type: "i32" }], [{ name: "Y", type: x.dtype }])
  }${uniformDecl(3, 4)}
${flatMain()}  let n = P(0u); let len = P(1u); let inner = P(2u); let k = P(3u);
  if (gi >= n) { return; }
  ${at.locate}
  let src = I[j];
  if (src < 0 || u32(src) >= len) { Y[gi] = ${x.dtype}(0); return; }
  Y[gi] = X[${at.element}];
}`;
  runFlat(
    compile(code, 3, `gather:${x.dtype}${at.form}`),
    [x.buf, indices.buf, out.buf],
    new Uniforms().int(outer * k * inner, len, inner, k),
    outer * k * inner,
  );
  return out;
}
