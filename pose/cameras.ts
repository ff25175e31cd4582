/**
 * Pinhole cameras with Human3.6M's distortion model: world ↔ camera frames and 3d-pose-baseline's
 * `project_point_radial`, plus the loader of `h36m/cameras.json`.
 *
 * Convention (that of the shared data): `X_cam = Rᵀ · (X_world − T)`, `R` row-major as stored (its
 * columns are the camera axes in world coordinates), `T` the camera centre in world millimetres,
 * camera z forward.
 * @module
 */

import { InputError } from "../engine/errors.ts";

/** One calibrated camera. */
export interface Camera {
  /** Camera id (e.g. `54138969`). */
  id: string;
  /** Subject whose calibration this is (Human3.6M calibrations differ per subject), or "". */
  subject: string;
  /** 3×3 rotation, row-major as stored: `X_cam = Rᵀ (X_world − T)`. */
  R: Float64Array;
  /** Camera centre in world coordinates (mm). */
  T: Float64Array;
  /** Focal lengths [fx, fy] in pixels. */
  f: Float64Array;
  /** Principal point [cx, cy] in pixels. */
  c: Float64Array;
  /** Radial distortion [k1, k2, k3]. */
  k: Float64Array;
  /** Tangential distortion [p1, p2]. */
  p: Float64Array;
  /** Image width in pixels. */
  resW: number;
  /** Image height in pixels. */
  resH: number;
}

function checkPoints(points: Float32Array, dims: number, what: string): number {
  if (points.length % dims !== 0) {
    throw new InputError(`${what}: ${points.length} numbers is not a whole number of ${dims}D points`);
  }
  return points.length / dims;
}

/** World → camera frame for N×3 points: `Rᵀ (X − T)`. */
export function worldToCamera(points: Float32Array, camera: Camera): Float32Array {
  const n = checkPoints(points, 3, "worldToCamera");
  const { R, T } = camera;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const x = points[3 * i] - T[0];
    const y = points[3 * i + 1] - T[1];
    const z = points[3 * i + 2] - T[2];
    for (let a = 0; a < 3; a++) out[3 * i + a] = R[a] * x + R[3 + a] * y + R[6 + a] * z;
  }
  return out;
}

/** Camera → world frame for N×3 points: `R X_cam + T` (inverse of `worldToCamera`). */
export function cameraToWorld(points: Float32Array, camera: Camera): Float32Array {
  const n = checkPoints(points, 3, "cameraToWorld");
  const { R, T } = camera;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const x = points[3 * i];
    const y = points[3 * i + 1];
    const z = points[3 * i + 2];
    for (let a = 0; a < 3; a++) out[3 * i + a] = R[3 * a] * x + R[3 * a + 1] * y + R[3 * a + 2] * z + T[a];
  }
  return out;
}

/** Options of `projectPointRadial`. */
export interface ProjectOptions {
  /** Frame of the input points: "world" (default, as 3d-pose-baseline) or "camera". */
  frame?: "world" | "camera";
}

/**
 * Projects N×3 points to N×2 pixels exactly as 3d-pose-baseline's `project_point_radial`:
 * `xn = x/z, yn = y/z, r2 = xn² + yn², radial = 1 + k1 r2 + k2 r2² + k3 r2³, tan = p1 yn + p2 xn,
 * xd = xn (radial + tan) + p2 r2, yd = yn (radial + tan) + p1 r2, u = fx xd + cx, v = fy yd + cy`.
 * Points at or behind the camera (z ≤ 0) are projected by the same formula, as upstream does.
 */
export function projectPointRadial(
  points: Float32Array,
  camera: Camera,
  options: ProjectOptions = {},
): Float32Array {
  const cam = (options.frame ?? "world") === "world" ? worldToCamera(points, camera) : points;
  const n = checkPoints(cam, 3, "projectPointRadial");
  const [k1, k2, k3] = camera.k;
  const [p1, p2] = camera.p;
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const z = cam[3 * i + 2];
    const xn = cam[3 * i] / z;
    const yn = cam[3 * i + 1] / z;
    const r2 = xn * xn + yn * yn;
    const radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2;
    const tan = p1 * yn + p2 * xn;
    const xd = xn * (radial + tan) + p2 * r2;
    const yd = yn * (radial + tan) + p1 * r2;
    out[2 * i] = camera.f[0] * xd + camera.c[0];
    out[2 * i + 1] = camera.f[1] * yd + camera.c[1];
  }
  return out;
}

function numbers(value: unknown, count: number, where: string, field: string): Float64Array {
  const flat = Array.isArray(value) && value.every(Array.isArray) ? value.flat() : value;
  if (!Array.isArray(flat) || flat.length !== count) {
    throw new InputError(`${where}: "${field}" must be ${count} numbers`);
  }
  const out = new Float64Array(count);
  flat.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new InputError(`${where}: "${field}"[${i}] is ${JSON.stringify(v)}, expected a finite number`);
    }
    out[i] = v;
  });
  return out;
}

/** Where a camera record comes from (for error messages) and which camera it is. */
export interface CameraRecordInfo {
  /** Names the record in error messages (file and key). */
  where: string;
  /** Camera id. */
  id: string;
  /** Subject, if any. */
  subject?: string;
}

/** Validates one camera record `{R, T, f, c, k, p, res_w, res_h}` (R 3×3 nested or 9 flat). */
export function parseCamera(record: unknown, info: CameraRecordInfo): Camera {
  const where = info.where;
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new InputError(`${where}: expected an object with R, T, f, c, k, p, res_w, res_h`);
  }
  const r = record as Record<string, unknown>;
  const R = numbers(r.R, 9, where, "R");
  // R must be a rotation: Rᵀ R = I (tolerance for stored decimals).
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      const dot = R[a] * R[b] + R[3 + a] * R[3 + b] + R[6 + a] * R[6 + b];
      if (Math.abs(dot - (a === b ? 1 : 0)) > 1e-4) {
        throw new InputError(
          `${where}: "R" is not a rotation matrix (columns ${a}·${b} = ${dot.toFixed(6)})`,
        );
      }
    }
  }
  const size = (field: string): number => {
    const v = r[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new InputError(`${where}: "${field}" is ${JSON.stringify(v)}, expected a positive integer`);
    }
    return v;
  };
  return {
    id: info.id,
    subject: info.subject ?? "",
    R,
    T: numbers(r.T, 3, where, "T"),
    f: numbers(r.f, 2, where, "f"),
    c: numbers(r.c, 2, where, "c"),
    k: numbers(r.k, 3, where, "k"),
    p: numbers(r.p, 2, where, "p"),
    resW: size("res_w"),
    resH: size("res_h"),
  };
}

/** Cameras by subject, then camera id. */
export type CameraSet = Map<string, Map<string, Camera>>;

/** Parses the content of `h36m/cameras.json` (`{"cameras": {subject: {id: record}}}`). */
export function parseH36mCameras(json: unknown, file: string): CameraSet {
  const root = json as Record<string, unknown> | null;
  const cams = root && typeof root === "object" ? root.cameras : undefined;
  if (typeof cams !== "object" || cams === null || Array.isArray(cams)) {
    throw new InputError(
      `${file}: expected an object with a "cameras" object (subject → camera id → camera)`,
    );
  }
  const out: CameraSet = new Map();
  for (const [subject, byId] of Object.entries(cams)) {
    if (typeof byId !== "object" || byId === null || Array.isArray(byId)) {
      throw new InputError(`${file}: cameras.${subject} must be an object of camera id → camera`);
    }
    const m = new Map<string, Camera>();
    for (const [id, rec] of Object.entries(byId)) {
      m.set(id, parseCamera(rec, { where: `${file}: cameras.${subject}.${id}`, id, subject }));
    }
    out.set(subject, m);
  }
  if (out.size === 0) throw new InputError(`${file}: "cameras" is empty`);
  return out;
}

/** Reads `h36m/cameras.json`. */
export async function loadH36mCameras(path: string): Promise<CameraSet> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read cameras file (${(e as Error).message})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseH36mCameras(json, path);
}

/** Looks up one camera; throws `InputError` naming what exists when absent. */
export function getCamera(set: CameraSet, subject: string, id: string): Camera {
  const bySubject = set.get(subject);
  if (!bySubject) {
    throw new InputError(`no cameras for subject "${subject}" (have ${[...set.keys()].join(", ")})`);
  }
  const cam = bySubject.get(id);
  if (!cam) {
    throw new InputError(
      `subject ${subject} has no camera "${id}" (have ${[...bySubject.keys()].join(", ")})`,
    );
  }
  return cam;
}
