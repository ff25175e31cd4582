// PoseFix training on the shared COCO sample: input poses synthesised from the ground truth with
// PoseFix's error statistics (pose/synthesis.ts), crops of the ground-truth boxes, integralLoss
// (softmax cross-entropy + L1 on soft-argmax coordinates) through the differentiable conv/deconv/pool ops,
// BatchNorm in training mode, Adam. The loss must fall over 16 steps on a fixed batch (ResNet-18 at
// 64×64 to keep it short). Skipped without ../shared/data/coco.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initEngine } from "../../engine/mod.ts";
import { Adam, LossLog, trainStep } from "../../engine/optim.ts";
import { manualSeed } from "../../engine/random.ts";
import { type ImageTensor, uploadImage } from "../../engine/kernels/image.ts";
import { PoseFix, posefixBatch, posefixLoss, synthesizeSamples } from "../../models/posefix.ts";
import { readCocoKeypoints } from "../../pose/formats/coco.ts";
import { readImage, toRgb } from "../../pose/image/mod.ts";
import { seededRandom } from "../../pose/synthesis.ts";
import { sharedData } from "../_shared.ts";

const gtPath = sharedData("coco/person_keypoints_sample.json");

Deno.test({
  name: "posefix training: the integral loss falls over 16 Adam steps on synthesised COCO inputs",
  ignore: !gtPath,
  fn: async () => {
    await initEngine();
    manualSeed(1);
    const data = await readCocoKeypoints(gtPath!);
    const dir = gtPath!.slice(0, gtPath!.lastIndexOf("/"));
    // The image with the most labelled people (decoding is CPU work: one image gives 4 samples).
    const labelled = data.annotations.filter((a) => !a.iscrowd && a.num_keypoints > 0);
    const count = (id: number) => labelled.filter((a) => a.image_id === id).length;
    const best = data.images.reduce((a, b) => (count(b.id) > count(a.id) ? b : a));
    const persons = labelled.filter((a) => a.image_id === best.id);
    const d = await readImage(join(dir, best.file_name!));
    const images = new Map<number, ImageTensor>([[best.id, uploadImage(d.channels === 3 ? d : toRgb(d))]]);
    const samples = synthesizeSamples(persons, { images, random: seededRandom(3) }).slice(0, 4);
    assert.equal(samples.length, 4);
    const model = new PoseFix({ num_layers: 18, input_height: 64, input_width: 64, input_sigma: 2 }).train();
    const batch = posefixBatch(model, samples, { augment: { random: seededRandom(4) } });
    assert.deepEqual(batch.input.shape, [4, 20, 64, 64]);
    assert.deepEqual(batch.target.shape, [4, 17, 2]);
    const validCount = (await batch.valid.read()).reduce((a, b) => a + b, 0);
    assert.ok(validCount > 10, `only ${validCount} labelled joints inside the crops`);

    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const steps = 16;
    const log = new LossLog({ every: steps });
    for (let s = 0; s < steps; s++) {
      const loss = trainStep(opt, () => posefixLoss(model, batch).total);
      log.push(loss);
      loss.dispose();
    }
    const losses = await log.read();
    const head = (losses[0] + losses[1] + losses[2]) / 3;
    const tail = (losses[steps - 1] + losses[steps - 2] + losses[steps - 3]) / 3;
    console.log(`loss ${head.toFixed(3)} → ${tail.toFixed(3)} over ${steps} steps`);
    assert.ok(losses.every(Number.isFinite), "finite losses");
    assert.ok(tail < 0.7 * head, `loss did not fall enough: ${head} → ${tail}`);

    for (const t of [batch.input, batch.target, batch.valid]) t.dispose();
    for (const im of images.values()) im.packed.dispose();
    opt.dispose();
    log.dispose();
    model.dispose();
  },
});
