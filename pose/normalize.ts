/**
 * Input/output normalisations of the lifting models: VideoPose3D's screen normalisation of pixel
 * coordinates, and Martinez et al.'s per-dimension z-score (`Normalizer`), whose statistics travel in a
 * safetensors file's `__metadata__` as JSON strings.
 * @module
 */

import { InputError } from "../engine/errors.ts";

/** Image size in pixels. */
export interface ImageSize {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

function checkSize(size: ImageSize): void {
  if (!(size.width > 0 && size.height > 0 && Number.isFinite(size.width) && Number.isFinite(size.height))) {
    throw new InputError(`image size must be positive, got ${size.width}×${size.height}`);
  }
}

function checkPairs(coords: Float32Array, what: string): void {
  if (coords.length % 2 !== 0) {
    throw new InputError(`${what}: ${coords.length} numbers is not a whole number of (x, y)`);
  }
}

/** VideoPose3D's screen normalisation of (x, y) pairs: `X / w · 2 − [1, h / w]` (x to [−1, 1], y keeps
 * the aspect ratio). */
export function normalizeScreen(coords: Float32Array, size: ImageSize): Float32Array {
  checkSize(size);
  checkPairs(coords, "normalizeScreen");
  const out = new Float32Array(coords.length);
  const s = 2 / size.width;
  const oy = size.height / size.width;
  for (let i = 0; i < coords.length; i += 2) {
    out[i] = coords[i] * s - 1;
    out[i + 1] = coords[i + 1] * s - oy;
  }
  return out;
}

/** Inverse of `normalizeScreen`: `(X + [1, h / w]) · w / 2`. */
export function unnormalizeScreen(coords: Float32Array, size: ImageSize): Float32Array {
  checkSize(size);
  checkPairs(coords, "unnormalizeScreen");
  const out = new Float32Array(coords.length);
  const s = size.width / 2;
  const oy = size.height / size.width;
  for (let i = 0; i < coords.length; i += 2) {
    out[i] = (coords[i] + 1) * s;
    out[i + 1] = (coords[i + 1] + oy) * s;
  }
  return out;
}

/** Statistics of a `Normalizer`. */
export interface NormalizerInit {
  /** Per-dimension mean (length D). */
  mean: Float32Array;
  /** Per-dimension standard deviation (length D, all > 0). */
  std: Float32Array;
  /** Dimensions the model sees, ascending (null = all D). */
  dimUse?: Int32Array | null;
}

/** Options of `Normalizer.fromData`. */
export interface NormalizerDataOptions {
  /** Dimensions the model sees (e.g. Martinez's `dim_to_use`); default all. */
  dimUse?: ArrayLike<number> | null;
}

function parseJsonNumbers(meta: Record<string, string>, key: string): number[] {
  const text = meta[key];
  if (typeof text !== "string") throw new InputError(`normalizer metadata: missing "${key}"`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`normalizer metadata: "${key}" is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new InputError(`normalizer metadata: "${key}" must be a non-empty JSON array of numbers`);
  }
  value.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new InputError(
        `normalizer metadata: "${key}"[${i}] is ${JSON.stringify(v)}, expected a finite number`,
      );
    }
  });
  return value;
}

/**
 * Per-dimension z-score normalisation, as 3d-pose-baseline's `normalization_stats` / `normalize_data` /
 * `unNormalizeData`: `normalize` keeps the `dimUse` columns and maps `(x − mean) / std`; `denormalize`
 * puts them back and fills the unused dimensions with their mean.
 *
 * Statistics are population ones (NumPy `np.std`, ddof 0), accumulated in float64. A dimension with
 * zero spread gets std 1: upstream never divides by such a dimension because `dim_to_use` drops it
 * (the root in root-relative 3D), and the widely used PyTorch ports set it to 1; both agree on the
 * dimensions a model uses.
 */
export class Normalizer {
  /** Per-dimension mean (length D). */
  readonly mean: Float32Array;
  /** Per-dimension standard deviation (length D). */
  readonly std: Float32Array;
  /** Dimensions the model sees, ascending; null = all. */
  readonly dimUse: Int32Array | null;

  /** Wraps existing statistics (validated: equal lengths, finite, std > 0, dimUse ascending in range). */
  constructor(init: NormalizerInit) {
    const d = init.mean.length;
    if (d === 0) throw new InputError("normalizer: mean is empty");
    if (init.std.length !== d) {
      throw new InputError(`normalizer: std has ${init.std.length} values, mean has ${d}`);
    }
    for (let i = 0; i < d; i++) {
      if (!Number.isFinite(init.mean[i])) throw new InputError(`normalizer: mean[${i}] is ${init.mean[i]}`);
      if (!(init.std[i] > 0 && Number.isFinite(init.std[i]))) {
        throw new InputError(`normalizer: std[${i}] is ${init.std[i]}, expected a positive finite number`);
      }
    }
    const use = init.dimUse ?? null;
    if (use) {
      if (use.length === 0) throw new InputError("normalizer: dimUse is empty");
      use.forEach((u, i) => {
        if (!(u >= 0 && u < d) || (i > 0 && u <= use[i - 1])) {
          throw new InputError(`normalizer: dimUse[${i}] = ${u} must be ascending and within 0..${d - 1}`);
        }
      });
    }
    this.mean = init.mean;
    this.std = init.std;
    this.dimUse = use;
  }

  /** Computes mean/std over the rows of `data` (rows × `dims`, row-major). */
  static fromData(data: Float32Array, dims: number, options: NormalizerDataOptions = {}): Normalizer {
    if (!Number.isSafeInteger(dims) || dims < 1) {
      throw new InputError(`normalizer: dims must be ≥ 1, got ${dims}`);
    }
    if (data.length === 0 || data.length % dims !== 0) {
      throw new InputError(
        `normalizer: ${data.length} numbers is not a non-empty whole number of rows of ${dims}`,
      );
    }
    const rows = data.length / dims;
    const sum = new Float64Array(dims);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) {
        throw new InputError(`normalizer: row ${Math.floor(i / dims)} dimension ${i % dims} is ${v}`);
      }
      sum[i % dims] += v;
    }
    const mean = sum.map((s) => s / rows);
    const sq = new Float64Array(dims);
    for (let i = 0; i < data.length; i++) {
      const e = data[i] - mean[i % dims];
      sq[i % dims] += e * e;
    }
    const std = new Float32Array(dims);
    for (let d = 0; d < dims; d++) {
      const s = Math.sqrt(sq[d] / rows);
      std[d] = s === 0 ? 1 : s;
      // A tiny but nonzero spread can round to 0 in float32; keep the invariant std > 0.
      if (std[d] === 0) std[d] = 1;
    }
    return new Normalizer({
      mean: Float32Array.from(mean),
      std,
      dimUse: options.dimUse ? Int32Array.from(options.dimUse) : null,
    });
  }

  /** Full dimension D of the data. */
  get dims(): number {
    return this.mean.length;
  }

  /** Dimension the model sees (`dimUse.length`, or D). */
  get usedDims(): number {
    return this.dimUse ? this.dimUse.length : this.mean.length;
  }

  /** rows × D → rows × usedDims: keeps the used dimensions and z-scores them. */
  normalize(data: Float32Array): Float32Array {
    const d = this.dims;
    if (data.length % d !== 0) throw new InputError(`normalize: ${data.length} numbers is not rows of ${d}`);
    const rows = data.length / d;
    const use = this.dimUse ?? Int32Array.from({ length: d }, (_, i) => i);
    const out = new Float32Array(rows * use.length);
    for (let r = 0; r < rows; r++) {
      for (let u = 0; u < use.length; u++) {
        const k = use[u];
        out[r * use.length + u] = (data[r * d + k] - this.mean[k]) / this.std[k];
      }
    }
    return out;
  }

  /** rows × usedDims → rows × D: `x · std + mean`, unused dimensions set to their mean. */
  denormalize(data: Float32Array): Float32Array {
    const d = this.dims;
    const use = this.dimUse ?? Int32Array.from({ length: d }, (_, i) => i);
    if (data.length % use.length !== 0) {
      throw new InputError(`denormalize: ${data.length} numbers is not rows of ${use.length}`);
    }
    const rows = data.length / use.length;
    const out = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      out.set(this.mean, r * d);
      for (let u = 0; u < use.length; u++) {
        const k = use[u];
        out[r * d + k] = data[r * use.length + u] * this.std[k] + this.mean[k];
      }
    }
    return out;
  }

  /** The statistics as safetensors `__metadata__` entries (JSON arrays): `<prefix>mean`, `<prefix>std` and,
   * when set, `<prefix>dim_use`. */
  toMetadata(prefix = ""): Record<string, string> {
    const meta: Record<string, string> = {
      [`${prefix}mean`]: JSON.stringify(Array.from(this.mean)),
      [`${prefix}std`]: JSON.stringify(Array.from(this.std)),
    };
    if (this.dimUse) meta[`${prefix}dim_use`] = JSON.stringify(Array.from(this.dimUse));
    return meta;
  }

  /** Reads statistics written by `toMetadata` (float32 values survive the JSON round trip exactly). */
  static fromMetadata(meta: Record<string, string>, prefix = ""): Normalizer {
    const mean = parseJsonNumbers(meta, `${prefix}mean`);
    const std = parseJsonNumbers(meta, `${prefix}std`);
    const key = `${prefix}dim_use`;
    const dimUse = key in meta ? parseJsonNumbers(meta, key) : null;
    if (dimUse && !dimUse.every(Number.isInteger)) {
      throw new InputError(`normalizer metadata: "${key}" must be integers`);
    }
    return new Normalizer({
      mean: Float32Array.from(mean),
      std: Float32Array.from(std),
      dimUse: dimUse ? Int32Array.from(dimUse) : null,
    });
  }
}
