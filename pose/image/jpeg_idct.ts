/**
 * libjpeg's "islow" integer inverse DCT (jidctint.c, the default of libjpeg/libjpeg-turbo and so of
 * PIL), bit for bit: 13-bit fixed-point constants, 2 extra bits between the passes, and the wrap-around
 * range-limit table.
 * @module
 */

const CONST_BITS = 13;
const PASS1_BITS = 2;
const F_0_298 = 2446, F_0_390 = 3196, F_0_541 = 4433, F_0_765 = 6270, F_0_899 = 7373, F_1_175 = 9633;
const F_1_501 = 12299, F_1_847 = 15137, F_1_961 = 16069, F_2_053 = 16819, F_2_562 = 20995, F_3_072 = 25172;

/**
 * libjpeg's post-IDCT range limit, indexed by `value & 1023` (value before the +128 level shift):
 * -128..127 → 0..255, 128..511 → 255, -512..-129 → 0; beyond that libjpeg wraps, and so do we.
 */
const RANGE_LIMIT: Uint8Array = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  return t;
})();

/** The coefficient blocks of one component and their grid. */
export interface CoefficientPlane {
  /** 64 coefficients per block in natural (row-major) order, blocks row-major. */
  coefs: Int16Array;
  /** Blocks per row and per column of the grid. */
  blocksPerLine: number;
  /** Block rows of the grid. */
  blocksPerColumn: number;
}

/**
 * Dequantizes (`quant`: 64 values, natural order) and inverse-transforms every block of a component.
 * Returns the samples, `blocksPerLine * 8` wide and `blocksPerColumn * 8` high.
 */
export function idctPlane(plane: CoefficientPlane, quant: Int32Array): Uint8Array {
  const { coefs, blocksPerLine, blocksPerColumn } = plane;
  const stride = blocksPerLine * 8;
  const out = new Uint8Array(stride * blocksPerColumn * 8);
  const ws = new Int32Array(64);
  for (let by = 0; by < blocksPerColumn; by++) {
    for (let bx = 0; bx < blocksPerLine; bx++) {
      idctBlock(coefs, (by * blocksPerLine + bx) * 64, quant, ws, out, by * 8 * stride + bx * 8, stride);
    }
  }
  return out;
}

function idctBlock(
  c: Int16Array,
  base: number,
  q: Int32Array,
  ws: Int32Array,
  out: Uint8Array,
  outBase: number,
  stride: number,
): void {
  // Pass 1: columns from the input into the workspace, scaled up by 2^PASS1_BITS.
  for (let col = 0; col < 8; col++) {
    const i = base + col;
    if (
      c[i + 8] === 0 && c[i + 16] === 0 && c[i + 24] === 0 && c[i + 32] === 0 && c[i + 40] === 0 &&
      c[i + 48] === 0 && c[i + 56] === 0
    ) {
      const dc = (c[i] * q[col]) << PASS1_BITS;
      for (let r = 0; r < 64; r += 8) ws[col + r] = dc;
      continue;
    }
    let z2 = c[i + 16] * q[col + 16];
    let z3 = c[i + 48] * q[col + 48];
    let z1 = (z2 + z3) * F_0_541;
    let tmp2 = z1 - z3 * F_1_847;
    let tmp3 = z1 + z2 * F_0_765;
    z2 = c[i] * q[col];
    z3 = c[i + 32] * q[col + 32];
    let tmp0 = (z2 + z3) * 8192;
    let tmp1 = (z2 - z3) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

    tmp0 = c[i + 56] * q[col + 56];
    tmp1 = c[i + 40] * q[col + 40];
    tmp2 = c[i + 24] * q[col + 24];
    tmp3 = c[i + 8] * q[col + 8];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F_1_175;
    tmp0 *= F_0_298;
    tmp1 *= F_2_053;
    tmp2 *= F_3_072;
    tmp3 *= F_1_501;
    z1 *= -F_0_899;
    z2 *= -F_2_562;
    z3 = z3 * -F_1_961 + z5;
    z4 = z4 * -F_0_390 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const R = 1 << (CONST_BITS - PASS1_BITS - 1), S = CONST_BITS - PASS1_BITS;
    ws[col] = (tmp10 + tmp3 + R) >> S;
    ws[col + 56] = (tmp10 - tmp3 + R) >> S;
    ws[col + 8] = (tmp11 + tmp2 + R) >> S;
    ws[col + 48] = (tmp11 - tmp2 + R) >> S;
    ws[col + 16] = (tmp12 + tmp1 + R) >> S;
    ws[col + 40] = (tmp12 - tmp1 + R) >> S;
    ws[col + 24] = (tmp13 + tmp0 + R) >> S;
    ws[col + 32] = (tmp13 - tmp0 + R) >> S;
  }
  // Pass 2: rows from the workspace to samples, removing both scalings and the 2^3 of the 2-D DCT.
  const R2 = 1 << (CONST_BITS + PASS1_BITS + 3 - 1), S2 = CONST_BITS + PASS1_BITS + 3;
  for (let row = 0; row < 64; row += 8) {
    const o = outBase + (row >> 3) * stride;
    if (
      ws[row + 1] === 0 && ws[row + 2] === 0 && ws[row + 3] === 0 && ws[row + 4] === 0 && ws[row + 5] === 0 &&
      ws[row + 6] === 0 && ws[row + 7] === 0
    ) {
      const v = RANGE_LIMIT[((ws[row] + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) & 1023];
      out.fill(v, o, o + 8);
      continue;
    }
    let z2 = ws[row + 2];
    let z3 = ws[row + 6];
    let z1 = (z2 + z3) * F_0_541;
    let tmp2 = z1 - z3 * F_1_847;
    let tmp3 = z1 + z2 * F_0_765;
    let tmp0 = (ws[row] + ws[row + 4]) * 8192;
    let tmp1 = (ws[row] - ws[row + 4]) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

    tmp0 = ws[row + 7];
    tmp1 = ws[row + 5];
    tmp2 = ws[row + 3];
    tmp3 = ws[row + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F_1_175;
    tmp0 *= F_0_298;
    tmp1 *= F_2_053;
    tmp2 *= F_3_072;
    tmp3 *= F_1_501;
    z1 *= -F_0_899;
    z2 *= -F_2_562;
    z3 = z3 * -F_1_961 + z5;
    z4 = z4 * -F_0_390 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[o] = RANGE_LIMIT[((tmp10 + tmp3 + R2) >> S2) & 1023];
    out[o + 7] = RANGE_LIMIT[((tmp10 - tmp3 + R2) >> S2) & 1023];
    out[o + 1] = RANGE_LIMIT[((tmp11 + tmp2 + R2) >> S2) & 1023];
    out[o + 6] = RANGE_LIMIT[((tmp11 - tmp2 + R2) >> S2) & 1023];
    out[o + 2] = RANGE_LIMIT[((tmp12 + tmp1 + R2) >> S2) & 1023];
    out[o + 5] = RANGE_LIMIT[((tmp12 - tmp1 + R2) >> S2) & 1023];
    out[o + 3] = RANGE_LIMIT[((tmp13 + tmp0 + R2) >> S2) & 1023];
    out[o + 4] = RANGE_LIMIT[((tmp13 - tmp0 + R2) >> S2) & 1023];
  }
}
