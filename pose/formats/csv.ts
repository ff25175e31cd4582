/**
 * Keypoints as CSV, in two layouts (both read and written):
 *
 * - **long** (default): one row per frame, person and joint:
 *   `frame,track,joint,x,y,score,x3d,y3d,z3d` — `joint` is the joint name;
 * - **wide**: one row per frame and person: `frame,track,<joint>.x,<joint>.y,<joint>.score,...`.
 *
 * Columns: `frame` (non-negative integer) is required; `track` defaults to 0; `x,y` are 2D pixels;
 * `score` optional; 3D is `x3d,y3d,z3d`, or — in a file without 2D — simply `x,y,z`. An empty cell means
 * missing: a joint whose x and y are empty is missing in 2D (likewise in 3D); a long-layout row may be
 * left out altogether. Lines starting with `#` before the header carry `key=value` metadata
 * (`skeleton`, `units`, `frame`, `fps`, `width`, `height`), which the writer emits. Without a
 * `skeleton` (option or metadata) the skeleton is the known one with exactly the file's joint names, else
 * the first of h36m17, coco17, body25, blazepose33, cmu31, sh16, martinez16in, martinez16out that has them
 * all (absent joints are missing). A missing 2D joint keeps its score when the file has scores.
 * Fields may be quoted with `"` (RFC 4180); separators are commas.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import { writeFileAtomic } from "../../engine/fs.ts";
import type { Keypoints2D, Keypoints3D } from "../convert.ts";
import { getSkeleton, type Skeleton, SKELETONS } from "../skeletons.ts";
import { isFiniteFloat32, shortFloat32 } from "./common.ts";
import {
  createPoseDocument,
  type PoseDocument,
  type PoseFrame,
  type PoseTrack,
  type PoseUnits,
  validatePoseDocument,
} from "./pose_json.ts";

/** CSV layout: one row per joint (`long`) or one row per person and frame (`wide`). */
export type CsvLayout = "long" | "wide";

/** Options of `parseCsv` / `readCsv`. */
export interface ReadCsvOptions {
  /** Skeleton of the file (overrides its metadata and the guess from joint names). */
  skeleton?: string;
}

/** Splits one CSV line into fields (RFC 4180 quotes; no line breaks inside quotes); `where` names it in errors. */
export function splitCsvLine(line: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (true) {
    if (line[i] === '"') {
      let value = "";
      i++;
      while (true) {
        if (i >= line.length) throw new InputError(`${where}: unterminated quoted field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i++];
      }
      out.push(value);
      if (i < line.length && line[i] !== ",") throw new InputError(`${where}: text after a closing quote`);
    } else {
      const end = line.indexOf(",", i);
      out.push((end < 0 ? line.slice(i) : line.slice(i, end)).trim());
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) break;
    i++; // the comma
    if (i === line.length) {
      out.push("");
      break;
    }
  }
  return out;
}

function quote(field: string): string {
  return /[",\n\r]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

interface Cells {
  line?: number;
  x?: string;
  y?: string;
  score?: string;
  x3d?: string;
  y3d?: string;
  z3d?: string;
}

const FIELDS = ["x", "y", "score", "x3d", "y3d", "z3d", "z"] as const;

// Skeletons tried for a partial set of joint names, most common first (subsets of H36M-17 last).
const GUESS_ORDER = [
  "h36m17",
  "coco17",
  "body25",
  "blazepose33",
  "cmu31",
  "sh16",
  "martinez16in",
  "martinez16out",
];

/** The skeleton of a CSV file from its joint names (see the module notes); `file` names it in errors. */
export function guessCsvSkeleton(names: string[], file: string): Skeleton {
  const set = new Set(names);
  const all = GUESS_ORDER.map((n) => SKELETONS[n]);
  const exact = all.filter((s) => s.joints.length === set.size && s.joints.every((n) => set.has(n)));
  const ordered = exact.find((s) => s.joints.every((n, i) => n === names[i]));
  const pick = ordered ?? exact[0] ?? all.find((s) => names.every((n) => s.joints.includes(n)));
  if (!pick) {
    throw new InputError(
      `${file}: the joint names (${
        names.slice(0, 5).join(", ")
      }...) match no known skeleton; pass a skeleton`,
    );
  }
  return pick;
}

/** Parses CSV text (see the module notes); `file` names it in error messages. */
export function parseCsv(text: string, file: string, options: ReadCsvOptions = {}): PoseDocument {
  const lines = text.split(/\r?\n/);
  const meta: Record<string, string> = {};
  let headerLine = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      for (const m of line.slice(1).matchAll(/([A-Za-z_]+)\s*=\s*([^\s;,]+)/g)) meta[m[1]] = m[2];
      continue;
    }
    headerLine = i;
    break;
  }
  if (headerLine < 0) throw new InputError(`${file}: no header line (the file is empty)`);
  const header = splitCsvLine(lines[headerLine], `${file}: line ${headerLine + 1}`);
  const col = new Map(header.map((h, i) => [h, i]));
  if (col.size !== header.length) {
    throw new InputError(`${file}: line ${headerLine + 1}: repeated column names`);
  }
  if (!col.has("frame")) throw new InputError(`${file}: line ${headerLine + 1}: no "frame" column`);
  const layout: CsvLayout = col.has("joint") ? "long" : "wide";

  // (track, frame) -> joint name -> cells
  const records = new Map<number, Map<number, Map<string, Cells>>>();
  const jointOrder: string[] = [];
  const seenJoint = new Set<string>();
  const noteJoint = (name: string) => {
    if (!seenJoint.has(name)) {
      seenJoint.add(name);
      jointOrder.push(name);
    }
  };
  const wideColumns: { joint: string; field: (typeof FIELDS)[number]; index: number }[] = [];
  if (layout === "wide") {
    header.forEach((h, index) => {
      if (h === "frame" || h === "track") return;
      const dot = h.lastIndexOf(".");
      const field = h.slice(dot + 1) as (typeof FIELDS)[number];
      if (dot <= 0 || !FIELDS.includes(field)) {
        throw new InputError(
          `${file}: line ${headerLine + 1}: column "${h}" is not <joint>.<x|y|score|x3d|y3d|z3d|z>`,
        );
      }
      wideColumns.push({ joint: h.slice(0, dot), field, index });
      noteJoint(h.slice(0, dot));
    });
  } else {
    for (const h of header) {
      if (!["frame", "track", "joint", ...FIELDS].includes(h)) {
        throw new InputError(`${file}: line ${headerLine + 1}: unknown column "${h}"`);
      }
    }
  }
  const fieldNames = layout === "long" ? header : wideColumns.map((c) => c.field);
  const has3dColumns = fieldNames.includes("x3d");
  const plain3d = !has3dColumns && fieldNames.includes("z");
  if (!fieldNames.includes("x") && !has3dColumns) {
    throw new InputError(`${file}: no coordinate columns (x, y or x3d...)`);
  }

  const integerCell = (cells: string[], name: string, where: string, fallback: number | null): number => {
    const i = col.get(name);
    const cell = i === undefined ? "" : (cells[i] ?? "");
    if (cell === "" && fallback !== null) return fallback;
    const v = Number(cell);
    if (cell === "" || !Number.isInteger(v) || v < 0) {
      throw new InputError(`${where}: column "${name}" is "${cell}", expected a non-negative integer`);
    }
    return v;
  };
  const put = (track: number, frame: number, joint: string, cells: Cells, where: string) => {
    const byFrame = records.get(track) ?? new Map<number, Map<string, Cells>>();
    records.set(track, byFrame);
    const byJoint = byFrame.get(frame) ?? new Map<string, Cells>();
    byFrame.set(frame, byJoint);
    const prev = byJoint.get(joint);
    if (prev && layout === "long") {
      throw new InputError(`${where}: joint "${joint}" of track ${track} frame ${frame} appears twice`);
    }
    byJoint.set(joint, { ...prev, ...cells });
  };
  const toCells = (field: string, value: string, cells: Cells) => {
    const key = plain3d
      ? ({ x: "x3d", y: "y3d", z: "z3d" } as Record<string, keyof Cells>)[field] ?? field
      : field;
    (cells as Record<string, string>)[key] = value;
  };

  let rows = 0;
  for (let li = headerLine + 1; li < lines.length; li++) {
    if (lines[li].trim() === "") continue;
    const where = `${file}: line ${li + 1}`;
    const cells = splitCsvLine(lines[li], where);
    if (cells.length !== header.length) {
      throw new InputError(`${where}: has ${cells.length} fields, the header has ${header.length}`);
    }
    rows++;
    const frame = integerCell(cells, "frame", where, null);
    const track = integerCell(cells, "track", where, 0);
    if (layout === "long") {
      const joint = cells[col.get("joint")!];
      if (joint === "") throw new InputError(`${where}: column "joint" is empty`);
      noteJoint(joint);
      const c: Cells = {};
      header.forEach((h, i) => {
        if ((FIELDS as readonly string[]).includes(h)) toCells(h, cells[i], c);
      });
      put(track, frame, joint, { ...c, line: li + 1 }, where);
    } else {
      const perJoint = new Map<string, Cells>();
      for (const wc of wideColumns) {
        const c = perJoint.get(wc.joint) ?? {};
        toCells(wc.field, cells[wc.index], c);
        perJoint.set(wc.joint, c);
      }
      if (records.get(track)?.has(frame)) {
        throw new InputError(`${where}: track ${track} frame ${frame} appears twice`);
      }
      for (const [joint, c] of perJoint) put(track, frame, joint, { ...c, line: li + 1 }, where);
    }
  }
  if (rows === 0) throw new InputError(`${file}: no data rows after the header`);

  let skeleton: Skeleton;
  try {
    const named = options.skeleton ?? meta.skeleton;
    skeleton = named ? getSkeleton(named) : guessCsvSkeleton(jointOrder, file);
  } catch (e) {
    throw new InputError(`${file}: ${(e as Error).message}`);
  }
  const J = skeleton.joints.length;
  for (const name of jointOrder) {
    if (!skeleton.joints.includes(name)) {
      throw new InputError(`${file}: joint "${name}" is not in skeleton ${skeleton.name}`);
    }
  }
  const has2d = fieldNames.includes("x") && !plain3d;
  const has3d = has3dColumns || plain3d;
  const hasScore = fieldNames.includes("score");
  const value = (cell: string | undefined, what: string, where: string): number | null => {
    if (cell === undefined || cell === "") return null;
    const v = Number(cell);
    if (!isFiniteFloat32(v)) throw new InputError(`${where}: ${what} is "${cell}", expected a finite number`);
    return v;
  };

  const people = [...records.entries()].sort((a, b) => a[0] - b[0]).map(([track, byFrame]): PoseTrack => {
    const frames = [...byFrame.keys()].sort((a, b) => a - b);
    const n = frames.length;
    const kp2: Keypoints2D | null = has2d
      ? {
        skeleton: skeleton.name,
        frames: n,
        joints: J,
        coords: new Float32Array(n * J * 2),
        scores: hasScore ? new Float32Array(n * J) : null,
        mask: new Uint8Array(n * J),
      }
      : null;
    const kp3: Keypoints3D | null = has3d
      ? {
        skeleton: skeleton.name,
        frames: n,
        joints: J,
        coords: new Float32Array(n * J * 3),
        mask: new Uint8Array(n * J),
      }
      : null;
    frames.forEach((frame, f) => {
      for (const [joint, c] of byFrame.get(frame)!) {
        const j = skeleton.joints.indexOf(joint);
        const i = f * J + j;
        const where = `${file}: line ${c.line}: track ${track} frame ${frame} joint "${joint}"`;
        if (kp2) {
          const x = value(c.x, "x", where);
          const y = value(c.y, "y", where);
          if ((x === null) !== (y === null)) throw new InputError(`${where}: has only one of x and y`);
          if (x !== null) {
            kp2.mask[i] = 1;
            kp2.coords[2 * i] = x;
            kp2.coords[2 * i + 1] = y!;
          }
          const s = value(c.score, "score", where);
          if (kp2.scores && s !== null) kp2.scores[i] = s;
        }
        if (kp3) {
          const xyz = [value(c.x3d, "x3d", where), value(c.y3d, "y3d", where), value(c.z3d, "z3d", where)];
          const given = xyz.filter((v) => v !== null).length;
          if (given !== 0 && given !== 3) {
            throw new InputError(`${where}: 3D point has ${given} of 3 coordinates`);
          }
          if (given === 3) {
            kp3.mask[i] = 1;
            kp3.coords.set(xyz as number[], 3 * i);
          }
        }
      }
    });
    return { track, frames, keypoints2d: kp2, keypoints3d: kp3 };
  });

  const numberMeta = (key: string): number | undefined => {
    const v = meta[key] === undefined ? undefined : Number(meta[key]);
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) {
      throw new InputError(`${file}: metadata ${key}=${meta[key]} is not a positive number`);
    }
    return v;
  };
  const width = numberMeta("width");
  const height = numberMeta("height");
  const doc = createPoseDocument({
    skeleton: skeleton.name,
    fps: numberMeta("fps") ?? null,
    image: width && height ? { width, height } : null,
    people,
  });
  if (meta.units) doc.units = meta.units as PoseUnits;
  if (meta.frame) doc.frame = meta.frame as PoseFrame;
  validatePoseDocument(doc, file);
  return doc;
}

/** Reads a keypoint CSV file (see the module notes). */
export async function readCsv(path: string, options: ReadCsvOptions = {}): Promise<PoseDocument> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  return parseCsv(text, path, options);
}

/** Options of `csvText` / `writeCsv`. */
export interface WriteCsvOptions {
  /** Row layout (default "long"). */
  layout?: CsvLayout;
}

/** Serialises a document as CSV text with a `#` metadata line (see the module notes). */
export function csvText(doc: PoseDocument, options: WriteCsvOptions = {}): string {
  validatePoseDocument(doc);
  const skeleton = getSkeleton(doc.skeleton);
  const J = skeleton.joints.length;
  const has2d = doc.people.some((p) => p.keypoints2d);
  const has3d = doc.people.some((p) => p.keypoints3d);
  const hasScore = doc.people.some((p) => p.keypoints2d?.scores);
  if (!has2d && !has3d) throw new InputError("CSV: the document has no keypoints");
  const fields: string[] = [];
  if (has2d) fields.push("x", "y");
  if (hasScore) fields.push("score");
  if (has3d) fields.push(...(has2d ? ["x3d", "y3d", "z3d"] : ["x", "y", "z"]));
  const metaParts = [`skeleton=${skeleton.name}`, `units=${doc.units}`, `frame=${doc.frame}`];
  if (doc.fps !== null) metaParts.push(`fps=${doc.fps}`);
  if (doc.image) metaParts.push(`width=${doc.image.width}`, `height=${doc.image.height}`);
  const out = [`# posegpu-pose csv v1; ${metaParts.join("; ")}`];
  const layout = options.layout ?? "long";
  const cellsOf = (p: PoseTrack, f: number, j: number): string[] | null => {
    const i = f * J + j;
    const k2 = p.keypoints2d;
    const k3 = p.keypoints3d;
    const present2 = k2 !== null && k2.mask[i] === 1;
    const present3 = k3 !== null && k3.mask[i] === 1;
    if (!present2 && !present3) return null;
    const cells: string[] = [];
    const num = (v: number) => String(shortFloat32(v));
    if (has2d) cells.push(present2 ? num(k2!.coords[2 * i]) : "", present2 ? num(k2!.coords[2 * i + 1]) : "");
    // A score is kept even for a missing joint (a detector's low score says why it is missing).
    if (hasScore) cells.push(k2?.scores ? num(k2.scores[i]) : "");
    if (has3d) {
      for (let d = 0; d < 3; d++) cells.push(present3 ? num(k3!.coords[3 * i + d]) : "");
    }
    return cells;
  };
  if (layout === "long") {
    out.push(["frame", "track", "joint", ...fields].join(","));
    for (const p of doc.people) {
      p.frames.forEach((frame, f) => {
        for (let j = 0; j < J; j++) {
          const cells = cellsOf(p, f, j);
          if (cells) {
            out.push([String(frame), String(p.track), quote(skeleton.joints[j]), ...cells].join(","));
          }
        }
      });
    }
  } else {
    out.push(
      ["frame", "track", ...skeleton.joints.flatMap((n) => fields.map((f) => quote(`${n}.${f}`)))].join(","),
    );
    for (const p of doc.people) {
      p.frames.forEach((frame, f) => {
        const row = [String(frame), String(p.track)];
        for (let j = 0; j < J; j++) row.push(...(cellsOf(p, f, j) ?? fields.map(() => "")));
        out.push(row.join(","));
      });
    }
  }
  return out.join("\n") + "\n";
}

/** Writes a document as CSV (atomically). */
export async function writeCsv(
  path: string,
  doc: PoseDocument,
  options: WriteCsvOptions = {},
): Promise<void> {
  await writeFileAtomic(path, csvText(doc, options));
}
