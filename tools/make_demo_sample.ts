/**
 * Makes `pose/data/cmu_131_01_2d.json`, the demo sample (see `pose/demo_sample.ts` for what it holds and
 * how the camera is placed).
 *
 *     deno run --allow-read --allow-write tools/make_demo_sample.ts [path/to/131_01.bvh] [out.json]
 *
 * Defaults: `../shared/data/cmu/131_01.bvh` beside the repository and `pose/data/cmu_131_01_2d.json`.
 * The output is deterministic: running it again on the same BVH gives the same bytes.
 * @module
 */

import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../engine/fs.ts";
import { bvhForwardKinematics, CMU_UNIT_MM, cmuToH36m, readBvh } from "../pose/bvh.ts";
import { createPoseDocument, poseJsonText } from "../pose/formats/pose_json.ts";
import { DEMO_SAMPLE_FRAME_STEP } from "../pose/demo_sample.ts";

/** Camera intrinsics (Human3.6M's first camera, rounded) and image size. */
export const DEMO_INTRINSICS = { f: [1145, 1145], c: [512, 515], width: 1000, height: 1002 } as const;
/** Horizontal distance from the subject's bounding-box centre to the camera, mm. */
export const DEMO_DISTANCE_MM = 4750;
/** Height of the camera centre above the floor (BVH y = 0), mm. */
export const DEMO_CAMERA_HEIGHT_MM = 1500;

type Vec3 = [number, number, number];
const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const unit = (a: Vec3): Vec3 => {
  const n = Math.hypot(...a);
  return [a[0] / n, a[1] / n, a[2] / n];
};
const round = (v: number, decimals: number): number => {
  const s = 10 ** decimals;
  const r = Math.round(v * s) / s;
  return r === 0 ? 0 : r; // no "-0" in the file
};

/** Builds the demo sample's pose JSON text from the CMU BVH at `bvhPath`. */
export async function makeDemoSampleText(bvhPath: string): Promise<string> {
  const clip = await readBvh(bvhPath);
  const h36m = cmuToH36m(bvhForwardKinematics(clip, { endSites: true }));
  const step = DEMO_SAMPLE_FRAME_STEP;
  const sourceFrames: number[] = [];
  for (let f = 0; f < h36m.frames; f += step) sourceFrames.push(f);
  const T = sourceFrames.length, J = 17;
  const world = new Float64Array(T * J * 3);
  sourceFrames.forEach((f, i) => {
    for (let k = 0; k < J * 3; k++) world[i * J * 3 + k] = h36m.coords[f * J * 3 + k] * CMU_UNIT_MM;
  });
  const point = (i: number, j: number): Vec3 => [0, 1, 2].map((a) => world[(i * J + j) * 3 + a]) as Vec3;

  // Facing direction: the horizontal normal of the hip line, (LHip − RHip) × up, averaged over frames.
  const up: Vec3 = [0, 1, 0];
  const facing: Vec3 = [0, 0, 0];
  for (let i = 0; i < T; i++) {
    const n = unit(cross(sub(point(i, 4), point(i, 1)), up));
    for (let a = 0; a < 3; a++) facing[a] += n[a];
  }
  const face = unit([facing[0], 0, facing[2]]);
  const lo: Vec3 = [Infinity, Infinity, Infinity], hi: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (let k = 0; k < world.length; k++) {
    lo[k % 3] = Math.min(lo[k % 3], world[k]);
    hi[k % 3] = Math.max(hi[k % 3], world[k]);
  }
  const target = lo.map((v, a) => (v + hi[a]) / 2) as Vec3;
  const centre: Vec3 = [
    round(target[0] + DEMO_DISTANCE_MM * face[0], 1),
    DEMO_CAMERA_HEIGHT_MM,
    round(target[2] + DEMO_DISTANCE_MM * face[2], 1),
  ];
  // Camera axes in world coordinates: z towards the target, x to the image's right, y down the image.
  const zAxis = unit(sub(target, centre));
  const xAxis = unit(cross(zAxis, up));
  const yAxis = cross(zAxis, xAxis);
  // R row-major with the camera axes as columns (X_cam = Rᵀ (X − T)), rounded so the stored R is the one
  // used here.
  const R = [0, 1, 2].map((r) => [xAxis[r], yAxis[r], zAxis[r]].map((v) => round(v, 12)));

  const cam = new Float32Array(T * J * 3);
  const px = new Float32Array(T * J * 2);
  const { f, c } = DEMO_INTRINSICS;
  for (let n = 0; n < T * J; n++) {
    const d = sub(point(Math.floor(n / J), n % J), centre);
    const xyz = [0, 1, 2].map((a) => round(R[0][a] * d[0] + R[1][a] * d[1] + R[2][a] * d[2], 1));
    cam.set(xyz, n * 3);
    // Project the stored (rounded, float32) camera coordinates so 2D and 3D agree exactly.
    const [x, y, z] = [cam[n * 3], cam[n * 3 + 1], cam[n * 3 + 2]];
    px[n * 2] = round(f[0] * (x / z) + c[0], 3);
    px[n * 2 + 1] = round(f[1] * (y / z) + c[1], 3);
  }

  const doc = createPoseDocument({
    skeleton: "h36m17",
    units: "mm",
    frame: "camera",
    fps: 120 / step,
    image: { width: DEMO_INTRINSICS.width, height: DEMO_INTRINSICS.height },
    frameIds: sourceFrames,
    people: [{
      track: 0,
      frames: sourceFrames.map((_, i) => i),
      keypoints2d: {
        skeleton: "h36m17",
        frames: T,
        joints: J,
        coords: px,
        scores: null,
        mask: new Uint8Array(T * J).fill(1),
      },
      keypoints3d: {
        skeleton: "h36m17",
        frames: T,
        joints: J,
        coords: cam,
        mask: new Uint8Array(T * J).fill(1),
      },
      meta: {
        camera: {
          R,
          T: centre,
          f: [...f],
          c: [...c],
          k: [0, 0, 0],
          p: [0, 0],
          res_w: DEMO_INTRINSICS.width,
          res_h: DEMO_INTRINSICS.height,
        },
        ground_truth: "keypoints3d: the clip's own joints in this camera's frame, mm",
        source: {
          dataset: "CMU Graphics Lab Motion Capture Database",
          url: "http://mocap.cs.cmu.edu",
          clip: "131_01",
          description: "start, walk, stop (cgspeed BVH conversion, 994 frames at 120 fps)",
          source_fps: 120,
          frame_step: step,
          camera: `pinhole, no distortion; centre ${DEMO_CAMERA_HEIGHT_MM} mm above the floor, ` +
            `${DEMO_DISTANCE_MM} mm horizontally from the subject's bounding-box centre along the mean ` +
            `facing direction, looking at that centre; world = BVH axes (Y up) in mm`,
          tool: "tools/make_demo_sample.ts",
          licence: "CMU mocap data is free for research and commercial use. The data used in this project " +
            "was obtained from mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217.",
        },
      },
    }],
  });
  return poseJsonText(doc);
}

if (import.meta.main) {
  const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
  const input = Deno.args[0] ?? here("../../shared/data/cmu/131_01.bvh");
  const output = Deno.args[1] ?? here("../pose/data/cmu_131_01_2d.json");
  const text = await makeDemoSampleText(input);
  await writeFileAtomic(output, text);
  console.log(`wrote ${output} (${text.length} bytes)`);
}
