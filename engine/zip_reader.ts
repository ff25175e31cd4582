/**
 * A minimal ZIP reader over bytes in memory, enough for PyTorch checkpoints (which `torch.save` writes as
 * an uncompressed ZIP archive): the end-of-central-directory record (searched for backwards), the central
 * directory, ZIP64 records and extra fields where the 32-bit fields are saturated, and each entry's local
 * header for where its data starts. Entries may be stored (method 0) or deflated (method 8, through
 * `DecompressionStream("deflate-raw")`); data is checked against the entry's CRC-32. Every offset and
 * length is checked against the real size before use; errors are `InputError`s naming the file and entry.
 * @module
 */

import { InputError } from "./errors.ts";

/** One file of an archive, as its central-directory record and local header describe it. */
export interface ZipEntry {
  /** Path inside the archive (`/`-separated). */
  name: string;
  /** Compression method: 0 stored, 8 deflate. */
  method: number;
  /** Bytes the entry occupies in the archive. */
  compressedSize: number;
  /** Bytes of the entry once extracted. */
  size: number;
  /** CRC-32 of the extracted bytes. */
  crc32: number;
  /** Absolute offset of the (compressed) data in the archive. */
  dataOffset: number;
}

/** A parsed archive: the bytes it was read from and its entries by name, in central-directory order. */
export interface ZipArchive {
  /** The file name used in errors. */
  file: string;
  /** The whole archive. */
  bytes: Uint8Array;
  /** Entries by name. */
  entries: Map<string, ZipEntry>;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

/** Whether `bytes` begins with a ZIP local-file header (`PK\x03\x04`), or is an empty archive. */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return sig === LOCAL_SIG || sig === EOCD_SIG;
}

/** Parses the central directory of the archive in `bytes`; `options.name` names it in errors. */
export function readZip(bytes: Uint8Array, options: { name?: string } = {}): ZipArchive {
  const file = options.name ?? "<zip bytes>";
  const fail = (detail: string): never => {
    throw new InputError(`${file}: ${detail}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  const u64 = (at: number, what: string): number => {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip ${what} ${v} is beyond any file size`);
    return Number(v);
  };

  // End of central directory: 22 bytes plus a comment of up to 65535, so search backwards from the end.
  let eocd = -1;
  for (let at = n - 22; at >= Math.max(0, n - 22 - U16_MAX); at--) {
    if (dv.getUint32(at, true) === EOCD_SIG && at + 22 + dv.getUint16(at + 20, true) <= n) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail("not a zip archive (no end-of-central-directory record; truncated or another format)");
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (dv.getUint16(eocd + 4, true) !== 0 || dv.getUint16(eocd + 6, true) !== 0) {
    fail("multi-disk zip archives are not supported");
  }
  const loc = eocd - 20;
  const hasLocator = loc >= 0 && dv.getUint32(loc, true) === ZIP64_LOCATOR_SIG;
  // Exactly 65535 entries fits the 16-bit count without ZIP64; saturated sizes or offsets do not.
  if ((count === U16_MAX && hasLocator) || cdSize === U32_MAX || cdOffset === U32_MAX) {
    if (!hasLocator) fail("saturated end-of-central-directory fields but no ZIP64 locator before them");
    const rec = u64(loc + 8, "ZIP64 record offset");
    if (rec + 56 > loc || dv.getUint32(rec, true) !== ZIP64_EOCD_SIG) {
      fail(`no ZIP64 end-of-central-directory record at byte ${rec}`);
    }
    count = u64(rec + 32, "entry count");
    cdSize = u64(rec + 40, "central directory size");
    cdOffset = u64(rec + 48, "central directory offset");
  }
  if (cdOffset + cdSize > n) {
    fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the ${n}-byte file`);
  }

  const utf8 = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let at = cdOffset;
  const end = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || dv.getUint32(at, true) !== CENTRAL_SIG) {
      fail(`central directory entry ${i} of ${count} at byte ${at} is malformed`);
    }
    const flags = dv.getUint16(at + 8, true);
    const method = dv.getUint16(at + 10, true);
    const crc32 = dv.getUint32(at + 16, true);
    let compressedSize = dv.getUint32(at + 20, true);
    let size = dv.getUint32(at + 24, true);
    const nameLen = dv.getUint16(at + 28, true);
    const extraLen = dv.getUint16(at + 30, true);
    const commentLen = dv.getUint16(at + 32, true);
    let localOffset = dv.getUint32(at + 42, true);
    const next = at + 46 + nameLen + extraLen + commentLen;
    if (next > end) fail(`central directory entry ${i} runs past the directory's end`);
    const name = utf8.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const where = `zip entry ${JSON.stringify(name)}`;
    // ZIP64 extended information (id 1): the saturated fields, in this order, as 64-bit values.
    if (size === U32_MAX || compressedSize === U32_MAX || localOffset === U32_MAX) {
      let x = at + 46 + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = dv.getUint16(x, true);
        const len = dv.getUint16(x + 2, true);
        if (x + 4 + len > xEnd) break;
        if (id === 1) {
          let p = x + 4;
          const take = (what: string): number => {
            if (p + 8 > x + 4 + len) fail(`${where}: ZIP64 extra field has no ${what}`);
            const v = u64(p, what);
            p += 8;
            return v;
          };
          if (size === U32_MAX) size = take("size");
          if (compressedSize === U32_MAX) compressedSize = take("compressed size");
          if (localOffset === U32_MAX) localOffset = take("local header offset");
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) fail(`${where}: saturated 32-bit fields but no ZIP64 extra field`);
    }
    if (flags & 1) fail(`${where} is encrypted`);
    if (localOffset + 30 > n || dv.getUint32(localOffset, true) !== LOCAL_SIG) {
      fail(`${where}: no local file header at byte ${localOffset}`);
    }
    // The local header's name and extra lengths may differ from the central ones (torch pads here).
    const dataOffset = localOffset + 30 + dv.getUint16(localOffset + 26, true) +
      dv.getUint16(localOffset + 28, true);
    if (dataOffset + compressedSize > n) {
      fail(
        `${where}: data [${dataOffset}, ${
          dataOffset + compressedSize
        }) runs past the end of the ${n}-byte file`,
      );
    }
    if (method === 0 && compressedSize !== size) {
      fail(`${where}: stored entry of ${size} bytes occupies ${compressedSize}`);
    }
    entries.set(name, { name, method, compressedSize, size, crc32, dataOffset });
    at = next;
  }
  return { file, bytes, entries };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as ZIP uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The extracted bytes of an entry (by name or entry): a view into the archive for stored entries, a new
 * buffer for deflated ones. Unknown names, other compression methods, bad deflate data and CRC
 * mismatches are `InputError`s naming the file and entry.
 */
export async function zipEntryBytes(archive: ZipArchive, entry: ZipEntry | string): Promise<Uint8Array> {
  const e = typeof entry === "string" ? archive.entries.get(entry) : entry;
  if (!e) throw new InputError(`${archive.file}: no zip entry ${JSON.stringify(entry)}`);
  const where = `${archive.file}: zip entry ${JSON.stringify(e.name)}`;
  const raw = archive.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  let out: Uint8Array;
  if (e.method === 0) out = raw;
  else if (e.method === 8) {
    try {
      const stream = new Blob([raw.slice()]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
      out = new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (cause) {
      throw new InputError(`${where}: bad deflate data (${(cause as Error).message})`, { cause });
    }
    if (out.length !== e.size) {
      throw new InputError(`${where}: inflates to ${out.length} bytes, not ${e.size}`);
    }
  } else {
    throw new InputError(
      `${where}: compression method ${e.method} is not supported (only stored and deflate)`,
    );
  }
  const crc = crc32(out);
  if (crc !== e.crc32) {
    throw new InputError(
      `${where}: CRC-32 ${crc.toString(16)} does not match the recorded ${
        e.crc32.toString(16)
      } (corrupt file)`,
    );
  }
  return out;
}
