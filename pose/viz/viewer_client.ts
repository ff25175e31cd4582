/**
 * The browser script of the HTML viewer (`html_viewer.ts`), kept as a string so the page is one
 * self-contained file. It reads the JSON in `<script id="posegpu-data">` (3D already in the viewing
 * basis, see `html_viewer.ts`), draws the 3D view (orthographic or perspective, rotated by dragging)
 * and the 2D view on canvases, and exposes `window.posegpuViewer` for tests and scripting:
 * `{frames, currentFrame, ready, playing, setFrame(i), play(), pause(), view(yaw, pitch)}`.
 *
 * Plain ES5-style code on purpose (no template literals, so it can sit in a TypeScript template string;
 * no modules, so it runs from a file: page).
 * @module
 */

/** The viewer's script (no `<script>` tags). */
export const VIEWER_SCRIPT: string = `(function () {
"use strict";
var D = JSON.parse(document.getElementById("posegpu-data").textContent);
var N = D.timeline.length, J = D.joints.length;
// Per track palette: [centre, left, right]; the first is the usual green / blue / red.
var PAL = [["#2ca02c", "#1f77b4", "#d62728"], ["#8c564b", "#17becf", "#ff7f0e"], ["#7f7f00", "#9467bd", "#e377c2"]];
var GT = "#7f7f7f";
function $(id) { return document.getElementById(id); }
var c3 = $("v3d"), g3 = c3.getContext("2d"), c2 = $("v2d"), g2 = c2 ? c2.getContext("2d") : null;
var pos = D.tracks.map(function (t) {
  var m = {};
  t.frames.forEach(function (f, i) { m[f] = i; });
  return m;
});
var yaw0 = -0.6, pitch0 = 0.25, yaw = yaw0, pitch = pitch0, persp = false, showGt = true;
var fps = D.fps || 10, cur = 0, playing = false, last = 0, acc = 0;
var V = window.posegpuViewer = {
  frames: N, currentFrame: 0, ready: false, playing: false,
  setFrame: setFrame, play: play, pause: pause,
  view: function (y, p) { yaw = y; pitch = p; draw(); }
};
function pt(a, j, n) {
  if (!a || a[j * n] === null || a[j * n] === undefined) return null;
  return n === 2 ? [a[j * n], a[j * n + 1]] : [a[j * n], a[j * n + 1], a[j * n + 2]];
}
function proj3(p, w, h) {
  var r = p[0] - D.centre[0], u = p[1] - D.centre[1], d = p[2] - D.centre[2];
  var cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  var r1 = r * cy - d * sy, d1 = r * sy + d * cy;
  var u2 = u * cp + d1 * sp, d2 = -u * sp + d1 * cp;
  var s = 0.8 * Math.min(w, h) / D.extent, k = 1;
  if (persp) { var F = 2.5 * D.extent; k = F / Math.max(F + d2, 0.2 * F); }
  return [w / 2 + s * k * r1, h / 2 - s * k * u2];
}
function line(g, a, b, col, width, dash) {
  g.beginPath(); g.setLineDash(dash || []); g.strokeStyle = col; g.lineWidth = width;
  g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke();
}
function skel(g, pts, pal, dash) {
  D.lines.forEach(function (l, i) {
    var a = pts[l[0]], b = pts[l[1]];
    if (a && b) line(g, a, b, pal ? pal[D.lineSide[i]] : GT, pal ? 3 : 2, dash);
  });
  if (!pal) return;
  g.setLineDash([]);
  pts.forEach(function (p, j) {
    if (!p) return;
    g.beginPath(); g.fillStyle = pal[D.jointSide[j]]; g.arc(p[0], p[1], 3.5, 0, 2 * Math.PI); g.fill();
  });
}
function frameOf(t, which) {
  var i = pos[t][D.timeline[cur]];
  return i === undefined || !D.tracks[t][which] ? null : D.tracks[t][which][i];
}
function draw3() {
  var w = c3.width, h = c3.height, j, t;
  g3.fillStyle = "#ffffff"; g3.fillRect(0, 0, w, h);
  // Floor grid at the lowest point, for a sense of depth while rotating; it spans the scene. Only in
  // world frames: a tilted camera's horizontal plane is not the floor, so there the grid would mislead.
  var st = niceStep(D.extent / 6), n = Math.max(1, Math.ceil(D.extent / 2 / st));
  for (var q = -n; D.grid && q <= n; q++) {
    line(g3, proj3([D.centre[0] + q * st, D.floor, D.centre[2] - n * st], w, h),
      proj3([D.centre[0] + q * st, D.floor, D.centre[2] + n * st], w, h), "#e6e6e6", 1);
    line(g3, proj3([D.centre[0] - n * st, D.floor, D.centre[2] + q * st], w, h),
      proj3([D.centre[0] + n * st, D.floor, D.centre[2] + q * st], w, h), "#e6e6e6", 1);
  }
  // Axes gizmo in the bottom-left corner: the view directions of the data axes (right, up, depth).
  var c0 = proj3(D.centre, w, h), ax = ["#d62728", "#2ca02c", "#1f77b4"], dirs = [], L = 1e-9;
  for (j = 0; j < 3; j++) {
    var tip = D.centre.slice(); tip[j] += st;
    var b = proj3(tip, w, h);
    dirs.push([b[0] - c0[0], b[1] - c0[1]]);
    L = Math.max(L, Math.sqrt(dirs[j][0] * dirs[j][0] + dirs[j][1] * dirs[j][1]));
  }
  for (j = 0; j < 3; j++) {
    var e2 = [40 + 28 * dirs[j][0] / L, h - 40 + 28 * dirs[j][1] / L];
    line(g3, [40, h - 40], e2, ax[j], 2);
    g3.fillStyle = ax[j]; g3.font = "12px sans-serif"; g3.fillText(D.axes[j], e2[0] + 3, e2[1] - 3);
  }
  for (t = 0; t < D.tracks.length; t++) {
    var gt = showGt ? frameOf(t, "gt") : null, k3 = frameOf(t, "k3"), pts;
    if (gt) {
      pts = [];
      for (j = 0; j < J; j++) { var p = pt(gt, j, 3); pts.push(p && proj3(p, w, h)); }
      skel(g3, pts, null, [5, 4]);
    }
    if (k3) {
      pts = [];
      for (j = 0; j < J; j++) { var r = pt(k3, j, 3); pts.push(r && proj3(r, w, h)); }
      skel(g3, pts, PAL[t % PAL.length]);
    }
  }
  g3.fillStyle = "#333333"; g3.font = "12px sans-serif";
  g3.fillText("3D (" + (persp ? "perspective" : "orthographic") + ", " + D.units + ")", 8, 16);
}
function draw2() {
  if (!g2) return;
  var w = c2.width, h = c2.height, B = D.box2d, s = Math.min(w / B[2], h / B[3]) * 0.95;
  var ox = (w - s * B[2]) / 2 - s * B[0], oy = (h - s * B[3]) / 2 - s * B[1];
  g2.fillStyle = "#ffffff"; g2.fillRect(0, 0, w, h);
  g2.setLineDash([]); g2.strokeStyle = "#cccccc"; g2.lineWidth = 1;
  if (D.image) g2.strokeRect(ox, oy, s * D.image[0], s * D.image[1]);
  for (var t = 0; t < D.tracks.length; t++) {
    var k2 = frameOf(t, "k2");
    if (!k2) continue;
    var pts = [];
    for (var j = 0; j < J; j++) { var p = pt(k2, j, 2); pts.push(p && [ox + s * p[0], oy + s * p[1]]); }
    skel(g2, pts, PAL[t % PAL.length]);
  }
  g2.fillStyle = "#333333"; g2.font = "12px sans-serif"; g2.fillText("2D (px)", 8, 16);
}
function niceStep(x) {
  var p = Math.pow(10, Math.floor(Math.log(x) / Math.LN10)), m = x / p;
  return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p;
}
function draw() {
  draw3(); draw2();
  V.currentFrame = cur;
  $("scrub").value = String(cur);
  var err = [];
  D.tracks.forEach(function (t, i) {
    var k = pos[i][D.timeline[cur]];
    if (t.err && k !== undefined && t.err[k] !== null) err.push(t.err[k]);
  });
  $("info").textContent = "frame " + D.timeline[cur] + " (" + (cur + 1) + "/" + N + ")" +
    (err.length ? " · error " + (err.reduce(function (a, b) { return a + b; }, 0) / err.length).toFixed(1) +
      " " + D.units : "");
}
function setFrame(i) {
  cur = Math.max(0, Math.min(N - 1, Math.round(Number(i)) || 0));
  draw();
}
function tick(now) {
  if (!playing) return;
  acc += Math.min(1, (now - last) / 1000) * fps; last = now;
  if (acc >= 1) { var k = Math.floor(acc); acc -= k; cur = (cur + k) % N; draw(); }
  window.requestAnimationFrame(tick);
}
function play() {
  if (playing || N < 2) return;
  playing = V.playing = true; acc = 0; last = window.performance ? window.performance.now() : 0;
  $("play").textContent = "pause";
  window.requestAnimationFrame(tick);
}
function pause() { playing = V.playing = false; $("play").textContent = "play"; }
$("play").addEventListener("click", function () { if (playing) pause(); else play(); });
$("scrub").addEventListener("input", function () { pause(); setFrame($("scrub").value); });
$("fps").addEventListener("change", function () {
  var v = Number($("fps").value);
  if (v > 0 && v <= 1000) fps = v; else $("fps").value = String(fps);
});
$("persp").addEventListener("change", function () { persp = !!$("persp").checked; draw(); });
if ($("gt")) $("gt").addEventListener("change", function () { showGt = !!$("gt").checked; draw(); });
$("reset").addEventListener("click", function () { yaw = yaw0; pitch = pitch0; draw(); });
var drag = null;
c3.addEventListener("pointerdown", function (e) {
  drag = [e.clientX, e.clientY];
  if (c3.setPointerCapture && e.pointerId !== undefined) c3.setPointerCapture(e.pointerId);
});
c3.addEventListener("pointermove", function (e) {
  if (!drag) return;
  yaw += (e.clientX - drag[0]) * 0.01;
  pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - drag[1]) * 0.01));
  drag = [e.clientX, e.clientY]; draw();
});
c3.addEventListener("pointerup", function () { drag = null; });
document.addEventListener("keydown", function (e) {
  if (e.target && e.target.tagName === "INPUT" && e.target.type !== "range") return;
  if (e.key === " ") { if (playing) pause(); else play(); e.preventDefault(); }
  else if (e.key === "ArrowRight") { pause(); setFrame(cur + 1); }
  else if (e.key === "ArrowLeft") { pause(); setFrame(cur - 1); }
});
$("fps").value = String(fps);
draw();
V.ready = true;
})();
`;
