import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { crc32 } from "../../pose/image/crc32.ts";
import { decodePng } from "../../pose/image/png.ts";
import { cases, diffStats, expectedPixels, imageBytes } from "./_fixtures.ts";

const pngCases = cases("png_");

Deno.test("png: every colour type, bit depth, filter, Adam7 pass and tRNS case equals PIL", async () => {
  assert.ok(pngCases.length > 100, `only ${pngCases.length} PNG cases`);
  for (const c of pngCases) {
    const img = await decodePng(imageBytes(c), { name: c.file });
    assert.deepEqual([img.width, img.height, img.channels], [c.width, c.height, c.channels], c.case);
    const d = diffStats(img.data, await expectedPixels(c));
    assert.equal(d.count, 0, `${c.case}: ${d.count} bytes differ (max ${d.max})`);
  }
});

/** Builds a PNG from chunks, with correct CRCs unless told otherwise. */
function png(chunks: [string, Uint8Array][]): Uint8Array {
  const parts: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  for (const [type, data] of chunks) {
    const body = new Uint8Array(4 + data.length);
    body.set(new TextEncoder().encode(type));
    body.set(data, 4);
    const n = data.length, c = crc32(body);
    parts.push(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...body);
    parts.push(c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255);
  }
  return new Uint8Array(parts);
}

function ihdr(w: number, h: number, depth = 8, ct = 0, interlace = 0): [string, Uint8Array] {
  const b = new Uint8Array(13);
  new DataView(b.buffer).setUint32(0, w);
  new DataView(b.buffer).setUint32(4, h);
  b.set([depth, ct, 0, 0, interlace], 8);
  return ["IHDR", b];
}

async function zlib(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function rejects(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(() => decodePng(bytes, { name: "t.png" }), (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    assert.match(e.message, /^t\.png: /);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("png: a hand-built 2x2 image decodes; errors name the chunk and what was expected", async () => {
  const raw = new Uint8Array([0, 10, 20, 2, 5, 5]); // row 0 unfiltered, row 1 "up" filter
  const idat = await zlib(raw);
  const good = png([ihdr(2, 2), ["IDAT", idat], ["IEND", new Uint8Array()]]);
  const img = await decodePng(good);
  assert.deepEqual([...img.data], [10, 20, 15, 25]);

  await rejects(good.slice(1), /not a PNG file/);
  const badCrc = good.slice();
  badCrc[8 + 8 + 13 + 3] ^= 1; // last CRC byte of IHDR
  await rejects(badCrc, /IHDR chunk at offset 8: CRC mismatch/);
  await rejects(good.subarray(0, 36), /truncated chunk header at offset 33/);
  await rejects(
    good.subarray(0, 45),
    /IDAT chunk at offset 33 is truncated \(declares \d+ data bytes \+ CRC, 4 bytes remain\)/,
  );
  await rejects(good.subarray(0, good.length - 12), /without an IEND chunk/);
  await rejects(png([ihdr(100000, 100000), ["IDAT", idat], ["IEND", new Uint8Array()]]), /exceeds the limit/);
  await rejects(png([ihdr(3, 3, 3, 0)]), /IHDR: bit depth 3 for colour type 0/);
  await rejects(png([ihdr(3, 3, 8, 5)]), /IHDR: colour type 5/);
  await rejects(png([ihdr(2, 2, 8, 3), ["IDAT", idat], ["IEND", new Uint8Array()]]), /PLTE: missing/);
  await rejects(png([ihdr(2, 2), ["IEND", new Uint8Array()]]), /IDAT: no image data/);
  await rejects(
    png([ihdr(2, 2), ["ABCD", new Uint8Array(1)], ["IEND", new Uint8Array()]]),
    /ABCD: unknown critical/,
  );
  await rejects(png([["IDAT", idat]]), /IDAT: chunk before IHDR/);
  const short = await zlib(raw.subarray(0, 4));
  await rejects(
    png([ihdr(2, 2), ["IDAT", short], ["IEND", new Uint8Array()]]),
    /IDAT: zlib stream ended after 4 of 6 bytes/,
  );
  const badFilter = await zlib(new Uint8Array([0, 1, 2, 7, 5, 5]));
  await rejects(
    png([ihdr(2, 2), ["IDAT", badFilter], ["IEND", new Uint8Array()]]),
    /row 1 has filter type 7/,
  );
  const corrupt = idat.slice();
  corrupt[2] ^= 0xff;
  await rejects(
    png([ihdr(2, 2), ["IDAT", corrupt], ["IEND", new Uint8Array()]]),
    /IDAT: zlib stream is corrupt/,
  );
  // Unknown ancillary chunks are skipped; a smaller pixel limit is honoured.
  const anc = png([ihdr(2, 2), ["zzZz", new Uint8Array(3)], ["IDAT", idat], ["IEND", new Uint8Array()]]);
  assert.equal((await decodePng(anc)).data.length, 4);
  await assert.rejects(() => decodePng(good, { maxPixels: 3 }), /4 pixels\) exceeds the limit of 3/);
});

Deno.test("png: a stream inflating to far more than the image is cut off, not buffered", async () => {
  const raw = new Uint8Array(1 << 22); // 4 MiB of zero rows for a 2x2 image
  const img = await decodePng(png([ihdr(2, 2), ["IDAT", await zlib(raw)], ["IEND", new Uint8Array()]]));
  assert.deepEqual([...img.data], [0, 0, 0, 0]);
});

Deno.test("png: truncation anywhere and corrupted IDAT bytes give InputError, nothing else", async () => {
  const bytes = imageBytes("png_ct6_d16_i_33x17.png");
  for (let cut = 0; cut < bytes.length; cut += 7) {
    await assert.rejects(() => decodePng(bytes.subarray(0, cut)), InputError, `cut at ${cut}`);
  }
  // Corrupt IDAT payload bytes but fix the CRC, so that the zlib and filter layers see the damage.
  let seed = 12345;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let trial = 0; trial < 60; trial++) {
    const b = bytes.slice();
    let p = 8;
    while (p < b.length) {
      const len = new DataView(b.buffer).getUint32(p);
      if (String.fromCharCode(...b.subarray(p + 4, p + 8)) === "IDAT" && rand(3) === 0) {
        b[p + 8 + rand(len)] = rand(256);
        new DataView(b.buffer).setUint32(p + 8 + len, crc32(b, { start: p + 4, end: p + 8 + len }));
      }
      p += 12 + len;
    }
    try {
      await decodePng(b);
    } catch (e) {
      assert.ok(e instanceof InputError, `trial ${trial}: ${e}`);
    }
  }
});
