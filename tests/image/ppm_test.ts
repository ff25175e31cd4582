import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { decodePpm } from "../../pose/image/ppm.ts";
import { cases, expectedPixels, imageBytes } from "./_fixtures.ts";

Deno.test("ppm: P5/P6, maxval 15..65535, comments, odd whitespace: equal to PIL's scaling", async () => {
  const ppmCases = cases("ppm_");
  assert.equal(ppmCases.length, 10);
  for (const c of ppmCases) {
    const img = decodePpm(imageBytes(c), { name: c.file });
    assert.deepEqual([img.width, img.height, img.channels], [c.width, c.height, c.channels], c.case);
    assert.deepEqual(img.data, await expectedPixels(c), c.case);
  }
});

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("ppm: header forms and rounding", () => {
  const img = decodePpm(new Uint8Array([...enc("P5 3 1 2\n"), 0, 1, 2]));
  // 1/2·255 = 127.5 rounds half to even, as Python's round() in PIL.
  assert.deepEqual([...img.data], [0, 128, 255]);
  const rgb = decodePpm(new Uint8Array([...enc("P6\n#c\n1 1\n65535\n"), 0x80, 0x00, 0xff, 0xff, 0, 0]));
  assert.deepEqual([...rgb.data], [128, 255, 0]);
  // Bytes after the raster are ignored.
  assert.equal(decodePpm(new Uint8Array([...enc("P5 1 1 255 "), 9, 9, 9])).data[0], 9);
});

Deno.test("ppm: malformed, truncated and oversized headers give InputError naming the field", () => {
  const bad = (s: string | Uint8Array, pattern: RegExp) =>
    assert.throws(() => decodePpm(typeof s === "string" ? enc(s) : s, { name: "t.ppm" }), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, /^t\.ppm: /);
      assert.match(e.message, pattern);
      return true;
    });
  bad("P3 1 1 255\n0 0 0", /not a binary PGM\/PPM file \(magic "P3"/);
  bad("P6 2", /file ends while reading width|while reading height/);
  bad("P6 2 x 255\n", /height at offset 5: found byte 0x78/);
  bad("P6 2 2 0\n", /maxval 0 \(expected 1 to 65535\)/);
  bad("P6 2 2 70000\n", /maxval 70000/);
  bad("P6 2 2 255\n\x01\x02", /raster: 2 bytes after the header, 12 expected \(truncated\)/);
  bad("P5 100000 100000 255\n", /header: image size 100000x100000 .* exceeds the limit/);
  bad("P5 0 3 255\n", /image size 0x3 is empty/);
  bad("P5 99999999999 1 255\n", /width at offset 3: found a number of over 10 digits/);
});
