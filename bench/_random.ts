// Deterministic bench inputs without a dependency.
import { type Tensor, tensor } from "../engine/tensor.ts";

/** A tensor of xorshift32 values in [-0.1, 0.1) from `seed` (0 counts as 1: xorshift32 would stay 0). */
export function randomTensor(shape: number[], seed: number): Tensor {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.2;
  }
  return tensor(data, shape);
}
