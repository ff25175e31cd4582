/**
 * Kernel selection by measurement. For a matmul shape class the candidate tiles are timed once on the
 * current adapter; the winner is cached on disk, keyed by adapter and engine version, and reused by
 * later processes. Without a cached entry the engine uses its per-adapter defaults (software adapters:
 * register tiling; GPUs: shared-memory tiling), so a cold start never pays for tuning.
 * @module
 */

import { backend } from "./backend.ts";
import { adapterSummary } from "./device.ts";
import { writeFileAtomic } from "./fs.ts";
import { defaultTile, matmul, type MatmulTile, setTileChooser } from "./kernels/matmul.ts";
import { tensor } from "./tensor.ts";
import { processCpuSeconds } from "./cpu_time.ts";

/** Bumped whenever a kernel changes in a way that invalidates measurements. */
export const ENGINE_VERSION = "0.1.0-k3";

/** One timed candidate. */
export interface TileTiming {
  /** The tile. */
  tile: MatmulTile;
  /** Milliseconds per matmul (median of the timed repetitions). */
  ms: number;
  /** GFLOP/s. */
  gflops: number;
  /** Milliseconds spent compiling its shader. */
  compileMs: number;
  /**
   * Process CPU milliseconds per matmul (software adapters, where lavapipe's threads run in this process;
   * absent where /proc/self/stat is unreadable). Software adapters rank candidates by it: on a shared
   * machine wall time mostly measures the neighbours' load.
   */
  cpuMs?: number;
}

type Cache = Record<string, Record<string, MatmulTile>>;
let cache: Cache = {};
let loadedFrom: string | null = null;

function permitted(name: "env" | "read" | "write", path?: string): boolean {
  try {
    const desc = name === "env" ? { name } : { name, path } as Deno.PermissionDescriptor;
    return Deno.permissions.querySync(desc as Deno.PermissionDescriptor).state === "granted";
  } catch {
    return false;
  }
}

/** Where the tuning cache lives: $POSEGPU_CACHE_DIR, else $XDG_CACHE_HOME/posegpu, else ~/.cache/posegpu. */
export function cacheDir(): string | null {
  if (!permitted("env")) return null;
  const explicit = Deno.env.get("POSEGPU_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/posegpu`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.cache/posegpu` : null;
}

function cachePath(): string | null {
  const d = cacheDir();
  return d ? `${d}/matmul_tiles.json` : null;
}

function adapterKey(): string {
  const s = adapterSummary();
  return `${s.description}|${s.backend}|${ENGINE_VERSION}`;
}

function bucket(v: number): number {
  // Powers of two, so nearby shapes share a measurement.
  return v <= 1 ? 1 : 2 ** Math.round(Math.log2(v));
}

/** The cache key of a matmul shape. */
export function shapeKey(m: number, n: number, k: number, flags: string): string {
  return `${bucket(m)}x${bucket(n)}x${bucket(k)}:${flags}`;
}

/** Loads the on-disk cache (silently nothing without read permission) and installs the tile chooser. */
export function installTuning(): void {
  const p = cachePath();
  if (p && permitted("read", p) && loadedFrom !== p) {
    try {
      cache = JSON.parse(Deno.readTextFileSync(p));
      loadedFrom = p;
    } catch {
      cache = {};
    }
  }
  setTileChooser((m, n, k, batch, flags) => {
    return cache[adapterKey()]?.[shapeKey(m, n, k, flags)] ?? defaultTile(m, n, k, batch, flags);
  });
}

/** Candidate tiles for the current adapter. */
export function candidateTiles(m: number, n: number): MatmulTile[] {
  const software = adapterSummary().isSoftware;
  const list: MatmulTile[] = software
    ? [
      { kind: "reg", tm: 4, tn: 8, wgx: 16, wgy: 4 },
      { kind: "reg", tm: 8, tn: 8, wgx: 8, wgy: 8 },
      { kind: "reg", tm: 8, tn: 16, wgx: 8, wgy: 8 },
      { kind: "reg", tm: 16, tn: 16, wgx: 8, wgy: 8 },
      { kind: "reg", tm: 16, tn: 32, wgx: 8, wgy: 8 },
      { kind: "reg", tm: 32, tn: 32, wgx: 8, wgy: 8 },
      { kind: "shared", tm: 4, tn: 4, wgx: 16, wgy: 16 },
      // Texture operands (matmul_tex.ts): lavapipe's texel fetches vectorise better than buffer loads.
      { kind: "tex", tm: 1, tn: 8, wgx: 32, wgy: 1 },
      { kind: "tex", tm: 4, tn: 16, wgx: 8, wgy: 4 },
      { kind: "tex", tm: 16, tn: 8, wgx: 8, wgy: 4 },
      { kind: "tex", tm: 8, tn: 16, wgx: 8, wgy: 8 },
      { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 4 },
      { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 8 },
      { kind: "tex", tm: 16, tn: 16, wgx: 8, wgy: 8, texA: false },
      { kind: "tex", tm: 16, tn: 32, wgx: 8, wgy: 8 },
      { kind: "tex", tm: 16, tn: 32, wgx: 8, wgy: 2, rowOuter: true },
      { kind: "tex", tm: 24, tn: 32, wgx: 8, wgy: 2, rowOuter: true },
      { kind: "tex", tm: 32, tn: 32, wgx: 8, wgy: 2, rowOuter: true },
    ]
    : [
      { kind: "shared", tm: 4, tn: 4, wgx: 16, wgy: 16 },
      { kind: "shared", tm: 2, tn: 4, wgx: 16, wgy: 16 },
      { kind: "reg", tm: 4, tn: 4, wgx: 16, wgy: 16 },
      { kind: "reg", tm: 2, tn: 4, wgx: 16, wgy: 8 },
    ];
  // Blocks much larger than the matrix only waste lanes.
  return list.filter((t) => t.tm <= Math.max(4, m) && t.tn <= Math.max(8, n));
}

/**
 * Times every candidate tile on an m×k · k×n product (B in [K, N] layout unless `flags` is "NT"), records
 * the winner in the cache and saves it. `compileBudgetMs` skips further large tiles once compiling gets slow.
 */
export async function tuneMatmul(
  shape: { m: number; n: number; k: number; flags?: string },
  options: { reps?: number; compileBudgetMs?: number; log?: (line: string) => void; save?: boolean } = {},
): Promise<TileTiming[]> {
  const { m, n, k } = shape;
  const flags = shape.flags ?? "NN";
  const reps = options.reps ?? 3;
  const a = tensor(Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 997) / 997 - 0.5), [m, k]);
  const bShape = flags === "NT" ? [n, k] : [k, n];
  const b = tensor(Float32Array.from({ length: n * k }, (_, i) => ((i * 104729) % 991) / 991 - 0.5), bShape);
  const results: TileTiming[] = [];
  const be = backend();
  const flops = 2 * m * n * k;
  const software = adapterSummary().isSoftware;
  for (const tile of candidateTiles(m, n)) {
    const c0 = be.getStats().compileMs;
    const t0 = performance.now();
    // constantB: weights are cached as textures by eval-mode layers, so the tuner measures that case.
    matmul(a, b, { tile, transB: flags === "NT", constantB: true }).dispose();
    await be.sync();
    const compileMs = be.getStats().compileMs - c0;
    const first = performance.now() - t0;
    const times: number[] = [];
    // Several products per submit amortise Deno's ~11 ms sync cost, as real forward passes do.
    const per = Math.max(1, Math.min(16, Math.ceil(200 / Math.max(first - compileMs, 1))));
    // CPU time (10 ms ticks) is summed over the repetitions, which continue until ≥ 300 ms of it.
    const cpu0 = software ? processCpuSeconds() : null;
    let ops = 0;
    for (let r = 0; r < reps || (cpu0 !== null && processCpuSeconds()! - cpu0 < 0.3 && r < 40); r++) {
      const t = performance.now();
      for (let i = 0; i < per; i++) matmul(a, b, { tile, transB: flags === "NT", constantB: true }).dispose();
      await be.sync();
      times.push((performance.now() - t) / per);
      ops += per;
    }
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)];
    const cpuMs = cpu0 === null ? undefined : ((processCpuSeconds()! - cpu0) * 1000) / ops;
    results.push({ tile, ms, gflops: flops / ms / 1e6, compileMs, cpuMs });
    options.log?.(
      `  ${tile.kind}${tile.texA === false ? "(A buffer)" : ""}${
        tile.rowOuter ? "(row-outer)" : ""
      } ${tile.tm}x${tile.tn} wg ${tile.wgx}x${tile.wgy}: ${ms.toFixed(2)} ms, ${
        (flops / ms / 1e6).toFixed(1)
      } GFLOP/s${cpuMs === undefined ? "" : `, cpu ${cpuMs.toFixed(2)} ms`} (compile ${
        compileMs.toFixed(0)
      } ms)`,
    );
    if (compileMs > (options.compileBudgetMs ?? 20_000)) break;
  }
  a.dispose();
  b.dispose();
  const byCpu = results.every((r) => r.cpuMs !== undefined);
  results.sort((x, y) => byCpu ? x.cpuMs! - y.cpuMs! : x.ms - y.ms);
  const key = adapterKey();
  cache[key] ??= {};
  cache[key][shapeKey(m, n, k, flags)] = results[0].tile;
  if (options.save ?? true) await saveTuning();
  installTuning();
  return results;
}

/** Writes the cache to disk (no-op without a cache directory or write permission). */
export async function saveTuning(): Promise<string | null> {
  const p = cachePath();
  if (!p || !permitted("write", p)) return null;
  await writeFileAtomic(p, JSON.stringify(cache, null, 1));
  return p;
}

/** The tile the engine would use now for a shape (tuned or default). */
export function chosenTile(m: number, n: number, k: number, flags = "NN"): MatmulTile {
  return cache[adapterKey()]?.[shapeKey(m, n, k, flags)] ?? defaultTile(m, n, k, 1, flags);
}
