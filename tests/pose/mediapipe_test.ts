import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { convertKeypoints2D } from "../../pose/convert.ts";
import { parseMediaPipe } from "../../pose/formats/mediapipe.ts";

const landmarks = (shift: number, visibility = true) =>
  Array.from({ length: 33 }, (_, j) => ({
    x: (j + shift) / 100,
    y: (2 * j) / 100,
    z: -0.1,
    ...(visibility ? { visibility: j === 0 ? 0.01 : 0.9 } : {}),
  }));

Deno.test("MediaPipe: array of frames with landmarks, scaled to pixels by the given size", () => {
  const doc = parseMediaPipe(
    [{ landmarks: landmarks(0) }, null, { poseLandmarks: landmarks(1) }],
    "mp.json",
    {
      width: 200,
      height: 100,
    },
  );
  assert.equal(doc.skeleton, "blazepose33");
  const kp = doc.people[0].keypoints2d!;
  assert.deepEqual(doc.people[0].frames, [0, 2]);
  // Hand-computed: landmark 3 of frame 0 at (0.03 * 200, 0.06 * 100).
  assert.ok(Math.abs(kp.coords[6] - 6) < 1e-5 && Math.abs(kp.coords[7] - 6) < 1e-5);
  assert.ok(Math.abs(kp.scores![0] - 0.01) < 1e-7);
  // The nose has visibility 0.01 < minScore: Neck/Nose missing after conversion, the rest present.
  const h = convertKeypoints2D(kp, "h36m17");
  assert.equal(h.mask[9], 0);
  assert.equal(h.mask.reduce((s, m) => s + m, 0), 2 * 17 - 2);
});

Deno.test("MediaPipe: {frames, width, height}, Tasks-style several people, array landmarks, world landmarks", () => {
  const arr = landmarks(0, false).map((l) => [l.x, l.y, l.z]);
  const doc = parseMediaPipe({
    width: 100,
    height: 50,
    fps: 30,
    frames: [
      { frame: 4, landmarks: [landmarks(0), landmarks(5)], worldLandmarks: [landmarks(0), landmarks(0)] },
      { frame: 6, landmarks: [arr], worldLandmarks: [landmarks(0)] },
    ],
  }, "tasks.json");
  assert.equal(doc.fps, 30);
  assert.deepEqual(doc.image, { width: 100, height: 50 });
  assert.deepEqual(doc.people.map((p) => [p.track, p.frames]), [[0, [4, 6]], [1, [4]]]);
  assert.equal(doc.units, "m");
  assert.equal(doc.frame, "world");
  const k3 = doc.people[0].keypoints3d!;
  assert.ok(Math.abs(k3.coords[3 * 5] - 0.05) < 1e-7);
  // A landmark without visibility scores 1 when the file has scores elsewhere.
  assert.equal(doc.people[0].keypoints2d!.scores![33], 1);
});

Deno.test("malformed MediaPipe input is rejected naming file, frame and landmark", () => {
  const bad = (json: unknown, re: RegExp, options = { width: 10, height: 10 }) =>
    assert.throws(
      () => parseMediaPipe(json, "mp.json", options),
      (e) => e instanceof InputError && re.test(e.message),
      String(re),
    );
  bad([{ landmarks: landmarks(0) }], /give the image size/, {} as { width: number; height: number });
  bad(
    [{ landmarks: landmarks(0).slice(1) }],
    /frame entry 0: "landmarks": has an array of 32 landmarks, expected 33/,
  );
  const nan = landmarks(0) as Record<string, unknown>[];
  nan[5] = { x: "0.1", y: 0.2 };
  bad(
    [{ landmarks: nan }],
    /frame entry 0: "landmarks"\[5\] \(person 0, joint "right_eye"\): "x" is the string "0\.1", expected a finite number/,
  );
  bad([], /mp\.json: no frames/);
  bad([{ landmarks: [] }], /no landmarks in any of the 1 frame entries/);
  bad({ something: 1 }, /expected an array of frames/);
  bad(
    [{ frame: 3, landmarks: landmarks(0) }, { frame: 2, landmarks: landmarks(0) }],
    /frame 2 does not follow frame 3/,
  );
});
