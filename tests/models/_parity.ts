// Shared checks of the model parity tests against tests/fixtures/gen_models.py (PyTorch).
// Tolerance: max |ours − torch| ≤ 1e-4 · max |torch| over the whole output (relative to its scale).
import assert from "node:assert/strict";
import { readSafetensors, type Tensor, tensor, tidy } from "../../engine/mod.ts";
import type { StateDict } from "../../layers/mod.ts";
import { createModel, type LiftingModel } from "../../models/registry.ts";
import { fixture } from "../_shared.ts";

/** Relative tolerance of every parity check. */
export const RTOL = 1e-4;

let io: Map<string, { shape: number[]; data: Float32Array | Int32Array }> | null = null;

/** A tensor of models_io.safetensors. */
export async function ioTensor(name: string): Promise<{ shape: number[]; data: Float32Array }> {
  io ??= (await readSafetensors(fixture("models_io.safetensors"))).tensors;
  const t = io.get(name);
  if (!t) throw new Error(`models_io.safetensors has no ${name}`);
  return { shape: t.shape, data: t.data as Float32Array };
}

/** Asserts max |a − e| ≤ rtol · max(max |e|, floor). */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  rtol = RTOL,
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
    `${what}: max error ${err} at ${at} (ours ${actual[at]}, torch ${expected[at]}) > ${rtol} × ${scale}`,
  );
}

/** A fixture case: the model built from its metadata, its state dict and the PyTorch key order. */
export async function loadCase(
  name: string,
): Promise<
  {
    model: LiftingModel;
    stateDict: StateDict;
    keys: string[];
    modelName: string;
    config: Record<string, unknown>;
  }
> {
  const file = await readSafetensors(fixture(`models_${name}.safetensors`));
  const config = JSON.parse(file.metadata.config);
  const model = createModel(file.metadata.model, config);
  return {
    model,
    stateDict: file.tensors,
    keys: JSON.parse(file.metadata.keys),
    modelName: file.metadata.model,
    config,
  };
}

/** Runs `model.forward` on a host input inside `tidy` and reads the result back. */
export async function run(
  model: { forward(x: Tensor): Tensor },
  input: { shape: number[]; data: Float32Array },
): Promise<Float32Array> {
  const x = tensor(input.data, input.shape);
  const y = tidy(() => model.forward(x));
  const out = await y.read();
  x.dispose();
  y.dispose();
  return out;
}

/**
 * The full check of one case: key order as PyTorch's state_dict, strict load, forward parity, the
 * state dict read back equal to PyTorch's (names, dtypes, shapes, values), and folded BN parity.
 */
export async function checkCase(name: string): Promise<void> {
  const { model, stateDict, keys } = await loadCase(name);
  assert.deepEqual(model.stateDictKeys(), keys, `${name}: state_dict key order`);
  await model.loadStateDict(stateDict);
  const input = await ioTensor(`${name}.input`);
  const expected = await ioTensor(`${name}.output`);
  assertClose(await run(model, input), expected.data, `${name} forward`);

  const ours = await model.stateDict();
  assert.deepEqual([...ours.keys()], keys, `${name}: stateDict() names`);
  for (const [k, t] of stateDict) {
    const o = ours.get(k)!;
    assert.deepEqual(o.shape, t.shape, `${name}: ${k} shape`);
    assert.equal(o.dtype, t.dtype, `${name}: ${k} dtype`);
    assert.deepEqual(o.data, t.data, `${name}: ${k} values`);
  }

  const folded = await model.foldBatchNorm();
  assertClose(await run(model, input), expected.data, `${name} forward with ${folded} BatchNorms folded`);
  model.dispose();
}
