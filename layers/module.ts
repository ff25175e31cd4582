/**
 * `Module`: the base of every layer and model. A module owns named parameters and buffers (GPU
 * tensors), named child modules, and a train/eval mode; its state dict uses PyTorch's dotted names
 * (`linear_stages.0.w1.weight`), so checkpoints converted from the reference implementations load
 * unchanged.
 *
 * Two inference-only transforms live here because they span modules:
 * - derived tensors (`cached`): a weight transposed into the fast matmul layout, built once in eval mode
 *   and dropped when the weights may change (train(), loading, `invalidate()`);
 * - batch-norm folding (`foldBatchNorm`): an eval-mode BN folded into the Linear/Conv before it.
 * @module
 */

import { backend, batchNormFold, InputError, keep, readAll, type Tensor, tensor } from "../engine/mod.ts";
import type { HostTensor, SafetensorsDtype } from "../engine/safetensors.ts";
import { param } from "../engine/autograd.ts";

/** A state dict: PyTorch names to host tensors, in `state_dict()` order. */
export type StateDict = Map<string, HostTensor>;

/**
 * An integer buffer kept on the host: PyTorch's `num_batches_tracked` (an int64 scalar). It is a
 * counter the training loop reads on the CPU, so a GPU copy would only cost a readback.
 */
export class HostBuffer {
  /** The value. */
  value: number;
  /** Creates a counter with an initial value. */
  constructor(value = 0) {
    this.value = value;
  }
}

/** Options of `Module.loadStateDict`. */
export interface LoadStateDictOptions {
  /** Only keys starting with this prefix are read (the prefix is removed); others are ignored. */
  prefix?: string;
  /** Missing or unexpected keys are an error (default true). Wrong shapes are always an error. */
  strict?: boolean;
  /** Fold every eval-mode BatchNorm into the layer before it after loading (inference only). */
  fold?: boolean;
}

/** What `loadStateDict` did not match (always empty lists when strict). */
export interface LoadStateDictResult {
  /** Names the module expects that the state dict lacks. */
  missing: string[];
  /** Names in the state dict the module does not have. */
  unexpected: string[];
}

/** A layer whose weight (leading dimension = output channels) and bias a BatchNorm can fold into. */
export interface FoldableLayer {
  /** The weight `[out, ...]`. */
  readonly weight: Tensor;
  /** The bias `[out]`, or null. */
  readonly bias: Tensor | null;
  /** Installs folded weight and bias (host arrays in the weight's layout), used in eval mode. */
  setFolded(weight: Float32Array, bias: Float32Array): void;
  /** Drops the folded copies. */
  clearFolded(): void;
}

/** A normalisation that can be folded into the layer before it. */
export interface FoldableNorm {
  /** γ, or null without affine parameters. */
  readonly weight: Tensor | null;
  /** β, or null. */
  readonly bias: Tensor | null;
  /** Running mean. */
  readonly runningMean: Tensor;
  /** Running variance. */
  readonly runningVar: Tensor;
  /** ε. */
  readonly eps: number;
  /** Marks the norm as folded (identity in eval mode) or not. */
  setFolded(folded: boolean): void;
}

/** A (layer, norm) pair to fold, or a norm split over several layers by output-channel ranges. */
export interface FoldPair {
  /** The layers in output-channel order; each takes the next `weight.shape[0]` channels of the norm. */
  layers: FoldableLayer[];
  /** The norm that follows them. */
  norm: FoldableNorm;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

const FLOAT_DTYPES = new Set<SafetensorsDtype>(["F64", "F32", "F16", "BF16"]);

/** Base class of layers and models: named parameters, buffers and children; state dicts; modes. */
export abstract class Module {
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor | HostBuffer>();
  #children = new Map<string, Module>();
  #cache = new Map<string, Tensor>();
  #training = false;

  /**
   * Registers a trainable parameter: a gradient leaf (`param`, engine/autograd.ts) kept alive outside
   * `tidy` scopes until `dispose()`.
   */
  protected addParameter(name: string, t: Tensor): Tensor {
    this.#checkName(name);
    this.#params.set(name, keep(param(t)));
    return t;
  }

  /** Registers a buffer: a GPU tensor (running statistics) or a host counter. */
  protected addBuffer<T extends Tensor | HostBuffer>(name: string, b: T): T {
    this.#checkName(name);
    this.#buffers.set(name, b instanceof HostBuffer ? b : keep(b as Tensor) as T);
    return b;
  }

  /** Registers a child module under `name` (its keys are prefixed by `name.`). */
  protected addModule<M extends Module>(name: string, m: M): M {
    this.#checkName(name);
    this.#children.set(name, m);
    m.#training = this.#training;
    return m;
  }

  #checkName(name: string): void {
    if (this.#params.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`${this.constructor.name}: "${name}" is registered twice`);
    }
  }

  /** Whether the module is in training mode (new modules start in eval mode: posegpu is inference-first). */
  get training(): boolean {
    return this.#training;
  }

  /**
   * Sets training mode (recursively). Entering training drops folded BatchNorms and cached derived
   * weights, since the weights are about to change; leaving it drops the caches for the same reason.
   */
  train(mode = true): this {
    for (const m of this.modules()) {
      if (mode && !m.#training) m.invalidateOwn();
      else if (!mode && m.#training) m.#clearCache();
      m.#training = mode;
    }
    return this;
  }

  /** Sets eval mode (recursively): BatchNorm uses running statistics, Dropout is the identity. */
  eval(): this {
    return this.train(false);
  }

  /** This module and every descendant, parents first. */
  modules(): Module[] {
    const out: Module[] = [this];
    for (const c of this.#children.values()) out.push(...c.modules());
    return out;
  }

  /** Direct children by name, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.#children.entries()];
  }

  /** Every parameter with its full dotted name, in `state_dict()` order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Every trainable parameter (for optimisers). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of trainable values (PyTorch's `sum(p.numel() for p in parameters())`). */
  numParameters(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Every buffer with its full dotted name. */
  namedBuffers(prefix = ""): [string, Tensor | HostBuffer][] {
    const out: [string, Tensor | HostBuffer][] = [];
    for (const [n, b] of this.#buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Parameters and buffers of the whole tree in PyTorch `state_dict()` order (own params, own buffers, children). */
  #entries(prefix = ""): [string, Tensor | HostBuffer][] {
    const out: [string, Tensor | HostBuffer][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, b] of this.#buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.#children) out.push(...c.#entries(`${prefix}${n}.`));
    return out;
  }

  /** The names `stateDict()` returns, in order. */
  stateDictKeys(): string[] {
    return this.#entries().map(([n]) => n);
  }

  /**
   * Reads parameters and buffers back to the host (one GPU submit) under PyTorch's names. Floats are
   * `F32`; `num_batches_tracked` is an `I64` scalar as in PyTorch.
   */
  async stateDict(): Promise<StateDict> {
    const entries = this.#entries();
    const gpu = entries.filter(([, v]) => !(v instanceof HostBuffer)) as [string, Tensor][];
    const data = await readAll(gpu.map(([, t]) => t));
    const byName = new Map(gpu.map(([n], i) => [n, data[i]]));
    const out: StateDict = new Map();
    for (const [n, v] of entries) {
      if (v instanceof HostBuffer) out.set(n, { dtype: "I64", shape: [], data: Int32Array.of(v.value) });
      else out.set(n, { dtype: "F32", shape: [...v.shape], data: byName.get(n)! });
    }
    return out;
  }

  /**
   * Copies a state dict into the module's tensors (their identity is kept, so optimisers stay valid).
   * A `module.` prefix (DataParallel) is stripped from every key. With `strict` (the default) missing
   * and unexpected keys are an error; wrong shapes and non-float data for float tensors always are. All
   * problems are reported together in one `InputError`. `fold: true` then folds BatchNorms (eval only).
   */
  async loadStateDict(tensors: StateDict, options: LoadStateDictOptions = {}): Promise<LoadStateDictResult> {
    const strict = options.strict ?? true;
    const prefix = options.prefix ?? "";
    const given = new Map<string, HostTensor>();
    for (const [raw, t] of tensors) {
      const name = raw.startsWith("module.") ? raw.slice("module.".length) : raw;
      if (!name.startsWith(prefix)) continue;
      given.set(name.slice(prefix.length), t);
    }
    const entries = this.#entries();
    const expected = new Set(entries.map(([n]) => n));
    const missing = entries.map(([n]) => n).filter((n) => !given.has(n));
    const unexpected = [...given.keys()].filter((n) => !expected.has(n));
    const wrong: string[] = [];
    for (const [n, v] of entries) {
      const t = given.get(n);
      if (!t) continue;
      const want = v instanceof HostBuffer ? [] : v.shape;
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        wrong.push(`${n}: got ${shapeText(t.shape)}, expected ${shapeText(want)}`);
      } else if (!(v instanceof HostBuffer) && !FLOAT_DTYPES.has(t.dtype)) {
        wrong.push(`${n}: got dtype ${t.dtype}, expected a float dtype`);
      }
    }
    if (wrong.length || (strict && (missing.length || unexpected.length))) {
      const parts: string[] = [];
      const list = (label: string, xs: string[]) => {
        if (xs.length) parts.push(`${xs.length} ${label}:\n  ${xs.join("\n  ")}`);
      };
      if (strict) {
        list(`missing key${missing.length === 1 ? "" : "s"}`, missing);
        list(`unexpected key${unexpected.length === 1 ? "" : "s"}`, unexpected);
      }
      list(`wrong-shape key${wrong.length === 1 ? "" : "s"}`, wrong);
      throw new InputError(`state dict does not match ${this.constructor.name}: ${parts.join("\n")}`);
    }
    for (const [n, v] of entries) {
      const t = given.get(n);
      if (!t) continue;
      if (v instanceof HostBuffer) v.value = Number(t.data[0]);
      else copyInto(v, t.data);
    }
    for (const m of this.modules()) m.invalidateOwn();
    if (options.fold) await this.foldBatchNorm();
    return { missing: strict ? [] : missing, unexpected: strict ? [] : unexpected };
  }

  /**
   * A tensor derived from the weights (a transposed weight, a packed gate matrix). In eval mode it is
   * built once and reused until `invalidate()`; in training mode it is rebuilt on every call (inside the
   * caller's `tidy`, through the differentiable ops) because the weights change every step.
   */
  protected cached(key: string, build: () => Tensor): Tensor {
    return this.#training ? build() : this.#memo(key, build);
  }

  #memo(key: string, build: () => Tensor): Tensor {
    let t = this.#cache.get(key);
    if (!t || t.disposed) {
      t = keep(build());
      this.#cache.set(key, t);
    }
    return t;
  }

  /**
   * A constant index tensor (gather maps and the like: nothing derived from the weights), built once and
   * kept in training mode too, so that a training step does not upload it again.
   */
  protected cachedIndex(key: string, build: () => Int32Array): Tensor {
    return this.#memo(`index:${key}`, () => tensor(build()));
  }

  /** Drops one cached derived tensor (see `cached`), e.g. when the form it is cached in changes. */
  protected dropCached(key: string): void {
    const t = this.#cache.get(key);
    if (t) {
      t.dispose();
      this.#cache.delete(key);
    }
  }

  #clearCache(): void {
    for (const t of this.#cache.values()) t.dispose();
    this.#cache.clear();
  }

  /**
   * Hook: drops what was derived from this module's own weights (caches, folded copies). Subclasses
   * that hold more derived state extend it (and call `super.invalidateOwn()`).
   */
  protected invalidateOwn(): void {
    this.#clearCache();
  }

  /** Drops every cached derived tensor and every folded BatchNorm of the tree; call after editing weights. */
  invalidate(): void {
    for (const m of this.modules()) m.invalidateOwn();
  }

  /** Hook: the (layer, BatchNorm) pairs of this module that `foldBatchNorm` may fold. */
  protected foldPairs(): FoldPair[] {
    return [];
  }

  /**
   * Folds every eval-mode BatchNorm of the tree into the Linear/Conv before it: `w' = w·γ/σ`,
   * `b' = (b − μ)·γ/σ + β` (host arithmetic on one readback). Outputs are unchanged up to rounding;
   * the folded BatchNorm becomes the identity in eval mode. The original weights stay untouched (so
   * `stateDict()` is unchanged) and `train()` undoes the fold. Resolves to the number of norms folded.
   */
  async foldBatchNorm(): Promise<number> {
    if (this.#training) {
      throw new InputError(`${this.constructor.name}: BatchNorm folding is for eval mode; call eval() first`);
    }
    const pairs = this.modules().flatMap((m) => m.foldPairs());
    const reads: Tensor[] = [];
    const at = (t: Tensor | null): number => {
      if (!t) return -1;
      reads.push(t);
      return reads.length - 1;
    };
    const plan = pairs.map((p) => ({
      p,
      norm: [at(p.norm.weight), at(p.norm.bias), at(p.norm.runningMean), at(p.norm.runningVar)],
      layers: p.layers.map((l) => [at(l.weight), at(l.bias)]),
    }));
    const host = await readAll(reads);
    const get = (i: number): Float32Array | undefined => (i < 0 ? undefined : host[i]);
    for (const { p, norm, layers } of plan) {
      const [g, b, mu, v] = norm.map(get);
      let c0 = 0;
      for (let li = 0; li < p.layers.length; li++) {
        const layer = p.layers[li];
        const out = layer.weight.shape[0];
        const part = (a: Float32Array | undefined) => a?.subarray(c0, c0 + out);
        const folded = batchNormFold(
          { weight: get(layers[li][0])!, bias: get(layers[li][1]) },
          { weight: part(g), bias: part(b), mean: part(mu)!, variance: part(v)!, eps: p.norm.eps },
        );
        layer.setFolded(folded.weight, folded.bias);
        c0 += out;
      }
      if (c0 !== p.norm.runningMean.size) {
        throw new Error(`fold: layers give ${c0} channels, the norm has ${p.norm.runningMean.size}`);
      }
      p.norm.setFolded(true);
    }
    for (const m of this.modules()) m.#clearCache();
    return pairs.length;
  }

  /** Releases every GPU tensor of the tree (parameters, buffers, caches). The module is unusable after. */
  dispose(): void {
    for (const m of this.modules()) {
      m.invalidateOwn();
      for (const t of m.#params.values()) t.dispose();
      for (const b of m.#buffers.values()) if (!(b instanceof HostBuffer)) b.dispose();
    }
  }
}

/** Copies host values into an existing GPU tensor (recorded in order with pending work). */
export function copyInto(dst: Tensor, data: Float32Array | Int32Array): void {
  if (data.length !== dst.size) {
    throw new InputError(`cannot copy ${data.length} values into a tensor of shape ${shapeText(dst.shape)}`);
  }
  if (dst.size === 0) return;
  const src = tensor(data instanceof Float32Array ? data : Float32Array.from(data), [dst.size]);
  backend().copy(src.buf, dst.buf, { bytes: dst.size * 4 });
  src.dispose();
}
