/**
 * Inference route for convolutions on small feature maps with many channels (ResNet layer3/layer4 at
 * batch 1, the first deconvolution of pose_resnet): the convolution as a matrix product through the
 * tuned matmul, pixel-major — `im2col(x)ᵀ[N·H·W, C·kh·kw] · Wᵀ` — and for a transposed convolution
 * `xᵀ · W[C, O·kh·kw]` followed by a gather (`col2im`), with bias, activation and residual fused into one
 * epilogue pass. The weight is the right operand, so on CPU adapters its packed texture is built once per
 * eval-mode weight (`constantWeight`) instead of every call (pixel-major vs weight-major A/B in one run,
 * matmul CPU time, load ~14: layer4 3×3 53 → 33 ms, its 1×1 27 → 13, layer3 3×3 43 → 27, 1×1 20 → 13,
 * the 2048 → 256 4×4 deconvolution 210 → 97).
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

/**
 * Output pixels of the whole batch at or below which a pointwise (1×1, stride 1) convolution with ≥ 256
 * input and output channels takes the route (ResNet layer3's 1×1 convolutions at batch 8: 16×12 maps,
 * 1536 pixels; A/B same run, load ~14, CPU: 1024 → 256 170 → 120 ms, 256 → 1024 145 → 115 ms; its 3×3
 * convolutions stay on the convolution kernel there, 205 vs 300 ms).
 */
export const SMALL_MAP_POINTWISE_PIXELS = 2048;

/** Whether a convolution producing `n × outPixels` pixels from `reduction` = C·kh·kw inputs takes the route. */
export function useSmallMapRoute(
  n: number,
  outPixels: number,
  reduction: number,
  outChannels: number,
  options: { pointwise?: boolean } = {},
): boolean {
  if (
    options.pointwise && reduction >= 256 && outChannels >= 256 &&
    n * outPixels <= SMALL_MAP_POINTWISE_PIXELS &&
    outPixels <= SMALL_MAP_PIXELS
  ) {
    return true;
  }
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
 * caches); `outSize` the convolution's output size. Pixel-major: `y = im2col(x)ᵀ · w2ᵀ`
 * (`[N·oh·ow, C·kh·kw] · [C·kh·kw, O]`), so the weight is the product's constant right operand (its packed
 * texture is cached when `constantWeight`) and the epilogue reads the transposed result.
 */
export function smallMapConv2d(
  x: Tensor,
  w2: Tensor,
  options: SmallMapGeometry & ChannelEpilogueOptions & {
    outSize: readonly [number, number];
    constantWeight?: boolean;
  },
): Tensor {
  const [N] = x.shape;
  const [OH, OW] = options.outSize;
  const cols = im2col(x, { ...options, outSize: [OH, OW], pixelMajor: true });
  const z = matmul(cols, w2, { transB: true, constantB: options.constantWeight });
  cols.dispose();
  const y = channelEpilogue(z, { ...options, shape: [N, w2.shape[0], OH, OW], pixelMajor: true });
  z.dispose();
  return y;
}

/**
 * `convTranspose2d(x, w)` + epilogue as a product: pixel-major columns `xᵀ·w2` (`w2` is the weight as
 * `[C, O·kh·kw]`, the constant right operand), then each output pixel gathers its taps.
 */
export function smallMapConvTranspose2d(
  x: Tensor,
  w2: Tensor,
  options: SmallMapGeometry & ChannelEpilogueOptions & {
    outChannels: number;
    outSize: readonly [number, number];
    constantWeight?: boolean;
  },
): Tensor {
  const [, , H, W] = x.shape;
  const one = [1, 1] as const, zero = [0, 0] as const;
  // [N, C, H, W] → [N·H·W, C]: a 1×1 unfold is the transpose.
  const xt = im2col(x, { kernel: one, stride: one, padding: zero, dilation: one, pixelMajor: true });
  const cols = matmul(xt, w2, { constantB: options.constantWeight });
  xt.dispose();
  const y = col2im(cols, { ...options, inSize: [H, W], pixelMajor: true });
  cols.dispose();
  return y;
}
