/**
 * State dicts on disk: read a safetensors checkpoint into a `StateDict`, write one back with PyTorch's
 * dtypes (`F32` floats, `I64` counters) so `safetensors.torch.load_file` + `load_state_dict` accepts it.
 * @module
 */

import { readSafetensors, writeSafetensors } from "../engine/mod.ts";
import type { TensorToWrite } from "../engine/safetensors.ts";
import type { StateDict } from "./module.ts";

/** Reads a safetensors file as a state dict, with its `__metadata__`. */
export async function readStateDict(
  path: string,
): Promise<{ stateDict: StateDict; metadata: Record<string, string> }> {
  const file = await readSafetensors(path);
  return { stateDict: file.tensors, metadata: file.metadata };
}

/** Writes a state dict as safetensors (atomically); integer entries are stored as `I64`. */
export async function writeStateDict(
  path: string,
  stateDict: StateDict,
  options: { metadata?: Record<string, string> } = {},
): Promise<void> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of stateDict) {
    out[name] = t.data instanceof Int32Array
      ? { shape: t.shape, data: t.data, dtype: "I64" }
      : { shape: t.shape, data: t.data, dtype: "F32" };
  }
  await writeSafetensors(path, out, { metadata: options.metadata });
}
