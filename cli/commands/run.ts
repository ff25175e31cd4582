/**
 * `posegpu run MODEL`: the raw network forward of a registered model in eval mode, safetensors in and
 * out. Weights are a converted `state_dict()` (keys as the reference implementation; a `module.` prefix
 * is fine); the configuration comes from the weights' `__metadata__` `config` entry (JSON) and from
 * `--config key=value`, which wins.
 * @module
 */

import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { initEngine, InputError, readSafetensors, tensor, tidy, writeSafetensors } from "../../engine/mod.ts";
import { readStateDict } from "../../layers/mod.ts";
import { describeConfig, parseConfigPairs } from "../../models/config.ts";
import { createModel, MODEL_NAMES, MODELS } from "../../models/registry.ts";

const HELP = `posegpu run — run a registered network on a tensor (raw forward, eval mode)

Usage:
  posegpu run MODEL --weights W.safetensors --input X.safetensors --output Y.safetensors
                    [--config key=value ...] [--no-fold]

Reads the tensor named "input" of X, writes the tensor "output" to Y (atomically). The configuration is
the "config" JSON entry of W's __metadata__ (when present), overridden by --config; lists are
comma-separated (filter_widths=3,3,3), booleans true/false.

Options:
  --weights FILE       the model's state dict as safetensors (PyTorch key names)
  --input FILE         safetensors with a tensor "input" in the model's layout
  --output FILE        where to write the tensor "output"
  --config key=value   a model constructor argument (repeatable)
  --no-fold            keep BatchNorm separate (default: folded into the layer before it; same outputs)
  -h, --help           this help

Layouts of the lifting models (as the reference implementations' forward):
  martinez, dual_channel  [B, 32] -> [B, 48]: 16 joints x (x, y) z-scored in, 16 joints x (x, y, z) out
  videopose               [N, T, J, 2] -> [N, T - receptive_field + 1, J_out, 3]
  srnet, srnet_fc         [N, T, 17, 2] -> [N, T', 17, 3]; flattened input channel = 2·joint + coord
                          (SRNet regroups it into 5 groups, each with a copy of the root); norm=lcn adds
                          the input x, y to the output (single-frame widths only)

Models and their config keys (defaults):
${MODEL_NAMES.map((n) => `  ${n}: ${MODELS[n].summary}\n${describeConfig(MODELS[n].spec)}`).join("\n")}

Examples:
  posegpu run martinez --weights baseline.safetensors --input poses2d.safetensors --output poses3d.safetensors
  posegpu run srnet --weights srnet.safetensors --input x.safetensors --output y.safetensors \\
      --config filter_widths=1,1,1 channels=1024 group=5 split=others recombine=multiply
  posegpu run srnet_fc --weights fc.safetensors --input x.safetensors --output y.safetensors \\
      --config filter_widths=1,1,1 channels=256
  posegpu run martinez --weights challenge.safetensors --input x.safetensors --output y.safetensors \\
      --config num_stage=1
  posegpu run videopose --weights vp243.safetensors --input seq.safetensors --output out.safetensors \\
      --config filter_widths=3,3,3,3,3
  posegpu run pose_resnet --weights pose_resnet_50.safetensors --input crops.safetensors \\
      --output heatmaps.safetensors --config num_layers=50 num_joints=17 in_channels=3
  posegpu run resnet --weights resnet50.safetensors --input images.safetensors --output logits.safetensors \\
      --config depth=50 in_channels=3 num_classes=1000`;

async function runCommand(args: string[]): Promise<number> {
  let values: {
    weights?: string;
    input?: string;
    output?: string;
    config?: string[];
    "no-fold"?: boolean;
    help?: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        weights: { type: "string" },
        input: { type: "string" },
        output: { type: "string" },
        config: { type: "string", multiple: true },
        "no-fold": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    throw new InputError(`run: ${(e as Error).message} (see posegpu run --help)`, { cause: e });
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  // `--config a=1 b=2`: parseArgs leaves the values after the first as positionals.
  const [name, ...extra] = positionals;
  const pairs = [...(values.config ?? []), ...extra.filter((p) => p.includes("="))];
  const stray = extra.filter((p) => !p.includes("="));
  if (!name) {
    throw new InputError(`run: which model? (models: ${MODEL_NAMES.join(", ")}; see posegpu run --help)`);
  }
  if (stray.length) {
    throw new InputError(`run: unexpected argument ${stray.join(" ")} (see posegpu run --help)`);
  }
  if (!MODELS[name]) throw new InputError(`run: unknown model "${name}" (models: ${MODEL_NAMES.join(", ")})`);
  for (const flag of ["weights", "input", "output"] as const) {
    if (!values[flag]) throw new InputError(`run: --${flag} FILE is required (see posegpu run --help)`);
  }

  const { stateDict, metadata } = await readStateDict(values.weights!);
  let fromFile: Record<string, unknown> = {};
  if (metadata.config !== undefined) {
    try {
      fromFile = JSON.parse(metadata.config);
    } catch (e) {
      throw new InputError(`${values.weights}: __metadata__ "config" is not JSON: ${(e as Error).message}`);
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
      throw new InputError(`${values.weights}: __metadata__ "config" must be a JSON object`);
    }
  }
  if (metadata.model !== undefined && metadata.model !== name) {
    throw new InputError(`${values.weights}: the weights are for model "${metadata.model}", not "${name}"`);
  }
  const config = { ...fromFile, ...parseConfigPairs(pairs) };

  await initEngine();
  const model = createModel(name, config);
  try {
    await model.loadStateDict(stateDict, { fold: !values["no-fold"] });
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${values.weights}: ${e.message}`, { cause: e });
    throw e;
  }

  const file = await readSafetensors(values.input!);
  const t = file.tensors.get("input");
  if (!t) {
    throw new InputError(
      `${values.input}: no tensor named "input" (it holds ${
        [...file.tensors.keys()].join(", ") || "no tensors"
      })`,
    );
  }
  try {
    model.checkInput(t.shape);
  } catch (e) {
    throw new InputError(`${values.input}: tensor "input": ${(e as Error).message}`, { cause: e });
  }
  const x = tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), t.shape);
  const y = tidy(() => model.forward(x));
  const out = await y.read();
  await writeSafetensors(values.output!, { output: { shape: [...y.shape], data: out } }, {
    metadata: { model: name, config: JSON.stringify(model.config) },
  });
  console.log(`${name}: input [${t.shape.join(", ")}] → output [${y.shape.join(", ")}] → ${values.output}`);
  model.dispose();
  return 0;
}

/** The `run` command. */
export const command: Command = {
  name: "run",
  summary:
    "raw forward of a registered network (lifters, resnet, pose_resnet, posefix, cpn, ssd300, …) on a tensor",
  help: HELP,
  run: runCommand,
};
