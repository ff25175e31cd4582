/**
 * PoseFix (Moon et al., CVPR 2019; mks0601/PoseFix_RELEASE, TF1): a model-agnostic 2D pose refiner.
 * Its network is Simple Baselines' pose_resnet with 3 + K input channels: the image crop, normalised,
 * concatenated with K Gaussian heatmaps of the input pose at input resolution (σ = 7 at 256×192).
 * Heatmap logits are turned into coordinates by a softmax over H·W and the soft-argmax
 * `x = Σ p·(col+1) − 1` (likewise y), × input/output size (4), then mapped back through the inverse
 * crop transform. Test time: the crop comes from the input pose's box (PoseFix's COCO loader extends the
 * keypoint box 10% per side, clipped to the image), fixed to the input aspect (4:3, h:w) and ×1.25;
 * flip test averages with the mirrored input (pairs swapped); each keypoint keeps its input score.
 *
 * State-dict keys are pose_resnet's (models/pose_resnet.ts) with `conv1.weight` `[64, 3 + K, 7, 7]`, the
 * layout a PyTorch port of PoseFix (pose_resnet with a widened first conv) would save.
 *
 * Normalisation: `imagenet` (default; torchvision ToTensor + Normalize, heatmaps peak at 1) or
 * `posefix_tf` (PoseFix_RELEASE: RGB mean subtraction [123.68, 116.78, 103.94], no std, heatmaps ×255).
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
  flipHorizontal,
  flipPermutation,
  gaussianHeatmaps,
  type ImageLike,
  IMAGENET_NORMALIZATION,
  type ImageTensor,
  softArgmax2d,
  uploadImage,
  warpAffine,
} from "../engine/kernels/image.ts";
import { toRgb } from "../pose/image/image.ts";
import { COCO_17 } from "../pose/skeletons.ts";
import { nearPersons, synthesizePose } from "../pose/synthesis.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import {
  type Affine,
  applyAffine,
  boxCropTransform,
  boxToCenterScale,
  getAffineTransform,
  poseBox,
} from "./image_ops.ts";
import { PoseResNet } from "./pose_resnet.ts";

/** PoseFix's configuration (PoseFix_RELEASE `config.py` names where it has them). */
export const POSEFIX_CONFIG = {
  num_layers: { type: "int", default: 50, doc: "ResNet depth: 18, 34, 50, 101 or 152 (PoseFix: 50/101/152)" },
  num_joints: { type: "int", default: 17, doc: "keypoints K (COCO 17); the network takes 3 + K channels" },
  input_height: { type: "int", default: 256, doc: "crop height (heatmaps are 1/4)" },
  input_width: { type: "int", default: 192, doc: "crop width" },
  input_sigma: { type: "float", default: 7, doc: "σ of the input-pose heatmaps, in input pixels" },
  normalization: {
    type: "string",
    default: "imagenet",
    choices: ["imagenet", "posefix_tf"],
    doc: "imagenet: ToTensor+Normalize, heatmaps ×1; posefix_tf: mean subtraction, heatmaps ×255",
  },
  box_extend: { type: "float", default: 0.2, doc: "extension of the input pose's box (0.2 = 10% per side)" },
  box_factor: { type: "float", default: 1.25, doc: "crop = aspect-fixed box × this" },
  flip_test: { type: "bool", default: true, doc: "average with the horizontally flipped input" },
} as const satisfies ConfigSpec;

/** Resolved PoseFix configuration. */
export type PoseFixConfig = ConfigValues<typeof POSEFIX_CONFIG>;

/** PoseFix_RELEASE's `pixel_means` (RGB), subtracted without a division. */
export const POSEFIX_TF_NORMALIZATION: ChannelNormalization = Object.freeze({
  scale: 1,
  mean: Object.freeze([123.68, 116.78, 103.94]),
  std: Object.freeze([1, 1, 1]),
});

/** Options of `PoseFix.refine`. */
export interface RefineOptions {
  /** Override the configuration's flip test. */
  flip?: boolean;
  /** Poses per forward pass (each doubled by the flip test; default 8). */
  batchSize?: number;
  /** Input keypoints with a score ≤ this are drawn as blank heatmaps (default 0: every joint counts). */
  minScore?: number;
  /** Name of the image in error messages. */
  name?: string;
}

/** The PoseFix refiner: pose_resnet on (image crop ‖ input-pose heatmaps). */
export class PoseFix extends PoseResNet {
  /** Resolved configuration. */
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
    if (!(c.input_sigma > 0)) throw new InputError(`posefix: input_sigma must be > 0, got ${c.input_sigma}`);
    (this as { config: unknown }).config = c;
  }

  /** The crop size `[w, h]`. */
  get inputSize(): [number, number] {
    return [this.config.input_width, this.config.input_height];
  }

  /** The image normalisation in use. */
  get normalization(): ChannelNormalization {
    return this.config.normalization === "posefix_tf" ? POSEFIX_TF_NORMALIZATION : IMAGENET_NORMALIZATION;
  }

  /** Peak of the input heatmaps (255 with PoseFix_RELEASE's normalisation). */
  get heatmapScale(): number {
    return this.config.normalization === "posefix_tf" ? 255 : 1;
  }

  /** The channel permutation of the flipped input: RGB unchanged, joint heatmaps pair-swapped. */
  flipChannels(): number[] {
    const K = this.numJoints;
    const pairs = K === 17 ? COCO_17.flipPairs : [];
    return [0, 1, 2, ...flipPermutation(K, pairs).map((j) => j + 3)];
  }

  /**
   * The network input `[P, 3 + K, H, W]` for poses on one image: crops through `transforms` (image →
   * crop), normalised, and the Gaussian heatmaps of `coords` (`[P·K·2]`, already in crop pixels) with
   * validity `valid` (`[P·K]`, 0 or 1).
   */
  buildInput(
    image: ImageTensor,
    crops: { transforms: readonly Affine[]; coords: Float32Array; valid: Float32Array },
  ): Tensor {
    const [W, H] = this.inputSize, K = this.numJoints, P = crops.transforms.length;
    if (crops.coords.length !== P * K * 2 || crops.valid.length !== P * K) {
      throw new InputError(`posefix: ${P} crops need ${P * K * 2} coordinates and ${P * K} validity flags`);
    }
    return tidy(() => {
      const img = warpAffine(image, {
        transforms: crops.transforms,
        width: W,
        height: H,
        normalize: this.normalization,
      });
      const hm = gaussianHeatmaps(tensor(crops.coords, [P, K, 2]), {
        height: H,
        width: W,
        sigma: this.config.input_sigma,
        valid: tensor(crops.valid, [P, K]),
        scale: this.heatmapScale,
      });
      return ops.concat([img, hm], { axis: 1 });
    });
  }

  /**
   * Refines poses on one image. Each pose is `[x, y, score] × K` in image pixels; the result has the same
   * layout with refined x, y and the input score. A pose whose box is degenerate (fewer than two
   * distinct keypoints) is returned unchanged. One GPU readback per batch.
   */
  async refine(
    image: ImageLike | ImageTensor,
    poses: readonly ArrayLike<number>[],
    options: RefineOptions = {},
  ): Promise<Float32Array[]> {
    const K = this.numJoints, [W, H] = this.inputSize;
    const name = options.name ?? "image";
    poses.forEach((p, i) => {
      if (p.length !== 3 * K) {
        throw new InputError(`${name}: pose ${i} has ${p.length} values, expected ${3 * K}`);
      }
    });
    const own = !("packed" in image);
    const img: ImageTensor = own
      ? uploadImage(image.channels === 3 ? image : toRgb(image as Parameters<typeof toRgb>[0]), { name })
      : image as ImageTensor;
    if (img.channels !== 3) {
      throw new InputError(`${name}: PoseFix needs an RGB image, got ${img.channels} channels`);
    }
    const flip = options.flip ?? this.config.flip_test;
    const minScore = options.minScore ?? 0;
    const out: Float32Array[] = poses.map((p) => Float32Array.from(p));
    const todo: { index: number; transform: Affine; inverse: Affine }[] = [];
    poses.forEach((p, index) => {
      // The box of the scored keypoints; fewer than two of them leave the pose as it is.
      const geo = { extend: this.config.box_extend, imageWidth: img.width, imageHeight: img.height };
      const box = poseBox(p, { ...geo, minScore });
      if (!box || !(box[2] > 0 && box[3] > 0)) return;
      const { transform, inverse } = boxCropTransform(box, [W, H], { factor: this.config.box_factor });
      todo.push({ index, transform, inverse });
    });
    const batch = Math.max(1, options.batchSize ?? 8);
    const perm = this.flipChannels();
    // Heatmap cells → crop pixels: three ×2 deconvolutions on a 1/32 trunk give 1/4 maps.
    const outW = W / 4, outH = H / 4;
    try {
      for (let b0 = 0; b0 < todo.length; b0 += batch) {
        const part = todo.slice(b0, b0 + batch);
        const P = part.length;
        const coords = new Float32Array(P * K * 2), valid = new Float32Array(P * K);
        part.forEach(({ index, transform }, p) => {
          const src = poses[index];
          for (let j = 0; j < K; j++) {
            const [cx, cy] = applyAffine(transform, src[3 * j], src[3 * j + 1]);
            coords[(p * K + j) * 2] = cx;
            coords[(p * K + j) * 2 + 1] = cy;
            valid[p * K + j] = src[3 * j + 2] > minScore ? 1 : 0;
          }
        });
        const res = tidy(() => {
          let x = this.buildInput(img, { transforms: part.map((t) => t.transform), coords, valid });
          if (flip) x = ops.concat([x, flipHorizontal(x, { perm })], { axis: 0 });
          const logits = this.forward(x);
          return softArgmax2d(logits);
        });
        const [c] = await readAll([res]);
        res.dispose();
        const hw = W / outW, hh = H / outH;
        part.forEach(({ index, inverse }, p) => {
          const dst = out[index];
          for (let j = 0; j < K; j++) {
            let x = c[(p * K + j) * 2] * hw, y = c[(p * K + j) * 2 + 1] * hh;
            if (flip) {
              // The mirrored pass saw joint j where the original has its pair; x mirrors back as W − 1 − x.
              const jf = perm[j + 3] - 3;
              const fx = W - 1 - c[((P + p) * K + jf) * 2] * hw, fy = c[((P + p) * K + jf) * 2 + 1] * hh;
              x = (x + fx) / 2;
              y = (y + fy) / 2;
            }
            const [ix, iy] = applyAffine(inverse, x, y);
            dst[3 * j] = ix;
            dst[3 * j + 1] = iy;
          }
        });
      }
    } finally {
      if (own) img.packed.dispose();
    }
    return out;
  }
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
