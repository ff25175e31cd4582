// Human3.6M protocol runner on a tiny synthetic data folder written here (no shared data needed).
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../engine/errors.ts";
import { writeSafetensors } from "../../engine/safetensors.ts";
import { type H36mLiftMeta, h36mSplit, runH36mProtocol } from "../../pose/protocol_h36m.ts";
import { actionOfSequence, H36M_ACTIONS } from "../../pose/metrics/per_action.ts";

// A standing pose (H36M-17, mm, world frame, root at the origin) and an odd one with the arms far up.
const STAND = [
  [0, 0, 0],
  [-130, 0, 0],
  [-130, 0, -450],
  [-130, 0, -900],
  [130, 0, 0],
  [130, 0, -450],
  [130, 0, -900],
  [0, 0, 230],
  [0, 0, 480],
  [0, -50, 560],
  [0, 0, 650],
  [180, 0, 450],
  [200, 0, 180],
  [210, 0, -60],
  [-180, 0, 450],
  [-200, 0, 180],
  [-210, 0, -60],
];
const ODD = STAND.map((p, j) => ([12, 13, 15, 16].includes(j) ? [p[0] * 2, p[1] + 400, 900 + p[2]] : p));

let seed = 12345;
const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 10;

function frames(list: number[][][], jitter = true): Float32Array {
  return Float32Array.from(
    list.flatMap((pose) => pose.flatMap((p) => p.map((v) => v + (jitter ? noise() : 0)))),
  );
}

// Camera A: axes aligned, 5 m behind the origin along −z; camera B: rotated 90° about y, 5 m along −x.
const CAMERAS = {
  A: { R: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], T: [0, 0, -5000] },
  B: { R: [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], T: [-5000, 0, 0] },
};
const cameraRecord = (c: { R: number[][]; T: number[] }) => ({
  ...c,
  f: [1000, 1000],
  c: [500, 500],
  k: [0, 0, 0],
  p: [0, 0],
  res_w: 1000,
  res_h: 1000,
});

const SEQUENCES: Record<string, Float32Array> = {
  "Walking 1": frames([STAND, STAND, STAND, STAND]),
  "Walking": frames([STAND, STAND]),
  "Directions": frames([STAND, ODD, STAND]),
};
const TRAIN: Record<string, Float32Array> = {
  "Walking": frames(Array(20).fill(STAND)),
  "Eating": frames(Array(20).fill(ODD)),
};

async function makeFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_h36m_" });
  const cams = { A: cameraRecord(CAMERAS.A), B: cameraRecord(CAMERAS.B) };
  await Deno.writeTextFile(join(dir, "cameras.json"), JSON.stringify({ cameras: { S9: cams, S1: cams } }));
  const write = async (subject: string, seqs: Record<string, Float32Array>) => {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, pos] of Object.entries(seqs)) {
      const t = pos.length / 51;
      tensors[`${name}/pos3d`] = { shape: [t, 17, 3], data: pos };
      for (const cam of ["A", "B"]) {
        tensors[`${name}/${cam}/sh2d`] = {
          shape: [t, 16, 2],
          data: Float32Array.from({ length: t * 32 }, (_, i) => i),
        };
      }
    }
    await writeSafetensors(join(dir, `${subject}.safetensors`), tensors);
  };
  await write("S9", SEQUENCES);
  await write("S1", TRAIN);
  return dir;
}

const dir = await makeFolder();
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** Ground truth in camera coordinates, computed here independently: X_cam = Rᵀ (X − T). */
function cameraFrame(meta: H36mLiftMeta): Float32Array {
  const pos = SEQUENCES[meta.sequence];
  const { R, T } = CAMERAS[meta.cameraId as "A" | "B"];
  const out = new Float32Array(pos.length);
  for (let i = 0; i < pos.length; i += 3) {
    const d = [pos[i] - T[0], pos[i + 1] - T[1], pos[i + 2] - T[2]];
    for (let a = 0; a < 3; a++) out[i + a] = R[0][a] * d[0] + R[1][a] * d[1] + R[2][a] * d[2];
  }
  return out;
}

const oracle = (_x: Float32Array, meta: H36mLiftMeta) => Promise.resolve(cameraFrame(meta));
const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: got ${a}, expected ${b}`);

Deno.test("oracle lifter: 0 mm for both protocols, rows per action in paper order", async () => {
  const r = await runH36mProtocol(oracle, dir, { subjects: ["S9"] });
  assert.equal(r.units.length, 6);
  assert.deepEqual(r.mpjpe.rows.map((x) => [x.action, x.frames, x.units]), [["Directions", 6, 2], [
    "Walking",
    12,
    4,
  ]]);
  near(r.mpjpe.average, 0, 1e-4, "MPJPE");
  near(r.pMpjpe.average, 0, 1e-3, "P-MPJPE");
});

Deno.test("perturbed lifter: per-sequence offsets, frame-weighted per action, mean of actions", async () => {
  // Every non-root joint moves by L (per sequence) along (3, 4, 0)/5: MPJPE = 16/17 · L per frame.
  const L: Record<string, number> = { "Walking 1": 17, "Walking": 34, "Directions": 8.5 };
  const lift = (_x: Float32Array, meta: H36mLiftMeta) => {
    const out = cameraFrame(meta);
    for (let i = 0; i < out.length; i += 3) {
      if (i % 51 === 0) continue;
      out[i] += 0.6 * L[meta.sequence];
      out[i + 1] += 0.8 * L[meta.sequence];
    }
    return Promise.resolve(out);
  };
  const r = await runH36mProtocol(lift, dir, { subjects: ["S9"] });
  const walking = (8 * 16 + 4 * 32) / 12;
  near(r.mpjpe.rows[0].error, 8, 1e-3, "Directions");
  near(r.mpjpe.rows[1].error, walking, 1e-3, "Walking");
  near(r.mpjpe.average, (8 + walking) / 2, 1e-3, "average over actions");
  assert.ok(r.pMpjpe.average < r.mpjpe.average && r.pMpjpe.average > 0.1);
});

Deno.test("a similarity-transformed prediction: P-MPJPE 0, MPJPE not", async () => {
  const lift = (_x: Float32Array, meta: H36mLiftMeta) => {
    const g = cameraFrame(meta);
    const c = Math.cos(0.5), s = Math.sin(0.5);
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i += 3) {
      out[i] = 1.2 * (c * g[i] - s * g[i + 1]) + 100;
      out[i + 1] = 1.2 * (s * g[i] + c * g[i + 1]) - 40;
      out[i + 2] = 1.2 * g[i + 2] + 7;
    }
    return Promise.resolve(out);
  };
  const r = await runH36mProtocol(lift, dir, { subjects: ["S9"], actions: ["Walking"] });
  assert.deepEqual(r.mpjpe.rows.map((x) => x.action), ["Walking"]);
  near(r.pMpjpe.average, 0, 2e-3, "P-MPJPE");
  assert.ok(r.mpjpe.average > 50);
});

Deno.test("inputs: GT 2D is the camera projection (17 joints); SH input the stored detections", async () => {
  const seen: H36mLiftMeta[] = [];
  await runH36mProtocol(
    (x, meta) => {
      seen.push(meta);
      assert.equal(x.length, meta.frames * 17 * 2);
      const cam = cameraFrame(meta);
      for (let i = 0; i < meta.frames * 17; i++) {
        near(x[2 * i], (1000 * cam[3 * i]) / cam[3 * i + 2] + 500, 1e-3, "u");
        near(x[2 * i + 1], (1000 * cam[3 * i + 1]) / cam[3 * i + 2] + 500, 1e-3, "v");
      }
      return Promise.resolve(cameraFrame(meta));
    },
    dir,
    { subjects: ["S9"], cameras: ["A"] },
  );
  assert.equal(seen.length, 3);
  assert.ok(seen.every((m) => m.input === "gt" && m.inputJoints.length === 17 && m.cameraId === "A"));
  await runH36mProtocol(
    (x, meta) => {
      assert.equal(meta.inputJoints.length, 16);
      assert.deepEqual(Array.from(x), Array.from({ length: meta.frames * 32 }, (_, i) => i));
      return Promise.resolve(cameraFrame(meta));
    },
    dir,
    { subjects: ["S9"], input: "sh" },
  );
});

Deno.test("rare-pose restriction keeps the odd frame; cross-action training changes it", async () => {
  const lift = (_x: Float32Array, meta: H36mLiftMeta) => {
    const out = cameraFrame(meta);
    for (let i = 0; i < out.length; i += 3) if (i % 51 !== 0) out[i] += 17;
    return Promise.resolve(out);
  };
  // 9 frames × 2 cameras = 18 test poses; the odd frame (seen by both cameras) is the rarest 2 = 11.1%.
  const r = await runH36mProtocol(lift, dir, {
    subjects: ["S9"],
    rare: { percent: 100 / 9, trainSubjects: ["S1"], trainActions: ["Walking"], trainStride: 1 },
  });
  const kept = r.units.flatMap((u) => Array.from(u.selected, (f) => `${u.sequence}/${u.cameraId}/${f}`));
  assert.deepEqual(kept.sort(), ["Directions/A/1", "Directions/B/1"]);
  assert.deepEqual(r.mpjpe.rows.map((x) => [x.action, x.frames]), [["Directions", 2]]);
  near(r.mpjpe.average, 16, 1e-3, "rare MPJPE");
  // Trained only on the odd pose (cross-action "Eating"), the odd frame is the commonest: not kept.
  const split = h36mSplit("cross-action", { action: "Eating" });
  assert.deepEqual(split, {
    trainSubjects: ["S1", "S5", "S6", "S7", "S8"],
    testSubjects: ["S9", "S11"],
    trainActions: ["Eating"],
  });
  const x = await runH36mProtocol(lift, dir, {
    subjects: ["S9"],
    rare: { percent: 100 / 9, trainSubjects: ["S1"], trainActions: split.trainActions, trainStride: 1 },
  });
  assert.ok(x.units.every((u) => !(u.sequence === "Directions" && Array.from(u.selected).includes(1))));
  assert.equal(x.mpjpe.frames, 2);
});

Deno.test("bad lifter output and missing data are input errors", async () => {
  await assert.rejects(
    () => runH36mProtocol(() => Promise.resolve(new Float32Array(5)), dir, { subjects: ["S9"] }),
    (e: unknown) => e instanceof InputError && /expected \d+ frames × 17 joints × 3/.test(e.message),
  );
  await assert.rejects(() => runH36mProtocol(oracle, dir, { subjects: ["S7"] }), InputError);
  await assert.rejects(() => runH36mProtocol(oracle, join(dir, "nowhere")), InputError);
  assert.throws(() => h36mSplit("cross-action"), InputError);
});

Deno.test("action names: sub-sequences merge, long forms and separators map to the 15 paper actions", () => {
  const cases: [string, string][] = [
    ["Directions 1", "Directions"],
    ["Directions", "Directions"],
    ["Sitting 2", "Sitting"],
    ["SittingDown", "SittingDown"],
    ["sitting_down_1", "SittingDown"],
    ["TakingPhoto", "Photo"],
    ["TakingPhoto 1", "Photo"],
    ["Photo_2", "Photo"],
    ["WalkingDog 1", "WalkDog"],
    ["Walking Dog", "WalkDog"],
    ["WalkDog", "WalkDog"],
    ["Walking 1.54138969", "Walking"],
    ["walking-2", "Walking"],
    ["WalkTogether 1", "WalkTogether"],
    ["Walking Together", "WalkTogether"],
    ["  Greeting 1 ", "Greeting"],
    ["Juggling 3", "Juggling"],
  ];
  for (const [name, action] of cases) assert.equal(actionOfSequence(name), action, name);
  // Every paper action is a fixed point.
  for (const a of H36M_ACTIONS) assert.equal(actionOfSequence(a), a);
});

Deno.test("action filters take any spelling; per-action means, then their mean (hand-computed)", async () => {
  // Offsets per sequence: every non-root joint moves L, so a frame's MPJPE is 16/17·L.
  const L: Record<string, number> = { "Walking 1": 17, "Walking": 51, "Directions": 34 };
  const lift = (_x: Float32Array, meta: H36mLiftMeta) => {
    const out = cameraFrame(meta);
    for (let i = 0; i < out.length; i += 3) if (i % 51 !== 0) out[i + 2] += L[meta.sequence];
    return Promise.resolve(out);
  };
  const r = await runH36mProtocol(lift, dir, { subjects: ["S9"], actions: ["walking_1"] });
  assert.deepEqual(r.mpjpe.rows.map((x) => [x.action, x.frames, x.units]), [["Walking", 12, 4]]);
  // Walking: 8 frames at 16 mm and 4 at 48 mm (both cameras) → 80/3; a frame-pooled mean.
  near(r.mpjpe.rows[0].error, (8 * 16 + 4 * 48) / 12, 1e-3, "Walking");
  const all = await runH36mProtocol(lift, dir, { subjects: ["S9"] });
  // Directions 32 mm over 6 frames; the average weighs the two actions equally (not by frames: 28.44).
  near(all.mpjpe.average, (32 + 80 / 3) / 2, 1e-3, "mean of the per-action means");
  near(all.mpjpe.pooled, (6 * 32 + 12 * 80 / 3) / 18, 1e-3, "pooled");
});

Deno.test("joints: per-joint errors, hard-joint mean and limb-segment RMSE pooled over all frames", async () => {
  // The left wrist (13) moves 30 mm along the camera's x in every frame, the right foot (3) 12 mm in the
  // Directions frames only: per-joint means by hand, and the bones ending there change length.
  const lift = (_x: Float32Array, meta: H36mLiftMeta) => {
    const out = cameraFrame(meta);
    for (let f = 0; f < out.length / 51; f++) {
      out[f * 51 + 13 * 3] += 30;
      if (meta.sequence === "Directions") out[f * 51 + 3 * 3 + 2] += 12;
    }
    return Promise.resolve(out);
  };
  const r = await runH36mProtocol(lift, dir, { subjects: ["S9"], joints: true });
  const j = r.joints!;
  const frames = r.mpjpe.frames; // 18 = (3 + 4 + 2) frames × 2 cameras
  assert.equal(frames, 18);
  near(j.perJoint[13], 30, 1e-3, "left wrist");
  near(j.perJoint[3], (12 * 6) / 18, 1e-3, "right foot");
  near(j.perJoint[0], 0, 1e-9, "root");
  near(j.perJoint[12], 0, 1e-3, "left elbow");
  near(j.hardJoints, (30 + 4) / 8, 1e-3, "hard joints");
  // Bone-length RMSE against the lengths computed here from each ground-truth frame.
  let sqWrist = 0, sqFoot = 0;
  for (const u of r.units) {
    const g = cameraFrame({ sequence: u.sequence, cameraId: u.cameraId } as H36mLiftMeta);
    const p = await lift(new Float32Array(), { sequence: u.sequence, cameraId: u.cameraId } as H36mLiftMeta);
    for (let f = 0; f < g.length / 51; f++) {
      const len = (a: Float32Array, c: number, q: number) =>
        Math.hypot(...[0, 1, 2].map((d) => a[f * 51 + c * 3 + d] - a[f * 51 + q * 3 + d]));
      sqWrist += (len(p, 13, 12) - len(g, 13, 12)) ** 2;
      sqFoot += (len(p, 3, 2) - len(g, 3, 2)) ** 2;
    }
  }
  const seg = Object.fromEntries(j.limbSegments.segments.map((s) => [s.name, s.rmse]));
  near(seg["left lower arm"], Math.sqrt(sqWrist / frames), 1e-3, "left lower arm");
  near(seg["right lower leg"], Math.sqrt(sqFoot / frames), 1e-3, "right lower leg");
  near(seg["left upper arm"], 0, 1e-3, "left upper arm");
  assert.ok(seg["left lower arm"] > 1, "the moved wrist changes its bone");
  near(j.limbSegments.average, (seg["left lower arm"] + seg["right lower leg"]) / 8, 1e-3, "average");
  // Without the option nothing extra is kept.
  const plain = await runH36mProtocol(lift, dir, { subjects: ["S9"] });
  assert.equal(plain.joints, undefined);
  assert.equal(plain.units[0].jointErrors, undefined);
});
