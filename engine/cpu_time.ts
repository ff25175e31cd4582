/**
 * Process CPU time, for ranking kernels and for benchmarks on software adapters, where lavapipe's threads
 * run inside this process and wall time on a shared machine mostly measures the neighbours.
 * @module
 */

/** Process CPU seconds (user + system, all threads) from /proc, or null where it is not readable. */
export function processCpuSeconds(): number | null {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
