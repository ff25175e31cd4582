/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The browser demo: the same library code as `posegpu demo`, bundled for the browser by `deno bundle`
 * (see `web/build.ts`). It fetches the shipped weights and the CMU 131_01 sample beside the page, lifts
 * the 83 frames on the browser's WebGPU adapter, plays the result on a canvas with the ground truth as
 * a grey dashed overlay, shows one frame as the library's SVG (coloured by per-joint error) and prints
 * poses/s and MPJPE / P-MPJPE.
 *
 * Query parameters: `model` (a file `weights/<model>.safetensors` beside the page; default
 * martinez_sh, as the CLI demo) or `weights` (any URL of a posegpu checkpoint); `normalize` (`auto`, the
 * default as in `posegpu demo`, or `h36m-camera`).
 *
 * For tests and scripting the page sets `window.posegpuDemo` once done:
 * `{ready: true, error: null | string, frames, poses3d: number[] (frames × 17 × 3, mm), adapter,
 * weights, posesPerSecond, firstPassMs, mpjpe, pMpjpe, drawnFrames}`.
 * @module
 */

import { adapterSummary } from "../engine/device.ts";
import { initEngine } from "../engine/backend.ts";
import { loadLifter } from "../models/lifter.ts";
import { parseDemoSample } from "../pose/demo_sample.ts";
import type { PoseDocument } from "../pose/formats/pose_json.ts";
import { mpjpe, pMpjpe } from "../pose/metrics/mpjpe.ts";
import { H36M_17 } from "../pose/skeletons.ts";
import { GROUND_TRUTH_COLOR, lineSide, SIDE_COLORS } from "../pose/viz/svg_common.ts";
import { documentSvg3d } from "../pose/viz/svg3d.ts";

/** What the page publishes on `window.posegpuDemo`. */
export interface WebDemoResult {
  /** True once the page has finished (successfully or not). */
  ready: boolean;
  /** The error message when it failed, else null. */
  error: string | null;
  /** Frames lifted. */
  frames: number;
  /** The lifted poses, frames × 17 × 3, root-relative camera frame, mm. */
  poses3d: number[];
  /** Adapter description (architecture when the description is empty). */
  adapter: string;
  /** Weights URL. */
  weights: string;
  /** Poses per second of the second (warm) pass. */
  posesPerSecond: number;
  /** Milliseconds of the first pass (shader compilation included). */
  firstPassMs: number;
  /** MPJPE against the clip's own 3D, mm. */
  mpjpe: number;
  /** P-MPJPE, mm. */
  pMpjpe: number;
  /** Frames drawn on the canvas so far. */
  drawnFrames: number;
}

declare global {
  var posegpuDemo: WebDemoResult | undefined;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;

function status(text: string): void {
  $("status").textContent = text;
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

/** Draws one frame (front view, slowly turning about the vertical) with the ground truth dashed. */
function drawFrame(
  ctx: CanvasRenderingContext2D,
  pred: Float32Array,
  gt: Float32Array,
  frame: number,
  yaw: number,
): void {
  const { width: w, height: h } = ctx.canvas;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);
  const scale = (0.8 * h) / 2000; // a person (~1.8 m) fills most of the height
  const cy = Math.cos(yaw), sy = Math.sin(yaw);
  const at = (a: Float32Array, j: number, root: number): [number, number] => {
    const x = a[frame * 51 + 3 * j] - a[frame * 51 + 3 * root];
    const y = a[frame * 51 + 3 * j + 1] - a[frame * 51 + 3 * root + 1];
    const z = a[frame * 51 + 3 * j + 2] - a[frame * 51 + 3 * root + 2];
    // Camera frame: x right, y down, z forward; turn about y.
    return [w / 2 + scale * (x * cy - z * sy), h / 2 + scale * y];
  };
  const bones = H36M_17.bones;
  ctx.lineWidth = 2;
  ctx.setLineDash([5, 4]);
  ctx.strokeStyle = GROUND_TRUTH_COLOR;
  for (const [a, b] of bones) {
    const p = at(gt, a, 0), q = at(gt, b, 0);
    ctx.beginPath();
    ctx.moveTo(p[0], p[1]);
    ctx.lineTo(q[0], q[1]);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.lineWidth = 4;
  for (const [a, b] of bones) {
    const p = at(pred, a, 0), q = at(pred, b, 0);
    ctx.strokeStyle = SIDE_COLORS[lineSide(H36M_17, a, b)];
    ctx.beginPath();
    ctx.moveTo(p[0], p[1]);
    ctx.lineTo(q[0], q[1]);
    ctx.stroke();
  }
  ctx.fillStyle = "#000000";
  ctx.font = "14px sans-serif";
  ctx.fillText(`frame ${frame}`, 10, 20);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const weightsUrl = params.get("weights") ?? `weights/${params.get("model") ?? "martinez_sh"}.safetensors`;
  status(`loading the sample and ${weightsUrl}…`);
  const [sampleJson, weightBytes] = await Promise.all([
    fetchOk("cmu_131_01_2d.json").then((r) => r.json()),
    fetchOk(weightsUrl).then(async (r) => new Uint8Array(await r.arrayBuffer())),
  ]);
  const sample = parseDemoSample(sampleJson, "cmu_131_01_2d.json");
  status("starting WebGPU…");
  await initEngine();
  const info = adapterSummary();
  const adapter = info.description !== "unknown adapter"
    ? info.description
    : info.architecture || info.vendor;
  const lifter = await loadLifter(weightBytes);
  const k2 = sample.keypoints2d;
  const normalizeInput = params.get("normalize") === "h36m-camera" ? "h36m-camera" : "auto";
  const options = { mask: k2.mask, image: sample.doc.image ?? undefined, normalizeInput } as const;
  status("lifting…");
  let t0 = performance.now();
  const poses = await lifter.lift(k2.coords, options);
  const firstPassMs = performance.now() - t0;
  t0 = performance.now();
  await lifter.lift(k2.coords, options);
  const warmMs = performance.now() - t0;
  const gt = sample.groundTruth3d.coords;
  const result: WebDemoResult = {
    ready: true,
    error: null,
    frames: k2.frames,
    poses3d: Array.from(poses),
    adapter,
    weights: weightsUrl,
    posesPerSecond: k2.frames / (warmMs / 1000),
    firstPassMs,
    mpjpe: mpjpe(poses, gt),
    pMpjpe: pMpjpe(poses, gt),
    drawnFrames: 0,
  };
  status(
    `${result.frames} frames lifted on ${adapter}: ${result.posesPerSecond.toFixed(0)} poses/s, ` +
      `MPJPE ${result.mpjpe.toFixed(1)} mm, P-MPJPE ${
        result.pMpjpe.toFixed(1)
      } mm (against the clip's own 3D)`,
  );
  const track = sample.doc.people[0];
  const lifted: PoseDocument = {
    ...sample.doc,
    people: [{ ...track, keypoints3d: { ...track.keypoints3d!, coords: poses } }],
  };
  $("svg").innerHTML = documentSvg3d(lifted, 40, {
    groundTruth: sample.doc,
    title: `frame 40: lifted (colour = error) and ground truth (grey)`,
  });
  const canvas = $("view") as HTMLCanvasElement;
  const ctx = canvas.getContext("2d")!;
  drawFrame(ctx, poses, gt, 0, 0);
  result.drawnFrames = 1;
  globalThis.posegpuDemo = result;
  let start = performance.now();
  const tick = (now: number): void => {
    const t = (now - start) / 1000;
    const frame = Math.floor(t * sample.fps) % k2.frames;
    drawFrame(ctx, poses, gt, frame, 0.4 * Math.sin(t / 2));
    result.drawnFrames++;
    requestAnimationFrame(tick);
  };
  start = performance.now();
  requestAnimationFrame(tick);
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  status(`error: ${message}`);
  globalThis.posegpuDemo = {
    ready: true,
    error: message,
    frames: 0,
    poses3d: [],
    adapter: "",
    weights: "",
    posesPerSecond: 0,
    firstPassMs: 0,
    mpjpe: NaN,
    pMpjpe: NaN,
    drawnFrames: 0,
  };
});
