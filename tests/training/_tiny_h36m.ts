// A tiny synthetic Human3.6M folder in the shared format (subject safetensors + cameras.json), written to a
// temporary directory: a moving stick figure seen by two cameras, so training and evaluation tests run
// anywhere without ../shared/data.
import { join } from "node:path";
import { writeSafetensors } from "../../engine/safetensors.ts";
import { Rng } from "../../engine/random.ts";
import { projectPointRadial } from "../../pose/cameras.ts";

// H36M-17 rest pose (world mm, z up, facing −y): Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine, Thorax,
// Neck/Nose, Head, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist.
const REST = [
  [0, 0, 900],
  [-130, 0, 900],
  [-130, 0, 480],
  [-130, 30, 60],
  [130, 0, 900],
  [130, 0, 480],
  [130, 30, 60],
  [0, 0, 1130],
  [0, 0, 1380],
  [0, -40, 1480],
  [0, 0, 1580],
  [170, 0, 1350],
  [200, 0, 1080],
  [220, -40, 830],
  [-170, 0, 1350],
  [-200, 0, 1080],
  [-220, -40, 830],
];
const PARENT = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15];

function cameraRecord(angle: number, resH: number): Record<string, unknown> {
  // Camera on a circle of radius 4.5 m around the origin at 1 m height, looking at the centre.
  const cx = Math.sin(angle) * 4500, cy = -Math.cos(angle) * 4500;
  const zAxis = [-Math.sin(angle), Math.cos(angle), 0]; // forward
  const xAxis = [Math.cos(angle), Math.sin(angle), 0]; // right
  const yAxis = [0, 0, -1]; // image down
  // R's columns are the camera axes in world coordinates (X_cam = Rᵀ (X − T)).
  const R = [0, 1, 2].map((r) => [xAxis[r], yAxis[r], zAxis[r]]);
  return {
    R,
    T: [cx, cy, 1000],
    f: [1145, 1144],
    c: [512, 515],
    k: [-0.2, 0.2, 0],
    p: [0, 0],
    res_w: 1000,
    res_h: resH,
  };
}

/** Poses of one sequence: the rest pose with swinging limbs, a turning body and some noise. */
function sequence(frames: number, rng: Rng, phase: number): Float32Array {
  const out = new Float32Array(frames * 51);
  for (let f = 0; f < frames; f++) {
    const t = f / 8 + phase;
    const local = REST.map((p) => [...p]);
    const swing = (j: number, amp: number, sign: number) => {
      // Rotate joint j's subtree offsets about the x axis by a swing angle (crudely: move j and its children).
      const a = sign * amp * Math.sin(t);
      const [px, py, pz] = local[PARENT[j]];
      for (let k = 0; k < 17; k++) {
        let anc = k;
        while (anc !== -1 && anc !== j) anc = PARENT[anc];
        if (anc !== j) continue;
        const dy = local[k][1] - py, dz = local[k][2] - pz;
        local[k][1] = py + dy * Math.cos(a) - dz * Math.sin(a);
        local[k][2] = pz + dy * Math.sin(a) + dz * Math.cos(a);
        local[k][0] = px + (local[k][0] - px);
      }
    };
    swing(2, 0.5, 1);
    swing(5, 0.5, -1);
    swing(12, 0.7, -1);
    swing(15, 0.7, 1);
    const yaw = 0.6 * Math.sin(t / 3 + phase);
    for (let j = 0; j < 17; j++) {
      const [x, y, z] = local[j];
      const o = f * 51 + j * 3;
      out[o] = x * Math.cos(yaw) - y * Math.sin(yaw) + 200 * Math.sin(t / 5) + rng.normal() * 5;
      out[o + 1] = x * Math.sin(yaw) + y * Math.cos(yaw) + 300 * Math.cos(t / 7) + rng.normal() * 5;
      out[o + 2] = z + rng.normal() * 5;
    }
  }
  return out;
}

/** Writes subjects (e.g. S1, S5, S8) with two sequences × `frames` frames and two cameras; returns the folder. */
export async function writeTinyH36m(
  dir: string,
  options: { subjects?: string[]; frames?: number } = {},
): Promise<string> {
  const subjects = options.subjects ?? ["S1", "S5", "S8"];
  const frames = options.frames ?? 96;
  const cams = { "54138969": cameraRecord(0.3, 1002), "55011271": cameraRecord(-1.2, 1000) };
  const cameras: Record<string, unknown> = {};
  const rng = new Rng(123);
  for (const [si, subject] of subjects.entries()) {
    cameras[subject] = cams;
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [qi, name] of ["Walking 1", "Directions"].entries()) {
      const pos = sequence(frames, rng, si * 1.7 + qi * 0.9);
      tensors[`${name}/pos3d`] = { shape: [frames, 17, 3], data: pos };
      for (const [id, rec] of Object.entries(cams)) {
        const r = rec as { R: number[][]; T: number[]; f: number[]; c: number[]; k: number[]; p: number[] };
        const p2 = projectPointRadial(pos, {
          id,
          subject,
          R: Float64Array.from(r.R.flat()),
          T: Float64Array.from(r.T),
          f: Float64Array.from(r.f),
          c: Float64Array.from(r.c),
          k: Float64Array.from(r.k),
          p: Float64Array.from(r.p),
          resW: 1000,
          resH: 1000,
        });
        // "Detections": the projection without Neck/Nose, with a few pixels of noise.
        const sh = new Float32Array(frames * 32);
        for (let f = 0; f < frames; f++) {
          let k = 0;
          for (let j = 0; j < 17; j++) {
            if (j === 9) continue;
            sh[f * 32 + 2 * k] = p2[f * 34 + 2 * j] + rng.normal() * 3;
            sh[f * 32 + 2 * k + 1] = p2[f * 34 + 2 * j + 1] + rng.normal() * 3;
            k++;
          }
        }
        tensors[`${name}/${id}/sh2d`] = { shape: [frames, 16, 2], data: sh };
      }
    }
    await writeSafetensors(join(dir, `${subject}.safetensors`), tensors, { metadata: { subject } });
  }
  await Deno.writeTextFile(join(dir, "cameras.json"), JSON.stringify({ cameras }));
  return dir;
}
