/**
 * `posegpu demo`: the first thing to run. Lifts the shipped CMU 131_01 sample (`pose/demo_sample.ts`: 83
 * frames of a walk seen by a virtual camera) with a shipped model, writes the lifted poses, the HTML
 * viewer with the clip's own 3D as ground truth and an SVG picture coloured by per-joint error, and
 * prints frames, poses/s, the adapter and MPJPE / P-MPJPE against that ground truth.
 *
 * Ground truth: the clip's CMU-31 skeleton mapped joint by joint to H36M-17 (`CMU_TO_H36M` in
 * pose/bvh.ts: Hip = Hips, Spine = mean(Chest, Chest2), Neck/Nose = Head, Head = the Head End Site, limbs
 * by name). CMU's joint centres are not Human3.6M's (e.g. the hip joints sit wider, the "Head" is the
 * skull top), so the errors include that definition gap on top of the model's error.
 * @module
 */

import { join } from "node:path";
import { parseCommandArgs } from "../args.ts";
import type { Command } from "../command.ts";
import { adapterSummary } from "../../engine/device.ts";
import { initEngine } from "../../engine/backend.ts";
import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import { loadDemoSample } from "../../pose/demo_sample.ts";
import { writePoseDocument } from "../../pose/formats/detect.ts";
import { mpjpe, mpjpePerFrame, pMpjpe } from "../../pose/metrics/mpjpe.ts";
import { documentSvg3d } from "../../pose/viz/svg3d.ts";
import { viewerHtml } from "../../pose/viz/html_viewer.ts";
import { DEFAULT_MODEL, liftPoseDocument, openLifter, resolveWeights, SHIPPED_MODELS } from "./lift.ts";

/**
 * The model the demo uses by default: the one `posegpu lift` uses (trained on detector output), so the demo
 * shows what users get. (`martinez_gt`, trained on exact projections like the sample's 2D, does not do
 * better on this clip: the CMU skeleton and subject differ from Human3.6M's more than the 2D noise matters.)
 */
export const DEMO_MODEL = DEFAULT_MODEL;

/** Seconds the speed measurement repeats the lift for (after one warm-up pass). */
const TIMING_SECONDS = 1;

const HELP = `posegpu demo — lift the shipped sample clip and show how well it did

Usage:
  posegpu demo [--out-dir DIR] [--model NAME | --weights FILE] [--frame N] [--json]

Lifts CMU motion capture clip 131_01 (start, walk, stop; 83 frames at 10 fps, 2D from a virtual camera,
shipped in pose/data/) and writes:
  DIR/demo.json   the lifted poses (pose JSON: 2D and 3D, root-relative camera frame, mm)
  DIR/demo.html   the viewer, with the clip's own 3D as a grey dashed ground truth
  DIR/demo.svg    one frame from the front, side and top, joints coloured by their error
and prints frames, poses/s (steady state, after a warm-up pass), the WebGPU adapter, and MPJPE (Protocol
#1, root-aligned) / P-MPJPE (Protocol #2, Procrustes-aligned) in mm over all frames and 17 joints.

The ground truth is the clip's CMU skeleton mapped to H36M-17 (CMU_TO_H36M in pose/bvh.ts); CMU's joint
centres differ from Human3.6M's, so part of the error is that definition gap.

Options:
  --out-dir DIR    where to write (default out)
  --model NAME     shipped model: ${SHIPPED_MODELS.join(", ")} (default ${DEMO_MODEL}, as posegpu lift)
  --weights FILE   a posegpu checkpoint instead of a shipped model
  --normalize MODE auto (default, as posegpu lift): each pose moved and scaled to where the training camera
                   saw people; h36m-camera: the pixels as they are (the sample's camera is Human3.6M-like)
  --frame N        frame index (0-82) drawn in demo.svg (default 40, mid-walk)
  --json           print the numbers as JSON on stdout
  -h, --help       this help

The CMU data: "The data used in this project was obtained from mocap.cs.cmu.edu. The database was created
with funding from NSF EIA-0196217."

Examples:
  posegpu demo
  posegpu demo --out-dir /tmp/demo --json
  posegpu demo --model martinez_gt`;

/** The numbers `posegpu demo` reports. */
export interface DemoSummary {
  /** Frames lifted. */
  frames: number;
  /** Poses per second, steady state. */
  posesPerSecond: number;
  /** Seconds of the first (cold) pass, shader compilation included. */
  firstPassSeconds: number;
  /** Adapter description. */
  adapter: string;
  /** Weights used. */
  weights: string;
  /** Input mapping (`normalizeInput`). */
  normalize: string;
  /** MPJPE in mm. */
  mpjpe: number;
  /** P-MPJPE in mm. */
  pMpjpe: number;
  /** Worst frame's MPJPE in mm. */
  worstFrameMpjpe: number;
  /** Files written. */
  files: { json: string; html: string; svg: string };
}

/** The `demo` command. */
export const command: Command = {
  name: "demo",
  summary: "lift the shipped CMU sample clip: viewer, SVG, poses/s and MPJPE against its own 3D",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("demo", args, {
      "out-dir": { type: "string", default: "out" },
      model: { type: "string" },
      weights: { type: "string" },
      frame: { type: "string" },
      normalize: { type: "string", default: "auto" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length) throw new InputError(`unexpected argument ${positionals[0]} (see --help)`);
    if (values.model !== undefined && values.weights !== undefined) {
      throw new InputError("give --model or --weights, not both");
    }
    const dir = values["out-dir"] as string;
    const normalize = values.normalize as string;
    if (normalize !== "auto" && normalize !== "h36m-camera") {
      throw new InputError(`--normalize ${normalize}: expected auto or h36m-camera`);
    }
    const source = resolveWeights({
      model: (values.model as string | undefined) ?? (values.weights === undefined ? DEMO_MODEL : undefined),
      weights: values.weights as string | undefined,
    });
    const sample = await loadDemoSample();
    const frameText = values.frame as string | undefined;
    const frame = frameText === undefined ? 40 : Number(frameText);
    if (!Number.isInteger(frame) || frame < 0 || frame >= sample.keypoints2d.frames) {
      throw new InputError(`--frame ${frameText}: expected an integer 0..${sample.keypoints2d.frames - 1}`);
    }
    const progress = (msg: string): void => console.error(`posegpu demo: ${msg}`);
    progress(`CMU ${sample.source.clip}: ${sample.keypoints2d.frames} frames; loading ${source.label}`);
    await initEngine();
    const lifter = await openLifter(source);
    try {
      // The sample's 2D only: the ground truth must not reach the lifter.
      const input = { ...sample.doc, people: sample.doc.people.map((p) => ({ ...p, keypoints3d: null })) };
      const opts = {
        model: source.label.replace(/^.*\//, "").replace(/\.safetensors$/, ""),
        weights: source.label,
        normalizeInput: normalize as "auto" | "h36m-camera",
      };
      const first = await liftPoseDocument(lifter, input, opts);
      progress(`first pass (shader compilation included) ${first.seconds.toFixed(2)} s; timing`);
      let poses = 0, seconds = 0;
      while (seconds < TIMING_SECONDS) {
        const r = await liftPoseDocument(lifter, input, opts);
        poses += r.lifted;
        seconds += r.seconds;
      }
      const doc = first.doc;
      const pred = doc.people[0].keypoints3d!.coords;
      const gt = sample.groundTruth3d.coords;
      const perFrame = mpjpePerFrame(pred, gt);
      const summary: DemoSummary = {
        frames: first.lifted,
        posesPerSecond: poses / seconds,
        firstPassSeconds: first.seconds,
        adapter: adapterSummary().description,
        weights: source.label,
        normalize,
        mpjpe: mpjpe(pred, gt),
        pMpjpe: pMpjpe(pred, gt),
        worstFrameMpjpe: Math.max(...perFrame),
        files: { json: join(dir, "demo.json"), html: join(dir, "demo.html"), svg: join(dir, "demo.svg") },
      };
      await writePoseDocument(summary.files.json, doc);
      await writeFileAtomic(
        summary.files.html,
        viewerHtml(doc, { title: `posegpu demo: CMU ${sample.source.clip} lifted`, groundTruth: sample.doc }),
      );
      await writeFileAtomic(
        summary.files.svg,
        documentSvg3d(doc, doc.people[0].frames[frame], {
          groundTruth: sample.doc,
          title: `CMU ${sample.source.clip}, frame ${frame}: ${summary.weights} ` +
            `(MPJPE ${perFrame[frame].toFixed(1)} mm; clip ${summary.mpjpe.toFixed(1)} mm)`,
        }),
      );
      if (values.json) console.log(JSON.stringify(summary, null, 2));
      else {
        console.log(`frames:   ${summary.frames} (CMU ${sample.source.clip}, ${sample.fps} fps)`);
        console.log(
          `speed:    ${summary.posesPerSecond.toFixed(0)} poses/s (first pass ${
            summary.firstPassSeconds.toFixed(2)
          } s)`,
        );
        console.log(`adapter:  ${summary.adapter}`);
        console.log(`weights:  ${summary.weights} (input mapping: ${normalize})`);
        console.log(
          `MPJPE:    ${summary.mpjpe.toFixed(1)} mm   P-MPJPE: ${summary.pMpjpe.toFixed(1)} mm` +
            `   (worst frame ${summary.worstFrameMpjpe.toFixed(1)} mm; ground truth: CMU joints → H36M-17)`,
        );
        console.log(`wrote:    ${summary.files.json}, ${summary.files.html}, ${summary.files.svg}`);
      }
      return 0;
    } finally {
      lifter.dispose();
    }
  },
};
