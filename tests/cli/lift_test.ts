// posegpu lift: every input format, several people per frame, sequences (--fps, --smooth), pose JSON /
// CSV / BVH / viewer outputs, --json, exit codes; the COCO predictions acceptance on the shared data.
import assert from "node:assert/strict";
import { loadLifter } from "../../models/lifter.ts";
import { loadDemoSample } from "../../pose/demo_sample.ts";
import { readPoseDocument, writePoseDocument } from "../../pose/formats/detect.ts";
import type { PoseDocument } from "../../pose/formats/pose_json.ts";
import { sharedData } from "../_shared.ts";
import { posegpu, shippedWeights, writeTestCheckpoint } from "./_lifter.ts";

const dir = await Deno.makeTempDir({ prefix: "posegpu_lift_test_" });
const weights = `${dir}/test.safetensors`;
await writeTestCheckpoint(weights);
const sample = await loadDemoSample();
const K2 = sample.keypoints2d; // 83 frames, H36M-17, pixels

// H36M-17 → other layouts for synthetic inputs: each target joint copies an H36M joint, shifted by a few
// pixels where the source has no such point (eyes, ears, toes).
const H = { hip: 0, rhip: 1, rknee: 2, rfoot: 3, lhip: 4, lknee: 5, lfoot: 6, thorax: 8, nose: 9, head: 10 };
const S = { lsho: 11, lelb: 12, lwri: 13, rsho: 14, relb: 15, rwri: 16 };
const COCO_FROM: [number, number, number][] = [
  [H.nose, 0, 0],
  [H.head, 6, 4],
  [H.head, -6, 4],
  [H.head, 12, 8],
  [H.head, -12, 8],
  [S.lsho, 0, 0],
  [S.rsho, 0, 0],
  [S.lelb, 0, 0],
  [S.relb, 0, 0],
  [S.lwri, 0, 0],
  [S.rwri, 0, 0],
  [H.lhip, 0, 0],
  [H.rhip, 0, 0],
  [H.lknee, 0, 0],
  [H.rknee, 0, 0],
  [H.lfoot, 0, 0],
  [H.rfoot, 0, 0],
];
const BODY25_FROM: [number, number, number][] = [
  [H.nose, 0, 0],
  [H.thorax, 0, 0],
  [S.rsho, 0, 0],
  [S.relb, 0, 0],
  [S.rwri, 0, 0],
  [S.lsho, 0, 0],
  [S.lelb, 0, 0],
  [S.lwri, 0, 0],
  [H.hip, 0, 0],
  [H.rhip, 0, 0],
  [H.rknee, 0, 0],
  [H.rfoot, 0, 0],
  [H.lhip, 0, 0],
  [H.lknee, 0, 0],
  [H.lfoot, 0, 0],
  [H.head, -6, 4],
  [H.head, 6, 4],
  [H.head, -12, 8],
  [H.head, 12, 8],
  [H.lfoot, 10, 5],
  [H.lfoot, 14, 5],
  [H.lfoot, -4, 3],
  [H.rfoot, 10, 5],
  [H.rfoot, 14, 5],
  [H.rfoot, -4, 3],
];

function pointsFrom(frame: number, from: [number, number, number][], dx = 0): [number, number][] {
  return from.map((
    [j, ox, oy],
  ) => [K2.coords[frame * 34 + 2 * j] + ox + dx, K2.coords[frame * 34 + 2 * j + 1] + oy]);
}

function finite3d(doc: PoseDocument, where: string): void {
  for (const p of doc.people) {
    const kp = p.keypoints3d;
    assert.ok(kp, `${where}: track ${p.track} has no 3D`);
    assert.equal(kp.skeleton, "h36m17");
    for (let f = 0; f < kp.frames; f++) {
      if (!kp.mask[f * 17]) continue;
      for (let i = 0; i < 51; i++) {
        assert.ok(Number.isFinite(kp.coords[f * 51 + i]), `${where}: non-finite 3D`);
      }
      // Root-relative: the Hip is the origin.
      for (let d = 0; d < 3; d++) {
        assert.ok(Math.abs(kp.coords[f * 51 + d]) < 1e-3, `${where}: root not at 0`);
      }
    }
  }
}

Deno.test("lift: pose JSON in, 3D out equal to the library's Lifter on the same keypoints", async () => {
  const input = `${dir}/walk2d.json`;
  await writePoseDocument(input, {
    ...sample.doc,
    people: [{ ...sample.doc.people[0], keypoints3d: null, meta: undefined }],
  });
  const out = `${dir}/walk3d.json`;
  const r = await posegpu([
    "lift",
    input,
    "--weights",
    weights,
    "--out",
    out,
    "--normalize",
    "h36m-camera",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out);
  assert.equal(summary.normalize, "h36m-camera");
  assert.equal(summary.people, 1);
  assert.equal(summary.frames, 83);
  assert.equal(summary.poses, 83);
  assert.ok(summary.posesPerSecond > 0);
  assert.match(r.err, /lifted 83\/83 poses/, "progress on stderr");
  const doc = await readPoseDocument(out);
  assert.equal(doc.units, "mm");
  assert.equal(doc.frame, "camera");
  assert.equal(doc.weights, weights);
  finite3d(doc, out);
  const lifter = await loadLifter(weights);
  const ref = await lifter.lift(K2.coords, { mask: K2.mask, image: sample.doc.image ?? undefined });
  const got = doc.people[0].keypoints3d!.coords;
  const worst = (a: Float32Array, b: Float32Array): number =>
    a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(worst(ref, got) <= 1e-3, `CLI vs library: max difference ${worst(ref, got)} mm`);
  // The default input mapping is "auto" (any camera), as the library's normalizeInput: "auto".
  const autoOut = `${dir}/walk3d_auto.json`;
  const r2 = await posegpu(["lift", input, "--weights", weights, "--out", autoOut]);
  assert.equal(r2.code, 0, r2.err);
  const refAuto = await lifter.lift(K2.coords, { mask: K2.mask, normalizeInput: "auto" });
  const gotAuto = (await readPoseDocument(autoOut)).people[0].keypoints3d!.coords;
  assert.ok(worst(refAuto, gotAuto) <= 1e-3, `auto: max difference ${worst(refAuto, gotAuto)} mm`);
  lifter.dispose();
});

Deno.test("lift: COCO results with several people per image, CSV and viewer outputs", async () => {
  const results = [];
  for (const [image, frame] of [[101, 0], [102, 30], [103, 60]]) {
    for (const dx of [-250, 0, 250]) {
      const pts = pointsFrom(frame, COCO_FROM, dx);
      results.push({
        image_id: image,
        category_id: 1,
        keypoints: pts.flatMap(([x, y]) => [x, y, 0.9]),
        score: 0.9,
      });
    }
  }
  // One weak detection: every joint scored 0.01 is still lifted (scores are not a mask for lifting).
  results[8].keypoints = results[8].keypoints.map((v, i) => (i % 3 === 2 ? 0.01 : v));
  const input = `${dir}/results.json`;
  await Deno.writeTextFile(input, JSON.stringify(results));
  const out = `${dir}/results3d.csv`;
  const view = `${dir}/results3d.html`;
  const r = await posegpu(["lift", input, "--weights", weights, "--out", out, "--view", view, "--json"]);
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out);
  assert.equal(summary.people, 9);
  assert.equal(summary.frames, 3);
  assert.equal(summary.poses, 9);
  const doc = await readPoseDocument(out);
  assert.equal(doc.people.length, 9);
  finite3d(doc, out);
  const html = await Deno.readTextFile(view);
  assert.match(html, /posegpu-data/);
  // --min-score turns the weak detection's joints into missing ones: that person gets no 3D.
  const r2 = await posegpu([
    "lift",
    input,
    "--weights",
    weights,
    "--out",
    `${dir}/results3d_strict.json`,
    "--min-score",
    "0.05",
    "--json",
  ]);
  assert.equal(r2.code, 0, r2.err);
  assert.equal(JSON.parse(r2.out).skipped, 1);
});

Deno.test("lift: OpenPose folder sequence with --fps --smooth to BVH and pose JSON", async () => {
  const folder = `${dir}/openpose`;
  await Deno.mkdir(folder, { recursive: true });
  for (let f = 0; f < 20; f++) {
    const people = [0, 300].map((dx) => ({
      person_id: [-1],
      pose_keypoints_2d: pointsFrom(f, BODY25_FROM, dx).flatMap(([x, y]) => [x, y, 0.8]),
    }));
    // The second person leaves after frame 14 (OpenPose writes nothing for them then).
    await Deno.writeTextFile(
      `${folder}/clip_${String(f).padStart(12, "0")}_keypoints.json`,
      JSON.stringify({ version: 1.3, people: f > 14 ? people.slice(0, 1) : people }),
    );
  }
  const rough = `${dir}/op_rough.json`, smooth = `${dir}/op_smooth.json`;
  let r = await posegpu(["lift", folder, "--weights", weights, "--fps", "10", "--out", rough]);
  assert.equal(r.code, 0, r.err);
  r = await posegpu(["lift", folder, "--weights", weights, "--fps", "10", "--smooth", "--out", smooth]);
  assert.equal(r.code, 0, r.err);
  const a = await readPoseDocument(rough), b = await readPoseDocument(smooth);
  assert.equal(a.fps, 10);
  assert.ok(a.people.length >= 1);
  finite3d(a, rough);
  finite3d(b, smooth);
  const total = a.people.reduce((s, p) => s + p.frames.length, 0);
  assert.equal(total, 20 + 15, "every person-frame lifted");
  // Smoothing changes the 3D but keeps the first frame (the filter starts there).
  const ka = a.people[0].keypoints3d!.coords, kb = b.people[0].keypoints3d!.coords;
  assert.deepEqual(Array.from(ka.subarray(0, 51)), Array.from(kb.subarray(0, 51)));
  assert.notDeepEqual(Array.from(ka.subarray(51 * 5)), Array.from(kb.subarray(51 * 5)));
  const bvh = `${dir}/op.bvh`;
  r = await posegpu(["lift", folder, "--weights", weights, "--fps", "10", "--out", bvh]);
  assert.equal(r.code, 0, r.err);
  const text = await Deno.readTextFile(bvh);
  assert.match(text, /^HIERARCHY/);
  assert.match(text, /Frame Time:\s+0\.10*\s/);
});

Deno.test("lift: MediaPipe landmarks (normalised, --image) and CSV input", async () => {
  const W = 1000, Hh = 1002;
  const MP_FROM: [number, number, number][] = Array.from({ length: 33 }, () => [H.head, 0, 0]);
  const set = (i: number, j: number): void => {
    MP_FROM[i] = [j, 0, 0];
  };
  set(0, H.nose);
  [[11, S.lsho], [12, S.rsho], [13, S.lelb], [14, S.relb], [15, S.lwri], [16, S.rwri]].forEach(([i, j]) =>
    set(i, j)
  );
  [[23, H.lhip], [24, H.rhip], [25, H.lknee], [26, H.rknee], [27, H.lfoot], [28, H.rfoot]].forEach(([i, j]) =>
    set(i, j)
  );
  const frames = Array.from({ length: 5 }, (_, f) => ({
    frame: f,
    landmarks: pointsFrom(f, MP_FROM).map(([x, y]) => ({ x: x / W, y: y / Hh, z: 0, visibility: 0.9 })),
  }));
  const mp = `${dir}/mediapipe.json`;
  await Deno.writeTextFile(mp, JSON.stringify(frames));
  let r = await posegpu([
    "lift",
    mp,
    "--weights",
    weights,
    "--image",
    `${W}x${Hh}`,
    "--out",
    `${dir}/mp3d.json`,
  ]);
  assert.equal(r.code, 0, r.err);
  finite3d(await readPoseDocument(`${dir}/mp3d.json`), "mediapipe");
  // Without a size, normalised landmarks cannot become pixels: bad input, exit 1.
  r = await posegpu(["lift", mp, "--weights", weights, "--out", `${dir}/mp3d_nosize.json`]);
  assert.equal(r.code, 1, r.err);
  const csv = `${dir}/walk2d.csv`;
  await writePoseDocument(csv, { ...sample.doc, people: [{ ...sample.doc.people[0], keypoints3d: null }] });
  r = await posegpu(["lift", csv, "--weights", weights, "--out", `${dir}/csv3d.json`, "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).poses, 83);
});

Deno.test("lift: bad input exits 1 naming the culprit; no WebGPU exits 2", async () => {
  const cases: [string[], RegExp][] = [
    [["lift", `${dir}/absent.json`, "--weights", weights], /absent\.json/],
    [["lift"], /expected one input/],
    [["lift", `${dir}/walk2d.json`, "--weights", `${dir}/nope.safetensors`], /nope\.safetensors/],
    [["lift", `${dir}/walk2d.json`, "--model", "resnet9000"], /unknown model "resnet9000"/],
    [["lift", `${dir}/walk2d.json`, "--weights", weights, "--out", `${dir}/x.txt`], /x\.txt/],
    [["lift", `${dir}/walk2d.json`, "--weights", weights, "--fps", "0"], /--fps 0/],
    [["lift", `${dir}/walk2d.json`, "--weights", weights, "--bogus"], /bogus/],
    [["lift", `${dir}/walk2d.json`, "--weights", `${dir}/walk2d.json`], /walk2d\.json/],
  ];
  for (const [args, names] of cases) {
    const r = await posegpu(args);
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, names, args.join(" "));
    assert.doesNotMatch(r.err, /internal error|^\s+at /m, args.join(" "));
  }
  // --smooth on single images (no fps) is bad input too.
  const r = await posegpu(["lift", `${dir}/results.json`, "--weights", weights, "--smooth"]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /--fps/);
  const env = { POSEGPU_NO_WEBGPU: "1" };
  const r2 = await posegpu(["lift", `${dir}/walk2d.json`, "--weights", weights, "--out", `${dir}/n.json`], {
    env,
  });
  assert.equal(r2.code, 2, r2.err);
  assert.match(r2.err, /WebGPU/);
});

Deno.test("lift: the 73 real COCO predictions all get valid 3D (shared data)", async () => {
  const input = sharedData("coco/predictions_sample.json");
  if (!input) return;
  // The shipped default model when it is there (what users get), else the test checkpoint.
  const shipped = shippedWeights("martinez_sh");
  const out = `${dir}/coco_predictions_3d.json`;
  const r = await posegpu([
    "lift",
    input,
    "--out",
    out,
    "--json",
    ...(shipped ? [] : ["--weights", weights]),
  ]);
  assert.equal(r.code, 0, r.err);
  const doc = await readPoseDocument(out);
  assert.equal(doc.people.length, 73);
  assert.equal(JSON.parse(r.out).poses, 73);
  finite3d(doc, out);
  for (const p of doc.people) {
    assert.equal(p.keypoints3d!.mask.reduce((s, m) => s + m, 0), 17, `track ${p.track}: all joints`);
    assert.equal(typeof p.meta?.image_id, "number", "COCO fields kept");
  }
  if (!shipped) return;
  // Real weights: human-sized skeletons. Hip → Head is about 0.65 m in Human3.6M; the confident detections
  // (score ≥ 0.3) must be near that, the junk ones (scores near 0, still lifted) merely finite and bounded.
  let confident = 0;
  for (const p of doc.people) {
    const c = p.keypoints3d!.coords;
    const d = Math.hypot(c[30] - c[0], c[31] - c[1], c[32] - c[2]);
    const good = (p.meta?.score as number) >= 0.3;
    confident += good ? 1 : 0;
    const [lo, hi] = good ? [450, 900] : [100, 1500];
    assert.ok(d > lo && d < hi, `track ${p.track} (score ${p.meta?.score}): hip-head ${d.toFixed(0)} mm`);
  }
  assert.equal(confident, 14);
});
