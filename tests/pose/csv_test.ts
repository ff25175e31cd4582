import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { createKeypoints2D, createKeypoints3D } from "../../pose/convert.ts";
import { csvText, parseCsv } from "../../pose/formats/csv.ts";
import { createPoseDocument } from "../../pose/formats/pose_json.ts";

function doc() {
  const mask = new Uint8Array(2 * 17).fill(1);
  mask[3] = 0;
  const coords = Float32Array.from({ length: 2 * 17 * 2 }, (_, i) => (mask[i >> 1] ? i * 1.25 + 0.1 : 0));
  const mask3 = new Uint8Array(2 * 17).fill(1);
  mask3[20] = 0;
  const c3 = Float32Array.from({ length: 2 * 17 * 3 }, (_, i) => (mask3[Math.floor(i / 3)] ? i - 50.5 : 0));
  return createPoseDocument({
    skeleton: "h36m17",
    units: "mm",
    frame: "camera",
    fps: 50,
    image: { width: 1000, height: 1002 },
    people: [{
      track: 3,
      frames: [0, 4],
      keypoints2d: createKeypoints2D({
        skeleton: "h36m17",
        frames: 2,
        coords,
        scores: new Float32Array(34).fill(0.5),
        mask,
      }),
      keypoints3d: createKeypoints3D({ skeleton: "h36m17", frames: 2, coords: c3, mask: mask3 }),
    }],
  });
}

Deno.test("CSV long and wide layouts round-trip 2D, scores, 3D, masks and metadata", () => {
  for (const layout of ["long", "wide"] as const) {
    const text = csvText(doc(), { layout });
    assert.match(text, /^# posegpu-pose csv v1; skeleton=h36m17; units=mm; frame=camera; fps=50; width=1000/);
    assert.deepEqual(parseCsv(text, `${layout}.csv`), doc(), layout);
  }
  const long = csvText(doc()).split("\n");
  assert.equal(long[1], "frame,track,joint,x,y,score,x3d,y3d,z3d");
  assert.equal(long[2], "0,3,Hip,0.1,1.35,0.5,-50.5,-49.5,-48.5");
  assert.ok(long.includes("0,3,RFoot,,,0.5,-41.5,-40.5,-39.5"));
});

Deno.test("CSV without metadata: plain x,y,z is 3D, skeleton guessed from joint names, quotes", () => {
  const text = 'frame,joint,x,y,z\n0,"Hip",1,2,3\n0,RHip,4,5,6\n1,Hip,7,8,9\n';
  const d = parseCsv(text, "t.csv");
  assert.equal(d.skeleton, "h36m17");
  assert.equal(d.people[0].keypoints2d, null);
  const k = d.people[0].keypoints3d!;
  assert.deepEqual(d.people[0].frames, [0, 1]);
  assert.deepEqual([...k.coords.subarray(0, 6)], [1, 2, 3, 4, 5, 6]);
  assert.equal(k.mask[2], 0);
  const coco = parseCsv("frame,track,joint,x,y\n0,0,nose,1,2\n0,0,left_eye,3,4\n", "c.csv");
  assert.equal(coco.skeleton, "coco17");
  assert.equal(parseCsv("frame,joint,x,y\n0,Hip,1,2\n", "s.csv", { skeleton: "sh16" }).skeleton, "sh16");
});

Deno.test("malformed CSV is rejected naming file, line and column", () => {
  const bad = (text: string, re: RegExp) =>
    assert.throws(
      () => parseCsv(text, "k.csv"),
      (e) => e instanceof InputError && re.test(e.message),
      String(re),
    );
  bad(
    "frame,joint,x,y\n0,Hip,1,abc\n",
    /k\.csv: line 2: track 0 frame 0 joint "Hip": y is "abc", expected a finite number/,
  );
  bad("frame,joint,x,y\n0,Hip,1,NaN\n", /y is "NaN", expected a finite number/);
  bad(
    "frame,joint,x,y\n0,Hip,1,2\n0,Hip,1,2\n",
    /k\.csv: line 3: joint "Hip" of track 0 frame 0 appears twice/,
  );
  bad("frame,joint,x,y\n0,Hip,1,\n", /has only one of x and y/);
  bad("frame,joint,x,y\n-1,Hip,1,2\n", /line 2: column "frame" is "-1", expected a non-negative integer/);
  bad("frame,joint,x,y\n0,Hip,1\n", /line 2: has 3 fields, the header has 4/);
  bad("frame,joint,x,y,w\n", /line 1: unknown column "w"/);
  bad("frame,joint,x,y\n", /no data rows/);
  bad("", /no header line/);
  bad("frame,joint,x,y\n0,Elbow,1,2\n", /match no known skeleton/);
  bad("# skeleton=coco17\nframe,joint,x,y\n0,Hip,1,2\n", /joint "Hip" is not in skeleton coco17/);
  bad("frame,Hip.x,Hip.q\n0,1,2\n", /column "Hip\.q" is not <joint>/);
  bad("frame,Hip.x,Hip.y\n0,1,2\n0,3,4\n", /line 3: track 0 frame 0 appears twice/);
  bad('frame,joint,x,y\n0,"Hip,1,2\n', /line 2: unterminated quoted field/);
});
