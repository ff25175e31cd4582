// Real COCO photos (../shared/data/coco, never committed) against statistics of PIL's decode.
import assert from "node:assert/strict";
import { decodeImage } from "../../pose/image/mod.ts";
import { fixture, sharedData } from "../_shared.ts";

interface CocoStats {
  file: string;
  width: number;
  height: number;
  channels: number;
  sha256: string;
  channelSums: number[];
  /** base64 of (x u16 LE, y u16 LE, one byte per channel) per sample. */
  samples: string;
}

const stats =
  (JSON.parse(Deno.readTextFileSync(fixture("images/coco_stats.json"))) as { images: CocoStats[] })
    .images;

async function sha256(data: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(h, (b) => b.toString(16).padStart(2, "0")).join("");
}

for (const s of stats) {
  Deno.test(`coco: ${s.file} decodes bit-exact to PIL (sha256, channel sums, 300 samples)`, async () => {
    const path = sharedData(`coco/${s.file}`);
    if (!path) return;
    const bytes = await Deno.readFile(path);
    const img = await decodeImage(bytes, { name: path });
    assert.deepEqual([img.width, img.height, img.channels], [s.width, s.height, s.channels]);
    const sums = new Array(s.channels).fill(0);
    for (let i = 0; i < img.data.length; i++) sums[i % s.channels] += img.data[i];
    assert.deepEqual(sums, s.channelSums);
    const packed = Uint8Array.from(atob(s.samples), (ch) => ch.charCodeAt(0));
    const rec = 4 + s.channels;
    for (let p = 0; p < packed.length; p += rec) {
      const x = packed[p] | (packed[p + 1] << 8), y = packed[p + 2] | (packed[p + 3] << 8);
      const at = (y * s.width + x) * s.channels;
      assert.deepEqual(
        [...img.data.subarray(at, at + s.channels)],
        [...packed.subarray(p + 4, p + rec)],
        `(${x},${y})`,
      );
    }
    assert.equal(await sha256(img.data), s.sha256);
  });
}

Deno.test("coco: a 640-pixel-wide baseline JPEG decodes well under 200 ms", async () => {
  const path = sharedData("coco/000000000785.jpg");
  if (!path) return;
  const bytes = await Deno.readFile(path);
  await decodeImage(bytes); // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await decodeImage(bytes);
    times.push(performance.now() - t0);
  }
  const median = times.sort((a, b) => a - b)[2];
  console.log(`640x425 baseline JPEG: median ${median.toFixed(1)} ms over 5 decodes`);
  // Generous bound so that a loaded CI machine does not flake; typical is ~10 ms.
  assert.ok(median < 200, `median ${median.toFixed(1)} ms`);
});
