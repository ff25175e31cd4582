import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  cocoKeypointsToDocument,
  cocoResultsToDocument,
  documentToCocoKeypoints,
  documentToCocoResults,
  parseCocoKeypoints,
  parseCocoResults,
  readCocoKeypoints,
  readCocoResults,
  writeCocoKeypoints,
  writeCocoResults,
} from "../../pose/formats/coco.ts";
import { convertKeypoints2D } from "../../pose/convert.ts";
import { sharedData } from "../_shared.ts";

// Keypoint 4 unlabelled: COCO writes it as 0, 0, 0.
const kps = (v: number) =>
  Array.from({ length: 17 }, (_, j) => (j === 4 ? [0, 0, 0] : [10 + j, 20 + j, v])).flat();

function smallFile() {
  return {
    info: { description: "test" },
    images: [{ id: 7, width: 640, height: 480, file_name: "a.jpg" }, { id: 9, width: 640, height: 480 }],
    annotations: [
      {
        id: 55,
        image_id: 7,
        category_id: 1,
        keypoints: kps(2),
        num_keypoints: 16,
        bbox: [1, 2, 30, 40],
        area: 900,
        iscrowd: 0,
      },
      {
        id: 56,
        image_id: 9,
        category_id: 1,
        keypoints: kps(1),
        num_keypoints: 16,
        bbox: [5, 5, 10, 10],
        area: 80,
        iscrowd: 0,
      },
    ],
    categories: [{ id: 1, name: "person" }],
  };
}

Deno.test("COCO annotations -> document -> annotations keeps keypoints, v flags, boxes and ids", async () => {
  const data = parseCocoKeypoints(smallFile(), "small.json");
  const doc = cocoKeypointsToDocument(data);
  assert.equal(doc.skeleton, "coco17");
  assert.deepEqual(doc.frameIds, [7, 9]);
  assert.deepEqual(doc.image, { width: 640, height: 480 });
  assert.equal(doc.people[0].keypoints2d!.mask[4], 0);
  assert.equal(doc.people[0].keypoints2d!.scores, null);
  const back = documentToCocoKeypoints(doc);
  assert.deepEqual(back.annotations, smallFile().annotations);
  assert.deepEqual(back.images.map((i) => i.id), [7, 9]);
  const dir = await Deno.makeTempDir();
  try {
    await writeCocoKeypoints(`${dir}/a.json`, data);
    assert.deepEqual((await readCocoKeypoints(`${dir}/a.json`)).annotations, data.annotations);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("COCO results round trip and derived fields; conversion of COCO to H36M-17", async () => {
  const results = [
    { image_id: 7, category_id: 1, keypoints: kps(0.5), score: 0.9, center: [1, 2], scale: [3, 4] },
    { image_id: 7, category_id: 1, keypoints: kps(0.25), score: 0.8 },
  ];
  const doc = cocoResultsToDocument(parseCocoResults(results, "r.json"));
  assert.equal(doc.people.length, 2);
  assert.deepEqual(doc.people[1].frames, [0]);
  assert.equal(doc.people[0].keypoints2d!.mask[4], 1); // results: every keypoint present (here score 0)
  assert.deepEqual(documentToCocoResults(doc), results);
  // Derived score = mean of joint scores when meta has none (hand-computed: 16 × 0.25 / 17).
  delete doc.people[1].meta!.score;
  assert.ok(Math.abs(documentToCocoResults(doc)[1].score - (16 * 0.25) / 17) < 1e-6);
  const h = convertKeypoints2D(doc.people[1].keypoints2d!, "h36m17", { minScore: 0.1 });
  assert.equal(h.mask[9], 1); // nose
  assert.equal(h.mask[0], 1);
  const dir = await Deno.makeTempDir();
  try {
    await writeCocoResults(`${dir}/r.json`, results);
    assert.deepEqual(await readCocoResults(`${dir}/r.json`), results);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("malformed COCO input is rejected naming file, record and field", () => {
  const bad = (mutate: (f: ReturnType<typeof smallFile>) => void, re: RegExp) => {
    const f = smallFile();
    mutate(f);
    assert.throws(
      () => parseCocoKeypoints(f, "people.json"),
      (e) => e instanceof InputError && re.test(e.message),
      String(re),
    );
  };
  bad(
    (f) => f.annotations[1].keypoints.pop(),
    /^people\.json: annotation 1 \(id 56\): "keypoints" has 50 numbers, expected 51$/,
  );
  bad(
    (f) => (f.annotations[0].keypoints[2] = 3),
    /annotation 0 \(id 55\): "keypoints" visibility of keypoint 0 \(nose\) is 3/,
  );
  bad((f) => (f.annotations[0].num_keypoints = 17), /"num_keypoints" is 17 but 16 keypoints have v > 0/);
  bad((f) => (f.annotations[0].image_id = 8), /"image_id" 8 is not in "images"/);
  bad((f) => (f.annotations[1].id = 55), /annotation 1 \(id 55\): annotation id appears twice/);
  bad(
    (f) => ((f.annotations[0].keypoints as unknown[])[5] = "x"),
    /"keypoints"\[5\] \(joint "left_eye" v\) is the string "x", expected a finite number/,
  );
  bad(
    (f) => ((f.annotations[0] as Record<string, unknown>).bbox = [1, 2, 3]),
    /"bbox" has 3 numbers, expected 4/,
  );
  bad((f) => (f.images = []), /"image_id" 7 is not in "images"/);
  assert.throws(() => parseCocoResults([], "dt.json"), /dt\.json: the results array is empty/);
  assert.throws(() => parseCocoResults({}, "dt.json"), /dt\.json: expected a JSON array/);
  assert.throws(
    () => parseCocoResults([{ image_id: 1, category_id: 1, keypoints: kps(1) }], "dt.json"),
    /dt\.json: result 0: "score" is missing/,
  );
});

const gtPath = sharedData("coco/person_keypoints_sample.json");
const dtPath = sharedData("coco/predictions_sample.json");
Deno.test({
  name: "shared COCO sample: annotations and 73 predictions survive document round trips",
  ignore: gtPath === null || dtPath === null,
  fn: async () => {
    const gt = await readCocoKeypoints(gtPath!);
    assert.equal(gt.annotations.length, 14);
    const back = documentToCocoKeypoints(cocoKeypointsToDocument(gt));
    back.annotations.forEach((a, i) => {
      const o = gt.annotations[i];
      assert.deepEqual([a.id, a.image_id, a.num_keypoints, a.bbox, a.area, a.iscrowd], [
        o.id,
        o.image_id,
        o.num_keypoints,
        o.bbox,
        o.area,
        o.iscrowd,
      ]);
      assert.deepEqual(a.keypoints, o.keypoints);
    });
    const dt = await readCocoResults(dtPath!);
    assert.equal(dt.length, 73);
    const res = documentToCocoResults(cocoResultsToDocument(dt));
    res.forEach((r, i) => {
      assert.equal(r.image_id, dt[i].image_id);
      assert.equal(r.score, dt[i].score);
      assert.deepEqual(r.center, dt[i].center);
      // Coordinates are carried as float32.
      r.keypoints.forEach((v, k) =>
        assert.equal(Math.fround(v), Math.fround(dt[i].keypoints[k]), `result ${i} value ${k}`)
      );
    });
  },
});
