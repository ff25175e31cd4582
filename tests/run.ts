// The test command (`deno task test`): every test file in its own `deno test` process, two at a time.
//
// Why not one `deno test --parallel`: Deno's WebGPU on Mesa's software drivers now and then corrupts the
// heap while a process that used WebGPU tears down (`corrupted size vs. prev_size`, SIGABRT after every
// test has reported ok). Several files sharing one process make that far likelier, and one abort throws
// away the whole run. Here a file whose process dies at exit *after* its summary said every test passed
// is rerun once; a second abort, or any failing test, fails the run.
//
// Type-checking runs once for all files up front (`deno check`), then each file runs with `--no-check`.
//
// Usage: deno run -A tests/run.ts [--jobs N] [--filter TEXT] [FILE_OR_DIR ...]
import { parseArgs } from "node:util";
import { relative, resolve } from "node:path";

/** Outcome of one test file's process. */
interface FileResult {
  file: string;
  passed: number;
  failed: number;
  ignored: number;
  code: number;
  signal: string | null;
  output: string;
  seconds: number;
  reran: boolean;
}

const root = resolve(new URL("..", import.meta.url).pathname);

function listTestFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "node_modules" && e.name !== "fixtures") walk(p);
      else if (e.isFile && /_test\.(ts|tsx|js|mjs)$/.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    const abs = resolve(root, p);
    if (Deno.statSync(abs).isDirectory) walk(abs);
    else out.push(abs);
  }
  return out;
}

// deno test colours its output unless NO_COLOR is set (children get it; a caller's terminal may not).
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Reads deno test's closing line: "ok | 12 passed (3 steps) | 0 failed | 1 ignored (5s)". */
function summaryOf(output: string): { passed: number; failed: number; ignored: number } | null {
  const clean = stripAnsi(output);
  const lines = clean.split("\n").filter((l) => /^(ok|FAILED) \|/.test(l));
  if (lines.length === 0) return null;
  const last = lines[lines.length - 1];
  const num = (re: RegExp) => Number(last.match(re)?.[1] ?? 0);
  return { passed: num(/(\d+) passed/), failed: num(/(\d+) failed/), ignored: num(/(\d+) ignored/) };
}

async function runFile(file: string, filter: string | undefined): Promise<Omit<FileResult, "reran">> {
  const args = ["test", "-A", "--no-check", "--v8-flags=--expose-gc"];
  if (filter) args.push("--filter", filter);
  args.push(file);
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const { code, signal, stdout, stderr } = await child.output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const s = summaryOf(output);
  return {
    file,
    passed: s?.passed ?? 0,
    failed: s?.failed ?? 0,
    ignored: s?.ignored ?? 0,
    code,
    signal: signal ?? null,
    output,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * True when the process died of a signal (the teardown abort) although nothing failed: either its summary
 * said every test passed, or it printed no summary but every test it reported was ok.
 */
function abortedAfterPassing(r: Omit<FileResult, "reran">): boolean {
  const killed = r.signal !== null || r.code >= 128;
  const clean = stripAnsi(r.output);
  const anyFailure = /\.\.\. FAILED|^FAILED \|/m.test(clean);
  const anyOk = /\.\.\. ok \(/.test(clean);
  return killed && r.failed === 0 && !anyFailure && anyOk;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { jobs: { type: "string", default: "2" }, filter: { type: "string" } },
    allowPositionals: true,
  });
  const jobs = Math.max(1, Number(values.jobs) || 2);
  const files = listTestFiles(positionals.length ? positionals : ["tests"]);
  const t0 = performance.now();

  console.log(`type-checking ${files.length} test files ...`);
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...files.map((f) => relative(root, f))],
    cwd: root,
    stdin: "null",
  }).output();
  if (!check.success) {
    console.log(`FAILED | 0 passed | 1 failed (type-check of the tests failed)`);
    return 1;
  }

  const results: FileResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      let r = await runFile(file, values.filter);
      let reran = false;
      if (abortedAfterPassing(r)) {
        console.log(
          `note: ${relative(root, file)} reported no failure but its process died at exit (code ${r.code}${
            r.signal ? `, ${r.signal}` : ""
          }); running it again`,
        );
        r = await runFile(file, values.filter);
        reran = true;
      }
      results.push({ ...r, reran });
      const rel = relative(root, file);
      const ok = r.code === 0 && r.failed === 0;
      console.log(
        `${ok ? "ok    " : "FAILED"} ${rel} (${r.passed} passed, ${r.failed} failed${
          r.ignored ? `, ${r.ignored} ignored` : ""
        }, ${r.seconds.toFixed(1)}s${reran ? ", rerun" : ""})`,
      );
      if (!ok) {
        console.log(`----- output of ${rel} (exit code ${r.code}) -----`);
        console.log(r.output.trimEnd());
        console.log(`----- end of ${rel} -----`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

  const passed = results.reduce((a, r) => a + r.passed, 0);
  let failed = results.reduce((a, r) => a + r.failed, 0);
  const ignored = results.reduce((a, r) => a + r.ignored, 0);
  // A process that failed without a failing test (crash, abort twice, no summary) counts as one failure.
  const broken = results.filter((r) => r.failed === 0 && r.code !== 0);
  failed += broken.length;
  for (const r of broken) {
    console.log(`FAILED ${relative(root, r.file)}: exit code ${r.code} without a failing test`);
  }
  const secs = Math.round((performance.now() - t0) / 1000);
  const time = secs >= 60 ? `${Math.floor(secs / 60)}m${secs % 60}s` : `${secs}s`;
  console.log(
    `${failed === 0 ? "ok" : "FAILED"} | ${passed} passed | ${failed} failed${
      ignored ? ` | ${ignored} ignored` : ""
    } (${time}; ${results.length} files)`,
  );
  return failed === 0 ? 0 : 1;
}

Deno.exit(await main());
