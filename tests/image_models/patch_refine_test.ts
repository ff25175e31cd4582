// Patch-based 3D refinement (seed 000) against tests/fixtures/gen_image_models.py (section "patch"; hash
// weights, ResNet-18, 64×64 patches): limb windows (≥ 28 px, ×2.3, zero-padded), RGB + segmentation
// crops → 96 channels, residual limb orientations, rebuild along the skeleton with bone-length
// statistics. Tolerance 1e-3 relative on the refined poses and the residuals.
import assert from "node:assert/strict";
import { initEngine } from "../../engine/mod.ts";
import { boneLengthsOf, limbWindow, PatchRefine, rebuildPose } from "../../models/patch_refine.ts";
import { hashStateDict, moduleKeys } from "./_hash.ts";
import { assertClose, loadFixture } from "./_util.ts";

await initEngine();
const fx = await loadFixture("patch");
const asImage = (n: string) => {
  const t = fx.get(n);
  return {
    width: t.shape[1],
    height: t.shape[0],
    channels: t.shape[2],
    data: Uint8Array.from(t.data as ArrayLike<number>),
  };
};

Deno.test("patch_refine: refined 3D poses match the reference pipeline", async () => {
  const model = new PatchRefine((fx.cases as { config: Record<string, number> }).config).eval();
  await model.loadStateDict(hashStateDict(moduleKeys(model)), { fold: true });
  const p2 = fx.get("poses2d").data as Float32Array, p3 = fx.get("poses3d").data as Float32Array;
  const poses = [0, 1].map((i) => ({
    pose2d: p2.subarray(i * 34, (i + 1) * 34),
    pose3d: p3.subarray(i * 51, (i + 1) * 51),
  }));
  const out = await model.refine(asImage("image"), asImage("segmentation"), poses, {
    boneLengths: fx.get("bone_lengths").data as Float32Array,
  });
  const flat = new Float32Array(102);
  out.forEach((o, i) => flat.set(o, i * 51));
  assertClose(flat, fx.get("refined").data as Float32Array, "refined poses");
  model.dispose();
});

Deno.test("patch_refine: geometry helpers; a zero residual returns the initial pose", () => {
  limbWindow([10, 10], [20, 80]).forEach((v, i) =>
    assert.ok(Math.abs(v - [-17.2, -35.5, 64.4, 161][i]) < 1e-9)
  );
  const pose = Float32Array.from({ length: 51 }, (_, i) => Math.sin(i) * 100);
  const same = rebuildPose(pose, new Float32Array(48), { boneLengths: boneLengthsOf(pose) });
  assertClose(same, pose, "identity rebuild", 1e-6);
  assert.throws(
    () => rebuildPose(pose, new Float32Array(47), { boneLengths: new Float32Array(16) }),
    /residuals/,
  );
  assert.throws(() => new PatchRefine({ num_joints: 16 }), /17-joint/);
});

Deno.test("refine3d CLI: untrained weights on a PPM pair; JSON in and out; errors name the file", async () => {
  const { command } = await import("../../cli/commands/refine3d.ts");
  // Binary PPM (P6): the decoders read it, and it takes three lines to write.
  const ppm = (im: { width: number; height: number; data: Uint8Array }) => {
    const head = new TextEncoder().encode(`P6\n${im.width} ${im.height}\n255\n`);
    const out = new Uint8Array(head.length + im.data.length);
    out.set(head);
    out.set(im.data, head.length);
    return out;
  };
  const tmp = await Deno.makeTempDir();
  const img = asImage("image"), seg = asImage("segmentation");
  await Deno.writeFile(`${tmp}/img.ppm`, ppm(img));
  await Deno.writeFile(`${tmp}/seg.ppm`, ppm(seg));
  const p2 = fx.get("poses2d").data as Float32Array, p3 = fx.get("poses3d").data as Float32Array;
  const poses = {
    poses: [{ id: "a", keypoints_2d: [...p2.subarray(0, 34)], keypoints_3d: [...p3.subarray(0, 51)] }],
  };
  await Deno.writeTextFile(`${tmp}/in.json`, JSON.stringify(poses));
  const base = ["--image", `${tmp}/img.ppm`, "--segmentation", `${tmp}/seg.ppm`, "--input", `${tmp}/in.json`];
  const args = [
    ...base,
    "--untrained",
    "--out",
    `${tmp}/out.json`,
    "--config",
    "num_layers=18",
    "patch_size=32",
  ];
  assert.equal(await command.run(args), 0);
  const out = JSON.parse(await Deno.readTextFile(`${tmp}/out.json`));
  assert.equal(out.poses[0].id, "a");
  assert.equal(out.poses[0].keypoints_3d.length, 51);
  assert.deepEqual(out.poses[0].keypoints_3d_initial, poses.poses[0].keypoints_3d.map((v) => v));
  await Deno.writeTextFile(
    `${tmp}/bad.json`,
    JSON.stringify({ poses: [{ keypoints_2d: [1, 2], keypoints_3d: [] }] }),
  );
  await assert.rejects(
    () =>
      command.run([
        ...base.slice(0, 4),
        "--input",
        `${tmp}/bad.json`,
        "--untrained",
        "--out",
        `${tmp}/o.json`,
      ]),
    /bad.json: pose 0 "keypoints_2d"/,
  );
  await Deno.remove(tmp, { recursive: true });
});
