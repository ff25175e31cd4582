/**
 * Shared body of the CI fuzz tests: a bounded, fixed-seed run per parser (tools/fuzz.ts runs longer
 * ones). A failing case is written to $TMPDIR/posegpu_fuzz_failures and named in the assertion, with
 * the command that replays it.
 * @module
 */

import assert from "node:assert/strict";
import { FuzzRunner, fuzzTarget, saveFailure } from "./harness.ts";

/** Cases per parser in CI: 300, or `POSEGPU_FUZZ_CASES` to run longer on demand (tools/fuzz.ts too). */
export const CI_CASES: number = positiveEnv("POSEGPU_FUZZ_CASES") ?? 300;
/** The CI run seed: fixed (CI is reproducible), or `POSEGPU_FUZZ_SEED` to explore others. */
export const CI_SEED: number = positiveEnv("POSEGPU_FUZZ_SEED") ?? 20261122;

function positiveEnv(name: string): number | undefined {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return undefined;
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name}=${text}: expected a positive integer`);
  return v;
}

/** Registers one test that fuzzes each of `targets` for `CI_CASES` cases. */
export function fuzzTests(targets: string[]): void {
  Deno.test(`fuzz: ${targets.join(", ")} (${CI_CASES} cases each, seed ${CI_SEED})`, async (t) => {
    const runner = new FuzzRunner();
    try {
      for (const name of targets) {
        await t.step(name, async () => {
          const report = await fuzzTarget(name, { cases: CI_CASES, seed: CI_SEED }, runner);
          const lines: string[] = [];
          for (const f of report.failures.slice(0, 5)) {
            const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/posegpu_fuzz_failures`;
            const path = await saveFailure(f, dir);
            lines.push(
              `case ${f.index} (input saved to ${path}; replay: deno run -A tools/fuzz.ts --parser ${name} ` +
                `--seed ${CI_SEED} --case ${f.index}):\n  ${f.reason}`,
            );
          }
          assert.equal(
            report.failures.length,
            0,
            `${name}: ${report.failures.length} failing cases\n${lines.join("\n")}`,
          );
          assert.equal(report.cases, CI_CASES);
          // The run must reach past the first checks: some mutated inputs are still valid.
          assert.ok(
            (report.outcomes.ok ?? 0) > 0,
            `${name}: no mutated input parsed (${JSON.stringify(report.outcomes)})`,
          );
        });
      }
    } finally {
      await runner.close();
    }
  });
}
