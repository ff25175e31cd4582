import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { convertKeypoints2D } from "../../pose/convert.ts";
import { listOpenPoseFrames, readOpenPose, writeOpenPose } from "../../pose/formats/openpose.ts";

const person = (base: number, id?: number) => ({
  ...(id === undefined ? { person_id: [-1] } : { person_id: [id] }),
  pose_keypoints_2d: Array.from(
    { length: 25 },
    (_, j) => (j === 24 ? [0, 0, 0] : [base + j, base + 2 * j, 0.5]),
  ).flat(),
  face_keypoints_2d: [],
});

async function withFolder(files: Record<string, unknown>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, body] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, typeof body === "string" ? body : JSON.stringify(body));
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("OpenPose folder: sorted by frame number, tracks by position, c = 0 is missing; write/read round trip", async () => {
  await withFolder({
    "clip_000000000010_keypoints.json": { version: 1.3, people: [] },
    "clip_000000000002_keypoints.json": { version: 1.3, people: [person(300)] },
    "clip_000000000001_keypoints.json": { version: 1.3, people: [person(100), person(200)] },
    "notes.txt": "ignored",
  }, async (dir) => {
    const frames = await listOpenPoseFrames(dir);
    assert.deepEqual(frames.map((f) => f.frame), [1, 2, 10]);
    const doc = await readOpenPose(dir);
    assert.equal(doc.skeleton, "body25");
    assert.deepEqual(doc.people.map((p) => [p.track, p.frames]), [[0, [1, 2]], [1, [1]]]);
    const kp = doc.people[0].keypoints2d!;
    assert.deepEqual([kp.coords[2], kp.coords[3], kp.scores![1], kp.mask[24]], [101, 102, 0.5, 0]);
    assert.deepEqual([kp.coords[50], kp.coords[51]], [300, 300]); // frame 2, joint 0
    // BODY_25 -> H36M-17: Hip = MidHip (joint 8) = (108, 116).
    const h = convertKeypoints2D(kp, "h36m17");
    assert.deepEqual([h.coords[0], h.coords[1]], [108, 116]);
    const out = `${dir}/out`;
    await writeOpenPose(out, doc, { prefix: "x" });
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, ["x_000000000001_keypoints.json", "x_000000000002_keypoints.json"]);
    assert.deepEqual(await readOpenPose(out), doc);
  });
});

Deno.test("OpenPose person_id tracks and a single frame file", async () => {
  await withFolder({
    "a_000000000003_keypoints.json": { people: [person(1, 7)] },
  }, async (dir) => {
    const doc = await readOpenPose(`${dir}/a_000000000003_keypoints.json`);
    assert.deepEqual(doc.people.map((p) => [p.track, p.frames]), [[7, [3]]]);
  });
});

Deno.test("malformed OpenPose input is rejected naming file, person and field", async () => {
  const bad = async (files: Record<string, unknown>, re: RegExp) => {
    await withFolder(files, async (dir) => {
      await assert.rejects(
        () => readOpenPose(dir),
        (e) => e instanceof InputError && re.test(e.message),
        String(re),
      );
    });
  };
  const coco18 = { people: [{ pose_keypoints_2d: new Array(54).fill(1) }] };
  await bad(
    { "v_000000000000_keypoints.json": coco18 },
    /person 0: "pose_keypoints_2d" has 54 numbers, expected 75 \(BODY_25\) \(COCO-18/,
  );
  const nan = person(1);
  (nan.pose_keypoints_2d as unknown[])[7] = "NaN";
  await bad(
    { "v_000000000000_keypoints.json": { people: [nan] } },
    /"pose_keypoints_2d"\[7\] \(keypoint 2, joint "RShoulder" y\) is the string "NaN"/,
  );
  await bad({
    "a_000000000001_keypoints.json": { people: [] },
    "b_000000000001_keypoints.json": { people: [] },
  }, /two files for frame 1/);
  await bad({ "x_keypoints.json": { people: [] } }, /no frame number/);
  await bad({ "v_000000000000_keypoints.json": { people: [] } }, /no people in any of the 1 frame file/);
  await bad({ "v_000000000000_keypoints.json": "{" }, /v_000000000000_keypoints\.json: not valid JSON/);
  await bad({ "v_000000000000_keypoints.json": { persons: [] } }, /"people" is missing, expected an array/);
  await bad({}, /no OpenPose \*_keypoints\.json files/);
});
