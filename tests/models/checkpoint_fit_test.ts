// Weights that do not fit the model: a checkpoint whose metadata (joint order, normalisation kind and
// statistics, units) and tensors (missing, unexpected, wrong-shape keys) are wrong is one InputError from
// loadLifter that names the file and lists every mismatch; nothing is left on the GPU afterwards.
import assert from "node:assert/strict";
import { backend, initEngine, InputError } from "../../engine/mod.ts";
import { readSafetensors, writeSafetensors } from "../../engine/safetensors.ts";
import { loadLifter } from "../../models/lifter.ts";
import { writeTestCheckpoint } from "../cli/_lifter.ts";

await initEngine();

async function failure(path: string): Promise<string> {
  const err = await loadLifter(path).then(() => null, (e: Error) => e);
  assert.ok(err instanceof InputError, `expected an InputError, got ${err}`);
  return err.message;
}

Deno.test("loadLifter: one error lists every metadata and tensor mismatch, naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_fit_" });
  try {
    const good = `${dir}/good.safetensors`;
    await writeTestCheckpoint(good);
    const file = await readSafetensors(good);
    const base = backend().getStats();
    const write = async (
      name: string,
      edit: { meta?: (m: Record<string, string>) => void; tensors?: (t: Map<string, unknown>) => void },
    ): Promise<string> => {
      const metadata = { ...file.metadata };
      edit.meta?.(metadata);
      const tensors = new Map([...file.tensors].map(([k, t]) => [k, { shape: [...t.shape], data: t.data }]));
      edit.tensors?.(tensors as Map<string, unknown>);
      const path = `${dir}/${name}`;
      await writeSafetensors(path, Object.fromEntries(tensors) as never, { metadata });
      return path;
    };
    // Everything wrong at once.
    const bad = await write("bad.safetensors", {
      meta: (m) => {
        const names = m.joints_in.split(",");
        [names[0], names[3]] = [names[3], names[0]]; // wrong joint order
        m.joints_in = names.join(",");
        const norm = JSON.parse(m.normalization);
        norm.input.std[5] = -1; // a negative std
        norm.output.mean.pop(); // 47 of 48 output means
        m.normalization = JSON.stringify(norm);
        m.units = "m";
      },
      tensors: (t) => {
        const w = t.get("w1.weight") as { shape: number[]; data: Float32Array };
        t.set("w1.weight", {
          shape: [w.shape[0], w.shape[1] - 2],
          data: w.data.slice(0, w.shape[0] * (w.shape[1] - 2)),
        });
        t.delete("w2.bias");
        t.set("extra.weight", { shape: [2], data: new Float32Array(2) });
      },
    });
    const msg = await failure(bad);
    assert.match(msg, /bad\.safetensors: not a valid posegpu checkpoint \(5 problems\)/);
    assert.match(msg, /"joints_in" is .*first difference at position 0/);
    assert.match(msg, /normalization\.input\.std must be 32 positive finite numbers/);
    assert.match(msg, /normalization\.output\.mean must be 48 finite numbers/);
    assert.match(msg, /"units" is "m"/);
    assert.match(msg, /1 missing key:\s+w2\.bias/);
    assert.match(msg, /1 unexpected key:\s+extra\.weight/);
    assert.match(msg, /wrong-shape key:\s+w1\.weight: got \[64, 30\], expected \[64, 32\]/);
    // Normalisation of the wrong kind for the model, alone.
    const kind = await write("kind.safetensors", {
      meta: (m) => {
        m.normalization = JSON.stringify({
          ...JSON.parse(m.normalization),
          kind: "screen",
          outputScale: 1000,
        });
      },
    });
    assert.match(
      await failure(kind),
      /kind\.safetensors: .*1 problem\):\s+normalization\.kind is "screen" but martinez uses "zscore"/s,
    );
    // Right metadata, wrong tensors: still named by file, all keys listed.
    const shapes = await write("shapes.safetensors", {
      tensors: (t) => {
        t.delete("w1.bias");
        t.delete("w2.weight");
      },
    });
    const sm = await failure(shapes);
    assert.match(
      sm,
      /^[^\n]*shapes\.safetensors: state dict does not match Martinez: 2 missing keys:\s+w1\.bias\s+w2\.weight/,
    );
    // Nothing left on the GPU by the failed loads.
    const end = backend().getStats();
    assert.equal(end.liveBuffers, base.liveBuffers, "live buffers after the failed loads");
    assert.equal(end.liveBytes, base.liveBytes);
    // And the untouched file still loads.
    (await loadLifter(good)).dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
