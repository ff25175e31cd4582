import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  bvhForwardKinematics,
  bvhFromPositions,
  bvhText,
  bvhToKeypoints3D,
  bvhToPoseDocument,
  CMU_UNIT_MM,
  parseBvh,
  readBvh,
} from "../../pose/bvh.ts";
import type { Keypoints3D } from "../../pose/convert.ts";
import { parsePoseJson, poseJsonText } from "../../pose/formats/pose_json.ts";
import { CMU_31, H36M_17 } from "../../pose/skeletons.ts";
import { fixture, sharedData } from "../_shared.ts";

function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i += 3) {
    worst = Math.max(worst, Math.hypot(a[i] - b[i], a[i + 1] - b[i + 1], a[i + 2] - b[i + 2]));
  }
  return worst;
}

/** Mean length of the non-zero bones of frame 0. */
function meanBone(kp: Keypoints3D, parents: readonly number[]): number {
  const lens = parents.flatMap((p, j) => {
    if (p < 0) return [];
    const d = [0, 1, 2].map((a) => kp.coords[j * 3 + a] - kp.coords[p * 3 + a]);
    const l = Math.hypot(...d);
    return l > 0 ? [l] : [];
  });
  return lens.reduce((s, l) => s + l, 0) / lens.length;
}

Deno.test("forward kinematics of a mixed-channel-order BVH matches the NumPy oracle", async () => {
  const clip = await readBvh(fixture("bvh_synthetic.bvh"));
  const expected = JSON.parse(await Deno.readTextFile(fixture("bvh_synthetic_fk.json")));
  assert.deepEqual(clip.joints.map((j) => j.name), [
    "Pelvis",
    "Chest",
    "Collar",
    "Arm",
    "Head",
    "Thigh",
    "Shin",
  ]);
  assert.deepEqual(clip.joints[0].channels.slice(3), ["Yrotation", "Xrotation", "Zrotation"]);
  assert.equal(clip.frames, 4);
  const fk = bvhForwardKinematics(clip, { endSites: true });
  assert.deepEqual(fk.names, expected.names);
  for (let f = 0; f < 4; f++) {
    const got = fk.positions.subarray(f * fk.names.length * 3, (f + 1) * fk.names.length * 3);
    assert.ok(maxError(got, expected.positions[f]) < 1e-9, `frame ${f}`);
  }
});

Deno.test("hand-computed FK: a 90° Z rotation swings the child offset from +X to +Y", () => {
  const clip = parseBvh(
    "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\n" +
      "JOINT B\n{\nOFFSET 2 0 0\nCHANNELS 3 Zrotation Yrotation Xrotation\nEnd Site\n{\nOFFSET 0 0 1\n}\n}\n}\n" +
      "MOTION\nFrames: 1\nFrame Time: 0.01\n10 20 30 90 0 0 0 0 0\n",
    "inline.bvh",
  );
  const fk = bvhForwardKinematics(clip, { endSites: true });
  const r = Array.from(fk.positions, (v) => Math.round(v * 1e9) / 1e9);
  assert.deepEqual(r, [10, 20, 30, 10, 22, 30, 10, 22, 31]);
});

const cmuPath = sharedData("cmu/131_01.bvh");

Deno.test({
  name: "CMU 131_01: forward kinematics matches the NumPy oracle at frames 0, 497, 993",
  ignore: cmuPath === null,
  fn: async () => {
    const clip = await readBvh(cmuPath!);
    assert.equal(clip.frames, 994);
    assert.equal(clip.joints.length, 31);
    assert.deepEqual(clip.joints.map((j) => j.name), CMU_31.joints);
    assert.deepEqual(clip.joints.map((j) => j.parent), CMU_31.parents);
    const expected = JSON.parse(await Deno.readTextFile(fixture("bvh_cmu_131_01_fk.json")));
    const fk = bvhForwardKinematics(clip, { endSites: true });
    assert.deepEqual(fk.names, expected.names);
    const P = fk.names.length;
    expected.frames.forEach((f: number, k: number) => {
      const got = fk.positions.subarray(f * P * 3, (f + 1) * P * 3);
      assert.ok(maxError(got, expected.positions[k]) < 1e-9, `frame ${f}`);
    });
  },
});

/** read -> pose JSON -> write BVH -> read, positions compared relative to the mean bone length. */
function roundTrip(kp: Keypoints3D, parents: readonly number[], what: string): number {
  const doc = parsePoseJson(
    JSON.parse(
      poseJsonText({
        skeleton: kp.skeleton,
        units: "mm",
        frame: "world",
        fps: 120,
        image: null,
        frameIds: null,
        model: null,
        weights: null,
        people: [{ track: 0, frames: [...Array(kp.frames).keys()], keypoints2d: null, keypoints3d: kp }],
      }),
    ),
    `${what}.json`,
  );
  const fromJson = doc.people[0].keypoints3d!;
  const written = parseBvh(bvhText(bvhFromPositions(fromJson, { frameTime: 1 / 120 })), `${what}.bvh`);
  const back = bvhToKeypoints3D(written, { skeleton: kp.skeleton, scale: 1 });
  const rel = maxError(back.coords, kp.coords) / meanBone(kp, parents);
  console.log(`${what}: max round-trip error ${rel.toExponential(2)} of the mean bone length`);
  return rel;
}

Deno.test({
  name: "CMU 131_01 round trip read -> pose JSON (cmu31) -> write BVH -> read within 1e-3 of a bone",
  ignore: cmuPath === null,
  fn: async () => {
    const clip = await readBvh(cmuPath!);
    const kp = bvhToKeypoints3D(clip, { skeleton: "cmu31" });
    assert.ok(roundTrip(kp, CMU_31.parents, "131_01") < 1e-3);
  },
});

Deno.test("synthetic H36M-17 BVH: FK oracle, and round trip through pose JSON within 1e-3 of a bone", async () => {
  const clip = await readBvh(fixture("bvh_synthetic_h36m.bvh"));
  const expected = JSON.parse(await Deno.readTextFile(fixture("bvh_synthetic_h36m_fk.json")));
  const kp = bvhToKeypoints3D(clip, { skeleton: "h36m17" });
  assert.equal(kp.frames, 5);
  for (let f = 0; f < 5; f++) {
    assert.ok(maxError(kp.coords.subarray(f * 51, (f + 1) * 51), expected.positions[f]) < 1e-3, `frame ${f}`);
  }
  assert.ok(roundTrip(kp, H36M_17.parents, "synthetic_h36m") < 1e-3);
});

Deno.test("non-rigid H36M-17 input: branchJoints makes every bone direction exact", async () => {
  const clip = await readBvh(fixture("bvh_synthetic_h36m.bvh"));
  const kp = bvhToKeypoints3D(clip, { skeleton: "h36m17" });
  // Move the shoulders relative to the thorax (non-rigid), keeping bone lengths.
  const coords = kp.coords.slice();
  for (let f = 1; f < kp.frames; f++) {
    const thorax = (f * 17 + 8) * 3;
    const sh = (f * 17 + 11) * 3;
    const v = [0, 1, 2].map((a) => coords[sh + a] - coords[thorax + a]);
    const len = Math.hypot(...v);
    const t = [
      v[0] * Math.cos(0.3 * f) - v[1] * Math.sin(0.3 * f),
      v[0] * Math.sin(0.3 * f) + v[1] * Math.cos(0.3 * f),
      v[2],
    ];
    const moved = [0, 1, 2].map((a) => coords[thorax + a] + (t[a] / Math.hypot(...t)) * len - coords[sh + a]);
    for (const j of [11, 12, 13]) for (let a = 0; a < 3; a++) coords[(f * 17 + j) * 3 + a] += moved[a];
  }
  const bent = { ...kp, coords };
  const plain = bvhToKeypoints3D(
    parseBvh(bvhText(bvhFromPositions(bent, { branchJoints: false })), "p.bvh"),
    {
      skeleton: "h36m17",
      scale: 1,
    },
  );
  const branched = parseBvh(bvhText(bvhFromPositions(bent)), "b.bvh");
  assert.ok(branched.joints.some((j) => j.name === "Thorax_LShoulder"));
  const exact = bvhToKeypoints3D(branched, { skeleton: "h36m17", scale: 1 });
  const bone = meanBone(kp, H36M_17.parents);
  assert.ok(
    maxError(plain.coords, coords) / bone > 1e-2,
    "least-squares fit cannot follow a non-rigid branch",
  );
  assert.ok(maxError(exact.coords, coords) / bone < 1e-3);
});

Deno.test({
  name: "CMU -> H36M-17 mapping: scaled to mm, plausible bone lengths, documented joints",
  ignore: cmuPath === null,
  fn: async () => {
    const clip = await readBvh(cmuPath!);
    const doc = bvhToPoseDocument(clip, { every: 12 });
    assert.equal(doc.units, "mm");
    assert.equal(doc.fps, 10);
    const kp = doc.people[0].keypoints3d!;
    assert.equal(kp.frames, Math.ceil(994 / 12));
    const fk = bvhForwardKinematics(clip, { endSites: true });
    // Hand check at frame 0: Head <- Head End Site, RFoot <- RightAnkle, times CMU_UNIT_MM.
    for (const [j, name] of [[10, "Head_End"], [3, "RightAnkle"], [0, "Hips"]] as const) {
      const p = fk.names.indexOf(name);
      for (let a = 0; a < 3; a++) {
        assert.ok(Math.abs(kp.coords[j * 3 + a] - fk.positions[p * 3 + a] * CMU_UNIT_MM) < 1e-2, `${name}`);
      }
    }
    const len = (a: number, b: number) =>
      Math.hypot(...[0, 1, 2].map((k) => kp.coords[a * 3 + k] - kp.coords[b * 3 + k]));
    assert.ok(len(1, 2) > 300 && len(1, 2) < 500, `thigh ${len(1, 2)} mm`);
    assert.ok(len(0, 8) > 300 && len(0, 8) < 600, `hip-thorax ${len(0, 8)} mm`);
  },
});

Deno.test("malformed BVH input is rejected with file and line", () => {
  const ok = "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\n";
  assert.throws(
    () => parseBvh(ok + "Frames: 1\nFrame Time: 0.1\n1 2\n", "x.bvh"),
    (e) => e instanceof InputError && /x\.bvh: line 10: frame 0 has 2 values, expected 3/.test(e.message),
  );
  assert.throws(
    () => parseBvh(ok + "Frames: 1\nFrame Time: 0.1\n1 nan 3\n", "x.bvh"),
    /line 10: frame 0 joint "A" Yposition \(channel 1\) is "nan"/,
  );
  assert.throws(() => parseBvh(ok + "Frames: 0\nFrame Time: 0.1\n", "x.bvh"), /at least one frame/);
  assert.throws(
    () => parseBvh(ok + "Frames: 2\nFrame Time: 0.1\n1 2 3\n", "x.bvh"),
    /"Frames: 2" but 1 motion rows/,
  );
  assert.throws(
    () => parseBvh(ok.replace("Xposition", "Wrotation") + "Frames: 1\nFrame Time: 0.1\n1 2 3\n", "x.bvh"),
    /line 5: unknown channel "Wrotation"/,
  );
  assert.throws(
    () => parseBvh("HIERARCHY\nROOT A\n{\nOFFSET 0 0\n}\nMOTION\n", "x.bvh"),
    /line 5: OFFSET z is "}"/,
  );
  assert.throws(() => parseBvh("nothing", "x.bvh"), /no MOTION/);
  const tiny = parseBvh(ok + "Frames: 1\nFrame Time: 0.1\n1 2 3\n", "x.bvh");
  assert.throws(
    () => bvhToKeypoints3D(tiny, { skeleton: "cmu31" }),
    /BVH has no joints "Hips".*skeleton cmu31/,
  );
  assert.throws(() => bvhToKeypoints3D(tiny), /no "Hips".*H36M joint 0 \(Hip\)/);
});
