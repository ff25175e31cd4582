import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { decodeJpeg } from "../../pose/image/jpeg.ts";
import { cases, diffStats, expectedPixels, imageBytes } from "./_fixtures.ts";

// Tolerance against PIL (libjpeg-turbo 2.1.5, islow IDCT, fancy upsampling). The decoder reproduces
// libjpeg-turbo's arithmetic, so every fixture matches exactly; the bounds below are the brief's
// acceptable worst case, and the exact-match count is asserted separately.
const MAX_ABS = 2, MAX_MEAN = 0.5;

const jpegCases = cases("jpeg_").filter((c) => !c.error);

Deno.test("jpeg: baseline, progressive, subsampled, restart and crafted files match PIL", async () => {
  assert.ok(jpegCases.length >= 50, `only ${jpegCases.length} JPEG cases`);
  let exact = 0;
  for (const c of jpegCases) {
    const img = decodeJpeg(imageBytes(c), { name: c.file });
    assert.deepEqual([img.width, img.height, img.channels], [c.width, c.height, c.channels], c.case);
    const d = diffStats(img.data, await expectedPixels(c));
    assert.ok(d.max <= MAX_ABS && d.mean <= MAX_MEAN, `${c.case}: max ${d.max}, mean ${d.mean.toFixed(3)}`);
    if (d.count === 0) exact++;
  }
  assert.equal(exact, jpegCases.length, `${jpegCases.length - exact} cases are close but not bit-exact`);
});

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeJpeg(bytes, { name: "t.jpg" }), (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    assert.match(e.message, /^t\.jpg: /);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Offset of the first marker `code` (0xFF code) outside entropy-coded data, found by walking segments. */
function markerAt(bytes: Uint8Array, code: number): number {
  let p = 2;
  while (p < bytes.length) {
    if (bytes[p] === 0xff && bytes[p + 1] === code) return p;
    p += 2 + ((bytes[p + 2] << 8) | bytes[p + 3]);
  }
  throw new Error(`marker ${code.toString(16)} not found`);
}

Deno.test("jpeg: unsupported kinds are rejected with a clear error", () => {
  const base = imageBytes("jpeg_s2_61x45.jpg");
  const sof = markerAt(base, 0xc0);
  const patch = (at: number, value: number) => {
    const b = base.slice();
    b[at] = value;
    return b;
  };
  rejects(imageBytes("jpeg_cmyk.jpg"), /4-component \(CMYK\/YCCK\) JPEG is not supported/);
  rejects(patch(sof + 1, 0xc9), /SOF9 segment at offset \d+: arithmetic coding is not supported/);
  rejects(patch(sof + 1, 0xc3), /lossless JPEG is not supported/);
  rejects(patch(sof + 1, 0xc5), /hierarchical/);
  rejects(patch(sof + 4, 12), /12-bit samples are not supported/);
  const huge = base.slice();
  huge.set([0xff, 0xff, 0xff, 0xff], sof + 5); // 65535 x 65535
  rejects(huge, /SOF0: image size 65535x65535 \(4294836225 pixels\) exceeds the limit of 100000000 pixels/);
  rejects(patch(sof + 11, 0x35), /component 1: sampling factors 3x5 \(expected 1-4\)/);
  const frac = patch(sof + 11, 0x32);
  frac[sof + 14] = 0x22;
  rejects(frac, /component 2: sampling 2x2 is not an integer fraction of 3x2/);
  rejects(base.subarray(1), /not a JPEG file/);
  rejects(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), /EOI before any frame header/);
  // A scan that names a Huffman table never defined.
  const sos = markerAt(base, 0xda);
  rejects(
    patch(sos + 6, 0x33),
    /SOS \(scan 1\) at offset \d+: component 1: DC Huffman table 3 is not defined/,
  );
  // Progressive scan parameters out of range.
  const prog = imageBytes("jpeg_prog_420.jpg");
  const psos = markerAt(prog, 0xda);
  const badProg = prog.slice();
  badProg[psos + 5 + 2 * prog[psos + 4] + 1] = 5; // Se of a DC scan must be 0
  rejects(badProg, /invalid progressive parameters Ss=0 Se=5/);
});

Deno.test("jpeg: truncation anywhere gives InputError; corrupted data decodes or fails cleanly", () => {
  for (const name of ["jpeg_prog_420.jpg", "jpeg_rst_b420.jpg", "jpeg_exif_icc.jpg"]) {
    const bytes = imageBytes(name);
    for (let cut = 0; cut < bytes.length - 1; cut += 13) {
      assert.throws(() => decodeJpeg(bytes.subarray(0, cut)), InputError, `${name} cut at ${cut}`);
    }
  }
  let seed = 777;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (const name of ["jpeg_prog_420.jpg", "jpeg_rst_p420.jpg", "jpeg_s2_61x45.jpg", "jpeg_mixed.jpg"]) {
    const bytes = imageBytes(name);
    for (let trial = 0; trial < 150; trial++) {
      const b = bytes.slice();
      for (let k = 0; k < 1 + rand(4); k++) b[2 + rand(b.length - 2)] = rand(256);
      try {
        const img = decodeJpeg(b);
        assert.equal(img.data.length, img.width * img.height * img.channels);
      } catch (e) {
        assert.ok(e instanceof InputError, `${name} trial ${trial}: ${e}`);
      }
    }
  }
});
