/**
 * Containers: `ModuleList` (children named `0`, `1`, …, as PyTorch's `nn.ModuleList`) and `Sequential`
 * (the same names, plus a forward that chains the children).
 * @module
 */

import type { Tensor } from "../engine/mod.ts";
import { Module } from "./module.ts";

/** A module with a one-tensor forward. */
export interface ForwardModule extends Module {
  /** Maps one tensor to another. */
  forward(x: Tensor): Tensor;
}

/** An indexed list of child modules, keys `0.…`, `1.…`. */
export class ModuleList<M extends Module = Module> extends Module {
  #items: M[] = [];

  /** Creates a list holding `items`. */
  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.push(m);
  }

  /** Appends a module (named by its index). */
  push(m: M): this {
    this.addModule(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }

  /** Number of modules. */
  get length(): number {
    return this.#items.length;
  }

  /** The module at `i` (negative counts from the end). */
  at(i: number): M {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (length ${this.#items.length})`);
    return m;
  }

  /** Iterates the modules in order. */
  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }

  /** The modules as an array (a copy). */
  toArray(): M[] {
    return [...this.#items];
  }
}

/** Children applied in order; keys `0.…`, `1.…`. */
export class Sequential extends ModuleList<ForwardModule> implements ForwardModule {
  /** Creates the chain. */
  constructor(...modules: ForwardModule[]) {
    super(modules);
  }

  /** Applies every child in turn. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this) y = m.forward(y);
    return y;
  }
}
