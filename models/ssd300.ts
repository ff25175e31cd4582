/**
 * SSD300 (Liu et al., ECCV 2016) on VGG16, with the state-dict keys of amdegroot/ssd.pytorch: `vgg.{i}`
 * (the reference's layer list: convolutions at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, conv6 at
 * 31 (3×3, dilation 6), conv7 at 33), `L2Norm.weight` (conv4_3's channel-wise L2 normalisation, scale 20),
 * `extras.{0..7}`, `loc.{0..5}`, `conf.{0..5}`. Used by `posegpu pose2d --detector ssd` to find people.
 *
 * Input: the image resized to 300×300 (bilinear, edge-replicated as cv2.resize), RGB minus the means
 * (123, 117, 104) — ssd.pytorch's BaseTransform then its BGR → RGB swap. `forward` returns
 * `[N, 8732, 4 + num_classes]`: box offsets then class logits per prior. Priors (`priorBoxes`), decoding
 * with variances (0.1, 0.2), per-class confidence threshold and greedy NMS (`detections`) follow
 * ssd.pytorch's PriorBox / Detect / nms. As ssd.pytorch's `SSD.__init__` (`self.cfg = (coco, voc)[num_classes
 * == 21]`), the priors are VOC's when `num_classes` is 21 and COCO's otherwise (`prior_sizes: "auto"`);
 * ssd.pytorch's own COCO config trains 201 classes (`coco['num_classes']`), person = class 1.
 * @module
 */

import { InputError, ops, readAll, type Tensor, tensor, tidy } from "../engine/mod.ts";
import { type ImageLike, type ImageTensor, uploadImage, warpAffine } from "../engine/kernels/image.ts";
import { Conv2d, type ForwardModule, Module, ModuleList } from "../layers/mod.ts";
import { toRgb } from "../pose/image/image.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { resizeTransform } from "./image_ops.ts";

/** SSD300 configuration. */
export const SSD300_CONFIG = {
  num_classes: {
    type: "int",
    default: 21,
    doc: "classes including background (VOC 21; ssd.pytorch's COCO config: 201, of which 81 are used)",
  },
  prior_sizes: {
    type: "string",
    default: "auto",
    choices: ["auto", "voc", "coco"],
    doc: "prior min/max sizes: voc [30,60,111,162,213,264 | 315], coco [21,45,99,153,207,261 | 315]; " +
      "auto: voc iff num_classes = 21 (ssd.pytorch)",
  },
  person_class: {
    type: "int",
    default: 0,
    doc: "class index of 'person'; 0: 15 if num_classes = 21 (VOC), else 1",
  },
  conf_thresh: { type: "float", default: 0.01, doc: "per-class score threshold before NMS" },
  nms_thresh: { type: "float", default: 0.45, doc: "NMS IoU threshold" },
  top_k: { type: "int", default: 200, doc: "detections kept per class" },
} as const satisfies ConfigSpec;

/** Resolved SSD300 configuration. */
export type Ssd300Config = ConfigValues<typeof SSD300_CONFIG>;

const BASE = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512] as const;
const EXTRAS = [256, "S", 512, 128, "S", 256, 128, 256, 128, 256] as const;
const MBOX = [4, 6, 6, 6, 4, 4];
const FEATURE_MAPS = [38, 19, 10, 5, 3, 1];
const STEPS = [8, 16, 32, 64, 100, 300];
const ASPECT_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]];
const SIZES = {
  voc: { min: [30, 60, 111, 162, 213, 264], max: [60, 111, 162, 213, 264, 315] },
  coco: { min: [21, 45, 99, 153, 207, 261], max: [45, 99, 153, 207, 261, 315] },
};
/** ssd.pytorch's variances of the box encoding. */
export const SSD_VARIANCE: readonly [number, number] = [0.1, 0.2];

/** A key-less slot of the reference's layer list (ReLU, or a pool with its own forward). */
class Slot extends Module {
  readonly kind: "relu" | "pool" | "pool_ceil" | "pool5";
  constructor(kind: "relu" | "pool" | "pool_ceil" | "pool5") {
    super();
    this.kind = kind;
  }
  forward(x: Tensor): Tensor {
    if (this.kind === "relu") return ops.relu(x);
    if (this.kind === "pool5") return ops.maxPool2d(x, 3, { stride: 1, padding: 1 });
    if (this.kind === "pool_ceil" && (x.shape[2] % 2 || x.shape[3] % 2)) {
      // ceil_mode=True: the last partial window counts. The input is a ReLU output (≥ 0), so padding
      // the bottom/right edge with zeros leaves every maximum unchanged.
      const p = ops.pad2d(x, [0, x.shape[3] % 2, 0, x.shape[2] % 2]);
      const y = ops.maxPool2d(p, 2, { stride: 2 });
      p.dispose();
      return y;
    }
    return ops.maxPool2d(x, 2, { stride: 2 });
  }
}

/** conv4_3's channel-wise L2 normalisation with a learnt per-channel scale (`L2Norm.weight`, init 20). */
export class L2Norm extends Module {
  /** Scale `[C]`. */
  readonly weight: Tensor;
  /** ε added to the norm. */
  readonly eps: number = 1e-10;
  /** Creates the layer. */
  constructor(channels: number, scale = 20) {
    super();
    this.weight = this.addParameter("weight", tensor(new Float32Array(channels).fill(scale)));
  }
  /** `weight[c] · x / (‖x‖₂ over channels + ε)`. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const norm = ops.affine(ops.sqrt(ops.sum(ops.square(x), { axis: 1, keepDims: true })), {
        shift: this.eps,
      });
      return ops.mul(ops.div(x, norm), ops.reshape(this.weight, [1, x.shape[1], 1, 1]));
    });
  }
}

/** A detection: `[x, y, w, h]` in image pixels, class and score. */
export interface Detection {
  /** `[x, y, w, h]`. */
  bbox: [number, number, number, number];
  /** Class index (1 … num_classes − 1). */
  label: number;
  /** Softmax score. */
  score: number;
}

/** ssd.pytorch's PriorBox for SSD300: `[8732, 4]` as (cx, cy, w, h), relative to the image, clipped to [0, 1]. */
export function priorBoxes(sizes: "voc" | "coco" = "voc"): Float32Array {
  const out: number[] = [];
  const { min, max } = SIZES[sizes];
  FEATURE_MAPS.forEach((f, k) => {
    const fk = 300 / STEPS[k];
    for (let i = 0; i < f; i++) {
      for (let j = 0; j < f; j++) {
        const cx = (j + 0.5) / fk, cy = (i + 0.5) / fk;
        const s = min[k] / 300;
        out.push(cx, cy, s, s);
        const s2 = Math.sqrt(s * (max[k] / 300));
        out.push(cx, cy, s2, s2);
        for (const ar of ASPECT_RATIOS[k]) {
          const r = Math.sqrt(ar);
          out.push(cx, cy, s * r, s / r, cx, cy, s / r, s * r);
        }
      }
    }
  });
  return Float32Array.from(out, (v) => Math.min(1, Math.max(0, v)));
}

/** Options of `detections`. */
export interface DetectionOptions {
  /** Classes including background. */
  numClasses: number;
  /** Only this class (default: every class but background). */
  label?: number;
  /** Score threshold (default 0.01). */
  confThresh?: number;
  /** NMS IoU threshold (default 0.45). */
  nmsThresh?: number;
  /** Detections per class (default 200). */
  topK?: number;
  /** Image size `[w, h]` the relative boxes are scaled to (default [1, 1]). */
  imageSize?: readonly [number, number];
  /** Priors (default `priorBoxes("voc")`). */
  priors?: Float32Array;
}

/**
 * ssd.pytorch's Detect for one image: decode `loc` `[P·4]` against the priors, then per class the scores
 * `probs` `[P·C]` (softmax) above the threshold, the `topK` best, greedy NMS. Sorted by score.
 */
export function detections(loc: Float32Array, probs: Float32Array, options: DetectionOptions): Detection[] {
  const priors = options.priors ?? priorBoxes();
  const P = priors.length / 4, C = options.numClasses;
  if (loc.length !== P * 4 || probs.length !== P * C) {
    throw new InputError(
      `ssd detections: ${loc.length / 4} boxes and ${probs.length / C} scores for ${P} priors`,
    );
  }
  const [iw, ih] = options.imageSize ?? [1, 1];
  const boxes = new Float32Array(P * 4);
  for (let p = 0; p < P; p++) {
    const [cx, cy, w, h] = priors.subarray(4 * p, 4 * p + 4);
    const bx = cx + loc[4 * p] * SSD_VARIANCE[0] * w, by = cy + loc[4 * p + 1] * SSD_VARIANCE[0] * h;
    const bw = w * Math.exp(loc[4 * p + 2] * SSD_VARIANCE[1]),
      bh = h * Math.exp(loc[4 * p + 3] * SSD_VARIANCE[1]);
    boxes.set([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], 4 * p);
  }
  const out: Detection[] = [];
  const thresh = options.confThresh ?? 0.01, nms = options.nmsThresh ?? 0.45, topK = options.topK ?? 200;
  const classes = options.label !== undefined
    ? [options.label]
    : Array.from({ length: C - 1 }, (_, i) => i + 1);
  for (const c of classes) {
    const cand: number[] = [];
    for (let p = 0; p < P; p++) if (probs[p * C + c] > thresh) cand.push(p);
    // Stable sort by descending score; the top_k best go to NMS, as ssd.pytorch's nms().
    cand.sort((a, b) => probs[b * C + c] - probs[a * C + c] || a - b);
    const pool = cand.slice(0, topK);
    const keep: number[] = [];
    const area = (i: number) => (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
    for (const i of pool) {
      let ok = true;
      for (const k of keep) {
        const w = Math.max(
          0,
          Math.min(boxes[4 * i + 2], boxes[4 * k + 2]) - Math.max(boxes[4 * i], boxes[4 * k]),
        );
        const h = Math.max(
          0,
          Math.min(boxes[4 * i + 3], boxes[4 * k + 3]) - Math.max(boxes[4 * i + 1], boxes[4 * k + 1]),
        );
        const inter = w * h;
        if (inter / (area(i) + area(k) - inter) > nms) {
          ok = false;
          break;
        }
      }
      if (ok) keep.push(i);
    }
    for (const k of keep) {
      const [x0, y0, x1, y1] = boxes.subarray(4 * k, 4 * k + 4);
      out.push({
        bbox: [x0 * iw, y0 * ih, (x1 - x0) * iw, (y1 - y0) * ih],
        label: c,
        score: probs[k * C + c],
      });
    }
  }
  return out.sort((a, b) => b.score - a.score);
}

/** SSD300 with a VGG16 base. */
export class Ssd300 extends Module {
  /** Resolved configuration. */
  readonly config: Ssd300Config;
  /** The reference's VGG layer list (convolutions have keys, ReLU/pool slots do not). */
  readonly vgg: ModuleList<ForwardModule>;
  /** conv4_3 normalisation. */
  readonly L2Norm: L2Norm;
  /** Extra feature layers (each followed by ReLU). */
  readonly extras: ModuleList<Conv2d>;
  /** Box regression heads. */
  readonly loc: ModuleList<Conv2d>;
  /** Classification heads. */
  readonly conf: ModuleList<Conv2d>;
  #priors: Float32Array | null = null;

  /** Creates the model from (a subset of) `SSD300_CONFIG`. */
  constructor(config: Partial<Ssd300Config> = {}) {
    super();
    const c = this.config = resolveConfig("ssd300", SSD300_CONFIG, config);
    if (c.num_classes < 2) throw new InputError(`ssd300: num_classes must be ≥ 2, got ${c.num_classes}`);
    if (c.person_class < 0 || c.person_class >= c.num_classes) {
      throw new InputError(`ssd300: person_class ${c.person_class} is not a class of ${c.num_classes}`);
    }
    const layers: ForwardModule[] = [];
    let inC = 3;
    for (const v of BASE) {
      if (v === "M" || v === "C") layers.push(new Slot(v === "M" ? "pool" : "pool_ceil"));
      else {
        layers.push(new Conv2d(inC, v, 3, { padding: 1 }), new Slot("relu"));
        inC = v;
      }
    }
    layers.push(
      new Slot("pool5"),
      new Conv2d(512, 1024, 3, { padding: 6, dilation: 6 }),
      new Slot("relu"),
      new Conv2d(1024, 1024, 1),
      new Slot("relu"),
    );
    this.vgg = this.addModule("vgg", new ModuleList(layers));
    this.L2Norm = this.addModule("L2Norm", new L2Norm(512));
    const extras: Conv2d[] = [];
    let flag = false;
    let ec: number | "S" = 1024;
    EXTRAS.forEach((v, k) => {
      if (ec !== "S") {
        if (v === "S") {
          extras.push(new Conv2d(ec, EXTRAS[k + 1] as number, flag ? 3 : 1, { stride: 2, padding: 1 }));
        } else extras.push(new Conv2d(ec, v, flag ? 3 : 1));
        flag = !flag;
      }
      ec = v;
    });
    this.extras = this.addModule("extras", new ModuleList(extras));
    const sources = [512, 1024, 512, 256, 256, 256];
    this.loc = this.addModule(
      "loc",
      new ModuleList(sources.map((s, k) => new Conv2d(s, MBOX[k] * 4, 3, { padding: 1 }))),
    );
    this.conf = this.addModule(
      "conf",
      new ModuleList(sources.map((s, k) => new Conv2d(s, MBOX[k] * c.num_classes, 3, { padding: 1 }))),
    );
  }

  /** The priors of this model's configuration (computed once). */
  get priors(): Float32Array {
    this.#priors ??= priorBoxes(this.priorSizes);
    return this.#priors;
  }

  /** The prior sizes in use (`auto`: VOC's for 21 classes, else COCO's, as ssd.pytorch). */
  get priorSizes(): "voc" | "coco" {
    const p = this.config.prior_sizes;
    return p === "auto" ? (this.config.num_classes === 21 ? "voc" : "coco") : p;
  }

  /** The class index of 'person' (`person_class`, or 15 for VOC's 21 classes and 1 otherwise). */
  get personClass(): number {
    return this.config.person_class || (this.config.num_classes === 21 ? 15 : 1);
  }

  /** Throws unless `shape` is `[N, 3, 300, 300]`. */
  checkInput(shape: readonly number[]): void {
    if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== 300 || shape[3] !== 300 || shape[0] < 1) {
      throw new InputError(`ssd300 expects images [N, 3, 300, 300], got [${shape.join(", ")}]`);
    }
  }

  /** `[N, 8732, 4 + num_classes]`: per prior the box offsets then the class logits. */
  forward(x: Tensor): Tensor {
    const sources: Tensor[] = [];
    let y = x;
    const step = (f: () => Tensor) => {
      const next = f();
      if (y !== x) y.dispose();
      y = next;
    };
    const runVgg = (from: number, to: number) => {
      for (let k = from; k < to; k++) {
        const m = this.vgg.at(k);
        if (m instanceof Conv2d) {
          // A convolution and the ReLU slot after it run as one fused kernel.
          step(() => m.forward(y, { activation: "relu" }));
          k++;
        } else step(() => m.forward(y));
      }
    };
    runVgg(0, 23); // through conv4_3's ReLU (ssd.pytorch: `for k in range(23)`)
    sources.push(this.L2Norm.forward(y));
    runVgg(23, this.vgg.length);
    sources.push(y);
    this.extras.toArray().forEach((conv, k) => {
      const prev = y;
      y = conv.forward(prev, { activation: "relu" });
      if (!sources.includes(prev) && prev !== x) prev.dispose();
      if (k % 2 === 1) sources.push(y);
    });
    const flat = (t: Tensor, last: number): Tensor => {
      const p = ops.permute(t, [0, 2, 3, 1]);
      const r = ops.reshape(p, [x.shape[0], -1, last]);
      p.dispose();
      t.dispose();
      return r;
    };
    const C = this.config.num_classes;
    const locs = sources.map((s, k) => flat(this.loc.at(k).forward(s), 4));
    const confs = sources.map((s, k) => flat(this.conf.at(k).forward(s), C));
    for (const s of sources) if (s !== x) s.dispose();
    const l = ops.concat(locs, { axis: 1 }), c = ops.concat(confs, { axis: 1 });
    for (const t of [...locs, ...confs]) t.dispose();
    const out = ops.concat([l, c], { axis: 2 });
    l.dispose();
    c.dispose();
    return out;
  }

  /**
   * Detects objects in an image (resized to 300×300 as ssd.pytorch's BaseTransform): boxes in image
   * pixels, sorted by score; `label` restricts to one class (default: the configuration's person class).
   */
  async detect(
    image: ImageLike | ImageTensor,
    options: { label?: number | null; name?: string } = {},
  ): Promise<Detection[]> {
    const own = !("packed" in image);
    const img: ImageTensor = own
      ? uploadImage(image.channels === 3 ? image : toRgb(image as Parameters<typeof toRgb>[0]), {
        name: options.name,
      })
      : image as ImageTensor;
    try {
      const out = tidy(() => {
        const x = warpAffine(img, {
          transforms: [resizeTransform([img.width, img.height], [300, 300])],
          width: 300,
          height: 300,
          border: "replicate",
          normalize: { scale: 1, mean: [123, 117, 104], std: [1, 1, 1] },
        });
        const y = this.forward(x);
        const C = this.config.num_classes;
        const loc = ops.slice(y, [{ axis: 2, start: 0, end: 4 }]);
        const prob = ops.softmax(ops.slice(y, [{ axis: 2, start: 4, end: 4 + C }]), { axis: -1 });
        return [loc, prob];
      });
      const [loc, prob] = await readAll(out);
      for (const t of out) t.dispose();
      const label = options.label === undefined ? this.personClass : options.label ?? undefined;
      return detections(loc, prob, {
        numClasses: this.config.num_classes,
        label,
        confThresh: this.config.conf_thresh,
        nmsThresh: this.config.nms_thresh,
        topK: this.config.top_k,
        imageSize: [img.width, img.height],
        priors: this.priors,
      });
    } finally {
      if (own) img.packed.dispose();
    }
  }
}
