// The training-mode convolutions of layers/conv_train.ts (weight gradient as an unfolded matrix product)
// give the gradients of engine/ops.ts conv2d / convTranspose2d (themselves checked against
// torch.autograd), for strides, padding, dilation, output padding, bias and batch chunking.
// Tolerance 1e-4 relative to the largest gradient entry.
import { initEngine, ops, type Tensor, tensor, tidy } from "../../engine/mod.ts";
import { backward, param, withGrad } from "../../engine/autograd.ts";
import { conv2dIm2col, convTranspose2dIm2col } from "../../layers/conv_train.ts";
import { Conv2d, ConvTranspose2d } from "../../layers/mod.ts";
import { assertClose } from "./_util.ts";

await initEngine();

function rand(shape: number[], seed: number): Tensor {
  let s = seed;
  return tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648 - 0.5;
    }),
    shape,
  );
}

async function grads(
  f: (x: Tensor, w: Tensor, b: Tensor) => Tensor,
  shapes: { x: number[]; w: number[]; b: number },
): Promise<Float32Array[]> {
  const x = param(rand(shapes.x, 1)), w = param(rand(shapes.w, 2)), b = param(rand([shapes.b], 3));
  const wgt = rand([1], 4);
  withGrad(() =>
    tidy(() => {
      const y = f(x, w, b);
      // A non-uniform upstream gradient: Σ y² · 0.5 → dy = y.
      const l = ops.sum(ops.mul(ops.square(y), ops.affine(wgt, { scale: 0, shift: 0.5 })));
      backward(l);
    })
  );
  const out = await Promise.all([x.grad!.read(), w.grad!.read(), b.grad!.read()]);
  for (const t of [x, w, b, wgt]) t.dispose();
  return out;
}

const CONV: [string, number[], number[], { stride: number; padding: number; dilation: number }][] = [
  ["3x3 pad 1", [2, 3, 9, 7], [4, 3, 3, 3], { stride: 1, padding: 1, dilation: 1 }],
  ["7x7 stride 2 pad 3", [2, 5, 16, 13], [6, 5, 7, 7], { stride: 2, padding: 3, dilation: 1 }],
  ["3x3 stride 2 dilation 2", [3, 4, 11, 10], [5, 4, 3, 3], { stride: 2, padding: 2, dilation: 2 }],
  ["1x1 stride 2", [2, 8, 6, 6], [3, 8, 1, 1], { stride: 2, padding: 0, dilation: 1 }],
];

for (const [name, xs, ws, g] of CONV) {
  Deno.test(`conv2dIm2col ${name}: gradients equal ops.conv2d's`, async () => {
    const geo = {
      stride: [g.stride, g.stride] as const,
      padding: [g.padding, g.padding] as const,
      dilation: [g.dilation, g.dilation] as const,
    };
    const shapes = { x: xs, w: ws, b: ws[0] };
    const want = await grads((x, w, b) => ops.conv2d(x, w, { ...geo, bias: b }), shapes);
    for (const chunkFloats of [undefined, 1]) {
      const got = await grads((x, w, b) => conv2dIm2col(x, w, { ...geo, bias: b, chunkFloats }), shapes);
      ["x", "w", "b"].forEach((k, i) =>
        assertClose(got[i], want[i], `${name} d${k} chunk ${chunkFloats}`, 1e-4)
      );
    }
  });
}

const DECONV: [string, number[], number[], { stride: number; padding: number; op: number }][] = [
  ["4x4 stride 2 pad 1", [2, 6, 4, 3], [6, 5, 4, 4], { stride: 2, padding: 1, op: 0 }],
  ["3x3 stride 2 pad 1 output padding 1", [2, 4, 5, 4], [4, 3, 3, 3], { stride: 2, padding: 1, op: 1 }],
  ["2x2 stride 2", [3, 3, 3, 3], [3, 4, 2, 2], { stride: 2, padding: 0, op: 0 }],
];

for (const [name, xs, ws, g] of DECONV) {
  Deno.test(`convTranspose2dIm2col ${name}: gradients equal ops.convTranspose2d's`, async () => {
    const geo = {
      stride: [g.stride, g.stride] as const,
      padding: [g.padding, g.padding] as const,
      dilation: [1, 1] as const,
      outputPadding: [g.op, g.op] as const,
    };
    const shapes = { x: xs, w: ws, b: ws[1] };
    const want = await grads((x, w, b) => ops.convTranspose2d(x, w, { ...geo, bias: b }), shapes);
    for (const chunkFloats of [undefined, 1]) {
      const got = await grads(
        (x, w, b) => convTranspose2dIm2col(x, w, { ...geo, bias: b, chunkFloats }),
        shapes,
      );
      ["x", "w", "b"].forEach((k, i) =>
        assertClose(got[i], want[i], `${name} d${k} chunk ${chunkFloats}`, 1e-4)
      );
    }
  });
}

Deno.test("Conv2d / ConvTranspose2d layers take the im2col path in training and match eval outputs", async () => {
  const conv = new Conv2d(3, 4, 3, { padding: 1 }).train();
  const deconv = new ConvTranspose2d(4, 2, 4, { stride: 2, padding: 1 }).train();
  const x = rand([2, 3, 8, 8], 7);
  const y = withGrad(() =>
    tidy(() => {
      const z = deconv.forward(conv.forward(x, { activation: "relu" }));
      backward(ops.sum(z));
      return ops.detach(z);
    })
  );
  const yt = await y.read(), gw = await conv.weight.grad!.read();
  y.dispose();
  conv.eval();
  deconv.eval();
  const ye = tidy(() => deconv.forward(conv.forward(x, { activation: "relu" })));
  assertClose(await ye.read(), yt, "train vs eval forward", 1e-5);
  if (!gw.some((v) => v !== 0)) throw new Error("no weight gradient");
  for (const t of [x, ye]) t.dispose();
  conv.dispose();
  deconv.dispose();
});
