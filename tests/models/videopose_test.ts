// VideoPose3D and SRNet's FC baseline against PyTorch (tests/fixtures/gen_models.py), including the
// reference's sequence evaluation (edge padding, flip averaging). Tolerance in _parity.ts.
import assert from "node:assert/strict";
import { backend, initEngine, tensor, tidy } from "../../engine/mod.ts";
import * as ops from "../../engine/ops.ts";
import { backward, withGrad } from "../../engine/autograd.ts";
import { setBindingLimit } from "../../engine/chunking.ts";
import { manualSeed } from "../../engine/random.ts";
import { VideoPose } from "../../models/videopose.ts";
import { dispatchLabels } from "../_shared.ts";
import { assertClose, checkCase, ioTensor, loadCase } from "./_parity.ts";

await initEngine();

const CASES = [
  "videopose_t27",
  "videopose_causal",
  "videopose_dense",
  "videopose_single",
  "srnet_fc_single",
  "srnet_fc_t27",
  "srnet_fc_lcn",
];
for (const name of CASES) {
  Deno.test(`${name} matches PyTorch (forward, state dict, folded)`, () => checkCase(name));
}

for (const name of ["videopose_t27", "videopose_causal", "videopose_dense", "videopose_single"]) {
  Deno.test(`${name}: sequence inference with edge padding, with and without flip, matches PyTorch`, async () => {
    const { model, stateDict } = await loadCase(name);
    await model.loadStateDict(stateDict, { fold: true });
    const seq = await ioTensor(`${name}.seq_input`);
    const x = tensor(seq.data, seq.shape);
    const vp = model as VideoPose;
    for (const flip of [false, true]) {
      const y = tidy(() => vp.inferSequence(x, { flip }));
      assert.deepEqual(y.shape, [20, 17, 3]);
      const want = await ioTensor(`${name}.${flip ? "seq_output_flip" : "seq_output"}`);
      assertClose(await y.read(), want.data, `${name} sequence${flip ? " + flip" : ""}`);
      y.dispose();
    }
    x.dispose();
    model.dispose();
  });
}

for (const name of ["videopose_t27", "videopose_causal"]) {
  Deno.test(`${name}: one receptive-field window runs strided (TemporalModelOptimized1f), same output`, async () => {
    const { model, stateDict } = await loadCase(name);
    await model.loadStateDict(stateDict);
    model.eval();
    const vp = model as VideoPose;
    const io = await ioTensor(`${name}_opt1f.input`);
    const x = tensor(io.data, io.shape);
    const want = (await ioTensor(`${name}_opt1f.output`)).data;
    tidy(() => vp.forwardSingleFrame(x)).dispose(); // packs and caches the eval weights
    const single = await dispatchLabels(() => tidy(() => vp.forwardSingleFrame(x)));
    assert.deepEqual(single.result.shape, [3, 1, 17, 3]);
    assertClose(await single.result.read(), want, `${name} forwardSingleFrame`);
    // forward on exactly the receptive field takes the strided path in eval mode.
    const plain = await dispatchLabels(() => tidy(() => vp.forward(x)));
    assertClose(await plain.result.read(), want, `${name} forward`);
    assert.deepEqual(plain.labels, single.labels, "eval forward of one window = forwardSingleFrame");
    const longer = tensor(new Float32Array(3 * (io.shape[1] + 2) * 34), [3, io.shape[1] + 2, 17, 2]);
    assert.throws(() => vp.forwardSingleFrame(longer), /takes exactly the receptive field/);
    for (const t of [x, longer, single.result, plain.result]) t.dispose();
    model.dispose();
  });
}

Deno.test("videopose receptive fields of the reference architectures: 27 / 81 / 243", () => {
  for (const [fw, rf] of [[[3, 3, 3], 27], [[3, 3, 3, 3], 81], [[3, 3, 3, 3, 3], 243]] as const) {
    const m = new VideoPose({ filter_widths: [...fw], channels: 8 });
    assert.equal(m.receptiveField(), rf);
    m.dispose();
  }
  const causal = new VideoPose({ filter_widths: [3, 3, 3], channels: 8, causal: true });
  // The reference's total_causal_shift multiplies the (already dilated) shifts by the dilation again:
  // 1 + 3·3 + 9·9. Reproduced as is; sequence inference pads by the receptive field, as its evaluation.
  assert.equal(causal.totalCausalShift(), 91);
  causal.dispose();
});

Deno.test("videopose input errors name the expected layout and the receptive field", () => {
  const m = new VideoPose({ filter_widths: [3, 3], channels: 8 });
  const short = tensor(new Float32Array(2 * 5 * 17 * 2), [2, 5, 17, 2]);
  assert.throws(() => tidy(() => m.forward(short)), /5 frames, the receptive field is 9/);
  const wrong = tensor(new Float32Array(2 * 9 * 16 * 2), [2, 9, 16, 2]);
  assert.throws(() => tidy(() => m.forward(wrong)), /expected input \[N, T, 17, 2\]/);
  assert.throws(() => new VideoPose({ filter_widths: [3, 2] }), /only odd widths/);
  short.dispose();
  wrong.dispose();
  m.dispose();
});

Deno.test("srnet_fc norm=lcn needs single-frame widths; videopose has no norm key", async () => {
  const { SrnetFc } = await import("../../models/srnet_fc.ts");
  assert.throws(
    () => new SrnetFc({ norm: "lcn", filter_widths: [3, 3, 3] }),
    /norm=lcn.*receptive field is 27/,
  );
  assert.throws(() => new VideoPose({ norm: "lcn" } as Record<string, unknown>), /unknown config key norm/);
});

Deno.test("a VideoPose training step over split bindings equals the unsplit step (outputs and every gradient)", async () => {
  // A 64 KiB binding limit splits batch norm, dropout, the strided copies and the weight-gradient products
  // of this small model as VideoPose3D-243 at batch 1024 splits them under lavapipe's 128 MiB.
  manualSeed(1);
  const model = new VideoPose({ channels: 64, filter_widths: [3, 3, 3], dropout: 0.25 });
  const rf = model.receptiveField(), B = 64;
  const xs = new Float32Array(B * rf * 34).map((_, i) => Math.sin(i * 0.37));
  const step = async (limit: number | null) => {
    setBindingLimit(limit);
    try {
      manualSeed(5);
      model.train();
      const d0 = backend().getStats().dispatches;
      const x = tensor(xs, [B, rf, 17, 2]);
      const y = withGrad(() => {
        const y = model.forwardSingleFrame(x);
        backward(ops.mean(ops.square(y)));
        return y;
      });
      const dispatches = backend().getStats().dispatches - d0;
      const out = [await y.read()];
      for (const [, p] of model.namedParameters()) {
        out.push(await p.grad!.read());
        p.grad!.dispose();
        p.grad = null;
      }
      y.dispose();
      x.dispose();
      return { out, dispatches };
    } finally {
      setBindingLimit(null);
    }
  };
  const whole = await step(null), split = await step(65536);
  assert.ok(
    split.dispatches > whole.dispatches + 20,
    `split: ${split.dispatches} vs ${whole.dispatches} dispatches`,
  );
  const names = ["output", ...model.namedParameters().map(([n]) => `∂${n}`)];
  whole.out.forEach((w, k) => assertClose(split.out[k], w, names[k], 1e-4));
  model.dispose();
});
