/**
 * PyTorch checkpoints (`torch.save` files: `.pth`, `.pt`, `.bin`, `.pth.tar`) read without Python, in
 * both formats `torch.save` writes:
 *
 * - the zip format (torch ≥ 1.6): `<archive>/data.pkl` is the pickled object, each storage the entry
 *   `<archive>/data/<key>`; a `<archive>/byteorder` entry of `big` is refused;
 * - the legacy format (`_use_new_zipfile_serialization=False`, and torch < 1.6): consecutive pickles of
 *   the magic number, the protocol version 1001, the system info and the object, then a pickled list of
 *   storage keys, then per key an 8-byte little-endian element count and the raw bytes.
 *
 * The pickles run on the safe VM of `pickle.ts`, and nothing in them is ever executed. Globals are
 * whitelisted: tensor rebuilding (`torch._utils._rebuild_tensor_v2`, `_rebuild_tensor_v3`,
 * `_rebuild_parameter`, …), storage classes and dtypes, `collections.OrderedDict`, `torch.Size`, sets,
 * bytes and numpy scalars are decoded; a few data classes (numpy arrays and dtypes, `argparse.Namespace`,
 * `torch.nn` modules, `torch.device`, …) stay opaque `PickleObject`s; any other global (`os.system`,
 * `builtins.eval`, a user's own class) is an `InputError` unless `allowGlobals` names it.
 *
 * Tensors are `HostTensor`s as the safetensors reader makes them (F64/F32/F16/BF16 → `Float32Array`,
 * integers and bool → `Int32Array`, int64 range-checked, the source dtype kept). Their layout (storage
 * offset, size and strides against the storage's length) is checked when the file is read; the values
 * are decoded when `data` is first read, so optimiser state that is never used costs no decoding. A
 * strided view (a transposed tensor, a slice sharing a storage, an expanded tensor) is copied into C
 * order.
 * @module
 */

import { InputError } from "./errors.ts";
import { isZip, readZip, type ZipArchive, zipEntryBytes } from "./zip_reader.ts";
import { describePickled, type PickleCallable, PickleGlobal, PickleObject, unpickle } from "./pickle.ts";
import {
  decodeSafetensorsTensor,
  DTYPE_SIZE,
  f16BitsToF32,
  type HostTensor,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from "./safetensors.ts";

export { PickleGlobal, PickleObject } from "./pickle.ts";

/** Options of `readTorchCheckpoint`. */
export interface TorchCheckpointOptions {
  /** The file name used in errors when reading bytes (default `"<checkpoint bytes>"`). */
  name?: string;
  /**
   * Further globals that may appear in the checkpoint, kept as opaque `PickleObject`s (never called):
   * `"module.Name"` for one, `"module"` or `"module.*"` for a whole module — e.g. the classes of a pickled
   * whole model (`torch.save(model)`). Everything outside the built-in whitelist and this list is refused.
   */
  allowGlobals?: readonly string[];
}

/** A state dict found inside a decoded checkpoint by `findStateDict`. */
export interface TorchStateDict {
  /** Dot path of the state dict inside the checkpoint (`""` when the checkpoint is the state dict). */
  key: string;
  /** Tensors by name, in checkpoint order, with the prefix removed. */
  tensors: Map<string, HostTensor>;
  /** The prefix that was removed (`""` when none was). */
  strippedPrefix: string;
  /** How many names had the prefix. */
  stripped: number;
  /** Other state dicts beside the chosen one (their dot paths), when one was preferred by its name. */
  alternatives: string[];
}

/** Options of `findStateDict`. */
export interface FindStateDictOptions {
  /** The file name used in errors (default `"<checkpoint>"`). */
  name?: string;
  /** Removed from every name that starts with it (default `"module."`, DataParallel's); `""` keeps names. */
  stripPrefix?: string;
}

const ELEMENT_SIZE = DTYPE_SIZE;
// Storage classes (`torch.FloatStorage`, and `torch.cuda.*` for tensors saved from a GPU: same bytes).
const STORAGE_DTYPES: Record<string, SafetensorsDtype> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
  UntypedStorage: "U8", // torch ≥ 2: bytes (with `_rebuild_tensor_v3`, or a storage saved on its own)
};
// torch.<dtype> objects (pickled by name): those posegpu decodes, and known ones it does not.
const TORCH_DTYPES: Record<string, SafetensorsDtype | null> = {
  float32: "F32",
  float: "F32",
  float64: "F64",
  double: "F64",
  float16: "F16",
  half: "F16",
  bfloat16: "BF16",
  int64: "I64",
  long: "I64",
  int32: "I32",
  int: "I32",
  int16: "I16",
  short: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
  uint16: null,
  uint32: null,
  uint64: null,
  complex32: null,
  chalf: null,
  complex64: null,
  cfloat: null,
  complex128: null,
  cdouble: null,
  float8_e4m3fn: null,
  float8_e5m2: null,
  float8_e4m3fnuz: null,
  float8_e5m2fnuz: null,
  qint8: null,
  quint8: null,
  qint32: null,
  quint4x2: null,
};
// Tensor kinds torch can save that posegpu cannot hold: refused with what they are.
const UNSUPPORTED: Record<string, string> = {
  "torch._utils._rebuild_qtensor": "quantized tensors are not supported",
  "torch._utils._rebuild_sparse_tensor": "sparse tensors are not supported",
  "torch._utils._rebuild_sparse_csr_tensor": "sparse tensors are not supported",
  "torch._utils._rebuild_nested_tensor": "nested tensors are not supported",
  "torch._utils._rebuild_meta_tensor_no_storage": "meta tensors carry no values",
  "torch._utils._rebuild_wrapper_subclass": "tensor wrapper subclasses are not supported",
  "torch._utils._rebuild_device_tensor_from_numpy": "device (XLA/MLC) tensors are not supported",
  "torch._utils._rebuild_device_tensor_from_cpu_tensor": "device tensors are not supported",
  "torch._utils._rebuild_xla_tensor": "XLA tensors are not supported",
  "torch._utils._rebuild_mlc_tensor": "MLC tensors are not supported",
  "torch.storage._load_from_bytes": "a storage pickled outside torch.save's storage records is not supported",
};
// Data classes that may appear and stay opaque objects (never called): exact names, then module prefixes.
const OPAQUE_GLOBALS = new Set([
  "argparse.Namespace",
  "types.SimpleNamespace",
  "builtins.object",
  "builtins.int",
  "builtins.float",
  "builtins.str",
  "builtins.bool",
  "builtins.complex",
  "builtins.slice",
  "builtins.range",
  "datetime.datetime",
  "datetime.date",
  "datetime.time",
  "datetime.timedelta",
  "datetime.timezone",
  "pathlib.Path",
  "pathlib.PosixPath",
  "pathlib.WindowsPath",
  "torch.device",
  "torch.Tensor",
  "torch._tensor.Tensor",
  "torch.strided",
  "torch.contiguous_format",
  "torch.channels_last",
  "torch.preserve_format",
  "numpy.ndarray",
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct",
  "numpy.core.numeric._frombuffer",
  "numpy._core.numeric._frombuffer",
]);
const OPAQUE_PREFIXES = ["torch.nn.", "torch.optim.", "numpy.random.", "numpy.dtypes."];
// Python 2 module names, as Python 3's unpickler maps them (fix_imports).
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
// Top-level names that say "the model's weights", in order of preference when several state dicts exist.
const PREFERRED_KEYS = ["state_dict", "model_state_dict", "model", "model_pos", "net", "network", "weights"];

/** A storage class named by a pickle (`torch.FloatStorage`); `dtype` null when posegpu cannot decode it. */
class StorageType {
  constructor(readonly name: string, readonly dtype: SafetensorsDtype | null) {}
}

/** A `torch.<dtype>` object; `dtype` null when posegpu cannot decode it. */
class TorchDtype {
  constructor(readonly name: string, readonly dtype: SafetensorsDtype | null) {}
}

/** One storage of the checkpoint: its bytes arrive after the pickle has been read. */
class Storage {
  bytes: Uint8Array | null = null;
  constructor(readonly key: string, readonly dtype: SafetensorsDtype, readonly numel: number) {}
}

/** What a persistent id resolves to: a storage, or (legacy views) a window of one, in its elements. */
interface StorageRef {
  storage: Storage;
  offset: number;
  numel: number;
}

/** A tensor of a checkpoint: shape and dtype known, values decoded on first read of `data`. */
class TorchTensor implements HostTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  #data: Float32Array | Int32Array | null = null;
  #decode: (() => Float32Array | Int32Array) | null = null;
  constructor(dtype: SafetensorsDtype, shape: number[]) {
    this.dtype = dtype;
    this.shape = shape;
  }
  setDecoder(decode: () => Float32Array | Int32Array): void {
    this.#decode = decode;
  }
  get data(): Float32Array | Int32Array {
    if (this.#data === null) {
      if (!this.#decode) throw new Error("torch checkpoint tensor read before its storage");
      this.#data = this.#decode();
      this.#decode = null;
    }
    return this.#data;
  }
  set data(value: Float32Array | Int32Array) {
    this.#data = value;
    this.#decode = null;
  }
}

/** A tensor waiting for its storage's bytes. */
interface PendingTensor {
  tensor: TorchTensor;
  ref: StorageRef;
  /** Storage offset in elements of the tensor's dtype. */
  offset: number;
  stride: number[];
}

/** numpy's dtype object as pickled (`numpy.dtype('f8', False, True)` plus a BUILD of the byte order). */
class NumpyDtype {
  byteorder = "=";
  constructor(readonly code: string) {}
}

/** Whether `x` is a `HostTensor` (as found in a decoded checkpoint, or made by the safetensors reader). */
export function isHostTensor(x: unknown): x is HostTensor {
  if (x instanceof TorchTensor) return true;
  if (typeof x !== "object" || x === null || x instanceof PickleObject || x instanceof Map) return false;
  const t = x as HostTensor;
  return typeof t.dtype === "string" && Array.isArray(t.shape) &&
    (t.data instanceof Float32Array || t.data instanceof Int32Array);
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

function countList(x: unknown, what: string): number[] {
  if (!Array.isArray(x) || !x.every(isCount)) {
    throw new Error(`${what} must be a tuple of non-negative integers, got ${describePickled(x)}`);
  }
  return x as number[];
}

function setFrom(a: unknown[]): Set<unknown> {
  return new Set(Array.isArray(a[0]) ? a[0] : a[0] instanceof Set ? [...a[0]] : []);
}

function latin1Bytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new Error(`${what}: character U+${c.toString(16)} is not latin-1`);
    out[i] = c;
  }
  return out;
}

/** The decoding side of the pickle: globals, persistent ids and the tensors they make. */
class Loader {
  readonly storages = new Map<string, Storage>();
  readonly pending: PendingTensor[] = [];
  readonly #allow: readonly string[];

  constructor(readonly file: string, allow: readonly string[] = []) {
    this.#allow = allow;
  }

  findClass = (rawModule: string, name: string): unknown => {
    const module = PY2_MODULES[rawModule] ?? rawModule;
    const full = `${module}.${name}`;
    if (
      ((module === "torch" || module === "torch.cuda") && name.endsWith("Storage")) ||
      full === "torch.storage.UntypedStorage"
    ) {
      return new StorageType(full, Object.hasOwn(STORAGE_DTYPES, name) ? STORAGE_DTYPES[name] : null);
    }
    if (module === "torch" && Object.hasOwn(TORCH_DTYPES, name)) {
      return new TorchDtype(full, TORCH_DTYPES[name]);
    }
    if (Object.hasOwn(this.callables, full)) return this.callables[full];
    if (Object.hasOwn(UNSUPPORTED, full)) {
      const why = UNSUPPORTED[full];
      return () => {
        throw new Error(`${why} (${full})`);
      };
    }
    if (
      OPAQUE_GLOBALS.has(full) || OPAQUE_PREFIXES.some((p) => full.startsWith(p)) ||
      this.#allow.some((a) => a === full || a === module || a === `${module}.*`)
    ) {
      return undefined; // an opaque PickleGlobal: calling it records the arguments, nothing runs
    }
    throw new Error(
      `global ${full} is not allowed: a checkpoint may hold tensors, containers, numbers, strings and a few ` +
        `known data classes, and posegpu never runs code from one (if ${full} is a class the file merely ` +
        `stores, e.g. of a pickled whole model, allow it with allowGlobals / --allow-global ${full})`,
    );
  };

  private readonly callables: Record<string, PickleCallable> = {
    "torch._utils._rebuild_tensor_v2": (a) => this.rebuildTensor(a, null),
    "torch._utils._rebuild_tensor": (a) => this.rebuildTensor(a, null),
    "torch._utils._rebuild_tensor_v3": (a) => this.rebuildTensor(a, a[6]),
    "torch._utils._rebuild_parameter": (a) => a[0],
    "torch._utils._rebuild_parameter_with_state": (a) => a[0],
    // Tensor subclasses and tensors with attributes: (func, type, args, state) → func(*args).
    "torch._tensor._rebuild_from_type_v2": (a) => callInner(a),
    "torch._utils._rebuild_from_type_v2": (a) => callInner(a),
    "torch._utils._rebuild_from_type": (a) => callInner(a),
    "collections.OrderedDict": (a) => new Map(Array.isArray(a[0]) ? (a[0] as [unknown, unknown][]) : []),
    // defaultdict(factory): its items follow by SETITEMS; the factory is not needed to read them.
    "collections.defaultdict": () => new Map(),
    "torch.Size": (a) => (Array.isArray(a[0]) ? [...a[0]] : []),
    "builtins.set": setFrom,
    "builtins.frozenset": setFrom,
    "builtins.list": (a) => (Array.isArray(a[0]) ? [...a[0]] : []),
    "builtins.tuple": (a) => (Array.isArray(a[0]) ? [...a[0]] : []),
    "builtins.dict": (a) => (a[0] instanceof Map ? new Map(a[0]) : new Map()),
    // Protocol 2 pickles bytes and bytearrays as a latin-1 text (or a list of byte values).
    "builtins.bytes": (a) => bytesArg(a, "bytes"),
    "builtins.bytearray": (a) => bytesArg(a, "bytearray"),
    "_codecs.encode": (a) => {
      if (typeof a[0] !== "string" || !/^latin[-_]?1$/i.test(String(a[1]))) {
        throw new Error(
          `_codecs.encode of ${describePickled(a[0])} as ${describePickled(a[1])} is not supported`,
        );
      }
      return latin1Bytes(a[0], "_codecs.encode");
    },
    // Protocol 0/1 objects: _reconstructor(cls, base, state); protocol 2 NEWOBJ is handled by the VM.
    "copyreg._reconstructor": (a) => {
      const [cls, base] = a;
      if (base === this.callables["builtins.dict"]) return new Map();
      if (base === this.callables["builtins.list"]) return [];
      if (cls instanceof PickleGlobal) return new PickleObject(cls.module, cls.name, []);
      throw new Error(`cannot reconstruct ${describePickled(cls)}`);
    },
    "copyreg.__newobj__": (a) => {
      const [cls, ...args] = a;
      if (cls instanceof PickleGlobal) return new PickleObject(cls.module, cls.name, args);
      if (typeof cls === "function") return (cls as PickleCallable)(args);
      throw new Error(`cannot create ${describePickled(cls)}`);
    },
    "numpy.dtype": (a) => new NumpyDtype(String(a[0])),
    "numpy.core.multiarray.scalar": (a) => numpyScalar(a),
    "numpy._core.multiarray.scalar": (a) => numpyScalar(a),
  };

  /** BUILD on values that are not opaque objects: numpy dtypes take their byte order, the rest is dropped. */
  build = (target: unknown, state: unknown): void => {
    if (target instanceof NumpyDtype && Array.isArray(state) && typeof state[1] === "string") {
      target.byteorder = state[1];
    }
    // A module's state_dict() OrderedDict carries `_metadata` (module versions) as an attribute: not needed.
  };

  /** Resolves a storage persistent id of either format. */
  storageRef(pid: unknown, legacy: boolean): StorageRef | unknown {
    if (!Array.isArray(pid) || pid.length < 1) throw new Error(`bad persistent id ${describePickled(pid)}`);
    if (legacy && pid[0] === "module") return pid[1]; // a whole nn.Module was saved: its class
    if (pid[0] !== "storage" || pid.length < 5) {
      throw new Error(`unsupported persistent id ${describePickled(pid)} (expected a storage)`);
    }
    const [, type, key, , size] = pid;
    const view = legacy ? pid[5] : null;
    const dtype = storageDtype(type);
    if (typeof key !== "string") throw new Error(`storage key must be a string, got ${describePickled(key)}`);
    if (!isCount(size)) throw new Error(`storage ${JSON.stringify(key)}: bad size ${describePickled(size)}`);
    let storage = this.storages.get(key);
    if (!storage) this.storages.set(key, storage = new Storage(key, dtype, size));
    else if (storage.dtype !== dtype || storage.numel !== size) {
      throw new Error(
        `storage ${
          JSON.stringify(key)
        } is recorded as ${storage.numel} × ${storage.dtype} and as ${size} × ${dtype}`,
      );
    }
    if (view === null || view === undefined) return { storage, offset: 0, numel: size };
    // Legacy storage views (torch < 1.0): (view_key, offset, view_size) into the root storage, in elements.
    if (!Array.isArray(view) || !isCount(view[1]) || !isCount(view[2]) || view[1] + view[2] > size) {
      throw new Error(`storage ${JSON.stringify(key)}: bad view ${describePickled(view)}`);
    }
    return { storage, offset: view[1], numel: view[2] };
  }

  /**
   * `_rebuild_tensor_v2(storage, offset, size, stride, …)` (and v1, and v3 with its dtype as a7): the
   * tensor, its layout checked and its data decoded once the storages have their bytes.
   */
  private rebuildTensor(a: unknown[], v3Dtype: unknown): HostTensor {
    const [ref, offset, size, stride] = a;
    if (typeof ref !== "object" || ref === null || !((ref as StorageRef).storage instanceof Storage)) {
      throw new Error(`tensor storage must be a storage, got ${describePickled(ref)}`);
    }
    if (!isCount(offset)) throw new Error(`tensor storage offset must be a non-negative integer`);
    const shape = countList(size, "tensor size").slice();
    const strides = countList(stride, "tensor stride").slice();
    if (strides.length !== shape.length) {
      throw new Error(`tensor size [${shape}] and stride [${strides}] differ in length`);
    }
    const r = ref as StorageRef;
    let dtype = r.storage.dtype;
    if (v3Dtype !== null) {
      if (!(v3Dtype instanceof TorchDtype)) {
        throw new Error(`tensor dtype must be a torch dtype, got ${describePickled(v3Dtype)}`);
      }
      if (v3Dtype.dtype === null) throw new Error(`tensor dtype ${v3Dtype.name} is not supported`);
      dtype = v3Dtype.dtype;
    }
    const tensor = new TorchTensor(dtype, shape);
    this.pending.push({ tensor, ref: r, offset, stride: strides });
    return tensor;
  }

  /** Checks every tensor's layout against its storage and sets up its decoding (names from `root`). */
  finish(root: unknown): void {
    const paths = this.pending.length > 0 ? tensorPaths(root) : new Map<unknown, string>();
    for (const p of this.pending) {
      const name = paths.get(p.tensor) ?? "<tensor>";
      const fail = (detail: string): never => {
        throw new InputError(`${this.file}: tensor ${JSON.stringify(name)}: ${detail}`);
      };
      const { storage } = p.ref;
      if (!storage.bytes) fail(`storage ${JSON.stringify(storage.key)} has no data`);
      const bytes = storage.bytes!;
      const { shape } = p.tensor;
      const { stride } = p;
      const es = ELEMENT_SIZE[p.tensor.dtype];
      const numel = shape.reduce((x, y) => x * y, 1);
      if (!Number.isSafeInteger(numel * es) || numel > 2 ** 32) {
        fail(`size [${shape}] has ${numel} elements, more than posegpu holds`);
      }
      // Bytes of the storage (or legacy view) this tensor may read, and where it starts.
      const ses = ELEMENT_SIZE[storage.dtype];
      const windowStart = p.ref.offset * ses;
      const windowEnd = windowStart + p.ref.numel * ses;
      const base = windowStart + p.offset * es;
      let last = 0;
      for (let i = 0; i < shape.length; i++) if (shape[i] > 0) last += (shape[i] - 1) * stride[i];
      if (numel > 0 && base + (last + 1) * es > windowEnd) {
        fail(
          `size [${shape}], stride [${stride}] at storage offset ${p.offset} reach past the end of its ` +
            `${p.ref.numel}-element ${storage.dtype} storage ${JSON.stringify(storage.key)}`,
        );
      }
      const file = this.file;
      const dtype = p.tensor.dtype;
      p.tensor.setDecoder(() => {
        try {
          const raw = isContiguous(shape, stride)
            ? bytes.subarray(base, base + numel * es)
            : gather(bytes, base, shape, stride, es, numel);
          const header: SafetensorsHeader = {
            metadata: {},
            entries: new Map([[name, { dtype, shape, begin: 0, end: raw.length }]]),
            dataOffset: 0,
          };
          return decodeSafetensorsTensor(raw, header, name, { name: file }).data;
        } catch (e) {
          if (e instanceof InputError) throw e;
          // An expanded (stride 0) view can be far larger than its storage: no memory for it.
          throw new InputError(
            `${file}: tensor ${JSON.stringify(name)}: size [${shape}] cannot be held (${
              (e as Error).message
            })`,
            { cause: e },
          );
        }
      });
    }
  }
}

function storageDtype(type: unknown): SafetensorsDtype {
  if (type instanceof StorageType || type instanceof TorchDtype) {
    if (type.dtype === null) throw new Error(`storage type ${type.name} is not supported`);
    return type.dtype;
  }
  throw new Error(`unknown storage type ${describePickled(type)}`);
}

function bytesArg(a: unknown[], what: string): Uint8Array {
  const [x, encoding] = a;
  if (x === undefined) return new Uint8Array(0);
  if (x instanceof Uint8Array) return x.slice();
  if (typeof x === "string" && (encoding === undefined || /^latin[-_]?1$/i.test(String(encoding)))) {
    return latin1Bytes(x, what);
  }
  if (Array.isArray(x) && x.every((v) => isCount(v) && v < 256)) return Uint8Array.from(x as number[]);
  throw new Error(`${what}(${describePickled(x)}) is not supported`);
}

function callInner(a: unknown[]): unknown {
  const [f, , args] = a;
  if (typeof f !== "function" || !Array.isArray(args)) {
    throw new Error(`cannot rebuild ${describePickled(f)} (a tensor subclass posegpu does not know)`);
  }
  return (f as PickleCallable)(args);
}

function numpyScalar(a: unknown[]): unknown {
  const [dtype, bytes] = a;
  const opaque = new PickleObject("numpy.core.multiarray", "scalar", a);
  if (!(dtype instanceof NumpyDtype) || !(bytes instanceof Uint8Array) || dtype.byteorder === ">") {
    return opaque;
  }
  const kinds: Record<string, [number, (dv: DataView) => number | bigint | boolean]> = {
    f2: [2, (d) => f16BitsToF32(d.getUint16(0, true))],
    f4: [4, (d) => d.getFloat32(0, true)],
    f8: [8, (d) => d.getFloat64(0, true)],
    i1: [1, (d) => d.getInt8(0)],
    i2: [2, (d) => d.getInt16(0, true)],
    i4: [4, (d) => d.getInt32(0, true)],
    i8: [8, (d) => safeInt(d.getBigInt64(0, true))],
    u1: [1, (d) => d.getUint8(0)],
    u2: [2, (d) => d.getUint16(0, true)],
    u4: [4, (d) => d.getUint32(0, true)],
    u8: [8, (d) => safeInt(d.getBigUint64(0, true))],
    b1: [1, (d) => d.getUint8(0) !== 0],
  };
  const kind = Object.hasOwn(kinds, dtype.code) ? kinds[dtype.code] : undefined;
  if (!kind || bytes.length !== kind[0]) return opaque;
  return kind[1](new DataView(bytes.buffer, bytes.byteOffset, bytes.length));
}

function safeInt(v: bigint): number | bigint {
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 0) return true;
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Copies a strided view's elements (raw bytes, `es` each) into C order. */
function gather(
  bytes: Uint8Array,
  base: number,
  shape: number[],
  stride: number[],
  es: number,
  numel: number,
): Uint8Array {
  const out = new Uint8Array(numel * es);
  if (numel === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    out.set(bytes.subarray(base, base + es));
    return out;
  }
  const inner = shape[nd - 1], step = stride[nd - 1] * es;
  const idx = new Array<number>(nd).fill(0);
  let src = base, o = 0;
  for (let row = 0; row < numel / inner; row++) {
    for (let i = 0, s = src; i < inner; i++, s += step) {
      for (let b = 0; b < es; b++) out[o++] = bytes[s + b];
    }
    // Next row: advance the outer indices like an odometer.
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        src += stride[d] * es;
        break;
      }
      src -= (shape[d] - 1) * stride[d] * es;
      idx[d] = 0;
    }
  }
  return out;
}

/** Walks a decoded tree, calling `visit(value, path)` once per container or tensor (shared ones once). */
function walk(root: unknown, visit: (value: unknown, path: string) => void): void {
  const seen = new Set<unknown>();
  const stack: Array<[unknown, string]> = [[root, ""]];
  const join = (path: string, k: unknown) => (path === "" ? String(k) : `${path}.${String(k)}`);
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v !== "object" || v === null || seen.has(v)) continue;
    seen.add(v);
    visit(v, path);
    if (v instanceof TorchTensor) continue;
    const children: Array<[unknown, string]> = [];
    if (v instanceof Map) { for (const [k, x] of v) children.push([x, join(path, k)]); }
    else if (Array.isArray(v)) v.forEach((x, i) => children.push([x, join(path, i)]));
    else if (v instanceof Set) [...v].forEach((x, i) => children.push([x, join(path, i)]));
    else if (v instanceof PickleObject) {
      v.args.forEach((x, i) => children.push([x, join(path, `args.${i}`)]));
      children.push([v.state, path]);
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
}

function tensorPaths(root: unknown): Map<unknown, string> {
  const out = new Map<unknown, string>();
  walk(root, (v, path) => {
    if (v instanceof TorchTensor) out.set(v, path || "<root>");
  });
  return out;
}

function notCheckpoint(file: string, why: string): InputError {
  return new InputError(`${file}: not a PyTorch checkpoint (${why})`);
}

/** The archive's folder (`archive`, or the saved file's stem) holding `data.pkl`. */
function archivePrefix(archive: ZipArchive, file: string): string {
  const names = [...archive.entries.keys()];
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl) return pkl.slice(0, pkl.indexOf("/"));
  const shown = names.slice(0, 5).map((s) => JSON.stringify(s)).join(", ");
  if (names.some((n) => /^[^/]+\/(code\/|constants\.pkl$)/.test(n))) {
    throw notCheckpoint(file, "a TorchScript archive (torch.jit.save) without data.pkl");
  }
  throw notCheckpoint(file, `a zip archive without <folder>/data.pkl; it holds ${shown || "nothing"}`);
}

async function readZipFormat(bytes: Uint8Array, file: string, allow: readonly string[]): Promise<unknown> {
  const archive = readZip(bytes, { name: file });
  const prefix = archivePrefix(archive, file);
  if (
    archive.entries.has(`${prefix}/constants.pkl`) ||
    [...archive.entries.keys()].some((n) => n.startsWith(`${prefix}/code/`))
  ) {
    throw notCheckpoint(
      file,
      "a TorchScript archive (torch.jit.save): save the model's state_dict() with torch.save and convert that",
    );
  }
  const order = archive.entries.get(`${prefix}/byteorder`);
  if (order) {
    const text = new TextDecoder().decode(await zipEntryBytes(archive, order)).trim();
    if (text !== "little") {
      throw new InputError(
        `${file}: saved with byte order ${JSON.stringify(text)}; only little-endian is supported`,
      );
    }
  }
  const pkl = `${prefix}/data.pkl`;
  const loader = new Loader(file, allow);
  const { value } = unpickle(await zipEntryBytes(archive, pkl), {
    name: `${file}: ${pkl}`,
    findClass: loader.findClass,
    build: loader.build,
    persistentLoad: (pid) => loader.storageRef(pid, false),
  });
  for (const s of loader.storages.values()) {
    const name = `${prefix}/data/${s.key}`;
    const entry = archive.entries.get(name);
    if (!entry) {
      throw new InputError(`${file}: storage ${JSON.stringify(s.key)} has no entry ${JSON.stringify(name)}`);
    }
    const data = await zipEntryBytes(archive, entry);
    const need = s.numel * ELEMENT_SIZE[s.dtype];
    if (data.length < need) {
      throw new InputError(
        `${file}: entry ${
          JSON.stringify(name)
        } holds ${data.length} bytes, its ${s.numel}-element ${s.dtype} storage needs ${need}`,
      );
    }
    s.bytes = data;
  }
  loader.finish(value);
  return value;
}

function readLegacyFormat(bytes: Uint8Array, file: string, allow: readonly string[]): unknown {
  const next = (offset: number, what: string, extra: Parameters<typeof unpickle>[1] = {}) => {
    try {
      return unpickle(bytes, { ...extra, name: file, offset });
    } catch (e) {
      if (e instanceof InputError && offset === 0) {
        throw notCheckpoint(file, e.message.replace(`${file}: `, ""));
      }
      throw e instanceof InputError ? new InputError(`${e.message} (reading the ${what})`, { cause: e }) : e;
    }
  };
  const magic = next(0, "magic number");
  if (magic.value !== LEGACY_MAGIC) {
    throw notCheckpoint(file, `neither a zip archive nor a legacy torch.save file: no magic number`);
  }
  const version = next(magic.end, "protocol version");
  if (version.value !== LEGACY_PROTOCOL) {
    throw new InputError(`${file}: legacy protocol version ${describePickled(version.value)}, expected 1001`);
  }
  const info = next(version.end, "system info");
  if (info.value instanceof Map && info.value.get("little_endian") === false) {
    throw new InputError(`${file}: saved on a big-endian machine; only little-endian is supported`);
  }
  const loader = new Loader(file, allow);
  const obj = next(info.end, "checkpoint object", {
    findClass: loader.findClass,
    build: loader.build,
    persistentLoad: (pid) => loader.storageRef(pid, true),
  });
  const keys = next(obj.end, "storage keys");
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    throw new InputError(
      `${file}: the storage key list is ${describePickled(keys.value)}, not a list of strings`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const s = loader.storages.get(key);
    if (!s) throw new InputError(`${file}: storage ${JSON.stringify(key)} is listed but no tensor uses it`);
    if (at + 8 > bytes.length) {
      throw new InputError(`${file}: truncated: storage ${JSON.stringify(key)} has no size at byte ${at}`);
    }
    const count = dv.getBigUint64(at, true);
    if (count !== BigInt(s.numel)) {
      throw new InputError(
        `${file}: storage ${JSON.stringify(key)} records ${count} elements, the pickle ${s.numel}`,
      );
    }
    const n = s.numel * ELEMENT_SIZE[s.dtype];
    if (at + 8 + n > bytes.length) {
      throw new InputError(
        `${file}: truncated: storage ${JSON.stringify(key)} needs bytes [${at + 8}, ${
          at + 8 + n
        }) of ${bytes.length}`,
      );
    }
    s.bytes = bytes.subarray(at + 8, at + 8 + n);
    at += 8 + n;
  }
  for (const s of loader.storages.values()) {
    if (!s.bytes) throw new InputError(`${file}: storage ${JSON.stringify(s.key)} is missing from the file`);
  }
  loader.finish(obj.value);
  return obj.value;
}

/** Whether `bytes` look like a safetensors file (8-byte header length, then a JSON object). */
function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10 || bytes[8] !== 0x7b) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - 8);
}

/**
 * Reads a `torch.save` file (a path, or its bytes) into its decoded object tree: dicts are `Map`s,
 * tuples and lists arrays, tensors `HostTensor`s, allowed data classes opaque `PickleObject`s. Globals
 * outside the whitelist (see the module documentation and `options.allowGlobals`) are refused, and
 * nothing is executed. Malformed, truncated, corrupt (CRC) or foreign files are `InputError`s naming
 * the file (and the tensor, storage, zip entry or pickle offset at fault).
 *
 * ```ts ignore
 * import { findStateDict, readTorchCheckpoint } from "@posegpu/posegpu/engine";
 * const tree = await readTorchCheckpoint("checkpoint.pth.tar");
 * const { tensors } = findStateDict(tree, "model_pos");
 * console.log(tensors.get("shrink.weight")?.shape);
 * ```
 */
export async function readTorchCheckpoint(
  input: string | Uint8Array,
  options: TorchCheckpointOptions = {},
): Promise<unknown> {
  let bytes: Uint8Array;
  let file: string;
  if (typeof input === "string") {
    file = input;
    try {
      bytes = await Deno.readFile(input);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new InputError(`${input}: no such file`, { cause: e });
      if (e instanceof Deno.errors.IsADirectory) {
        throw new InputError(`${input}: is a directory`, { cause: e });
      }
      if (e instanceof Deno.errors.PermissionDenied) {
        throw new InputError(`${input}: permission denied`, { cause: e });
      }
      throw e;
    }
  } else {
    bytes = input;
    file = options.name ?? "<checkpoint bytes>";
  }
  const allow = options.allowGlobals ?? [];
  if (bytes.length === 0) throw notCheckpoint(file, "the file is empty");
  if (isZip(bytes)) return await readZipFormat(bytes, file, allow);
  if (bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar") {
    throw new InputError(`${file}: a tar checkpoint (torch < 0.4); re-save it with a newer torch`);
  }
  if (looksLikeSafetensors(bytes)) throw notCheckpoint(file, "it is a safetensors file already");
  return readLegacyFormat(bytes, file, allow);
}

/** The name→tensor map of `x` when it is one (a dict of only tensors, or a pickled whole `nn.Module`). */
function asStateDict(x: unknown): Map<string, HostTensor> | null {
  if (x instanceof Map) {
    if (x.size === 0) return null;
    for (const [k, v] of x) if (typeof k !== "string" || !isHostTensor(v)) return null;
    return x as Map<string, HostTensor>;
  }
  if (x instanceof PickleObject && x.state instanceof Map && x.state.get("_parameters") instanceof Map) {
    const out = new Map<string, HostTensor>();
    flattenModule(x, "", out, new Set());
    return out.size > 0 ? out : null;
  }
  return null;
}

/** A pickled `nn.Module`'s state dict: `_parameters`, persistent `_buffers`, then `_modules`, recursively. */
function flattenModule(
  m: PickleObject,
  prefix: string,
  out: Map<string, HostTensor>,
  seen: Set<unknown>,
): void {
  if (seen.has(m)) return; // a cycle (only a crafted file has one)
  seen.add(m);
  const state = m.state instanceof Map ? m.state : new Map();
  const skip = state.get("_non_persistent_buffers_set");
  for (const field of ["_parameters", "_buffers"]) {
    const d = state.get(field);
    if (!(d instanceof Map)) continue;
    for (const [k, v] of d) {
      if (isHostTensor(v) && !(field === "_buffers" && skip instanceof Set && skip.has(k))) {
        out.set(prefix + k, v);
      }
    }
  }
  const modules = state.get("_modules");
  if (modules instanceof Map) {
    for (const [k, v] of modules) {
      if (v instanceof PickleObject) flattenModule(v, `${prefix}${k}.`, out, seen);
    }
  }
}

/** Children of a container by their key as text (Map keys, list indices, an opaque object's state). */
function childEntries(x: unknown): Array<[string, unknown]> {
  if (x instanceof Map) return [...x].map(([k, v]) => [String(k), v]);
  if (Array.isArray(x)) return x.map((v, i) => [String(i), v]);
  if (x instanceof PickleObject) return childEntries(x.state);
  return [];
}

/**
 * The state dict inside a decoded checkpoint: at `key` (a dot path such as `model_pos` or `state_dict`)
 * when given; else the checkpoint itself when it is a flat name→tensor dict; else the one top-level value
 * that is (e.g. `state_dict`, `model`, `model_pos`, `model_state_dict`, `net`) — with several, the first
 * of `state_dict`, `model_state_dict`, `model`, `model_pos`, `net`, `network`, `weights` among them (the
 * others are listed in `alternatives`). None, or several without a preferred name, is an `InputError`
 * listing the keys. A pickled whole `nn.Module` counts as its state dict. `options.stripPrefix` (default
 * DataParallel's `module.`) is removed from every name that starts with it.
 */
export function findStateDict(
  tree: unknown,
  key?: string,
  options: FindStateDictOptions = {},
): TorchStateDict {
  const file = options.name ?? "<checkpoint>";
  const list = (x: unknown) => {
    const keys = childEntries(x).map(([k, v]) => `${JSON.stringify(k)} (${describeValue(v)})`);
    return keys.length === 0 ? "nothing" : keys.slice(0, 12).join(", ") + (keys.length > 12 ? ", …" : "");
  };
  let found: Map<string, HostTensor> | null;
  let path: string;
  let alternatives: string[] = [];
  if (key !== undefined && key !== "") {
    const parts = key.split(".");
    let node = tree;
    let at = "";
    while (parts.length > 0) {
      const entries = new Map(childEntries(node));
      let n = parts.length;
      while (n > 0 && !entries.has(parts.slice(0, n).join("."))) n--;
      if (n === 0) {
        throw new InputError(
          `${file}: no key ${JSON.stringify(parts.join("."))}${at ? ` in ${JSON.stringify(at)}` : ""}; ` +
            `it holds ${list(node)}`,
        );
      }
      const k = parts.splice(0, n).join(".");
      node = entries.get(k);
      at = at ? `${at}.${k}` : k;
    }
    found = asStateDict(node);
    if (!found) {
      throw new InputError(
        `${file}: ${JSON.stringify(key)} is ${describeValue(node)}, not a state dict of tensors` +
          (childEntries(node).length ? `; it holds ${list(node)}` : ""),
      );
    }
    path = key;
  } else if ((found = asStateDict(tree))) {
    path = "";
  } else {
    const candidates = childEntries(tree).filter(([, v]) => asStateDict(v) !== null);
    let chosen = candidates.length === 1 ? candidates[0] : undefined;
    if (candidates.length > 1) {
      const names = candidates.map(([k]) => k);
      const best = PREFERRED_KEYS.find((k) => names.includes(k));
      if (best !== undefined) {
        chosen = candidates.find(([k]) => k === best);
        alternatives = names.filter((k) => k !== best);
      }
    }
    if (!chosen) {
      const why = candidates.length === 0
        ? `no state dict of tensors at the top level or one level down; the top level holds ${list(tree)}`
        : `several state dicts: ${candidates.map(([k]) => JSON.stringify(k)).join(", ")}`;
      throw new InputError(`${file}: ${why} (choose one with a key, e.g. --key)`);
    }
    path = chosen[0];
    found = asStateDict(chosen[1])!;
  }
  const prefix = options.stripPrefix ?? "module.";
  const tensors = new Map<string, HostTensor>();
  let stripped = 0;
  for (const [name, t] of found) {
    const short = prefix !== "" && name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (short !== name) stripped++;
    if (tensors.has(short)) {
      throw new InputError(
        `${file}: ${JSON.stringify(name)} and another name both become ${
          JSON.stringify(short)
        } without the ` +
          `prefix ${JSON.stringify(prefix)}`,
      );
    }
    tensors.set(short, t);
  }
  return { key: path, tensors, strippedPrefix: stripped > 0 ? prefix : "", stripped, alternatives };
}

/** A short description of a decoded value (a tensor by dtype and shape). */
function describeValue(x: unknown): string {
  if (isHostTensor(x)) return `a ${x.dtype} tensor [${x.shape.join(", ")}]`;
  if (x instanceof Map) {
    const tensors = [...x.values()].filter(isHostTensor).length;
    return `a dict of ${x.size}${tensors > 0 && tensors < x.size ? `, ${tensors} of them tensors` : ""}`;
  }
  return describePickled(x);
}
