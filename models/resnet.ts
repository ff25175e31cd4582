/**
 * ResNet-18/34/50/101/152 with torchvision's state-dict keys (`conv1`, `bn1`, `layer{1..4}.{k}.conv{1,2,3}`,
 * `.bn{1,2,3}`, `layer{n}.0.downsample.{0,1}`, `fc`), any number of input channels (PoseFix: 3 + 17,
 * patch refinement: (N−1)·6) and an optional classifier (`num_classes` 0: none).
 *
 * Bottlenecks put the stride on the 3×3 convolution (torchvision v1.5, and Simple Baselines' own
 * `pose_resnet.py`). In eval mode with BatchNorm folded (`loadStateDict(…, { fold: true })`), every
 * conv + BN (+ ReLU) is one convolution kernel with a fused epilogue; the block's residual add is fused
 * into its last convolution (ReLU then runs on the sum). Intermediate activations are released as soon
 * as the next layer has consumed them, so inference memory stays near two blocks' worth.
 *
 * `ResNetTrunk` (stem + layer1..4, `features()` → C2..C5) is the base of `ResNet`, `PoseResNet`
 * (models/pose_resnet.ts) and the CPN backbone (models/cpn.ts).
 * @module
 */

import { InputError, ops, type Tensor } from "../engine/mod.ts";
import {
  BatchNorm2d,
  Conv2d,
  type FoldPair,
  Linear,
  MaxPool2d,
  Module,
  ModuleList,
  Sequential,
} from "../layers/mod.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";

/** Blocks per stage for each depth, and whether the depth uses bottlenecks. */
export const RESNET_SPECS: Readonly<Record<number, { blocks: readonly number[]; bottleneck: boolean }>> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

/** Disposes tensors that are not among `keep` (inference-time early release; the tape retains saved ones). */
export function release(keep: readonly Tensor[], ...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && !keep.includes(t)) t.dispose();
}

/**
 * Conv + BatchNorm (+ residual) (+ ReLU): one fused convolution when the norm is folded, else the
 * separate (differentiable) ops. `relu` applies after the residual add, as in a ResNet block.
 */
export function convBn(
  x: Tensor,
  parts: { conv: Conv2d; bn: BatchNorm2d | null; relu?: boolean; residual?: Tensor },
): Tensor {
  const { conv, bn, relu, residual } = parts;
  if (!bn || bn.folded) {
    return conv.forward(x, { activation: relu ? "relu" : "none", residual, residualFirst: true });
  }
  const c = conv.forward(x);
  let y = bn.forward(c);
  release([y], c);
  if (residual) {
    const s = ops.add(y, residual);
    y.dispose();
    y = s;
  }
  if (!relu) return y;
  const r = ops.relu(y);
  y.dispose();
  return r;
}

/** A downsample branch: 1×1 conv (stride) + BN, keys `downsample.0`, `downsample.1`. */
function downsample(inPlanes: number, outPlanes: number, stride: number): Sequential {
  return new Sequential(
    new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }),
    new BatchNorm2d(outPlanes),
  );
}

function runDownsample(ds: Sequential | null, x: Tensor): Tensor {
  if (!ds) return x;
  return convBn(x, { conv: ds.at(0) as Conv2d, bn: ds.at(1) as BatchNorm2d });
}

/** ResNet-18/34 block: two 3×3 convs, keys `conv1`, `bn1`, `conv2`, `bn2`, `downsample`. */
export class BasicBlock extends Module {
  /** Output channels ÷ planes. */
  static readonly expansion = 1;
  /** 3×3 conv (stride). */
  readonly conv1: Conv2d;
  /** Its norm. */
  readonly bn1: BatchNorm2d;
  /** 3×3 conv. */
  readonly conv2: Conv2d;
  /** Its norm. */
  readonly bn2: BatchNorm2d;
  /** Projection shortcut, or null. */
  readonly downsample: Sequential | null;

  /** Creates a block. */
  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = this.addModule(
      "conv1",
      new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false }),
    );
    this.bn1 = this.addModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.addModule("conv2", new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.addModule("bn2", new BatchNorm2d(planes));
    this.downsample = stride !== 1 || inPlanes !== planes
      ? this.addModule("downsample", downsample(inPlanes, planes, stride))
      : null;
  }

  /** `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`. */
  forward(x: Tensor): Tensor {
    const a = convBn(x, { conv: this.conv1, bn: this.bn1, relu: true });
    const s = runDownsample(this.downsample, x);
    const y = convBn(a, { conv: this.conv2, bn: this.bn2, relu: true, residual: s });
    release([x], a, s);
    return y;
  }

  /** Each conv with its norm. */
  protected override foldPairs(): FoldPair[] {
    const out: FoldPair[] = [
      { layers: [this.conv1], norm: this.bn1 },
      { layers: [this.conv2], norm: this.bn2 },
    ];
    if (this.downsample) {
      out.push({ layers: [this.downsample.at(0) as Conv2d], norm: this.downsample.at(1) as BatchNorm2d });
    }
    return out;
  }
}

/** ResNet-50/101/152 block: 1×1, 3×3 (stride), 1×1 ×4; keys `conv1..3`, `bn1..3`, `downsample`. */
export class Bottleneck extends Module {
  /** Output channels ÷ planes. */
  static readonly expansion = 4;
  /** 1×1 reduce. */
  readonly conv1: Conv2d;
  /** Its norm. */
  readonly bn1: BatchNorm2d;
  /** 3×3 (stride). */
  readonly conv2: Conv2d;
  /** Its norm. */
  readonly bn2: BatchNorm2d;
  /** 1×1 expand. */
  readonly conv3: Conv2d;
  /** Its norm. */
  readonly bn3: BatchNorm2d;
  /** Projection shortcut, or null. */
  readonly downsample: Sequential | null;

  /** Creates a block (`expansion` 4; CPN's RefineNet uses 2 with an always-present shortcut). */
  constructor(
    inPlanes: number,
    planes: number,
    options: { stride?: number; expansion?: number; forceDownsample?: boolean } = {},
  ) {
    super();
    const stride = options.stride ?? 1, out = planes * (options.expansion ?? 4);
    this.conv1 = this.addModule("conv1", new Conv2d(inPlanes, planes, 1, { bias: false }));
    this.bn1 = this.addModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.addModule("conv2", new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.addModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.addModule("conv3", new Conv2d(planes, out, 1, { bias: false }));
    this.bn3 = this.addModule("bn3", new BatchNorm2d(out));
    this.downsample = options.forceDownsample || stride !== 1 || inPlanes !== out
      ? this.addModule("downsample", downsample(inPlanes, out, stride))
      : null;
  }

  /** `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))`. */
  forward(x: Tensor): Tensor {
    const a = convBn(x, { conv: this.conv1, bn: this.bn1, relu: true });
    const b = convBn(a, { conv: this.conv2, bn: this.bn2, relu: true });
    release([x], a);
    const s = runDownsample(this.downsample, x);
    const y = convBn(b, { conv: this.conv3, bn: this.bn3, relu: true, residual: s });
    release([x], b, s);
    return y;
  }

  /** Each conv with its norm. */
  protected override foldPairs(): FoldPair[] {
    const out: FoldPair[] = [
      { layers: [this.conv1], norm: this.bn1 },
      { layers: [this.conv2], norm: this.bn2 },
      { layers: [this.conv3], norm: this.bn3 },
    ];
    if (this.downsample) {
      out.push({ layers: [this.downsample.at(0) as Conv2d], norm: this.downsample.at(1) as BatchNorm2d });
    }
    return out;
  }
}

/** A ResNet block (either kind). */
export type ResNetBlock = BasicBlock | Bottleneck;

/** The stem and the four stages of a ResNet, registered at the top level (torchvision's keys). */
export class ResNetTrunk extends Module {
  /** Depth (18, 34, 50, 101 or 152). */
  readonly depth: number;
  /** Input channels. */
  readonly inChannels: number;
  /** Channels of C2..C5 (the outputs of layer1..4). */
  readonly stageChannels: readonly number[];
  /** 7×7/2 stem conv. */
  readonly conv1: Conv2d;
  /** Its norm. */
  readonly bn1: BatchNorm2d;
  /** 3×3/2 max pool. */
  readonly maxpool: MaxPool2d = new MaxPool2d(3, { stride: 2, padding: 1 });
  /** Stages `layer1..layer4`. */
  readonly layers: ModuleList<ResNetBlock>[] = [];

  /** Creates the trunk; `depth` must be one of `RESNET_SPECS`. */
  constructor(depth: number, inChannels: number, model = "resnet") {
    super();
    const spec = RESNET_SPECS[depth];
    if (!spec) {
      throw new InputError(`${model}: depth ${depth} is not one of ${Object.keys(RESNET_SPECS).join(", ")}`);
    }
    if (!(Number.isInteger(inChannels) && inChannels >= 1)) {
      throw new InputError(`${model}: in_channels must be ≥ 1, got ${inChannels}`);
    }
    this.depth = depth;
    this.inChannels = inChannels;
    this.conv1 = this.addModule(
      "conv1",
      new Conv2d(inChannels, 64, 7, { stride: 2, padding: 3, bias: false }),
    );
    this.bn1 = this.addModule("bn1", new BatchNorm2d(64));
    const exp = spec.bottleneck ? 4 : 1;
    let inPlanes = 64;
    const channels: number[] = [];
    spec.blocks.forEach((n, i) => {
      const planes = 64 * 2 ** i;
      const stage = new ModuleList<ResNetBlock>();
      for (let b = 0; b < n; b++) {
        const stride = b === 0 && i > 0 ? 2 : 1;
        stage.push(
          spec.bottleneck
            ? new Bottleneck(inPlanes, planes, { stride })
            : new BasicBlock(inPlanes, planes, stride),
        );
        inPlanes = planes * exp;
      }
      this.layers.push(this.addModule(`layer${i + 1}`, stage));
      channels.push(planes * exp);
    });
    this.stageChannels = channels;
  }

  /** Channels of the last stage (C5). */
  get outChannels(): number {
    return this.stageChannels[3];
  }

  /** Checks an `[N, C, H, W]` input shape. */
  checkImage(shape: readonly number[], model: string): void {
    if (shape.length !== 4 || shape[1] !== this.inChannels || shape[2] < 1 || shape[3] < 1 || shape[0] < 1) {
      throw new InputError(
        `${model} expects images [N, ${this.inChannels}, H, W], got [${shape.join(", ")}]`,
      );
    }
  }

  /** Stem: conv1 + bn1 + ReLU + max pool (1/4 resolution). */
  stem(x: Tensor): Tensor {
    const a = convBn(x, { conv: this.conv1, bn: this.bn1, relu: true });
    const y = this.maxpool.forward(a);
    release([x], a);
    return y;
  }

  /**
   * The stage outputs C2..C5 (strides 4, 8, 16, 32). With `upTo` < 4 only the first stages run. Every
   * other intermediate is released on the way.
   */
  features(x: Tensor, options: { upTo?: number } = {}): Tensor[] {
    const upTo = options.upTo ?? 4;
    let y = this.stem(x);
    const out: Tensor[] = [];
    for (let i = 0; i < upTo; i++) {
      for (const block of this.layers[i]) {
        const next = block.forward(y);
        if (!out.includes(y)) release([x], y);
        y = next;
      }
      out.push(y);
    }
    return out;
  }

  /** The last stage's output only (C5), releasing C2..C4. */
  trunk(x: Tensor): Tensor {
    let y = this.stem(x);
    for (const stage of this.layers) {
      for (const block of stage) {
        const next = block.forward(y);
        release([x], y);
        y = next;
      }
    }
    return y;
  }

  /** The stem conv with its norm. */
  protected override foldPairs(): FoldPair[] {
    return [{ layers: [this.conv1], norm: this.bn1 }];
  }
}

/** Constructor arguments of `ResNet` (torchvision's `resnetNN(num_classes=…)`, plus input channels). */
export const RESNET_CONFIG = {
  depth: { type: "int", default: 50, doc: "18, 34, 50, 101 or 152" },
  in_channels: { type: "int", default: 3, doc: "input channels (conv1 is widened or narrowed to match)" },
  num_classes: { type: "int", default: 1000, doc: "classifier outputs (fc); 0: no fc, pooled features out" },
} as const satisfies ConfigSpec;

/** Resolved ResNet configuration. */
export type ResNetConfig = ConfigValues<typeof RESNET_CONFIG>;

/** torchvision's ResNet: `[N, C, H, W]` → logits `[N, num_classes]` (or pooled features `[N, 512·exp]`). */
export class ResNet extends ResNetTrunk {
  /** Resolved configuration. */
  readonly config: ResNetConfig;
  /** Classifier, or null when `num_classes` is 0. */
  readonly fc: Linear | null;

  /** Creates the model from (a subset of) `RESNET_CONFIG`. */
  constructor(config: Partial<ResNetConfig> = {}) {
    const c = resolveConfig("resnet", RESNET_CONFIG, config);
    super(c.depth, c.in_channels, "resnet");
    this.config = c;
    if (c.num_classes < 0) throw new InputError(`resnet: num_classes must be ≥ 0, got ${c.num_classes}`);
    this.fc = c.num_classes > 0 ? this.addModule("fc", new Linear(this.outChannels, c.num_classes)) : null;
  }

  /** Throws unless `shape` is `[N, in_channels, H, W]`. */
  checkInput(shape: readonly number[]): void {
    this.checkImage(shape, "resnet");
  }

  /** Global-average-pooled C5 `[N, 512·expansion]`. */
  pooled(x: Tensor): Tensor {
    const c5 = this.trunk(x);
    const p = ops.globalAvgPool2d(c5);
    release([x], c5);
    const f = ops.reshape(p, [x.shape[0], this.outChannels]);
    p.dispose();
    return f;
  }

  /** Logits `[N, num_classes]` (or the pooled features without fc). */
  forward(x: Tensor): Tensor {
    const f = this.pooled(x);
    if (!this.fc) return f;
    const y = this.fc.forward(f);
    f.dispose();
    return y;
  }
}
