/**
 * A self-contained HTML viewer for a pose document: one file with inline CSS, script and data, no
 * external resources (a Content-Security-Policy forbids any network access). It plays the frames
 * (play/pause, scrubber, fps), shows the 3D keypoints on a canvas (drag to rotate, orthographic or
 * perspective, axes, and a floor grid for world frames) and, when the document has 2D keypoints, the 2D view beside it;
 * every track is drawn (its own palette), and an optional ground truth as a grey dashed overlay.
 *
 * Data sent to the page: the timeline (every frame index of any track, sorted); per track its frames,
 * 2D and 3D keypoints (null where missing) with 3D already expressed in the (right, up, depth) viewing
 * basis of `axes.ts`, rounded to at most 1/10 000 of the scene's size (0.1 mm for a person in mm); the ground truth matched
 * by track id and frame index and moved so its root meets the track's root in each frame (MPJPE
 * convention; unmoved where either root is missing), with the mean per-joint error of each frame.
 *
 * The page sets `window.posegpuViewer = {frames, currentFrame, ready: true, ...}` after drawing the
 * first frame (see `viewer_client.ts`).
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { PoseDocument, PoseTrack } from "../formats/pose_json.ts";
import { getSkeleton } from "../skeletons.ts";
import { documentUpAxis, toView, type UpAxis, viewBasis } from "./axes.ts";
import { drawingLines, escapeXml, jointSide, lineSide, rootJoint } from "./svg_common.ts";
import { VIEWER_SCRIPT } from "./viewer_client.ts";

/** Options of `viewerHtml`. */
export interface ViewerOptions {
  /** Page title and heading (default "posegpu viewer"). */
  title?: string;
  /** Ground-truth document (same skeleton): tracks matched by track id, frames by frame index. */
  groundTruth?: PoseDocument | null;
  /** Data axis pointing up in the 3D keypoints (default: the document's, see `documentUpAxis`). */
  up?: UpAxis;
}

const SIDE_CODE = { centre: 0, left: 1, right: 2 } as const;

function roundTo(v: number, decimals: number): number {
  const s = 10 ** decimals;
  const r = Math.round(v * s) / s;
  return r === 0 ? 0 : r;
}

// Decimals that keep 1/10 000 of `extent` (enough for drawing, and keeps the page small).
function decimalsFor(extent: number): number {
  return Math.max(0, Math.min(7, 4 - Math.floor(Math.log10(Math.max(extent, 1e-9)))));
}

interface TrackView {
  frames: number[];
  k2: Float64Array[] | null; // per frame, joints × 2, NaN = missing
  k3: Float64Array[] | null; // per frame, joints × 3 in (right, up, depth), NaN = missing
  gt: (Float64Array | null)[] | null;
}

function view3d(track: PoseTrack, up: UpAxis): Float64Array[] | null {
  const kp = track.keypoints3d;
  if (!kp) return null;
  const basis = viewBasis(up);
  const J = kp.joints;
  return Array.from({ length: kp.frames }, (_, f) => {
    const out = new Float64Array(J * 3).fill(NaN);
    for (let j = 0; j < J; j++) {
      const m = f * J + j;
      if (!kp.mask[m]) continue;
      out.set(toView(basis, kp.coords[3 * m], kp.coords[3 * m + 1], kp.coords[3 * m + 2]), 3 * j);
    }
    return out;
  });
}

function view2d(track: PoseTrack): Float64Array[] | null {
  const kp = track.keypoints2d;
  if (!kp) return null;
  const J = kp.joints;
  return Array.from({ length: kp.frames }, (_, f) => {
    const out = new Float64Array(J * 2).fill(NaN);
    for (let j = 0; j < J; j++) {
      const m = f * J + j;
      if (kp.mask[m]) out.set([kp.coords[2 * m], kp.coords[2 * m + 1]], 2 * j);
    }
    return out;
  });
}

function flat(a: Float64Array, decimals: number): (number | null)[] {
  return Array.from(a, (v) => (Number.isNaN(v) ? null : roundTo(v, decimals)));
}

/** Builds the viewer page for a document (see the module notes). Throws `InputError` when the ground
 * truth is on another skeleton. */
export function viewerHtml(doc: PoseDocument, options: ViewerOptions = {}): string {
  const skeleton = getSkeleton(doc.skeleton);
  const J = skeleton.joints.length;
  const gtDoc = options.groundTruth ?? null;
  if (gtDoc && getSkeleton(gtDoc.skeleton).name !== skeleton.name) {
    throw new InputError(`ground truth is on skeleton ${gtDoc.skeleton}, the document on ${skeleton.name}`);
  }
  const has3d = doc.people.some((p) => p.keypoints3d);
  const up = options.up ?? documentUpAxis(has3d || !gtDoc ? doc : gtDoc);
  const root = rootJoint(skeleton);

  const tracks: TrackView[] = doc.people.map((p) => {
    const k3 = view3d(p, up);
    const g = gtDoc?.people.find((q) => q.track === p.track);
    const gAll = g ? view3d(g, up) : null;
    let gt: (Float64Array | null)[] | null = null;
    if (g && gAll) {
      gt = p.frames.map((f, i) => {
        const gi = g.frames.indexOf(f);
        if (gi < 0) return null;
        const out = gAll[gi].slice();
        const pred = k3?.[i];
        if (pred && !Number.isNaN(pred[3 * root]) && !Number.isNaN(out[3 * root])) {
          const shift = [0, 1, 2].map((d) => pred[3 * root + d] - out[3 * root + d]);
          for (let k = 0; k < out.length; k++) out[k] += shift[k % 3];
        }
        return out;
      });
    }
    return { frames: p.frames, k2: view2d(p), k3, gt };
  });

  // Scene bounds (3D in view coordinates) and 2D bounds.
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const t of tracks) {
    for (const a of [...(t.k3 ?? []), ...(t.gt ?? [])]) {
      if (!a) continue;
      for (let k = 0; k < a.length; k++) {
        if (Number.isNaN(a[k])) continue;
        lo[k % 3] = Math.min(lo[k % 3], a[k]);
        hi[k % 3] = Math.max(hi[k % 3], a[k]);
      }
    }
    for (const a of t.k2 ?? []) {
      for (let k = 0; k < a.length; k += 2) {
        if (Number.isNaN(a[k])) continue;
        x0 = Math.min(x0, a[k]), x1 = Math.max(x1, a[k]);
        y0 = Math.min(y0, a[k + 1]), y1 = Math.max(y1, a[k + 1]);
      }
    }
  }
  const any3d = lo[0] <= hi[0];
  const centre = any3d ? lo.map((v, d) => (v + hi[d]) / 2) : [0, 0, 0];
  const extent = any3d ? Math.max(...hi.map((v, d) => v - lo[d]), 1e-6) : 1;
  const dec3 = decimalsFor(extent);
  const image = doc.image ? [doc.image.width, doc.image.height] : null;
  let box2d = image ? [0, 0, image[0], image[1]] : [0, 0, 1, 1];
  if (!image && x0 <= x1) {
    const m = 0.1 * Math.max(x1 - x0, y1 - y0, 1);
    box2d = [x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m];
  }
  const dec2 = decimalsFor(Math.max(box2d[2], box2d[3]));
  const any2d = tracks.some((t) => t.k2);
  const anyGt = tracks.some((t) => t.gt);
  const timeline = [...new Set(doc.people.flatMap((p) => p.frames))].sort((a, b) => a - b);
  const basis = viewBasis(up);
  const lines = drawingLines(skeleton);

  const data = {
    title: options.title ?? "posegpu viewer",
    fps: doc.fps,
    units: doc.units,
    joints: skeleton.joints,
    lines,
    lineSide: lines.map(([a, b]) => SIDE_CODE[lineSide(skeleton, a, b)]),
    jointSide: skeleton.joints.map((_, j) => SIDE_CODE[jointSide(skeleton, j)]),
    axes: [basis.right.label, basis.up.label, basis.depth.label],
    centre: centre.map((v) => roundTo(v, dec3)),
    extent: roundTo(extent, dec3),
    floor: any3d ? roundTo(lo[1], dec3) : 0,
    grid: doc.frame === "world" || (!has3d && gtDoc?.frame === "world"),
    image,
    box2d: box2d.map((v) => roundTo(v, dec2)),
    timeline,
    tracks: doc.people.map((p, i) => {
      const t = tracks[i];
      const err = t.gt && t.k3
        ? t.gt.map((g, f) => {
          if (!g) return null;
          let sum = 0, n = 0;
          for (let j = 0; j < J; j++) {
            const e = Math.hypot(...[0, 1, 2].map((d) => t.k3![f][3 * j + d] - g[3 * j + d]));
            if (Number.isFinite(e)) sum += e, n++;
          }
          return n ? roundTo(sum / n, 2) : null;
        })
        : null;
      return {
        track: p.track,
        frames: p.frames,
        k2: t.k2 ? t.k2.map((a) => flat(a, dec2)) : null,
        k3: t.k3 ? t.k3.map((a) => flat(a, dec3)) : null,
        gt: t.gt ? t.gt.map((a) => (a ? flat(a, dec3) : null)) : null,
        err,
      };
    }),
  };
  // "<" escaped so the data can never close its <script> element.
  const json = JSON.stringify(data).replace(/</g, "\\u003c");
  const title = escapeXml(data.title);
  const N = timeline.length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="posegpu">
<title>${title}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#f4f4f4}
h1{font-size:18px;margin:0 0 10px}
#views{display:flex;flex-wrap:wrap;gap:12px}
canvas{background:#fff;border:1px solid #ccc;max-width:100%}
#v3d{cursor:grab;touch-action:none}
#controls{display:flex;flex-wrap:wrap;align-items:center;gap:12px;margin-top:10px}
#scrub{width:320px}
#fps{width:56px}
.hint{color:#666;font-size:12px}
</style>
</head>
<body>
<h1>${title}</h1>
<div id="views">
<canvas id="v3d" width="520" height="520"></canvas>
${any2d ? `<canvas id="v2d" width="520" height="520"></canvas>\n` : ""}</div>
<div id="controls">
<button id="play" type="button">play</button>
<input id="scrub" type="range" min="0" max="${Math.max(0, N - 1)}" value="0" step="1" aria-label="frame">
<span id="info"></span>
<label>fps <input id="fps" type="number" min="0.1" max="1000" step="any"></label>
<label><input id="persp" type="checkbox"> perspective</label>
${
    anyGt
      ? `<label><input id="gt" type="checkbox" checked> ground truth</label>\n`
      : ""
  }<button id="reset" type="button">reset view</button>
</div>
<p class="hint">Drag the 3D view to rotate · space: play/pause · ←/→: step${
    anyGt ? " · error: mean per-joint distance to the root-aligned ground truth" : ""
  }</p>
<script type="application/json" id="posegpu-data">${json}</script>
<script>
${VIEWER_SCRIPT}</script>
</body>
</html>
`;
}
