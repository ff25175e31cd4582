// Module base: state-dict loading rules (strict errors listing every key, DataParallel prefix, prefix
// option, dtype checks), stateDict round trip through safetensors, modes, folding, containers.
import assert from "node:assert/strict";
import { initEngine, InputError, readSafetensors, tensor, tidy } from "../../engine/mod.ts";
import {
  BatchNorm1d,
  BatchNorm2d,
  Dropout,
  Linear,
  Module,
  ModuleList,
  readStateDict,
  ReLU,
  Sequential,
  type StateDict,
  writeStateDict,
} from "../../layers/mod.ts";
import { Martinez } from "../../models/martinez.ts";
import { fixture } from "../_shared.ts";

await initEngine();

const small = async (): Promise<StateDict> =>
  (await readSafetensors(fixture("models_martinez_small.safetensors"))).tensors;

Deno.test("strict loading reports every missing, unexpected and wrong-shape key in one InputError", async () => {
  const sd = await small();
  sd.delete("w1.bias");
  sd.delete("linear_stages.1.batch_norm2.running_var");
  sd.set("extra.weight", { dtype: "F32", shape: [1], data: new Float32Array(1) });
  sd.set("w2.weight", { dtype: "F32", shape: [48, 63], data: new Float32Array(48 * 63) });
  sd.set("w2.bias", { dtype: "I32", shape: [48], data: new Int32Array(48) });
  const m = new Martinez({ linear_size: 64 });
  await assert.rejects(() => m.loadStateDict(sd), (e: Error) => {
    assert.ok(e instanceof InputError);
    for (
      const s of [
        "2 missing keys",
        "w1.bias",
        "linear_stages.1.batch_norm2.running_var",
        "1 unexpected key",
        "extra.weight",
        "2 wrong-shape keys",
        "w2.weight: got [48, 63], expected [48, 64]",
        "w2.bias: got dtype I32",
      ]
    ) assert.ok(e.message.includes(s), `message lacks "${s}":\n${e.message}`);
    return true;
  });
  m.dispose();
});

Deno.test("non-strict loading returns what did not match; wrong shapes still fail", async () => {
  const sd = await small();
  sd.delete("w1.bias");
  sd.set("extra", { dtype: "F32", shape: [1], data: new Float32Array(1) });
  const m = new Martinez({ linear_size: 64 });
  const r = await m.loadStateDict(sd, { strict: false });
  assert.deepEqual(r, { missing: ["w1.bias"], unexpected: ["extra"] });
  sd.set("w1.weight", { dtype: "F32", shape: [64, 31], data: new Float32Array(64 * 31) });
  await assert.rejects(() => m.loadStateDict(sd, { strict: false }), /w1\.weight: got \[64, 31\]/);
  m.dispose();
});

Deno.test("a DataParallel `module.` prefix is stripped; `prefix` selects a sub-tree", async () => {
  const sd = await small();
  const dp: StateDict = new Map([...sd].map(([k, v]) => [`module.${k}`, v]));
  const m = new Martinez({ linear_size: 64 });
  assert.deepEqual(await m.loadStateDict(dp), { missing: [], unexpected: [] });
  const back = await m.stateDict();
  assert.deepEqual(back.get("w1.weight")!.data, sd.get("w1.weight")!.data);
  const nested: StateDict = new Map([...sd].map(([k, v]) => [`basic.${k}`, v]));
  nested.set("refine.w1.weight", { dtype: "F32", shape: [1], data: new Float32Array(1) });
  await m.loadStateDict(nested, { prefix: "basic." });
  m.dispose();
});

Deno.test("stateDict → safetensors → readStateDict is exact, counters as I64 scalars", async () => {
  const sd = await small();
  const m = new Martinez({ linear_size: 64 });
  await m.loadStateDict(sd);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await writeStateDict(path, await m.stateDict(), { metadata: { note: "roundtrip" } });
  const { stateDict, metadata } = await readStateDict(path);
  assert.equal(metadata.note, "roundtrip");
  assert.equal(stateDict.size, sd.size);
  for (const [k, t] of sd) {
    assert.equal(stateDict.get(k)!.dtype, t.dtype, k);
    assert.deepEqual(stateDict.get(k)!.shape, t.shape, k);
    assert.deepEqual(stateDict.get(k)!.data, t.data, k);
  }
  assert.equal(stateDict.get("batch_norm1.num_batches_tracked")!.dtype, "I64");
  await Deno.remove(path);
  m.dispose();
});

Deno.test("modes: new modules are in eval; train()/eval() recurse; train() undoes a fold", async () => {
  const m = new Martinez({ linear_size: 8, num_stage: 1 });
  assert.equal(m.training, false);
  m.train();
  assert.ok(m.modules().every((x) => x.training));
  await assert.rejects(() => m.foldBatchNorm(), /eval mode/);
  m.eval();
  assert.equal(await m.foldBatchNorm(), 3);
  assert.ok(m.w1.folded && m.batch_norm1!.folded);
  m.train();
  assert.ok(!m.w1.folded && !m.batch_norm1!.folded);
  assert.equal(m.parameters().length, 14); // weight and bias of 4 Linear and 3 BatchNorm1d
  m.dispose();
});

Deno.test("Linear + BatchNorm1d fold: same output, original weights kept", async () => {
  const fc = new Linear(6, 5);
  const bn = new BatchNorm1d(5);
  const host = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  class Pair extends Module {
    readonly fc = this.addModule("fc", fc);
    readonly bn = this.addModule("bn", bn);
    forward(x: ReturnType<typeof tensor>) {
      return this.bn.forward(this.fc.forward(x));
    }
    protected override foldPairs() {
      return [{ layers: [this.fc], norm: this.bn }];
    }
  }
  const p = new Pair();
  await p.loadStateDict(
    new Map([
      ["fc.weight", { dtype: "F32", shape: [5, 6], data: host(30, (i) => Math.sin(i)) }],
      ["fc.bias", { dtype: "F32", shape: [5], data: host(5, (i) => i / 10) }],
      ["bn.weight", { dtype: "F32", shape: [5], data: host(5, (i) => 1 + i / 5) }],
      ["bn.bias", { dtype: "F32", shape: [5], data: host(5, (i) => -i / 7) }],
      ["bn.running_mean", { dtype: "F32", shape: [5], data: host(5, (i) => i / 3) }],
      ["bn.running_var", { dtype: "F32", shape: [5], data: host(5, (i) => 0.5 + i) }],
      ["bn.num_batches_tracked", { dtype: "I64", shape: [], data: Int32Array.of(3) }],
    ]),
  );
  const x = tensor(host(4 * 6, (i) => Math.cos(i)), [4, 6]);
  const a = await tidy(() => p.forward(x)).read();
  await p.foldBatchNorm();
  const b = await tidy(() => p.forward(x)).read();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${a[i]} vs ${b[i]}`);
  assert.deepEqual((await p.stateDict()).get("fc.weight")!.data, host(30, (i) => Math.sin(i)));
  p.dispose();
});

Deno.test("BatchNorm1d training: batch statistics, PyTorch running-stat update, counter", async () => {
  const bn = new BatchNorm1d(2, { momentum: 0.1 }).train();
  const x = tensor([1, 10, 2, 20, 3, 30, 6, 40], [4, 2]);
  const y = await tidy(() => bn.forward(x)).read();
  // Channel 0: mean 3, biased var 3.5; normalised (1 − 3)/√(3.5 + 1e-5).
  assert.ok(Math.abs(y[0] - (1 - 3) / Math.sqrt(3.5 + 1e-5)) < 1e-5);
  const sd = await bn.stateDict();
  const rm = sd.get("running_mean")!.data, rv = sd.get("running_var")!.data;
  assert.ok(Math.abs(rm[0] - 0.3) < 1e-6 && Math.abs(rm[1] - 2.5) < 1e-5);
  // Unbiased variance: 3.5 · 4/3; channel 1: mean 25, biased var 125 → 166.67.
  assert.ok(Math.abs(rv[0] - (0.9 + 0.1 * 3.5 * 4 / 3)) < 1e-5);
  assert.ok(Math.abs(rv[1] - (0.9 + 0.1 * 125 * 4 / 3)) < 1e-4);
  assert.equal(sd.get("num_batches_tracked")!.data[0], 1);
  bn.eval();
  const z = await tidy(() => bn.forward(x)).read();
  assert.ok(Math.abs(z[0] - (1 - rm[0]) / Math.sqrt(rv[0] + 1e-5)) < 1e-5);
  x.dispose();
  bn.dispose();
});

Deno.test("Dropout: identity in eval, inverted dropout in training", async () => {
  const d = new Dropout(0.25);
  const x = tensor(new Float32Array(4000).fill(1), [40, 100]);
  assert.equal(d.forward(x), x);
  d.train();
  const y = await tidy(() => d.forward(x)).read();
  const zeros = y.filter((v) => v === 0).length;
  assert.ok(zeros > 850 && zeros < 1150, `${zeros} zeros of 4000 at p = 0.25`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  assert.throws(() => new Dropout(1), /\[0, 1\)/);
  x.dispose();
});

Deno.test("containers name children 0, 1, … and Sequential chains them", async () => {
  const seq = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2));
  assert.deepEqual(seq.stateDictKeys(), ["0.weight", "0.bias", "2.weight", "2.bias"]);
  const y = tidy(() => seq.forward(tensor([1, 2, 3], [1, 3])));
  assert.deepEqual(y.shape, [1, 2]);
  const list = new ModuleList([new BatchNorm1d(2)]);
  assert.deepEqual(list.stateDictKeys().slice(0, 2), ["0.weight", "0.bias"]);
  assert.throws(() => list.at(3), RangeError);
  assert.equal((await y.read()).length, 2);
  seq.dispose();
  list.dispose();
});

Deno.test("BatchNorm2d normalises channel axis 1 of [N, C, H, W] with running statistics", async () => {
  const bn = new BatchNorm2d(2);
  await bn.loadStateDict(
    new Map([
      ["weight", { dtype: "F32", shape: [2], data: Float32Array.of(2, 3) }],
      ["bias", { dtype: "F32", shape: [2], data: Float32Array.of(0.5, -1) }],
      ["running_mean", { dtype: "F32", shape: [2], data: Float32Array.of(1, -2) }],
      ["running_var", { dtype: "F32", shape: [2], data: Float32Array.of(4, 0.25) }],
      ["num_batches_tracked", { dtype: "I64", shape: [], data: Int32Array.of(0) }],
    ]),
  );
  const x = tensor(Float32Array.from({ length: 2 * 2 * 2 * 2 }, (_, i) => i), [2, 2, 2, 2]);
  const y = await tidy(() => bn.forward(x)).read();
  for (let i = 0; i < 16; i++) {
    const c = Math.floor(i / 4) % 2;
    const want = c === 0 ? (i - 1) / Math.sqrt(4 + 1e-5) * 2 + 0.5 : (i + 2) / Math.sqrt(0.25 + 1e-5) * 3 - 1;
    assert.ok(Math.abs(y[i] - want) < 1e-4, `${i}: ${y[i]} vs ${want}`);
  }
  assert.throws(() => bn.forward(tensor(new Float32Array(4), [2, 2])), /\[N, C, H, W\]/);
  x.dispose();
  bn.dispose();
});
