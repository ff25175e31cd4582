// PoseFix test-time refinement (crop from the input pose's box, input heatmaps, pose_resnet, soft-argmax,
// flip test, inverse crop) against the PyTorch/NumPy pipeline of tests/fixtures/gen_image_models.py
// (section "posefix"; hash weights, ResNet-18 at 128×96). Tolerance: 0.02 px on image coordinates.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { PoseFix } from "../../models/posefix.ts";
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
const poses = [0, 1, 2].map((i) => flat.subarray(i * 51, (i + 1) * 51));

for (const c of fx.cases as unknown as { name: string; config: Record<string, unknown> }[]) {
  Deno.test(`posefix ${c.name}: refined keypoints match the reference pipeline`, async () => {
    const model = new PoseFix(c.config).eval();
    await model.loadStateDict(hashStateDict(moduleKeys(model)), { fold: true });
    const out = await model.refine(image, poses, { batchSize: 2 });
    const want = fx.get(`${c.name}/refined`).data as Float32Array;
    let err = 0;
    out.forEach((p, i) => {
      for (let k = 0; k < 51; k++) {
        const d = Math.abs(p[k] - want[i * 51 + k]);
        if (k % 3 === 2) assert.equal(p[k], poses[i][k], "scores are kept");
        else err = Math.max(err, d);
      }
    });
    assert.ok(err < 0.02, `max coordinate error ${err} px`);
    model.dispose();
  });
}

Deno.test("posefix: bad configuration and poses are input errors; degenerate poses pass through", async () => {
  assert.throws(() => new PoseFix({ input_height: 100 }), /multiples of 32/);
  const model = new PoseFix({ num_layers: 18, input_height: 64, input_width: 64 }).eval();
  await assert.rejects(() => model.refine(image, [new Float32Array(50)]), /51/);
  const single = new Float32Array(51);
  single.set([10, 10, 1]);
  const [same] = await model.refine(image, [single]);
  assert.deepEqual(same, single);
  model.dispose();
});
