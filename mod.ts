/**
 * posegpu: human pose lifting and refinement on WebGPU, in TypeScript.
 *
 * - `engine`: GPU tensors and WGSL kernels (`initEngine`, `tensor`, `matmul`, …).
 * - `pose`: skeletons, keypoint formats, cameras, metrics and protocols.
 *
 * ```ts ignore
 * import { initEngine, tensor, matmul } from "@posegpu/posegpu";
 * await initEngine();
 * const y = matmul(tensor([1, 2, 3, 4], [2, 2]), tensor([1, 0, 0, 1], [2, 2]));
 * console.log(await y.read());
 * ```
 * @module
 */

export * from "./engine/mod.ts";
