/**
 * Losses, written with the differentiable ops of `ops.ts` (so `backward` goes through them) plus a GPU
 * kernel for PoseFix's target heatmaps:
 *
 * - `mseLoss`, `l1Loss`: mean over all elements, or over the entries a (broadcast) mask selects.
 * - `hardJointLoss`: seed 003's structure-aware objective — L1 on all joints of the basic network plus,
 *   for each refinement channel, L1 on that channel's hard joints only (binary mask q).
 * - `integralLoss`: PoseFix's loss (mks0601/PoseFix_RELEASE `main/model.py`): softmax cross-entropy over
 *   the H·W cells of each heatmap against a bilinear 4-neighbour one-hot target, plus L1 on the
 *   soft-argmax coordinates `x = Σ p·(col+1) − 1` (likewise y), both weighted by the joint's validity and
 *   averaged over all joints (TF `reduce_mean`).
 * @module
 */

import * as ops from "./ops.ts";
import { InputError } from "./errors.ts";
import { broadcastShapes } from "./kernels/elementwise.ts";
import { compile, flatMain, output, runFlat, storageDecl, uniformDecl, Uniforms } from "./kernels/common.ts";
import { sum as sumKernel } from "./kernels/reduce.ts";
import { unary } from "./kernels/elementwise.ts";
import { type Tensor, tensor } from "./tensor.ts";

function checkPair(name: string, pred: Tensor, target: Tensor): void {
  if (pred.shape.join() !== target.shape.join()) {
    throw new InputError(
      `${name}: prediction [${pred.shape.join(", ")}] and target [${
        target.shape.join(", ")
      }] differ in shape`,
    );
  }
}

/**
 * Mean of `err` over all its elements, or `Σ err·mask / Σ mask` with the mask broadcast to `err`'s
 * shape (an all-zero mask gives 0, not NaN).
 */
function reduceMasked(err: Tensor, mask: Tensor | undefined, name: string): Tensor {
  if (!mask) return ops.mean(err);
  if (broadcastShapes(mask.shape, err.shape).join() !== err.shape.join()) {
    throw new InputError(
      `${name}: mask [${mask.shape.join(", ")}] does not broadcast to [${err.shape.join(", ")}]`,
    );
  }
  const num = ops.sum(ops.mul(err, mask));
  // Each mask entry stands for err.size/mask.size entries of err; the count is a constant of the step.
  const s = sumKernel(mask);
  const count = unary(s, "affine", { a: err.size / mask.size, b: 0 });
  s.dispose();
  const scaled = unary(count, "clamp", { a: 1e-12, b: 3.4e38 });
  count.dispose();
  return ops.div(num, scaled);
}

/** Mean squared error (PyTorch `mse_loss`), or its mean over the entries `mask` selects (weights allowed). */
export function mseLoss(pred: Tensor, target: Tensor, options: { mask?: Tensor } = {}): Tensor {
  checkPair("mseLoss", pred, target);
  return reduceMasked(ops.square(ops.sub(pred, target)), options.mask, "mseLoss");
}

/** Mean absolute error (PyTorch `l1_loss`), or its mean over the entries `mask` selects. */
export function l1Loss(pred: Tensor, target: Tensor, options: { mask?: Tensor } = {}): Tensor {
  checkPair("l1Loss", pred, target);
  return reduceMasked(ops.abs(ops.sub(pred, target)), options.mask, "l1Loss");
}

/** One refinement channel of `hardJointLoss`. */
export interface HardJointChannel {
  /** The channel's refined coordinates, e.g. [N, J_c, 3]. */
  pred: Tensor;
  /** Ground truth of the same shape. */
  target: Tensor;
  /** Binary mask q selecting the hard joints, broadcastable to `pred` (e.g. [1, J_c, 1] or [N, J_c, 1]). */
  mask: Tensor;
}

/**
 * Seed 003's structure-aware loss: `L1(basic, all joints) + Σ_c L1(channel c, hard joints of c)`, each L1
 * a mean absolute error over the entries it covers (`norm: "l2"` uses squared errors instead).
 * Returns the total and its terms (the terms share the graph: dispose them with the total).
 */
export function hardJointLoss(
  basic: { pred: Tensor; target: Tensor },
  options: { channels: HardJointChannel[]; norm?: "l1" | "l2" },
): { total: Tensor; basic: Tensor; channels: Tensor[] } {
  const f = options.norm === "l2" ? mseLoss : l1Loss;
  const b = f(basic.pred, basic.target);
  const channels = options.channels.map((c) => f(c.pred, c.target, { mask: c.mask }));
  let total = b;
  for (const c of channels) total = ops.add(total, c);
  if (total === b) total = ops.affine(b, { scale: 1 });
  return { total, basic: b, channels };
}

/**
 * PoseFix's target heatmaps [N, K, H, W] from coordinates [N, K, 2] (x, y in heatmap cells): weights
 * (1−fx)(1−fy), (1−fx)fy, fx(1−fy), fx·fy on the four cells around (x, y); cells off the map are
 * dropped and the rest renormalised to sum 1 (an all-off joint stays 0), as `render_onehot_heatmap`.
 */
export function onehotHeatmap(coords: Tensor, options: { height: number; width: number }): Tensor {
  if (coords.rank !== 3 || coords.shape[2] !== 2) {
    throw new InputError(`onehotHeatmap: coordinates must be [N, K, 2], got [${coords.shape.join(", ")}]`);
  }
  const [n, k] = coords.shape, H = options.height, W = options.width;
  if (!(Number.isInteger(H) && Number.isInteger(W) && H > 0 && W > 0)) {
    throw new InputError(`onehotHeatmap: invalid map size ${H}×${W}`);
  }
  const out = output([n, k, H, W]);
  const code = `${storageDecl([{ name: "C" }], [{ name: "Y" }])}${uniformDecl(2, 3)}
${flatMain()}  let H = P(1u); let W = P(2u);
  if (gi >= P(0u)) { return; }
  let base = gi * H * W;
  for (var i = 0u; i < H * W; i++) { Y[base + i] = 0.0; }
  let x = C[2u * gi]; let y = C[2u * gi + 1u];
  let x0 = floor(x); let y0 = floor(y);
  let fx = x - x0; let fy = y - y0;
  let xi = i32(x0); let yi = i32(y0);
  var total = 0.0;
  for (var c = 0; c < 4; c++) {
    let dy = c % 2; let dx = c / 2;
    let w = select(1.0 - fx, fx, dx == 1) * select(1.0 - fy, fy, dy == 1);
    let xx = xi + dx; let yy = yi + dy;
    if (xx >= 0 && yy >= 0 && u32(xx) < W && u32(yy) < H) {
      Y[base + u32(yy) * W + u32(xx)] += w;
      total += w;
    }
  }
  if (total != 0.0) {
    for (var c = 0; c < 4; c++) {
      let xx = xi + c / 2; let yy = yi + c % 2;
      if (xx >= 0 && yy >= 0 && u32(xx) < W && u32(yy) < H) {
        let j = base + u32(yy) * W + u32(xx);
        Y[j] = Y[j] / total;
      }
    }
  }
}`;
  runFlat(compile(code, 2, "onehot_heatmap"), [coords.buf, out.buf], new Uniforms().int(n * k, H, W), n * k);
  return out;
}

function grid(n: number): Tensor {
  return tensor(Float32Array.from({ length: n }, (_, i) => i + 1));
}

/** Soft-argmax of heatmap logits [N, K, H, W] → [N, K, 2] (x, y) in cells: `x = Σ p·(col+1) − 1`. */
export function softArgmax(logits: Tensor): Tensor {
  if (logits.rank !== 4) {
    throw new InputError(`softArgmax: heatmaps must be [N, K, H, W], got rank ${logits.rank}`);
  }
  return softArgmaxFrom(
    ops.softmax(ops.reshape(logits, [logits.shape[0], logits.shape[1], -1]), { axis: -1 }),
    logits,
  );
}

function softArgmaxFrom(p: Tensor, logits: Tensor): Tensor {
  const [n, k, H, W] = logits.shape;
  const p4 = ops.reshape(p, [n, k, H, W]);
  const cols = grid(W), rows = grid(H);
  const x = ops.sum(ops.mul(ops.sum(p4, { axis: 2 }), cols), { axis: 2, keepDims: true });
  const y = ops.sum(ops.mul(ops.sum(p4, { axis: 3 }), rows), { axis: 2, keepDims: true });
  cols.dispose();
  rows.dispose();
  return ops.affine(ops.concat([x, y], { axis: 2 }), { shift: -1 });
}

/**
 * PoseFix's integral loss for heatmap logits [N, K, H, W], target coordinates [N, K, 2] (x, y in heatmap
 * cells) and validity [N, K]: `mean(CE·valid) + mean(|coords − target|·valid)`. Returns the total, both
 * terms and the soft-argmax coordinates.
 */
export function integralLoss(
  logits: Tensor,
  target: Tensor,
  options: { valid: Tensor },
): { total: Tensor; heatmap: Tensor; coord: Tensor; coords: Tensor } {
  if (logits.rank !== 4) {
    throw new InputError(`integralLoss: heatmaps must be [N, K, H, W], got [${logits.shape.join(", ")}]`);
  }
  const [n, k, H, W] = logits.shape;
  if (target.shape.join() !== [n, k, 2].join()) {
    throw new InputError(`integralLoss: target must be [${n}, ${k}, 2], got [${target.shape.join(", ")}]`);
  }
  if (options.valid.size !== n * k) {
    throw new InputError(
      `integralLoss: valid must have ${n}×${k} entries, got [${options.valid.shape.join(", ")}]`,
    );
  }
  const valid = options.valid.shape.join() === [n, k].join() ? options.valid : options.valid.reshape([n, k]);
  const flat = ops.reshape(logits, [n, k, H * W]);
  const logp = ops.logSoftmax(flat, { axis: -1 });
  const hm = onehotHeatmap(target, { height: H, width: W });
  const gt = hm.reshape([n, k, H * W]);
  hm.dispose();
  const ce = ops.neg(ops.sum(ops.mul(logp, gt), { axis: 2 }));
  gt.dispose();
  const heatmap = ops.mean(ops.mul(ce, valid));
  const coords = softArgmaxFrom(ops.exp(logp), logits);
  const v3 = valid.reshape([n, k, 1]);
  const coord = ops.mean(ops.mul(ops.abs(ops.sub(coords, target)), v3));
  v3.dispose();
  if (valid !== options.valid) valid.dispose();
  return { total: ops.add(heatmap, coord), heatmap, coord, coords };
}
