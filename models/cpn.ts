/**
 * Cascaded Pyramid Network (Chen et al., CVPR 2018; chenyilun95/tf-cpn), seed 001's 2D estimator, with
 * the state-dict keys of its PyTorch port (GengDavid/pytorch-cpn): `resnet.*` (torchvision ResNet keys,
 * no fc), `global_net.{laterals,upsamples,predict}.*`, `refine_net.{cascade,final_predict}.*`.
 *
 * GlobalNet on C5..C2: lateral 1×1 conv 256 + BN + ReLU; top-down ×2 bilinear upsample (align_corners)
 * + 1×1 conv 256 + BN, summed into the next lateral; per level 1×1 conv 256 + BN + ReLU, 3×3 conv to K,
 * bilinear upsample to the output size, BN. RefineNet: level i (C5 first) gets 3 − i bottlenecks (128 mid,
 * 256 out, projection shortcut), upsampled to the output size, concatenated, a final bottleneck, 3×3 conv
 * to K, BN. The network returns RefineNet's heatmaps `[N, K, H/4, W/4]` (`forwardAll` also GlobalNet's).
 *
 * Test time (`estimate`) is pytorch-cpn's `256.192.model/test.py` on seed 001's crop-and-resize:
 * - crop: a square window from the longest side of the person box plus a margin (×1.2), resized to
 *   `input_height × input_width` (224×224) bilinearly; outside the image the crop reads the pixel means
 *   (pytorch-cpn pads with `cv2.copyMakeBorder(…, value=pixel_means)`, i.e. bytes 123, 116, 103);
 * - normalisation (`normalization: "pytorch_cpn"`, default): RGB / 255 − pixel_means / 255 with
 *   pixel_means [122.7717, 115.9465, 102.9801], no std (`"imagenet"`: torchvision's, black border);
 * - flip test: the mirrored crop's RefineNet heatmaps mirrored back, pairs swapped, averaged;
 * - decoding per joint (`decodeHeatmap`): the map divided by its maximum, zero-padded by 10 cells,
 *   `cv2.GaussianBlur((21, 21), 0)` (σ 3.5, reflect-101 border, float64), argmax, the cell zeroed, second
 *   argmax, the peak moved a quarter cell toward it, clamped to the map;
 * - inverse crop: `x = (4·x + 2) / W · (x1 − x0) + x0` over the crop window (likewise y);
 * - scores: keypoint score = the averaged heatmap / 255 + 0.5 at the rounded peak (ties to even); pose
 *   score = box score × the mean of the K keypoint scores (pytorch-cpn's rescoring with `det_scores`).
 *
 * BatchNorms after bilinear upsampling fold into the conv before it (a bilinear resize with
 * align_corners commutes with a per-channel affine map: its weights sum to 1).
 * @module
 */

import { InputError, ops, readAll, type Tensor, tidy } from "../engine/mod.ts";
import {
  type ChannelNormalization,
  flipHorizontal,
  flipPermutation,
  type ImageLike,
  IMAGENET_NORMALIZATION,
  type ImageTensor,
  roundHalfEven,
  uploadImage,
  warpAffine,
} from "../engine/kernels/image.ts";
import {
  BatchNorm2d,
  Conv2d,
  type FoldPair,
  type ForwardModule,
  Module,
  ModuleList,
  Sequential,
} from "../layers/mod.ts";
import { toRgb } from "../pose/image/image.ts";
import { COCO_17 } from "../pose/skeletons.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { squareCropTransform } from "./image_ops.ts";
import { Bottleneck, convBn, release, ResNetTrunk } from "./resnet.ts";

/** CPN configuration. */
export const CPN_CONFIG = {
  num_layers: { type: "int", default: 50, doc: "ResNet depth of the backbone (50 or 101 in tf-cpn)" },
  num_joints: { type: "int", default: 17, doc: "heatmaps K (num_class)" },
  input_height: { type: "int", default: 224, doc: "input height (seed 001: 224; tf-cpn: 256)" },
  input_width: { type: "int", default: 224, doc: "input width (seed 001: 224; tf-cpn: 192)" },
  box_margin: { type: "float", default: 0.2, doc: "square crop side = longest box side × (1 + margin)" },
  flip_test: { type: "bool", default: true, doc: "average with the flipped image's heatmaps" },
  normalization: {
    type: "string",
    default: "pytorch_cpn",
    choices: ["pytorch_cpn", "imagenet"],
    doc: "pytorch_cpn: RGB/255 − pixel_means/255, mean border (pytorch-cpn); imagenet: ToTensor+Normalize",
  },
} as const satisfies ConfigSpec;

/** pytorch-cpn's `pixel_means` (RGB, 0–255) of `test_config.py`. */
export const CPN_PIXEL_MEANS: readonly number[] = Object.freeze([122.7717, 115.9465, 102.9801]);

/** pytorch-cpn's `color_normalize(im_to_torch(img), pixel_means)`: `v/255 − mean/255`, no std. */
export const CPN_NORMALIZATION: ChannelNormalization = Object.freeze({
  scale: 1 / 255,
  mean: Object.freeze(CPN_PIXEL_MEANS.map((m) => m / 255)),
  std: Object.freeze([1, 1, 1]),
});

/** Resolved CPN configuration. */
export type CpnConfig = ConfigValues<typeof CPN_CONFIG>;

/** The stage channels of C5, C4, C3, C2 (pytorch-cpn's `channel_settings`). */
const CHANNELS = [2048, 1024, 512, 256];

/** A conv followed by a BatchNorm (one `Sequential` entry pair). */
function conv(inC: number, outC: number, k: number): Conv2d {
  return new Conv2d(inC, outC, k, { padding: k === 3 ? 1 : 0, bias: false });
}

/** GlobalNet (`global_net.*`). */
export class GlobalNet extends Module {
  /** `laterals.{i}`: [conv 1×1, BN, ReLU]. */
  readonly laterals: ModuleList<Sequential>;
  /** `upsamples.{i}`: [Upsample ×2, conv 1×1, BN] (the upsample has no keys). */
  readonly upsamples: ModuleList<Sequential>;
  /** `predict.{i}`: [conv 1×1, BN, ReLU, conv 3×3 → K, Upsample, BN(K)]. */
  readonly predict: ModuleList<Sequential>;

  /** Creates GlobalNet for K heatmaps over backbone stages of `channels` (C5 first). */
  constructor(channels: readonly number[], numJoints: number) {
    super();
    this.laterals = this.addModule("laterals", new ModuleList<Sequential>());
    this.upsamples = this.addModule("upsamples", new ModuleList<Sequential>());
    this.predict = this.addModule("predict", new ModuleList<Sequential>());
    channels.forEach((c, i) => {
      this.laterals.push(new Sequential(conv(c, 256, 1), new BatchNorm2d(256), new Placeholder()));
      if (i !== channels.length - 1) {
        this.upsamples.push(new Sequential(new Placeholder(), conv(256, 256, 1), new BatchNorm2d(256)));
      }
      this.predict.push(
        new Sequential(
          conv(256, 256, 1),
          new BatchNorm2d(256),
          new Placeholder(),
          conv(256, numJoints, 3),
          new Placeholder(),
          new BatchNorm2d(numJoints),
        ),
      );
    });
  }

  /** Pyramid features (256 channels per level, C5 first) and per-level heatmaps at `size`. */
  forward(features: readonly Tensor[], size: readonly [number, number]): { fms: Tensor[]; outs: Tensor[] } {
    const fms: Tensor[] = [], outs: Tensor[] = [];
    let up: Tensor | null = null;
    features.forEach((x, i) => {
      const lat = this.laterals.at(i);
      const f = convBn(x, { conv: lat.at(0) as Conv2d, bn: lat.at(1) as BatchNorm2d, relu: true });
      let feature = f;
      if (up) {
        feature = ops.add(f, up);
        release([], f, up);
        up = null;
      }
      fms.push(feature);
      if (i !== features.length - 1) {
        const u = this.upsamples.at(i);
        const s = ops.resizeBilinear(feature, [feature.shape[2] * 2, feature.shape[3] * 2], {
          alignCorners: true,
        });
        up = convBn(s, { conv: u.at(1) as Conv2d, bn: u.at(2) as BatchNorm2d });
        s.dispose();
      }
      const p = this.predict.at(i);
      const a = convBn(feature, { conv: p.at(0) as Conv2d, bn: p.at(1) as BatchNorm2d, relu: true });
      outs.push(upsampleThenBn(a, { conv: p.at(3) as Conv2d, bn: p.at(5) as BatchNorm2d, size }));
      a.dispose();
    });
    return { fms, outs };
  }

  /** Lateral, upsample and predict convs with their norms (the last norm through the upsample). */
  protected override foldPairs(): FoldPair[] {
    const out: FoldPair[] = [];
    for (const s of this.laterals) out.push({ layers: [s.at(0) as Conv2d], norm: s.at(1) as BatchNorm2d });
    for (const s of this.upsamples) out.push({ layers: [s.at(1) as Conv2d], norm: s.at(2) as BatchNorm2d });
    for (const s of this.predict) {
      out.push({ layers: [s.at(0) as Conv2d], norm: s.at(1) as BatchNorm2d });
      out.push({ layers: [s.at(3) as Conv2d], norm: s.at(5) as BatchNorm2d });
    }
    return out;
  }
}

/** A key-less slot standing for a parameter-free module of the reference's `nn.Sequential` (ReLU, Upsample). */
class Placeholder extends Module {
  /** Identity (the owner applies the real operation). */
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** conv → bilinear upsample to `size` (align_corners) → BN; with the BN folded into the conv. */
function upsampleThenBn(
  x: Tensor,
  parts: { conv: Conv2d; bn: BatchNorm2d; size: readonly [number, number] },
): Tensor {
  const z = convBn(x, { conv: parts.conv, bn: parts.bn.folded ? parts.bn : null });
  const same = z.shape[2] === parts.size[0] && z.shape[3] === parts.size[1];
  const u = same ? z : ops.resizeBilinear(z, [parts.size[0], parts.size[1]], { alignCorners: true });
  if (!same) z.dispose();
  if (parts.bn.folded) return u;
  const y = parts.bn.forward(u);
  u.dispose();
  return y;
}

/** RefineNet (`refine_net.*`). */
export class RefineNet extends Module {
  /** `cascade.{i}`: 3 − i bottlenecks then an upsample (no keys). */
  readonly cascade: ModuleList<Sequential>;
  /** `final_predict`: [bottleneck, conv 3×3 → K, BN(K)]. */
  readonly final_predict: Sequential;

  /** Creates RefineNet over `levels` pyramid levels of 256 channels. */
  constructor(numJoints: number, levels = 4) {
    super();
    this.cascade = this.addModule("cascade", new ModuleList<Sequential>());
    for (let i = 0; i < levels; i++) {
      const blocks: ForwardModule[] = [];
      for (let b = 0; b < levels - i - 1; b++) {
        blocks.push(new Bottleneck(256, 128, { expansion: 2, forceDownsample: true }));
      }
      blocks.push(new Placeholder());
      this.cascade.push(new Sequential(...blocks));
    }
    this.final_predict = this.addModule(
      "final_predict",
      new Sequential(
        new Bottleneck(256 * levels, 128, { expansion: 2, forceDownsample: true }),
        conv(256, numJoints, 3),
        new BatchNorm2d(numJoints),
      ),
    );
  }

  /** Refined heatmaps `[N, K, size]` from GlobalNet's pyramid features. */
  forward(fms: readonly Tensor[], size: readonly [number, number]): Tensor {
    const ups = fms.map((f, i) => {
      let y = f;
      const seq = this.cascade.at(i);
      for (let b = 0; b < seq.length - 1; b++) {
        const next = seq.at(b).forward(y);
        if (y !== f) y.dispose();
        y = next;
      }
      if (y.shape[2] === size[0] && y.shape[3] === size[1]) return y === f ? ops.reshape(y, y.shape) : y;
      const u = ops.resizeBilinear(y, [size[0], size[1]], { alignCorners: true });
      if (y !== f) y.dispose();
      return u;
    });
    const cat = ops.concat(ups, { axis: 1 });
    for (const u of ups) u.dispose();
    const b = this.final_predict.at(0).forward(cat);
    cat.dispose();
    const y = convBn(b, {
      conv: this.final_predict.at(1) as Conv2d,
      bn: this.final_predict.at(2) as BatchNorm2d,
    });
    b.dispose();
    return y;
  }

  /** The final conv with its norm (the bottlenecks fold their own). */
  protected override foldPairs(): FoldPair[] {
    return [{ layers: [this.final_predict.at(1) as Conv2d], norm: this.final_predict.at(2) as BatchNorm2d }];
  }
}

/** A person box for `Cpn.estimate`: `[x, y, w, h]` and a detection score. */
export interface PersonBox {
  /** `[x, y, w, h]` in image pixels. */
  bbox: ArrayLike<number>;
  /** Detection score (default 1). */
  score?: number;
}

/** One estimated pose. */
export interface CpnPose {
  /** `[x, y, score] × K` in image pixels. */
  keypoints: Float32Array;
  /** Box score × the mean keypoint score (pytorch-cpn's rescoring). */
  score: number;
}

/** The CPN model: ResNet backbone (`resnet.*`), GlobalNet, RefineNet. */
export class Cpn extends Module {
  /** Resolved configuration. */
  readonly config: CpnConfig;
  /** Backbone. */
  readonly resnet: ResNetTrunk;
  /** GlobalNet. */
  readonly global_net: GlobalNet;
  /** RefineNet. */
  readonly refine_net: RefineNet;

  /** Creates the model from (a subset of) `CPN_CONFIG`. */
  constructor(config: Partial<CpnConfig> = {}) {
    super();
    const c = this.config = resolveConfig("cpn", CPN_CONFIG, config);
    if (c.input_height % 32 || c.input_width % 32 || c.input_height < 32 || c.input_width < 32) {
      // 224 = 7·32: every stage halves exactly, so the ×2 top-down sums line up.
      throw new InputError(`cpn: input size must be multiples of 32, got ${c.input_height}×${c.input_width}`);
    }
    this.resnet = this.addModule("resnet", new ResNetTrunk(c.num_layers, 3, "cpn"));
    if (this.resnet.stageChannels.join() !== [...CHANNELS].reverse().join()) {
      throw new InputError(
        `cpn: the backbone must be a bottleneck ResNet (50, 101, 152), got ${c.num_layers}`,
      );
    }
    this.global_net = this.addModule("global_net", new GlobalNet(CHANNELS, c.num_joints));
    this.refine_net = this.addModule("refine_net", new RefineNet(c.num_joints));
  }

  /** Heatmap size `[h, w]` (a quarter of the input). */
  get outputSize(): [number, number] {
    return [this.config.input_height / 4, this.config.input_width / 4];
  }

  /** Throws unless `shape` is `[N, 3, input_height, input_width]`. */
  checkInput(shape: readonly number[]): void {
    const { input_height: h, input_width: w } = this.config;
    if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== h || shape[3] !== w || shape[0] < 1) {
      throw new InputError(`cpn expects images [N, 3, ${h}, ${w}], got [${shape.join(", ")}]`);
    }
  }

  /** GlobalNet's four heatmap sets and RefineNet's heatmaps. */
  forwardAll(x: Tensor): { global: Tensor[]; refine: Tensor } {
    const feats = this.resnet.features(x).reverse(); // C5 first, as pytorch-cpn's resnet returns them
    const size = this.outputSize;
    const { fms, outs } = this.global_net.forward(feats, size);
    release([], ...feats);
    const refine = this.refine_net.forward(fms, size);
    release([], ...fms);
    return { global: outs, refine };
  }

  /** RefineNet's heatmaps `[N, K, H/4, W/4]`. */
  forward(x: Tensor): Tensor {
    const { global, refine } = this.forwardAll(x);
    release([], ...global);
    return refine;
  }

  /**
   * Estimates one pose per box on one image (see the module note). One GPU readback per batch of
   * `batchSize` boxes (default 8; doubled by the flip test).
   */
  async estimate(
    image: ImageLike | ImageTensor,
    boxes: readonly PersonBox[],
    options: { batchSize?: number; flip?: boolean; name?: string } = {},
  ): Promise<CpnPose[]> {
    const name = options.name ?? "image";
    const own = !("packed" in image);
    const img: ImageTensor = own
      ? uploadImage(image.channels === 3 ? image : toRgb(image as Parameters<typeof toRgb>[0]), { name })
      : image as ImageTensor;
    const { input_height: H, input_width: W } = this.config;
    const K = this.config.num_joints;
    const flip = options.flip ?? this.config.flip_test;
    const perm = flipPermutation(K, K === 17 ? COCO_17.flipPairs : []);
    const [h, w] = this.outputSize;
    const out: CpnPose[] = [];
    const batch = Math.max(1, options.batchSize ?? 8);
    try {
      for (let b0 = 0; b0 < boxes.length; b0 += batch) {
        const part = boxes.slice(b0, b0 + batch);
        const crops = part.map((b, i) => {
          if (b.bbox.length !== 4 || !(b.bbox[2] > 0 && b.bbox[3] > 0)) {
            throw new InputError(`${name}: box ${b0 + i} [${Array.from(b.bbox).join(", ")}] is empty`);
          }
          const sq = squareCropTransform(b.bbox, [W, H], { margin: this.config.box_margin });
          const x0 = b.bbox[0] + b.bbox[2] / 2 - sq.side / 2, y0 = b.bbox[1] + b.bbox[3] / 2 - sq.side / 2;
          return { t: sq.transform, details: [x0, y0, x0 + sq.side, y0 + sq.side] };
        });
        const cpnNorm = this.config.normalization === "pytorch_cpn";
        const hm = tidy(() => {
          const x = warpAffine(img, {
            transforms: crops.map((c) => c.t),
            width: W,
            height: H,
            normalize: cpnNorm ? CPN_NORMALIZATION : IMAGENET_NORMALIZATION,
            // cv2.copyMakeBorder's value, saturate_cast to bytes.
            borderValue: cpnNorm ? CPN_PIXEL_MEANS.map((m) => Math.round(m)) : 0,
          });
          const y = this.forward(x);
          if (!flip) return y;
          // Flipped pass, its heatmaps flipped back (pairs swapped) and averaged.
          const yf = flipHorizontal(this.forward(flipHorizontal(x)), { perm });
          return ops.affine(ops.add(y, yf), { scale: 0.5 });
        });
        const [maps] = await readAll([hm]);
        hm.dispose();
        part.forEach((b, p) => {
          const kps = new Float32Array(3 * K);
          const [x0, y0, x1, y1] = crops[p].details;
          let sum = 0;
          for (let j = 0; j < K; j++) {
            const [cx, cy, s] = decodeHeatmap(
              maps.subarray((p * K + j) * h * w, (p * K + j + 1) * h * w),
              w,
              h,
            );
            kps[3 * j] = ((4 * cx + 2) / W) * (x1 - x0) + x0;
            kps[3 * j + 1] = ((4 * cy + 2) / H) * (y1 - y0) + y0;
            kps[3 * j + 2] = s;
            sum += s;
          }
          out.push({ keypoints: kps, score: (b.score ?? 1) * (sum / K) });
        });
      }
    } finally {
      if (own) img.packed.dispose();
    }
    return out;
  }
}

/** `cv2.getGaussianKernel(n, 0, CV_64F)` for n > 7: σ = 0.3·((n − 1)/2 − 1) + 0.8, normalised by ×(1/Σ). */
export function gaussianKernel(n: number): Float64Array {
  const sigma = ((n - 1) * 0.5 - 1) * 0.3 + 0.8;
  const scale2 = -0.5 / (sigma * sigma);
  const k = Float64Array.from({ length: n }, (_, i) => Math.exp(scale2 * (i - (n - 1) * 0.5) ** 2));
  let sum = 0;
  for (const v of k) sum += v;
  const inv = 1 / sum;
  return k.map((v) => v * inv);
}

/** Reflect-101 index (OpenCV's default border: `gfedcb|abcdefgh|gfedcba`). */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

/** `cv2.GaussianBlur(map, (n, n), 0)` of a float64 `rows × cols` map: rows first, reflect-101 border. */
export function gaussianBlur(map: Float64Array, cols: number, rows: number, n = 21): Float64Array {
  const k = gaussianKernel(n), r = (n - 1) / 2;
  const tmp = new Float64Array(map.length), out = new Float64Array(map.length);
  const xi = Array.from({ length: cols + 2 * r }, (_, i) => reflect101(i - r, cols));
  const yi = Array.from({ length: rows + 2 * r }, (_, i) => reflect101(i - r, rows));
  for (let y = 0; y < rows; y++) {
    const row = y * cols;
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * map[row + xi[x + i]];
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * tmp[yi[y + i] * cols + x];
      out[y * cols + x] = s;
    }
  }
  return out;
}

function argmax(a: Float64Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/**
 * pytorch-cpn's decoding of one `width × height` heatmap (`256.192.model/test.py`): the map divided by
 * its maximum (float32), zero-padded by 10 cells, Gaussian-blurred (21×21, σ 3.5, float64), argmax; that
 * cell zeroed, the second argmax; the peak moved a quarter cell toward it and clamped to the map. The
 * score is `map / 255 + 0.5` (float32) at the rounded peak (ties to even). Returns `[x, y, score]` in cells.
 */
export function decodeHeatmap(map: Float32Array, width: number, height: number): [number, number, number] {
  if (map.length !== width * height) {
    throw new InputError(`decodeHeatmap: ${map.length} values for a ${width}×${height} map`);
  }
  let mx = map[0];
  for (let i = 1; i < map.length; i++) if (map[i] > mx) mx = map[i];
  const B = 10, pw = width + 2 * B, ph = height + 2 * B;
  const dr = new Float64Array(pw * ph);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) dr[(y + B) * pw + x + B] = Math.fround(map[y * width + x] / mx);
  }
  const bl = gaussianBlur(dr, pw, ph, 21);
  const first = argmax(bl);
  bl[first] = 0;
  const second = argmax(bl);
  let y = Math.floor(first / pw) - B, x = (first % pw) - B;
  const py = Math.floor(second / pw) - B - y, px = (second % pw) - B - x;
  const ln = Math.sqrt(px ** 2 + py ** 2);
  if (ln > 1e-3) {
    x += (0.25 * px) / ln;
    y += (0.25 * py) / ln;
  }
  x = Math.max(0, Math.min(x, width - 1));
  y = Math.max(0, Math.min(y, height - 1));
  const v = map[roundHalfEven(y) * width + roundHalfEven(x)];
  return [x, y, Math.fround(Math.fround(v / 255) + 0.5)];
}
