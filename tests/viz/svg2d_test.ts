import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { createPoseDocument } from "../../pose/formats/pose_json.ts";
import { COCO_17, H36M_17 } from "../../pose/skeletons.ts";
import { embedImage } from "../../pose/viz/image_embed.ts";
import { documentSvg2d, type Pose2D, skeletonSvg2d } from "../../pose/viz/svg2d.ts";
import { SIDE_COLORS } from "../../pose/viz/svg_common.ts";

/** Elements `<tag class="cls" ...>` of an SVG string, as attribute maps. */
function elements(svg: string, tag: string, cls?: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "g"))) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    if (cls === undefined || attrs.class === cls) out.push(attrs);
  }
  return out;
}

// A standing H36M-17 pose in pixels (x right, y down), hips at y = 300.
const STAND: number[] = [
  [200, 300],
  [180, 300],
  [180, 400],
  [180, 500],
  [220, 300],
  [220, 400],
  [220, 500],
  [200, 250],
  [200, 200],
  [200, 180],
  [200, 160],
  [230, 200],
  [240, 250],
  [245, 300],
  [170, 200],
  [160, 250],
  [155, 300],
].flat();

/** A minimal PNG: signature and IHDR chunk (the size is all `embedImage` reads). */
function tinyPng(width: number, height: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const v = new DataView(b.buffer);
  v.setUint32(16, width);
  v.setUint32(20, height);
  b.set([8, 2, 0, 0, 0], 24);
  return b;
}

/** A minimal JPEG header: SOI, an APP0 segment, then SOF0 with the size. */
function tinyJpeg(width: number, height: number): Uint8Array {
  return new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0,
    4,
    0x4a,
    0x46,
    0xff,
    0xc0,
    0,
    11,
    8,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    1,
    1,
    0x11,
    0,
    0xff,
    0xd9,
  ]);
}

Deno.test("svg2d draws one line per bone and one circle per joint, coloured by side", () => {
  const svg = skeletonSvg2d([{ skeleton: "h36m17", coords: STAND }]);
  const bones = elements(svg, "line", "bone");
  assert.equal(bones.length, H36M_17.bones.length);
  assert.equal(elements(svg, "circle", "joint").length, 17);
  // LHip (4) → Hip is a left bone, RHip (1) → Hip a right bone, Spine (7) → Hip a centre bone.
  const at = (x: string, y: string) => bones.find((b) => b.x1 === x && b.y1 === y)!;
  assert.equal(at("220", "300").stroke, SIDE_COLORS.left);
  assert.equal(at("180", "300").stroke, SIDE_COLORS.right);
  assert.equal(at("200", "250").stroke, SIDE_COLORS.centre);
  const joints = elements(svg, "circle", "joint");
  assert.equal(joints.find((c) => c["data-joint"] === "13")!.fill, SIDE_COLORS.left);
  assert.equal(joints.find((c) => c["data-joint"] === "16")!.fill, SIDE_COLORS.right);
  // No size given: the viewBox is the keypoints' box (155..245 × 160..500) with a 10 % margin of 340.
  assert.equal(elements(svg, "svg")[0].viewBox, "121 126 158 408");
  assert.equal(svg, skeletonSvg2d([{ skeleton: "h36m17", coords: STAND }]), "deterministic");
});

Deno.test("svg2d skips missing joints and the lines that touch them; several people", () => {
  const mask = new Uint8Array(17).fill(1);
  mask[2] = 0; // RKnee: its two bones (to RHip and from RFoot) go
  const second: Pose2D = { skeleton: "h36m17", coords: STAND.map((v, i) => v + (i % 2 ? 0 : 300)), mask };
  const svg = skeletonSvg2d([{ skeleton: "h36m17", coords: STAND, label: "a" }, { ...second, label: "b" }], {
    width: 640,
    height: 480,
  });
  assert.equal(elements(svg, "g", "person").length, 2);
  assert.equal(elements(svg, "line", "bone").length, 16 + 14);
  assert.equal(elements(svg, "circle", "joint").length, 17 + 16);
  assert.equal(elements(svg, "text", "label").length, 2);
  assert.equal(elements(svg, "svg")[0].viewBox, "0 0 640 480");
  assert.ok(!svg.includes(`cx="480" cy="400"`), "the missing RKnee of the second person is not drawn");
});

Deno.test("svg2d uses a skeleton's own drawing lines (COCO: PoseFix's 15)", () => {
  const coords = Array.from({ length: 34 }, (_, i) => 10 + i * 3);
  const svg = skeletonSvg2d([{ skeleton: "coco17", coords }]);
  assert.equal(elements(svg, "line", "bone").length, COCO_17.lines!.length);
  // Lines across the body (eye–eye, shoulder–shoulder, hip–hip) are centre lines; nose–left eye is left.
  const sides = elements(svg, "line", "bone").map((b) => b["data-side"]);
  assert.equal(sides.filter((s) => s === "centre").length, 3);
  assert.equal(sides.filter((s) => s === "left").length, 6);
  assert.equal(sides.filter((s) => s === "right").length, 6);
});

Deno.test("svg2d embeds a PNG or JPEG background and takes its size", () => {
  for (const [bytes, mime] of [[tinyPng(64, 48), "image/png"], [tinyJpeg(64, 48), "image/jpeg"]] as const) {
    const svg = skeletonSvg2d([{ skeleton: "h36m17", coords: STAND.map((v) => v / 10) }], {
      background: bytes,
    });
    const root = elements(svg, "svg")[0];
    assert.equal(root.viewBox, "0 0 64 48");
    assert.equal(root.width, "64");
    const image = elements(svg, "image", "background");
    assert.equal(image.length, 1);
    const href = image[0]["xlink:href"];
    assert.ok(href.startsWith(`data:${mime};base64,`));
    const decoded = Uint8Array.from(atob(href.split(",")[1]), (c) => c.charCodeAt(0));
    assert.deepEqual(decoded, bytes);
    assert.equal(elements(svg, "rect", "canvas").length, 0);
  }
  assert.deepEqual(
    [embedImage(tinyJpeg(1000, 1002)).width, embedImage(tinyJpeg(1000, 1002)).height],
    [1000, 1002],
  );
  assert.throws(() => embedImage(new TextEncoder().encode("GIF89a....")), InputError);
});

Deno.test("svg2d rejects poses of the wrong size and non-finite present joints", () => {
  assert.throws(() => skeletonSvg2d([{ skeleton: "h36m17", coords: [1, 2, 3] }]), InputError);
  const bad = STAND.slice();
  bad[5] = NaN;
  assert.throws(() => skeletonSvg2d([{ skeleton: "h36m17", coords: bad }]), /joint 2 \(RKnee\)/);
  const mask = new Uint8Array(17).fill(1);
  mask[2] = 0;
  skeletonSvg2d([{ skeleton: "h36m17", coords: bad, mask }]); // a missing joint's value is ignored
});

Deno.test("documentSvg2d draws the people of one frame at the document's image size", () => {
  const kp = (shift: number) => ({
    skeleton: "h36m17",
    frames: 2,
    joints: 17,
    coords: Float32Array.from([...STAND, ...STAND].map((v) => v + shift)),
    scores: null,
    mask: new Uint8Array(34).fill(1),
  });
  const doc = createPoseDocument({
    skeleton: "h36m17",
    image: { width: 1000, height: 1002 },
    people: [
      { track: 3, frames: [5, 6], keypoints2d: kp(0), keypoints3d: null },
      { track: 4, frames: [6, 9], keypoints2d: kp(200), keypoints3d: null },
    ],
  });
  const one = documentSvg2d(doc, 5);
  assert.equal(elements(one, "svg")[0].viewBox, "0 0 1000 1002");
  assert.equal(elements(one, "g", "person").length, 1);
  assert.equal(elements(one, "text", "label").length, 0);
  const two = documentSvg2d(doc, 6);
  assert.equal(elements(two, "g", "person").length, 2);
  assert.deepEqual(elements(two, "text", "label").length, 2);
  assert.ok(two.includes(">track 4</text>"));
  assert.throws(() => documentSvg2d(doc, 7), InputError);
});
