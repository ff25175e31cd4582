// CPN (GlobalNet + RefineNet on ResNet-50, pytorch-cpn keys) against tests/fixtures/gen_image_models.py
// (section "cpn", hash weights, 64×64 input): the network's GlobalNet and RefineNet heatmaps within 1e-3
// relative, and the test-time estimate — seed 001's square crop with pytorch-cpn's normalisation and mean
// border, flip average, pytorch-cpn's decoding (max-normalised map, 10-cell zero border, 21×21 Gaussian
// blur, argmax, quarter shift toward the second maximum), (4x + 2) inverse crop, rescoring (box score ×
// mean of heatmap/255 + 0.5) — within 0.05 px and 1e-3 relative on scores; decodeHeatmap alone on
// 64×48 maps (border peak, twin peaks, noise, negative maximum) within 1e-4 px.
import assert from "node:assert/strict";
import { initEngine, tensor, tidy } from "../../engine/mod.ts";
import { Cpn, decodeHeatmap, gaussianBlur, gaussianKernel } from "../../models/cpn.ts";
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

Deno.test("cpn: decodeHeatmap is pytorch-cpn's decoding (blur, quarter shift, score) on 64×48 maps", () => {
  const maps = fx.get("decode/maps").data as Float32Array;
  const want = fx.get("decode/keypoints").data as Float32Array;
  const n = maps.length / (64 * 48);
  // Crop window of the fixture: x0 3.5, y0 −2, 150 × 200 px, data shape 256×192.
  for (let j = 0; j < n; j++) {
    const [x, y, s] = decodeHeatmap(maps.subarray(j * 3072, (j + 1) * 3072), 48, 64);
    const ix = ((4 * x + 2) / 192) * 150 + 3.5, iy = ((4 * y + 2) / 256) * 200 - 2;
    assert.ok(
      Math.abs(ix - want[3 * j]) < 1e-4 && Math.abs(iy - want[3 * j + 1]) < 1e-4,
      `map ${j}: ${ix}, ${iy}`,
    );
    assert.ok(Math.abs(s - want[3 * j + 2]) <= 1e-6 * Math.abs(want[3 * j + 2]), `map ${j} score ${s}`);
  }
});

Deno.test("cpn: the blur is cv2.GaussianBlur((21, 21), 0) (σ 3.5, normalised, reflect-101); bad input is rejected", () => {
  const k = gaussianKernel(21);
  assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.ok(Math.abs(k[10] / k[9] - Math.exp(1 / (2 * 3.5 * 3.5))) < 1e-12, "σ = 3.5");
  // A constant map stays constant (reflect-101 keeps the border's mass); an impulse spreads as k ⊗ k.
  const ones = gaussianBlur(new Float64Array(30 * 25).fill(2), 30, 25);
  assert.ok(ones.every((v) => Math.abs(v - 2) < 1e-12));
  const imp = new Float64Array(41 * 41);
  imp[20 * 41 + 20] = 1;
  const b = gaussianBlur(imp, 41, 41);
  assert.ok(
    Math.abs(b[20 * 41 + 20] - k[10] * k[10]) < 1e-15 && Math.abs(b[17 * 41 + 26] - k[7] * k[16]) < 1e-15,
  );
  // The peak moves a quarter cell toward the second maximum.
  const m = new Float32Array(48 * 64);
  m[30 * 48 + 20] = 255;
  m[30 * 48 + 21] = 200;
  const [x, y, s] = decodeHeatmap(m, 48, 64);
  assert.deepEqual([x, y, s], [20.25, 30, 1.5]);
  assert.throws(() => decodeHeatmap(m, 47, 64), /values/);
  assert.throws(() => new Cpn({ input_height: 100 }), /multiples of 32/);
  assert.throws(() => new Cpn({ num_layers: 18 }), /bottleneck/);
});
