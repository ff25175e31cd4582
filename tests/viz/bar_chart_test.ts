import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { actionTable } from "../../pose/metrics/per_action.ts";
import { actionBarChartSvg, barChartSvg } from "../../pose/viz/bar_chart.ts";

function bars(svg: string): Record<string, string>[] {
  return [...svg.matchAll(/<rect class="bar"([^>]*)>/g)].map((m) =>
    Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]))
  );
}

Deno.test("action bar chart: one bar per action and series plus the averages, heights ∝ values", () => {
  const mpjpe = actionTable([
    { action: "Walking", frameErrors: [50, 70] },
    { action: "Directions", frameErrors: [40] },
    { action: "Eating", frameErrors: [90] },
  ]);
  const pmpjpe = actionTable([
    { action: "Walking", frameErrors: [30, 40] },
    { action: "Directions", frameErrors: [35] },
    { action: "Eating", frameErrors: [50] },
  ]);
  const svg = actionBarChartSvg([{ name: "MPJPE", table: mpjpe }, { name: "P-MPJPE", table: pmpjpe }], {
    title: "S9, S11",
  });
  const all = bars(svg);
  assert.equal(all.length, 2 * 4);
  // Categories in H36M order, then Average.
  const categories = [...svg.matchAll(/class="category"[^>]*>([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(categories, ["Directions", "Eating", "Walking", "Average"]);
  const bar = (series: string, label: string) =>
    all.find((b) => b["data-series"] === series && b["data-label"] === label)!;
  assert.equal(bar("MPJPE", "Walking")["data-value"], "60");
  assert.equal(bar("MPJPE", "Average")["data-value"], "63.333");
  assert.equal(
    bar("P-MPJPE", "Average")["data-value"],
    String(Math.round(((35 + 35 + 50) / 3) * 1000) / 1000),
  );
  // Heights are proportional to values and bars stand on one baseline.
  const h = (b: Record<string, string>) => Number(b.height);
  assert.ok(Math.abs(h(bar("MPJPE", "Eating")) / h(bar("MPJPE", "Directions")) - 90 / 40) < 1e-3);
  const base = (b: Record<string, string>) => Number(b.y) + h(b);
  assert.ok(all.every((b) => Math.abs(base(b) - base(all[0])) < 0.01));
  // Series colours differ; the title is escaped text.
  assert.notEqual(bar("MPJPE", "Walking").fill, bar("P-MPJPE", "Walking").fill);
  assert.ok(svg.includes(">S9, S11</text>"));
  assert.equal(
    svg,
    actionBarChartSvg([{ name: "MPJPE", table: mpjpe }, { name: "P-MPJPE", table: pmpjpe }], {
      title: "S9, S11",
    }),
  );
});

Deno.test("bar chart: a series missing a category gets no bar there; bad values throw", () => {
  const svg = barChartSvg([
    { name: "a", values: [{ label: "x", value: 1 }, { label: "y", value: 2 }] },
    { name: "b<&>", values: [{ label: "y", value: 3 }] },
  ], { unit: "px" });
  assert.equal(bars(svg).length, 3);
  assert.ok(svg.includes('data-series="b&lt;&amp;&gt;"'));
  assert.throws(() => barChartSvg([{ name: "a", values: [{ label: "x", value: NaN }] }]), InputError);
  assert.throws(() => barChartSvg([{ name: "a", values: [{ label: "x", value: -1 }] }]), InputError);
  assert.throws(() => barChartSvg([]), InputError);
  assert.throws(() => barChartSvg([{ name: "a", values: [] }]), InputError);
});
