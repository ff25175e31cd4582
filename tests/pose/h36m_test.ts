import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { writeSafetensors } from "../../engine/safetensors.ts";
import { type Camera, getCamera, loadH36mCameras } from "../../pose/cameras.ts";
import {
  listH36mSequences,
  loadH36mSubject,
  projectSequence,
  sequenceInCamera,
  standardAction,
} from "../../pose/h36m.ts";
import { MARTINEZ_16_IN_FROM_H36M } from "../../pose/skeletons.ts";
import { H36M_ACTIONS } from "../../pose/metrics/per_action.ts";
import { sharedData } from "../_shared.ts";

Deno.test("standardAction maps the source's sequence names to the 15 actions", () => {
  assert.equal(H36M_ACTIONS.length, 15);
  assert.equal(standardAction("Directions 1"), "Directions");
  assert.equal(standardAction("TakingPhoto 2"), "Photo");
  assert.equal(standardAction("Photo"), "Photo");
  assert.equal(standardAction("WalkingDog"), "WalkDog");
  assert.equal(standardAction("WalkDog 1"), "WalkDog");
  assert.equal(standardAction("SittingDown 2"), "SittingDown");
  assert.equal(standardAction("Sitting 1"), "Sitting");
  assert.throws(
    () => standardAction("Dancing 1"),
    (e) => e instanceof InputError && /"Dancing 1" is not a Human3\.6M action/.test(e.message),
  );
});

Deno.test("malformed subject files are rejected naming the file and tensor", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/S3.safetensors`;
    await writeSafetensors(path, { "Walking/pos3d": { shape: [2, 17, 2], data: new Float32Array(68) } }, {
      metadata: {},
    });
    await assert.rejects(
      () => listH36mSequences(path),
      /S3\.safetensors: tensor "Walking\/pos3d" has shape \[2,17,2\], expected \[T, 17, 3\]/,
    );
    await writeSafetensors(path, {
      "Walking/pos3d": { shape: [2, 17, 3], data: new Float32Array(102) },
      "Walking/1/sh2d": { shape: [3, 16, 2], data: new Float32Array(96) },
    }, { metadata: {} });
    await assert.rejects(
      () => listH36mSequences(path),
      /tensor "Walking\/1\/sh2d" has shape \[3,16,2\], expected \[2, 16, 2\]/,
    );
    const nan = new Float32Array(102);
    nan[7] = NaN;
    await writeSafetensors(path, { "Walking/pos3d": { shape: [2, 17, 3], data: nan } }, {
      metadata: { subject: "S3" },
    });
    assert.deepEqual((await listH36mSequences(path)).map((s) => [s.subject, s.name, s.frames]), [[
      "S3",
      "Walking",
      2,
    ]]);
    await assert.rejects(() => loadH36mSubject(path), /tensor "Walking\/pos3d" element 7 is NaN/);
    await writeSafetensors(path, { "Dance/pos3d": { shape: [1, 17, 3], data: new Float32Array(51) } }, {
      metadata: {},
    });
    await assert.rejects(
      () => listH36mSequences(path),
      /tensor "Dance\/pos3d": "Dance" is not a Human3\.6M action/,
    );
    await writeSafetensors(path, { "Walking/x": { shape: [1], data: new Float32Array(1) } }, {
      metadata: {},
    });
    await assert.rejects(() => listH36mSequences(path), /neither "<sequence>\/pos3d"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const s1 = sharedData("h36m/S1.safetensors");
const cams = sharedData("h36m/cameras.json");

Deno.test({
  name: "S1: sequences, actions and cameras from the header",
  ignore: s1 === null,
  fn: async () => {
    const seqs = await listH36mSequences(s1!);
    assert.equal(seqs.length, 30);
    assert.deepEqual([...new Set(seqs.map((s) => s.action))].sort(), [...H36M_ACTIONS].sort());
    for (const s of seqs) assert.deepEqual(s.cameras, ["54138969", "55011271", "58860488", "60457274"]);
    assert.equal(seqs.find((s) => s.name === "Directions")!.frames, 323);
  },
});

/** Mean pixel distance between projected GT and the SH detections, over the `martinez16in` joints
 * listed in `joints` (indices into the 16). */
function meanDistance(projected: Float32Array, sh: Float32Array, frames: number, joints?: number[]): number {
  let sum = 0;
  const use = joints ?? MARTINEZ_16_IN_FROM_H36M.map((_, k) => k);
  for (let f = 0; f < frames; f++) {
    for (const k of use) {
      const j = MARTINEZ_16_IN_FROM_H36M[k];
      sum += Math.hypot(
        projected[(f * 17 + j) * 2] - sh[(f * 16 + k) * 2],
        projected[(f * 17 + j) * 2 + 1] - sh[(f * 16 + k) * 2 + 1],
      );
    }
  }
  return sum / (frames * use.length);
}

Deno.test({
  name: "S1: the README's camera convention holds: GT projections land on the SH detections",
  ignore: s1 === null || cams === null,
  fn: async () => {
    const subject = await loadH36mSubject(s1!, { actions: ["Directions", "Walking"] });
    assert.deepEqual(subject.sequences.map((s) => s.name), [
      "Directions",
      "Directions 1",
      "Walking",
      "Walking 1",
    ]);
    const set = await loadH36mCameras(cams!);
    const distances: number[] = [];
    // Thorax, shoulders, elbows: joints that SH and H36M define alike (SH's Spine and Head sit elsewhere).
    const alike = [8, 10, 11, 13, 14];
    const alikeDistances: number[] = [];
    for (const seq of subject.sequences) {
      for (const id of seq.cameras) {
        const cam = getCamera(set, "S1", id);
        const inCam = sequenceInCamera(seq, cam);
        for (let i = 2; i < inCam.length; i += 3) assert.ok(inCam[i] > 1000, "in front of the camera");
        const d = meanDistance(projectSequence(seq, cam), seq.sh2d.get(id)!, seq.frames);
        distances.push(d);
        alikeDistances.push(meanDistance(projectSequence(seq, cam), seq.sh2d.get(id)!, seq.frames, alike));
        // The transposed convention (R instead of Rᵀ) must be far worse.
        const wrong: Camera = {
          ...cam,
          R: Float64Array.from(
            [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => cam.R[(i % 3) * 3 + Math.floor(i / 3)]),
          ),
        };
        assert.ok(meanDistance(projectSequence(seq, wrong), seq.sh2d.get(id)!, seq.frames) > 10 * d);
      }
    }
    const mean = distances.reduce((s, d) => s + d, 0) / distances.length;
    const meanAlike = alikeDistances.reduce((s, d) => s + d, 0) / alikeDistances.length;
    console.log(`thorax/shoulders/elbows only: ${meanAlike.toFixed(2)} px`);
    assert.ok(meanAlike < 10, `mean distance on well-defined joints ${meanAlike} px`);
    console.log(
      `S1 Directions+Walking, 16 cameras x sequences: mean |GT projection - SH| = ${mean.toFixed(2)} px ` +
        `(per sequence/camera ${distances.map((d) => d.toFixed(1)).join(", ")})`,
    );
    assert.ok(mean < 15, `mean distance ${mean} px`);
    assert.throws(
      () => projectSequence(subject.sequences[0], getCamera(set, "S5", "54138969")),
      /calibrated for S5/,
    );
  },
});
