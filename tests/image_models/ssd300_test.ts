// SSD300 (VGG16, ssd.pytorch keys) against tests/fixtures/gen_image_models.py (section "ssd"): the raw
// forward at 300×300 with hash weights (2 classes) within 1e-3 relative, PriorBox (VOC and COCO sizes)
// within 1e-6, and Detect's decoding + per-class NMS on synthetic outputs (same boxes, scores, order).
import assert from "node:assert/strict";
import { initEngine, tensor, tidy } from "../../engine/mod.ts";
import { detections, priorBoxes, Ssd300 } from "../../models/ssd300.ts";
import { hashInput, hashStateDict, moduleKeys } from "./_hash.ts";
import { assertClose, loadFixture } from "./_util.ts";

await initEngine();
const fx = await loadFixture("ssd");

Deno.test("ssd300: keys equal ssd.pytorch's; the forward matches PyTorch", async () => {
  const model = new Ssd300({ num_classes: 2, person_class: 1 });
  assert.deepEqual(moduleKeys(model), JSON.parse(fx.metadata.keys));
  await model.loadStateDict(hashStateDict(moduleKeys(model)));
  const x = tensor(hashInput("input/ssd", [1, 3, 300, 300]), [1, 3, 300, 300]);
  model.checkInput(x.shape);
  const y = tidy(() => model.forward(x));
  assert.deepEqual(y.shape, [1, 8732, 6]);
  assertClose(await y.read(), fx.get("output").data as Float32Array, "ssd300 output");
  for (const t of [x, y]) t.dispose();
  model.dispose();
});

Deno.test("ssd300: PriorBox and Detect (decode, threshold, NMS) match ssd.pytorch", () => {
  assertClose(priorBoxes("voc"), fx.get("priors").data as Float32Array, "voc priors", 1e-6);
  assertClose(priorBoxes("coco"), fx.get("priors_coco").data as Float32Array, "coco priors", 1e-6);
  const dets = detections(
    fx.get("synth_loc").data as Float32Array,
    fx.get("synth_probs").data as Float32Array,
    {
      numClasses: 2,
      label: 1,
      confThresh: 0.3,
    },
  );
  const want = fx.get("synth_dets").data as Float32Array;
  assert.equal(dets.length, want.length / 5);
  dets.forEach((d, i) => {
    [...d.bbox, d.score].forEach((v, k) => assert.ok(Math.abs(v - want[5 * i + k]) < 1e-5, `det ${i}[${k}]`));
  });
});

Deno.test("ssd300: detect() runs on an image and returns boxes inside it, sorted by score", async () => {
  const model = new Ssd300({ num_classes: 2, person_class: 1, conf_thresh: 0.5, top_k: 20 });
  const image = {
    width: 64,
    height: 48,
    channels: 3,
    data: new Uint8Array(64 * 48 * 3).map((_, i) => i % 251),
  };
  const dets = await model.detect(image);
  for (let i = 1; i < dets.length; i++) assert.ok(dets[i - 1].score >= dets[i].score);
  assert.ok(dets.length <= 20);
  for (const d of dets) assert.ok(d.bbox.every(Number.isFinite) && d.label === 1);
  model.dispose();
});

Deno.test("ssd300: priors and person class follow ssd.pytorch's cfg choice (voc iff 21 classes)", () => {
  const voc = new Ssd300(), coco = new Ssd300({ num_classes: 201 }), two = new Ssd300({ num_classes: 2 });
  assert.equal(voc.priorSizes, "voc");
  assert.equal(voc.personClass, 15);
  assert.equal(coco.priorSizes, "coco");
  assert.equal(coco.personClass, 1);
  assertClose(two.priors, fx.get("priors_coco").data as Float32Array, "2-class priors are COCO's", 1e-6);
  assert.equal(new Ssd300({ num_classes: 2, prior_sizes: "voc" }).priorSizes, "voc");
  assert.throws(() => new Ssd300({ num_classes: 2, person_class: 2 }), /person_class/);
  for (const m of [voc, coco, two]) m.dispose();
});
