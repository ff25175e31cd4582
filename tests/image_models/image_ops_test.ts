// Image kernels (engine/kernels/image.ts) against tests/fixtures/gen_image_models.py (section "ops"):
// warpAffine "exact" must equal OpenCV's 8-bit INTER_LINEAR result bit for bit (the generator checks its
// NumPy emulation against cv2 when cv2 is importable); "float" sampling, normalisation, Gaussian heatmaps,
// softmax / soft-argmax and the flip within 1e-5 relative (float32 vs float64 references).
import assert from "node:assert/strict";
import { initEngine, ops, readSafetensors, tensor, tidy } from "../../engine/mod.ts";
import {
  flipCoordinates,
  flipHorizontal,
  flipPermutation,
  gaussianHeatmaps,
  IMAGENET_NORMALIZATION,
  invertAffine,
  normalizeChannels,
  roundHalfEven,
  softArgmax2d,
  spatialSoftmax,
  uploadImage,
  warpAffine,
} from "../../engine/kernels/image.ts";
import { applyAffine, boxToCenterScale, getAffineTransform, poseBox } from "../../models/image_ops.ts";
import { fixture } from "../_shared.ts";
import { assertClose } from "./_util.ts";

await initEngine();
const file = await readSafetensors(fixture("image_models_ops.safetensors"));
const cases = JSON.parse(file.metadata.cases);
const get = (n: string) => {
  const t = file.tensors.get(n);
  if (!t) throw new Error(`fixture lacks ${n}`);
  return t;
};
const img = get("image");
const image = {
  width: img.shape[1],
  height: img.shape[0],
  channels: img.shape[2],
  data: Uint8Array.from(img.data as ArrayLike<number>),
};

Deno.test("roundHalfEven is cvRound", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [
    0,
    2,
    2,
    -0,
    -2,
    -2,
    2,
    -3,
  ]);
  const m = invertAffine(invertAffine([2, 0.5, 3, -1, 4, 7]));
  [2, 0.5, 3, -1, 4, 7].forEach((v, i) => assert.ok(Math.abs(m[i] - v) < 1e-12));
});

Deno.test("warpAffine exact equals OpenCV's uint8 INTER_LINEAR (constant and replicate borders)", async () => {
  const up = uploadImage(image);
  for (const [border, key] of [["constant", "warp_exact"], ["replicate", "warp_replicate"]] as const) {
    const y = warpAffine(up, {
      transforms: cases.transforms,
      width: cases.width,
      height: cases.height,
      border,
    });
    const got = await y.read();
    const want = get(key).data as Float32Array;
    assert.deepEqual(y.shape, get(key).shape);
    let diff = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
    assert.equal(diff, 0, `${border}: ${diff} of ${want.length} values differ from OpenCV`);
    y.dispose();
  }
  up.packed.dispose();
});

Deno.test("warpAffine float mode, fused ImageNet normalisation and channel reversal", async () => {
  const up = uploadImage(image);
  const base = { transforms: cases.transforms, width: cases.width, height: cases.height };
  const [f, n, b] = tidy(() => [
    warpAffine(up, { ...base, mode: "float" }),
    warpAffine(up, { ...base, normalize: IMAGENET_NORMALIZATION }),
    warpAffine(up, { ...base, reverseChannels: true }),
  ]);
  assertClose(await f.read(), get("warp_float").data as Float32Array, "float warp", 1e-5);
  assertClose(await n.read(), get("warp_exact_imagenet").data as Float32Array, "normalised warp", 1e-5);
  assert.deepEqual(await b.read(), get("warp_exact_bgr").data);
  // The separate normalisation kernel gives the fused result.
  const raw = warpAffine(up, base);
  const sep = normalizeChannels(raw, IMAGENET_NORMALIZATION);
  assertClose(await sep.read(), get("warp_exact_imagenet").data as Float32Array, "normalizeChannels", 1e-5);
  for (const t of [f, n, b, raw, sep, up.packed]) t.dispose();
});

Deno.test("warpAffine and uploadImage reject bad input", () => {
  assert.throws(() => uploadImage({ ...image, data: image.data.subarray(1) }), /bytes/);
  const up = uploadImage(image);
  assert.throws(() => warpAffine(up, { transforms: [[1, 0, 0, 0, 1]], width: 4, height: 4 }), /transform 0/);
  assert.throws(() => warpAffine(up, { transforms: [], width: 0, height: 4 }), /crop size/);
  assert.throws(
    () => warpAffine(up, { transforms: [[1, 0, 0, 0, 1, 0]], width: 4, height: 4, normalize: { mean: [0] } }),
    /normalisation/,
  );
  up.packed.dispose();
});

Deno.test("gaussianHeatmaps is PoseFix's render_gaussian_heatmap", async () => {
  const c = get("hm_coords"), v = get("hm_valid");
  const coords = tensor(c.data as Float32Array, c.shape), valid = tensor(v.data as Float32Array, v.shape);
  const { height, width, sigma, scale } = cases.heatmap;
  const y = gaussianHeatmaps(coords, { height, width, sigma, scale, valid });
  assertClose(await y.read(), get("hm").data as Float32Array, "heatmaps", 1e-5);
  assert.throws(() => gaussianHeatmaps(coords, { height, width, sigma: 0 }), /sigma/);
  for (const t of [coords, valid, y]) t.dispose();
});

Deno.test("softArgmax2d and spatialSoftmax match PyTorch", async () => {
  const l = get("sm_logits");
  const x = tensor(l.data as Float32Array, l.shape);
  const [p, c] = tidy(() => [spatialSoftmax(x), softArgmax2d(x)]);
  assertClose(await p.read(), get("sm_prob").data as Float32Array, "spatial softmax", 1e-5);
  assertClose(await c.read(), get("sm_coords").data as Float32Array, "soft-argmax", 1e-5);
  // More maps than one workgroup holds: every map is still decoded (repeat the 6 maps 60 times).
  const rep = tensor(
    new Float32Array(60 * l.data.length).map((_, i) => (l.data as Float32Array)[i % l.data.length]),
    [
      120,
      3,
      16,
      12,
    ],
  );
  const many = softArgmax2d(rep);
  const mv = await many.read(), one = get("sm_coords").data as Float32Array;
  assertClose(mv, new Float32Array(mv.length).map((_, i) => one[i % one.length]), "soft-argmax ×60", 1e-5);
  rep.dispose();
  many.dispose();
  for (const t of [x, p, c]) t.dispose();
});

Deno.test("flipHorizontal swaps joint pairs; flipCoordinates is its host counterpart", async () => {
  const f = get("flip_x");
  const x = tensor(f.data as Float32Array, f.shape);
  const perm = flipPermutation(5, cases.flip_pairs);
  const y = flipHorizontal(x, { perm });
  assert.deepEqual(await y.read(), get("flip_y").data);
  assert.throws(() => flipHorizontal(x, { perm: [0, 1] }), /perm/);
  const coords = Float32Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(
    [...flipCoordinates(coords, { joints: 3, width: 10, pairs: [[1, 2]] })],
    [8, 2, 4, 6, 6, 4],
  );
  x.dispose();
  y.dispose();
});

Deno.test("getAffineTransform is Simple Baselines' get_affine_transform (forward and inverse)", () => {
  const size: [number, number] = [cases.width, cases.height];
  cases.crop_params.forEach(
    ([center, scale, rotation]: [[number, number], [number, number], number], i: number) => {
      const fwd = getAffineTransform({ center, scale }, size, { rotation });
      const inv = getAffineTransform({ center, scale }, size, { rotation, inverse: true });
      fwd.forEach((v, k) => assert.ok(Math.abs(v - cases.transforms[i][k]) < 1e-9, `forward ${i}[${k}]`));
      inv.forEach((v, k) => assert.ok(Math.abs(v - cases.crop_inverse[i][k]) < 1e-9, `inverse ${i}[${k}]`));
      const back = applyAffine(inv, ...applyAffine(fwd, 3.25, -7.5));
      assert.ok(Math.abs(back[0] - 3.25) < 1e-9 && Math.abs(back[1] + 7.5) < 1e-9);
    },
  );
  const { center, scale } = boxToCenterScale([10, 20, 30, 80], { aspect: 0.75 });
  assert.deepEqual(center, [25, 60]);
  assert.deepEqual(scale, [75, 100]);
  assert.deepEqual(poseBox([0, 0, 1, 10, 20, 0, 5, 5, 0], { minScore: 0.5 }), null);
  assert.deepEqual(poseBox([0, 0, 1, 10, 20, 1, 5, 5, 0], { minScore: 0.5 }), [0, 0, 10, 20]);
  assert.deepEqual(poseBox([0, 0, 1, 10, 20, 1], { extend: 0.2 }), [-1, -2, 12, 24]);
});

Deno.test("warpAffine: a per-channel constant border (pytorch-cpn's mean padding) and its errors", async () => {
  // 2×2 RGB image, crop shifted 3 px left: the first columns lie outside and read the border.
  const up = uploadImage({ width: 2, height: 2, channels: 3, data: new Uint8Array(12).fill(200) });
  const y = warpAffine(up, {
    transforms: [[1, 0, 3, 0, 1, 0]],
    width: 5,
    height: 2,
    borderValue: [123, 116, 103],
  });
  const v = await y.read();
  // Column 0 of each channel plane is fully outside; column 4 samples (1, ·), inside.
  assert.deepEqual([v[0], v[10], v[20]], [123, 116, 103]);
  assert.deepEqual([v[4], v[14], v[24]], [200, 200, 200]);
  assert.throws(
    () => warpAffine(up, { transforms: [[1, 0, 0, 0, 1, 0]], width: 2, height: 2, borderValue: [1, 2] }),
    /borderValue/,
  );
  y.dispose();
  up.packed.dispose();
});

Deno.test("cropWithHeatmaps equals warpAffine + gaussianHeatmaps + concat (+ flipHorizontal + concat) exactly", async () => {
  const { cropWithHeatmaps } = await import("../../engine/kernels/image.ts");
  const W = 24, H = 32, K = 5, P = 2;
  const up = uploadImage({
    width: 40,
    height: 30,
    channels: 3,
    data: Uint8Array.from({ length: 3600 }, (_, i) => (i * 2654435761) >>> 24),
  });
  const transforms = [[0.9, 0.1, -3.2, -0.05, 1.1, 2.7], [0.5, 0, 4.25, 0, 0.5, -1.5]];
  const coords = Float32Array.from({ length: P * K * 2 }, (_, i) => (i * 7.3) % 30 - 2);
  const valid = Float32Array.from({ length: P * K }, (_, i) => (i % 4 === 3 ? 0 : 1));
  const flip = [0, 2, 1, 4, 3];
  const normalize = { scale: 1, mean: [123.68, 116.78, 103.94], std: [1, 1, 1] };
  const want = tidy(() => {
    const img = warpAffine(up, { transforms, width: W, height: H, normalize, reverseChannels: true });
    const hm = gaussianHeatmaps(tensor(coords, [P, K, 2]), {
      height: H,
      width: W,
      sigma: 2.5,
      valid: tensor(valid, [P, K]),
      scale: 255,
    });
    const x = ops.concat([img, hm], { axis: 1 });
    return ops.concat([x, flipHorizontal(x, { perm: [0, 1, 2, ...flip.map((j) => j + 3)] })], { axis: 0 });
  });
  const got = cropWithHeatmaps(up, {
    transforms,
    width: W,
    height: H,
    normalize,
    reverseChannels: true,
    coords,
    valid,
    sigma: 2.5,
    scale: 255,
    flip,
  });
  assert.deepEqual(got.shape, [2 * P, 3 + K, H, W]);
  assert.deepEqual(await got.read(), await want.read());
  const one = cropWithHeatmaps(up, { transforms, width: W, height: H, coords, valid, sigma: 2.5 });
  assert.deepEqual(one.shape, [P, 3 + K, H, W]);
  assert.throws(
    () => cropWithHeatmaps(up, { transforms, width: W, height: H, coords, valid, sigma: 0 }),
    /sigma/,
  );
  for (const t of [got, want, one]) t.dispose();
  up.packed.dispose();
});
