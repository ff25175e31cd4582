/**
 * `posegpu convert-weights`: a PyTorch checkpoint (`torch.save` file, zip or legacy format) to
 * safetensors, without Python and without running anything from the file. The state dict is found
 * inside the checkpoint (or named by `--key`), DataParallel's `module.` prefix removed, and with
 * `--model` every name and shape is checked against the registered model; the output's `__metadata__`
 * names the model and its configuration (what `posegpu run` reads) and, with `--stats-from`, carries a
 * posegpu checkpoint's normalisation so that `posegpu lift` / `eval h36m` load it.
 * @module
 */

import { basename } from "node:path";
import { configPairs, parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { InputError } from "../../engine/errors.ts";
import { initEngine } from "../../engine/backend.ts";
import {
  type HostTensor,
  readSafetensorsHeader,
  type TensorToWrite,
  writeSafetensors,
} from "../../engine/safetensors.ts";
import { findStateDict, readTorchCheckpoint } from "../../engine/torch_checkpoint.ts";
import { HostBuffer } from "../../layers/module.ts";
import { parseConfigPairs } from "../../models/config.ts";
import { type CheckpointMeta, checkpointMetadata, parseCheckpointMeta } from "../../models/checkpoint.ts";
import { createModel, type LiftingModel, MODEL_NAMES, MODELS } from "../../models/registry.ts";

/** `text` wrapped at `width` columns, each line indented by `indent` spaces. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => " ".repeat(indent) + l).join("\n");
}

const HELP = `posegpu convert-weights — convert a PyTorch checkpoint to safetensors (no Python needed)

Usage:
  posegpu convert-weights --in CKPT.pth|.pt|.bin|.pth.tar --out W.safetensors [--key PATH]
                          [--model NAME [--config key=value ...] [--stats-from CK.safetensors]]
                          [--strip-prefix P] [--dtype f32|f16] [--allow-global MODULE.NAME ...]

Reads a torch.save file (zip or legacy format) without running any code from it, finds its state dict
(the file itself, or the top-level entry that is one: state_dict, model, model_pos, …; --key names it by
its dot path) and writes the tensors under their PyTorch names, atomically. With --model every name and
shape must be the registered model's own parameters and buffers (missing, unexpected and mis-shaped
names are all listed, exit 1) and __metadata__ records the model and its configuration, so that
"posegpu run MODEL --weights W.safetensors" loads it. With --stats-from as well, the output is a complete
posegpu checkpoint that "posegpu lift --weights" and "posegpu eval h36m" load.

Options:
  --in FILE            the PyTorch checkpoint
  --out FILE           the safetensors file to write
  --key PATH           where the state dict is (model_pos, state_dict, model.ema, …); default: found
  --model NAME         check every key and shape against a registered model:
${wrap(MODEL_NAMES.join(", "), 23, 105)}
  --config key=value   the model's configuration (repeatable; keys as in posegpu run --help)
  --stats-from FILE    a posegpu checkpoint of the same model and joints (e.g. a shipped one) whose input
                       kind, normalisation statistics and provenance the output takes over
  --strip-prefix P     removed from every name that starts with it (default "module.", DataParallel's;
                       --strip-prefix= keeps the names as they are)
  --dtype T            f32 (default) or f16 for the floating-point tensors (F64/BF16/F16 sources too);
                       integer and bool tensors keep their dtype (num_batches_tracked stays I64)
  --allow-global NAME  a class the checkpoint merely stores, e.g. __main__.LinearModel of a pickled whole
                       model (MODULE or MODULE.* for a whole module; repeatable). Nothing is executed
                       either way; every global outside posegpu's whitelist is refused otherwise.
  -h, --help           this help

--model builds the model on the WebGPU adapter to read its parameter shapes (a software adapter is fine);
a plain conversion needs none. Exit codes: 0 success, 1 bad input (a key or shape mismatch included),
2 environment (no WebGPU adapter for --model).

Examples:
  posegpu convert-weights --in ckpt_best.pth.tar --out martinez.safetensors --model martinez
  posegpu convert-weights --in pretrained_h36m_cpn.bin --key model_pos --out vp243.safetensors \\
      --model videopose --config filter_widths=3,3,3,3,3
  posegpu convert-weights --in ckpt_best.pth.tar --out mine.safetensors --model martinez \\
      --stats-from weights/martinez_gt.safetensors
  posegpu lift poses.json --weights mine.safetensors --out lifted.json
  posegpu convert-weights --in resnet50.pth --out resnet50.safetensors --dtype f16`;

/** The models `posegpu lift` can use (given normalisation statistics). */
const LIFTERS = new Set(["martinez", "dual_channel", "videopose", "srnet", "srnet_fc"]);

/** Safetensors dtypes integer tensors keep. */
const INT_DTYPES: Record<string, TensorToWrite["dtype"]> = {
  I64: "I64",
  I32: "I32",
  I16: "I16",
  I8: "I8",
  U8: "U8",
  BOOL: "BOOL",
};

/** Names listed per kind of mismatch before "… and N more". */
const MAX_LISTED = 40;

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** What the model holds under each state-dict name, in `state_dict()` order. */
function modelEntries(model: LiftingModel): Map<string, { shape: number[]; counter: boolean }> {
  const byName = new Map<string, { shape: number[]; counter: boolean }>();
  for (const [n, t] of model.namedParameters()) byName.set(n, { shape: [...t.shape], counter: false });
  for (const [n, b] of model.namedBuffers()) {
    byName.set(
      n,
      b instanceof HostBuffer ? { shape: [], counter: true } : { shape: [...b.shape], counter: false },
    );
  }
  return new Map(model.stateDictKeys().map((k) => [k, byName.get(k)!]));
}

/** Every way `tensors` differs from the model's own names, shapes and dtypes (empty when it fits). */
function mismatches(
  tensors: Map<string, HostTensor>,
  expected: Map<string, { shape: number[]; counter: boolean }>,
): string[] {
  const missing: string[] = [], unexpected: string[] = [], wrong: string[] = [];
  for (const [name, e] of expected) {
    const t = tensors.get(name);
    if (!t) {
      missing.push(`${name} ${shapeText(e.shape)}`);
      continue;
    }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      wrong.push(`${name}: got ${shapeText(t.shape)}, expected ${shapeText(e.shape)}`);
    } else if (!e.counter && INT_DTYPES[t.dtype]) {
      wrong.push(`${name}: got dtype ${t.dtype}, expected a floating-point tensor`);
    }
  }
  for (const [name, t] of tensors) if (!expected.has(name)) unexpected.push(`${name} ${shapeText(t.shape)}`);
  const parts: string[] = [];
  const list = (label: string, xs: string[]) => {
    if (!xs.length) return;
    const shown = xs.length > MAX_LISTED
      ? [...xs.slice(0, MAX_LISTED), `… and ${xs.length - MAX_LISTED} more`]
      : xs;
    parts.push(`${xs.length} ${label}${xs.length === 1 ? "" : "s"}:\n    ${shown.join("\n    ")}`);
  };
  list("missing key", missing);
  list("unexpected key", unexpected);
  list("wrong-shape key", wrong);
  return parts;
}

/** The posegpu checkpoint metadata of `--stats-from`, re-targeted at this model and configuration. */
async function statsMetadata(
  stats: string,
  model: string,
  config: Record<string, unknown>,
  tree: unknown,
  out: string,
): Promise<Record<string, string>> {
  const header = await readSafetensorsHeader(stats);
  const from = parseCheckpointMeta(header.metadata, stats);
  if (from.model !== model) {
    throw new InputError(
      `--stats-from ${stats}: its statistics are for model "${from.model}", not "${model}"`,
    );
  }
  const epoch = tree instanceof Map && Number.isSafeInteger(tree.get("epoch"))
    ? tree.get("epoch") as number
    : 0;
  const meta: CheckpointMeta = {
    ...from,
    config,
    epoch: Math.max(0, epoch),
    step: 0,
    valMpjpe: null,
    seed: 0,
    extra: undefined,
  };
  const metadata = checkpointMetadata(meta);
  try {
    parseCheckpointMeta(metadata, out); // joints and statistics must fit this configuration
  } catch (e) {
    throw new InputError(
      `--stats-from ${stats}: does not fit ${model} ${JSON.stringify(config)}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return metadata;
}

async function convertWeights(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("convert-weights", args, {
    in: { type: "string" },
    out: { type: "string" },
    key: { type: "string" },
    model: { type: "string" },
    config: { type: "string", multiple: true },
    "stats-from": { type: "string" },
    "strip-prefix": { type: "string" },
    dtype: { type: "string" },
    "allow-global": { type: "string", multiple: true },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const pairs = configPairs("convert-weights", values.config, positionals);
  const input = values.in, output = values.out;
  if (!input || !output) {
    throw new InputError(
      "convert-weights: --in and --out are both required (see posegpu convert-weights --help)",
    );
  }
  const dtype = values.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new InputError(`convert-weights: --dtype ${dtype}: expected f32 or f16`);
  }
  const name = values.model;
  if (name !== undefined && !MODELS[name]) {
    throw new InputError(`convert-weights: unknown model "${name}" (models: ${MODEL_NAMES.join(", ")})`);
  }
  if (name === undefined && pairs.length) throw new InputError("convert-weights: --config needs --model");
  const stats = values["stats-from"];
  if (stats !== undefined && name === undefined) {
    throw new InputError("convert-weights: --stats-from needs --model");
  }
  const config = parseConfigPairs(pairs);

  const tree = await readTorchCheckpoint(input, { allowGlobals: values["allow-global"] ?? [] });
  const found = findStateDict(tree, values.key, {
    name: input,
    stripPrefix: values["strip-prefix"] ?? "module.",
  });
  const where = found.key === "" ? "the top level" : `"${found.key}"`;
  const numel = [...found.tensors.values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  console.log(
    `${input}: state dict at ${where}: ${found.tensors.size} tensors, ${
      numel.toLocaleString("en-US")
    } values` +
      (found.stripped ? ` (removed "${found.strippedPrefix}" from ${found.stripped} names)` : "") +
      (found.alternatives.length
        ? `; also there: ${found.alternatives.map((a) => `"${a}"`).join(", ")} (choose with --key)`
        : ""),
  );

  let metadata: Record<string, string> = {};
  let order = [...found.tensors.keys()];
  let counters = new Set<string>();
  if (name !== undefined) {
    await initEngine();
    const model = createModel(name, config);
    let expected: Map<string, { shape: number[]; counter: boolean }>;
    try {
      expected = modelEntries(model);
    } finally {
      model.dispose();
    }
    const problems = mismatches(found.tensors, expected);
    if (problems.length) {
      throw new InputError(
        `${input}: the state dict at ${where} does not match ${name} ${JSON.stringify(model.config)}:\n  ` +
          problems.join("\n  ") +
          (problems.some((p) => p.includes("wrong-shape"))
            ? "\n  (is the configuration right? --config key=value)"
            : ""),
      );
    }
    console.log(`matches ${name} ${JSON.stringify(model.config)}: every key and shape`);
    order = [...expected.keys()];
    counters = new Set([...expected].filter(([, e]) => e.counter).map(([k]) => k));
    metadata = stats !== undefined
      ? await statsMetadata(stats, name, model.config, tree, output)
      : { model: name, config: JSON.stringify(model.config) };
  }
  metadata.source = found.key === "" ? basename(input) : `${basename(input)}:${found.key}`;

  const tensors: Record<string, TensorToWrite> = {};
  const floatDtype = dtype === "f16" ? "F16" : "F32";
  for (const key of order) {
    const t = found.tensors.get(key)!;
    const shape = [...t.shape];
    if (counters.has(key)) tensors[key] = { shape, data: Int32Array.from(t.data), dtype: "I64" };
    else if (t.data instanceof Float32Array) tensors[key] = { shape, data: t.data, dtype: floatDtype };
    else tensors[key] = { shape, data: t.data, dtype: INT_DTYPES[t.dtype] ?? "I64" };
  }
  await writeSafetensors(output, tensors, { metadata });
  console.log(`wrote ${output}: ${order.length} tensors (floats as ${floatDtype})`);
  if (name !== undefined && stats === undefined && LIFTERS.has(name)) {
    console.log(
      `  posegpu run ${name} --weights ${output} … loads it; for posegpu lift / eval h36m add --stats-from ` +
        `a posegpu checkpoint with the normalisation statistics`,
    );
  }
  return 0;
}

/** The `convert-weights` command. */
export const command: Command = {
  name: "convert-weights",
  summary: "convert a PyTorch checkpoint (.pth/.pt/.bin/.pth.tar) to safetensors, checked against a model",
  help: HELP,
  run: convertWeights,
};
