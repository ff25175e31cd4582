/**
 * Inference route for convolutions on small feature maps with many channels (ResNet layer3/layer4 at
 * batch 1, the first deconvolution of pose_resnet): the convolution as a matrix product through the
 * tuned matmul — `W[O, C·kh·kw] · im2col(x)[N, C·kh·kw, H·W]` (1×1 convolutions need no unfolding), and
 * for a transposed convolution `Wᵀ · x` followed by a gather (`col2im`) — with bias, activation and
 * residual fused into one epilogue pass.
 *
 * Why: on lavapipe the direct convolution kernels run such shapes at 4–5 GFLOP/s (few output pixels to
 * spread over invocations), the matmul at 10–18 (process CPU time, PoseFix ResNet-50 at 256×192,
 * batch 1: layer4 3×3 512 45.8 → 18.3 ms, its 1×1 convolutions 18–19 → 6–8 ms, the 2048 → 256 4×4
 * deconvolution 192 → 75 ms). Larger maps stay on the convolution kernels, which win there.
 * @module
 */

import { matmul, type Tensor } from "../engine/mod.ts";
import { channelEpilogue, type ChannelEpilogueOptions, col2im, im2col } from "../engine/kernels/image.ts";

/** Output pixels per image at or below which the product route is taken. */
export const SMALL_MAP_PIXELS = 256;
/** Output pixels of the whole batch at or below which the product route is taken. */
export const SMALL_MAP_BATCH_PIXELS = 512;

/** Whether a convolution producing `n × outPixels` pixels from `reduction` = C·kh·kw inputs takes the route. */
export function useSmallMapRoute(
  n: number,
  outPixels: number,
  reduction: number,
  outChannels: number,
): boolean {
  return outPixels <= SMALL_MAP_PIXELS && n * outPixels <= SMALL_MAP_BATCH_PIXELS && reduction >= 256 &&
    outChannels >= 64;
}

/** Geometry of a convolution, every entry `[h, w]`. */
export interface SmallMapGeometry {
  /** Kernel. */
  kernel: readonly [number, number];
  /** Stride. */
  stride: readonly [number, number];
  /** Padding. */
  padding: readonly [number, number];
  /** Dilation. */
  dilation: readonly [number, number];
}

/**
 * `conv2d(x, w)` + epilogue as a product. `w2` is the weight as `[O, C·kh·kw]` (a reshape the caller
 * caches); `outSize` the convolution's output size.
 */
export function smallMapConv2d(
  x: Tensor,
  w2: Tensor,
  options: SmallMapGeometry & ChannelEpilogueOptions & { outSize: readonly [number, number] },
): Tensor {
  const [N, C, H, W] = x.shape;
  const [OH, OW] = options.outSize;
  const pointwise = options.kernel[0] === 1 && options.kernel[1] === 1 && options.stride[0] === 1 &&
    options.stride[1] === 1 && options.padding[0] === 0 && options.padding[1] === 0;
  const cols = pointwise
    ? x.reshape([N, C, H * W])
    : im2col(x, { ...options, outSize: [OH, OW], batchMajor: true });
  const z = matmul(w2, cols);
  cols.dispose();
  const y = channelEpilogue(z, { ...options, shape: [N, w2.shape[0], OH, OW] });
  z.dispose();
  return y;
}

/**
 * `convTranspose2d(x, w)` + epilogue as a product: columns `wᵀ·x` (`w2` is the weight as
 * `[C, O·kh·kw]`), then each output pixel gathers its taps.
 */
export function smallMapConvTranspose2d(
  x: Tensor,
  w2: Tensor,
  options: SmallMapGeometry & ChannelEpilogueOptions & {
    outChannels: number;
    outSize: readonly [number, number];
  },
): Tensor {
  const [N, C, H, W] = x.shape;
  const x3 = x.reshape([N, C, H * W]);
  const cols = matmul(w2, x3, { transA: true });
  x3.dispose();
  const y = col2im(cols, { ...options, inSize: [H, W] });
  cols.dispose();
  return y;
}
