// Shared helpers of the image-model tests: tolerance checks and fixture access.
import assert from "node:assert/strict";
import { type HostTensor, readSafetensors, type Tensor, tensor } from "../../engine/mod.ts";
import { fixture } from "../_shared.ts";

/** Asserts max |a − e| ≤ rtol · max(max |e|, floor) (relative to the reference's scale). */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  rtol = 1e-3,
  floor = 1e-6,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0, err = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= err)) {
      err = d;
      at = i;
    }
  }
  assert.ok(
    err <= rtol * Math.max(scale, floor),
    `${what}: max error ${err} at ${at} (ours ${actual[at]}, reference ${expected[at]}) > ${rtol} × ${scale}`,
  );
}

/** A fixture file's tensors and JSON `cases` metadata. */
export async function loadFixture(
  section: string,
): Promise<
  {
    tensors: Map<string, HostTensor>;
    cases: Record<string, unknown>;
    metadata: Record<string, string>;
    get(n: string): HostTensor;
  }
> {
  const file = await readSafetensors(fixture(`image_models_${section}.safetensors`));
  const get = (n: string): HostTensor => {
    const t = file.tensors.get(n);
    if (!t) throw new Error(`image_models_${section}.safetensors lacks ${n}`);
    return t;
  };
  return {
    tensors: file.tensors,
    cases: JSON.parse(file.metadata.cases ?? "{}"),
    metadata: file.metadata,
    get,
  };
}

/** A host tensor on the GPU (float32). */
export function gpu(t: HostTensor): Tensor {
  return tensor(
    t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>),
    t.shape,
  );
}

/** A state dict of the tensors under `prefix/` (prefix removed). */
export function subDict(tensors: Map<string, HostTensor>, prefix: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, v] of tensors) if (k.startsWith(prefix + "/")) out.set(k.slice(prefix.length + 1), v);
  return out;
}
