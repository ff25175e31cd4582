/**
 * Optimisers and training utilities, all recording GPU work only (no readback inside a step):
 *
 * - `Adam` / `AdamW` (PyTorch semantics: bias correction, L2 weight decay folded into the gradient for
 *   Adam, decoupled decay for AdamW), one fused WGSL dispatch per parameter; `SGD` with momentum,
 *   Nesterov and weight decay, likewise fused.
 * - `clipGradNorm` (PyTorch `clip_grad_norm_`: one global L2 norm over all gradients, on the GPU) and
 *   `applyMaxNorm` (TF `clip_by_norm(w, c)`: each weight's Frobenius norm clipped to c).
 * - Learning-rate schedules as functions of the step: exponential, step and TF's `exponential_decay`.
 * - `LossLog`: losses copied into a GPU ring and read back once every N steps; `trainStep`: the usual
 *   withGrad → backward → step → zeroGrad sequence.
 *
 * Step counts and learning rates live on the host and reach the kernels as uniforms, so many steps can
 * be recorded before one submit.
 * @module
 */

import { backend } from "./backend.ts";
import { backward, withGrad, zeroGrad } from "./autograd.ts";
import { InputError } from "./errors.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./kernels/common.ts";
import { sumSquaresInto } from "./kernels/backward.ts";
import { full, type Tensor, tensor, tidy, zeros } from "./tensor.ts";

/** What every optimiser offers. */
export interface Optimizer {
  /** The parameters it updates (their `grad` is read at `step()`). */
  readonly params: readonly Tensor[];
  /** The learning rate used by the next `step()` (set it from a schedule). */
  lr: number;
  /** Steps taken so far. */
  readonly stepCount: number;
  /** Records one update of every parameter that has a gradient. */
  step(): void;
  /** Disposes and clears the parameters' gradients. */
  zeroGrad(): void;
  /** Frees the optimiser state (moments, momentum buffers). */
  dispose(): void;
}

function checkParams(params: readonly Tensor[]): void {
  if (params.length === 0) throw new InputError("an optimiser needs at least one parameter");
  for (const p of params) {
    if (p.dtype !== "f32") throw new InputError("optimiser parameters must be f32 tensors");
  }
}

function checkGrad(p: Tensor): boolean {
  if (!p.grad) return false;
  if (p.grad.size !== p.size) {
    throw new InputError(
      `gradient of [${p.grad.shape.join(", ")}] for a parameter of [${p.shape.join(", ")}]`,
    );
  }
  return true;
}

let ones: Tensor | null = null;
/** A lifelong [1] tensor holding 1: the gradient scale when nothing is clipped. */
function unitScale(): Tensor {
  ones ??= full([1], 1);
  return ones;
}

let spare: Tensor | null = null;
/** A lifelong dummy for an unused read-write binding (one buffer may not be bound read and read-write). */
function dummyRw(): Tensor {
  spare ??= full([1], 0);
  return spare;
}

/** Options of `Adam` / `AdamW`. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** β1, β2 (default [0.9, 0.999]). */
  betas?: [number, number];
  /** ε added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay: L2 added to the gradient (Adam) or decoupled (AdamW). Default 0 (Adam), 0.01 (AdamW). */
  weightDecay?: number;
  /** Decoupled weight decay (AdamW). */
  decoupled?: boolean;
  /** Clip the gradients to this global L2 norm before the update (on the GPU; none by default). */
  maxGradNorm?: number;
  /**
   * AMSGrad (Reddi et al.): the denominator uses the running maximum of the second moment, as
   * `torch.optim.Adam(amsgrad=True)` (VideoPose3D and SRNet train with it). Default false.
   */
  amsgrad?: boolean;
}

/** Element type of the fused update kernels: vec4 when the size allows (about 3× the memory rate on CPU adapters). */
function lanes(n: number): { type: string; width: number } {
  return n % 4 === 0 ? { type: "vec4<f32>", width: 4 } : { type: "f32", width: 1 };
}

/**
 * Elements (of the kernel's type) each Adam invocation updates: 4 consecutive vec4s cost ~15% less CPU
 * than one on lavapipe (4.3 M parameters: 11.5 vs 9.6 ms CPU per million in one A/B run).
 */
const ADAM_PER = 4;

function adamKernel(type: string, amsgrad: boolean): string {
  const state = [{ name: "Prm", type }, { name: "M", type }, { name: "V", type }];
  if (amsgrad) state.push({ name: "VMax", type });
  return `${storageDecl([{ name: "G", type }, { name: "Scale" }], state)}${uniformDecl(amsgrad ? 6 : 5, 9)}
${flatMain()}  let lr = PF(1u); let b1 = PF(2u); let b2 = PF(3u); let eps = PF(4u); let wd = PF(5u);
  let bc1 = PF(6u); let bc2s = PF(7u); let s = Scale[0];
  for (var k = 0u; k < ${ADAM_PER}u; k++) {
    let i = gi * ${ADAM_PER}u + k;
    if (i >= P(0u)) { return; }
    var p = Prm[i];
    var g = G[i] * s;
    // The operation order follows torch.optim's single-tensor Adam/AdamW for bitwise-near results.
    if (P(8u) != 0u) { p = p * (1.0 - lr * wd); } else { g = g + wd * p; }
    let m = b1 * M[i] + (1.0 - b1) * g;
    let v = b2 * V[i] + (1.0 - b2) * g * g;
    M[i] = m; V[i] = v;
  ${
    amsgrad
      ? "let vm = max(VMax[i], v); VMax[i] = vm; let denom = sqrt(vm) / bc2s + eps;"
      : "let denom = sqrt(v) / bc2s + eps;"
  }
    Prm[i] = p - (lr / bc1) * (m / denom);
  }
}`;
}

/** Adam (Kingma & Ba) with PyTorch's semantics; `decoupled: true` is AdamW. */
export class Adam implements Optimizer {
  /** The parameters. */
  readonly params: readonly Tensor[];
  /** Learning rate of the next step. */
  lr: number;
  /** β1, β2. */
  readonly betas: [number, number];
  /** ε. */
  readonly eps: number;
  /** Weight decay. */
  readonly weightDecay: number;
  /** Decoupled weight decay (AdamW). */
  readonly decoupled: boolean;
  /** Global gradient-norm clip, if any. */
  readonly maxGradNorm?: number;
  /** AMSGrad (the running maximum of the second moment in the denominator). */
  readonly amsgrad: boolean;
  #step = 0;
  #m: (Tensor | null)[];
  #v: (Tensor | null)[];
  #vMax: (Tensor | null)[];

  /** Creates the optimiser; moments are allocated at the first step. */
  constructor(params: readonly Tensor[], options: AdamOptions = {}) {
    checkParams(params);
    this.params = [...params];
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.decoupled = options.decoupled ?? false;
    this.weightDecay = options.weightDecay ?? (this.decoupled ? 0.01 : 0);
    this.maxGradNorm = options.maxGradNorm;
    this.amsgrad = options.amsgrad ?? false;
    this.#m = this.params.map(() => null);
    this.#v = this.params.map(() => null);
    this.#vMax = this.params.map(() => null);
  }

  /** Steps taken. */
  get stepCount(): number {
    return this.#step;
  }

  /** Records one update: one dispatch per parameter with a gradient (plus the norm when clipping). */
  step(): void {
    this.#step++;
    const t = this.#step;
    const [b1, b2] = this.betas;
    const scale = this.maxGradNorm !== undefined
      ? clipScale(this.params.filter((p) => checkGrad(p)).map((p) => p.grad!), this.maxGradNorm).scale
      : null;
    this.params.forEach((p, i) => {
      if (!checkGrad(p)) return;
      this.#m[i] ??= zeros(p.shape);
      this.#v[i] ??= zeros(p.shape);
      const { type, width } = lanes(p.size);
      const n = p.size / width;
      const u = new Uniforms().int(n).float(
        this.lr,
        b1,
        b2,
        this.eps,
        this.weightDecay,
        1 - b1 ** t,
        Math.sqrt(1 - b2 ** t),
      ).int(this.decoupled ? 1 : 0);
      const buffers = [p.grad!.buf, (scale ?? unitScale()).buf, p.buf, this.#m[i]!.buf, this.#v[i]!.buf];
      if (this.amsgrad) buffers.push((this.#vMax[i] ??= zeros(p.shape)).buf);
      runFlat(
        compile(
          adamKernel(type, this.amsgrad),
          buffers.length,
          `adam${this.amsgrad ? "_amsgrad" : ""}:${width}`,
        ),
        buffers,
        u,
        Math.ceil(n / ADAM_PER),
      );
    });
    scale?.dispose();
  }

  /** Clears the gradients. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /**
   * The first and second moments (null before a parameter's first step) and, with AMSGrad, the second
   * moments' running maxima, e.g. for checkpoints.
   */
  state(): { m: (Tensor | null)[]; v: (Tensor | null)[]; vMax: (Tensor | null)[]; step: number } {
    return { m: [...this.#m], v: [...this.#v], vMax: [...this.#vMax], step: this.#step };
  }

  /**
   * Restores moments and the step count saved from `state()` (checkpoint resume): `m[i]`/`v[i]` are the
   * host values of parameter i's moments (null leaves a parameter's moments unset).
   */
  loadState(
    state: {
      m: (Float32Array | null)[];
      v: (Float32Array | null)[];
      vMax?: (Float32Array | null)[];
      step: number;
    },
  ): void {
    const vMax = state.vMax ?? this.params.map(() => null);
    if (
      state.m.length !== this.params.length || state.v.length !== this.params.length ||
      vMax.length !== this.params.length
    ) {
      throw new InputError(
        `optimiser state has ${state.m.length}/${state.v.length}/${vMax.length} moments for ${this.params.length} parameters`,
      );
    }
    this.params.forEach((p, i) => {
      for (
        const [src, dst] of [[state.m[i], this.#m], [state.v[i], this.#v], [vMax[i], this.#vMax]] as const
      ) {
        if (!src) continue;
        if (src.length !== p.size) {
          throw new InputError(
            `optimiser state of parameter ${i} has ${src.length} values, expected ${p.size}`,
          );
        }
        dst[i]?.dispose();
        dst[i] = tensor(src, p.shape);
      }
    });
    this.#step = state.step;
  }

  /** Frees the moments. */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v, ...this.#vMax]) t?.dispose();
    this.#m = this.params.map(() => null);
    this.#v = this.params.map(() => null);
    this.#vMax = this.params.map(() => null);
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01), as `torch.optim.AdamW`. */
export class AdamW extends Adam {
  /** Creates the optimiser. */
  constructor(params: readonly Tensor[], options: Omit<AdamOptions, "decoupled"> = {}) {
    super(params, { ...options, decoupled: true });
  }
}

/** Options of `SGD`. */
export interface SgdOptions {
  /** Learning rate (default 1e-2). */
  lr?: number;
  /** Momentum μ (default 0). */
  momentum?: number;
  /** Nesterov momentum. */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (default 0). */
  weightDecay?: number;
  /** Clip the gradients to this global L2 norm first. */
  maxGradNorm?: number;
}

function sgdKernel(type: string): string {
  return `${
    storageDecl([{ name: "G", type }, { name: "Scale" }], [{ name: "Prm", type }, { name: "B", type }])
  }${uniformDecl(4, 6)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let lr = PF(1u); let mu = PF(2u); let wd = PF(3u);
  let p = Prm[gi];
  var d = G[gi] * Scale[0] + wd * p;
  if (mu != 0.0) {
    // PyTorch: the buffer starts as the first gradient (= μ·0 + d with dampening 0).
    let b = mu * B[gi] + d;
    B[gi] = b;
    d = select(b, d + mu * b, P(4u) != 0u);
  }
  Prm[gi] = p - lr * d;
}`;
}

/** Stochastic gradient descent with PyTorch's semantics (dampening 0). */
export class SGD implements Optimizer {
  /** The parameters. */
  readonly params: readonly Tensor[];
  /** Learning rate of the next step. */
  lr: number;
  /** Momentum. */
  readonly momentum: number;
  /** Nesterov. */
  readonly nesterov: boolean;
  /** Weight decay. */
  readonly weightDecay: number;
  /** Global gradient-norm clip, if any. */
  readonly maxGradNorm?: number;
  #step = 0;
  #buf: (Tensor | null)[];

  /** Creates the optimiser. */
  constructor(params: readonly Tensor[], options: SgdOptions = {}) {
    checkParams(params);
    this.params = [...params];
    this.lr = options.lr ?? 1e-2;
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    this.maxGradNorm = options.maxGradNorm;
    this.#buf = this.params.map(() => null);
  }

  /** Steps taken. */
  get stepCount(): number {
    return this.#step;
  }

  /** Records one update. */
  step(): void {
    this.#step++;
    const scale = this.maxGradNorm !== undefined
      ? clipScale(this.params.filter((p) => checkGrad(p)).map((p) => p.grad!), this.maxGradNorm).scale
      : null;
    this.params.forEach((p, i) => {
      if (!checkGrad(p)) return;
      if (this.momentum !== 0) this.#buf[i] ??= zeros(p.shape);
      const b = this.#buf[i] ?? dummyRw();
      // Without momentum B is a never-read dummy of one size class (≥ 64 bytes), valid as either type.
      const { type, width } = lanes(p.size);
      const n = p.size / width;
      const u = new Uniforms().int(n).float(this.lr, this.momentum, this.weightDecay).int(
        this.nesterov ? 1 : 0,
      );
      runFlat(
        compile(sgdKernel(type), 4, `sgd:${width}`),
        [p.grad!.buf, (scale ?? unitScale()).buf, p.buf, b.buf],
        u,
        n,
      );
    });
    scale?.dispose();
  }

  /** Clears the gradients. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    for (const t of this.#buf) t?.dispose();
    this.#buf = this.params.map(() => null);
  }
}

/** The global norm of `grads` and the factor min(1, maxNorm/(norm + 1e-6)), both [1] tensors on the GPU. */
function clipScale(grads: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  if (!(maxNorm > 0)) throw new InputError(`maxGradNorm must be positive, got ${maxNorm}`);
  const parts = output([Math.max(grads.length, 1)]);
  sumSquaresInto(grads, parts);
  const norm = output([1]), scale = output([1]);
  const code = `${storageDecl([{ name: "Parts" }], [{ name: "Norm" }, { name: "Scale" }])}${uniformDecl(3, 2)}
${flatMain()}  if (gi > 0u) { return; }
  var s = 0.0;
  for (var i = 0u; i < P(0u); i++) { s += Parts[i]; }
  let n = sqrt(s);
  Norm[0] = n;
  Scale[0] = min(PF(1u) / (n + 1e-6), 1.0);
}`;
  runFlat(
    compile(code, 3, "clip_scale"),
    [parts.buf, norm.buf, scale.buf],
    new Uniforms().int(grads.length).float(maxNorm),
    1,
  );
  parts.dispose();
  return { norm, scale };
}

const SCALE_WGSL = `${storageDecl([{ name: "S" }], [{ name: "X" }])}${uniformDecl(2, 3)}
${flatMain()}  if (gi >= P(0u)) { return; }
  X[gi] = X[gi] * S[P(1u)];
}`;

/**
 * Scales the gradients of `params` in place so that their global L2 norm is at most `maxNorm`
 * (`torch.nn.utils.clip_grad_norm_`, factor min(1, maxNorm/(norm + 1e-6))). Returns the norm before
 * clipping as a [1] tensor (the caller disposes it; reading it is a sync).
 */
export function clipGradNorm(params: readonly Tensor[], options: { maxNorm: number }): Tensor {
  const grads = params.filter((p) => checkGrad(p)).map((p) => p.grad!);
  const { norm, scale } = clipScale(grads, options.maxNorm);
  const k = compile(SCALE_WGSL, 2, "scale_by");
  for (const g of grads) runFlat(k, [scale.buf, g.buf], new Uniforms().int(g.size, 0), g.size);
  scale.dispose();
  return norm;
}

const MAXNORM_WGSL = `${storageDecl([{ name: "S" }], [{ name: "X" }])}${uniformDecl(2, 3)}
${flatMain()}  if (gi >= P(0u)) { return; }
  let c = PF(2u);
  let n = sqrt(S[P(1u)]);
  // TF clip_by_norm: t · c / max(‖t‖, c).
  X[gi] = X[gi] * c / max(n, c);
}`;

/**
 * Max-norm constraint as TF's `clip_by_norm(w, maxNorm)` applied to each tensor in place: its Frobenius
 * norm is clipped to `maxNorm` (default 1). Call after each optimiser step (Martinez et al.'s baseline).
 */
export function applyMaxNorm(weights: readonly Tensor[], options: { maxNorm?: number } = {}): void {
  const c = options.maxNorm ?? 1;
  if (!(c > 0)) throw new InputError(`maxNorm must be positive, got ${c}`);
  if (weights.length === 0) return;
  const sq = output([weights.length]);
  sumSquaresInto([...weights], sq);
  const k = compile(MAXNORM_WGSL, 2, "max_norm");
  weights.forEach((w, i) => runFlat(k, [sq.buf, w.buf], new Uniforms().int(w.size, i).float(c), w.size));
  sq.dispose();
}

/** A learning rate as a function of the (0-based) step or epoch count. */
export type LrSchedule = (step: number) => number;

/** `lr·γ^step` (PyTorch `ExponentialLR` when stepped once per epoch). */
export function exponentialLr(options: { lr: number; gamma: number }): LrSchedule {
  return (step) => options.lr * options.gamma ** step;
}

/** `lr·γ^⌊step/stepSize⌋` (PyTorch `StepLR`). */
export function stepLr(options: { lr: number; stepSize: number; gamma?: number }): LrSchedule {
  if (!(options.stepSize > 0)) throw new InputError("stepLr needs a positive stepSize");
  return (step) => options.lr * (options.gamma ?? 0.1) ** Math.floor(step / options.stepSize);
}

/**
 * TF's `exponential_decay`: `lr·rate^(step/decaySteps)`, the exponent floored with `staircase`
 * (Martinez et al.: lr 1e-3, rate 0.96, 100k steps, staircase).
 */
export function exponentialDecay(
  options: { lr: number; decaySteps?: number; decayRate?: number; staircase?: boolean },
): LrSchedule {
  const steps = options.decaySteps ?? 100_000, rate = options.decayRate ?? 0.96;
  if (!(steps > 0)) throw new InputError("exponentialDecay needs positive decaySteps");
  return (step) => options.lr * rate ** (options.staircase ?? true ? Math.floor(step / steps) : step / steps);
}

/**
 * Losses kept on the GPU and read back once every `every` pushes: `push(loss)` records a 4-byte copy of
 * a scalar loss into a ring (no sync); `read()` returns the values pushed since the last read with one
 * readback. Training loops read only when `full`.
 */
export class LossLog {
  /** Capacity: the number of pushes between reads. */
  readonly every: number;
  #ring: Tensor;
  #count = 0;

  /** A log read every `every` steps. */
  constructor(options: { every: number }) {
    if (!Number.isInteger(options.every) || options.every < 1) {
      throw new InputError(`LossLog needs every ≥ 1, got ${options.every}`);
    }
    this.every = options.every;
    this.#ring = zeros([this.every]);
  }

  /** Values pushed since the last read. */
  get count(): number {
    return this.#count;
  }

  /** Whether `every` values wait to be read. */
  get full(): boolean {
    return this.#count >= this.every;
  }

  /** Records a copy of the first element of `loss` (the caller still owns `loss`). */
  push(loss: Tensor): void {
    if (this.full) throw new InputError(`LossLog holds ${this.every} values: read() before pushing more`);
    backend().copy(loss.buf, this.#ring.buf, { dstOffset: this.#count * 4, bytes: 4 });
    this.#count++;
  }

  /** Reads the pushed values (one submit and wait) and empties the log. */
  async read(): Promise<Float32Array> {
    const n = this.#count;
    if (n === 0) return new Float32Array(0);
    const [ab] = await backend().readMany([{ buf: this.#ring.buf, bytes: n * 4 }]);
    this.#count = 0;
    return new Float32Array(ab);
  }

  /** Frees the ring. */
  dispose(): void {
    this.#ring.dispose();
  }
}

/**
 * One training step: runs `lossFn` recording gradients, back-propagates, updates and clears the
 * gradients. Intermediates are disposed; the loss is returned (the caller disposes it or `push`es it to
 * a `LossLog` first). Nothing is read back.
 */
export function trainStep(optimizer: Optimizer, lossFn: () => Tensor): Tensor {
  const loss = withGrad(() =>
    tidy(() => {
      const l = lossFn();
      backward(l);
      return l;
    })
  );
  optimizer.step();
  optimizer.zeroGrad();
  return loss;
}
