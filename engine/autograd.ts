/**
 * Reverse-mode automatic differentiation on a tape (PyTorch/tinygrad style), for the ops of `ops.ts`.
 *
 * - A trainable tensor is a leaf with `requiresGrad = true` (`param(t)` sets it).
 * - Ops record how to propagate gradients only inside a recording scope, `withGrad(fn)`, and only when
 *   an input requires a gradient. Recording is off by default (unlike PyTorch) because this engine has no
 *   garbage collector: a tape recorded during inference would keep every saved activation alive.
 * - `backward(loss)` walks the tape from `loss` in reverse topological order, accumulates gradients
 *   into the leaves' `grad` (adding to an existing one, as PyTorch does) and consumes the graph: every
 *   intermediate gradient is disposed as soon as it has been propagated, and every tensor the tape saved
 *   is released (`Tensor.release`) right after its node ran, so live buffers return to their baseline.
 * - Tensors saved for backward are retained: a `dispose()` (or an enclosing `tidy()`) before `backward`
 *   is deferred until the tape lets go, so model code may freely use `tidy()` inside layers.
 * - Leaving the outermost `withGrad` scope releases whatever the tape still holds (branches that did not
 *   reach the loss, or a forward pass whose backward was never run).
 *
 * Nothing here reads GPU data back: a whole training step records into the pending encoder.
 * @module
 */

import { InputError } from "./errors.ts";
import { keep, Tensor } from "./tensor.ts";
import { binary, fill } from "./kernels/elementwise.ts";

/**
 * A gradient contribution that touches only some entries of its input (the backward of a gather that
 * selects, pads or permutes): added in place into a gradient the input already has, it costs only those
 * entries, where materialising it writes the whole zero-filled tensor and then adds it.
 */
export interface SparseGrad {
  /** The input's shape. */
  readonly shape: readonly number[];
  /** The contribution as a new full tensor (zeros elsewhere). */
  materialize(): Tensor;
  /** Adds the contribution into `target` (same shape) in place. */
  addInto(target: Tensor): void;
}

/**
 * Computes the gradients of a node's inputs from the gradient of its output. `needs[i]` says whether
 * input i wants one (return null where it does not). Returned tensors are new, or `g` itself (passed
 * through unchanged); the engine owns and disposes them.
 */
export type BackwardFn = (g: Tensor, needs: boolean[]) => (Tensor | SparseGrad | null)[];

interface Node {
  inputs: (Tensor | null)[];
  needs: boolean[];
  saved: Tensor[];
  fn: BackwardFn;
  label: string;
}

const nodes = new WeakMap<Tensor, Node>();
const consumed = new WeakSet<Tensor>(); // outputs whose node a backward() ran (for a clear error)
let depth = 0; // withGrad nesting
let paused = 0; // noGrad nesting (and backward itself)
let scopeNodes: Set<Node> | null = null;

/** Whether ops are recording right now (inside `withGrad`, outside `noGrad`). */
export function isRecording(): boolean {
  return depth > 0 && paused === 0;
}

/** Whether a gradient flows to `t`: a leaf with `requiresGrad`, or an op output recorded on the tape. */
export function requiresGrad(t: Tensor | null | undefined): boolean {
  return !!t && (t.requiresGrad || nodes.has(t));
}

/** Marks a tensor as a trainable leaf and returns it. */
export function param<T extends Tensor>(t: T): T {
  if (t.dtype !== "f32") throw new InputError("only f32 tensors can require gradients");
  t.requiresGrad = true;
  return t;
}

/**
 * Runs `fn` with recording on. The outermost scope owns the tape: on exit it releases every node that
 * `backward` did not consume. Not a `tidy()`: combine them as needed.
 */
export function withGrad<T>(fn: () => T): T {
  const outer = depth === 0;
  if (outer) scopeNodes = new Set();
  depth++;
  try {
    return fn();
  } finally {
    depth--;
    if (outer) {
      const left = scopeNodes!;
      scopeNodes = null;
      for (const n of left) releaseNode(n);
    }
  }
}

/** Runs `fn` with recording off (evaluation inside a training scope); it wins over an inner `withGrad`. */
export function noGrad<T>(fn: () => T): T {
  paused++;
  try {
    return fn();
  } finally {
    paused--;
  }
}

/**
 * Records an op for backward when recording and when any input requires a gradient: `options.backward`
 * maps the output's gradient to the inputs' gradients; `saved` are the tensors it reads (retained until
 * the node has run). Returns whether it recorded. For op authors.
 */
export function record(
  output: Tensor,
  inputs: (Tensor | null | undefined)[],
  options: { backward: BackwardFn; saved?: (Tensor | null | undefined)[]; label?: string },
): boolean {
  const fn = options.backward;
  if (!isRecording()) return false;
  const needs = inputs.map((t) => requiresGrad(t));
  if (!needs.some((x) => x)) return false;
  const saved = (options.saved ?? []).filter((t): t is Tensor => !!t);
  for (const t of saved) t.retain();
  const node: Node = {
    inputs: inputs.map((t) => t ?? null),
    needs,
    saved,
    fn,
    label: options.label ?? "op",
  };
  nodes.set(output, node);
  scopeNodes?.add(node);
  return true;
}

function releaseNode(n: Node): void {
  for (const t of n.saved) t.release();
  n.saved = [];
  n.inputs = [];
}

/** Drops the tape behind `t` (it becomes a constant for later ops); its saved tensors are released. */
export function detachTape(t: Tensor): void {
  const n = nodes.get(t);
  if (!n) return;
  nodes.delete(t);
  scopeNodes?.delete(n);
  releaseNode(n);
}

/** Reverse topological order of the nodes reachable from `root` (iterative: deep graphs are fine). */
function order(root: Tensor): Tensor[] {
  const out: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const n = nodes.get(top[0]);
    const ins = n ? n.inputs : [];
    if (top[1] < ins.length) {
      const t = ins[top[1]++];
      if (t && !seen.has(t) && nodes.has(t)) {
        seen.add(t);
        stack.push([t, 0]);
      }
    } else {
      stack.pop();
      if (n) out.push(top[0]);
    }
  }
  return out.reverse();
}

/**
 * Back-propagates from `loss` (seeded with ones, or with `options.grad` of the loss's shape, which stays
 * the caller's) and accumulates into the `grad` of every reachable leaf that requires it. Consumes the
 * graph. Records only: nothing is read back.
 */
export function backward(loss: Tensor, options: { grad?: Tensor } = {}): void {
  if (options.grad && options.grad.shape.join() !== loss.shape.join()) {
    throw new InputError(
      `backward: upstream gradient [${options.grad.shape.join(", ")}] does not match [${
        loss.shape.join(", ")
      }]`,
    );
  }
  if (!requiresGrad(loss)) {
    if (consumed.has(loss)) {
      throw new InputError(
        "backward: the graph behind this loss was already consumed by an earlier backward()",
      );
    }
    throw new InputError(
      "backward: the loss does not depend on any tensor that requires a gradient " +
        "(mark parameters with param() and run the forward pass inside withGrad())",
    );
  }
  paused++;
  // Reference counts of the gradient tensors the engine owns; a caller's seed is never disposed.
  const refs = new Map<Tensor, number>();
  const grads = new Map<Tensor, Tensor>();
  const own = (g: Tensor) => refs.set(g, (refs.get(g) ?? 0) + 1);
  const drop = (g: Tensor) => {
    const r = (refs.get(g) ?? 0) - 1;
    if (r > 0) refs.set(g, r);
    else {
      refs.delete(g);
      if (g !== options.grad) g.dispose();
    }
  };
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    if (!prev) {
      grads.set(t, g);
      own(g);
      return;
    }
    const sum = binary(prev, g, "add");
    own(g);
    drop(g);
    drop(prev);
    grads.set(t, sum);
    own(sum);
  };
  try {
    const seed = options.grad ?? fill(loss.shape, 1);
    accumulate(loss, seed);
    if (options.grad) own(seed); // an extra reference: the caller's tensor survives
    for (const t of order(loss)) {
      const n = nodes.get(t)!;
      const g = grads.get(t);
      nodes.delete(t);
      consumed.add(t);
      scopeNodes?.delete(n);
      if (g) {
        grads.delete(t);
        const res = n.fn(g, n.needs);
        for (let i = 0; i < n.inputs.length; i++) {
          const inp = n.inputs[i], r = res[i];
          if (!inp || !n.needs[i] || !r) {
            if (r instanceof Tensor && r !== g && !refs.has(r)) r.dispose();
            continue;
          }
          if (r.shape.join() !== inp.shape.join()) {
            throw new Error(
              `autograd: ${n.label} produced a gradient of [${r.shape.join(", ")}] for an input of [${
                inp.shape.join(", ")
              }]`,
            );
          }
          let gi: Tensor;
          if (r instanceof Tensor) gi = r;
          else {
            // In place only into a gradient that nothing else holds (not shared, not the caller's seed).
            const prev = grads.get(inp);
            if (prev && refs.get(prev) === 1 && prev !== options.grad) {
              r.addInto(prev);
              continue;
            }
            gi = r.materialize();
          }
          accumulate(inp, gi);
        }
        drop(g);
      }
      releaseNode(n);
    }
    // What remains are the leaves' gradients.
    for (const [t, g] of grads) {
      grads.delete(t);
      if (!t.requiresGrad || nodes.has(t)) {
        drop(g);
        continue;
      }
      // A gradient shared with another leaf (or the caller's seed) is copied so each `grad` is its own.
      let mine = g;
      if ((refs.get(g) ?? 0) > 1 || g === options.grad) {
        mine = g.reshape(g.shape);
        drop(g);
      } else refs.delete(g);
      keep(mine);
      if (t.grad) {
        const acc = keep(binary(t.grad, mine, "add"));
        t.grad.dispose();
        mine.dispose();
        t.grad = acc;
      } else t.grad = mine;
    }
  } finally {
    for (const g of grads.values()) drop(g);
    paused--;
  }
}

/** Disposes and clears the gradients of `params` (PyTorch's `zero_grad(set_to_none=True)`). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
