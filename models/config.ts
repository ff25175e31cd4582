/**
 * Model configuration: each model declares its keys (the reference constructors' argument names) with
 * a type and a default; values arrive typed (library calls, JSON metadata) or as strings
 * (`--config key=value` on the command line) and are checked and converted here, with errors that name
 * the key at fault.
 * @module
 */

import { InputError } from "../engine/mod.ts";

/** The type of one configuration key. */
export type ConfigType = "int" | "float" | "bool" | "string" | "int_list";

/** One configuration key. */
export interface ConfigEntry {
  /** Value type. */
  type: ConfigType;
  /** Default value. */
  default: number | boolean | string | readonly number[];
  /** One line of documentation (shown by `posegpu run --help`). */
  doc: string;
  /** Allowed values of a string key. */
  choices?: readonly string[];
}

/** A model's configuration keys. */
export type ConfigSpec = Record<string, ConfigEntry>;

/** The value type of one configuration entry. */
export type ConfigValueOf<E extends ConfigEntry> = E["type"] extends "int" | "float" ? number
  : E["type"] extends "bool" ? boolean
  : E["type"] extends "int_list" ? number[]
  : E["choices"] extends readonly string[] ? E["choices"][number]
  : string;

/** The resolved values of a spec. */
export type ConfigValues<S extends ConfigSpec> = { -readonly [K in keyof S]: ConfigValueOf<S[K]> };

/** A value as given: typed, or a string to parse. */
export type ConfigInput = number | boolean | string | readonly number[];

function parseBool(s: string): boolean | null {
  const v = s.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return null;
}

function coerce(
  model: string,
  key: string,
  e: ConfigEntry,
  v: unknown,
): number | boolean | string | number[] {
  const bad = (why: string): never => {
    throw new InputError(`${model} config ${key}=${JSON.stringify(v)}: ${why}`);
  };
  switch (e.type) {
    case "int":
    case "float": {
      const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isFinite(n)) {
        return bad(`expected a${e.type === "int" ? "n integer" : " number"}`);
      }
      if (e.type === "int" && !Number.isInteger(n)) return bad("expected an integer");
      return n;
    }
    case "bool": {
      if (typeof v === "boolean") return v;
      const b = typeof v === "string"
        ? parseBool(v)
        : typeof v === "number" && (v === 0 || v === 1)
        ? v === 1
        : null;
      return b === null ? bad("expected true or false") : b;
    }
    case "int_list": {
      const items = typeof v === "string"
        ? v.replace(/^\[|\]$/g, "").split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
        : Array.isArray(v)
        ? v
        : typeof v === "number"
        ? [v]
        : null;
      if (!items || !items.every((x) => typeof x === "number" && Number.isInteger(x))) {
        return bad("expected a comma-separated list of integers");
      }
      return items as number[];
    }
    case "string": {
      if (typeof v !== "string") return bad("expected a string");
      if (e.choices && !e.choices.includes(v)) return bad(`expected one of ${e.choices.join(", ")}`);
      return v;
    }
  }
}

/**
 * Resolves a configuration: defaults, then `values` (typed or strings). Unknown keys and badly typed
 * values are an `InputError` naming the key and listing the model's keys.
 */
export function resolveConfig<S extends ConfigSpec>(
  model: string,
  spec: S,
  values: Record<string, unknown> = {},
): ConfigValues<S> {
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(spec)) out[k] = Array.isArray(e.default) ? [...e.default] : e.default;
  const unknown = Object.keys(values).filter((k) => !(k in spec) && values[k] !== undefined);
  if (unknown.length) {
    throw new InputError(
      `${model}: unknown config key${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (keys: ${
        Object.keys(spec).join(", ")
      })`,
    );
  }
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined) out[k] = coerce(model, k, spec[k], v);
  }
  return out as ConfigValues<S>;
}

/** Splits `key=value` strings (from `--config`) into a record; a string without `=` is an error. */
export function parseConfigPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new InputError(`--config expects key=value, got ${JSON.stringify(p)}`);
    out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  return out;
}

/** A plain-text table of a spec's keys, types and defaults (for help texts). */
export function describeConfig(spec: ConfigSpec): string {
  return Object.entries(spec).map(([k, e]) => {
    const d = Array.isArray(e.default) ? e.default.join(",") : String(e.default);
    const type = e.choices ? e.choices.join("|") : e.type;
    return `    ${k}=${d}  (${type}) ${e.doc}`;
  }).join("\n");
}
