// posegpu pose2d end to end on the shared COCO sample with UNTRAINED weights (no trained CPN/SSD
// checkpoint here, so the keypoints are meaningless; CPN at 64×64 to keep it short): person boxes from
// a COCO detections file (the sample's ground-truth boxes) → COCO results → posegpu eval coco runs to
// completion; the SSD300 detector path and plain box arrays on one image. Skipped without the data.
import assert from "node:assert/strict";
import { join } from "node:path";
import { command as pose2d } from "../../cli/commands/pose2d.ts";
import { command as evalCommand } from "../../cli/commands/eval.ts";
import { initEngine } from "../../engine/mod.ts";
import { readCocoKeypoints, readCocoResults } from "../../pose/formats/coco.ts";
import { sharedData } from "../_shared.ts";

const gt = sharedData("coco/person_keypoints_sample.json");
const dir = gt ? gt.slice(0, gt.lastIndexOf("/")) : "";
const SMALL = ["--config", "input_height=64", "input_width=64", "--no-flip"];

Deno.test({
  name: "pose2d: CPN (untrained) on the sample's person boxes → COCO results → eval coco",
  ignore: !gt,
  fn: async () => {
    await initEngine();
    const tmp = await Deno.makeTempDir();
    const data = await readCocoKeypoints(gt!);
    const dets = data.annotations.filter((a) => !a.iscrowd).map((a) => ({
      image_id: a.image_id,
      category_id: 1,
      bbox: a.bbox,
      score: 1,
    }));
    const boxes = join(tmp, "dets.json"), out = join(tmp, "pose.json");
    await Deno.writeTextFile(boxes, JSON.stringify(dets));
    const args = ["--image-dir", dir, "--annotations", gt!, "--boxes", boxes, "--untrained", "--out", out];
    assert.equal(await pose2d.run([...args, ...SMALL]), 0);
    const res = await readCocoResults(out);
    assert.equal(res.length, dets.length);
    for (const r of res) assert.ok(r.keypoints.every(Number.isFinite) && Number.isFinite(r.score));
    assert.equal(await evalCommand.run(["coco", "--gt", gt!, "--dt", out, "--json"]), 0);
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "pose2d: --detector ssd (untrained) and plain boxes on one image; argument errors",
  ignore: !gt,
  fn: async () => {
    await initEngine();
    const tmp = await Deno.makeTempDir();
    const image = join(dir, "000000000785.jpg"), out = join(tmp, "p.json"), boxes = join(tmp, "b.json");
    const dc = (kv: string) => ["--detector-config", kv];
    const ssd = ["--detector", "ssd", ...dc("num_classes=2"), ...dc("person_class=1"), ...dc("top_k=2")];
    assert.equal(
      await pose2d.run([
        "--image",
        image,
        ...ssd,
        "--box-thresh",
        "0",
        "--untrained",
        "--out",
        out,
        ...SMALL,
      ]),
      0,
    );
    const res = await readCocoResults(out);
    assert.ok(res.length >= 1 && res.length <= 2);
    assert.equal(res[0].image_id, 785);
    await Deno.writeTextFile(boxes, JSON.stringify([[100, 50, 80, 200, 0.9], [300, 40, 60, 180]]));
    assert.equal(
      await pose2d.run([
        "--image",
        image,
        "--image-id",
        "7",
        "--boxes",
        boxes,
        "--untrained",
        "--out",
        out,
        ...SMALL,
      ]),
      0,
    );
    assert.deepEqual((await readCocoResults(out)).map((r) => r.image_id), [7, 7]);
    await assert.rejects(() => pose2d.run(["--image", image, "--boxes", boxes, "--out", out]), /--untrained/);
    await assert.rejects(
      () => pose2d.run(["--image", image, "--detector", "yolo", "--untrained", "--out", out]),
      /unknown detector/,
    );
    await Deno.remove(tmp, { recursive: true });
  },
});
