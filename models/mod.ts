/**
 * Models: the lifting family, key-compatible with the reference implementations' PyTorch state dicts,
 * and a registry that builds them by name from the references' constructor arguments.
 *
 * ```ts ignore
 * import { initEngine, readSafetensors, tensor, tidy } from "@posegpu/posegpu/engine";
 * import { createModel } from "@posegpu/posegpu/models";
 * await initEngine();
 * const model = createModel("martinez", { linear_size: 1024, num_stage: 2 });
 * await model.loadStateDict((await readSafetensors("baseline.safetensors")).tensors, { fold: true });
 * const y = tidy(() => model.forward(tensor(new Float32Array(64 * 32), [64, 32]))); // [64, 48]
 * ```
 * @module
 */

export * from "./config.ts";
export * from "./martinez.ts";
export * from "./videopose.ts";
export * from "./srnet_layer.ts";
export * from "./srnet.ts";
export * from "./srnet_fc.ts";
export * from "./dual_channel.ts";
export * from "./sequence.ts";
export * from "./image_ops.ts";
export * from "./resnet.ts";
export * from "./pose_resnet.ts";
export * from "./posefix.ts";
export * from "./cpn.ts";
export * from "./ssd300.ts";
export * from "./patch_refine.ts";
export * from "./registry.ts";
