// Browser stand-in for `node:path`, mapped by the import map in index.html. The library imports node:path
// only in file-writing and file-naming helpers (engine/fs.ts, pose/formats/*) that the page never calls;
// these POSIX versions keep the module graph loadable and behave sensibly if one ever is called.

/** Last path segment, without `ext` when it ends with it. */
export function basename(path, ext) {
  const parts = String(path).replace(/\/+$/, "").split("/");
  const last = parts[parts.length - 1] ?? "";
  return ext && last.endsWith(ext) && last !== ext ? last.slice(0, -ext.length) : last;
}

/** Everything before the last segment ("." when none). */
export function dirname(path) {
  const p = String(path).replace(/\/+$/, "");
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}

/** The extension of the last segment, dot included ("" when none). */
export function extname(path) {
  const last = basename(path);
  const i = last.lastIndexOf(".");
  return i <= 0 ? "" : last.slice(i);
}

/** Segments joined with "/" (repeated slashes collapsed). */
export function join(...parts) {
  return parts.filter((p) => p !== "").join("/").replace(/\/+/g, "/") || ".";
}

export default { basename, dirname, extname, join };
