import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  BLAZEPOSE_33,
  BODY_25,
  CMU_31,
  COCO_17,
  DUAL_CHANNEL_GROUP_A,
  DUAL_CHANNEL_GROUP_B,
  getSkeleton,
  H36M_17,
  MARTINEZ_16_IN,
  MARTINEZ_16_OUT,
  SH_16,
  SH_16_FROM_H36M,
  skeletonByJoints,
  SKELETONS,
  SRNET_GROUPS,
} from "../../pose/skeletons.ts";

Deno.test("H36M-17 order, parents and sides match the reference table", () => {
  assert.deepEqual(H36M_17.joints, [
    "Hip",
    "RHip",
    "RKnee",
    "RFoot",
    "LHip",
    "LKnee",
    "LFoot",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
  ]); // deno-fmt-ignore
  assert.deepEqual(H36M_17.parents, [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]);
  assert.deepEqual(H36M_17.leftJoints, [4, 5, 6, 11, 12, 13]);
  assert.deepEqual(H36M_17.rightJoints, [1, 2, 3, 14, 15, 16]);
  assert.deepEqual(H36M_17.flipPairs[0], [4, 1]);
  assert.equal(H36M_17.bones.length, 16);
  assert.deepEqual(H36M_17.bones[9], [10, 9]); // Head -> Neck/Nose
});

Deno.test("every skeleton is a consistent tree with mirrored sides", () => {
  for (const s of Object.values(SKELETONS)) {
    assert.equal(s.parents.length, s.joints.length, s.name);
    // Parents reach a root without cycles.
    s.parents.forEach((_, j) => {
      let k = j;
      for (let steps = 0; k >= 0; steps++) {
        assert.ok(steps <= s.joints.length, `${s.name}: cycle at ${j}`);
        k = s.parents[k];
      }
    });
    assert.equal(new Set([...s.leftJoints, ...s.rightJoints]).size, s.leftJoints.length * 2, s.name);
    for (const [l, r] of s.flipPairs) {
      const ln = s.joints[l].toLowerCase();
      const rn = s.joints[r].toLowerCase();
      const mirrored = ln.replace("left", "right") === rn || (ln[0] === "l" && rn === `r${ln.slice(1)}`);
      assert.ok(mirrored, `${s.name}: ${ln}/${rn}`);
    }
  }
});

Deno.test("Martinez subsets and SH-16 map to the right H36M joints", () => {
  assert.equal(MARTINEZ_16_IN.joints.length, 16);
  assert.ok(!MARTINEZ_16_IN.joints.includes("Neck/Nose"));
  assert.equal(
    MARTINEZ_16_IN.parents[MARTINEZ_16_IN.joints.indexOf("Head")],
    MARTINEZ_16_IN.joints.indexOf("Thorax"),
  );
  assert.deepEqual(MARTINEZ_16_OUT.joints, H36M_17.joints.slice(1));
  assert.deepEqual(MARTINEZ_16_OUT.parents.filter((p) => p === -1).length, 3);
  assert.deepEqual(SH_16.joints, [
    "RFoot",
    "RKnee",
    "RHip",
    "LHip",
    "LKnee",
    "LFoot",
    "Hip",
    "Spine",
    "Thorax",
    "Head",
    "RWrist",
    "RElbow",
    "RShoulder",
    "LShoulder",
    "LElbow",
    "LWrist",
  ]); // deno-fmt-ignore
  // 3d-pose-baseline's SH -> GT permutation (asserted in its data_utils.py).
  const shToGt = H36M_17.joints.filter((n) => n !== "Neck/Nose").map((n) => SH_16.joints.indexOf(n));
  assert.deepEqual(shToGt, [6, 2, 1, 0, 3, 4, 5, 7, 8, 9, 13, 14, 15, 12, 11, 10]);
  assert.deepEqual(SH_16_FROM_H36M.map((j) => H36M_17.joints[j]), SH_16.joints);
});

Deno.test("COCO-17, BODY_25, BlazePose-33, CMU-31 facts", () => {
  assert.equal(COCO_17.joints[15], "left_ankle");
  assert.deepEqual(COCO_17.flipPairs.map((p) => [...p]), [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [
    13,
    14,
  ], [15, 16]]);
  assert.equal(COCO_17.lines!.length, 15);
  assert.deepEqual(COCO_17.lines![0], [1, 2]);
  assert.ok(Math.abs(COCO_17.sigmas![11] - 0.107) < 1e-12);
  assert.equal(BODY_25.joints[8], "MidHip");
  assert.equal(BODY_25.parents[8], -1);
  assert.equal(BODY_25.joints[24], "RHeel");
  assert.equal(BLAZEPOSE_33.joints.length, 33);
  assert.equal(BLAZEPOSE_33.joints[32], "right_foot_index");
  assert.equal(BLAZEPOSE_33.lines!.length, 35);
  assert.equal(CMU_31.joints.length, 31);
});

Deno.test("dual-channel groups and SRNet groups", () => {
  const names = (g: readonly number[]) => g.map((j) => H36M_17.joints[j]);
  assert.deepEqual(names(DUAL_CHANNEL_GROUP_A), [
    "LWrist",
    "LElbow",
    "LKnee",
    "LFoot",
    "Thorax",
    "Neck/Nose",
    "LShoulder",
    "Head",
    "Spine",
    "LHip",
    "Hip",
  ]); // deno-fmt-ignore
  assert.deepEqual(names(DUAL_CHANNEL_GROUP_B), [
    "RWrist", "RElbow", "RKnee", "Head", "RFoot", "Hip", "Neck/Nose", "RShoulder", "Thorax", "Spine", "RHip",
  ]); // deno-fmt-ignore
  assert.deepEqual(SRNET_GROUPS.map((g) => g.channels), [
    [0, 1, 2, 3, 4, 5, 6, 7],
    [0, 1, 8, 9, 10, 11, 12, 13],
    [0, 1, 14, 15, 16, 17, 18, 19, 20, 21],
    [0, 1, 22, 23, 24, 25, 26, 27],
    [0, 1, 28, 29, 30, 31, 32, 33],
  ]);
});

Deno.test("getSkeleton resolves aliases and rejects unknown names", () => {
  assert.equal(getSkeleton("COCO").name, "coco17");
  assert.equal(getSkeleton("openpose").name, "body25");
  assert.equal(skeletonByJoints(H36M_17.joints)?.name, "h36m17");
  assert.equal(skeletonByJoints(["a"]), null);
  assert.throws(
    () => getSkeleton("smpl24"),
    (e) => e instanceof InputError && /smpl24.*h36m17/.test(e.message),
  );
});
