// posegpu refine2d end to end on the shared COCO sample: the 73 real predictions → PoseFix with UNTRAINED
// weights (no trained PoseFix checkpoint exists here, so the refined keypoints are meaningless; ResNet-18
// at 128×96 to keep the test short) → COCO results JSON → posegpu eval coco runs to completion with valid
// statistics. Skipped without ../shared/data/coco.
import assert from "node:assert/strict";
import { join } from "node:path";
import { command as refine2d } from "../../cli/commands/refine2d.ts";
import { command as evalCommand } from "../../cli/commands/eval.ts";
import { initEngine } from "../../engine/mod.ts";
import { writeStateDict } from "../../layers/mod.ts";
import { PoseFix } from "../../models/posefix.ts";
import { COCO_STAT_KEYS, evaluateCocoKeypointFiles } from "../../pose/coco_eval.ts";
import { readCocoResults } from "../../pose/formats/coco.ts";
import { sharedData } from "../_shared.ts";

const coco = sharedData("coco/predictions_sample.json");
const dir = coco ? coco.slice(0, coco.lastIndexOf("/")) : "";
const SMALL = ["--config", "num_layers=18", "input_height=128", "input_width=96"];

Deno.test({
  name: "refine2d: 73 COCO predictions refined (untrained weights) and evaluated by posegpu eval coco",
  ignore: !coco,
  fn: async () => {
    await initEngine();
    const tmp = await Deno.makeTempDir();
    const out = join(tmp, "refined.json");
    const gt = join(dir, "person_keypoints_sample.json");
    const code = await refine2d.run([
      "--image-dir",
      dir,
      "--annotations",
      gt,
      "--input",
      coco!,
      "--untrained",
      "--no-flip",
      "--out",
      out,
      ...SMALL,
    ]);
    assert.equal(code, 0);
    const input = await readCocoResults(coco!);
    const refined = await readCocoResults(out);
    // PoseFix_RELEASE's output: per-image OKS-NMS may drop near-duplicates; [x, y, 1] keypoints; the
    // input score (4 decimals); images by descending id.
    const positive = input.filter((r) => r.score > 0).length;
    assert.ok(refined.length >= 1 && refined.length <= positive, `${refined.length} results`);
    const ids = refined.map((r) => r.image_id);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "images by descending id");
    for (const r of refined) {
      assert.deepEqual(Object.keys(r).sort(), ["category_id", "image_id", "keypoints", "score"]);
      assert.ok(
        input.some((p) => p.image_id === r.image_id && Math.abs(p.score - r.score) <= 5e-5),
        `score ${r.score} of image ${r.image_id} comes from an input record`,
      );
      for (let j = 0; j < 17; j++) {
        assert.ok(Number.isFinite(r.keypoints[3 * j]) && Number.isFinite(r.keypoints[3 * j + 1]));
        assert.equal(r.keypoints[3 * j + 2], 1);
      }
    }
    // Without NMS every person with a positive score comes back (test.py drops score ≤ 0: 34 of the 73).
    const all = join(tmp, "all.json");
    const args = ["--image-dir", dir, "--annotations", gt, "--input", coco!, "--untrained", "--no-flip"];
    assert.equal(await refine2d.run([...args, "--no-nms", "--out", all, ...SMALL]), 0);
    assert.equal((await readCocoResults(all)).length, input.filter((r) => r.score > 0).length);
    const { stats } = await evaluateCocoKeypointFiles(gt, out);
    for (const k of COCO_STAT_KEYS) assert.ok(stats[k] >= 0 && stats[k] <= 1, `${k} = ${stats[k]}`);
    console.log(`untrained PoseFix (R18, 128×96) AP ${stats.AP.toFixed(3)} (input predictions: 0.861)`);
    assert.equal(await evalCommand.run(["coco", "--gt", gt, "--dt", out, "--json"]), 0);
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "refine2d: --image with --weights (metadata config, flip test); argument errors",
  ignore: !coco,
  fn: async () => {
    await initEngine();
    const tmp = await Deno.makeTempDir();
    const all = await readCocoResults(coco!);
    const one = all.filter((r) => r.image_id === 785);
    const input = join(tmp, "one.json"), out = join(tmp, "out.json"), weights = join(tmp, "w.safetensors");
    await Deno.writeTextFile(input, JSON.stringify(one));
    const config = { num_layers: 18, input_height: 64, input_width: 64 };
    const model = new PoseFix(config);
    await writeStateDict(weights, await model.stateDict(), { metadata: { config: JSON.stringify(config) } });
    model.dispose();
    const image = join(dir, "000000000785.jpg");
    assert.equal(
      await refine2d.run(["--image", image, "--input", input, "--weights", weights, "--out", out]),
      0,
    );
    const got = await readCocoResults(out);
    assert.ok(got.length >= 1 && got.length <= one.length);
    await assert.rejects(
      () => refine2d.run(["--image", image, "--input", coco!, "--weights", weights, "--out", out]),
      /image ids/,
    );
    await assert.rejects(
      () => refine2d.run(["--image", image, "--input", input, "--out", out]),
      /--untrained/,
    );
    await assert.rejects(
      () =>
        refine2d.run(["--image", image, "--image-dir", dir, "--input", input, "--untrained", "--out", out]),
      /exactly one/,
    );
    await assert.rejects(
      () =>
        refine2d.run(["--image", image, "--input", input, "--untrained", "--out", out, "--config", "nope=1"]),
      /unknown config key/,
    );
    await Deno.remove(tmp, { recursive: true });
  },
});
