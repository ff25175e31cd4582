// PoseFix's test path against PoseFix_RELEASE's (main/test.py, gen_batch.py stage 'test', dataset.py
// input_pose_load, lib/nms/nms.py), re-implemented in NumPy/PyTorch by tests/fixtures/gen_image_models.py
// (section "posefix"; hash weights, ResNet-18 at 128×96): box from all input keypoints ×1.2 (20 px when
// flat), aspect 4:3 ×1.25 with float32 points, BGR crop minus pixel_means, heatmaps ×255 (σ 7 by
// default), score-0 joints left untransformed, flip test, crop_info back-mapping, input scores, OKS-NMS
// 0.9, rounding. Tolerance: 0.02 px on image coordinates; kept indices and scores exact.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { BatchNorm2d } from "../../layers/mod.ts";
import {
  oksNms,
  PoseFix,
  posefixInputBox,
  posefixSigma,
  refineResults,
  roundDecimals,
} from "../../models/posefix.ts";
import { hashStateDict, moduleKeys } from "./_hash.ts";
import { loadFixture } from "./_util.ts";

await initEngine();
const fx = await loadFixture("posefix");
const img = fx.get("image");
const image = {
  width: img.shape[1],
  height: img.shape[0],
  channels: img.shape[2],
  data: Uint8Array.from(img.data as ArrayLike<number>),
};
const flat = fx.get("poses").data as Float32Array;
const scores = fx.get("scores").data as Float32Array;
const N = scores.length;
const poses = Array.from({ length: N }, (_, i) => flat.subarray(i * 51, (i + 1) * 51));

for (const c of fx.cases as unknown as { name: string; config: Record<string, unknown> }[]) {
  Deno.test(`posefix ${c.name}: refined keypoints, NMS and results match PoseFix_RELEASE's test path`, async () => {
    const model = new PoseFix(c.config).eval();
    await model.loadStateDict(hashStateDict(moduleKeys(model)), { fold: true });
    const order = Array.from(fx.get(`${c.name}/order`).data as ArrayLike<number>);
    // refine() on the reference's (score-sorted) order: coordinates, input scores kept.
    const out = await model.refine(image, order.map((i) => poses[i]), { batchSize: 2 });
    const want = fx.get(`${c.name}/refined`).data as Float32Array;
    let err = 0;
    out.forEach((p, i) => {
      for (let k = 0; k < 51; k++) {
        if (k % 3 === 2) assert.equal(p[k], poses[order[i]][k], "keypoint scores are kept by refine()");
        else err = Math.max(err, Math.abs(p[k] - want[i * 51 + k]));
      }
    });
    assert.ok(err < 0.02, `max coordinate error ${err} px`);
    // refineResults: record order, NMS (the duplicate of pose 0 goes), [x, y, 1], rounded scores.
    const records = poses.map((p, i) => ({
      image_id: 7,
      category_id: 1,
      keypoints: Array.from(p),
      score: scores[i],
    }));
    const res = await refineResults(model, image, { records, batchSize: 3 });
    const keep = Array.from(fx.get(`${c.name}/keep`).data as ArrayLike<number>);
    const wantRes = fx.get(`${c.name}/results`).data as Float32Array;
    const wantScores = fx.get(`${c.name}/result_scores`).data as Float32Array;
    assert.equal(res.length, keep.length, "poses kept by OKS-NMS");
    let rerr = 0;
    res.forEach((r, i) => {
      assert.equal(r.image_id, 7);
      assert.equal(r.category_id, 1);
      assert.equal(r.score, roundDecimals(scores[order[keep[i]]], 4));
      assert.ok(Math.abs(r.score - wantScores[i]) < 1e-6, `score ${r.score} vs ${wantScores[i]}`);
      for (let k = 0; k < 51; k++) {
        if (k % 3 === 2) assert.equal(r.keypoints[k], 1);
        else {
          rerr = Math.max(rerr, Math.abs(r.keypoints[k] - wantRes[i * 51 + k]));
          assert.equal(r.keypoints[k], roundDecimals(r.keypoints[k], 3), "3 decimals");
        }
      }
    });
    assert.ok(rerr < 0.02, `max result error ${rerr} px`);
    model.dispose();
  });
}

Deno.test("posefix: the input box is PoseFix_RELEASE's (all keypoints, ×1.2, 20 px when flat, float32)", () => {
  const kps = [10, 20, 0.9, 30, 60, 0, 20, 40, 0.5];
  // x 10..30 → centre 20, half-width 10·1.2; y 20..60 → centre 40, half-height 20·1.2.
  assert.deepEqual(posefixInputBox(kps), [8, 16, 24, 48]);
  assert.deepEqual(posefixInputBox([5, 5, 1, 5, 5, 1]), [-7, -7, 24, 24]);
  assert.deepEqual(posefixInputBox(kps, { minScore: 0 }), [9, 18, 12, 24]);
  assert.equal(posefixInputBox([0.1, 0.1, 1, 1.3, 1.7, 1])[0], Math.fround(0.7 - 0.6 * 1.2));
  assert.throws(() => posefixInputBox([NaN, 1, 1, 2, 2, 1]), /not finite/);
  assert.equal(posefixSigma(256), 7);
  assert.equal(posefixSigma(384), 9);
  assert.equal(new PoseFix({ num_layers: 18 }).config.input_sigma, 7);
  assert.equal(new PoseFix({ num_layers: 18, input_height: 384, input_width: 288 }).config.input_sigma, 9);
  // PoseFix_RELEASE's TF batch norms: ε 1e-9 (PyTorch-trained ports: 1e-5).
  const eps = (m: PoseFix) =>
    m.modules().filter((x) => x instanceof BatchNorm2d).map((b) => (b as BatchNorm2d).eps);
  const tf = new PoseFix({ num_layers: 18 }), pt = new PoseFix({ num_layers: 18, normalization: "imagenet" });
  assert.ok(eps(tf).length > 20 && eps(tf).every((e) => e === 1e-9));
  assert.ok(eps(pt).every((e) => e === 1e-5));
  assert.ok(eps(new PoseFix({ num_layers: 18, bn_eps: 1e-3 })).every((e) => e === 1e-3));
  assert.throws(() => new PoseFix({ bn_eps: -1 }), /bn_eps/);
  tf.dispose();
  pt.dispose();
});

Deno.test("posefix: oksNms keeps the best of near-identical poses (threshold 0.9), ties to the later index", () => {
  const a = new Float32Array(51).map((_, k) => (k % 3 === 2 ? 1 : 10 + k));
  const b = a.map((v, k) => (k % 3 === 2 ? v : v + 0.5));
  const far = a.map((v, k) => (k % 3 === 2 ? v : v + 60));
  const areas = [900, 900, 900];
  assert.deepEqual(oksNms([a, b, far], { scores: [0.5, 0.9, 0.7], areas, threshold: 0.9 }), [1, 2]);
  assert.deepEqual(oksNms([a, b, far], { scores: [0.5, 0.9, 0.7], areas, threshold: 1 }), [1, 2, 0]);
  assert.deepEqual(oksNms([a, a], { scores: [0.5, 0.5], areas: [900, 900], threshold: 0.9 }), [1]);
  assert.throws(() => oksNms([a], { scores: [], areas: [1], threshold: 0.9 }), /scores/);
  assert.equal(roundDecimals(0.12345, 4), 0.1234);
  assert.equal(roundDecimals(2.0005, 3), 2.001);
});

Deno.test("posefix: BGR crop minus pixel_means by default; bad configuration and poses are input errors", async () => {
  assert.throws(() => new PoseFix({ input_height: 100 }), /multiples of 32/);
  const model = new PoseFix({ num_layers: 18, input_height: 64, input_width: 64 }).eval();
  assert.equal(model.bgr, true);
  assert.equal(model.heatmapScale, 255);
  // A uniform image (R 200, G 100, B 50): channel 0 of the crop is blue − 123.68.
  const solid = {
    width: 8,
    height: 8,
    channels: 3,
    data: new Uint8Array(192).map((_, i) => [200, 100, 50][i % 3]),
  };
  const { uploadImage } = await import("../../engine/kernels/image.ts");
  const up = uploadImage(solid);
  const x = model.buildInput(up, {
    transforms: [[1, 0, 0, 0, 1, 0]],
    coords: new Float32Array(34),
    valid: new Float32Array(17).fill(1),
  });
  const v = await x.read();
  const plane = 64 * 64;
  assert.ok(Math.abs(v[0] - (50 - 123.68)) < 1e-4 && Math.abs(v[plane] - (100 - 116.78)) < 1e-4);
  assert.ok(Math.abs(v[2 * plane] - (200 - 103.94)) < 1e-4);
  assert.ok(Math.abs(v[3 * plane] - 255) < 1e-3, "heatmap peak 255 at the joint");
  x.dispose();
  up.packed.dispose();
  await assert.rejects(() => model.refine(image, [new Float32Array(50)]), /51/);
  model.dispose();
});
