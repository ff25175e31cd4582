/**
 * Parameter-free activation modules (PyTorch `nn.ReLU`, `nn.LeakyReLU`, `nn.Sigmoid`). Models usually
 * fuse the activation into the preceding matmul instead (see `denseUnit`); these exist for `Sequential`
 * stacks and to record which activation a model uses.
 * @module
 */

import { type Activation, ops, type Tensor } from "../engine/mod.ts";
import { Module } from "./module.ts";

/** `max(x, 0)`. */
export class ReLU extends Module {
  /** The matmul epilogue equivalent. */
  readonly kind: Activation = "relu";
  /** Applies the activation. */
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}

/** `x > 0 ? x : negativeSlope·x` (default slope 0.01, as PyTorch). */
export class LeakyReLU extends Module {
  /** The matmul epilogue equivalent. */
  readonly kind: Activation = "leaky_relu";
  /** The negative slope. */
  readonly negativeSlope: number;
  /** Creates the activation. */
  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = negativeSlope;
  }
  /** Applies the activation. */
  forward(x: Tensor): Tensor {
    return ops.leakyRelu(x, { alpha: this.negativeSlope });
  }
}

/** `1 / (1 + e^−x)`. */
export class Sigmoid extends Module {
  /** Applies the activation. */
  forward(x: Tensor): Tensor {
    return ops.sigmoid(x);
  }
}

/** An activation module that a matmul epilogue can replace. */
export type FusableActivation = ReLU | LeakyReLU;

/** The epilogue options equivalent to an activation module. */
export function epilogueOf(act: FusableActivation | null): { activation: Activation; alpha?: number } {
  if (!act) return { activation: "none" };
  return act instanceof LeakyReLU
    ? { activation: "leaky_relu", alpha: act.negativeSlope }
    : { activation: "relu" };
}
