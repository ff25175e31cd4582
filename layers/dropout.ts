/**
 * `Dropout`: the identity in eval mode (the input itself, no copy); in training, zeroes each value with
 * probability `p` and scales the rest by 1/(1−p) (inverted dropout, as PyTorch; `ops.dropout`).
 * @module
 */

import { InputError, ops, type Tensor } from "../engine/mod.ts";
import { Module } from "./module.ts";

/** Inverted dropout. */
export class Dropout extends Module {
  /** Drop probability. */
  readonly p: number;

  /** Creates a dropout layer (`p` in [0, 1)). */
  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new InputError(`Dropout probability must be in [0, 1), got ${p}`);
    this.p = p;
  }

  /** Whether `forward` is the identity now (eval mode or p = 0). */
  get isIdentity(): boolean {
    return !this.training || this.p === 0;
  }

  /** Applies dropout in training mode; returns `x` itself otherwise. */
  forward(x: Tensor): Tensor {
    if (this.isIdentity) return x;
    // Philox mask on the GPU, seeded from the engine's stream (`manualSeed` makes runs repeatable).
    return ops.dropout(x, { p: this.p, training: true });
  }
}
