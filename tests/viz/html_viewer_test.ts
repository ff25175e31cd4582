import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D, Keypoints3D } from "../../pose/convert.ts";
import { createPoseDocument, type PoseDocument } from "../../pose/formats/pose_json.ts";
import { viewerHtml } from "../../pose/viz/html_viewer.ts";

// A small H36M-17 pose (camera frame, mm) and its 2D.
const POSE: number[] = [
  [0, 0, 4000],
  [-130, 0, 4000],
  [-130, 450, 4050],
  [-130, 880, 4000],
  [130, 0, 4000],
  [130, 450, 3950],
  [130, 880, 4000],
  [0, -230, 4000],
  [0, -480, 4000],
  [0, -560, 3990],
  [0, -680, 4000],
  [170, -460, 4000],
  [190, -200, 4000],
  [200, 40, 3950],
  [-170, -460, 4000],
  [-190, -200, 4000],
  [-200, 40, 4050],
].flat();

function sequence(frames: number, shift: number): { k2: Keypoints2D; k3: Keypoints3D } {
  const c3 = new Float32Array(frames * 51), c2 = new Float32Array(frames * 34);
  for (let f = 0; f < frames; f++) {
    for (let j = 0; j < 17; j++) {
      const [x, y, z] = [POSE[3 * j] + shift + 10 * f, POSE[3 * j + 1], POSE[3 * j + 2]];
      c3.set([x, y, z], (f * 17 + j) * 3);
      c2.set([1145 * (x / z) + 512, 1145 * (y / z) + 515], (f * 17 + j) * 2);
    }
  }
  const mask = new Uint8Array(frames * 17).fill(1);
  return {
    k2: { skeleton: "h36m17", frames, joints: 17, coords: c2, scores: null, mask },
    k3: { skeleton: "h36m17", frames, joints: 17, coords: c3, mask: mask.slice() },
  };
}

function demoDoc(): PoseDocument {
  const a = sequence(12, 0), b = sequence(5, 600);
  return createPoseDocument({
    skeleton: "h36m17",
    fps: 10,
    image: { width: 1000, height: 1002 },
    people: [
      { track: 0, frames: Array.from({ length: 12 }, (_, i) => i), keypoints2d: a.k2, keypoints3d: a.k3 },
      { track: 1, frames: [10, 11, 12, 13, 14], keypoints2d: b.k2, keypoints3d: b.k3 },
    ],
  });
}

interface Recorder {
  calls: { name: string; args: unknown[]; dash: unknown[]; stroke: unknown }[];
  [key: string]: unknown;
}

/** A canvas 2D context that records every call (and the dash/stroke style at the time). */
function recorder(): Recorder {
  const calls: Recorder["calls"] = [];
  const state: Record<string, unknown> = { dash: [] };
  return new Proxy({ calls } as Recorder, {
    get(_target, key: string) {
      if (key === "calls") return calls;
      if (key in state) return state[key];
      return (...args: unknown[]) => {
        if (key === "setLineDash") state.dash = args[0];
        calls.push({ name: key, args, dash: state.dash as unknown[], stroke: state.strokeStyle });
      };
    },
    set(_t, key: string, value) {
      state[key] = value;
      return true;
    },
  });
}

interface FakeElement {
  id: string;
  value: string;
  checked: boolean;
  textContent: string;
  width: number;
  height: number;
  tagName: string;
  listeners: Record<string, ((e: unknown) => void)[]>;
  ctx: Recorder | null;
  addEventListener(type: string, fn: (e: unknown) => void): void;
  getContext(kind: string): Recorder | null;
  fire(type: string, event?: Record<string, unknown>): void;
}

/** Runs the page's inline script against a fake DOM built from the page's element ids. */
function runPage(html: string) {
  const data = html.match(/<script type="application\/json" id="posegpu-data">([\s\S]*?)<\/script>/)![1];
  const script = html.match(/<script>\n([\s\S]*?)<\/script>/)![1];
  const els = new Map<string, FakeElement>();
  for (const m of html.matchAll(/<(\w+)\s[^>]*id="([\w-]+)"[^>]*>/g)) {
    const [tag, id] = [m[1], m[2]];
    const checked = new RegExp(`id="${id}"[^>]*\\schecked`).test(html);
    const el: FakeElement = {
      id,
      value: "",
      checked,
      textContent: id === "posegpu-data" ? data : "",
      width: 520,
      height: 520,
      tagName: tag.toUpperCase(),
      listeners: {},
      ctx: tag === "canvas" ? recorder() : null,
      addEventListener(type, fn) {
        (this.listeners[type] ??= []).push(fn);
      },
      getContext() {
        return this.ctx;
      },
      fire(type, event = {}) {
        for (const fn of this.listeners[type] ?? []) fn({ preventDefault() {}, target: this, ...event });
      },
    };
    els.set(id, el);
  }
  const docListeners: Record<string, ((e: unknown) => void)[]> = {};
  const frames: ((t: number) => void)[] = [];
  const window: Record<string, unknown> = {
    requestAnimationFrame: (fn: (t: number) => void) => frames.push(fn),
    performance: { now: () => 0 },
  };
  const document = {
    getElementById: (id: string) => els.get(id) ?? null,
    addEventListener: (type: string, fn: (e: unknown) => void) => (docListeners[type] ??= []).push(fn),
  };
  new Function("window", "document", script)(window, document);
  return {
    els,
    viewer: window.posegpuViewer as {
      frames: number;
      currentFrame: number;
      ready: boolean;
      playing: boolean;
      setFrame(i: number): void;
    },
    /** Runs the pending animation frame callbacks at time `t` ms. */
    animate(t: number) {
      const pending = frames.splice(0);
      for (const fn of pending) fn(t);
    },
    key(key: string) {
      for (const fn of docListeners.keydown ?? []) fn({ key, preventDefault() {}, target: null });
    },
  };
}

Deno.test("viewer: one self-contained page under 30 KB without its data", () => {
  const doc = demoDoc();
  const html = viewerHtml(doc, { title: "demo </script><b>x</b>", groundTruth: doc });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  // No external resources: no src/href attributes, no URLs in CSS, no network addresses anywhere.
  assert.ok(!/\s(src|href)\s*=/i.test(html));
  assert.ok(!/url\(|@import|https?:\/\//i.test(html));
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  // The title is escaped everywhere, and cannot end the data script early.
  assert.ok(!html.includes("</script><b>"));
  assert.ok(html.includes("<title>demo &lt;/script&gt;&lt;b&gt;x&lt;/b&gt;</title>"));
  const data = html.match(/id="posegpu-data">([\s\S]*?)<\/script>/)![1];
  assert.ok(!data.includes("<"));
  assert.ok(html.length - data.length < 30_000, `${html.length - data.length} bytes without data`);
  const parsed = JSON.parse(data);
  assert.deepEqual(parsed.timeline, Array.from({ length: 15 }, (_, i) => i));
  assert.equal(parsed.tracks.length, 2);
  assert.deepEqual(parsed.axes, ["x", "−y", "z"]);
  assert.equal(html, viewerHtml(doc, { title: "demo </script><b>x</b>", groundTruth: doc }), "deterministic");
});

Deno.test("viewer: the script draws the first frame on load and exposes window.posegpuViewer", () => {
  const doc = demoDoc();
  const page = runPage(viewerHtml(doc, { groundTruth: doc }));
  assert.equal(page.viewer.ready, true);
  assert.equal(page.viewer.frames, 15);
  assert.equal(page.viewer.currentFrame, 0);
  const c3 = page.els.get("v3d")!.ctx!, c2 = page.els.get("v2d")!.ctx!;
  const strokes = (r: Recorder, dashed: boolean) =>
    r.calls.filter((c) => c.name === "stroke" && (c.dash as unknown[]).length > 0 === dashed).length;
  // Frame 0 has track 0 only: 16 bones in 2D; in 3D 16 bones + 16 dashed ground-truth bones (+ grid).
  assert.equal(strokes(c2, false), 16);
  assert.equal(strokes(c3, true), 16);
  assert.ok(strokes(c3, false) >= 16);
  assert.equal(c2.calls.filter((c) => c.name === "arc").length, 17);
  assert.match(page.els.get("info")!.textContent, /^frame 0 \(1\/15\) · error 0\.0 mm$/);

  // Frame 11 shows both tracks.
  c2.calls.length = 0;
  page.viewer.setFrame(11);
  assert.equal(page.viewer.currentFrame, 11);
  assert.equal(page.els.get("scrub")!.value, "11");
  assert.equal(strokes(c2, false), 32);
  // The scrubber and keys move frames; out-of-range requests clamp.
  page.els.get("scrub")!.value = "3";
  page.els.get("scrub")!.fire("input");
  assert.equal(page.viewer.currentFrame, 3);
  page.key("ArrowRight");
  assert.equal(page.viewer.currentFrame, 4);
  page.viewer.setFrame(99);
  assert.equal(page.viewer.currentFrame, 14);

  // Hiding the ground truth removes the dashed lines.
  c3.calls.length = 0;
  const gt = page.els.get("gt")!;
  gt.checked = false;
  gt.fire("change");
  assert.equal(strokes(c3, true), 0);
});

Deno.test("viewer: play advances at the chosen fps; dragging rotates the 3D view", () => {
  const doc = demoDoc();
  const page = runPage(viewerHtml(doc));
  assert.equal(page.els.get("gt"), undefined, "no ground-truth toggle without ground truth");
  page.els.get("fps")!.value = "20";
  page.els.get("fps")!.fire("change");
  page.els.get("play")!.fire("click");
  assert.equal(page.viewer.playing, true);
  page.animate(100); // 0.1 s at 20 fps: 2 frames
  assert.equal(page.viewer.currentFrame, 2);
  page.animate(150);
  assert.equal(page.viewer.currentFrame, 3);
  page.key(" ");
  assert.equal(page.viewer.playing, false);

  const c3 = page.els.get("v3d")!.ctx!;
  const lastLines = () => c3.calls.filter((c) => c.name === "lineTo").slice(-16).map((c) => c.args.join(","));
  page.viewer.setFrame(0);
  const before = lastLines();
  const canvas = page.els.get("v3d")!;
  canvas.fire("pointerdown", { clientX: 100, clientY: 100 });
  canvas.fire("pointermove", { clientX: 160, clientY: 110 });
  canvas.fire("pointerup");
  assert.notDeepEqual(lastLines(), before);
  page.els.get("reset")!.fire("click");
  assert.deepEqual(lastLines(), before);
});

Deno.test("viewer: 3D-only documents get no 2D view; mismatched ground truth throws", () => {
  const { k3 } = sequence(3, 0);
  const doc = createPoseDocument({
    skeleton: "h36m17",
    frame: "world",
    people: [{ track: 0, frames: [0, 1, 2], keypoints2d: null, keypoints3d: k3 }],
  });
  const html = viewerHtml(doc);
  assert.ok(!html.includes('id="v2d"'));
  const page = runPage(html);
  assert.equal(page.viewer.ready, true);
  assert.equal(page.viewer.frames, 3);
  const coco = createPoseDocument({
    skeleton: "coco17",
    people: [{
      track: 0,
      frames: [0],
      keypoints2d: null,
      keypoints3d: {
        skeleton: "coco17",
        frames: 1,
        joints: 17,
        coords: new Float32Array(51),
        mask: new Uint8Array(17),
      },
    }],
  });
  assert.throws(() => viewerHtml(doc, { groundTruth: coco }), InputError);
});
