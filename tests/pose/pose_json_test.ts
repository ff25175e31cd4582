import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { createKeypoints2D, createKeypoints3D } from "../../pose/convert.ts";
import {
  createPoseDocument,
  parsePoseJson,
  poseJsonText,
  readPoseJson,
  writePoseJson,
} from "../../pose/formats/pose_json.ts";

function sampleDocument() {
  const coords2 = Float32Array.from({ length: 2 * 17 * 2 }, (_, i) => 100 + i * 0.1);
  const scores = Float32Array.from({ length: 2 * 17 }, (_, i) => (i % 10) / 10);
  const mask2 = new Uint8Array(34).fill(1);
  mask2[20] = 0;
  coords2[40] = coords2[41] = 0; // missing joints have zero coordinates
  const coords3 = Float32Array.from({ length: 2 * 17 * 3 }, (_, i) => Math.fround(-500 + i * 3.3));
  return createPoseDocument({
    skeleton: "h36m17",
    units: "mm",
    frame: "camera",
    fps: 50,
    image: { width: 1000, height: 1002 },
    frameIds: ["a.jpg", "b.jpg", "c.jpg"],
    model: "videopose3d",
    weights: "w.safetensors",
    people: [
      {
        track: 4,
        frames: [0, 2],
        keypoints2d: createKeypoints2D({
          skeleton: "h36m17",
          frames: 2,
          coords: coords2,
          scores,
          mask: mask2,
        }),
        keypoints3d: createKeypoints3D({ skeleton: "h36m17", frames: 2, coords: coords3 }),
        meta: { note: "x" },
      },
      {
        track: 7,
        frames: [1],
        keypoints2d: null,
        keypoints3d: createKeypoints3D({ skeleton: "h36m17", frames: 1, coords: coords3.slice(0, 51) }),
      },
    ],
  });
}

Deno.test("pose JSON round trip keeps every float32, mask, score, id and field", async () => {
  const doc = sampleDocument();
  const dir = await Deno.makeTempDir();
  try {
    await writePoseJson(`${dir}/p.json`, doc);
    const back = await readPoseJson(`${dir}/p.json`);
    assert.deepEqual(back, doc);
    const text = await Deno.readTextFile(`${dir}/p.json`);
    assert.match(text, /"format": "posegpu-pose"/);
    assert.match(text, /null/); // the missing joint
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hand-written pose JSON file parses", () => {
  const joints = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
  ]; // deno-fmt-ignore
  const row = joints.map((_, j) => (j === 3 ? null : [j, 2 * j]));
  const doc = parsePoseJson({
    format: "posegpu-pose",
    version: 1,
    skeleton: "coco17",
    joints,
    units: "px",
    frame: "image",
    fps: null,
    model: null,
    weights: null,
    people: [{ track: 0, frames: [5], keypoints2d: [row] }],
  }, "hand.json");
  const kp = doc.people[0].keypoints2d!;
  assert.equal(kp.mask[3], 0);
  assert.deepEqual([kp.coords[8], kp.coords[9]], [4, 8]);
  assert.equal(kp.scores, null);
  assert.deepEqual(doc.people[0].frames, [5]);
});

Deno.test("malformed pose JSON is rejected naming the file, person, field and index", () => {
  const good = JSON.parse(poseJsonText(sampleDocument()));
  const bad = (
    mutate: (j: Record<string, unknown> & { people: Record<string, unknown>[] }) => void,
    re: RegExp,
  ) => {
    const j = structuredClone(good);
    mutate(j);
    assert.throws(
      () => parsePoseJson(j, "p.json"),
      (e) => e instanceof InputError && re.test(e.message),
      String(re),
    );
  };
  bad((j) => (j.format = "other"), /p\.json: "format" is the string "other", expected "posegpu-pose"/);
  bad((j) => (j.version = 2), /p\.json: version 2 is newer/);
  bad((j) => (j.joints = ["Hip"]), /"joints" does not match skeleton h36m17/);
  bad((j) => (j.skeleton = "smpl"), /unknown skeleton "smpl"/);
  bad((j) => (j.units = "km"), /"units" is the string "km"/);
  bad((j) => (j.people = []), /"people" is empty/);
  bad(
    (j) => ((j.people[0].keypoints2d as unknown[]).pop()),
    /people\[0\] \(track 4\): "keypoints2d" is an array of 1, expected one entry per frame \(2\)/,
  );
  bad(
    (j) => ((j.people[0].keypoints2d as unknown[][])[1][3] = [1, 2, 3]),
    /"keypoints2d"\[1\]\[3\] \(frame \d+, joint "[^"]+"\) is an array of 3 \(\[1, 2, 3\]\), expected \[x, y\]/,
  );
  bad((j) => ((j.people[0].keypoints3d as unknown[][])[0][0] = [1, "NaN", 3]), /"keypoints3d"\[0\]\[0\]/);
  bad(
    (j) => ((j.people[0].keypoints3d as unknown[][])[0] = []),
    /"keypoints3d"\[0\] is an array of 0, expected 17 joints/,
  );
  bad((j) => (j.people[0].frames = [2, 2]), /"frames"\[1\] = 2 does not increase/);
  bad((j) => (j.people[0].frames = []), /"frames" is empty/);
  bad((j) => (j.people[1].keypoints3d = null), /people\[1\] \(track 7\): has neither/);
  bad(
    (j) => ((j.people[0].scores as unknown[][])[0][2] = "high"),
    /"scores"\[0\]\[2\] \(frame \d+, joint "[^"]+"\) is the string "high"/,
  );
  bad((j) => (j.people[1].track = 1.5), /people\[1\]: "track" is the number 1\.5, expected an integer/);
});
