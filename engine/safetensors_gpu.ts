/**
 * Safetensors straight to GPU tensors, with a choice of float storage: F16 tensors can go to f16 tensors
 * from their raw bits (no f32 round trip), and F32/F64/BF16 tensors can be stored as f16 on load (rounded
 * to nearest even on the host). Integer tensors become i32 tensors. Without `shader-f16` the f16 requests
 * fall back to f32 tensors of the same values (see `DType`).
 * @module
 */

import { InputError } from "./errors.ts";
import {
  decodeSafetensorsTensor,
  parseSafetensorsHeader,
  SafetensorsError,
  safetensorsF16Bits,
} from "./safetensors.ts";
import { type Tensor, tensor, tensorFromF16Bits } from "./tensor.ts";

/** Float storage of `loadSafetensorsTensors`. */
export type FloatStorage = "f32" | "f16" | "keep";

/** Options of `loadSafetensorsTensors`. */
export interface LoadTensorsOptions {
  /**
   * Storage of the float tensors: "f32" (default) every float as f32; "f16" every float as f16 (F16 from
   * its bits, the others rounded on the host); "keep" F16 as f16 (from its bits) and the others as f32.
   */
  float?: FloatStorage;
  /** Only these tensors (default: all); an unknown name is a `SafetensorsError`. */
  names?: readonly string[];
  /** The file's name in errors, for bytes (a path names itself). */
  name?: string;
}

const FLOATS = new Set(["F64", "F32", "F16", "BF16"]);

/**
 * Reads a safetensors file (a path, or its bytes) into GPU tensors by name, in file order. The header is
 * validated as `parseSafetensors` does; errors name the file and the tensor.
 */
export async function loadSafetensorsTensors(
  source: string | Uint8Array,
  options: LoadTensorsOptions = {},
): Promise<Map<string, Tensor>> {
  const float = options.float ?? "f32";
  if (float !== "f32" && float !== "f16" && float !== "keep") {
    throw new InputError(
      `loadSafetensorsTensors: float must be "f32", "f16" or "keep", got ${JSON.stringify(float)}`,
    );
  }
  const file = typeof source === "string" ? source : options.name ?? "<safetensors bytes>";
  let bytes: Uint8Array;
  if (typeof source === "string") {
    try {
      bytes = await Deno.readFile(source);
    } catch (e) {
      throw new SafetensorsError(file, `cannot read (${(e as Error).message})`, { cause: e });
    }
  } else bytes = source;
  const header = parseSafetensorsHeader(bytes, { name: file });
  const names = options.names ?? [...header.entries.keys()];
  const out = new Map<string, Tensor>();
  try {
    for (const n of names) {
      const entry = header.entries.get(n);
      if (!entry) throw new SafetensorsError(file, "no such tensor", { tensor: n });
      const isFloat = FLOATS.has(entry.dtype);
      if (isFloat && entry.dtype === "F16" && float !== "f32") {
        out.set(n, tensorFromF16Bits(safetensorsF16Bits(bytes, header, n, { name: file }), entry.shape));
        continue;
      }
      const host = decodeSafetensorsTensor(bytes, header, n, { name: file });
      const dtype = !isFloat ? "i32" : float === "f16" ? "f16" : "f32";
      out.set(n, tensor(host.data, host.shape, { dtype }));
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}
