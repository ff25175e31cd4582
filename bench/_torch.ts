// Runs a PyTorch CPU timing script when /usr/bin/python3 with torch is present (bench-only helper).
/** Median milliseconds per call of each named case from PyTorch, or null when torch is unavailable. */
export async function torchTimings(
  script: string,
  args: string[] = [],
): Promise<Record<string, number> | null> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", script, ...args],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (r.code !== 0) return null;
    return JSON.parse(new TextDecoder().decode(r.stdout));
  } catch {
    return null;
  }
}

/** Median of a list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
