/**
 * PoseFix (Moon et al., CVPR 2019; mks0601/PoseFix_RELEASE, TF1): a model-agnostic 2D pose refiner.
 * Its network is Simple Baselines' pose_resnet with 3 + K input channels: the image crop, normalised,
 * concatenated with K Gaussian heatmaps of the input pose at input resolution. Heatmap logits are turned
 * into coordinates by a softmax over H·W and the soft-argmax `x = Σ p·(col+1) − 1` (likewise y), × the
 * input/output ratio (4).
 *
 * Test time follows PoseFix_RELEASE `main/test.py` + `gen_batch.py` (stage 'test') + `data/COCO/dataset.py`
 * (`input_pose_load`) with the default `normalization: "posefix_tf"`:
 * - the box is the extent of **all** K input keypoints (whatever their score), widened ×1.2 about its
 *   centre (a zero extent counts as 20 px), not clipped to the image; cast to float32; then fixed to the
 *   input aspect (w/h = 0.75 at 256×192) and ×1.25 (`get_affine_transform`, points in float32);
 * - the crop is `cv2.warpAffine` (bilinear, black border) of the image read by `cv2.imread`, i.e. **BGR**,
 *   minus `pixel_means` [123.68, 116.78, 103.94] in that channel order, no division;
 * - every joint is drawn (`input_pose_valid` = 1) as `exp(−((col − x)/σ)²/2 − ((row − y)/σ)²/2) · 255`,
 *   σ = 7 for 64-row heatmaps (256×192), 9 for 96 rows (384×288); a joint with score ≤ 0 keeps its
 *   image coordinates untransformed (the reference only maps joints with a positive score);
 * - the flip test mirrors the crop and the input joints (`W − 1 − x`, pairs swapped), mirrors the
 *   output back and averages the coordinates;
 * - coordinates go back to the image as `x / W · (x1 − x0) + x0` over the crop box `crop_info`;
 * - `refineResults` then gives every keypoint the input record's score, applies the per-image OKS-NMS
 *   (`oks_nms`, threshold 0.9, areas = crop box areas) and writes `[x, y, 1] × K` rounded to 3 decimals
 *   with `score` = the input score rounded to 4, in the reference's record order.
 *
 * `normalization: "imagenet"` is for PyTorch-trained ports: RGB, torchvision ToTensor + Normalize and
 * heatmaps peaking at 1 (everything else as above).
 *
 * State-dict keys are pose_resnet's (models/pose_resnet.ts) with `conv1.weight` `[64, 3 + K, 7, 7]`, the
 * layout a PyTorch port of PoseFix (pose_resnet with a widened first conv) would save. PoseFix_RELEASE's
 * TF batch norms use ε = 1e-9 (`bn_eps`, the default with `posefix_tf`; pose_resnet / PyTorch: 1e-5). Its
 * TF ResNet is structurally pose_resnet's (stride on the 3×3 conv, symmetric padding, SAME 4×4/2 deconvs
 * without bias), so converted weights need only renaming and transposing.
 *
 * Training (`posefixBatch` + `posefixLoss`): crops around the ground-truth box, input poses synthesised
 * from the ground truth with PoseFix's error statistics (pose/synthesis.ts), PoseFix's integral loss
 * (engine/losses.ts) against the ground truth in heatmap cells, masked by labelled joints inside the crop.
 * @module
 */

import { InputError, ops, readAll, type Tensor, tensor, tidy } from "../engine/mod.ts";
import { integralLoss } from "../engine/losses.ts";
import {
  type ChannelNormalization,
  cropWithHeatmaps,
  flipPermutation,
  type ImageLike,
  IMAGENET_NORMALIZATION,
  type ImageTensor,
  roundHalfEven,
  softArgmax2d,
  uploadImage,
} from "../engine/kernels/image.ts";
import { toRgb } from "../pose/image/image.ts";
import { COCO_17 } from "../pose/skeletons.ts";
import { COCO_OKS_SIGMAS } from "../pose/coco_eval.ts";
import { nearPersons, synthesizePose } from "../pose/synthesis.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { type Affine, applyAffine, type Box, boxToCenterScale, getAffineTransform } from "./image_ops.ts";
import { BatchNorm2d } from "../layers/mod.ts";
import { PoseResNet } from "./pose_resnet.ts";

/** PoseFix's configuration (PoseFix_RELEASE `config.py` names where it has them). */
export const POSEFIX_CONFIG = {
  num_layers: { type: "int", default: 50, doc: "ResNet depth: 18, 34, 50, 101 or 152 (PoseFix: 50/101/152)" },
  num_joints: { type: "int", default: 17, doc: "keypoints K (COCO 17); the network takes 3 + K channels" },
  input_height: { type: "int", default: 256, doc: "crop height (heatmaps are 1/4)" },
  input_width: { type: "int", default: 192, doc: "crop width" },
  input_sigma: {
    type: "float",
    default: 0,
    doc: "σ of the input-pose heatmaps in input pixels; 0: PoseFix_RELEASE's (7 at 64-row heatmaps, 9 at 96)",
  },
  normalization: {
    type: "string",
    default: "posefix_tf",
    choices: ["posefix_tf", "imagenet"],
    doc:
      "posefix_tf: BGR minus pixel_means, heatmaps ×255 (PoseFix_RELEASE); imagenet: RGB ToTensor+Normalize, ×1",
  },
  box_extend: {
    type: "float",
    default: 0.2,
    doc: "the input keypoints' box is widened by this about its centre (0.2: ×1.2, PoseFix_RELEASE)",
  },
  box_factor: { type: "float", default: 1.25, doc: "crop = aspect-fixed box × this" },
  flip_test: { type: "bool", default: true, doc: "average with the horizontally flipped input" },
  bn_eps: {
    type: "float",
    default: 0,
    doc: "BatchNorm ε; 0: 1e-9 with posefix_tf (PoseFix_RELEASE's TF batch norms), 1e-5 with imagenet",
  },
  oks_nms_thr: {
    type: "float",
    default: 0.9,
    doc: "per-image OKS-NMS of refined results (PoseFix_RELEASE oks_nms_thr); ≥ 1 keeps every pose",
  },
} as const satisfies ConfigSpec;

/** Resolved PoseFix configuration. */
export type PoseFixConfig = ConfigValues<typeof POSEFIX_CONFIG>;

/**
 * PoseFix_RELEASE's `pixel_means`, subtracted without a division from the crop in **BGR** order (the
 * reference reads images with `cv2.imread` and never swaps channels): channel 0 (blue) − 123.68, …
 */
export const POSEFIX_TF_NORMALIZATION: ChannelNormalization = Object.freeze({
  scale: 1,
  mean: Object.freeze([123.68, 116.78, 103.94]),
  std: Object.freeze([1, 1, 1]),
});

/** PoseFix_RELEASE's σ of the input-pose heatmaps: 7 for 64-row output maps (256×192), 9 for 96 rows. */
export function posefixSigma(inputHeight: number): number {
  return inputHeight / 4 === 96 ? 9 : 7;
}

/**
 * The box PoseFix_RELEASE's `input_pose_load` gives an input pose (`[x, y, score] × K`): the extent of
 * all keypoints, widened by `extend` about its centre (a zero extent counts as 20 px), not clipped.
 * With `minScore`, only keypoints scored above it count (not the reference's behaviour).
 */
export function posefixInputBox(
  keypoints: ArrayLike<number>,
  options: { extend?: number; minScore?: number; name?: string } = {},
): Box {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const f = 1 + (options.extend ?? 0.2);
  for (let j = 0; j + 2 < keypoints.length; j += 3) {
    if (options.minScore !== undefined && !(keypoints[j + 2] > options.minScore)) continue;
    const x = keypoints[j], y = keypoints[j + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new InputError(`${options.name ?? "pose"}: keypoint ${j / 3} is not finite (${x}, ${y})`);
    }
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  if (x0 === Infinity) {
    throw new InputError(`${options.name ?? "pose"}: no keypoint scored above ${options.minScore}`);
  }
  const w = x1 > x0 ? x1 - x0 : 20, h = y1 > y0 ? y1 - y0 : 20;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const bx0 = cx - (w / 2) * f, bx1 = cx + (w / 2) * f, by0 = cy - (h / 2) * f, by1 = cy + (h / 2) * f;
  // gen_batch.py: `bbox = np.array(d['bbox']).astype(np.float32)`.
  return [Math.fround(bx0), Math.fround(by0), Math.fround(bx1 - bx0), Math.fround(by1 - by0)];
}

/** Options of `PoseFix.refine`. */
export interface RefineOptions {
  /** Override the configuration's flip test. */
  flip?: boolean;
  /** Poses per forward pass (each doubled by the flip test; default 8). */
  batchSize?: number;
  /**
   * When set, keypoints with a score ≤ this are left out of the box and drawn as blank heatmaps. Unset
   * (default), every keypoint counts, as in PoseFix_RELEASE.
   */
  minScore?: number;
  /** Name of the image in error messages. */
  name?: string;
}

/** A refined pose with its crop box. */
export interface RefinedPose {
  /** `[x, y, score] × K`: refined x, y in image pixels, each keypoint's input score. */
  keypoints: Float32Array;
  /** The crop box `[x0, y0, x1, y1]` (`crop_info`: aspect-fixed, ×box_factor) in image pixels. */
  cropBox: [number, number, number, number];
}

/** The PoseFix refiner: pose_resnet on (image crop ‖ input-pose heatmaps). */
export class PoseFix extends PoseResNet {
  /** Resolved configuration (`input_sigma` resolved to the σ in use). */
  declare readonly config: PoseFixConfig;

  /** Creates the model from (a subset of) `POSEFIX_CONFIG`. */
  constructor(config: Partial<PoseFixConfig> = {}) {
    const c = resolveConfig("posefix", POSEFIX_CONFIG, config);
    super({ num_layers: c.num_layers, num_joints: c.num_joints, in_channels: 3 + c.num_joints }, {
      name: "posefix",
    });
    if (c.input_height % 32 || c.input_width % 32 || c.input_height < 32 || c.input_width < 32) {
      throw new InputError(
        `posefix: input_height and input_width must be multiples of 32, got ${c.input_height}×${c.input_width}`,
      );
    }
    if (c.input_sigma === 0) c.input_sigma = posefixSigma(c.input_height);
    if (c.bn_eps === 0) c.bn_eps = c.normalization === "posefix_tf" ? 1e-9 : 1e-5;
    if (!(c.bn_eps > 0)) throw new InputError(`posefix: bn_eps must be > 0, got ${c.bn_eps}`);
    // PoseFix_RELEASE's resnet_arg_scope: batch_norm_epsilon 1e-9 (pose_resnet / PyTorch: 1e-5).
    for (const m of this.modules()) if (m instanceof BatchNorm2d) (m as { eps: number }).eps = c.bn_eps;
    if (!(c.input_sigma > 0)) throw new InputError(`posefix: input_sigma must be > 0, got ${c.input_sigma}`);
    (this as { config: unknown }).config = c;
  }

  /** The crop size `[w, h]`. */
  get inputSize(): [number, number] {
    return [this.config.input_width, this.config.input_height];
  }

  /** The image normalisation in use (per output channel: BGR for `posefix_tf`). */
  get normalization(): ChannelNormalization {
    return this.config.normalization === "posefix_tf" ? POSEFIX_TF_NORMALIZATION : IMAGENET_NORMALIZATION;
  }

  /** Whether the crop is fed in BGR order (PoseFix_RELEASE). */
  get bgr(): boolean {
    return this.config.normalization === "posefix_tf";
  }

  /** Peak of the input heatmaps (255 with PoseFix_RELEASE's normalisation). */
  get heatmapScale(): number {
    return this.config.normalization === "posefix_tf" ? 255 : 1;
  }

  /** The channel permutation of the flipped input: image channels unchanged, joint heatmaps pair-swapped. */
  flipChannels(): number[] {
    const K = this.numJoints;
    const pairs = K === 17 ? COCO_17.flipPairs : [];
    return [0, 1, 2, ...flipPermutation(K, pairs).map((j) => j + 3)];
  }

  /**
   * The network input `[P, 3 + K, H, W]` for poses on one image: crops through `transforms` (image →
   * crop), normalised (BGR with `posefix_tf`), and the Gaussian heatmaps of `coords` (`[P·K·2]`, already
   * in crop pixels) with validity `valid` (`[P·K]`, 0 or 1). With `flip`, the P mirrored inputs of the
   * flip test follow (`[2P, …]`, joint maps pair-swapped). One kernel pass (`cropWithHeatmaps`).
   */
  buildInput(
    image: ImageTensor,
    crops: { transforms: readonly Affine[]; coords: Float32Array; valid: Float32Array; flip?: boolean },
  ): Tensor {
    const [W, H] = this.inputSize, K = this.numJoints, P = crops.transforms.length;
    if (crops.coords.length !== P * K * 2 || crops.valid.length !== P * K) {
      throw new InputError(`posefix: ${P} crops need ${P * K * 2} coordinates and ${P * K} validity flags`);
    }
    return cropWithHeatmaps(image, {
      transforms: crops.transforms,
      width: W,
      height: H,
      normalize: this.normalization,
      reverseChannels: this.bgr,
      coords: crops.coords,
      valid: crops.valid,
      sigma: this.config.input_sigma,
      scale: this.heatmapScale,
      flip: crops.flip ? this.flipChannels().slice(3).map((c) => c - 3) : undefined,
    });
  }

  /**
   * The test-time crop of one input pose (`[x, y, score] × K`): the forward map image → crop and the crop
   * box `[x0, y0, x1, y1]` (PoseFix_RELEASE `crop_info`).
   */
  cropOf(
    keypoints: ArrayLike<number>,
    options: { minScore?: number; name?: string } = {},
  ): { transform: Affine; cropBox: [number, number, number, number] } {
    const [W, H] = this.inputSize;
    const box = posefixInputBox(keypoints, { extend: this.config.box_extend, ...options });
    const cs = boxToCenterScale(box, { aspect: W / H, factor: this.config.box_factor });
    const transform = getAffineTransform(cs, [W, H], { float32: true });
    const [cx, cy] = cs.center, [sw, sh] = cs.scale;
    return { transform, cropBox: [cx - sw * 0.5, cy - sh * 0.5, cx + sw * 0.5, cy + sh * 0.5] };
  }

  /**
   * Refines poses on one image. Each pose is `[x, y, score] × K` in image pixels; the result has the same
   * layout with refined x, y and the input scores (`refineResults` applies the reference's scores and
   * NMS). One GPU readback per batch.
   */
  async refine(
    image: ImageLike | ImageTensor,
    poses: readonly ArrayLike<number>[],
    options: RefineOptions = {},
  ): Promise<Float32Array[]> {
    return (await this.refineWithBoxes(image, poses, options)).map((r) => r.keypoints);
  }

  /** `refine`, also returning each pose's crop box (the area OKS-NMS uses). */
  async refineWithBoxes(
    image: ImageLike | ImageTensor,
    poses: readonly ArrayLike<number>[],
    options: RefineOptions = {},
  ): Promise<RefinedPose[]> {
    const K = this.numJoints, [W, H] = this.inputSize;
    const name = options.name ?? "image";
    poses.forEach((p, i) => {
      if (p.length !== 3 * K) {
        throw new InputError(`${name}: pose ${i} has ${p.length} values, expected ${3 * K}`);
      }
    });
    const flip = options.flip ?? this.config.flip_test;
    const minScore = options.minScore;
    const crops = poses.map((p, i) => this.cropOf(p, { minScore, name: `${name}: pose ${i}` }));
    const out: RefinedPose[] = poses.map((p, i) => ({
      keypoints: Float32Array.from(p),
      cropBox: crops[i].cropBox,
    }));
    if (poses.length === 0) return out;
    const own = !("packed" in image);
    const img: ImageTensor = own
      ? uploadImage(image.channels === 3 ? image : toRgb(image as Parameters<typeof toRgb>[0]), { name })
      : image as ImageTensor;
    if (img.channels !== 3) {
      if (own) img.packed.dispose();
      throw new InputError(`${name}: PoseFix needs an RGB image, got ${img.channels} channels`);
    }
    const batch = Math.max(1, options.batchSize ?? 8);
    const perm = this.flipChannels();
    // Heatmap cells → crop pixels: three ×2 deconvolutions on a 1/32 trunk give 1/4 maps.
    const ratio = H / (H / 4);
    try {
      for (let b0 = 0; b0 < poses.length; b0 += batch) {
        const idx = Array.from({ length: Math.min(batch, poses.length - b0) }, (_, i) => b0 + i);
        const P = idx.length;
        const coords = new Float32Array(P * K * 2), valid = new Float32Array(P * K);
        idx.forEach((index, p) => {
          const src = poses[index], t = crops[index].transform;
          for (let j = 0; j < K; j++) {
            const s = src[3 * j + 2];
            // gen_batch.py maps only joints with a positive score into the crop; the others keep their
            // image coordinates and are drawn all the same (input_pose_valid is 1 for every joint).
            const [cx, cy] = minScore !== undefined || s > 0
              ? applyAffine(t, src[3 * j], src[3 * j + 1])
              : [src[3 * j], src[3 * j + 1]];
            coords[(p * K + j) * 2] = cx;
            coords[(p * K + j) * 2 + 1] = cy;
            valid[p * K + j] = minScore === undefined || s > minScore ? 1 : 0;
          }
        });
        const res = tidy(() => {
          const x = this.buildInput(img, {
            transforms: idx.map((i) => crops[i].transform),
            coords,
            valid,
            flip,
          });
          return softArgmax2d(this.forward(x));
        });
        const [c] = await readAll([res]);
        res.dispose();
        idx.forEach((index, p) => {
          const dst = out[index].keypoints, [x0, y0, x1, y1] = crops[index].cropBox;
          for (let j = 0; j < K; j++) {
            // TF's coordinates are float32: × 4, then the flip average in float32.
            let x = Math.fround(c[(p * K + j) * 2] * ratio), y = Math.fround(c[(p * K + j) * 2 + 1] * ratio);
            if (flip) {
              // The mirrored pass saw joint j where the original has its pair; x mirrors back as W − 1 − x.
              const jf = perm[j + 3] - 3;
              const fx = Math.fround(W - 1 - Math.fround(c[((P + p) * K + jf) * 2] * ratio));
              const fy = Math.fround(c[((P + p) * K + jf) * 2 + 1] * ratio);
              x = Math.fround(Math.fround(x + fx) / 2);
              y = Math.fround(Math.fround(y + fy) / 2);
            }
            dst[3 * j] = (x / W) * (x1 - x0) + x0;
            dst[3 * j + 1] = (y / H) * (y1 - y0) + y0;
          }
        });
      }
    } finally {
      if (own) img.packed.dispose();
    }
    return out;
  }
}

/**
 * PoseFix_RELEASE's (Simple Baselines') `oks_nms`: greedy, by descending score (NumPy's
 * `argsort()[::-1]`: ties go to the later index), dropping every pose whose OKS with a kept one is above
 * `threshold`. OKS here: `mean_j exp(−d_j² / (2σ_j)² / ((a_i + a_k)/2 + ε) / 2)` over all K joints.
 *
 * @param poses `[x, y, ·] × K` each
 * @param options scores, areas (one per pose), threshold, sigmas (default COCO's)
 * @returns the kept indices in selection order
 */
export function oksNms(
  poses: readonly ArrayLike<number>[],
  options: {
    scores: ArrayLike<number>;
    areas: ArrayLike<number>;
    threshold: number;
    sigmas?: readonly number[];
  },
): number[] {
  const sigmas = options.sigmas ?? COCO_OKS_SIGMAS, K = sigmas.length;
  const vars = sigmas.map((s) => (s * 2) ** 2);
  const n = poses.length;
  if (options.scores.length !== n || options.areas.length !== n) {
    throw new InputError(`oksNms: ${n} poses need ${n} scores and areas`);
  }
  poses.forEach((p, i) => {
    if (p.length < 3 * K) throw new InputError(`oksNms: pose ${i} has ${p.length} values, expected ${3 * K}`);
  });
  // argsort (stable for the short arrays of one image) then reversed.
  let order = Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => options.scores[a] - options.scores[b] || a - b)
    .reverse();
  const keep: number[] = [];
  const eps = 2.220446049250313e-16; // np.spacing(1)
  while (order.length) {
    const i = order[0];
    keep.push(i);
    const g = poses[i];
    order = order.slice(1).filter((k) => {
      const d = poses[k];
      const a = (options.areas[i] + options.areas[k]) / 2 + eps;
      let sum = 0;
      for (let j = 0; j < K; j++) {
        const dx = d[3 * j] - g[3 * j], dy = d[3 * j + 1] - g[3 * j + 1];
        sum += Math.exp(-((dx ** 2 + dy ** 2) / vars[j] / a / 2));
      }
      return sum / K <= options.threshold;
    });
  }
  return keep;
}

/** A COCO keypoint result as PoseFix_RELEASE writes it. */
export type PoseFixResult = {
  /** Image id. */
  image_id: number;
  /** Always 1 (person). */
  category_id: number;
  /** `[x, y, 1] × K`, x and y rounded to 3 decimals. */
  keypoints: number[];
  /** The input record's score, rounded to 4 decimals. */
  score: number;
};

/** NumPy's `np.round(v, decimals)`: `rint(v·10^d) / 10^d` (ties to even). */
export function roundDecimals(v: number, decimals: number): number {
  const f = 10 ** decimals, y = v * f;
  const r = Math.abs(y) < 2 ** 31 ? roundHalfEven(y) : Math.round(y);
  return r / f;
}

/**
 * PoseFix_RELEASE's `test_net` for the results of one image: the records of category 1 with a positive
 * score, sorted by descending score (stable), refined, every keypoint scored with its record's score,
 * per-image OKS-NMS (`oks_nms_thr`, crop-box areas), written as `[x, y, 1] × K` (3 decimals) with the
 * record's score (4 decimals), in the order NMS keeps them.
 */
export async function refineResults(
  model: PoseFix,
  image: ImageLike | ImageTensor,
  options: {
    records: readonly {
      image_id: number;
      category_id?: number;
      keypoints: ArrayLike<number>;
      score: number;
    }[];
    flip?: boolean;
    batchSize?: number;
    nmsThreshold?: number;
    name?: string;
  },
): Promise<PoseFixResult[]> {
  const K = model.numJoints;
  const recs = options.records
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => (r.category_id ?? 1) === 1 && r.score > 0)
    .sort((a, b) => b.r.score - a.r.score || a.i - b.i);
  if (recs.length === 0) return [];
  const refined = await model.refineWithBoxes(image, recs.map(({ r }) => r.keypoints), {
    flip: options.flip,
    batchSize: options.batchSize,
    name: options.name,
  });
  const scores = recs.map(({ r }) => r.score);
  const areas = refined.map(({ cropBox: [x0, y0, x1, y1] }) => (x1 - x0) * (y1 - y0));
  const threshold = options.nmsThreshold ?? model.config.oks_nms_thr;
  const keep = K === 17
    ? oksNms(refined.map((r) => r.keypoints), { scores, areas, threshold })
    : refined.map((_, i) => i);
  return keep.map((i) => {
    const kps: number[] = [];
    for (let j = 0; j < K; j++) {
      kps.push(
        roundDecimals(refined[i].keypoints[3 * j], 3),
        roundDecimals(refined[i].keypoints[3 * j + 1], 3),
        1,
      );
    }
    return {
      image_id: recs[i].r.image_id,
      category_id: 1,
      keypoints: kps,
      score: roundDecimals(scores[i], 4),
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------------

/** One training sample: an image, a person's ground truth and box, and the input pose to correct. */
export interface PoseFixSample {
  /** The image (uploaded RGB). */
  image: ImageTensor;
  /** Ground truth `[x, y, v] × K` (v > 0 labelled). */
  target: ArrayLike<number>;
  /** The person's box `[x, y, w, h]` (COCO `bbox`). */
  box: ArrayLike<number>;
  /** The input pose `[x, y, v] × K` (v > 0 present), e.g. from `synthesizePose`. */
  input: ArrayLike<number>;
}

/** Augmentation of `posefixBatch` (PoseFix_RELEASE: scale ±30%, rotation ±40° with p 0.6, flip 0.5). */
export interface PoseFixAugment {
  /** Uniform [0, 1) source (seeded, e.g. `seededRandom`). */
  random: () => number;
  /** Scale jitter: factor in [1 − s, 1 + s] (default 0.3). */
  scale?: number;
  /** Rotation jitter in degrees (default 40), applied with probability 0.6. */
  rotation?: number;
  /** Flip probability (default 0.5). */
  flip?: number;
}

/** A training batch on the GPU. */
export interface PoseFixBatch {
  /** Network input `[N, 3 + K, H, W]`. */
  input: Tensor;
  /** Target coordinates in heatmap cells `[N, K, 2]`. */
  target: Tensor;
  /** 1 for labelled joints inside the crop `[N, K]`. */
  valid: Tensor;
}

/**
 * Builds a training batch: per sample, the crop of the ground-truth box (aspect-fixed, ×1.25, optionally
 * augmented), the input pose's heatmaps, and the ground truth mapped to heatmap cells.
 */
export function posefixBatch(
  model: PoseFix,
  samples: readonly PoseFixSample[],
  options: { augment?: PoseFixAugment } = {},
): PoseFixBatch {
  const K = model.numJoints, [W, H] = model.inputSize, N = samples.length;
  if (N === 0) throw new InputError("posefixBatch: no samples");
  const perm = flipPermutation(K, K === 17 ? COCO_17.flipPairs : []);
  const target = new Float32Array(N * K * 2), valid = new Float32Array(N * K);
  const parts: Tensor[] = [];
  const a = options.augment;
  return tidy(() => {
    samples.forEach((s, n) => {
      if (s.target.length !== 3 * K || s.input.length !== 3 * K) {
        throw new InputError(`posefixBatch: sample ${n} needs ${3 * K} values in target and input`);
      }
      const cs = boxToCenterScale(s.box, { aspect: W / H, factor: model.config.box_factor });
      let rotation = 0, flip = false;
      if (a) {
        const sc = 1 + (a.random() * 2 - 1) * (a.scale ?? 0.3);
        cs.scale = [cs.scale[0] * sc, cs.scale[1] * sc];
        if (a.random() < 0.6) rotation = (a.random() * 2 - 1) * (a.rotation ?? 40);
        flip = a.random() < (a.flip ?? 0.5);
      }
      let m = getAffineTransform(cs, [W, H], { rotation });
      if (flip) m = [-m[0], -m[1], W - 1 - m[2], m[3], m[4], m[5]];
      const coords = new Float32Array(K * 2), vin = new Float32Array(K);
      for (let j = 0; j < K; j++) {
        // A flipped crop shows joint j where its pair was.
        const src = flip ? perm[j] : j;
        const [ix, iy] = applyAffine(m, s.input[3 * src], s.input[3 * src + 1]);
        coords[2 * j] = ix;
        coords[2 * j + 1] = iy;
        vin[j] = s.input[3 * src + 2] > 0 ? 1 : 0;
        const [tx, ty] = applyAffine(m, s.target[3 * src], s.target[3 * src + 1]);
        const inside = tx >= 0 && ty >= 0 && tx < W && ty < H;
        // Heatmaps are a quarter of the input size.
        target[(n * K + j) * 2] = tx / 4;
        target[(n * K + j) * 2 + 1] = ty / 4;
        valid[n * K + j] = s.target[3 * src + 2] > 0 && inside ? 1 : 0;
      }
      parts.push(model.buildInput(s.image, { transforms: [m], coords, valid: vin }));
    });
    return {
      input: parts.length === 1 ? parts[0] : ops.concat(parts, { axis: 0 }),
      target: tensor(target, [N, K, 2]),
      valid: tensor(valid, [N, K]),
    };
  });
}

/** A ground-truth person for `synthesizeSamples` (the fields of a COCO annotation it needs). */
export interface GroundTruthPerson {
  /** Image id (key of `images`). */
  image_id: number;
  /** `[x, y, v] × K`. */
  keypoints: ArrayLike<number>;
  /** `[x, y, w, h]`. */
  bbox: ArrayLike<number>;
  /** Segment area (scale of the synthesis offsets). */
  area: number;
}

/**
 * Training samples as PoseFix_RELEASE builds them: for every person with a labelled joint, an input pose
 * synthesised from its ground truth with PoseFix's error statistics (`synthesizePose`; near persons are
 * the others of the same image whose box IoU is ≥ 0.1).
 */
export function synthesizeSamples(
  persons: readonly GroundTruthPerson[],
  options: { images: ReadonlyMap<number, ImageTensor>; random: () => number },
): PoseFixSample[] {
  const out: PoseFixSample[] = [];
  const byImage = new Map<number, GroundTruthPerson[]>();
  for (const p of persons) {
    const list = byImage.get(p.image_id);
    if (list) list.push(p);
    else byImage.set(p.image_id, [p]);
  }
  for (const [id, list] of byImage) {
    const image = options.images.get(id);
    if (!image) throw new InputError(`synthesizeSamples: no image for image_id ${id}`);
    const boxes = list.map((p) => p.bbox);
    list.forEach((p, i) => {
      let labelled = 0;
      for (let j = 2; j < p.keypoints.length; j += 3) if (p.keypoints[j] > 0) labelled++;
      if (labelled === 0 || !(p.area > 0) || !(p.bbox[2] > 0 && p.bbox[3] > 0)) return;
      const near = nearPersons(boxes, i).map((k) => list[k].keypoints);
      const { keypoints } = synthesizePose({ keypoints: p.keypoints, area: p.area }, {
        random: options.random,
        near,
      });
      out.push({ image, target: p.keypoints, box: p.bbox, input: keypoints });
    });
  }
  return out;
}

/** PoseFix's loss on a batch: `integralLoss(forward(input), target, valid)` (total, heatmap and L1 terms). */
export function posefixLoss(
  model: PoseFix,
  batch: PoseFixBatch,
): { total: Tensor; heatmap: Tensor; coord: Tensor; coords: Tensor } {
  return integralLoss(model.forward(batch.input), batch.target, { valid: batch.valid });
}
