// Our stateDict(), written with writeStateDict, loads into the PyTorch reference modules of
// tests/fixtures/gen_models.py with load_state_dict(strict=True) and gives the stored outputs there.
// Every fixture case (every model and variant of the lifting family) and SRNet at the official 1024
// channels (hash weights). Ignored, with a printed reason, when /usr/bin/python3 with torch is absent.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { writeStateDict } from "../../layers/mod.ts";
import { Srnet } from "../../models/srnet.ts";
import { fixture } from "../_shared.ts";
import { hashStateDict } from "./_hash_weights.ts";
import { loadCase, RTOL } from "./_parity.ts";

const SCRIPT = `
import json, sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
import st, gen_models as g
torch.set_grad_enabled(False)
out = {}
io, _ = st.load(sys.argv[1] + "/models_io.safetensors")
for case, path in json.loads(sys.argv[2]).items():
    tensors, meta = st.load(path)
    cfg = json.loads(meta["config"])
    name = meta["model"]
    if name == "martinez": m = g.Martinez(**cfg)
    elif name == "videopose": m = g.TemporalConvNet(**cfg)
    elif name == "srnet_fc": m = g.TemporalConvNet(**cfg, dropout=0.0, leaky=True)
    elif name == "srnet": m = g.Srnet(**cfg)
    elif name == "dual_channel": m = g.DualChannel(**cfg)
    else: raise KeyError(name)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    y = m.eval()(torch.from_numpy(io[case + ".input"])).numpy()
    ref = io[case + ".output"]
    out[case] = [float(np.abs(y - ref).max()), float(np.abs(ref).max())]
print(json.dumps(out))
`;

async function torchAvailable(): Promise<boolean> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", { args: ["-c", "import torch"], stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

const LIFTERS = new Set(["martinez", "videopose", "srnet", "srnet_fc", "dual_channel"]);
/** Every fixture case of gen_models.py: models_<case>.safetensors besides the io and gradient files. */
const CASES = [...Deno.readDirSync(fixture(""))]
  .map((e) => /^models_(.+)\.safetensors$/.exec(e.name)?.[1])
  .filter((c): c is string => c !== undefined && c !== "io" && c !== "grads")
  .sort();
const SRNET_1024: [string, Record<string, unknown>][] = [
  ["srnet_1024_multiply", { channels: 1024 }],
  ["srnet_1024_concat", { channels: 1024, recombine: "concat" }],
  ["srnet_1024_t27_multiply", { channels: 1024, filter_widths: [3, 3, 3] }],
  ["srnet_1024_all_multiply", { channels: 1024, split: "all" }],
];

const torch = await torchAvailable();
if (!torch) console.warn("torch_roundtrip_test: ignored: /usr/bin/python3 with torch is not available");

Deno.test({
  name: "stateDict() written by posegpu loads strictly into PyTorch and reproduces the outputs (every case)",
  ignore: !torch,
  async fn(t) {
    await initEngine();
    assert.ok(CASES.length >= 34, `only ${CASES.length} fixture cases found`);
    const dir = await Deno.makeTempDir();
    const paths: Record<string, string> = {};
    for (const name of CASES) {
      const { model, stateDict, modelName, config } = await loadCase(name);
      assert.ok(LIFTERS.has(modelName), `${name}: unexpected model ${modelName}`);
      await model.loadStateDict(stateDict);
      paths[name] = `${dir}/${name}.safetensors`;
      await writeStateDict(paths[name], await model.stateDict(), {
        metadata: { model: modelName, config: JSON.stringify(config) },
      });
      model.dispose();
    }
    for (const [name, config] of SRNET_1024) {
      const m = new Srnet(config);
      const shapes = await m.stateDict();
      await m.loadStateDict(hashStateDict([...shapes].map(([k, t]) => [k, t.shape])), { strict: false });
      paths[name] = `${dir}/${name}.safetensors`;
      await writeStateDict(paths[name], await m.stateDict(), {
        metadata: { model: "srnet", config: JSON.stringify(config) },
      });
      m.dispose();
    }
    const fixtures = fixture("").replace(/\/$/, "");
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", SCRIPT, fixtures, JSON.stringify(paths)],
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.ok(r.success, err);
    const res: Record<string, [number, number]> = JSON.parse(new TextDecoder().decode(r.stdout));
    for (const name of Object.keys(paths)) {
      await t.step(name, () => {
        const [e, scale] = res[name];
        assert.ok(e <= RTOL * scale, `${name}: ${e} > ${RTOL} × ${scale}`);
      });
    }
    await Deno.remove(dir, { recursive: true });
  },
});
