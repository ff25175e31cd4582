/**
 * The posegpu tensor engine: a shared WebGPU device, GPU tensors, and WGSL compute kernels
 * (matmul, element-wise, reductions, softmax, batch norm, convolution, pooling, resize, data movement).
 *
 * ```ts ignore
 * import { initEngine, tensor, matmul } from "@posegpu/posegpu/engine";
 * await initEngine();
 * const y = matmul(tensor([1, 2, 3, 4], [2, 2]), tensor([1, 0, 0, 1], [2, 2]));
 * console.log(await y.read()); // Float32Array [1, 2, 3, 4]
 * ```
 * @module
 */

export * from "./errors.ts";
export { type AdapterSummary, adapterSummary, getDevice } from "./device.ts";
export { Backend, backend, type EngineStats, initEngine } from "./backend.ts";
export {
  bytesOf,
  empty,
  f16Supported,
  full,
  keep,
  numel,
  readAll,
  storageDType,
  stridesOf,
  Tensor,
  tensor,
  tensorFromF16Bits,
  tidy,
  zeros,
} from "./tensor.ts";
export { cast } from "./kernels/cast.ts";
export { f16Bytes, f16ToF32Array, f32ToF16Array, roundToF16 } from "./f16.ts";
export type { DType } from "./tensor.ts";
export { binary, type BinaryOp, broadcastShapes, fill, unary, type UnaryOp } from "./kernels/elementwise.ts";
export { type Activation, matmul, type MatmulOptions, type MatmulTile } from "./kernels/matmul.ts";
export { logSoftmax, mean, reduce, type ReduceOp, softmax, sum } from "./kernels/reduce.ts";
export { batchNorm, batchNormFold, type BatchNormHost, batchStats } from "./kernels/batch_norm.ts";
export { concat, gather, pad, permute, slice, stridedCopy, transpose } from "./kernels/shape.ts";
export * from "./safetensors.ts";
export { type FloatStorage, loadSafetensorsTensors, type LoadTensorsOptions } from "./safetensors_gpu.ts";
export { writeFileAtomic } from "./fs.ts";
export {
  findStateDict,
  type FindStateDictOptions,
  isHostTensor,
  PickleGlobal,
  PickleObject,
  readTorchCheckpoint,
  type TorchCheckpointOptions,
  type TorchStateDict,
} from "./torch_checkpoint.ts";
export * as ops from "./ops.ts";
export {
  candidateTiles,
  chosenTile,
  ENGINE_VERSION,
  saveTuning,
  type TileTiming,
  tuneMatmul,
} from "./tuning.ts";
export {
  conv1d,
  type Conv1dOptions,
  conv2d,
  type Conv2dOptions,
  convTranspose2d,
  type ConvTranspose2dOptions,
} from "./kernels/conv.ts";
export { adaptiveAvgPool2d, avgPool2d, globalAvgPool2d, maxPool2d, type PoolSize } from "./kernels/pool.ts";
export { pad2d, resizeBilinear, resizeNearest } from "./kernels/resize.ts";
export { backward, noGrad, param, withGrad, zeroGrad } from "./autograd.ts";
export {
  Adam,
  AdamW,
  applyMaxNorm,
  clipGradNorm,
  exponentialDecay,
  exponentialLr,
  LossLog,
  type LrSchedule,
  type Optimizer,
  SGD,
  stepLr,
} from "./optim.ts";
export { hardJointLoss, integralLoss, l1Loss, mseLoss, softArgmax } from "./losses.ts";
export { kaimingNormal, kaimingUniform, linearInit } from "./init.ts";
export { manualSeed, Rng } from "./random.ts";
