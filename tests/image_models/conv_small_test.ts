// The small-map inference route of layers/conv_small.ts (convolution as a matrix product, fused channel
// epilogue, col2im for transposed convolutions; pixel-major products with the weight as the cached right
// operand) against engine/ops.ts conv2d / convTranspose2d, for one and two images, strides, padding,
import assert from "node:assert/strict";
// bias, activation and residual (either order). Tolerance 1e-5 relative.
import { initEngine, ops, type Tensor, tensor } from "../../engine/mod.ts";
import { smallMapConv2d, smallMapConvTranspose2d, useSmallMapRoute } from "../../layers/conv_small.ts";
import { assertClose } from "./_util.ts";

await initEngine();
let seed = 1;
const rand = (s: number[]) =>
  tensor(
    Float32Array.from({ length: s.reduce((a, b) => a * b) }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    }),
    s,
  );
const read = (t: Tensor) => t.read();

for (const N of [1, 2]) {
  for (
    const [k, s, p, C, O, H, W] of [
      [1, 1, 0, 256, 64, 8, 6],
      [3, 1, 1, 64, 64, 8, 6],
      [3, 2, 1, 64, 128, 8, 6],
      [1, 2, 0, 96, 32, 8, 6],
      // C·k·k and the output pixels not multiples of 4: the scalar tails of the unfold and the epilogue.
      [1, 1, 0, 65, 24, 7, 5],
      [3, 1, 1, 13, 16, 5, 3],
    ]
  ) {
    Deno.test(`smallMapConv2d N=${N} k${k} s${s} p${p} ${C}→${O} ${H}×${W} matches ops.conv2d`, async () => {
      const x = rand([N, C, H, W]), w = rand([O, C, k, k]), b = rand([O]);
      const geo = { stride: s, padding: p, bias: b };
      const plain = ops.conv2d(x, w, geo);
      const r = rand(plain.shape as number[]);
      const w2 = w.reshape([O, C * k * k]);
      const g = {
        kernel: [k, k] as const,
        stride: [s, s] as const,
        padding: [p, p] as const,
        dilation: [1, 1] as const,
        outSize: [plain.shape[2], plain.shape[3]] as const,
        bias: b,
      };
      const after = ops.conv2d(x, w, { ...geo, activation: "relu", residual: r });
      const first = ops.relu(ops.add(plain, r));
      assertClose(await read(smallMapConv2d(x, w2, g)), await read(plain), "plain", 1e-5);
      assertClose(
        await read(smallMapConv2d(x, w2, { ...g, activation: "relu", residual: r })),
        await read(after),
        "relu then residual",
        1e-5,
      );
      assertClose(
        await read(smallMapConv2d(x, w2, { ...g, activation: "relu", residual: r, residualFirst: true })),
        await read(first),
        "residual then relu",
        1e-5,
      );
      // Eval-mode layers pass constantWeight: the packed weight is cached and reused (two calls).
      for (let rep = 0; rep < 2; rep++) {
        assertClose(
          await read(smallMapConv2d(x, w2, { ...g, constantWeight: true })),
          await read(plain),
          `cached weight, call ${rep + 1}`,
          1e-5,
        );
      }
    });
  }
  Deno.test(`smallMapConvTranspose2d N=${N} 4×4/2 and 3×3/2 (output padding) match ops.convTranspose2d`, async () => {
    for (const [k, op] of [[4, 0], [3, 1]]) {
      const x = rand([N, 128, 4, 3]), w = rand([128, 16, k, k]), b = rand([16]);
      const want = ops.convTranspose2d(x, w, {
        stride: 2,
        padding: 1,
        outputPadding: op,
        bias: b,
        activation: "relu",
      });
      const w2 = w.reshape([128, 16 * k * k]);
      const got = smallMapConvTranspose2d(x, w2, {
        kernel: [k, k],
        stride: [2, 2],
        padding: [1, 1],
        dilation: [1, 1],
        outChannels: 16,
        outSize: [want.shape[2], want.shape[3]],
        bias: b,
        activation: "relu",
      });
      assertClose(await read(got), await read(want), `deconv k${k}`, 1e-5);
      for (let rep = 0; rep < 2; rep++) {
        const again = smallMapConvTranspose2d(x, w2, {
          kernel: [k, k],
          stride: [2, 2],
          padding: [1, 1],
          dilation: [1, 1],
          outChannels: 16,
          outSize: [want.shape[2], want.shape[3]],
          bias: b,
          activation: "relu",
          constantWeight: true,
        });
        assertClose(await read(again), await read(want), `deconv k${k} cached weight, call ${rep + 1}`, 1e-5);
      }
    }
  });
}

Deno.test("useSmallMapRoute: layer3's 1×1 convolutions at batch 8 take the product route, its 3×3 do not", () => {
  // 16×12 maps (192 pixels), batch 8.
  assert.equal(useSmallMapRoute(8, 192, 1024, 256, { pointwise: true }), true);
  assert.equal(useSmallMapRoute(8, 192, 2304, 256), false);
  assert.equal(useSmallMapRoute(1, 192, 2304, 256), true);
  // layer2's 1×1 (32×24 = 768 pixels) stay on the convolution kernel.
  assert.equal(useSmallMapRoute(1, 768, 512, 128, { pointwise: true }), false);
  assert.equal(useSmallMapRoute(16, 192, 1024, 256, { pointwise: true }), false);
});
