import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { Normalizer, normalizeScreen, unnormalizeScreen } from "../../pose/normalize.ts";
import { fixture } from "../_shared.ts";

const fx = JSON.parse(Deno.readTextFileSync(fixture("pose_fixtures.json")));

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const t = tol * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= t, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

Deno.test("screen normalisation X/w*2 - [1, h/w] (NumPy oracle) and its inverse", () => {
  const s = fx.screen;
  const size = { width: s.width, height: s.height };
  const n = normalizeScreen(Float32Array.from(s.coords), size);
  close(n, s.expected, 1e-6, "normalised");
  close(unnormalizeScreen(n, size), s.coords, 1e-6, "inverse");
  // Hand-computed: the image centre maps to (0, 0); (0, 0) maps to (-1, -h/w).
  close(normalizeScreen(Float32Array.of(500, 501, 0, 0), size), [0, 0, -1, -1.002], 1e-7, "hand");
  assert.throws(() => normalizeScreen(Float32Array.of(1, 2, 3), size), InputError);
  assert.throws(() => normalizeScreen(Float32Array.of(1, 2), { width: 0, height: 5 }), InputError);
});

Deno.test("Normalizer statistics, normalize and denormalize match 3d-pose-baseline (NumPy oracle)", () => {
  const c = fx.normalizer;
  const data = Float32Array.from(c.data);
  const norm = Normalizer.fromData(data, c.dims, { dimUse: c.dim_use });
  close(norm.mean, c.mean, 1e-6, "mean");
  close(norm.std, c.std, 1e-6, "std");
  assert.equal(norm.std[4], 1); // constant column
  assert.equal(norm.usedDims, 4);
  close(norm.normalize(data), c.normalized, 1e-5, "normalized");
  close(norm.denormalize(norm.normalize(data)), c.denormalized, 1e-5, "denormalized");
});

Deno.test("Normalizer metadata round trip is exact and rejects bad metadata", () => {
  const c = fx.normalizer;
  const norm = Normalizer.fromData(Float32Array.from(c.data), c.dims, { dimUse: c.dim_use });
  const meta = norm.toMetadata("input_");
  assert.deepEqual(Object.keys(meta), ["input_mean", "input_std", "input_dim_use"]);
  for (const v of Object.values(meta)) assert.equal(typeof v, "string");
  const back = Normalizer.fromMetadata(meta, "input_");
  assert.deepEqual(back.mean, norm.mean);
  assert.deepEqual(back.std, norm.std);
  assert.deepEqual(back.dimUse, norm.dimUse);
  assert.throws(() => Normalizer.fromMetadata({}, "input_"), /missing "input_mean"/);
  assert.throws(() => Normalizer.fromMetadata({ ...meta, input_std: "[1, 0" }, "input_"), /not valid JSON/);
  assert.throws(
    () => Normalizer.fromMetadata({ ...meta, input_std: JSON.stringify([1, 0, 1, 1, 1, 1]) }, "input_"),
    /std\[1\] is 0/,
  );
  assert.throws(() => Normalizer.fromData(Float32Array.of(1, NaN), 2), /row 0 dimension 1 is NaN/);
  assert.throws(() => Normalizer.fromData(new Float32Array(0), 2), InputError);
});
