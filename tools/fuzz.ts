/**
 * Long fuzz runs on demand (CI runs a bounded number of cases in tests/fuzz/):
 *
 * ```sh
 * deno run -A tools/fuzz.ts --parser png --cases 100000 --seed 7
 * deno run -A tools/fuzz.ts --parser all --cases 2000 --save      # keep failing inputs as regressions
 * deno run -A tools/fuzz.ts --parser bvh --seed 7 --case 1234      # replay one case and explain it
 * ```
 *
 * Exit code 0 when every case behaved, 1 when some failed (their inputs are written to --out, default
 * $TMPDIR/posegpu_fuzz_failures, or with --save to tests/fuzz/regressions/<parser>/).
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  type FuzzFailure,
  FuzzRunner,
  fuzzTarget,
  generateCase,
  judge,
  saveFailure,
} from "../tests/fuzz/harness.ts";
import { TARGET_NAMES, TARGETS } from "../tests/fuzz/targets.ts";

const HELP =
  `deno run -A tools/fuzz.ts --parser NAME|all [--cases N] [--seed S] [--case I] [--save] [--out DIR]

Parsers: ${TARGET_NAMES.join(", ")}
  --cases N     mutated cases per parser (default 1000)
  --seed S      run seed (default 1); case i of a run is reproducible from (parser, seed, i)
  --first I     first case index (default 0)
  --case I      run only case I and print its outcome
  --max-ms MS   longest a case may take (default 2000)
  --save        write failing inputs to tests/fuzz/regressions/<parser>/ (replayed by the tests)
  --out DIR     where failing inputs go otherwise (default $TMPDIR/posegpu_fuzz_failures)`;

const REGRESSIONS = fileURLToPath(new URL("../tests/fuzz/regressions", import.meta.url));

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      parser: { type: "string" },
      cases: { type: "string", default: "1000" },
      seed: { type: "string", default: "1" },
      first: { type: "string", default: "0" },
      case: { type: "string" },
      "max-ms": { type: "string", default: "2000" },
      save: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help || !values.parser) {
    console.log(HELP);
    return values.help ? 0 : 1;
  }
  const names = values.parser === "all" ? [...TARGET_NAMES] : values.parser.split(",");
  for (const n of names) {
    if (!TARGETS[n]) {
      console.error(`unknown parser "${n}" (parsers: ${TARGET_NAMES.join(", ")}, all)`);
      return 1;
    }
  }
  const seed = Number(values.seed);
  const maxMs = Number(values["max-ms"]);
  const runner = new FuzzRunner();
  try {
    if (values.case !== undefined) {
      const index = Number(values.case);
      const target = TARGETS[names[0]];
      const bytes = generateCase(target, await target.seeds(), { seed, index });
      const reply = await runner.run(target.name, bytes);
      console.log(JSON.stringify({ ...reply, stack: undefined, bytes: bytes.length }, null, 1));
      console.log(reply?.stack ?? "");
      const reason = judge(reply, { maxMs });
      console.log(reason ? `FAIL: ${reason}` : "ok");
      return reason ? 1 : 0;
    }
    const failures: FuzzFailure[] = [];
    for (const name of names) {
      const t0 = performance.now();
      const report = await fuzzTarget(name, {
        cases: Number(values.cases),
        seed,
        first: Number(values.first),
        maxMs,
        onCase: (i) => {
          if ((i + 1) % 1000 === 0) console.error(`${name}: ${i + 1} cases`);
        },
      }, runner);
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `${name}: ${report.cases} cases in ${secs.toFixed(1)} s, ${JSON.stringify(report.outcomes)}, ` +
          `slowest ${report.slowestMs.toFixed(0)} ms, max memory ${
            (report.maxMemory / 2 ** 20).toFixed(0)
          } MiB, ` +
          `${report.failures.length} failures`,
      );
      failures.push(...report.failures);
    }
    const dir = values.save
      ? null
      : values.out ?? `${Deno.env.get("TMPDIR") ?? "/tmp"}/posegpu_fuzz_failures`;
    for (const f of failures) {
      const path = await saveFailure(f, dir ?? `${REGRESSIONS}/${f.target}`);
      console.log(
        `FAIL ${f.target} case ${f.index} (seed ${seed}) -> ${path}\n  ${f.reason.replaceAll("\n", "\n  ")}`,
      );
    }
    return failures.length ? 1 : 0;
  } finally {
    await runner.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
