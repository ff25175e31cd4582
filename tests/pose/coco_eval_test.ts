// COCO keypoint evaluation: the shared sample against pycocotools' numbers, and hand-built cases that
// exercise every branch of cocoeval.py (hand-computed expectations in the comments).
import assert from "node:assert/strict";
import { sharedData } from "../_shared.ts";
import { InputError } from "../../engine/errors.ts";
import { command } from "../../cli/commands/eval.ts";
import {
  type CocoKeypointStats,
  evaluateCocoKeypointFiles,
  evaluateCocoKeypoints,
  formatCocoSummary,
  objectKeypointSimilarity,
} from "../../pose/coco_eval.ts";

const gtPath = sharedData("coco/person_keypoints_sample.json");
const dtPath = sharedData("coco/predictions_sample.json");

Deno.test({
  name:
    "shared COCO sample matches pycocotools 2.0.11 (AP .861 AP50 .993 AP75 .911 APm .776 APl .937 AR .875)",
  ignore: gtPath === null || dtPath === null,
  fn: async () => {
    const { stats } = await evaluateCocoKeypointFiles(gtPath!, dtPath!);
    const expected = { AP: 0.861, AP50: 0.993, AP75: 0.911, APm: 0.776, APl: 0.937, AR: 0.875 };
    for (const [k, v] of Object.entries(expected)) {
      const got = stats[k as keyof CocoKeypointStats];
      assert.ok(Math.abs(got - v) <= 0.001, `${k}: got ${got}, expected ${v}`);
    }
    assert.equal(
      formatCocoSummary(stats).split("\n")[0],
      " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.861",
    );
  },
});

// Three keypoints with equal sigma 0.1: vars = 0.04, so OKS = exp(−d² / (0.08 · area)) for a shift d of
// every joint. GT keypoint extents: 100×100 (large) or 50×50 (medium); results' areas are their extents.
const SIGMAS = [0.1, 0.1, 0.1];
let nextId = 1;

function gt(image: number, x: number, y: number, size: number, extra: Record<string, unknown> = {}) {
  return {
    id: nextId++,
    image_id: image,
    category_id: 1,
    keypoints: [x, y, 2, x + size, y, 2, x, y + size, 2],
    num_keypoints: 3,
    area: size * size,
    bbox: [x, y, size, size],
    iscrowd: 0,
    ...extra,
  };
}

/** A result whose every joint is shifted along x so that its OKS with `g` is `oks`. */
function dt(g: { image_id: number; keypoints: number[]; area: number }, oks: number, score: number) {
  const d = oks <= 0 ? 1000 : Math.sqrt(-0.08 * g.area * Math.log(oks));
  return {
    image_id: g.image_id,
    category_id: 1,
    keypoints: g.keypoints.map((v, i) => (i % 3 === 0 ? v + d : i % 3 === 1 ? v : 1)),
    score,
  };
}

function doc(images: number[], annotations: unknown[], categories = [1]) {
  return {
    images: images.map((id) => ({ id })),
    annotations,
    categories: categories.map((id) => ({ id, name: `c${id}` })),
  };
}

function evalStats(gtDoc: unknown, dts: unknown[]): CocoKeypointStats {
  return evaluateCocoKeypoints(gtDoc, dts, { sigmas: SIGMAS }).stats;
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: got ${actual}, expected ${expected}`);
}

Deno.test("OKS: labelled joints, and the box rule for a ground truth without labelled joints", () => {
  const g = { keypoints: [0, 0, 2, 10, 0, 0, 0, 10, 1], area: 100 };
  // Joint 1 unlabelled: mean over joints 0 and 2; shift (3, 4) → d² = 25, vars = 0.04.
  const d = { keypoints: [3, 4, 1, 99, 99, 1, 3, 14, 1] };
  const e = 25 / 0.04 / (100 + 2.220446049250313e-16) / 2;
  near(objectKeypointSimilarity(d, g, { sigmas: SIGMAS }), Math.exp(-e), "labelled");
  // No labelled joint: box [10, 10, 5, 5] grows to x ∈ [5, 20], y ∈ [5, 20]; joints inside count 1,
  // the joint at (25, 2) is (5, 3) outside → d² = 34; the mean runs over all 3 joints.
  const u = { keypoints: [0, 0, 0, 0, 0, 0, 0, 0, 0], area: 50, bbox: [10, 10, 5, 5] };
  const du = { keypoints: [6, 6, 1, 19, 19, 1, 25, 2, 1] };
  near(
    objectKeypointSimilarity(du, u, { sigmas: SIGMAS }),
    (2 + Math.exp(-34 / 0.04 / 50 / 2)) / 3,
    "box rule",
  );
});

Deno.test("detection without GT and GT without detection: AP 34/101, AR 1/3", () => {
  const a = gt(1, 0, 0, 100), b = gt(1, 500, 0, 100), c = gt(2, 0, 0, 100);
  // a found (OKS .97 passes every threshold); the second result is far from everything (a false
  // positive after the true one); b and c are missed. rc = [1/3, 1/3], pr = [1, 1/2]: recall thresholds
  // 0..0.33 (34 of 101) read precision 1, the rest 0.
  const s = evalStats(doc([1, 2], [a, b, c]), [dt(a, 0.97, 0.9), { ...dt(a, 0, 0.8), image_id: 1 }]);
  near(s.AP, 34 / 101, "AP");
  near(s.AP50, 34 / 101, "AP50");
  near(s.AR, 1 / 3, "AR");
  near(s.APm, -1, "no medium GT → −1");
  near(s.ARm, -1, "ARm");
  near(s.APl, 34 / 101, "APl");
});

Deno.test("ties in score keep file order (stable mergesort)", () => {
  const g = gt(1, 0, 0, 100);
  // Equal scores: the OKS .62 result comes first and takes the GT at thresholds .50–.60 (AP 1 there,
  // the OKS .92 one is then a false positive after it); at .65–.90 the first misses and the second
  // matches (FP then TP: AP .5); at .95 both miss. AP = (3·1 + 6·.5 + 0)/10 = .6, AR = 9/10.
  // The reverse order would give AP .9.
  const s = evalStats(doc([1], [g]), [dt(g, 0.62, 0.5), dt(g, 0.92, 0.5)]);
  near(s.AP, 0.6, "AP");
  near(s.AR, 0.9, "AR");
  near(s.AP50, 1, "AP50");
  near(s.AP75, 0.5, "AP75");
});

Deno.test("more than 20 detections per image: the lowest-scored ones are dropped", () => {
  const g = gt(1, 0, 0, 100);
  const far = (score: number) => ({ ...dt(g, 0, score) });
  const fps = Array.from({ length: 19 }, (_, i) => far(0.9 - i * 0.01));
  // 19 false positives then the exact match as the 20th: precision 1/20 at full recall → AP .05.
  const s20 = evalStats(doc([1], [g]), [...fps, dt(g, 1, 0.1)]);
  near(s20.AP, 0.05, "AP with 20");
  near(s20.AR, 1, "AR with 20");
  // One more false positive ranked above the match pushes it to 21st: it is never seen.
  const s21 = evalStats(doc([1], [g]), [...fps, far(0.5), dt(g, 1, 0.1)]);
  near(s21.AP, 0, "AP with 21");
  near(s21.AR, 0, "AR with 21");
});

Deno.test("unlabelled GT (num_keypoints 0) is ignored and matches one detection; crowd matches many", () => {
  const g = gt(1, 0, 0, 100);
  // Unlabelled GT far away: box [1000, 1000, 100, 100] → results with joints in x, y ∈ [900, 1200]
  // have OKS 1.
  const unlabelled = {
    ...gt(1, 0, 0, 0),
    keypoints: [0, 0, 0, 0, 0, 0, 0, 0, 0],
    num_keypoints: 0,
    area: 10000,
    bbox: [1000, 1000, 100, 100],
  };
  const inBox = (score: number) => ({
    image_id: 1,
    category_id: 1,
    keypoints: [1000, 1000, 1, 1100, 1000, 1, 1000, 1100, 1],
    score,
  });
  // Scores: inBox .9 (matches the ignored GT → ignored), inBox .8 (GT taken → false positive), true
  // match .7: [ign, FP, TP] → precision 1/2 at recall 1 → AP .5 at every threshold.
  const dts = [inBox(0.9), inBox(0.8), dt(g, 0.97, 0.7)];
  const s = evalStats(doc([1], [g, unlabelled]), dts);
  near(s.AP, 0.5, "unlabelled AP");
  near(s.AR, 1, "unlabelled AR");
  // The same region as a crowd: both in-box results match it and are ignored → AP 1.
  const crowd = { ...unlabelled, id: nextId++, iscrowd: 1 };
  const c = evalStats(doc([1], [g, crowd]), dts);
  near(c.AP, 1, "crowd AP");
  near(c.AR, 1, "crowd AR");
});

Deno.test("a detection matched to a regular GT stops before an ignored GT with higher OKS", () => {
  const g = gt(1, 0, 0, 100);
  const d = dt(g, 0.72, 0.9);
  // A crowd region exactly under the detection (OKS 1). At thresholds .50–.70 the detection keeps the
  // regular GT (cocoeval's break rule): AP 1; at .75–.95 only the crowd fits: ignored, AP 0.
  const crowd = {
    ...gt(1, 0, 0, 100),
    keypoints: d.keypoints.map((v, i) => (i % 3 === 2 ? 2 : v)),
    iscrowd: 1,
  };
  const s = evalStats(doc([1], [g, crowd]), [d]);
  near(s.AP, 0.5, "AP");
  near(s.AR, 0.5, "AR");
});

Deno.test("area ranges: out-of-range GT and unmatched results are ignored per range", () => {
  const m = gt(1, 0, 0, 50); // area 2500: medium
  const l = gt(1, 500, 0, 100); // area 10000: large
  // Far false positive with a 100×100 extent (large), then l matched, then m matched.
  const fp = { ...dt(l, 0, 0.9), keypoints: [3000, 0, 1, 3100, 0, 1, 3000, 100, 1] };
  const s = evalStats(doc([1], [m, l]), [fp, dt(l, 0.97, 0.8), dt(m, 0.97, 0.7)]);
  // all: [FP, TP, TP], 2 GT → envelope 2/3. medium: the FP (large, unmatched) and the match on l
  // (ignored GT) are ignored → 1. large: m ignored → [FP, TP, ign] → .5.
  near(s.AP, 2 / 3, "AP");
  near(s.APm, 1, "APm");
  near(s.APl, 0.5, "APl");
  near(s.AR, 1, "AR");
  near(s.ARm, 1, "ARm");
  near(s.ARl, 1, "ARl");
});

Deno.test("−1 where a category has no (unignored) GT; empty results give 0", () => {
  const crowd = { ...gt(1, 0, 0, 100), iscrowd: 1 };
  const s = evalStats(doc([1], [crowd]), [dt(crowd, 0.9, 0.9)]);
  for (const v of Object.values(s)) near(v, -1, "only crowd GT");
  // Category 2 has no GT at all: its −1 entries do not enter the means.
  const g = gt(1, 0, 0, 100);
  const d2 = { ...dt(g, 0.97, 0.9), category_id: 2 };
  const two = evalStats(doc([1], [g], [1, 2]), [dt(g, 0.97, 0.8), d2]);
  near(two.AP, 1, "category 1 only");
  const none = evalStats(doc([1], [g]), []);
  near(none.AP, 0, "no results AP");
  near(none.AR, 0, "no results AR");
});

Deno.test("results area comes from the first record's bbox when it has one (COCO.loadRes)", () => {
  const g = gt(1, 0, 0, 50); // medium GT
  const far = { ...dt(g, 0, 0.9), keypoints: [3000, 0, 1, 3050, 0, 1, 3000, 50, 1] }; // medium extent
  // Without bbox: the unmatched far result has a medium extent → FP in the medium range: APm .5.
  near(evalStats(doc([1], [g]), [far, dt(g, 0.97, 0.5)]).APm, 0.5, "extent area");
  // With a large bbox on the far result the same result is out of the medium range → ignored: APm 1.
  const withBox = [{ ...far, bbox: [0, 0, 200, 200] }, { ...dt(g, 0.97, 0.5), bbox: [0, 0, 50, 50] }];
  near(evalStats(doc([1], [g]), withBox).APm, 1, "bbox area");
});

Deno.test("bad input throws InputError naming the record and field", () => {
  const g = gt(1, 0, 0, 100);
  assert.throws(
    () => evaluateCocoKeypoints(doc([1], [g]), [{ ...dt(g, 1, 1), image_id: 7 }], { sigmas: SIGMAS }),
    (e: unknown) => e instanceof InputError && /record 0: image_id 7/.test(e.message),
  );
  assert.throws(
    () => evaluateCocoKeypoints(doc([1], [g]), [{ ...dt(g, 1, 1), keypoints: [1, 2] }], { sigmas: SIGMAS }),
    (e: unknown) =>
      e instanceof InputError && /record 0: field "keypoints" has 2 values, expected 9/.test(e.message),
  );
  assert.throws(
    () => evaluateCocoKeypoints({ images: [] }, [], { sigmas: SIGMAS, gtName: "gt.json" }),
    (e: unknown) => e instanceof InputError && /gt.json: field "annotations"/.test(e.message),
  );
});

Deno.test("summary lines follow pycocotools' format, including half-even rounding and −1", () => {
  const stats: CocoKeypointStats = {
    AP: 0.0625,
    AP50: 0.9375,
    AP75: 1,
    APm: -1,
    APl: 0.5,
    AR: 0.12345,
    AR50: 0,
    AR75: 0,
    ARm: 0,
    ARl: 0,
  };
  const lines = formatCocoSummary(stats).split("\n");
  assert.equal(lines.length, 10);
  assert.equal(lines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.062");
  assert.equal(lines[1], " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets= 20 ] = 0.938");
  assert.equal(lines[3], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets= 20 ] = -1.000");
  assert.equal(lines[5], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.123");
  assert.equal(lines[9], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets= 20 ] = 0.000");
});

async function captureStdout(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const code = await fn();
    return { code, out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test({
  name: "CLI: posegpu eval coco --json prints exactly the 10 keys; the text form prints 10 summary lines",
  ignore: gtPath === null || dtPath === null,
  fn: async () => {
    const json = await captureStdout(() => command.run(["coco", "--gt", gtPath!, "--dt", dtPath!, "--json"]));
    assert.equal(json.code, 0);
    const parsed = JSON.parse(json.out);
    assert.deepEqual(Object.keys(parsed), [
      "AP",
      "AP50",
      "AP75",
      "APm",
      "APl",
      "AR",
      "AR50",
      "AR75",
      "ARm",
      "ARl",
    ]);
    assert.ok(Math.abs(parsed.AP - 0.861) <= 0.001);
    const text = await captureStdout(() => command.run(["coco", "--gt", gtPath!, "--dt", dtPath!]));
    assert.equal(text.out.split("\n").length, 10);
    assert.ok(
      text.out.includes(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.875"),
      text.out,
    );
  },
});

Deno.test("CLI: missing files, unknown options and protocols are input errors; h36m without --data too", async () => {
  await assert.rejects(() => command.run(["coco", "--gt", "x.json"]), InputError);
  await assert.rejects(() => command.run(["coco", "--bogus"]), InputError);
  await assert.rejects(() => command.run(["nope"]), InputError);
  await assert.rejects(
    () => command.run(["coco", "--gt", "/nonexistent/gt.json", "--dt", "/nonexistent/dt.json"]),
    InputError,
  );
  await assert.rejects(() => command.run(["h36m"]), /--data DIR is required/);
});
