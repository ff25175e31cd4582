/**
 * Streaming readers for the two formats that grow with the length of a recording — CSV and posegpu pose
 * JSON: `streamPoseFile` yields batches of person-frames while it reads, so a file of any length is
 * read with bounded memory (one batch, the read buffer and, for pose JSON, one track's frames in typed
 * arrays; never the whole text or one object per joint). `readPoseDocument` reads the same files
 * whole.
 *
 * ```ts
 * for await (const b of streamPoseFile("poses.csv")) {
 *   const h36m = convertKeypoints2D(b.keypoints2d!, "h36m17", { minScore: 0 });
 *   // b.tracks[i], b.frames[i]: whose and which frame person-frame i is
 * }
 * ```
 *
 * What streaming needs that the whole-file readers do not:
 * - **CSV**: each track's frames in increasing order, and (long layout) the rows of one person-frame
 *   next to each other — what `writeCsv` writes. The skeleton comes from the option, the `# skeleton=`
 *   metadata, the wide header, or else the joint names of the first 64 person-frames.
 * - **pose JSON**: `skeleton` before `people` (as `writePoseJson` writes it). Scores and 3D are
 *   matched to the 2D of the same track; a track's frames are yielded when its object has been read.
 *
 * Bad values are errors naming the file, the line (CSV) or record (`people[i]`, frame), the track and the
 * joint, as the whole-file readers do.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { Keypoints2D, Keypoints3D } from "../convert.ts";
import { getSkeleton, type Skeleton } from "../skeletons.ts";
import { describeValue, isFiniteFloat32 } from "./common.ts";
import { guessCsvSkeleton, splitCsvLine } from "./csv.ts";

/** Person-frames from a streaming reader, all on one skeleton. */
export interface PoseFrameBatch {
  /** Skeleton of the keypoints. */
  skeleton: string;
  /** Track id of each person-frame. */
  tracks: Int32Array;
  /** Frame index of each person-frame. */
  frames: Int32Array;
  /** 2D keypoints, one "frame" per person-frame (`frames` = the batch length), or null. */
  keypoints2d: Keypoints2D | null;
  /** 3D keypoints likewise, or null. */
  keypoints3d: Keypoints3D | null;
  /** Metadata the file declared before its data (fps, image size), when known. */
  info: { fps: number | null; image: { width: number; height: number } | null };
}

/** Options of `streamPoseFile`. */
export interface StreamPoseOptions {
  /** "csv" or "pose-json" (default: from the extension, `.csv` or else pose JSON). */
  format?: "csv" | "pose-json";
  /** Skeleton of a CSV file (overrides its metadata and the guess). */
  skeleton?: string;
  /** Person-frames per batch (default 4096). */
  batchSize?: number;
  /** Bytes read at a time (default 64 KiB). */
  chunkBytes?: number;
}

/** Streams a CSV or pose JSON file as batches of person-frames (see the module documentation). */
export function streamPoseFile(
  path: string,
  options: StreamPoseOptions = {},
): AsyncGenerator<PoseFrameBatch> {
  const format = options.format ?? (/\.csv$/i.test(path) ? "csv" : "pose-json");
  const batch = options.batchSize ?? 4096;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new InputError(`streamPoseFile: batchSize must be a positive integer, got ${batch}`);
  }
  if (format === "csv") return streamCsv(path, { ...options, batchSize: batch });
  if (format === "pose-json") return streamPoseJson(path, { ...options, batchSize: batch });
  throw new InputError(`streamPoseFile: format must be "csv" or "pose-json", got ${JSON.stringify(format)}`);
}

async function* chunks(path: string, chunkBytes: number): AsyncGenerator<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const buf = new Uint8Array(chunkBytes);
  try {
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      try {
        yield decoder.decode(buf.subarray(0, n), { stream: true });
      } catch (e) {
        throw new InputError(`${path}: not UTF-8 text (${(e as Error).message})`, { cause: e });
      }
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    file.close();
  }
}

async function* lines(path: string, chunkBytes: number): AsyncGenerator<{ text: string; no: number }> {
  let rest = "", no = 0;
  for await (const chunk of chunks(path, chunkBytes)) {
    rest += chunk;
    let start = 0;
    while (true) {
      const nl = rest.indexOf("\n", start);
      if (nl < 0) break;
      const end = nl > start && rest[nl - 1] === "\r" ? nl - 1 : nl;
      yield { text: rest.slice(start, end), no: ++no };
      start = nl + 1;
    }
    rest = rest.slice(start);
    if (rest.length > 1 << 24) throw new InputError(`${path}: line ${no + 1} is longer than 16 MiB`);
  }
  if (rest !== "") yield { text: rest.endsWith("\r") ? rest.slice(0, -1) : rest, no: ++no };
}

/** Fills batches of person-frames and hands them out when full. */
class BatchBuilder {
  readonly skeleton: Skeleton;
  readonly joints: number;
  n = 0;
  #tracks!: Int32Array;
  #frames!: Int32Array;
  c2: Float32Array | null = null;
  s2: Float32Array | null = null;
  m2: Uint8Array | null = null;
  c3: Float32Array | null = null;
  m3: Uint8Array | null = null;

  constructor(
    skeleton: Skeleton,
    readonly parts: { has2d: boolean; hasScore: boolean; has3d: boolean },
    readonly size: number,
    readonly info: PoseFrameBatch["info"],
  ) {
    this.skeleton = skeleton;
    this.joints = skeleton.joints.length;
    this.#fresh();
  }

  #fresh(): void {
    const { size, joints: J, parts } = this;
    this.n = 0;
    this.#tracks = new Int32Array(size);
    this.#frames = new Int32Array(size);
    this.c2 = parts.has2d ? new Float32Array(size * J * 2) : null;
    this.s2 = parts.has2d && parts.hasScore ? new Float32Array(size * J) : null;
    this.m2 = parts.has2d ? new Uint8Array(size * J) : null;
    this.c3 = parts.has3d ? new Float32Array(size * J * 3) : null;
    this.m3 = parts.has3d ? new Uint8Array(size * J) : null;
  }

  /** Starts a person-frame; returns its slot. */
  begin(track: number, frame: number): number {
    this.#tracks[this.n] = track;
    this.#frames[this.n] = frame;
    return this.n++;
  }

  get full(): boolean {
    return this.n === this.size;
  }

  /** The filled part as a batch (and a fresh buffer for the next). */
  take(): PoseFrameBatch {
    const n = this.n, J = this.joints, name = this.skeleton.name;
    const out: PoseFrameBatch = {
      skeleton: name,
      tracks: this.#tracks.slice(0, n),
      frames: this.#frames.slice(0, n),
      keypoints2d: this.c2
        ? {
          skeleton: name,
          frames: n,
          joints: J,
          coords: this.c2.slice(0, n * J * 2),
          scores: this.s2 ? this.s2.slice(0, n * J) : null,
          mask: this.m2!.slice(0, n * J),
        }
        : null,
      keypoints3d: this.c3
        ? {
          skeleton: name,
          frames: n,
          joints: J,
          coords: this.c3.slice(0, n * J * 3),
          mask: this.m3!.slice(0, n * J),
        }
        : null,
      info: this.info,
    };
    this.#fresh();
    return out;
  }
}

const CSV_FIELDS = ["x", "y", "score", "x3d", "y3d", "z3d", "z"];

async function* streamCsv(
  path: string,
  options: StreamPoseOptions & { batchSize: number },
): AsyncGenerator<PoseFrameBatch> {
  const source = lines(path, options.chunkBytes ?? 65536);
  try {
    yield* csvBatches(path, options, source);
  } finally {
    await source.return(undefined); // closes the file, also when the consumer stops early
  }
}

async function* csvBatches(
  path: string,
  options: StreamPoseOptions & { batchSize: number },
  source: AsyncGenerator<{ text: string; no: number }>,
): AsyncGenerator<PoseFrameBatch> {
  // Read in several loops: an iterator without return(), so that a `break` does not close the file.
  const it: AsyncIterable<{ text: string; no: number }> = {
    [Symbol.asyncIterator]: () => ({ next: () => source.next() }),
  };
  const meta: Record<string, string> = {};
  let header: string[] | null = null, headerNo = 0;
  for await (const { text, no } of it) {
    const line = text.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      for (const m of line.slice(1).matchAll(/([A-Za-z_]+)\s*=\s*([^\s;,]+)/g)) meta[m[1]] = m[2];
      continue;
    }
    header = splitCsvLine(text, `${path}: line ${no}`);
    headerNo = no;
    break;
  }
  if (!header) throw new InputError(`${path}: no header line (the file is empty)`);
  const at = `${path}: line ${headerNo}`;
  const col = new Map(header.map((h, i) => [h, i]));
  if (col.size !== header.length) throw new InputError(`${at}: repeated column names`);
  if (!col.has("frame")) throw new InputError(`${at}: no "frame" column`);
  const long = col.has("joint");
  // Per column: which joint (wide) and which field.
  const wide: { joint: string; field: string; index: number }[] = [];
  if (long) {
    for (const h of header) {
      if (!["frame", "track", "joint", ...CSV_FIELDS].includes(h)) {
        throw new InputError(`${at}: unknown column "${h}"`);
      }
    }
  } else {
    header.forEach((h, index) => {
      if (h === "frame" || h === "track") return;
      const dot = h.lastIndexOf(".");
      const field = h.slice(dot + 1);
      if (dot <= 0 || !CSV_FIELDS.includes(field)) {
        throw new InputError(`${at}: column "${h}" is not <joint>.<x|y|score|x3d|y3d|z3d|z>`);
      }
      wide.push({ joint: h.slice(0, dot), field, index });
    });
  }
  const fieldNames = long ? header : wide.map((c) => c.field);
  const has3dColumns = fieldNames.includes("x3d");
  const plain3d = !has3dColumns && fieldNames.includes("z");
  if (!fieldNames.includes("x") && !has3dColumns) throw new InputError(`${path}: no coordinate columns`);
  const parts = {
    has2d: fieldNames.includes("x") && !plain3d,
    hasScore: fieldNames.includes("score"),
    has3d: has3dColumns || plain3d,
  };
  const key3 = (f: string): string => plain3d ? ({ x: "x3d", y: "y3d", z: "z3d" })[f] ?? f : f;

  // Rows: one entry per (line, joint) with the cells of that joint.
  interface Entry {
    no: number;
    track: number;
    frame: number;
    joint: string;
    cells: Record<string, string>;
  }
  const integerCell = (cells: string[], name: string, where: string, fallback: number | null): number => {
    const i = col.get(name);
    const cell = i === undefined ? "" : (cells[i] ?? "");
    if (cell === "" && fallback !== null) return fallback;
    const v = Number(cell);
    if (cell === "" || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new InputError(`${where}: column "${name}" is "${cell}", expected a non-negative integer`);
    }
    return v;
  };
  function* entriesOf(text: string, no: number): Generator<Entry> {
    const where = `${path}: line ${no}`;
    const cells = splitCsvLine(text, where);
    if (cells.length !== header!.length) {
      throw new InputError(`${where}: has ${cells.length} fields, the header has ${header!.length}`);
    }
    const frame = integerCell(cells, "frame", where, null);
    const track = integerCell(cells, "track", where, 0);
    if (long) {
      const joint = cells[col.get("joint")!];
      if (joint === "") throw new InputError(`${where}: column "joint" is empty`);
      const c: Record<string, string> = {};
      header!.forEach((h, i) => {
        if (CSV_FIELDS.includes(h)) c[key3(h)] = cells[i];
      });
      yield { no, track, frame, joint, cells: c };
    } else {
      const byJoint = new Map<string, Record<string, string>>();
      for (const w of wide) {
        const c = byJoint.get(w.joint) ?? {};
        c[key3(w.field)] = cells[w.index];
        byJoint.set(w.joint, c);
      }
      for (const [joint, c] of byJoint) yield { no, track, frame, joint, cells: c };
    }
  }

  // The skeleton: option, metadata, wide header, or the joints of the first 64 person-frames.
  const pending: Entry[] = [];
  let dataRows = 0;
  let skeleton: Skeleton;
  try {
    const named = options.skeleton ?? meta.skeleton;
    if (named) skeleton = getSkeleton(named);
    else if (!long) skeleton = guessCsvSkeleton([...new Set(wide.map((w) => w.joint))], path);
    else {
      const names: string[] = [];
      let groups = 0, last = "";
      for await (const { text, no } of it) {
        if (text.trim() === "") continue;
        dataRows++;
        for (const e of entriesOf(text, no)) {
          pending.push(e);
          if (!names.includes(e.joint)) names.push(e.joint);
          const k = `${e.track}/${e.frame}`;
          if (k !== last) groups++, last = k;
        }
        if (groups > 64) break;
      }
      if (names.length === 0) throw new InputError(`${path}: no data rows after the header`);
      skeleton = guessCsvSkeleton(names, path);
    }
  } catch (e) {
    if (e instanceof InputError && e.message.startsWith(path)) throw e;
    throw new InputError(`${path}: ${(e as Error).message}`);
  }
  const J = skeleton.joints.length;
  const jointIndex = new Map(skeleton.joints.map((n, i) => [n, i]));
  const positive = (key: string): number | null => {
    if (meta[key] === undefined) return null;
    const v = Number(meta[key]);
    if (!(v > 0 && Number.isFinite(v))) {
      throw new InputError(`${path}: metadata ${key}=${meta[key]} is not a positive number`);
    }
    return v;
  };
  const width = positive("width"), height = positive("height");
  const info = { fps: positive("fps"), image: width && height ? { width, height } : null };
  const b = new BatchBuilder(skeleton, parts, options.batchSize, info);
  const lastFrame = new Map<number, number>();
  const seen = new Uint8Array(J);
  let slot = -1, curTrack = -1, curFrame = -1;
  const value = (cell: string | undefined, what: string, where: string): number | null => {
    if (cell === undefined || cell === "") return null;
    const v = Number(cell);
    if (!isFiniteFloat32(v)) throw new InputError(`${where}: ${what} is "${cell}", expected a finite number`);
    return v;
  };
  const put = (e: Entry): PoseFrameBatch | null => {
    let out: PoseFrameBatch | null = null;
    if (slot < 0 || e.track !== curTrack || e.frame !== curFrame) {
      const prev = lastFrame.get(e.track);
      if (prev !== undefined && e.frame <= prev) {
        throw new InputError(
          `${path}: line ${e.no}: track ${e.track} frame ${e.frame} comes after its frame ${prev}: a streamed CSV ` +
            `lists each track's frames in increasing order, the rows of a person-frame together ` +
            `(readCsv reads any order)`,
        );
      }
      lastFrame.set(e.track, e.frame);
      if (b.full) out = b.take();
      slot = b.begin(e.track, e.frame);
      curTrack = e.track, curFrame = e.frame;
      seen.fill(0);
    }
    const j = jointIndex.get(e.joint);
    const where = `${path}: line ${e.no}: track ${e.track} frame ${e.frame} joint "${e.joint}"`;
    if (j === undefined) throw new InputError(`${where}: not a joint of skeleton ${skeleton.name}`);
    if (seen[j]) throw new InputError(`${where}: appears twice`);
    seen[j] = 1;
    const i = slot * J + j, c = e.cells;
    if (b.c2) {
      const x = value(c.x, "x", where), y = value(c.y, "y", where);
      if ((x === null) !== (y === null)) throw new InputError(`${where}: has only one of x and y`);
      if (x !== null) {
        b.m2![i] = 1;
        b.c2[2 * i] = x;
        b.c2[2 * i + 1] = y!;
      }
      const s = value(c.score, "score", where);
      if (b.s2 && s !== null) b.s2[i] = s;
    }
    if (b.c3) {
      const xyz = [value(c.x3d, "x3d", where), value(c.y3d, "y3d", where), value(c.z3d, "z3d", where)];
      const given = xyz.filter((v) => v !== null).length;
      if (given !== 0 && given !== 3) {
        throw new InputError(`${where}: 3D point has ${given} of 3 coordinates`);
      }
      if (given === 3) {
        b.m3![i] = 1;
        b.c3.set(xyz as number[], 3 * i);
      }
    }
    return out;
  };
  for (const e of pending) {
    const out = put(e);
    if (out) yield out;
  }
  pending.length = 0;
  for await (const { text, no } of it) {
    if (text.trim() === "") continue;
    dataRows++;
    for (const e of entriesOf(text, no)) {
      const out = put(e);
      if (out) yield out;
    }
  }
  if (dataRows === 0) throw new InputError(`${path}: no data rows after the header`);
  if (b.n > 0) yield b.take();
}

// ---------------------------------------------------------------------------------------------------------
// pose JSON: a small pull parser over a sliding window of the text. Values that stay small (a frame's
// joints, the header fields) are cut out and given to JSON.parse; the arrays that grow with the recording
// (`people`, each person's `frames`, `keypoints2d`, `scores`, `keypoints3d`) are walked element by element.

class NeedMore extends Error {}

class JsonWindow {
  text = "";
  pos = 0;
  eof = false;
  #dropped = 0;
  #droppedLines = 0;
  readonly #src: AsyncGenerator<string>;

  constructor(readonly path: string, src: AsyncGenerator<string>) {
    this.#src = src;
  }

  /** Makes at least `n` characters available from `pos` (fewer at the end of the file). */
  async ensure(n: number): Promise<void> {
    if (this.text.length - this.pos >= n || this.eof) return;
    const head = this.text.slice(0, this.pos);
    let nl = 0;
    for (let i = head.indexOf("\n"); i >= 0; i = head.indexOf("\n", i + 1)) nl++;
    this.#droppedLines += nl;
    this.#dropped += this.pos;
    let text = this.text.slice(this.pos);
    this.pos = 0;
    while (text.length < n) {
      const r = await this.#src.next();
      if (r.done) {
        this.eof = true;
        break;
      }
      text += r.value;
    }
    this.text = text;
  }

  /** Line of the current position (1-based), for messages. */
  line(): number {
    let nl = 0;
    const head = this.text.slice(0, this.pos);
    for (let i = head.indexOf("\n"); i >= 0; i = head.indexOf("\n", i + 1)) nl++;
    return this.#droppedLines + nl + 1;
  }

  fail(what: string): never {
    throw new InputError(`${this.path}: line ${this.line()}: ${what}`);
  }

  skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    while (p < t.length && (t[p] === " " || t[p] === "\n" || t[p] === "\r" || t[p] === "\t")) p++;
    this.pos = p;
  }

  /** The next non-space character, reading more if needed ("" at the end of the file). */
  async peek(): Promise<string> {
    while (true) {
      this.skipSpace();
      if (this.pos < this.text.length) return this.text[this.pos];
      if (this.eof) return "";
      await this.ensure(65536);
    }
  }

  async expect(ch: string, what: string): Promise<void> {
    const c = await this.peek();
    if (c !== ch) {
      this.fail(
        `expected ${JSON.stringify(ch)} ${what}, found ${c ? JSON.stringify(c) : "the end of the file"}`,
      );
    }
    this.pos++;
  }

  /** End index of the value at `pos` (scanning brackets and strings); NeedMore if the window ends first. */
  #extent(): number {
    const t = this.text;
    let p = this.pos;
    const c = t[p];
    if (c === "{" || c === "[") {
      let depth = 0;
      for (; p < t.length; p++) {
        const ch = t[p];
        if (ch === '"') {
          for (p++; p < t.length && t[p] !== '"'; p++) if (t[p] === "\\") p++;
          if (p >= t.length) break;
        } else if (ch === "{" || ch === "[") depth++;
        else if (ch === "}" || ch === "]") {
          if (--depth === 0) return p + 1;
        }
      }
      if (this.eof) this.fail("the file ends inside a value");
      throw new NeedMore();
    }
    if (c === '"') {
      for (p++; p < t.length && t[p] !== '"'; p++) if (t[p] === "\\") p++;
      if (p < t.length) return p + 1;
      if (this.eof) this.fail("the file ends inside a string");
      throw new NeedMore();
    }
    while (p < t.length && !",]} \n\r\t".includes(t[p])) p++;
    if (p === t.length && !this.eof) throw new NeedMore();
    return p;
  }

  /** Reads one whole (small) value with JSON.parse. */
  async value(what: string): Promise<unknown> {
    let want = 65536;
    while (true) {
      if ((await this.peek()) === "") this.fail(`expected ${what}, found the end of the file`);
      try {
        const end = this.#extent();
        const slice = this.text.slice(this.pos, end);
        let v: unknown;
        try {
          v = JSON.parse(slice);
        } catch (e) {
          this.fail(`${what} is not valid JSON (${(e as Error).message}): ${slice.slice(0, 60)}`);
        }
        this.pos = end;
        return v;
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        await this.ensure(want);
        want *= 2;
        if (want > 1 << 28) this.fail(`${what} is larger than 256 MiB`);
      }
    }
  }

  /** Walks an array: calls `each(index)` with `pos` at each element. */
  async array(what: string, each: (index: number) => Promise<void>): Promise<number> {
    await this.expect("[", `(${what} is an array)`);
    let n = 0;
    if ((await this.peek()) === "]") {
      this.pos++;
      return 0;
    }
    while (true) {
      await this.ensure(65536);
      await each(n++);
      const c = await this.peek();
      this.pos++;
      if (c === "]") return n;
      if (c !== ",") {
        this.fail(`expected "," or "]" in ${what}, found ${c ? JSON.stringify(c) : "the end of the file"}`);
      }
    }
  }

  /** Walks an object: calls `each(key)` with `pos` at each value. */
  async object(what: string, each: (key: string) => Promise<void>): Promise<void> {
    await this.expect("{", `(${what} is an object)`);
    if ((await this.peek()) === "}") {
      this.pos++;
      return;
    }
    while (true) {
      const key = await this.value(`a key of ${what}`);
      if (typeof key !== "string") this.fail(`a key of ${what} must be a string`);
      await this.expect(":", `after the key "${key}" of ${what}`);
      await each(key);
      const c = await this.peek();
      this.pos++;
      if (c === "}") return;
      if (c !== ",") {
        this.fail(`expected "," or "}" in ${what}, found ${c ? JSON.stringify(c) : "the end of the file"}`);
      }
    }
  }
}

/** A growable typed array. */
class Grow<T extends Float32Array | Uint8Array | Int32Array> {
  n = 0;
  constructor(public data: T, readonly make: (n: number) => T) {}
  need(n: number): void {
    if (n <= this.data.length) return;
    const next = this.make(Math.max(n, this.data.length * 2));
    next.set(this.data as never);
    this.data = next;
  }
}

async function* streamPoseJson(
  path: string,
  options: StreamPoseOptions & { batchSize: number },
): AsyncGenerator<PoseFrameBatch> {
  const w = new JsonWindow(path, chunks(path, options.chunkBytes ?? 65536));
  const head: Record<string, unknown> = {};
  let skeleton: Skeleton | null = null;
  let yielded = 0, people = 0;
  const queue: PoseFrameBatch[] = [];
  const info: PoseFrameBatch["info"] = { fps: null, image: null };
  const readPerson = async (pi: number): Promise<void> => {
    if (!skeleton) {
      w.fail(
        `"skeleton" must come before "people" to stream a pose JSON file (readPoseDocument reads any order)`,
      );
    }
    const sk = skeleton as Skeleton, J = sk.joints.length;
    let track: number | null = null;
    const at = (): string => `${path}: people[${pi}]${track === null ? "" : ` (track ${track})`}`;
    const frames = new Grow(new Int32Array(1024), (n) => new Int32Array(n));
    const c2 = new Grow(new Float32Array(0), (n) => new Float32Array(n));
    const m2 = new Grow(new Uint8Array(0), (n) => new Uint8Array(n));
    const s2 = new Grow(new Float32Array(0), (n) => new Float32Array(n));
    const c3 = new Grow(new Float32Array(0), (n) => new Float32Array(n));
    const m3 = new Grow(new Uint8Array(0), (n) => new Uint8Array(n));
    const got = { frames: false, k2: -1, scores: -1, k3: -1 };
    const frameLabel = (k: number): string => got.frames && k < frames.n ? ` (frame ${frames.data[k]})` : "";
    const joints = async (
      field: string,
      dims: number,
      coords: Grow<Float32Array>,
      mask: Grow<Uint8Array> | null,
    ) =>
      await w.array(`${at()} ${field}`, async (k) => {
        const where = `${at()} ${field}[${k}]${frameLabel(k)}`;
        const v = await w.value(where);
        if (!Array.isArray(v) || v.length !== J) {
          throw new InputError(
            `${where}: must be an array of ${J} joints (${sk.name}), got ${describeValue(v)}`,
          );
        }
        coords.need((k + 1) * J * dims);
        mask?.need((k + 1) * J);
        for (let j = 0; j < J; j++) {
          const p = v[j];
          if (p === null) continue;
          const jointAt = `${where} joint "${sk.joints[j]}"`;
          if (dims === 1) {
            if (!isFiniteFloat32(p)) {
              throw new InputError(`${jointAt}: ${describeValue(p)} is not a finite number`);
            }
            coords.data[k * J + j] = p;
            continue;
          }
          if (!Array.isArray(p) || p.length !== dims) {
            throw new InputError(
              `${jointAt}: expected null or [${dims === 2 ? "x, y" : "x, y, z"}], got ${describeValue(p)}`,
            );
          }
          for (let d = 0; d < dims; d++) {
            if (!isFiniteFloat32(p[d])) {
              throw new InputError(
                `${jointAt}: coordinate ${"xyz"[d]} is ${describeValue(p[d])}, not a finite number`,
              );
            }
            coords.data[(k * J + j) * dims + d] = p[d];
          }
          mask!.data[k * J + j] = 1;
        }
      });
    await w.object(`${path}: people[${pi}]`, async (key) => {
      if (key === "track") {
        const t = await w.value(`${at()} track`);
        if (!Number.isInteger(t)) w.fail(`people[${pi}] track must be an integer, got ${describeValue(t)}`);
        track = t as number;
      } else if (key === "frames") {
        let prev = -1;
        frames.n = await w.array(`${at()} frames`, async (k) => {
          const f = await w.value(`${at()} frames[${k}]`);
          if (!Number.isInteger(f) || (f as number) <= prev || (f as number) > 0x7fffffff) {
            throw new InputError(
              `${at()} frames[${k}] is ${
                describeValue(f)
              }: frames must be non-negative integers, strictly increasing`,
            );
          }
          prev = f as number;
          frames.need(k + 1);
          frames.data[k] = prev;
        });
        got.frames = true;
      } else if (key === "keypoints2d") got.k2 = await joints("keypoints2d", 2, c2, m2);
      else if (key === "scores") got.scores = await joints("scores", 1, s2, null);
      else if (key === "keypoints3d") got.k3 = await joints("keypoints3d", 3, c3, m3);
      else await w.value(`${at()} ${key}`); // meta and unknown fields: read and dropped
    });
    if (track === null) throw new InputError(`${at()}: no track id`);
    if (!got.frames) throw new InputError(`${at()}: no frames`);
    const n = frames.n;
    for (
      const [name, count] of [["keypoints2d", got.k2], ["scores", got.scores], [
        "keypoints3d",
        got.k3,
      ]] as const
    ) {
      if (count >= 0 && count !== n) {
        throw new InputError(`${at()}: ${name} has ${count} frames, frames lists ${n}`);
      }
    }
    if (got.k2 < 0 && got.k3 < 0) throw new InputError(`${at()}: has neither keypoints2d nor keypoints3d`);
    if (got.scores >= 0 && got.k2 < 0) throw new InputError(`${at()}: scores without keypoints2d`);
    for (let s = 0; s < n; s += options.batchSize) {
      const e = Math.min(n, s + options.batchSize), b = e - s;
      queue.push({
        skeleton: sk.name,
        tracks: new Int32Array(b).fill(track),
        frames: frames.data.slice(s, e),
        keypoints2d: got.k2 >= 0
          ? {
            skeleton: sk.name,
            frames: b,
            joints: J,
            coords: c2.data.slice(s * J * 2, e * J * 2),
            scores: got.scores >= 0 ? s2.data.slice(s * J, e * J) : null,
            mask: m2.data.slice(s * J, e * J),
          }
          : null,
        keypoints3d: got.k3 >= 0
          ? {
            skeleton: sk.name,
            frames: b,
            joints: J,
            coords: c3.data.slice(s * J * 3, e * J * 3),
            mask: m3.data.slice(s * J, e * J),
          }
          : null,
        info,
      });
    }
  };
  // The top level; people are yielded as each closes (queue drained between elements).
  await w.expect("{", "(a pose JSON file is an object)");
  let done = (await w.peek()) === "}";
  if (done) w.pos++;
  while (!done) {
    const k = await w.value("a top-level key");
    if (typeof k !== "string") w.fail("a top-level key must be a string");
    const key = k as string;
    await w.expect(":", `after the key "${key}"`);
    if (key === "people") {
      await w.expect("[", "(people is an array)");
      if ((await w.peek()) === "]") w.pos++;
      else {
        while (true) {
          await readPerson(people++);
          while (queue.length) {
            yielded++;
            yield queue.shift()!;
          }
          const c = await w.peek();
          w.pos++;
          if (c === "]") break;
          if (c !== ",") {
            w.fail(`expected "," or "]" in people, found ${c ? JSON.stringify(c) : "the end of the file"}`);
          }
        }
      }
    } else {
      head[key] = await w.value(`"${key}"`);
      if (key === "format" && head.format !== "posegpu-pose") {
        w.fail(
          `format is ${describeValue(head.format)}, not "posegpu-pose" (streaming reads pose JSON only)`,
        );
      }
      if (key === "version" && head.version !== 1) {
        w.fail(`version ${describeValue(head.version)} is not supported`);
      }
      if (key === "skeleton") {
        try {
          skeleton = getSkeleton(String(head.skeleton));
        } catch (e) {
          w.fail((e as Error).message);
        }
      }
      if (key === "fps" && head.fps !== null) {
        const f = head.fps as number;
        if (!(typeof f === "number" && f > 0 && Number.isFinite(f))) w.fail(`fps is ${describeValue(f)}`);
        info.fps = f;
      }
      if (key === "image" && head.image !== null) {
        const im = head.image as { width?: unknown; height?: unknown };
        if (
          !(typeof im?.width === "number" && im.width > 0 && typeof im.height === "number" && im.height > 0)
        ) {
          w.fail(`image is ${describeValue(head.image)}, expected {"width": W, "height": H}`);
        }
        info.image = { width: im.width as number, height: im.height as number };
      }
    }
    const c = await w.peek();
    w.pos++;
    if (c === "}") done = true;
    else if (c !== ",") {
      w.fail(`expected "," or "}" at the top level, found ${c ? JSON.stringify(c) : "the end of the file"}`);
    }
  }
  if ((await w.peek()) !== "") w.fail("text after the end of the document");
  if (head.format !== "posegpu-pose") {
    throw new InputError(`${path}: no "format": "posegpu-pose" (not a pose JSON file)`);
  }
  if (people === 0 || yielded === 0) throw new InputError(`${path}: no people (an empty pose document)`);
}
