import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { decodeImage, readImage, sniffImageFormat, toRgb } from "../../pose/image/mod.ts";
import { fixture } from "../_shared.ts";
import { imageBytes } from "./_fixtures.ts";

Deno.test("decodeImage: sniffs PNG, JPEG and PPM by magic bytes; unknown bytes give InputError", async () => {
  assert.equal(sniffImageFormat(imageBytes("png_ct2_d8_13x11.png")), "png");
  assert.equal(sniffImageFormat(imageBytes("jpeg_grey.jpg")), "jpeg");
  assert.equal(sniffImageFormat(imageBytes("ppm_P6_255.ppm")), "ppm");
  assert.equal(sniffImageFormat(new Uint8Array([0x42, 0x4d])), null);
  assert.equal((await decodeImage(imageBytes("jpeg_grey.jpg"))).channels, 1);
  assert.equal((await decodeImage(imageBytes("ppm_P5_255.pgm"))).channels, 1);
  assert.equal((await decodeImage(imageBytes("png_trns_ct3_d8.png"))).channels, 4);
  await assert.rejects(
    () => decodeImage(new Uint8Array([0x42, 0x4d, 1, 2, 3]), { name: "x.bmp" }),
    /x\.bmp: unknown image format \(first bytes 42 4d 01 02; expected PNG, JPEG or binary PGM\/PPM\)/,
  );
  await assert.rejects(() => decodeImage(new Uint8Array()), InputError);
});

Deno.test("readImage: decodes a file and names it in errors", async () => {
  const img = await readImage(fixture("images/jpeg_s2_61x45.jpg"));
  assert.deepEqual([img.width, img.height, img.channels], [61, 45, 3]);
  const path = fixture("images/no_such_file.png");
  await assert.rejects(() => readImage(path), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.ok(e.message.startsWith(`${path}: cannot read the file`), e.message);
    return true;
  });
  const broken = await Deno.makeTempFile({ suffix: ".png" });
  try {
    await Deno.writeFile(broken, imageBytes("png_ct2_d8_13x11.png").subarray(0, 100));
    await assert.rejects(() => readImage(broken), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, new RegExp(`^${broken}: IDAT chunk at offset \\d+ is truncated`));
      return true;
    });
  } finally {
    await Deno.remove(broken);
  }
});

Deno.test("toRgb: replicates grey, drops or composites alpha, passes RGB through", () => {
  const grey = { width: 2, height: 1, channels: 1 as const, data: new Uint8Array([7, 200]) };
  assert.deepEqual([...toRgb(grey).data], [7, 7, 7, 200, 200, 200]);
  const ga = { width: 1, height: 1, channels: 2 as const, data: new Uint8Array([100, 0]) };
  assert.deepEqual([...toRgb(ga).data], [100, 100, 100]);
  assert.deepEqual([...toRgb(ga, { background: [255, 0, 10] }).data], [255, 0, 10]);
  const rgba = { width: 1, height: 1, channels: 4 as const, data: new Uint8Array([200, 100, 0, 128]) };
  assert.deepEqual([...toRgb(rgba).data], [200, 100, 0]);
  // 200·128/255 + 0·127/255 = 100.39 → 100; 100·128/255 + 255·127/255 = 177.2 → 177.
  assert.deepEqual([...toRgb(rgba, { background: [0, 255, 0] }).data], [100, 177, 0]);
  const rgb = { width: 1, height: 1, channels: 3 as const, data: new Uint8Array([1, 2, 3]) };
  assert.equal(toRgb(rgb), rgb);
});
