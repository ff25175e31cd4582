import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { createPoseDocument } from "../../pose/formats/pose_json.ts";
import { guessUpAxis, toView, type UpAxis, viewBasis } from "../../pose/viz/axes.ts";
import { errorColor } from "../../pose/viz/svg_common.ts";
import { documentSvg3d, type Pose3D, skeletonSvg3d } from "../../pose/viz/svg3d.ts";

function elements(svg: string, tag: string, cls?: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "g"))) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    if (cls === undefined || attrs.class === cls) out.push(attrs);
  }
  return out;
}

/** The markup of one panel (front, side or top). */
function panel(svg: string, view: string): string {
  const start = svg.indexOf(`<g class="panel" data-view="${view}">`);
  const end = svg.indexOf(`<g class="panel"`, start + 1);
  return svg.slice(start, end < 0 ? svg.indexOf(`<g class="scale">`) : end);
}

// A standing H36M-17 pose in camera coordinates (mm; y down, z forward), 4 m from the camera.
const STAND: number[] = [
  [0, 0, 4000],
  [-130, 0, 4000],
  [-130, 450, 4050],
  [-130, 880, 4000],
  [130, 0, 4000],
  [130, 450, 3950],
  [130, 880, 4000],
  [0, -230, 4000],
  [0, -480, 4000],
  [0, -560, 3990],
  [0, -680, 4000],
  [170, -460, 4000],
  [190, -200, 4000],
  [200, 40, 3950],
  [-170, -460, 4000],
  [-190, -200, 4000],
  [-200, 40, 4050],
].flat();

Deno.test("svg3d: three panels at one scale, one line per bone and circle per joint in each", () => {
  const svg = skeletonSvg3d([{ skeleton: "h36m17", coords: STAND }], { panelSize: 300 });
  assert.equal(elements(svg, "svg")[0].viewBox, "0 0 980 388");
  assert.deepEqual(elements(svg, "g", "panel").map((g) => g["data-view"]), ["front", "side", "top"]);
  assert.equal(elements(svg, "line", "bone").length, 3 * 16);
  assert.equal(elements(svg, "circle", "joint").length, 3 * 17);
  assert.equal(elements(svg, "line", "gt-bone").length, 0);
  assert.equal(elements(svg, "rect", "legend-step").length, 0, "no legend without ground truth");
  // Axis labels of a camera frame: front x / −y, side z / −y, top x / z.
  const labels = [...svg.matchAll(/class="axis-label"[^>]*>([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(labels, ["x →", "−y →", "z →", "−y →", "x →", "z →"]);

  // Equal scale: the head–foot height (1560 mm) spans the same pixels in front and side views, and the
  // wrist–wrist width (400 mm) the same in front and top views.
  const joint = (view: string, j: number) => {
    const c = elements(panel(svg, view), "circle", "joint").find((e) => e["data-joint"] === String(j))!;
    return [Number(c.cx), Number(c.cy)];
  };
  const height = (v: string) => joint(v, 3)[1] - joint(v, 10)[1];
  assert.ok(Math.abs(height("front") - height("side")) < 0.02);
  const width = (v: string) => joint(v, 13)[0] - joint(v, 16)[0];
  assert.ok(Math.abs(width("front") - width("top")) < 0.02);
  // Scale: the tallest extent (1560 mm) fills the panel less its 8 % margins (252 px).
  const scale = 252 / 1560;
  assert.ok(Math.abs(height("front") - 1560 * scale) < 0.02);
  assert.ok(Math.abs(width("front") - 400 * scale) < 0.02);
  // The scale bar is a nice length at that scale, labelled in mm.
  const bar = elements(svg, "line", "scale-bar")[0];
  const barPx = Number(bar.x2) - Number(bar.x1);
  const label = svg.match(/>(\d+) mm<\/text>/)!;
  assert.equal(label[1], "500");
  assert.ok(Math.abs(barPx - 500 * scale) < 0.01);
  // Top view: depth points up the page, so the farther RWrist (z 4050) is above the nearer LWrist (3950).
  assert.ok(joint("top", 16)[1] < joint("top", 13)[1]);
});

Deno.test("svg3d colours joints by error against a root-aligned ground truth, with a legend", () => {
  const pred = STAND.slice();
  pred[13 * 3] += 200; // LWrist 200 mm off: above the 120 mm top of the scale → red
  pred[5 * 3 + 1] += 10; // LKnee 10 mm off: below the 40 mm bottom → green
  pred[12 * 3 + 2] += 80; // LElbow 80 mm: half-way → yellow
  // The whole prediction 1 m away: root alignment removes that.
  const shifted = pred.map((v, i) => (i % 3 === 2 ? v + 1000 : v));
  const gt: Pose3D = { skeleton: "h36m17", coords: STAND };
  const svg = skeletonSvg3d([{ skeleton: "h36m17", coords: shifted }], { groundTruth: [gt] });
  assert.equal(elements(svg, "line", "gt-bone").length, 3 * 16);
  const front = elements(panel(svg, "front"), "circle", "joint");
  const fill = (j: number) => front.find((c) => c["data-joint"] === String(j))!.fill;
  const error = (j: number) => Number(front.find((c) => c["data-joint"] === String(j))!["data-error"]);
  assert.equal(fill(13), "#d73027");
  assert.equal(error(13), 200);
  assert.equal(fill(5), "#1a9850");
  assert.equal(error(5), 10);
  assert.equal(fill(12), "#fee08b");
  assert.equal(fill(0), "#1a9850");
  assert.equal(error(0), 0);
  assert.equal(elements(svg, "rect", "legend-step").length, 10);
  assert.equal(elements(svg, "rect", "legend-step")[0].fill, "#1a9850");
  assert.equal(elements(svg, "rect", "legend-step")[9].fill, "#d73027");
  assert.ok(svg.includes("mean " + (290 / 17).toFixed(1)));

  // Without alignment every joint is ≥ 1 m off: all red.
  const raw = skeletonSvg3d([{ skeleton: "h36m17", coords: shifted }], { groundTruth: [gt], align: "none" });
  assert.ok(elements(raw, "circle", "joint").every((c) => c.fill === "#d73027"));
  // A custom scale moves the thresholds.
  const loose = skeletonSvg3d([{ skeleton: "h36m17", coords: pred }], {
    groundTruth: [gt],
    errorScale: { low: 250, high: 500 },
  });
  assert.ok(elements(loose, "circle", "joint").every((c) => c.fill === "#1a9850"));
});

Deno.test("svg3d: missing joints are not drawn and measured; bad input throws", () => {
  const mask = new Uint8Array(17).fill(1);
  mask[16] = 0; // RWrist: one bone
  const svg = skeletonSvg3d([{ skeleton: "h36m17", coords: STAND, mask }], {
    groundTruth: [{ skeleton: "h36m17", coords: STAND }],
  });
  assert.equal(elements(svg, "line", "bone").length, 3 * 15);
  assert.equal(elements(svg, "circle", "joint").length, 3 * 16);
  assert.equal(elements(svg, "circle", "joint").filter((c) => c["data-error"] !== undefined).length, 3 * 16);
  assert.throws(() => skeletonSvg3d([]), InputError);
  assert.throws(() => skeletonSvg3d([{ skeleton: "h36m17", coords: [1, 2, 3] }]), InputError);
  assert.throws(
    () =>
      skeletonSvg3d([{ skeleton: "h36m17", coords: STAND }], {
        groundTruth: [{ skeleton: "coco17", coords: new Array(51).fill(0) }],
      }),
    /skeleton coco17/,
  );
  assert.throws(
    () => skeletonSvg3d([{ skeleton: "h36m17", coords: STAND }], { up: "w" as UpAxis }),
    InputError,
  );
});

Deno.test("view bases are right-handed and camera frames look like the camera", () => {
  for (const up of ["x", "-x", "y", "-y", "z", "-z"] as UpAxis[]) {
    const b = viewBasis(up);
    const vec = (a: { axis: number; sign: number }) => [0, 1, 2].map((i) => (i === a.axis ? a.sign : 0));
    const [r, d, u] = [vec(b.right), vec(b.depth), vec(b.up)];
    const cross = [r[1] * d[2] - r[2] * d[1], r[2] * d[0] - r[0] * d[2], r[0] * d[1] - r[1] * d[0]].map((v) =>
      v + 0
    );
    assert.deepEqual(cross, u, `right × depth = up for ${up}`);
  }
  assert.deepEqual(toView(viewBasis("-y"), 1, 2, 3), [1, -2, 3]);
  assert.deepEqual(toView(viewBasis("z"), 1, 2, 3), [1, 3, 2]);
});

Deno.test("guessUpAxis finds up from head and root; documentSvg3d uses it for world frames", () => {
  // STAND in a Z-up world: (x, y, z)_world = (x, z, −y)_camera.
  const world = new Float32Array(51);
  for (let j = 0; j < 17; j++) world.set([STAND[3 * j], STAND[3 * j + 2], -STAND[3 * j + 1]], 3 * j);
  const kp = { skeleton: "h36m17", frames: 1, joints: 17, coords: world, mask: new Uint8Array(17).fill(1) };
  assert.equal(guessUpAxis(kp), "z");
  assert.equal(guessUpAxis({ ...kp, coords: Float32Array.from(STAND) }), "-y");
  const doc = createPoseDocument({
    skeleton: "h36m17",
    units: "mm",
    frame: "world",
    people: [{ track: 0, frames: [7], keypoints2d: null, keypoints3d: kp }],
  });
  const svg = documentSvg3d(doc, 7, { groundTruth: doc });
  const labels = [...svg.matchAll(/class="axis-label"[^>]*>([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(labels.slice(0, 2), ["x →", "z →"]);
  assert.equal(elements(svg, "line", "gt-bone").length, 3 * 16);
  assert.ok(elements(svg, "circle", "joint").every((c) => c.fill === errorColor(0)));
  assert.throws(() => documentSvg3d(doc, 8), InputError);
});
