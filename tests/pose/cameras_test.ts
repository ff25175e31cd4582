import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import {
  cameraToWorld,
  getCamera,
  loadH36mCameras,
  parseCamera,
  parseH36mCameras,
  projectPointRadial,
  worldToCamera,
} from "../../pose/cameras.ts";
import { fixture, sharedData } from "../_shared.ts";

const fx = JSON.parse(Deno.readTextFileSync(fixture("camera_projection.json")));
const camera = parseCamera(fx.camera, { where: "camera_projection.json", id: "synthetic" });

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

Deno.test("world -> camera is R^T (X - T) and camera -> world inverts it (NumPy oracle)", () => {
  const world = Float32Array.from(fx.world);
  const cam = worldToCamera(world, camera);
  close(cam, fx.camera_frame, 2e-3, "camera frame");
  close(cameraToWorld(cam, camera), world, 2e-3, "round trip");
});

Deno.test("projectPointRadial matches 3d-pose-baseline's project_point_radial (NumPy oracle)", () => {
  const uv = projectPointRadial(Float32Array.from(fx.world), camera);
  close(uv, fx.projected, 1e-3, "pixels");
  const fromCam = projectPointRadial(Float32Array.from(fx.camera_frame), camera, { frame: "camera" });
  close(fromCam, fx.projected, 1e-3, "pixels from camera frame");
});

Deno.test("hand-computed projection without distortion: u = f x/z + c", () => {
  const simple = parseCamera(
    {
      R: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      T: [0, 0, 0],
      f: [1000, 900],
      c: [500, 400],
      k: [0, 0, 0],
      p: [0, 0],
      res_w: 1000,
      res_h: 800,
    },
    { where: "inline", id: "x" },
  );
  assert.deepEqual([...projectPointRadial(Float32Array.of(100, -200, 2000), simple)], [550, 310]);
});

Deno.test("malformed camera records are rejected with the field named", () => {
  const bad = { ...fx.camera, R: [[1, 0, 0], [0, 2, 0], [0, 0, 1]] };
  assert.throws(
    () => parseCamera(bad, { where: "cams.json: S1.1", id: "1" }),
    (e) => e instanceof InputError && /cams\.json: S1\.1: "R" is not a rotation/.test(e.message),
  );
  assert.throws(() => parseCamera({ ...fx.camera, T: [1, 2, NaN] }, { where: "w", id: "1" }), /"T"\[2\]/);
  assert.throws(() => parseCamera({ ...fx.camera, res_w: 0 }, { where: "w", id: "1" }), /"res_w"/);
  assert.throws(() => parseH36mCameras({ cameras: {} }, "c.json"), /c\.json: "cameras" is empty/);
  assert.throws(() => parseH36mCameras([], "c.json"), /c\.json: expected an object/);
});

const camerasPath = sharedData("h36m/cameras.json");
Deno.test({
  name: "h36m/cameras.json loads: 5 subjects x 4 cameras",
  ignore: camerasPath === null,
  fn: async () => {
    const set = await loadH36mCameras(camerasPath!);
    assert.deepEqual([...set.keys()], ["S1", "S5", "S6", "S7", "S8"]);
    const cam = getCamera(set, "S1", "54138969");
    assert.equal(cam.resW, 1000);
    assert.equal(cam.resH, 1002);
    assert.throws(() => getCamera(set, "S9", "54138969"), /no cameras for subject "S9"/);
  },
});
