// PoseFix synthesis: error-type frequencies against the probabilities of posefix_synthesis.md (written out
// independently below) within 5σ binomial bounds, offsets within their radius bands, determinism.
import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  boxIou,
  nearPersons,
  seededRandom,
  type SynthesisErrorType,
  synthesizePose,
} from "../../pose/synthesis.ts";

const SIGMAS = [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89].map((
  s,
) => s / 10);
const PAIR = [-1, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15];
const TYPES: SynthesisErrorType[] = ["good", "jitter", "miss", "inversion", "swap"];

/** The md's table, per joint, with impossible types removed and the rest renormalised. */
function expected(j: number, valid: number, near: number, invPossible: boolean, swapPossible: boolean) {
  const face = j <= 4, upper = j >= 5 && j <= 10, lower = j >= 11;
  const nka = j === 0 || j === 13 || j === 14 || j === 15 || j === 16;
  const hips = j === 11 || j === 12;
  let jitter = valid <= 10 ? (nka ? .15 : hips ? .25 : .20) : (nka ? .10 : hips ? .20 : .15);
  const sa = [5, 6, 15, 16].includes(j);
  let miss = valid <= 5
    ? (face ? .15 : sa ? .20 : .25)
    : valid <= 10
    ? (face ? .10 : sa ? .13 : .15)
    : (face ? .02 : sa ? .05 : .10);
  let inversion = face ? .01 : upper ? .03 : .06;
  const crowded = (valid <= 10 && near >= 1) || (valid <= 15 && near >= 3);
  let swap = crowded ? (face ? .02 : upper ? .15 : .10) : (face ? .01 : upper ? .06 : .03);
  let good = 1 - (jitter + miss + inversion + swap);
  void lower;
  if (!invPossible) inversion = 0;
  if (!swapPossible) swap = 0;
  const total = good + jitter + miss + inversion + swap;
  [good, jitter, miss, inversion, swap] = [good, jitter, miss, inversion, swap].map((p) => p / total);
  return { good, jitter, miss, inversion, swap } as Record<SynthesisErrorType, number>;
}

function bands(area: number, j: number) {
  const vars = (2 * SIGMAS[j]) ** 2;
  return [0.85, 0.5, 0.1].map((ks) => Math.sqrt(-2 * area * vars * Math.log(ks)));
}

const dist = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Runs `persons` draws and checks every joint's type counts and every offset. */
function checkScene(opts: {
  gt: number[];
  near: number[][];
  area: number;
  persons: number;
  seed: number;
}) {
  const { gt, near, area, persons } = opts;
  const valid = [...Array(17).keys()].filter((j) => gt[3 * j + 2] > 0).length;
  const counts = Array.from(
    { length: 17 },
    () => ({ good: 0, jitter: 0, miss: 0, inversion: 0, swap: 0, none: 0 }),
  );
  const random = seededRandom(opts.seed);
  let joints = 0;
  for (let n = 0; n < persons; n++) {
    const { keypoints, types } = synthesizePose({ keypoints: gt, area }, { random, near });
    for (let j = 0; j < 17; j++) {
      const t = types[j];
      if (t === null) {
        counts[j].none++;
        assert.equal(keypoints[3 * j + 2], 0);
        continue;
      }
      joints++;
      counts[j][t]++;
      assert.equal(keypoints[3 * j + 2], 1);
      const p = [keypoints[3 * j], keypoints[3 * j + 1]];
      const theta = [gt[3 * j], gt[3 * j + 1]];
      const [d85, d50, d10] = bands(area, j);
      const pair = PAIR[j];
      const inv = pair >= 0 && gt[3 * pair + 2] > 0 ? [gt[3 * pair], gt[3 * pair + 1]] : null;
      const swaps = near.flatMap((q) =>
        [j, pair].filter((i) => i >= 0 && q[3 * i + 2] > 0).map((i) => [q[3 * i], q[3 * i + 1]])
      );
      const anchors = [theta, ...swaps, ...(inv ? [inv] : [])];
      const d = dist(p, theta);
      if (t === "good") assert.ok(d < d85, `good ${d} < ${d85}`);
      if (t === "jitter") assert.ok(d >= d85 && d < d50, `jitter ${d} in [${d85}, ${d50})`);
      if (t === "inversion") {
        assert.ok(inv !== null && dist(p, inv) < d50, "inversion near the symmetric joint");
      }
      if (t === "swap") assert.ok(swaps.some((s) => dist(p, s) < d50), "swap near a near person's joint");
      if (t === "miss") {
        assert.ok(anchors.every((a) => dist(p, a) > d50 - 1e-9), "miss ≥ d50 from every anchor");
        assert.ok(anchors.some((a) => dist(p, a) < d10), "miss within d10 of its anchor");
      }
    }
  }
  const pooled = new Map<string, { count: number; mean: number; variance: number }>();
  for (let j = 0; j < 17; j++) {
    if (!(gt[3 * j + 2] > 0)) {
      assert.equal(counts[j].none, persons, `joint ${j} unlabelled → left out`);
      continue;
    }
    const pair = PAIR[j];
    const invPossible = pair >= 0 && gt[3 * pair + 2] > 0;
    const swapPossible = near.some((q) => q[3 * j + 2] > 0 || (pair >= 0 && q[3 * pair + 2] > 0));
    const e = expected(j, valid, near.length, invPossible, swapPossible);
    const group = j <= 4 ? "face" : j <= 10 ? "upper" : "lower";
    for (const t of TYPES) {
      const np = persons * e[t];
      const bound = 5 * Math.sqrt(persons * e[t] * (1 - e[t])) + 1;
      assert.ok(
        Math.abs(counts[j][t] - np) <= bound,
        `joint ${j} ${t}: ${counts[j][t]} vs expected ${np.toFixed(1)} ± ${bound.toFixed(1)}`,
      );
      const acc = pooled.get(`${group} ${t}`) ?? { count: 0, mean: 0, variance: 0 };
      acc.count += counts[j][t];
      acc.mean += np;
      acc.variance += persons * e[t] * (1 - e[t]);
      pooled.set(`${group} ${t}`, acc);
    }
  }
  for (const [name, { count, mean, variance }] of pooled) {
    const bound = 5 * Math.sqrt(variance) + 1;
    assert.ok(
      Math.abs(count - mean) <= bound,
      `${name}: ${count} vs ${mean.toFixed(1)} ± ${bound.toFixed(1)}`,
    );
  }
  return joints;
}

// Joints 300 px apart, a near person 5000 px below: with area 10⁴ every band (d10 ≤ 46 px) is far from
// other anchors, so no candidate is ever rejected and frequencies are the table's.
const spread = (y: number) => [...Array(17).keys()].flatMap((j) => [300 * j, y, 2]);

Deno.test("all joints labelled, one near person: ≥ 10⁵ joints match the stated probabilities", () => {
  const joints = checkScene({ gt: spread(0), near: [spread(5000)], area: 1e4, persons: 6000, seed: 7 });
  assert.ok(joints >= 1e5, `${joints} joints drawn`);
});

Deno.test("8 labelled joints, no near person: swap and missing-pair inversions renormalised away", () => {
  const gt = spread(0);
  const labelled = new Set([0, 1, 3, 5, 6, 9, 11, 13]); // 1, 3, 9, 11, 13 lack their pair; 5–6 is a pair
  for (let j = 0; j < 17; j++) if (!labelled.has(j)) gt[3 * j + 2] = 0;
  checkScene({ gt, near: [], area: 1e4, persons: 5000, seed: 11 });
});

Deno.test("5 labelled joints, three near persons (crowded): miss and swap rise", () => {
  const gt = spread(0);
  for (let j = 5; j < 17; j++) gt[3 * j + 2] = 0;
  checkScene({ gt, near: [spread(3000), spread(6000), spread(9000)], area: 1e4, persons: 4000, seed: 3 });
});

Deno.test("the same seed gives the same pose; another seed a different one", () => {
  const person = { keypoints: spread(0), area: 1e4 };
  const a = synthesizePose(person, { random: seededRandom(42), near: [spread(500)] });
  const b = synthesizePose(person, { random: seededRandom(42), near: [spread(500)] });
  const c = synthesizePose(person, { random: seededRandom(43), near: [spread(500)] });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.keypoints, c.keypoints);
  // The generator is uniform on [0, 1): mean 1/2, variance 1/12 over 10⁵ draws.
  const r = seededRandom(1);
  let s = 0, s2 = 0;
  for (let i = 0; i < 1e5; i++) {
    const u = r();
    assert.ok(u >= 0 && u < 1);
    s += u;
    s2 += u * u;
  }
  assert.ok(Math.abs(s / 1e5 - 0.5) < 0.005);
  assert.ok(Math.abs(s2 / 1e5 - s * s / 1e10 - 1 / 12) < 0.002);
});

Deno.test("estimated pose: unlabelled joints are synthesised around it", () => {
  const gt = spread(0);
  gt[3 * 16 + 2] = 0;
  const estimated = spread(0).map((v, i) => (i === 3 * 16 ? v + 20 : v));
  const { types, keypoints } = synthesizePose({ keypoints: gt, area: 1e4 }, {
    random: seededRandom(9),
    estimated,
  });
  assert.notEqual(types[16], null);
  assert.ok(Math.hypot(keypoints[48] - (300 * 16 + 20), keypoints[49]) < 200);
});

Deno.test("near persons by box IoU ≥ 0.1; bad input throws InputError", () => {
  assert.equal(boxIou([0, 0, 10, 10], [5, 0, 10, 10]), 50 / 150);
  assert.deepEqual(nearPersons([[0, 0, 10, 10], [5, 0, 10, 10], [9.5, 0, 10, 10], [100, 0, 5, 5]], 0), [1]);
  const random = seededRandom(1);
  assert.throws(() => synthesizePose({ keypoints: [1, 2, 3], area: 1 }, { random }), InputError);
  assert.throws(() => synthesizePose({ keypoints: spread(0), area: 0 }, { random }), InputError);
  assert.throws(() => synthesizePose({ keypoints: spread(0), area: 1 }, { random, near: [[1]] }), InputError);
});
