/**
 * Layers: PyTorch-compatible modules built on the differentiable ops of `engine/ops.ts`.
 *
 * Layout: sequences are **features-last** `[N, T, C]` — the layout pose inputs already have (`[N, T,
 * J, 2]` flattened) — so Linear, Conv1d and BatchNorm1d all work on rows of C features and no
 * `[N, C, T]` transpose is ever made. Pointwise layers also take plain rows `[M, C]`. Images stay
 * `[N, C, H, W]` (BatchNorm2d). Parameters keep PyTorch's shapes and names, so a converted
 * `state_dict()` loads unchanged (`Module.loadStateDict`).
 *
 * ```ts ignore
 * import { initEngine, tensor, tidy } from "@posegpu/posegpu/engine";
 * import { Linear } from "@posegpu/posegpu/layers";
 * await initEngine();
 * const fc = new Linear(32, 1024).eval();
 * const y = tidy(() => fc.forward(tensor(new Float32Array(64 * 32), [64, 32]), { activation: "relu" }));
 * ```
 * @module
 */

export * from "./module.ts";
export * from "./init.ts";
export * from "./linear.ts";
export * from "./batch_norm.ts";
export * from "./activation.ts";
export * from "./dropout.ts";
export * from "./unfold.ts";
export * from "./conv1d.ts";
export * from "./group_conv1d.ts";
export * from "./conv2d.ts";
export * from "./conv_transpose2d.ts";
export * from "./pool2d.ts";
export * from "./container.ts";
export * from "./dense_unit.ts";
export * from "./state_dict.ts";
