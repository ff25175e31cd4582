import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { command } from "../../cli/commands/bvh.ts";
import { readPoseJson } from "../../pose/formats/pose_json.ts";
import { readBvh } from "../../pose/bvh.ts";
import { fixture } from "../_shared.ts";

Deno.test("posegpu bvh: BVH -> pose JSON -> BVH -> pose JSON keeps positions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bvh = fixture("bvh_synthetic_h36m.bvh");
    assert.equal(await command.run([bvh, "--out", `${dir}/a.json`, "--units", "mm"]), 0);
    const a = await readPoseJson(`${dir}/a.json`);
    assert.equal(a.skeleton, "h36m17");
    assert.equal(a.fps, 50);
    assert.equal(a.units, "mm");
    assert.equal(await command.run([`${dir}/a.json`, "--out", `${dir}/b.bvh`]), 0);
    const clip = await readBvh(`${dir}/b.bvh`);
    assert.ok(clip.joints.some((j) => j.name === "Hip_RHip")); // branch joints by default
    assert.equal(await command.run([`${dir}/b.bvh`, "--out", `${dir}/c.json`, "--every", "2"]), 0);
    const c = await readPoseJson(`${dir}/c.json`);
    assert.equal(c.people[0].keypoints3d!.frames, 3);
    const ka = a.people[0].keypoints3d!.coords;
    const kc = c.people[0].keypoints3d!.coords;
    for (let i = 0; i < 51; i++) assert.ok(Math.abs(ka[102 + i] - kc[51 + i]) < 1e-2, `frame 2 value ${i}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("posegpu bvh: bad arguments are input errors", async () => {
  const rejects = (args: string[], re: RegExp) =>
    assert.rejects(() => command.run(args), (e) => e instanceof InputError && re.test(e.message), String(re));
  await rejects(["a.bvh"], /--out is required/);
  await rejects(["a.bvh", "b.bvh", "--out", "c.json"], /expected one input file, got 2/);
  await rejects(["a.bvh", "--out", "c.bvh"], /--out must be a pose file/);
  await rejects(
    [fixture("bvh_synthetic.bvh"), "--out", "c.json", "--every", "0"],
    /--every must be at least 1/,
  );
  await rejects([fixture("bvh_synthetic.bvh"), "--out", "c.json"], /BVH skeleton has no "Hips"/);
  await rejects(
    [fixture("bvh_synthetic.bvh"), "--out", "c.json", "--scale=-1"],
    /--scale -1 is not a positive number/,
  );
  await rejects(["p.json", "--out", "c.json"], /pose input needs --out CLIP\.bvh/);
});
