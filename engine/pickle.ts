/**
 * A safe reader of Python pickles (protocols 0–5, the opcodes `torch.save` and ordinary containers use).
 * Nothing is executed: a global (`GLOBAL`, `STACK_GLOBAL`, `INST`) is looked up through the caller's
 * `findClass(module, name)`, which may refuse it; one it does not know stays an opaque `PickleGlobal`,
 * and calling that (`REDUCE`, `NEWOBJ`, …) makes a `PickleObject` holding the arguments, and `BUILD`
 * stores its state.
 *
 * Values: `None` → `null`, bool → boolean, int → number (BigInt beyond 2^53), float → number, str →
 * string, bytes → `Uint8Array`, tuple and list → array, dict → `Map` (keys may be any value), set and
 * frozenset → `Set`. Every read is bounds-checked; errors are `InputError`s naming the file and the byte
 * offset of the opcode at fault.
 * @module
 */

import { InputError } from "./errors.ts";

/** A global the caller's `findClass` does not know, e.g. `numpy.dtype`: never resolved or executed. */
export class PickleGlobal {
  /** Creates a reference to `module.name`. */
  constructor(
    /** Python module, e.g. `"collections"`. */
    readonly module: string,
    /** Name in the module, e.g. `"OrderedDict"`. */
    readonly name: string,
  ) {}
  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object made by calling an unknown global: its arguments and the state `BUILD` gave it. */
export class PickleObject {
  /** The state set by `BUILD` (`undefined` when there was none). */
  state: unknown = undefined;
  /** Records a call of `module.name` with `args` (and keyword arguments for `NEWOBJ_EX`). */
  constructor(
    /** Python module of the class or function. */
    readonly module: string,
    /** Its name. */
    readonly name: string,
    /** Positional arguments. */
    readonly args: unknown[],
    /** Keyword arguments (`NEWOBJ_EX` only). */
    readonly kwargs?: Map<unknown, unknown>,
  ) {}
}

/** A callable `findClass` may return: REDUCE/NEWOBJ call it with the arguments (and keyword arguments). */
export type PickleCallable = (args: unknown[], kwargs?: Map<unknown, unknown>) => unknown;

/** Options of `unpickle`. */
export interface UnpickleOptions {
  /** The file name used in errors (default `"<pickle bytes>"`). */
  name?: string;
  /** Byte offset to start at (default 0). */
  offset?: number;
  /**
   * Resolves a global: return the value to push (a `PickleCallable` to make it callable), `undefined`
   * to keep it an opaque `PickleGlobal`, or throw to refuse it (an `InputError` naming the opcode).
   */
  findClass?: (module: string, name: string) => unknown;
  /** Resolves a persistent id (`PERSID`, `BINPERSID`); without it they are an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Applies `BUILD` state to a value that is not a `PickleObject`; without it, such state is dropped. */
  build?: (target: unknown, state: unknown) => void;
}

/** What `unpickle` decoded and where the pickle ended. */
export interface UnpickleResult {
  /** The pickled value. */
  value: unknown;
  /** Offset just past the `STOP` opcode (where a following pickle would start). */
  end: number;
}

const MARK = Symbol("mark");

/** A short description of a value for error messages. */
export function describePickled(x: unknown): string {
  if (x === null) return "None";
  if (x === MARK) return "a mark";
  if (Array.isArray(x)) return `a tuple/list of ${x.length}`;
  if (x instanceof Map) return `a dict of ${x.size}`;
  if (x instanceof Set) return `a set of ${x.size}`;
  if (x instanceof Uint8Array) return `bytes (${x.length})`;
  if (x instanceof PickleGlobal) return `global ${x}`;
  if (x instanceof PickleObject) return `a ${x.module}.${x.name} object`;
  if (typeof x === "string") return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x)}`;
  if (typeof x === "function") return "a callable";
  if (typeof x === "object") return "an object";
  return `${typeof x} ${String(x)}`;
}

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const intValue = (v: bigint): number | bigint => (v >= -SAFE_MAX && v <= SAFE_MAX ? Number(v) : v);

/** A little-endian two's-complement integer of any length (LONG1/LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return intValue(v);
}

/** Decodes a Python `repr()` string literal body (protocol 0 `STRING`) to bytes. */
function unescapeRepr(s: string): Uint8Array | null {
  const out: number[] = [];
  const simple: Record<string, number> = {
    n: 10,
    t: 9,
    r: 13,
    "\\": 92,
    "'": 39,
    '"': 34,
    a: 7,
    b: 8,
    f: 12,
    v: 11,
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== "\\") {
      const code = s.charCodeAt(i);
      if (code > 0xff) return null;
      out.push(code);
      continue;
    }
    const d = s[++i];
    if (d === undefined) return null;
    if (d in simple) out.push(simple[d]);
    else if (d === "x") {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return null;
      out.push(parseInt(h, 16));
      i += 2;
    } else if (/[0-7]/.test(d)) {
      const m = /^[0-7]{1,3}/.exec(s.slice(i))![0];
      out.push(parseInt(m, 8) & 0xff);
      i += m.length - 1;
    } else out.push(92, s.charCodeAt(i));
  }
  return Uint8Array.from(out);
}

/** Decodes Python's raw-unicode-escape (protocol 0 `UNICODE`): `\uXXXX` and `\UXXXXXXXX`, bytes as latin-1. */
function rawUnicodeEscape(b: Uint8Array): string {
  const s = Array.from(b, (c) => String.fromCharCode(c)).join("");
  return s.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, u, w) => String.fromCodePoint(parseInt(u ?? w, 16)),
  );
}

/** Unpickles one pickle from `bytes` (at `options.offset`), returning the value and the offset after it. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): UnpickleResult {
  const file = options.name ?? "<pickle bytes>";
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let pos = options.offset ?? 0;
  let op = pos; // offset of the opcode being run, for errors
  let opName = "";
  const fail = (detail: string): never => {
    throw new InputError(`${file}: pickle byte ${op}${opName ? ` (${opName})` : ""}: ${detail}`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) {
      fail(`truncated: needs ${n} more bytes, the data ends at byte ${bytes.length}`);
    }
    const at = pos;
    pos += n;
    return at;
  };
  const take = (n: number): Uint8Array => bytes.subarray(need(n), pos);
  const u8 = () => bytes[need(1)];
  const u16 = () => dv.getUint16(need(2), true);
  const u32 = () => dv.getUint32(need(4), true);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > SAFE_MAX) fail(`length ${v} is beyond any file size`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(10, pos);
    if (end < 0) fail("truncated: no end of line");
    const s = Array.from(bytes.subarray(pos, end), (c) => String.fromCharCode(c)).join("");
    pos = end + 1;
    return s;
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail("string is not valid UTF-8");
    }
  };
  // Byte strings (py2 str): decoded as UTF-8 when they are (torch.load's encoding="utf-8"), else bytes.
  const byteString = (b: Uint8Array): string | Uint8Array => {
    try {
      return utf8.decode(b);
    } catch {
      return b.slice();
    }
  };
  const parseInteger = (s: string): number | bigint => {
    if (!/^[+-]?\d+$/.test(s)) fail(`bad integer ${JSON.stringify(s)}`);
    return intValue(BigInt(s));
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length === marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length === marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail("no mark on the stack");
    return stack.splice(m!);
  };
  const getMemo = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i);
  };
  const asMap = (x: unknown): Map<unknown, unknown> => {
    if (!(x instanceof Map)) fail(`expected a dict, got ${describePickled(x)}`);
    return x as Map<unknown, unknown>;
  };
  const asList = (x: unknown): unknown[] => {
    if (!Array.isArray(x)) fail(`expected a list, got ${describePickled(x)}`);
    return x as unknown[];
  };
  const asSet = (x: unknown): Set<unknown> => {
    if (!(x instanceof Set)) fail(`expected a set, got ${describePickled(x)}`);
    return x as Set<unknown>;
  };
  // A refusal by findClass (a global that must not appear) is reported at the opcode that named it.
  const resolve = (module: string, name: string): unknown => {
    let found: unknown;
    try {
      found = options.findClass?.(module, name);
    } catch (e) {
      return fail((e as Error).message);
    }
    return found ?? new PickleGlobal(module, name);
  };
  const call = (f: unknown, args: unknown, kwargs?: Map<unknown, unknown>): unknown => {
    const list = Array.isArray(args) ? args : fail(`arguments must be a tuple, got ${describePickled(args)}`);
    if (f instanceof PickleGlobal) return new PickleObject(f.module, f.name, list, kwargs);
    if (typeof f !== "function") fail(`cannot call ${describePickled(f)}`);
    try {
      return (f as PickleCallable)(list, kwargs);
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  const persistent = (pid: unknown): unknown => {
    if (!options.persistentLoad) fail("persistent id without a persistent_load");
    try {
      return options.persistentLoad!(pid);
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  const setItems = (d: Map<unknown, unknown>, items: unknown[]): void => {
    if (items.length % 2) fail(`odd number of items (${items.length}) for a dict`);
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  };

  while (true) {
    op = pos;
    opName = "";
    const code = u8();
    switch (code) {
      case 0x80: // PROTO
        opName = "PROTO";
        if (u8() > 5) fail(`pickle protocol ${bytes[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: framing is only a hint for buffered readers
        opName = "FRAME";
        u64();
        break;
      case 0x2e: // STOP
        opName = "STOP";
        if (stack.length !== 1 || marks.length > 0) {
          fail(`${stack.length} values left on the stack (expected 1)`);
        }
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        opName = "POP";
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        opName = "POP_MARK";
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: { // INT: "I01\n" and "I00\n" are True and False
        opName = "INT";
        const s = line();
        stack.push(s === "01" ? true : s === "00" ? false : parseInteger(s));
        break;
      }
      case 0x4a: // BININT
        stack.push(dv.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4c: // LONG: "123L\n"
        opName = "LONG";
        stack.push(parseInteger(line().replace(/L$/, "")));
        break;
      case 0x8a: // LONG1
        opName = "LONG1";
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: { // LONG4
        opName = "LONG4";
        const n = dv.getInt32(need(4), true);
        if (n < 0) fail(`negative length ${n}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(dv.getFloat64(need(8), false));
        break;
      case 0x46: { // FLOAT
        opName = "FLOAT";
        // float(): also "inf", "-infinity", "nan" in any case.
        const s = line().trim();
        const special = /^([+-]?)(inf|infinity|nan)$/i.exec(s);
        const v = special
          ? (special[2].toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity)
          : Number(s);
        if (s === "" || Number.isNaN(v) && !special) fail(`bad float ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }
      case 0x53: { // STRING: a repr()'d literal
        opName = "STRING";
        const s = line();
        const q = s[0];
        if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail("string is not quoted");
        const b = unescapeRepr(s.slice(1, -1));
        if (!b) fail("bad escape in string");
        stack.push(byteString(b!));
        break;
      }
      case 0x54: { // BINSTRING
        opName = "BINSTRING";
        const n = dv.getInt32(need(4), true);
        if (n < 0) fail(`negative length ${n}`);
        stack.push(byteString(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        opName = "SHORT_BINSTRING";
        stack.push(byteString(take(u8())));
        break;
      case 0x58: // BINUNICODE
        opName = "BINUNICODE";
        stack.push(text(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        opName = "SHORT_BINUNICODE";
        stack.push(text(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        opName = "BINUNICODE8";
        stack.push(text(take(u64())));
        break;
      case 0x56: { // UNICODE
        opName = "UNICODE";
        const end = bytes.indexOf(10, pos);
        if (end < 0) fail("truncated: no end of line");
        stack.push(rawUnicodeEscape(bytes.subarray(pos, end)));
        pos = end + 1;
        break;
      }
      case 0x42: // BINBYTES
        opName = "BINBYTES";
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        opName = "SHORT_BINBYTES";
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        opName = "BINBYTES8";
        stack.push(take(u64()).slice());
        break;
      case 0x96: // BYTEARRAY8
        opName = "BYTEARRAY8";
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        opName = "TUPLE";
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        opName = "TUPLE1";
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        opName = "TUPLE2";
        const b = pop(), a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        opName = "TUPLE3";
        const c = pop(), b = pop(), a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        opName = "LIST";
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        opName = "APPEND";
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: { // APPENDS
        opName = "APPENDS";
        const items = popMark();
        const list = asList(top());
        for (const v of items) list.push(v); // not push(...items): a crafted mark may hold millions
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        opName = "DICT";
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        opName = "SETITEM";
        const v = pop(), k = pop();
        asMap(top()).set(k, v);
        break;
      }
      case 0x75: { // SETITEMS
        opName = "SETITEMS";
        const items = popMark();
        setItems(asMap(top()), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        opName = "ADDITEMS";
        const items = popMark();
        const s = asSet(top());
        for (const v of items) s.add(v);
        break;
      }
      case 0x91: // FROZENSET
        opName = "FROZENSET";
        stack.push(new Set(popMark()));
        break;
      case 0x63: { // GLOBAL: "module\nname\n"
        opName = "GLOBAL";
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        opName = "STACK_GLOBAL";
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("module and name must be strings");
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x69: { // INST: "module\nname\n", arguments since the mark
        opName = "INST";
        const module = line();
        const cls = resolve(module, line());
        stack.push(call(cls, popMark()));
        break;
      }
      case 0x6f: { // OBJ: class and arguments since the mark
        opName = "OBJ";
        const items = popMark();
        if (items.length === 0) fail("no class");
        stack.push(call(items[0], items.slice(1)));
        break;
      }
      case 0x52: { // REDUCE
        opName = "REDUCE";
        const args = pop();
        const f = pop();
        stack.push(call(f, args));
        break;
      }
      case 0x81: { // NEWOBJ
        opName = "NEWOBJ";
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        opName = "NEWOBJ_EX";
        const kwargs = pop(), args = pop(), cls = pop();
        stack.push(call(cls, args, asMap(kwargs)));
        break;
      }
      case 0x62: { // BUILD
        opName = "BUILD";
        const state = pop();
        const target = top();
        if (target instanceof PickleObject) target.state = state;
        else if (options.build) {
          try {
            options.build(target, state);
          } catch (e) {
            fail((e as Error).message);
          }
        }
        break;
      }
      case 0x70: // PUT
        opName = "PUT";
        memo.set(Number(parseInteger(line())), top());
        break;
      case 0x71: // BINPUT
        opName = "BINPUT";
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        opName = "LONG_BINPUT";
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        opName = "MEMOIZE";
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        opName = "GET";
        stack.push(getMemo(Number(parseInteger(line()))));
        break;
      case 0x68: // BINGET
        opName = "BINGET";
        stack.push(getMemo(u8()));
        break;
      case 0x6a: // LONG_BINGET
        opName = "LONG_BINGET";
        stack.push(getMemo(u32()));
        break;
      case 0x50: // PERSID: an ASCII id
        opName = "PERSID";
        stack.push(persistent(line()));
        break;
      case 0x51: // BINPERSID
        opName = "BINPERSID";
        stack.push(persistent(pop()));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        opName = "EXT";
        fail("copyreg extension codes are not supported");
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        opName = code === 0x97 ? "NEXT_BUFFER" : "READONLY_BUFFER";
        fail("out-of-band buffers (pickle protocol 5) are not supported");
        break;
      default:
        fail(
          `unknown or unsupported opcode 0x${code.toString(16).padStart(2, "0")} (not a pickle, or corrupt)`,
        );
    }
  }
}
