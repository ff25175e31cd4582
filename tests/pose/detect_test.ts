import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { createKeypoints2D, createKeypoints3D } from "../../pose/convert.ts";
import {
  detectJsonFormat,
  detectPoseFormat,
  readPoseDocument,
  writePoseDocument,
} from "../../pose/formats/detect.ts";
import { createPoseDocument } from "../../pose/formats/pose_json.ts";
import { fixture } from "../_shared.ts";

Deno.test("detectJsonFormat recognises every JSON format", () => {
  assert.equal(detectJsonFormat({ format: "posegpu-pose" }), "pose-json");
  assert.equal(detectJsonFormat({ images: [], annotations: [] }), "coco-keypoints");
  assert.equal(detectJsonFormat([{ image_id: 1, keypoints: [] }]), "coco-results");
  assert.equal(detectJsonFormat({ people: [{ pose_keypoints_2d: [] }] }), "openpose");
  assert.equal(detectJsonFormat({ version: 1.3, people: [] }), "openpose");
  assert.equal(detectJsonFormat([null, { landmarks: [] }]), "mediapipe");
  assert.equal(detectJsonFormat({ frames: [{ pose_landmarks: [] }] }), "mediapipe");
  assert.equal(detectJsonFormat({ poseLandmarks: [] }), "mediapipe");
  assert.equal(detectJsonFormat({ x: 1 }), null);
  assert.equal(detectJsonFormat(3), null);
});

Deno.test("every writable format is written and read back through detection", async () => {
  const coords = Float32Array.from({ length: 17 * 2 }, (_, i) => 10 + i);
  const coco = createPoseDocument({
    skeleton: "coco17",
    frameIds: [42],
    people: [{
      track: 0,
      frames: [0],
      keypoints2d: createKeypoints2D({ skeleton: "coco17", frames: 1, coords }),
      keypoints3d: null,
    }],
  });
  const body = createPoseDocument({
    skeleton: "body25",
    people: [{
      track: 0,
      frames: [0],
      keypoints2d: createKeypoints2D({ skeleton: "body25", frames: 1, coords: new Float32Array(50).fill(5) }),
      keypoints3d: null,
    }],
  });
  const clip = await readPoseDocument(fixture("bvh_synthetic_h36m.bvh"));
  assert.equal(clip.units, "unit");
  const dir = await Deno.makeTempDir();
  try {
    const cases = [
      ["p.json", coco, "pose-json", undefined],
      ["p.csv", coco, "csv", undefined],
      ["gt.json", coco, "coco-keypoints", "coco-keypoints"],
      ["dt.json", coco, "coco-results", "coco-results"],
      ["op", body, "openpose", "openpose"],
      ["c.bvh", clip, "bvh", undefined],
    ] as const;
    for (const [name, doc, format, explicit] of cases) {
      const path = `${dir}/${name}`;
      await writePoseDocument(path, doc, { format: explicit });
      assert.equal(await detectPoseFormat(path), format, name);
      const back = await readPoseDocument(path, { bvh: { scale: 1 } });
      assert.equal(back.skeleton, doc.skeleton, name);
      const a = back.people[0].keypoints2d ?? back.people[0].keypoints3d!;
      const b = doc.people[0].keypoints2d ?? doc.people[0].keypoints3d!;
      for (let i = 0; i < a.coords.length; i++) {
        assert.ok(Math.abs(a.coords[i] - b.coords[i]) < 1e-3, `${name} ${i}`);
      }
    }
    await Deno.writeTextFile(`${dir}/odd.json`, JSON.stringify({ hello: 1 }));
    await assert.rejects(
      () => detectPoseFormat(`${dir}/odd.json`),
      (e) => e instanceof InputError && /odd\.json: cannot tell/.test(e.message),
    );
    await assert.rejects(() => readPoseDocument(`${dir}/missing.json`), /missing\.json: cannot read/);
    await assert.rejects(() => writePoseDocument(`${dir}/x.bvh`, coco), /BVH output needs 3D keypoints/);
    await assert.rejects(
      () => writePoseDocument(`${dir}/x.json`, clip, { format: "coco-results" }),
      /needs skeleton coco17/,
    );
    const h36m3d = createKeypoints3D({ skeleton: "h36m17", frames: 1, coords: new Float32Array(51) });
    assert.equal(h36m3d.frames, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
