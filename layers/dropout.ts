/**
 * `Dropout`: the identity in eval mode; in training, zeroes each value with probability `p` and scales
 * the rest by 1/(1−p) (inverted dropout, as PyTorch).
 * @module
 */

import { InputError, ops, type Tensor, tensor } from "../engine/mod.ts";
import { nextRng, type Rng } from "./init.ts";
import { Module } from "./module.ts";

/** Inverted dropout. */
export class Dropout extends Module {
  /** Drop probability. */
  readonly p: number;
  #rng: Rng;

  /** Creates a dropout layer (`p` in [0, 1)). */
  constructor(p = 0.5, options: { rng?: Rng } = {}) {
    super();
    if (!(p >= 0 && p < 1)) throw new InputError(`Dropout probability must be in [0, 1), got ${p}`);
    this.p = p;
    this.#rng = options.rng ?? nextRng();
  }

  /** Whether `forward` is the identity now (eval mode or p = 0). */
  get isIdentity(): boolean {
    return !this.training || this.p === 0;
  }

  /** Applies dropout in training mode; returns `x` itself otherwise. */
  forward(x: Tensor): Tensor {
    if (this.isIdentity) return x;
    // TODO(engine): engine/ops.ts has no `dropout` yet. The mask is drawn on the host and uploaded, and
    // the product goes through `ops.mul`, so gradients flow; switch to a GPU-side random op when one
    // exists (this costs one upload of x.size floats per call).
    const keepP = 1 - this.p, scale = 1 / keepP;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.#rng() < keepP ? scale : 0;
    return ops.mul(x, tensor(mask, x.shape));
  }
}
