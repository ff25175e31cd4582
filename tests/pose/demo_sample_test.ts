import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { InputError } from "../../engine/errors.ts";
import { projectPointRadial } from "../../pose/cameras.ts";
import {
  DEMO_SAMPLE_FRAME_STEP,
  DEMO_SAMPLE_FRAMES,
  DEMO_SAMPLE_URL,
  loadDemoSample,
} from "../../pose/demo_sample.ts";
import { makeDemoSampleText } from "../../tools/make_demo_sample.ts";
import { sharedData } from "../_shared.ts";

Deno.test("demo sample: 2D reprojects from the ground-truth 3D through the stored camera", async () => {
  const s = await loadDemoSample();
  assert.equal(s.keypoints2d.frames, DEMO_SAMPLE_FRAMES);
  assert.equal(s.groundTruth3d.frames, DEMO_SAMPLE_FRAMES);
  assert.equal(DEMO_SAMPLE_FRAMES, Math.ceil(994 / DEMO_SAMPLE_FRAME_STEP));
  assert.equal(s.fps, 10);
  assert.deepEqual(s.doc.frameIds, Array.from({ length: 83 }, (_, i) => i * 12));
  assert.equal(s.doc.skeleton, "h36m17");
  assert.equal(s.doc.frame, "camera");
  assert.equal(s.doc.units, "mm");
  assert.deepEqual(s.doc.image, { width: 1000, height: 1002 });
  assert.deepEqual([...s.camera.f, ...s.camera.c, s.camera.resW, s.camera.resH], [
    1145,
    1145,
    512,
    515,
    1000,
    1002,
  ]);
  assert.ok(s.keypoints2d.mask.every((m) => m === 1) && s.groundTruth3d.mask.every((m) => m === 1));
  assert.ok(s.keypoints2d.coords.every(Number.isFinite) && s.groundTruth3d.coords.every(Number.isFinite));

  const px = projectPointRadial(s.groundTruth3d.coords, s.camera, { frame: "camera" });
  let worst = 0;
  for (let i = 0; i < px.length; i++) worst = Math.max(worst, Math.abs(px[i] - s.keypoints2d.coords[i]));
  assert.ok(worst < 0.01, `reprojection error ${worst} px`);
  // Every joint in the image, in front of the camera at 3–7 m.
  for (let i = 0; i < px.length; i += 2) {
    assert.ok(px[i] > 0 && px[i] < 1000 && px[i + 1] > 0 && px[i + 1] < 1002);
  }
  for (let i = 2; i < s.groundTruth3d.coords.length; i += 3) {
    assert.ok(s.groundTruth3d.coords[i] > 3000 && s.groundTruth3d.coords[i] < 7000);
  }
  assert.match(s.source.url, /mocap\.cs\.cmu\.edu/);
  assert.match(s.source.licence, /mocap\.cs\.cmu\.edu/);
  assert.equal(s.source.clip, "131_01");
  assert.equal(s.source.frameStep, DEMO_SAMPLE_FRAME_STEP);
});

Deno.test("demo sample: bone lengths are plausible and constant", async () => {
  const { groundTruth3d: g } = await loadDemoSample();
  const bone = (f: number, a: number, b: number) =>
    Math.hypot(...[0, 1, 2].map((d) => g.coords[(f * 17 + a) * 3 + d] - g.coords[(f * 17 + b) * 3 + d]));
  for (let f = 0; f < g.frames; f++) {
    for (const [hip, knee, foot] of [[1, 2, 3], [4, 5, 6]]) {
      const thigh = bone(f, hip, knee), shin = bone(f, knee, foot);
      assert.ok(thigh > 300 && thigh < 550, `frame ${f}: thigh ${thigh} mm`);
      assert.ok(shin > 300 && shin < 550, `frame ${f}: shin ${shin} mm`);
      // Rigid skeleton: each bone keeps its length (0.1 mm rounding aside).
      assert.ok(Math.abs(thigh - bone(0, hip, knee)) < 0.5);
    }
    const upperArm = bone(f, 11, 12);
    assert.ok(upperArm > 200 && upperArm < 400, `frame ${f}: upper arm ${upperArm} mm`);
  }
});

Deno.test("demo sample: small file; loads over http(s) by fetch; bad addresses throw InputError", async () => {
  const path = fileURLToPath(DEMO_SAMPLE_URL);
  const bytes = await Deno.readFile(path);
  assert.ok(bytes.length < 300_000, `${bytes.length} bytes`);
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/pose/data/cmu_131_01_2d.json"
        ? new Response(bytes, { headers: { "content-type": "application/json" } })
        : new Response("no", { status: 404 }),
  );
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const remote = await loadDemoSample({ url: `${base}/pose/data/cmu_131_01_2d.json` });
    const local = await loadDemoSample();
    assert.deepEqual(remote.keypoints2d.coords, local.keypoints2d.coords);
    assert.deepEqual(remote.camera, local.camera);
    await assert.rejects(loadDemoSample({ url: `${base}/missing.json` }), /HTTP 404/);
  } finally {
    ac.abort();
    await server.finished;
  }
  await assert.rejects(loadDemoSample({ url: new URL("./nope.json", DEMO_SAMPLE_URL) }), InputError);
});

Deno.test("demo sample: the tool regenerates the shipped file byte for byte", async () => {
  const bvh = sharedData("cmu/131_01.bvh");
  if (!bvh) return;
  const text = await makeDemoSampleText(bvh);
  assert.equal(text, await Deno.readTextFile(DEMO_SAMPLE_URL));
});
