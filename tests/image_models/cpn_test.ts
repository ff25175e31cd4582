// CPN (GlobalNet + RefineNet on ResNet-50, pytorch-cpn keys) against tests/fixtures/gen_image_models.py
// (section "cpn", hash weights, 64×64 input): the network's GlobalNet and RefineNet heatmaps within 1e-3
// relative, and seed 001's test-time estimate (square crop, flip average, tf-cpn peak decoding with the
// quarter shift, inverse crop, rescoring) within 0.05 px and 1e-3 relative on scores.
import assert from "node:assert/strict";
import { initEngine, tensor, tidy } from "../../engine/mod.ts";
import { Cpn, decodePeak } from "../../models/cpn.ts";
import { hashInput, hashStateDict, moduleKeys } from "./_hash.ts";
import { assertClose, loadFixture } from "./_util.ts";

await initEngine();
const fx = await loadFixture("cpn");
const config = (fx.cases as { config: Record<string, number> }).config;

Deno.test("cpn: keys equal pytorch-cpn's; GlobalNet and RefineNet heatmaps match (folded and unfolded)", async () => {
  const model = new Cpn(config);
  assert.deepEqual(moduleKeys(model), JSON.parse(fx.metadata.keys));
  const sd = hashStateDict(moduleKeys(model));
  const x = tensor(hashInput("input/cpn", [2, 3, 64, 64]), [2, 3, 64, 64]);
  for (const fold of [true, false]) {
    await model.loadStateDict(sd, { fold });
    const { global, refine } = tidy(() => model.forwardAll(x));
    assertClose(await refine.read(), fx.get("refine").data as Float32Array, `refine (fold ${fold})`);
    for (let i = 0; i < 4; i++) {
      assertClose(
        await global[i].read(),
        fx.get(`global${i}`).data as Float32Array,
        `global ${i} (fold ${fold})`,
      );
    }
    for (const t of [refine, ...global]) t.dispose();
  }
  x.dispose();
  model.dispose();
});

Deno.test("cpn: estimate (square crop, flip average, peak decoding, inverse crop) matches", async () => {
  const model = new Cpn(config).eval();
  await model.loadStateDict(hashStateDict(moduleKeys(model)), { fold: true });
  const img = fx.get("image");
  const image = {
    width: img.shape[1],
    height: img.shape[0],
    channels: img.shape[2],
    data: Uint8Array.from(img.data as ArrayLike<number>),
  };
  const b = fx.get("boxes").data as Float32Array, s = fx.get("scores").data as Float32Array;
  const poses = await model.estimate(image, [
    { bbox: b.subarray(0, 4), score: s[0] },
    { bbox: b.subarray(4, 8), score: s[1] },
  ]);
  const want = fx.get("keypoints").data as Float32Array, scores = fx.get("pose_scores").data as Float32Array;
  // Hash weights give heatmap values in the thousands: scores are compared relative to their size.
  let err = 0, serr = 0;
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));
  poses.forEach((p, i) => {
    for (let k = 0; k < 51; k++) {
      if (k % 3 === 2) serr = Math.max(serr, rel(p.keypoints[k], want[i * 51 + k]));
      else err = Math.max(err, Math.abs(p.keypoints[k] - want[i * 51 + k]));
    }
    assert.ok(rel(p.score, scores[i]) < 1e-3, `pose score ${p.score} vs ${scores[i]}`);
  });
  assert.ok(err < 0.05, `keypoint error ${err} px`);
  assert.ok(serr < 1e-3, `keypoint score relative error ${serr}`);
  model.dispose();
});

Deno.test("cpn: decodePeak shifts a quarter cell toward the second maximum; bad input is rejected", () => {
  const m = new Float32Array(12);
  m[5] = 1;
  m[6] = 0.5;
  assert.deepEqual(decodePeak(m, 4, 3), [1.25, 1, 1]);
  assert.throws(() => new Cpn({ input_height: 100 }), /multiples of 32/);
  assert.throws(() => new Cpn({ num_layers: 18 }), /bottleneck/);
});
