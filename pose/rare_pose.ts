/**
 * Rare-pose protocol (SRNet): pose similarity `PS(J, I) = (1/N) Σᵢ exp(−‖Jᵢ − Iᵢ‖² / (2σᵢ²))`,
 * occurrence of a pose in a set `OCC_O(J) = (1/M) Σ_{I∈O} PS(J, I)`, and the rarest R% of a test set by
 * occurrence with respect to the training set.
 *
 * σ choice (the paper leaves it open): by default σᵢ is the per-axis standard deviation of joint i over
 * the training set, `σᵢ² = mean_I ‖Iᵢ − μᵢ‖² / 3` on root-relative poses, so that two independent draws of
 * a joint differ by about √6·σᵢ and their term is about e⁻³: each joint is judged against its own spread
 * (wrists vary far more than hips). A fixed σ in mm (one value or one per joint) can be passed instead.
 * A joint with σᵢ = 0 (the root of root-relative poses) contributes 1 when the positions coincide, else 0.
 * @module
 */

import { InputError } from "../engine/errors.ts";

/** Flat poses `[N, J, 3]`. */
export type PoseSet = Float32Array | Float64Array;

/** Options of the rare-pose functions. */
export interface RarePoseOptions {
  /** Joints per pose (default 17). */
  joints?: number;
  /** Root joint subtracted from every pose first (default 0); `null` to use the poses as given. */
  root?: number | null;
  /** σ in mm: one value for all joints or one per joint (default: per-joint spread, see the module note). */
  sigmas?: number | readonly number[];
  /** Test poses per block (default 64): a block stays in cache while the training poses stream past. */
  blockSize?: number;
}

function poseCount(poses: PoseSet, joints: number, what: string): number {
  if (!Number.isInteger(joints) || joints < 1) {
    throw new InputError(`rare pose: joints must be ≥ 1, got ${joints}`);
  }
  if (poses.length % (joints * 3) !== 0) {
    throw new InputError(
      `rare pose: ${what} has ${poses.length} values, not a multiple of ${joints} joints × 3`,
    );
  }
  return poses.length / (joints * 3);
}

/** Root-relative copy in double precision (or a plain copy when `root` is null). */
function relative(poses: PoseSet, joints: number, root: number | null): Float64Array {
  if (root !== null && !(Number.isInteger(root) && root >= 0 && root < joints)) {
    throw new InputError(`rare pose: root ${root} is not a joint index in [0, ${joints})`);
  }
  const out = Float64Array.from(poses);
  if (root === null) return out;
  const stride = joints * 3;
  for (let o = 0; o < out.length; o += stride) {
    const rx = out[o + root * 3], ry = out[o + root * 3 + 1], rz = out[o + root * 3 + 2];
    for (let j = 0; j < joints; j++) {
      out[o + j * 3] -= rx;
      out[o + j * 3 + 1] -= ry;
      out[o + j * 3 + 2] -= rz;
    }
  }
  return out;
}

/**
 * Default σ per joint from a training set: `σᵢ = sqrt(mean ‖Iᵢ − μᵢ‖² / 3)` over (root-relative) poses.
 * Returns `[J]` in the poses' units.
 */
export function jointSigmas(
  train: PoseSet,
  options: Pick<RarePoseOptions, "joints" | "root"> = {},
): Float64Array {
  const joints = options.joints ?? 17;
  const m = poseCount(train, joints, "training set");
  if (m === 0) throw new InputError("rare pose: the training set is empty");
  const rel = relative(train, joints, options.root === undefined ? 0 : options.root);
  const mean = new Float64Array(joints * 3);
  for (let i = 0; i < rel.length; i++) mean[i % (joints * 3)] += rel[i];
  for (let i = 0; i < mean.length; i++) mean[i] /= m;
  const sq = new Float64Array(joints);
  for (let i = 0; i < rel.length; i++) {
    const k = i % (joints * 3);
    const d = rel[i] - mean[k];
    sq[Math.floor(k / 3)] += d * d;
  }
  return sq.map((s) => Math.sqrt(s / m / 3));
}

/** 1/(2σ²) per joint; Infinity for σ = 0. */
function weights(sigmas: number | readonly number[], joints: number): Float64Array {
  const list = typeof sigmas === "number" ? new Array(joints).fill(sigmas) : sigmas;
  if (list.length !== joints) throw new InputError(`rare pose: ${list.length} sigmas for ${joints} joints`);
  return Float64Array.from(list, (s, j) => {
    if (!(s >= 0) || !Number.isFinite(s)) {
      throw new InputError(`rare pose: sigma of joint ${j} is ${s}, expected ≥ 0`);
    }
    return s === 0 ? Infinity : 1 / (2 * s * s);
  });
}

/** exp(−d²·w) with the σ = 0 convention (w = ∞: 1 if d² = 0 else 0). */
function term(d2: number, w: number): number {
  if (w === Infinity) return d2 === 0 ? 1 : 0;
  return Math.exp(-d2 * w);
}

/**
 * Pose similarity of two single poses (`J × 3` values each, used as given: pass root-relative poses),
 * with σ per joint in `options.sigmas` (required here: a number or one per joint).
 */
export function poseSimilarity(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: { sigmas: number | readonly number[] },
): number {
  if (a.length !== b.length || a.length % 3 !== 0 || a.length === 0) {
    throw new InputError(
      `pose similarity: poses must both hold J × 3 values (got ${a.length} and ${b.length})`,
    );
  }
  const joints = a.length / 3;
  const w = weights(options.sigmas, joints);
  let s = 0;
  for (let j = 0; j < joints; j++) {
    const dx = a[j * 3] - b[j * 3], dy = a[j * 3 + 1] - b[j * 3 + 1], dz = a[j * 3 + 2] - b[j * 3 + 2];
    s += term(dx * dx + dy * dy + dz * dz, w[j]);
  }
  return s / joints;
}

/**
 * Occurrence of every test pose in the training set, `OCC(J) = mean over training poses I of PS(J, I)`,
 * after root subtraction. Cost O(test × train × J) exponentials in double precision (about 0.25 µs per pose
 * pair at J = 17 on a 2-core CI machine, i.e. ~4 min for 10⁴ × 10⁵); subsample the training set (e.g.
 * every k-th frame) for larger sets. Returns `[test poses]`.
 */
export function occurrence(test: PoseSet, train: PoseSet, options: RarePoseOptions = {}): Float64Array {
  const joints = options.joints ?? 17;
  const n = poseCount(test, joints, "test set");
  const m = poseCount(train, joints, "training set");
  if (m === 0) throw new InputError("rare pose: the training set is empty");
  const root = options.root === undefined ? 0 : options.root;
  const sigmas = options.sigmas ?? jointSigmas(train, { joints, root });
  const w = weights(typeof sigmas === "number" ? sigmas : Array.from(sigmas), joints);
  const t = relative(test, joints, root);
  const o = relative(train, joints, root);
  const stride = joints * 3;
  const block = Math.max(1, Math.floor(options.blockSize ?? 64));
  // Joints with σ = 0 take the exact-match rule; the rest run in a branch-free loop.
  const finite = Int32Array.from([...w.keys()].filter((j) => w[j] !== Infinity));
  const exact = Int32Array.from([...w.keys()].filter((j) => w[j] === Infinity));
  const fw = Float64Array.from(finite, (j) => w[j]);
  const nf = finite.length, ne = exact.length;
  const sums = new Float64Array(n);
  for (let b0 = 0; b0 < n; b0 += block) {
    const b1 = Math.min(n, b0 + block);
    for (let i = 0; i < m; i++) {
      const oi = i * stride;
      for (let k = b0; k < b1; k++) {
        const tk = k * stride;
        let s = 0;
        for (let q = 0; q < nf; q++) {
          const p = finite[q] * 3;
          const dx = t[tk + p] - o[oi + p],
            dy = t[tk + p + 1] - o[oi + p + 1],
            dz = t[tk + p + 2] - o[oi + p + 2];
          s += Math.exp(-(dx * dx + dy * dy + dz * dz) * fw[q]);
        }
        for (let q = 0; q < ne; q++) {
          const p = exact[q] * 3;
          if (t[tk + p] === o[oi + p] && t[tk + p + 1] === o[oi + p + 1] && t[tk + p + 2] === o[oi + p + 2]) {
            s += 1;
          }
        }
        sums[k] += s;
      }
    }
  }
  for (let k = 0; k < n; k++) sums[k] /= m * joints;
  return sums;
}

/**
 * Indices of the rarest `percent`% of poses (lowest occurrence first; ties by index). The count is
 * `round(N · percent / 100)`, at least 1 when N > 0 and percent > 0.
 */
export function rarestIndices(occurrences: ArrayLike<number>, percent: number): Int32Array {
  if (!(percent >= 0 && percent <= 100)) {
    throw new InputError(`rare pose: percent ${percent} is not in [0, 100]`);
  }
  const n = occurrences.length;
  const count = percent === 0 || n === 0 ? 0 : Math.max(1, Math.round((n * percent) / 100));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    occurrences[a] - occurrences[b] || a - b
  );
  return Int32Array.from(order.slice(0, count));
}

/** Options of `occurrenceParallel`. */
export interface ParallelOccurrenceOptions extends RarePoseOptions {
  /**
   * Web Workers to split the test poses over (default `navigator.hardwareConcurrency`, at most 16); 1, or
   * an environment without workers, computes in this thread.
   */
  workers?: number;
  /** Below this many test × training pose pairs one thread is used (default 2²⁰). */
  minPairs?: number;
}

/**
 * `occurrence` split over Web Workers, one contiguous slice of the test poses each (every test pose
 * still sums over the whole training set in the same order, so the result is bit-identical to
 * `occurrence`); σ is resolved once here. Falls back to this thread when a worker cannot start.
 */
export async function occurrenceParallel(
  test: PoseSet,
  train: PoseSet,
  options: ParallelOccurrenceOptions = {},
): Promise<Float64Array> {
  const joints = options.joints ?? 17;
  const n = poseCount(test, joints, "test set");
  const m = poseCount(train, joints, "training set");
  if (m === 0) throw new InputError("rare pose: the training set is empty");
  const root = options.root === undefined ? 0 : options.root;
  const sigmas = options.sigmas ?? jointSigmas(train, { joints, root });
  const resolved: RarePoseOptions = {
    joints,
    root,
    sigmas: typeof sigmas === "number" ? sigmas : Array.from(sigmas),
    blockSize: options.blockSize,
  };
  weights(resolved.sigmas!, joints); // validates before any worker starts
  const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ??
    1;
  const k = Math.min(Math.max(1, Math.floor(options.workers ?? cores)), 16, n);
  if (k <= 1 || typeof Worker === "undefined" || n * m < (options.minPairs ?? 2 ** 20)) {
    return occurrence(test, train, resolved);
  }
  try {
    return await occurrenceInWorkers(test, train, { options: resolved, workers: k, n });
  } catch (e) {
    if (e instanceof InputError) throw e;
    return occurrence(test, train, resolved);
  }
}

async function occurrenceInWorkers(
  test: PoseSet,
  train: PoseSet,
  job: { options: RarePoseOptions; workers: number; n: number },
): Promise<Float64Array> {
  const stride = (job.options.joints ?? 17) * 3;
  const per = Math.ceil(job.n / job.workers);
  const started: Worker[] = [];
  try {
    const parts = Array.from({ length: job.workers }, (_, w) => {
      const from = w * per, to = Math.min(job.n, from + per);
      if (from >= to) return Promise.resolve(new Float64Array(0));
      const worker = new Worker(new URL("./rare_pose_worker.ts", import.meta.url).href, { type: "module" });
      started.push(worker);
      return new Promise<Float64Array>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent<{ occ?: Float64Array; error?: string }>) => {
          if (e.data.error !== undefined) reject(new InputError(e.data.error));
          else resolve(e.data.occ!);
        };
        worker.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          reject(new Error(`rare pose worker failed: ${e.message}`));
        };
        worker.postMessage({
          test: test.slice(from * stride, to * stride),
          train,
          options: job.options,
        });
      });
    });
    const results = await Promise.all(parts);
    const out = new Float64Array(job.n);
    results.forEach((r, w) => out.set(r, w * per));
    return out;
  } finally {
    for (const w of started) w.terminate();
  }
}
