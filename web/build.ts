/**
 * Builds the browser demo as a static site and optionally serves it on 127.0.0.1.
 *
 * `deno bundle --platform browser` turns `web/main.ts` and the library modules it imports into one ES
 * module, `posegpu_web.js`; the site folder gets it with `index.html`, the `node:path` stand-in the page's
 * import map points at, the demo sample and the shipped weights. Any static file server can serve the
 * folder (WebGPU needs a secure context: https, or http on localhost/127.0.0.1).
 *
 * ```sh
 * deno task web                       # build into out/web and serve on http://127.0.0.1:8000/
 * deno run -A web/build.ts --out site # only build, into ./site
 * ```
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EnvironmentError } from "../engine/errors.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Files copied into the site besides the bundle: site name → repository path. */
const STATIC_FILES: Readonly<Record<string, string>> = Object.freeze({
  "index.html": "web/index.html",
  "node_path.js": "web/node_path.js",
  "cmu_131_01_2d.json": "pose/data/cmu_131_01_2d.json",
});

/** The weights the page can load (`?model=NAME`), copied when present. */
const WEIGHTS = ["martinez_gt", "martinez_sh"];

/** What `buildWebDemo` did. */
export interface WebBuild {
  /** The site folder. */
  dir: string;
  /** Files written, relative to `dir`. */
  files: string[];
  /** Shipped weights that were absent (the page cannot use them). */
  missingWeights: string[];
}

/**
 * Bundles `web/main.ts` with `deno bundle` and assembles the site in `dir` (created). Throws
 * `EnvironmentError` when `deno bundle` fails (it fetches esbuild on first use).
 */
export async function buildWebDemo(dir: string, options: { minify?: boolean } = {}): Promise<WebBuild> {
  await Deno.mkdir(`${dir}/weights`, { recursive: true });
  const args = [
    "bundle",
    "--platform",
    "browser",
    "--format",
    "esm",
    "-o",
    `${dir}/posegpu_web.js`,
  ];
  if (options.minify) args.push("--minify");
  args.push(`${ROOT}web/main.ts`);
  const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped", cwd: ROOT })
    .output();
  if (!r.success) {
    throw new EnvironmentError(`deno bundle failed (exit ${r.code}):\n${new TextDecoder().decode(r.stderr)}`);
  }
  const files = ["posegpu_web.js"];
  for (const [name, from] of Object.entries(STATIC_FILES)) {
    await Deno.copyFile(`${ROOT}${from}`, `${dir}/${name}`);
    files.push(name);
  }
  const missingWeights: string[] = [];
  for (const w of WEIGHTS) {
    try {
      await Deno.copyFile(`${ROOT}weights/${w}.safetensors`, `${dir}/weights/${w}.safetensors`);
      files.push(`weights/${w}.safetensors`);
    } catch {
      missingWeights.push(w);
    }
  }
  return { dir, files, missingWeights };
}

const TYPES: Readonly<Record<string, string>> = Object.freeze({
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  safetensors: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
});

/**
 * Serves the files of `dir` (no listing, nothing outside it) on 127.0.0.1; port 0 picks a free port.
 * Returns the server and its base URL.
 */
export function serveStatic(
  dir: string,
  options: { port?: number } = {},
): { server: Deno.HttpServer; url: string } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const rel = path.endsWith("/") ? `${path}index.html` : path;
      if (rel.split("/").includes("..")) return new Response("forbidden", { status: 403 });
      try {
        const body = await Deno.readFile(`${dir}${rel}`);
        const ext = rel.slice(rel.lastIndexOf(".") + 1);
        return new Response(body, { headers: { "content-type": TYPES[ext] ?? "application/octet-stream" } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  return { server, url: `http://127.0.0.1:${server.addr.port}/` };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string", default: `${ROOT}out/web` },
      serve: { type: "boolean", default: false },
      port: { type: "string", default: "8000" },
      minify: { type: "boolean", default: false },
    },
    strict: true,
  });
  const build = await buildWebDemo(values.out, { minify: values.minify });
  console.error(`built ${build.dir}: ${build.files.join(", ")}`);
  if (build.missingWeights.length) console.error(`absent weights: ${build.missingWeights.join(", ")}`);
  if (values.serve) {
    const { url } = serveStatic(build.dir, { port: Number(values.port) });
    console.error(`serving ${build.dir} on ${url} (WebGPU: Chrome/Edge 113+, or --enable-unsafe-webgpu)`);
  }
}
