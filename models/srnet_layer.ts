/**
 * SRNet's split-and-recombine layer (the official `FlexGroupLayer` with `--split others`): a grouped
 * convolution in which every group also receives a low-dimensional *global context* computed from all
 * the other groups' input channels.
 *
 * For group g with input channels x_g, the other groups' channels x_ḡ (in their original order), kernel
 * k and dilation d:
 *
 *     m_g = m_conv.g(x_ḡ)                      k channels (one per tap), kernel k, dilation d, with bias
 *     multiply: gate = sigmoid(layers_bn.g(m_g));  out_g[t] = Σ_j gate[j,t] · W_g[:,:,j] · x_g[t + j·d]
 *     add:      gate = LeakyReLU(m_g);            out_g[t] = Σ_j W_g[:,:,j] · (x_g[t + j·d] + gate[j,t])
 *     concat:   c = LeakyReLU(m_g), appended to x_g as one extra last input channel; for k > 1 the
 *               official code reshapes c from (B, k, T') to (B, 1, T', k) *without* a transpose (quirk 7),
 *               which is reproduced here.
 *
 * Keys: `group_conv.{g}.weight [out_g, in_g (+1 for concat), k]`, `get_part_info.layers_bn.{g}.*`
 * (multiply only), `get_part_info.m_conv.{g}.{weight,bias} [k, C − in_g, k]`. The group convolutions
 * have no bias (quirk 4). `m_conv` weights start at zero, as in the official initialisation.
 *
 * With `--split all` (the official `With_all_joints` with its default `split_modulation`) the context of
 * every group is the layer's whole input: keys `get_all_info.m_conv.{g}.{weight,bias} [k, C_all, k]`
 * (C_all = 34 raw input channels in the first layer, C in the others) and no gate BN, so multiply is
 * `gate = sigmoid(m_g)`; add and concat as above.
 *
 * Implementation: the k·G gate pre-activations of all groups come from *one* matmul of the unfolded
 * input against a packed matrix in which each group's `m_conv` weight is spread over the other groups'
 * columns (zeros on its own), so the context needs no per-group gathers.
 * @module
 */

import { InputError, ops, type Tensor, tensor, zeros } from "../engine/mod.ts";
import {
  BatchNorm1d,
  Conv1d,
  copyInto,
  type FoldPair,
  type FusedEpilogue,
  GroupConv1d,
  Module,
  ModuleList,
  unfold1d,
} from "../layers/mod.ts";

/** How the context re-enters each group (`--recombine`). */
export type Recombine = "multiply" | "add" | "concat";

/** Where each group's context comes from (`--split`): the other groups' channels, or all of them. */
export type ContextSource = "others" | "all";

/**
 * The context branch: one gate conv (and, for `others` with multiply, a BN) per group.
 * `get_part_info` (`--split others`, the official `With_other_joints`): `m_conv.g` sees the other
 * groups' channels `[k, C − in_g, k]`, multiply gates are `sigmoid(layers_bn.g(·))`.
 * `get_all_info` (`--split all`, `With_all_joints`): `m_conv.g` sees all `allInputs` channels of the
 * layer's input `[k, allInputs, k]` (the raw 34 in the first layer), no gate BN (multiply: `sigmoid(·)`).
 */
export class PartInfo extends Module {
  /** Gate norms (`others` with multiply only), `BatchNorm1d(k)` each. */
  readonly layers_bn: ModuleList<BatchNorm1d> | null;
  /** Gate convs with bias. */
  readonly m_conv: ModuleList<Conv1d>;

  /** Creates the branch for groups of `inGroups` channels. */
  constructor(
    inGroups: readonly number[],
    kernel: number,
    dilation: number,
    options: { recombine: Recombine; source?: ContextSource; allInputs?: number; contextDim?: number },
  ) {
    super();
    const total = inGroups.reduce((a, b) => a + b, 0);
    const all = options.source === "all";
    const outputs = kernel * (options.contextDim ?? 1);
    // Registration order = the official state_dict order (layers_bn before m_conv).
    this.layers_bn = options.recombine === "multiply" && !all
      ? this.addModule(
        "layers_bn",
        new ModuleList(inGroups.map(() => new BatchNorm1d(kernel, { momentum: 0.1 }))),
      )
      : null;
    this.m_conv = this.addModule(
      "m_conv",
      new ModuleList(
        inGroups.map((c) =>
          new Conv1d(all ? options.allInputs ?? total : total - c, outputs, kernel, { dilation })
        ),
      ),
    );
    // The official code zero-initialises the gate convs (nn.init.constant_(weight, 0)): gates start at
    // sigmoid(BN(bias)), the same for every input.
    for (const conv of this.m_conv) copyInto(conv.weight, new Float32Array(conv.weight.size));
  }

  /** Each gate conv with its norm. */
  protected override foldPairs(): FoldPair[] {
    if (!this.layers_bn) return [];
    return this.m_conv.toArray().map((conv, g) => ({ layers: [conv], norm: this.layers_bn!.at(g) }));
  }
}

/** Options of `SplitRecombineLayer`. */
export interface SplitRecombineOptions {
  /** Dilation of the group and gate convs. */
  dilation?: number;
  /** The recombination operator. */
  recombine: Recombine;
  /** `others` (default, key `get_part_info`) or `all` (key `get_all_info`). */
  source?: ContextSource;
  /**
   * With `all`: the layer-input channel of each of the gate convs' input channels (default: all of
   * them in order). The first SRNet layer's gates see the raw 34 input channels, i.e. the first copy of
   * each channel in the regrouped input.
   */
  contextChannels?: readonly number[];
  /**
   * H, the context channels appended to each group with concat (default 1, the official code's fixed
   * `added_dim`): gate convs with H·k outputs, group convs with H extra inputs. Only for concat.
   */
  contextDim?: number;
}

/** One split-and-recombine layer. */
export class SplitRecombineLayer extends GroupConv1d {
  /** The context branch (registered as `get_part_info`, or `get_all_info` for `source: "all"`). */
  readonly get_part_info: PartInfo;
  /** The recombination operator. */
  readonly recombine: Recombine;
  /** Where the context comes from. */
  readonly source: ContextSource;
  /** H: context channels per group (concat; 1 otherwise). */
  readonly contextDim: number;
  readonly #contextChannels: readonly number[] | null;

  /** Creates the layer: group g maps `inGroups[g]` channels to `outGroups[g]`. */
  constructor(
    inGroups: readonly number[],
    outGroups: readonly number[],
    kernel: number,
    options: SplitRecombineOptions,
  ) {
    const h = options.contextDim ?? 1;
    if (!Number.isInteger(h) || h < 1 || (h !== 1 && options.recombine !== "concat")) {
      throw new InputError(
        `split-recombine layer: context dimension ${h} (a positive integer, above 1 only with concat)`,
      );
    }
    super(inGroups, outGroups, kernel, {
      dilation: options.dilation,
      extraInputs: options.recombine === "concat" ? h : 0,
    });
    this.contextDim = h;
    if (inGroups.length < 2) throw new InputError("a split-and-recombine layer needs at least two groups");
    this.recombine = options.recombine;
    this.source = options.source ?? "others";
    const cc = options.contextChannels;
    if (cc && cc.some((c) => !Number.isInteger(c) || c < 0 || c >= this.inChannels)) {
      throw new InputError(`split-recombine layer: context channels outside 0..${this.inChannels - 1}`);
    }
    this.#contextChannels = this.source === "all" && cc ? [...cc] : null;
    this.get_part_info = this.addModule(
      this.source === "all" ? "get_all_info" : "get_part_info",
      new PartInfo(inGroups, kernel, options.dilation ?? 1, {
        recombine: options.recombine,
        source: this.source,
        allInputs: this.#contextChannels?.length ?? this.inChannels,
        contextDim: h,
      }),
    );
  }

  /** Gate-conv outputs per group: k·H. */
  get gateWidth(): number {
    return this.kernelSize * this.contextDim;
  }

  /**
   * The packed gate matrix `[k·C, G·k·H]` (rows in the unfolded input's tap-major order; columns padded
   * with zeros to a multiple of 4): column block g holds `m_conv.g`'s weight on the other groups' rows
   * and zeros on group g's own (cached in eval).
   */
  packedGateWeight(): Tensor {
    return this.cached("gate_w", () => {
      if (this.source === "all") return padTo4(this.#packedAllWeight(), 1);
      // One gather from the concatenated gate weights (a training step rebuilds this matrix, and the
      // permute / zero block / slices / concats per group were ~27 dispatches per layer).
      const convs = this.get_part_info.m_conv.toArray();
      const flat = ops.concat(convs.map((c) => ops.reshape(c.effectiveWeight(), [-1])), { axis: 0 });
      const idx = this.cachedIndex("gate_w", () => this.#gateIndex());
      return ops.reshape(ops.gather(flat, idx, { axis: 0 }), [this.kernelSize * this.inChannels, -1]);
    });
  }

  /**
   * Gather map of the packed gate matrix (`--split others`): entry (row j·C + c, column g·kh + o) reads
   * `m_conv.g.weight[o, c', j]` (c' = c among the other groups' channels) from the concatenation of the
   * flattened gate weights, or −1 (zero) on group g's own rows and the padding columns.
   */
  #gateIndex(): Int32Array {
    const k = this.kernelSize, kh = this.gateWidth, c = this.inChannels;
    const ranges = this.inRanges();
    const cols = Math.ceil((ranges.length * kh) / 4) * 4;
    const out = new Int32Array(k * c * cols).fill(-1);
    let base = 0;
    ranges.forEach(([a, b], g) => {
      const other = c - (b - a);
      for (let j = 0; j < k; j++) {
        for (let ch = 0; ch < c; ch++) {
          if (ch >= a && ch < b) continue;
          const cc = ch < a ? ch : ch - (b - a);
          for (let o = 0; o < kh; o++) {
            out[(j * c + ch) * cols + g * kh + o] = base + (o * other + cc) * k + j;
          }
        }
      }
      base += kh * other * k;
    });
    return out;
  }

  /** `all`: each group's gate weight over every input row (scattered to its layer channels). */
  #packedAllWeight(): Tensor {
    const k = this.kernelSize, kh = this.gateWidth, c = this.inChannels, map = this.#contextChannels;
    const blocks = this.get_part_info.m_conv.toArray().map((conv) => {
      // [k_out, C_ctx, k_tap] → [k_tap, C_ctx, k_out]; then rows of the layer's C input channels.
      let w = ops.permute(conv.effectiveWeight(), [2, 1, 0]);
      if (map) {
        // Layer channel j takes gate-input channel src[j], or a zero row (index C_ctx) if none.
        const src = new Int32Array(c).fill(map.length);
        map.forEach((j, i) => (src[j] = i));
        w = ops.gather(ops.concat([w, zeros([k, 1, kh])], { axis: 1 }), tensor(src), { axis: 1 });
      }
      return ops.reshape(w, [k * c, kh]);
    });
    return ops.concat(blocks, { axis: 1 });
  }

  /** The gate biases of all groups `[G·k]` (zero-padded like the packed weight's columns). */
  packedGateBias(): Tensor {
    return this.cached(
      "gate_b",
      () =>
        padTo4(
          ops.concat(this.get_part_info.m_conv.toArray().map((c) => c.effectiveBias()!), { axis: 0 }),
          0,
        ),
    );
  }

  /** Gates/shifts/context values of every group from unfolded rows `[M, k·C]` → `[M, G·k·H (+ padding)]`. */
  context(flat: Tensor): Tensor {
    const pre = ops.linear(flat, this.packedGateWeight(), {
      bias: this.packedGateBias(),
      weightLayout: "in_out",
      constantWeight: !this.training,
      activation: this.recombine === "multiply" ? "none" : "leaky_relu",
      alpha: 0.01,
    });
    if (this.recombine !== "multiply") return pre;
    const bns = this.get_part_info.layers_bn;
    if (!bns || bns.toArray().every((bn) => bn.folded)) return ops.sigmoid(pre);
    const k = this.kernelSize;
    const normed = bns.toArray().map((bn, g) =>
      bn.forward(ops.slice(pre, [{ axis: 1, start: g * k, end: (g + 1) * k }]))
    );
    return ops.sigmoid(ops.concat(normed, { axis: 1 }));
  }

  /**
   * `[N, T, C]` → `[N, T', Σ out_g]`, or rows `[M, C]` → `[M, Σ out_g]` when pointwise. The epilogue
   * (bias of a folded norm, activation) is fused into each group's matmul.
   */
  override forward(x: Tensor, options: FusedEpilogue = {}): Tensor {
    const k = this.kernelSize;
    const c = this.inChannels;
    if (x.shape[x.rank - 1] !== c || !(x.rank === 3 || (x.rank === 2 && k === 1))) {
      throw new InputError(
        `split-recombine layer: input has shape [${x.shape.join(", ")}], expected [N, T, ${c}]`,
      );
    }
    let flat: Tensor, cols: Tensor, n = 0, frames = 0;
    if (x.rank === 2) {
      flat = cols = x;
    } else {
      const u = unfold1d(x, { kernel: k, dilation: this.dilation });
      n = x.shape[0];
      frames = u.shape[1];
      flat = ops.reshape(u, [n * frames, k * c]);
      cols = k === 1 ? flat : ops.reshape(flat, [n * frames, k, c]);
    }
    const ctx = this.context(flat);
    const rows = flat.shape[0];
    const h = this.contextDim, kh = this.gateWidth;
    const y = this.forwardUnfolded(cols, {
      ...options,
      transform: (g, xg) => {
        const m = ops.slice(ctx, [{ axis: 1, start: g * kh, end: (g + 1) * kh }]); // [M, k·H]
        if (this.recombine === "concat") {
          // Quirk 7: (B, H·k, T') reinterpreted as (B, H, T', k); our rows are (b, t) with H·k columns,
          // the group's input rows (b, t) × tap × channel, so the H values of tap j go last.
          const extra = k === 1 ? m : ops.reshape(
            ops.permute(
              ops.reshape(ops.permute(ops.reshape(m, [n, frames, kh]), [0, 2, 1]), [n, h, frames, k]),
              [
                0,
                2,
                3,
                1,
              ],
            ),
            [rows, k, h],
          );
          return ops.concat([xg, extra], { axis: xg.rank - 1 });
        }
        const mg = k === 1 ? m : ops.reshape(m, [rows, k, 1]);
        return this.recombine === "multiply" ? ops.mul(xg, mg) : ops.add(xg, mg);
      },
    });
    return x.rank === 2 ? y : ops.reshape(y, [n, frames, this.outChannels]);
  }
}

/** `t` zero-padded along `axis` to a multiple of 4. */
function padTo4(t: Tensor, axis: number): Tensor {
  const n = t.shape[axis], p = Math.ceil(n / 4) * 4 - n;
  if (p === 0) return t;
  return ops.pad(t, t.shape.map((_, i) => (i === axis ? [0, p] : [0, 0]) as [number, number]));
}
