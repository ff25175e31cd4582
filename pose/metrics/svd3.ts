/**
 * Singular value decomposition of a 3×3 matrix in double precision (one-sided Jacobi), for Procrustes
 * alignment. One-sided Jacobi orthogonalises the columns directly, so it keeps relative accuracy for small
 * singular values (no squaring as with an eigen-decomposition of AᵀA).
 * @module
 */

/** The factors of `A = U · diag(s) · Vᵀ`; matrices row-major, `s` in descending order. */
export interface Svd3 {
  /** Left singular vectors as columns, row-major 3×3. */
  u: Float64Array;
  /** Singular values, descending, non-negative. */
  s: Float64Array;
  /** Right singular vectors as columns, row-major 3×3. */
  v: Float64Array;
}

const EPS = 2.220446049250313e-16;

/**
 * Decomposes a row-major 3×3 matrix `a` into `U · diag(s) · Vᵀ`. As with `numpy.linalg.svd`, U and V are
 * orthogonal but either may have determinant −1; the singular vectors of a zero singular value complete an
 * orthonormal basis (their sign is then arbitrary).
 */
export function svd3(a: ArrayLike<number>): Svd3 {
  // w = A·V is driven to orthogonal columns by plane rotations applied on the right.
  const w = Float64Array.from({ length: 9 }, (_, i) => a[i]);
  const v = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < 2; p++) {
      for (let q = p + 1; q < 3; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let r = 0; r < 3; r++) {
          const wp = w[r * 3 + p], wq = w[r * 3 + q];
          alpha += wp * wp;
          beta += wq * wq;
          gamma += wp * wq;
        }
        if (gamma === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < 3; r++) {
          const wp = w[r * 3 + p], wq = w[r * 3 + q];
          w[r * 3 + p] = c * wp - s * wq;
          w[r * 3 + q] = s * wp + c * wq;
          const vp = v[r * 3 + p], vq = v[r * 3 + q];
          v[r * 3 + p] = c * vp - s * vq;
          v[r * 3 + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = [0, 1, 2].map((k) => Math.hypot(w[k], w[3 + k], w[6 + k]));
  const order = [0, 1, 2].sort((i, j) => norms[j] - norms[i]);
  const s = new Float64Array(order.map((k) => norms[k]));
  const vs = new Float64Array(9);
  const ws = new Float64Array(9);
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 3; r++) {
      vs[r * 3 + c] = v[r * 3 + order[c]];
      ws[r * 3 + c] = w[r * 3 + order[c]];
    }
  }
  return { u: leftVectors(ws, s), s, v: vs };
}

/** Orthonormal U from the orthogonalised columns, completing the basis where singular values vanish. */
function leftVectors(w: Float64Array, s: Float64Array): Float64Array {
  const col = (k: number): number[] => [w[k], w[3 + k], w[6 + k]];
  // Columns this small relative to the largest carry only rounding noise, not a direction.
  const tiny = Math.max(s[0], Number.MIN_VALUE) * 1e-13;
  let u1: number[];
  if (s[0] > 0) u1 = scale(col(0), 1 / s[0]);
  else u1 = [1, 0, 0];
  let u2: number[] | null = null;
  if (s[1] > tiny) {
    const w2 = col(1);
    const d = dot(u1, w2);
    const r = [w2[0] - d * u1[0], w2[1] - d * u1[1], w2[2] - d * u1[2]];
    const n = Math.hypot(r[0], r[1], r[2]);
    if (n > 0) u2 = scale(r, 1 / n);
  }
  if (u2 === null) u2 = perpendicular(u1);
  let u3 = cross(u1, u2);
  if (dot(u3, col(2)) < 0) u3 = scale(u3, -1);
  const u = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    u[r * 3] = u1[r];
    u[r * 3 + 1] = u2[r];
    u[r * 3 + 2] = u3[r];
  }
  return u;
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function cross(a: number[], b: number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function scale(a: number[], k: number): number[] {
  return [a[0] * k, a[1] * k, a[2] * k];
}

/** A unit vector perpendicular to unit `a` (crossed with the axis it is least aligned with). */
function perpendicular(a: number[]): number[] {
  const ax = Math.abs(a[0]), ay = Math.abs(a[1]), az = Math.abs(a[2]);
  const e = ax <= ay && ax <= az ? [1, 0, 0] : ay <= az ? [0, 1, 0] : [0, 0, 1];
  const c = cross(a, e);
  return scale(c, 1 / Math.hypot(c[0], c[1], c[2]));
}
