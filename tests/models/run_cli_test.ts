// `posegpu run` (cli/commands/run.ts): config from __metadata__ and --config, output file, errors.
// Tolerance as the parity tests (_parity.ts).
import assert from "node:assert/strict";
import { InputError, readSafetensors, writeSafetensors } from "../../engine/mod.ts";
import { command } from "../../cli/commands/run.ts";
import { fixture } from "../_shared.ts";
import { assertClose, ioTensor } from "./_parity.ts";

const dir = await Deno.makeTempDir();
const quiet = async <T>(f: () => Promise<T>): Promise<T> => {
  const log = console.log;
  console.log = () => {};
  try {
    return await f();
  } finally {
    console.log = log;
  }
};

async function inputFile(name: string, io: string): Promise<string> {
  const t = await ioTensor(io);
  const path = `${dir}/${name}.safetensors`;
  await writeSafetensors(path, { input: { shape: t.shape, data: t.data } });
  return path;
}

Deno.test("run srnet: config from the weights' metadata, output written and equal to PyTorch", async () => {
  const input = await inputFile("srnet_in", "srnet_t27_concat.input");
  const output = `${dir}/srnet_out.safetensors`;
  const code = await quiet(() =>
    command.run([
      "srnet",
      "--weights",
      fixture("models_srnet_t27_concat.safetensors"),
      "--input",
      input,
      "--output",
      output,
    ])
  );
  assert.equal(code, 0);
  const y = (await readSafetensors(output)).tensors.get("output")!;
  assert.deepEqual(y.shape, [3, 3, 17, 3]);
  assertClose(y.data as Float32Array, (await ioTensor("srnet_t27_concat.output")).data, "run srnet");
});

Deno.test("run martinez: --config overrides, --no-fold, DataParallel-prefixed weights", async () => {
  const file = await readSafetensors(fixture("models_martinez_1stage.safetensors"));
  const weights = `${dir}/dp.safetensors`;
  const dp: Record<string, { shape: number[]; data: Float32Array | Int32Array; dtype?: "I64" }> = {};
  for (const [k, t] of file.tensors) {
    dp[`module.${k}`] = {
      shape: t.shape,
      data: t.data,
      ...(t.dtype === "I64" ? { dtype: "I64" as const } : {}),
    };
  }
  await writeSafetensors(weights, dp); // no metadata: the config comes from --config only
  const input = await inputFile("m_in", "martinez_1stage.input");
  const output = `${dir}/m_out.safetensors`;
  const args = ["martinez", "--weights", weights, "--input", input, "--output", output, "--no-fold"];
  await assert.rejects(() => quiet(() => command.run(args)), /missing keys|unexpected key/);
  assert.equal(await quiet(() => command.run([...args, "--config", "linear_size=64", "num_stage=1"])), 0);
  const y = (await readSafetensors(output)).tensors.get("output")!;
  assertClose(y.data as Float32Array, (await ioTensor("martinez_1stage.output")).data, "run martinez");
});

Deno.test("run: clear errors for a missing tensor, a wrong shape, a bad config, a missing flag", async () => {
  const weights = fixture("models_martinez_small.safetensors");
  const output = `${dir}/never.safetensors`;
  const other = `${dir}/other.safetensors`;
  await writeSafetensors(other, { poses: { shape: [2, 32], data: new Float32Array(64) } });
  await assert.rejects(
    () => command.run(["martinez", "--weights", weights, "--input", other, "--output", output]),
    (e: Error) => e instanceof InputError && /no tensor named "input" \(it holds poses\)/.test(e.message),
  );
  const wide = `${dir}/wide.safetensors`;
  await writeSafetensors(wide, { input: { shape: [2, 34], data: new Float32Array(68) } });
  await assert.rejects(
    () => command.run(["martinez", "--weights", weights, "--input", wide, "--output", output]),
    /tensor "input": martinez expects input \[B, 32\].*got \[2, 34\]/,
  );
  await assert.rejects(
    () =>
      command.run([
        "martinez",
        "--weights",
        weights,
        "--input",
        wide,
        "--output",
        output,
        "--config",
        "depth=3",
      ]),
    /unknown config key depth/,
  );
  await assert.rejects(
    () =>
      command.run([
        "martinez",
        "--weights",
        weights,
        "--input",
        wide,
        "--output",
        output,
        "--config",
        "num_stage=two",
      ]),
    /num_stage="two": expected an integer/,
  );
  await assert.rejects(
    () => command.run(["videopose", "--weights", weights, "--input", wide, "--output", output]),
    /weights are for model "martinez", not "videopose"/,
  );
  await assert.rejects(
    () => command.run(["martinez", "--input", wide, "--output", output]),
    /--weights FILE is required/,
  );
  await assert.rejects(() => command.run(["nope"]), /unknown model "nope"/);
  await assert.rejects(() => Deno.stat(output), Deno.errors.NotFound);
});

// Every lifting model and its main variants through the CLI, twice: the config from the weights'
// metadata, and the same config given only as --config key=value strings on weights without metadata
// (the official constructor arguments, as a converted checkpoint would be run).
const CLI_CASES: [string, string][] = [
  ["martinez", "martinez_small"],
  ["martinez", "martinez_1stage"],
  ["dual_channel", "dual_channel"],
  ["dual_channel", "dual_single"],
  ["videopose", "videopose_t27"],
  ["videopose", "videopose_causal"],
  ["srnet", "srnet_multiply"],
  ["srnet", "srnet_t27_multiply"],
  ["srnet", "srnet_lcn"],
  ["srnet", "srnet_gp"],
  ["srnet", "srnet_t27_all_concat"],
  ["srnet_fc", "srnet_fc_t27"],
  ["srnet_fc", "srnet_fc_lcn"],
];

function configPairs(config: Record<string, unknown>): string[] {
  return Object.entries(config).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
}

for (const [model, name] of CLI_CASES) {
  Deno.test(`run ${model} (${name}): metadata config and --config only give PyTorch's output`, async () => {
    const weights = fixture(`models_${name}.safetensors`);
    const file = await readSafetensors(weights);
    const input = await inputFile(`${name}_in`, `${name}.input`);
    const expected = (await ioTensor(`${name}.output`)).data;
    const output = `${dir}/${name}_out.safetensors`;
    assert.equal(
      await quiet(() => command.run([model, "--weights", weights, "--input", input, "--output", output])),
      0,
    );
    const y = (await readSafetensors(output)).tensors.get("output")!;
    assert.deepEqual(y.shape, (await ioTensor(`${name}.output`)).shape);
    assertClose(y.data as Float32Array, expected, `run ${model} ${name}`);

    const bare = `${dir}/${name}_bare.safetensors`;
    const sd: Record<string, { shape: number[]; data: Float32Array | Int32Array; dtype?: "I64" }> = {};
    for (const [k, t] of file.tensors) {
      sd[k] = { shape: t.shape, data: t.data, ...(t.dtype === "I64" ? { dtype: "I64" as const } : {}) };
    }
    await writeSafetensors(bare, sd);
    const pairs = configPairs(JSON.parse(file.metadata.config));
    const args = [model, "--weights", bare, "--input", input, "--output", output];
    assert.equal(await quiet(() => command.run([...args, "--config", ...pairs])), 0);
    const z = (await readSafetensors(output)).tensors.get("output")!;
    assertClose(z.data as Float32Array, expected, `run ${model} ${name} --config ${pairs.join(" ")}`);
  });
}

Deno.test("run --help documents every lifting model's layout and config keys", async () => {
  const { MODELS } = await import("../../models/registry.ts");
  const help = command.help;
  for (
    const [model, layout] of [
      ["martinez", "[B,32] -> [B,48]"],
      ["dual_channel", "[B,32] -> [B,48]"],
      ["videopose", "[N,T,J,2] -> [N,T',J,3]"],
      ["srnet", "[N,T,17,2] -> [N,T',17,3]"],
      ["srnet_fc", "[N,T,17,2] -> [N,T',17,3]"],
    ]
  ) {
    assert.ok(help.includes(`  ${model}: `) && MODELS[model].summary.includes(layout), `${model} layout`);
    for (const key of Object.keys(MODELS[model].spec)) {
      assert.match(help, new RegExp(`\\n    ${key}=`), `${model} key ${key}`);
    }
  }
  for (const key of ["linear_size", "num_stage", "p_dropout"]) assert.ok(MODELS.martinez.spec[key], key);
  for (
    const key of [
      "num_joints_in",
      "in_features",
      "num_joints_out",
      "filter_widths",
      "causal",
      "dropout",
      "channels",
    ]
  ) {
    assert.ok(MODELS.videopose.spec[key] && MODELS.srnet.spec[key] && MODELS.srnet_fc.spec[key], key);
  }
  assert.match(help, /channel = 2·joint \+ coord/);
});
