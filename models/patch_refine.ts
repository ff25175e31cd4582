/**
 * Patch-based 3D pose refinement (seed 000; no public code): for each of the N − 1 limbs of the skeleton
 * (Human3.6M 17 joints: 16 limbs, `H36M_17.bones`), the two projected 2D end points give a tight box
 * h×w, padded to max(28, h) × max(28, w), scaled ×2.3 around its centre, zero-padded outside the image
 * and resized to 256×256 (anisotropically, as a resize of that window); the RGB image and the
 * colour-coded part segmentation are cropped alike → 6 channels per limb, (N − 1)·6 in all. A ResNet-50
 * (torchvision keys; `conv1` widened to those channels, `fc` → (N − 1)·3) regresses the residual limb
 * orientations ΔU; the refined pose rebuilds the skeleton from the root: for every limb (child c of
 * parent p), `P'_c = P'_p + (P_c − P_p) + L̄·ΔU` with L̄ the limb's training mean length (OriNet-style
 * unit vectors normalised by the bone-length statistics), so a zero ΔU returns the initial pose.
 *
 * Channel layout of limb l: 6l..6l+2 the RGB crop (ImageNet mean/std), 6l+3..6l+5 the segmentation crop
 * scaled to [0, 1] (the paper does not say how it normalises them; both choices are stated here).
 * @module
 */

import { InputError, ops, readAll, type Tensor, tidy } from "../engine/mod.ts";
import {
  type ImageLike,
  IMAGENET_NORMALIZATION,
  type ImageTensor,
  uploadImage,
  warpAffine,
} from "../engine/kernels/image.ts";
import { toRgb } from "../pose/image/image.ts";
import { H36M_17, type Skeleton } from "../pose/skeletons.ts";
import { type ConfigSpec, type ConfigValues, resolveConfig } from "./config.ts";
import { type Affine, windowTransform } from "./image_ops.ts";
import { ResNet } from "./resnet.ts";

/** Patch-refinement configuration. */
export const PATCH_REFINE_CONFIG = {
  num_layers: { type: "int", default: 50, doc: "ResNet depth (the paper: 50)" },
  num_joints: { type: "int", default: 17, doc: "joints of the Human3.6M-17 skeleton (limbs = joints − 1)" },
  patch_size: { type: "int", default: 256, doc: "side of each limb patch" },
  context: { type: "float", default: 2.3, doc: "scale of the padded limb box around its centre" },
  min_box: { type: "float", default: 28, doc: "minimum limb box side before scaling (pixels)" },
} as const satisfies ConfigSpec;

/** Resolved configuration. */
export type PatchRefineConfig = ConfigValues<typeof PATCH_REFINE_CONFIG>;

/** One pose to refine: 2D joints in image pixels (`[x, y] × N`) and the initial 3D pose (`[x, y, z] × N`). */
export interface PatchRefineInput {
  /** Projected 2D joints, flat `[x, y] × N`. */
  pose2d: ArrayLike<number>;
  /** Initial 3D joints, flat `[x, y, z] × N` (any unit; the bone lengths must use the same). */
  pose3d: ArrayLike<number>;
}

/** The limb window `[x, y, w, h]` of two end points (tight box, ≥ `minBox` per side, × `context`). */
export function limbWindow(
  a: readonly [number, number],
  b: readonly [number, number],
  options: { minBox?: number; context?: number } = {},
): [number, number, number, number] {
  const minBox = options.minBox ?? 28, context = options.context ?? 2.3;
  const cx = (a[0] + b[0]) / 2, cy = (a[1] + b[1]) / 2;
  const w = Math.max(minBox, Math.abs(a[0] - b[0])) * context;
  const h = Math.max(minBox, Math.abs(a[1] - b[1])) * context;
  return [cx - w / 2, cy - h / 2, w, h];
}

/**
 * Rebuilds a refined pose from the root: `P'_c = P'_p + (P_c − P_p) + L̄_l·ΔU_l` along `skeleton`'s bones
 * (parents listed before children). `delta` is `[dx, dy, dz] × limbs` in bone order, `boneLengths` one
 * per bone.
 */
export function rebuildPose(
  initial: ArrayLike<number>,
  delta: ArrayLike<number>,
  options: { boneLengths: ArrayLike<number>; skeleton?: Skeleton },
): Float32Array {
  const sk = options.skeleton ?? H36M_17;
  const N = sk.joints.length, bones = sk.bones;
  if (
    initial.length !== 3 * N || delta.length !== 3 * bones.length ||
    options.boneLengths.length !== bones.length
  ) {
    throw new InputError(
      `rebuildPose: ${initial.length / 3} joints, ${
        delta.length / 3
      } limb residuals and ${options.boneLengths.length} bone lengths for a skeleton of ${N} joints and ${bones.length} bones`,
    );
  }
  const out = new Float32Array(3 * N);
  const done = new Uint8Array(N);
  sk.parents.forEach((p, j) => {
    if (p < 0) {
      for (let k = 0; k < 3; k++) out[3 * j + k] = initial[3 * j + k];
      done[j] = 1;
    }
  });
  bones.forEach(([c, p], l) => {
    if (!done[p]) throw new InputError(`rebuildPose: joint ${p} comes after its child ${c}`);
    for (let k = 0; k < 3; k++) {
      out[3 * c + k] = out[3 * p + k] + (initial[3 * c + k] - initial[3 * p + k]) +
        options.boneLengths[l] * delta[3 * l + k];
    }
    done[c] = 1;
  });
  return out;
}

/** Bone lengths of a pose (`[x, y, z] × N`), in bone order: the fallback statistics. */
export function boneLengthsOf(pose3d: ArrayLike<number>, skeleton: Skeleton = H36M_17): Float32Array {
  return Float32Array.from(
    skeleton.bones,
    ([c, p]) =>
      Math.hypot(
        pose3d[3 * c] - pose3d[3 * p],
        pose3d[3 * c + 1] - pose3d[3 * p + 1],
        pose3d[3 * c + 2] - pose3d[3 * p + 2],
      ),
  );
}

/** The patch-refinement network: a ResNet on the limb-patch volume with an (N − 1)·3 head. */
export class PatchRefine extends ResNet {
  /** The refinement configuration (the ResNet's own is `config`). */
  readonly refineConfig: PatchRefineConfig;
  /** The skeleton (Human3.6M 17 joints). */
  readonly skeleton: Skeleton = H36M_17;

  /** Creates the model from (a subset of) `PATCH_REFINE_CONFIG`. */
  constructor(config: Partial<PatchRefineConfig> = {}) {
    const c = resolveConfig("patch_refine", PATCH_REFINE_CONFIG, config);
    if (c.num_joints !== H36M_17.joints.length) {
      throw new InputError(
        `patch_refine: only the Human3.6M 17-joint skeleton is supported, got ${c.num_joints} joints`,
      );
    }
    const limbs = c.num_joints - 1;
    super({ depth: c.num_layers, in_channels: limbs * 6, num_classes: limbs * 3 });
    this.refineConfig = c;
    if (!(c.patch_size >= 32 && c.context > 0 && c.min_box > 0)) {
      throw new InputError(`patch_refine: bad patch geometry ${JSON.stringify(c)}`);
    }
  }

  /** Number of limbs (N − 1). */
  get limbs(): number {
    return this.skeleton.bones.length;
  }

  /** The crop maps (image → patch) of every limb of a 2D pose, in bone order. */
  limbTransforms(pose2d: ArrayLike<number>): Affine[] {
    const S = this.refineConfig.patch_size;
    return this.skeleton.bones.map(([c, p]) => {
      const win = limbWindow([pose2d[2 * p], pose2d[2 * p + 1]], [pose2d[2 * c], pose2d[2 * c + 1]], {
        minBox: this.refineConfig.min_box,
        context: this.refineConfig.context,
      });
      return windowTransform(win, [S, S]);
    });
  }

  /** The network input `[P, (N − 1)·6, S, S]` for 2D poses on one image (RGB and segmentation uploaded). */
  buildInput(image: ImageTensor, segmentation: ImageTensor, poses2d: readonly ArrayLike<number>[]): Tensor {
    const S = this.refineConfig.patch_size, L = this.limbs;
    const transforms = poses2d.flatMap((p) => this.limbTransforms(p));
    return tidy(() => {
      const rgb = warpAffine(image, { transforms, width: S, height: S, normalize: IMAGENET_NORMALIZATION });
      const seg = warpAffine(segmentation, {
        transforms,
        width: S,
        height: S,
        normalize: { scale: 1 / 255, mean: [0, 0, 0] },
      });
      return ops.reshape(ops.concat([rgb, seg], { axis: 1 }), [poses2d.length, L * 6, S, S]);
    });
  }

  /**
   * Refines 3D poses on one image: returns `[x, y, z] × N` per pose. `boneLengths` are the training
   * set's mean limb lengths in bone order (default: each initial pose's own lengths).
   */
  async refine(
    image: ImageLike | ImageTensor,
    segmentation: ImageLike | ImageTensor,
    poses: readonly PatchRefineInput[],
    options: { boneLengths?: ArrayLike<number>; batchSize?: number; name?: string } = {},
  ): Promise<Float32Array[]> {
    const N = this.skeleton.joints.length, L = this.limbs;
    poses.forEach((p, i) => {
      if (p.pose2d.length !== 2 * N || p.pose3d.length !== 3 * N) {
        throw new InputError(
          `${
            options.name ?? "patch_refine"
          }: pose ${i} has ${p.pose2d.length} 2D and ${p.pose3d.length} 3D values, expected ${2 * N} and ${
            3 * N
          }`,
        );
      }
    });
    if (options.boneLengths && options.boneLengths.length !== L) {
      throw new InputError(`patch_refine: ${options.boneLengths.length} bone lengths for ${L} limbs`);
    }
    const up = (im: ImageLike | ImageTensor, what: string): [ImageTensor, boolean] =>
      "packed" in im ? [im as ImageTensor, false] : [
        uploadImage(im.channels === 3 ? im : toRgb(im as Parameters<typeof toRgb>[0]), { name: what }),
        true,
      ];
    const [img, ownImg] = up(image, options.name ?? "image");
    const [seg, ownSeg] = up(segmentation, "segmentation");
    if (img.width !== seg.width || img.height !== seg.height) {
      throw new InputError(
        `patch_refine: the segmentation is ${seg.width}×${seg.height}, the image ${img.width}×${img.height}`,
      );
    }
    const out: Float32Array[] = [];
    const batch = Math.max(1, options.batchSize ?? 4);
    try {
      for (let b0 = 0; b0 < poses.length; b0 += batch) {
        const part = poses.slice(b0, b0 + batch);
        const y = tidy(() => this.forward(this.buildInput(img, seg, part.map((p) => p.pose2d))));
        const [delta] = await readAll([y]);
        y.dispose();
        part.forEach((p, i) => {
          const lengths = options.boneLengths ?? boneLengthsOf(p.pose3d, this.skeleton);
          out.push(
            rebuildPose(p.pose3d, delta.subarray(i * L * 3, (i + 1) * L * 3), { boneLengths: lengths }),
          );
        });
      }
    } finally {
      if (ownImg) img.packed.dispose();
      if (ownSeg) seg.packed.dispose();
    }
    return out;
  }
}
