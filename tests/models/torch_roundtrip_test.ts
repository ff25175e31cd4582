// Our stateDict(), written with writeStateDict, loads into the PyTorch reference modules of
// tests/fixtures/gen_models.py with load_state_dict(strict=True) and gives the stored outputs there.
// Skipped (with a printed reason) when /usr/bin/python3 with torch is absent.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { writeStateDict } from "../../layers/mod.ts";
import { fixture } from "../_shared.ts";
import { loadCase, RTOL } from "./_parity.ts";

const SCRIPT = `
import json, sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
import st, gen_models as g
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
    else: m = g.DualChannel(**cfg)
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

const CASES = [
  "martinez_no_bn",
  "videopose_t27",
  "srnet_fc_t27",
  "srnet_t27_concat",
  "srnet_t27_multiply",
  "srnet_lf",
  "dual_channel",
];

Deno.test("stateDict() written by posegpu loads strictly into PyTorch and reproduces the outputs", async (t) => {
  if (!(await torchAvailable())) {
    console.warn("skipping: /usr/bin/python3 with torch is not available");
    return;
  }
  await initEngine();
  const dir = await Deno.makeTempDir();
  const paths: Record<string, string> = {};
  for (const name of CASES) {
    const { model, stateDict, modelName, config } = await loadCase(name);
    await model.loadStateDict(stateDict);
    paths[name] = `${dir}/${name}.safetensors`;
    await writeStateDict(paths[name], await model.stateDict(), {
      metadata: { model: modelName, config: JSON.stringify(config) },
    });
    model.dispose();
  }
  const fixtures = fixture("").replace(/\/$/, "");
  const r = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", SCRIPT, fixtures, JSON.stringify(paths)],
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, err);
  const res: Record<string, [number, number]> = JSON.parse(new TextDecoder().decode(r.stdout));
  for (const name of CASES) {
    await t.step(name, () => {
      const [e, scale] = res[name];
      assert.ok(e <= RTOL * scale, `${name}: ${e} > ${RTOL} × ${scale}`);
    });
  }
  await Deno.remove(dir, { recursive: true });
});
