/**
 * The fuzzed parsers: for each, its seeds (committed fixtures and small generated files), the mutations
 * that suit its format, how it is run (through the same entry point the CLI uses, on a real file where
 * the reader takes a path) and what a valid result is.
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  parseSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  readSafetensorsTensor,
  serializeSafetensors,
} from "../../engine/safetensors.ts";
import {
  type BvhClip,
  bvhForwardKinematics,
  bvhFromPositions,
  type BvhPositions,
  bvhText,
  defaultBvhScale,
  readBvh,
} from "../../pose/bvh.ts";
import { documentToCocoKeypoints, documentToCocoResults } from "../../pose/formats/coco.ts";
import { csvText } from "../../pose/formats/csv.ts";
import { type PoseFormat, readPoseDocument } from "../../pose/formats/detect.ts";
import {
  createPoseDocument,
  type PoseDocument,
  poseJsonText,
  validatePoseDocument,
} from "../../pose/formats/pose_json.ts";
import { getSkeleton } from "../../pose/skeletons.ts";
import { type PoseFrameBatch, streamPoseFile } from "../../pose/formats/stream.ts";
import { crc32 } from "../../pose/image/crc32.ts";
import { decodeImage } from "../../pose/image/decode.ts";
import { COCO_STAT_KEYS, type CocoEvalResult, evaluateCocoKeypointFiles } from "../../pose/coco_eval.ts";
import {
  concat,
  EDGE_NUMBERS,
  mutateBytes,
  mutateJson,
  mutateLines,
  mutateNumberInText,
  type Rng,
} from "./mutate.ts";

/** A mutation: bytes in, new bytes out. */
export type Mutator = (bytes: Uint8Array, rng: Rng) => Uint8Array;

/** One fuzzed parser. */
export interface FuzzTarget {
  /** Name used on the command line and for `tests/fuzz/regressions/<name>/`. */
  name: string;
  /** File name the input is written to (and the extension of saved regressions). */
  fileName: string;
  /** Valid inputs to mutate. */
  seeds(): Promise<Uint8Array[]>;
  /** Mutations suited to the format (a byte-level one is always among them). */
  mutators: Mutator[];
  /** Runs the parser on the file at `path` (already holding the bytes); returns what it returned. */
  run(path: string, bytes: Uint8Array): Promise<unknown>;
  /** Checks a returned result; a string describes what is wrong with it, null means valid. */
  check(result: unknown): string | null;
  /** Other files the run reads (an error may name one of them instead of the input). */
  companions?(path: string): string[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const latin1 = new TextDecoder("latin1");

function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

function fixtures(rels: string[]): Uint8Array[] {
  return rels.map((r) => Deno.readFileSync(fixturePath(r)));
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Text mutators over UTF-8 bytes. */
function textMutator(f: (text: string, rng: Rng) => string): Mutator {
  return (b, rng) => enc.encode(f(dec.decode(b), rng));
}

const jsonMutators: Mutator[] = [
  mutateBytes,
  textMutator(mutateJson),
  textMutator(mutateJson),
  textMutator((t, rng) => mutateNumberInText(t, rng, EDGE_NUMBERS)),
];

const textMutators: Mutator[] = [
  mutateBytes,
  textMutator((t, rng) => mutateNumberInText(t, rng)),
  textMutator((t, rng) => mutateNumberInText(t, rng)),
  textMutator(mutateLines),
];

// ---- seeds: small documents written by posegpu's own writers ----

function track2d(skeleton: string, frames: number[], options: { scores?: boolean; seed?: number } = {}) {
  const J = getSkeleton(skeleton).joints.length;
  const n = frames.length;
  const coords = new Float32Array(n * J * 2).map((_, i) => 10 + ((i * 37 + (options.seed ?? 0)) % 500) / 2);
  const mask = new Uint8Array(n * J).fill(1);
  mask[1] = 0;
  coords[2] = coords[3] = 0;
  const scores = options.scores ? new Float32Array(n * J).map((_, i) => ((i * 13) % 100) / 100) : null;
  return { skeleton, frames: n, joints: J, coords, scores, mask };
}

function track3d(skeleton: string, frames: number) {
  const J = getSkeleton(skeleton).joints.length;
  const coords = new Float32Array(frames * J * 3).map((_, i) => Math.sin(i) * 400);
  return { skeleton, frames, joints: J, coords, mask: new Uint8Array(frames * J).fill(1) };
}

function doc2d3d(): PoseDocument {
  return createPoseDocument({
    skeleton: "h36m17",
    fps: 50,
    image: { width: 1000, height: 1002 },
    people: [
      {
        track: 0,
        frames: [0, 1, 2],
        keypoints2d: track2d("h36m17", [0, 1, 2], { scores: true }),
        keypoints3d: track3d("h36m17", 3),
      },
      { track: 4, frames: [1, 3], keypoints2d: track2d("h36m17", [1, 3], { seed: 5 }), keypoints3d: null },
    ],
  });
}

function cocoDoc(): PoseDocument {
  return createPoseDocument({
    skeleton: "coco17",
    image: { width: 640, height: 480 },
    frameIds: [101, 102],
    people: [
      { track: 0, frames: [0], keypoints2d: track2d("coco17", [0], { scores: true }), keypoints3d: null },
      {
        track: 1,
        frames: [1],
        keypoints2d: track2d("coco17", [1], { scores: true, seed: 9 }),
        keypoints3d: null,
      },
    ],
  });
}

function openPoseFrame(): string {
  const person = (id: number, base: number) => ({
    person_id: [id],
    pose_keypoints_2d: Array.from(
      { length: 25 },
      (_, j) => j === 3 ? [0, 0, 0] : [base + j, base + 2 * j, 0.7],
    )
      .flat(),
    face_keypoints_2d: [],
  });
  return JSON.stringify({ version: 1.3, people: [person(-1, 100), person(-1, 300)] });
}

function mediaPipeSeeds(): string[] {
  const lm = (k: number) =>
    Array.from({ length: 33 }, (_, j) => ({ x: 0.3 + j / 100, y: 0.2 + k / 50, z: -0.1, visibility: 0.9 }));
  const arr = (k: number) => Array.from({ length: 33 }, (_, j) => [0.3 + j / 100, 0.4, 0, 0.5 + k / 10]);
  return [
    JSON.stringify({
      width: 640,
      height: 480,
      fps: 30,
      frames: [{ landmarks: lm(0) }, { landmarks: lm(1) }],
    }),
    JSON.stringify([{ frame: 0, poseLandmarks: arr(0), poseWorldLandmarks: arr(1) }, null, { frame: 5 }]),
    JSON.stringify({ pose_landmarks: [lm(2), lm(3)] }),
  ];
}

function bvhSeed(): string {
  const kp = track3d("h36m17", 3);
  return bvhText(bvhFromPositions(kp, { frameTime: 1 / 25 }));
}

// ---- format-aware mutators for the binary formats ----

/** PNG: mutates one chunk (data, length, type or order) and re-computes the CRCs, so the damage reaches
 * the code behind the CRC check. */
const pngChunkMutator: Mutator = (b, rng) => {
  const chunks: Uint8Array[] = [];
  let pos = 8;
  while (pos + 12 <= b.length) {
    const len = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
    if (pos + 12 + len > b.length) break;
    chunks.push(b.slice(pos + 4, pos + 8 + len)); // type + data
    pos += 12 + len;
  }
  if (chunks.length === 0) return mutateBytes(b, rng);
  const i = rng.int(chunks.length);
  switch (rng.int(5)) {
    case 0: // IHDR-like fields: width/height/depth/colour type to edge values
      if (chunks[i].length >= 12) {
        const c = chunks[i].slice();
        const field = rng.int(3);
        if (field < 2) {
          const v = rng.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 65536, 100000]);
          new DataView(c.buffer).setUint32(4 + 4 * field, v);
        } else c[4 + 8 + rng.int(5)] = rng.pick([0, 1, 2, 3, 4, 6, 7, 8, 16, 255]);
        chunks[i] = c;
      }
      break;
    case 1: // duplicate a chunk
      chunks.splice(rng.int(chunks.length + 1), 0, chunks[i]);
      break;
    case 2: // drop a chunk
      chunks.splice(i, 1);
      break;
    default: { // mutate the data, keep the type
      const data = mutateBytes(chunks[i].subarray(4), rng);
      chunks[i] = concat(chunks[i].subarray(0, 4), data);
    }
  }
  const parts: Uint8Array[] = [b.subarray(0, 8)];
  for (const c of chunks) {
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, c.length - 4);
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32(c));
    parts.push(head, c, crc);
  }
  return concat(...parts);
};

/** JPEG: SOF sizes and component counts set to edge values, segments duplicated or dropped. */
const jpegSegmentMutator: Mutator = (b, rng) => {
  const segs: [number, number][] = [];
  let pos = 2;
  while (pos + 4 <= b.length && b[pos] === 0xff) {
    const marker = b[pos + 1];
    if (marker === 0xda || marker === 0xd9) break;
    const len = (b[pos + 2] << 8) | b[pos + 3];
    segs.push([pos, pos + 2 + len]);
    pos += 2 + len;
  }
  if (segs.length === 0) return mutateBytes(b, rng);
  const [s, e] = rng.pick(segs);
  const out = b.slice();
  switch (rng.int(3)) {
    case 0: { // a 16-bit field of the segment to an edge value (SOF height/width, DRI interval...)
      const at = s + 4 + rng.int(Math.max(1, e - s - 5));
      if (at + 1 < out.length) {
        const v = rng.pick([0, 1, 0xffff, 0x8000, 0x00ff]);
        out[at] = v >> 8;
        out[at + 1] = v & 0xff;
      }
      return out;
    }
    case 1:
      return concat(b.subarray(0, e), b.subarray(s, e), b.subarray(e));
    default:
      return concat(b.subarray(0, s), b.subarray(e));
  }
};

/** Safetensors: a JSON mutation of the header, the length prefix right or set to an edge value. */
const safetensorsHeaderMutator: Mutator = (b, rng) => {
  if (b.length < 8) return mutateBytes(b, rng);
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (n > b.length - 8) return mutateBytes(b, rng);
  const header = mutateJson(dec.decode(b.subarray(8, 8 + n)), rng);
  const h = enc.encode(header);
  const len = new Uint8Array(8);
  const edge = [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, BigInt(b.length)];
  new DataView(len.buffer).setBigUint64(0, rng.chance(0.85) ? BigInt(h.length) : rng.pick(edge), true);
  const data = b.subarray(8 + n);
  return concat(len, h, rng.chance(0.8) ? data : mutateBytes(data, rng));
};

// ---- result checks ----

function checkDocument(result: unknown): string | null {
  try {
    validatePoseDocument(result as PoseDocument, "result");
    return null;
  } catch (e) {
    return `the parser returned an invalid document: ${(e as Error).message}`;
  }
}

function checkImage(result: unknown): string | null {
  const im = result as { width: number; height: number; channels: number; data: Uint8Array };
  if (!(Number.isInteger(im.width) && im.width >= 1 && Number.isInteger(im.height) && im.height >= 1)) {
    return `image size ${im.width}x${im.height}`;
  }
  if (![1, 2, 3, 4].includes(im.channels)) return `channels ${im.channels}`;
  if (!(im.data instanceof Uint8Array) || im.data.length !== im.width * im.height * im.channels) {
    return `data holds ${im.data?.length} bytes for ${im.width}x${im.height}x${im.channels}`;
  }
  return null;
}

function poseTarget(
  name: string,
  format: PoseFormat,
  options: { fileName: string; seeds: () => string[]; mutators?: Mutator[] },
): FuzzTarget {
  return {
    name,
    fileName: options.fileName,
    seeds: () => Promise.resolve(options.seeds().map((s) => enc.encode(s))),
    mutators: options.mutators ?? jsonMutators,
    run: (path) =>
      readPoseDocument(path, {
        format,
        ...(format === "mediapipe" ? { width: 640, height: 480 } : {}),
      }),
    check: checkDocument,
  };
}

/** The streaming readers (pose/formats/stream.ts), in small batches and reads so every boundary is crossed. */
function streamTarget(
  name: string,
  fileName: string,
  seeds: () => string[],
  mutators: Mutator[],
): FuzzTarget {
  return {
    name,
    fileName,
    seeds: () => Promise.resolve(seeds().map((t) => enc.encode(t))),
    mutators,
    run: async (path) => {
      const batches: PoseFrameBatch[] = [];
      for await (const b of streamPoseFile(path, { batchSize: 3, chunkBytes: 61 })) batches.push(b);
      return batches;
    },
    check: (result) => {
      const batches = result as PoseFrameBatch[];
      if (batches.length === 0) return "no batches";
      for (const b of batches) {
        const n = b.tracks.length;
        if (n === 0 || n > 3 || b.frames.length !== n) return `batch of ${n} person-frames`;
        for (const [k, dims] of [[b.keypoints2d, 2], [b.keypoints3d, 3]] as const) {
          if (!k) continue;
          if (k.frames !== n || k.coords.length !== n * k.joints * dims || k.mask.length !== n * k.joints) {
            return `keypoints sizes ${k.coords.length}/${k.mask.length} for ${n} × ${k.joints}`;
          }
          if (!k.coords.every(Number.isFinite)) return "a non-finite coordinate";
        }
        if (!b.keypoints2d && !b.keypoints3d) return "a batch without keypoints";
      }
      return null;
    },
  };
}

/**
 * The command line: one argument per line, run through `main` (cli/main.ts) with its output captured and
 * WebGPU switched off (POSEGPU_NO_WEBGPU). Valid: exit 0, 1 or 2 with a message and no stack trace
 * (3 is an internal error). Only commands that read before they write are run (not demo, tune, info);
 * the seeds' files do not exist, so a run never gets as far as writing.
 */
function args0(result: unknown): string | undefined {
  return (result as { command?: string }).command;
}

function cliArgsTarget(): FuzzTarget {
  const NOPE = "/nonexistent-posegpu-fuzz";
  const seeds = [
    [
      "lift",
      `${NOPE}/in.json`,
      "--out",
      `${NOPE}/o.json`,
      "--fps",
      "30",
      "--smooth",
      "--beta",
      "0.1",
      "--image",
      "1920x1080",
      "--min-joints",
      "8",
      "--batch-size",
      "256",
    ],
    [
      "lift",
      `${NOPE}/op/`,
      "--format",
      "openpose",
      "--model",
      "martinez_gt",
      "--normalize",
      "h36m-camera",
      "--view",
      `${NOPE}/v.html`,
    ],
    ["convert", "--in", `${NOPE}/a.json`, "--out", `${NOPE}/b.csv`, "--to", "csv", "--skeleton", "h36m17"],
    ["view", `${NOPE}/l.json`, "--out", `${NOPE}/v.html`, "--up", "y", "--title", "walk"],
    [
      "bvh",
      `${NOPE}/c.bvh`,
      "--out",
      `${NOPE}/p.json`,
      "--skeleton",
      "h36m17",
      "--scale",
      "2",
      "--every",
      "3",
    ],
    ["eval", "coco", "--gt", `${NOPE}/gt.json`, "--dt", `${NOPE}/dt.json`, "--json"],
    [
      "eval",
      "h36m",
      "--data",
      NOPE,
      "--subjects",
      "S9,S11",
      "--weights",
      `${NOPE}/w.safetensors`,
      "--input",
      "sh",
    ],
    [
      "run",
      "martinez",
      "--weights",
      `${NOPE}/w.safetensors`,
      "--input",
      `${NOPE}/x.safetensors`,
      "--output",
      `${NOPE}/y.safetensors`,
      "--config",
      "linear_size=64",
    ],
    [
      "train",
      "martinez",
      "--data",
      NOPE,
      "--train-subjects",
      "S1,S5",
      "--input",
      "gt",
      "--out",
      `${NOPE}/c.safetensors`,
      "--epochs",
      "2",
      "--lr",
      "1e-3",
    ],
    ["train", "--export", `${NOPE}/c.safetensors`, "--out", `${NOPE}/e.safetensors`, "--dtype", "f16"],
    ["lift", "--help"],
  ];
  const allowed = new Set(seeds.map((s) => s[0]));
  return {
    name: "cli-args",
    fileName: "case.args",
    seeds: () => Promise.resolve(seeds.map((a) => enc.encode(a.join("\n")))),
    mutators: [
      mutateBytes,
      textMutator(mutateLines),
      textMutator(mutateLines),
      textMutator((t, rng) => mutateNumberInText(t, rng, EDGE_NUMBERS)),
    ],
    run: async (_path, bytes) => {
      const args = dec.decode(bytes).split("\n");
      // Not a literal specifier: the worker's type check (worker globals, no Navigator) must not pull in
      // the CLI's whole graph; it is loaded, unchecked, when this target first runs.
      const cliMain = new URL("../../cli/main.ts", import.meta.url).href;
      const { main, COMMANDS } = await import(cliMain) as {
        main: (args: string[]) => Promise<number>;
        COMMANDS: Record<string, unknown>;
      };
      // A known command outside the list (demo, tune, ...) could do real work: not run (counted as skipped).
      if (args[0] in COMMANDS && !allowed.has(args[0])) return { code: 0, out: "", err: "", skipped: true };
      // WebGPU off for the run only (the variable is process-wide: children of later tests inherit it).
      const before = Deno.env.get("POSEGPU_NO_WEBGPU");
      Deno.env.set("POSEGPU_NO_WEBGPU", "1");
      const out: string[] = [], err: string[] = [];
      const { log, error, warn } = console;
      console.log = (...a: unknown[]) => out.push(a.join(" "));
      console.error = console.warn = (...a: unknown[]) => err.push(a.join(" "));
      try {
        return { code: await main(args), out: out.join("\n"), err: err.join("\n"), command: args[0] };
      } finally {
        Object.assign(console, { log, error, warn });
        if (before === undefined) Deno.env.delete("POSEGPU_NO_WEBGPU");
        else Deno.env.set("POSEGPU_NO_WEBGPU", before);
      }
    },
    check: (result) => {
      const { code, out, err, skipped } = result as {
        code: number;
        out: string;
        err: string;
        skipped?: boolean;
      };
      if (skipped) return null;
      if (![0, 1, 2].includes(code)) return `exit ${code}: ${err.slice(0, 600)}`;
      // (No command at all prints the usage on stdout and exits 1.)
      if (code !== 0 && err.trim() === "" && !(args0(result) === "" && out.includes("Usage"))) {
        return `exit ${code} without a message`;
      }
      if (code === 0 && out.trim() === "" && err.trim() === "") return "exit 0 without output";
      if (/^\s+at\s/m.test(err) || /internal error/.test(err)) {
        return `stack trace or internal error: ${err.slice(0, 600)}`;
      }
      return null;
    },
  };
}

function cocoGtText(): string {
  const d = documentToCocoKeypoints(cocoDoc());
  return JSON.stringify({
    info: { year: 2017 },
    images: d.images,
    annotations: d.annotations,
    categories: d.categories,
  });
}

/** `posegpu eval coco`: one of the two files mutated, the other a fixed valid companion beside it. */
function cocoEvalTarget(name: string, mutated: "gt" | "dt"): FuzzTarget {
  const gt = cocoGtText();
  // Detections near the ground truth, so that matching and accumulation run on mutated inputs.
  const dt = JSON.stringify(documentToCocoResults(cocoDoc()).map((r, i) => ({ ...r, score: 0.9 - i / 10 })));
  return {
    name,
    fileName: `case_${mutated}.json`,
    seeds: () => Promise.resolve([enc.encode(mutated === "gt" ? gt : dt)]),
    mutators: jsonMutators,
    companions: (
      path,
    ) => [path.replace(/case_(gt|dt)\.json$/, `companion_${mutated === "gt" ? "dt" : "gt"}.json`)],
    async run(path) {
      const other = this.companions!(path)[0];
      await Deno.writeTextFile(other, mutated === "gt" ? dt : gt);
      return mutated === "gt"
        ? await evaluateCocoKeypointFiles(path, other)
        : await evaluateCocoKeypointFiles(other, path);
    },
    check(result) {
      const { stats } = result as CocoEvalResult;
      for (const k of COCO_STAT_KEYS) {
        const v = stats[k];
        if (!(v === -1 || (v >= 0 && v <= 1))) return `stat ${k} is ${v}`;
      }
      return null;
    },
  };
}

function imageTarget(name: string, fileName: string, files: string[], smart: Mutator[]): FuzzTarget {
  return {
    name,
    fileName,
    seeds: () => Promise.resolve(fixtures(files.map((f) => `images/${f}`))),
    mutators: [mutateBytes, mutateBytes, ...smart],
    // Small limit: mutated sizes must be rejected before allocation, not decoded slowly.
    run: (path, bytes) => decodeImage(bytes, { name: path, maxPixels: 4_000_000 }),
    check: checkImage,
  };
}

/** Every fuzz target by name. */
export const TARGETS: Record<string, FuzzTarget> = {
  safetensors: {
    name: "safetensors",
    fileName: "case.safetensors",
    seeds: () =>
      Promise.resolve([
        ...fixtures(["safetensors_multi.safetensors", "safetensors_writer_py.safetensors"]),
        serializeSafetensors({
          w: { shape: [2, 3], data: new Float32Array([1, -2, 3.5, NaN, Infinity, -0]) },
          h: { shape: [4], data: new Float32Array([1, 2, 65504, 1e-5]), dtype: "F16" },
          i: { shape: [3], data: new Int32Array([-1, 0, 7]), dtype: "I64" },
          s: { shape: [], data: new Int32Array([5]) },
          e: { shape: [0, 3], data: new Float32Array(0) },
        }, { metadata: { model: "martinez", config: '{"a":1}' } }),
      ]),
    mutators: [mutateBytes, safetensorsHeaderMutator, safetensorsHeaderMutator],
    async run(path, bytes) {
      // The in-memory parser, the header-only reader (seeks) and the one-tensor reader must agree.
      const file = await readSafetensors(path);
      const header = await readSafetensorsHeader(path);
      parseSafetensorsHeader(bytes.subarray(0, header.dataOffset), { name: path, fileSize: bytes.length });
      const first = [...header.entries.keys()][0];
      if (first !== undefined) await readSafetensorsTensor(path, first);
      return file;
    },
    check(result) {
      const file = result as { tensors: Map<string, { shape: number[]; data: ArrayLike<number> }> };
      for (const [name, t] of file.tensors) {
        if (t.data.length !== t.shape.reduce((a, d) => a * d, 1)) {
          return `tensor ${name}: ${t.data.length} values for shape [${t.shape.join(", ")}]`;
        }
      }
      return null;
    },
  },
  "pose-json": poseTarget("pose-json", "pose-json", {
    fileName: "case.json",
    seeds: () => [poseJsonText(doc2d3d())],
  }),
  "coco-keypoints": poseTarget("coco-keypoints", "coco-keypoints", {
    fileName: "case.json",
    seeds: () => [cocoGtText()],
  }),
  "coco-eval-gt": cocoEvalTarget("coco-eval-gt", "gt"),
  "coco-eval-dt": cocoEvalTarget("coco-eval-dt", "dt"),
  "coco-results": poseTarget("coco-results", "coco-results", {
    fileName: "case.json",
    seeds: () => [JSON.stringify(documentToCocoResults(cocoDoc()))],
  }),
  openpose: poseTarget("openpose", "openpose", {
    fileName: "case_000000000007_keypoints.json",
    seeds: () => [openPoseFrame()],
  }),
  mediapipe: poseTarget("mediapipe", "mediapipe", { fileName: "case.json", seeds: mediaPipeSeeds }),
  csv: poseTarget("csv", "csv", {
    fileName: "case.csv",
    seeds: () => [csvText(doc2d3d()), csvText(doc2d3d(), { layout: "wide" }), csvText(cocoDoc())],
    mutators: textMutators,
  }),
  bvh: {
    name: "bvh",
    fileName: "case.bvh",
    seeds: () =>
      Promise.resolve([
        ...fixtures(["bvh_synthetic.bvh", "bvh_synthetic_h36m.bvh"]),
        enc.encode(bvhSeed()),
      ]),
    mutators: textMutators,
    // As `posegpu convert` / `posegpu bvh` read it (parse, forward kinematics, pose document) when the
    // clip maps to a posegpu skeleton; other clips through the parser and forward kinematics alone.
    async run(path) {
      const clip = await readBvh(path);
      const names = new Set(clip.joints.map((j) => j.name));
      const mappable = getSkeleton("h36m17").joints.every((n) => names.has(n)) || defaultBvhScale(clip) !== 1;
      if (mappable) return await readPoseDocument(path, { format: "bvh" });
      return { clip, fk: bvhForwardKinematics(clip, { endSites: true }) };
    },
    check(result) {
      if (!("fk" in (result as object))) return checkDocument(result);
      const { clip, fk } = result as { clip: BvhClip; fk: BvhPositions };
      if (clip.motion.length !== clip.frames * clip.channels) return "motion size does not match the header";
      if (fk.positions.length !== clip.frames * fk.names.length * 3) return "FK positions size";
      return null;
    },
  },
  png: imageTarget(
    "png",
    "case.png",
    ["png_ct0_d1_i_7x5.png", "png_ct3_d2_i_13x11.png", "png_trns_ct0_d8.png", "png_ct6_d16_i_3x2.png"],
    [pngChunkMutator, pngChunkMutator, pngChunkMutator],
  ),
  jpeg: imageTarget(
    "jpeg",
    "case.jpg",
    ["jpeg_prog_small.jpg", "jpeg_s2_5x17.jpg", "jpeg_rst_grey_3.jpg", "jpeg_q5_420.jpg"],
    [jpegSegmentMutator],
  ),
  ppm: imageTarget("ppm", "case.ppm", ["ppm_P5_1000.pgm", "ppm_P6_100.ppm", "ppm_P6_65535.ppm"], [
    (b, rng) =>
      fromLatin1(mutateNumberInText(latin1.decode(b.subarray(0, 40)), rng) + latin1.decode(b.subarray(40))),
  ]),
  "stream-csv": streamTarget("stream-csv", "case.csv", () => [
    csvText(doc2d3d()),
    csvText(doc2d3d(), { layout: "wide" }),
    csvText(cocoDoc()),
  ], textMutators),
  "stream-pose-json": streamTarget(
    "stream-pose-json",
    "case.json",
    () => [poseJsonText(doc2d3d())],
    jsonMutators,
  ),
  "cli-args": cliArgsTarget(),
};

/** Target names in a fixed order. */
export const TARGET_NAMES: readonly string[] = Object.keys(TARGETS);
