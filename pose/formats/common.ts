/**
 * Shared helpers of the keypoint readers/writers: reading JSON with file-naming errors, field checks
 * whose messages name the file, record and field, and compact float32 printing.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/** Describes a JSON value's type for error messages (`a string`, `null`, `an array of 3`...). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "number") return Number.isFinite(value) ? `the number ${value}` : String(value);
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return `a ${typeof value}`;
}

/** True for a number that stays finite as float32 (coordinates are stored as float32). */
export function isFiniteFloat32(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(Math.fround(value));
}

/** Reads and parses a JSON file; unreadable or invalid files throw `InputError` naming the file. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  if (text.trim() === "") throw new InputError(`${path}: file is empty`);
  try {
    return JSON.parse(text);
  } catch (e) {
    // NaN/Infinity (as Python's json.dump writes them) are not JSON: say where, and what to write instead.
    const bad = /[[,:]\s*(-?(?:NaN|Infinity))\b/.exec(text);
    if (bad) {
      const at = bad.index + bad[0].length - bad[1].length;
      const line = text.slice(0, at).split("\n").length;
      throw new InputError(
        `${path}: line ${line}: ${bad[1]} is not a JSON number (${
          text.slice(Math.max(0, at - 30), at + 10).trim()
        }); ` +
          `coordinates must be finite (null marks a missing joint)`,
        { cause: e },
      );
    }
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** Checks that `value` is a plain object. */
export function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(`${where}: expected an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Names a field of a record for error messages. */
export interface FieldAt {
  /** The file and record (e.g. `people.json: annotation 3 (id 55)`). */
  where: string;
  /** The field name. */
  field: string;
}

/** Checks that `record[at.field]` is an array. */
export function expectArrayField(record: Record<string, unknown>, at: FieldAt): unknown[] {
  const value = record[at.field];
  if (!Array.isArray(value)) {
    throw new InputError(`${at.where}: "${at.field}" is ${describeValue(value)}, expected an array`);
  }
  return value;
}

/** Options of `expectNumberField`: where, and what the number must be. */
export interface NumberFieldAt extends FieldAt {
  /** Require an integer. */
  integer?: boolean;
  /** Smallest allowed value. */
  min?: number;
}

/** Checks that `record[at.field]` is a finite number (optionally an integer, at least `min`). */
export function expectNumberField(record: Record<string, unknown>, at: NumberFieldAt): number {
  const value = record[at.field];
  const ok = isFiniteFloat32(value) &&
    (!at.integer || Number.isInteger(value)) && (at.min === undefined || value >= at.min);
  if (!ok) {
    const what = at.integer ? "an integer" : "a finite number";
    const min = at.min !== undefined ? ` ≥ ${at.min}` : "";
    throw new InputError(`${at.where}: "${at.field}" is ${describeValue(value)}, expected ${what}${min}`);
  }
  return value as number;
}

/** Options of `expectNumbers`: where, and how many numbers (omitted = any non-zero count). */
export interface NumbersAt extends FieldAt {
  /** Required length. */
  count?: number;
  /** Names element `i` in messages (e.g. `joint "left_elbow" y`). */
  describe?: (i: number) => string;
}

/** Checks that `value` is an array of finite numbers (of `at.count` when given, else non-empty). */
export function expectNumbers(value: unknown, at: NumbersAt): number[] {
  const { where, field } = at;
  if (!Array.isArray(value)) {
    throw new InputError(`${where}: "${field}" is ${describeValue(value)}, expected an array of numbers`);
  }
  if (at.count !== undefined && value.length !== at.count) {
    throw new InputError(`${where}: "${field}" has ${value.length} numbers, expected ${at.count}`);
  }
  if (value.length === 0) throw new InputError(`${where}: "${field}" is empty`);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (!isFiniteFloat32(v)) {
      const what = at.describe ? ` (${at.describe(i)})` : "";
      throw new InputError(
        `${where}: "${field}"[${i}]${what} is ${describeValue(v)}, expected a finite number`,
      );
    }
  }
  return value as number[];
}

/** The shortest decimal number that reads back as the same float32 (keeps JSON output compact). */
export function shortFloat32(value: number): number {
  const f = Math.fround(value);
  if (!Number.isFinite(f) || f === 0) return f === 0 ? 0 : f;
  for (let p = 6; p < 9; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return s;
  }
  return Number(f.toPrecision(9));
}

/** Checks a list of frame indices: non-negative integers, strictly increasing. */
export function expectFrameIndices(value: unknown, where: string): number[] {
  if (Array.isArray(value) && value.length === 0) {
    throw new InputError(`${where}: "frames" is empty, expected at least one frame index`);
  }
  const frames = expectNumbers(value, { where, field: "frames" });
  frames.forEach((f, i) => {
    if (!Number.isInteger(f) || f < 0) {
      throw new InputError(`${where}: "frames"[${i}] is ${f}, expected a non-negative integer`);
    }
    if (i > 0 && f <= frames[i - 1]) {
      throw new InputError(`${where}: "frames"[${i}] = ${f} does not increase (previous ${frames[i - 1]})`);
    }
  });
  return frames;
}
