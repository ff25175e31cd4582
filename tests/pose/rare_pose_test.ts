// Rare-pose protocol on hand-computed tiny sets.
import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  jointSigmas,
  occurrence,
  occurrenceParallel,
  poseSimilarity,
  rarestIndices,
} from "../../pose/rare_pose.ts";

const near = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

Deno.test("pose similarity: hand-computed two-joint poses", () => {
  // Root coincides (term 1); joint 1 differs by (1, 1, 0): d² = 2, σ = 1 → exp(−1).
  near(poseSimilarity([0, 0, 0, 1, 0, 0], [0, 0, 0, 2, 1, 0], { sigmas: 1 }), (1 + Math.exp(-1)) / 2, "PS");
  // Per-joint σ: σ₁ = 2 → exp(−2/8).
  near(
    poseSimilarity([0, 0, 0, 1, 0, 0], [0, 0, 0, 2, 1, 0], { sigmas: [1, 2] }),
    (1 + Math.exp(-0.25)) / 2,
    "σ₁=2",
  );
  // σ = 0: 1 when equal, 0 otherwise.
  near(poseSimilarity([0, 0, 0, 1, 0, 0], [0, 0, 0, 2, 1, 0], { sigmas: [0, 0] }), 0.5, "σ=0");
});

Deno.test("jointSigmas: per-axis spread of root-relative joints", () => {
  // Two poses, root at different places; joint 1 relative to root: (1,0,0) and (3,0,0) → mean (2,0,0),
  // mean ‖d‖² = 1 → σ = sqrt(1/3). The root is always 0 → σ 0.
  const train = Float64Array.from([5, 5, 5, 6, 5, 5, -1, 0, 0, 2, 0, 0]);
  const s = jointSigmas(train, { joints: 2 });
  near(s[0], 0, "root");
  near(s[1], Math.sqrt(1 / 3), "joint 1");
});

Deno.test("occurrence: mean PS over the training set, root-relative; rarest indices", () => {
  const train = Float64Array.from([
    0,
    0,
    0,
    1,
    0,
    0, // joint 1 at (1,0,0)
    10,
    10,
    10,
    11,
    10,
    10, // the same pose, translated
    0,
    0,
    0,
    0,
    1,
    0, // joint 1 at (0,1,0)
  ]);
  const test = Float64Array.from([
    3,
    3,
    3,
    4,
    3,
    3, // (1,0,0): d² 0, 0, 2
    0,
    0,
    0,
    0,
    1,
    0, // (0,1,0): d² 2, 2, 0
    0,
    0,
    0,
    0,
    0,
    5, // (0,0,5): d² 26, 26, 26
  ]);
  const occ = occurrence(test, train, { joints: 2, sigmas: 1 });
  const e1 = Math.exp(-1), e13 = Math.exp(-13);
  near(occ[0], ((1 + 1) + (1 + 1) + (1 + e1)) / 6, "pose 0");
  near(occ[1], ((1 + e1) + (1 + e1) + (1 + 1)) / 6, "pose 1");
  near(occ[2], 3 * (1 + e13) / 6, "pose 2");
  // Blocking does not change the result.
  assert.deepEqual(occurrence(test, train, { joints: 2, sigmas: 1, blockSize: 1 }), occ);
  assert.deepEqual(Array.from(rarestIndices(occ, 34)), [2]);
  assert.deepEqual(Array.from(rarestIndices(occ, 67)), [2, 1]);
  assert.deepEqual(Array.from(rarestIndices(occ, 100)), [2, 1, 0]);
  assert.deepEqual(Array.from(rarestIndices([0.5, 0.1, 0.1, 0.9], 50)), [1, 2], "ties by index");
  assert.deepEqual(Array.from(rarestIndices([0.5, 0.1], 1)), [1], "at least one");
  assert.deepEqual(Array.from(rarestIndices([0.5, 0.1], 0)), []);
});

Deno.test("occurrence with default σ ranks an outlier rarest", () => {
  // 40 poses near a template and one far away: the far one must come first.
  const joints = 3;
  const poses: number[] = [];
  let seed = 1;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  for (let i = 0; i < 40; i++) {
    poses.push(0, 0, 0, 100 + 10 * rnd(), 10 * rnd(), 0, 0, 100 + 10 * rnd(), 10 * rnd());
  }
  const train = Float64Array.from(poses);
  const test = Float64Array.from([...poses.slice(0, 9 * 5), 0, 0, 0, -100, 0, 0, 0, -100, 0]);
  const occ = occurrence(test, train, { joints });
  assert.deepEqual(Array.from(rarestIndices(occ, 10)), [5]);
});

Deno.test("rare pose: bad input throws InputError", () => {
  assert.throws(() => occurrence(new Float32Array(5), new Float32Array(6), { joints: 2 }), InputError);
  assert.throws(() => occurrence(new Float32Array(6), new Float32Array(0), { joints: 2 }), InputError);
  assert.throws(
    () => occurrence(new Float32Array(6), new Float32Array(6), { joints: 2, sigmas: [1] }),
    InputError,
  );
  assert.throws(() => rarestIndices([1], 120), InputError);
});

Deno.test("occurrenceParallel: Web Workers give bit-identical occurrences; bad input still throws", async () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  // 101 test poses (not a multiple of the worker count) against 40 training poses, 17 joints.
  const test = Float32Array.from({ length: 101 * 51 }, () => 400 * rnd());
  const train = Float32Array.from({ length: 40 * 51 }, () => 400 * rnd());
  const one = occurrence(test, train);
  for (const workers of [2, 3]) {
    const par = await occurrenceParallel(test, train, { workers, minPairs: 0 });
    assert.equal(par.length, one.length);
    for (let i = 0; i < one.length; i++) {
      assert.ok(Object.is(par[i], one[i]), `workers ${workers}, pose ${i}: ${par[i]} vs ${one[i]}`);
    }
  }
  const fixed = await occurrenceParallel(test, train, { workers: 2, minPairs: 0, sigmas: 50 });
  assert.deepEqual(fixed, occurrence(test, train, { sigmas: 50 }));
  await assert.rejects(
    () => occurrenceParallel(test, train, { workers: 2, minPairs: 0, sigmas: [1, 2] }),
    InputError,
  );
  await assert.rejects(() => occurrenceParallel(new Float32Array(50), train, { workers: 2 }), InputError);
});
