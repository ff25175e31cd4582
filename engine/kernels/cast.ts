/**
 * `cast`: converts a tensor between f32, f16 and i32 on the GPU. f32 → f16 uses WGSL's conversion
 * (round to nearest even on the adapters checked in tests/engine/f16_test.ts); each invocation writes
 * one pair of halves, so no two invocations share a 4-byte word. f16 requests fall back to f32 storage
 * on adapters without `shader-f16` (see `DType` in engine/tensor.ts), where the cast is a plain copy.
 * @module
 */

import { backend } from "../backend.ts";
import { InputError } from "../errors.ts";
import { type DType, storageDType, type Tensor } from "../tensor.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./common.ts";

const DTYPES: readonly DType[] = ["f32", "f16", "i32"];

/** `x` converted to `dtype` (a new tensor; a copy when the dtypes already agree). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (!DTYPES.includes(dtype)) {
    throw new InputError(`cast: unknown dtype ${JSON.stringify(dtype)} (expected f32, f16 or i32)`);
  }
  const to = storageDType(dtype);
  const out = output(x.shape, to);
  const n = x.size;
  if (n === 0) return out;
  if (x.dtype === to) {
    backend().copy(x.buf, out.buf, { bytes: x.byteLength });
    return out;
  }
  const enable = x.dtype === "f16" || to === "f16" ? "enable f16;\n" : "";
  let body: string, invocations: number;
  if (to === "f16") {
    // Two halves per invocation; an odd count's last pair repeats the last value into the padding half.
    invocations = Math.ceil(n / 2);
    const conv = x.dtype === "f32" ? "f16" : "f16(f32"; // i32 → f32 → f16 (no direct i32 → f16 rounding)
    const close = x.dtype === "f32" ? ")" : "))";
    body = `  if (gi >= P(1u)) { return; }
  let i0 = 2u * gi; let i1 = min(i0 + 1u, P(0u) - 1u);
  Y[gi] = vec2<f16>(${conv}(X[i0]${close}, ${conv}(X[i1]${close});`;
  } else {
    invocations = n;
    body = `  if (gi >= P(0u)) { return; }\n  Y[gi] = ${to}(X[gi]);`;
  }
  const code = `${enable}${
    storageDecl([{ name: "X", type: x.dtype }], [{ name: "Y", type: to === "f16" ? "vec2<f16>" : to }])
  }${uniformDecl(2, 2)}
${flatMain()}${body}
}`;
  runFlat(
    compile(code, 2, `cast:${x.dtype}->${to}`),
    [x.buf, out.buf],
    new Uniforms().int(n, invocations),
    invocations,
  );
  return out;
}
