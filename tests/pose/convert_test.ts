import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  conversionPath,
  convertKeypoints2D,
  convertKeypoints3D,
  createKeypoints2D,
  createKeypoints3D,
} from "../../pose/convert.ts";
import { fixture } from "../_shared.ts";

const fx = JSON.parse(Deno.readTextFileSync(fixture("pose_fixtures.json")));

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

Deno.test("COCO-17 -> H36M-17 equals MMPose's rule (NumPy oracle), coordinates and scores", () => {
  const c = fx.coco_to_h36m;
  const kp = createKeypoints2D({
    skeleton: "coco17",
    frames: 3,
    coords: Float32Array.from(c.coords),
    scores: Float32Array.from(c.scores),
  });
  const h = convertKeypoints2D(kp, "h36m17");
  assert.equal(h.skeleton, "h36m17");
  assert.equal(h.joints, 17);
  close(h.coords, c.expected_coords, 1e-3, "coords");
  close(h.scores!, c.expected_scores, 1e-6, "scores");
  assert.ok(h.mask.every((m) => m === 1));
});

Deno.test("BODY_25 and BlazePose-33 -> H36M-17 follow the documented rules (NumPy oracle)", () => {
  for (const [name, skeleton] of [["body25_to_h36m", "body25"], ["blazepose_to_h36m", "blazepose33"]]) {
    const c = fx[name];
    const kp = createKeypoints2D({ skeleton, frames: 2, coords: Float32Array.from(c.coords) });
    close(convertKeypoints2D(kp, "h36m17").coords, c.expected_coords, 1e-3, name);
  }
});

Deno.test("a joint derived from a missing or low-confidence joint is missing, never zero-filled", () => {
  const coords = new Float32Array(17 * 2).map((_, i) => 100 + i);
  const scores = new Float32Array(17).fill(0.9);
  const mask = new Uint8Array(17).fill(1);
  mask[11] = 0; // left_hip missing -> Hip, LHip, Spine missing
  scores[1] = 0.01; // left_eye below minScore -> Head missing
  const kp = createKeypoints2D({ skeleton: "coco17", frames: 1, coords, scores, mask });
  const h = convertKeypoints2D(kp, "h36m17");
  const missing = [...h.mask].flatMap((m, j) => m ? [] : [j]);
  assert.deepEqual(missing, [0, 4, 7, 10]);
  assert.equal(h.coords[0], 0);
  // With minScore 0 the eye counts again.
  const h2 = convertKeypoints2D(kp, "h36m17", { minScore: 0 });
  assert.deepEqual([...h2.mask].flatMap((m, j) => m ? [] : [j]), [0, 4, 7]);
  // Hand-computed: Head = mean(eyes) = ((102+104)/2, (103+105)/2).
  assert.deepEqual([h2.coords[20], h2.coords[21]], [103, 104]);
});

Deno.test("BODY_25 falls back to mean(hips) for a missing MidHip and mean(shoulders) for Neck", () => {
  const coords = new Float32Array(25 * 2);
  const set = (j: number, x: number, y: number) => {
    coords[2 * j] = x;
    coords[2 * j + 1] = y;
  };
  for (let j = 0; j < 25; j++) set(j, j, 2 * j);
  set(9, 10, 0); // RHip
  set(12, 20, 4); // LHip
  set(2, 0, 100); // RShoulder
  set(5, 8, 104); // LShoulder
  const mask = new Uint8Array(25).fill(1);
  mask[8] = 0; // MidHip
  mask[1] = 0; // Neck
  const h = convertKeypoints2D(createKeypoints2D({ skeleton: "body25", frames: 1, coords, mask }), "h36m17");
  assert.deepEqual([h.coords[0], h.coords[1]], [15, 2]); // Hip = mean(RHip, LHip)
  assert.deepEqual([h.coords[16], h.coords[17]], [4, 102]); // Thorax = mean(shoulders)
  assert.deepEqual([h.coords[14], h.coords[15]], [9.5, 52]); // Spine = mean(Hip, Thorax)
  assert.ok(h.mask.every((m) => m === 1));
});

Deno.test("H36M family: by name; SH-16 -> H36M-17 has Neck/Nose missing; round trip exact", () => {
  const coords = Float32Array.from({ length: 17 * 3 }, (_, i) => i * 1.5 - 7);
  const h = createKeypoints3D({ skeleton: "h36m17", frames: 1, coords });
  const sh = convertKeypoints3D(h, "sh16");
  assert.deepEqual([sh.coords[0], sh.coords[1], sh.coords[2]], [coords[9], coords[10], coords[11]]); // RFoot
  const back = convertKeypoints3D(sh, "h36m17");
  assert.equal(back.mask[9], 0);
  for (let i = 0; i < 17 * 3; i++) if (Math.floor(i / 3) !== 9) assert.equal(back.coords[i], coords[i]);
  assert.equal(convertKeypoints3D(h, "martinez16out").coords[0], coords[3]);
});

Deno.test("chained conversion through h36m17 and clear errors", () => {
  assert.deepEqual(conversionPath("coco17", "sh16").map((r) => `${r.from}>${r.to}`), [
    "coco17>h36m17",
    "h36m17>sh16",
  ]);
  assert.throws(
    () => conversionPath("h36m17", "coco17"),
    (e) => e instanceof InputError && /h36m17 to coco17/.test(e.message),
  );
  assert.throws(
    () => createKeypoints2D({ skeleton: "coco17", frames: 1, coords: new Float32Array(33), where: "x.json" }),
    (e) => e instanceof InputError && /x\.json: coords has 33 numbers, expected .*34/.test(e.message),
  );
  const bad = new Float32Array(34);
  bad[5] = NaN;
  assert.throws(
    () => createKeypoints2D({ skeleton: "coco17", frames: 1, coords: bad }),
    (e) => e instanceof InputError && /joint 2 \(right_eye\).*NaN/.test(e.message),
  );
  assert.throws(() => createKeypoints2D({ skeleton: "coco17", frames: 0 }), InputError);
});
