/**
 * Grouped bar charts as SVG text, made for per-action error tables (`posegpu eval --svg`): one group of
 * bars per action plus the average, one bar per series (e.g. MPJPE and P-MPJPE), value printed on each
 * bar, a y axis with nice ticks from zero.
 *
 * Classes for styling and tests: `<rect class="bar" data-series data-label data-value>`,
 * `<text class="category">`, `<line class="tick">`, `<g class="legend">`.
 * @module
 */

import { InputError } from "../../engine/errors.ts";
import type { ActionTable } from "../metrics/per_action.ts";
import { escapeXml, fmt, niceLength } from "./svg_common.ts";

/** One named series of values by category label. */
export interface BarSeries {
  /** Series name (legend). */
  name: string;
  /** Values by category; a category a series lacks gets no bar. */
  values: readonly { label: string; value: number }[];
}

/** Options of `barChartSvg`. */
export interface BarChartOptions {
  /** Title above the chart. */
  title?: string;
  /** Unit written on the y axis (default "mm"). */
  unit?: string;
  /** Height of the plot area in pixels (default 260). */
  plotHeight?: number;
  /** Width of one bar in pixels (default 14). */
  barWidth?: number;
  /** Series colours, cycled (default a colour-blind-safe palette). */
  colors?: readonly string[];
}

const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00"];

/** Draws a grouped bar chart: categories in order of first appearance over the series. */
export function barChartSvg(series: readonly BarSeries[], options: BarChartOptions = {}): string {
  if (series.length === 0) throw new InputError("bar chart: no series");
  const categories: string[] = [];
  for (const s of series) {
    for (const { label, value } of s.values) {
      if (!Number.isFinite(value) || value < 0) {
        throw new InputError(`bar chart: series "${s.name}", "${label}" has value ${value}, expected ≥ 0`);
      }
      if (!categories.includes(label)) categories.push(label);
    }
  }
  if (categories.length === 0) throw new InputError("bar chart: every series is empty");
  const unit = options.unit ?? "mm";
  const colors = options.colors ?? PALETTE;
  const ph = options.plotHeight ?? 260;
  const bw = options.barWidth ?? 14;
  const max = Math.max(...series.flatMap((s) => s.values.map((v) => v.value)), 1e-9);
  // Ticks: a nice step giving 4–10 ticks from zero.
  let step = niceLength(max / 4);
  if (max / step > 10) step *= 2;
  // Headroom of 12 % above the tallest bar for its printed value.
  const top = Math.ceil((max * 1.12) / step) * step || step;
  const groupW = series.length * bw + 12;
  const left = 56, right = 16, head = options.title ? 56 : 34, foot = 96;
  const W = left + categories.length * groupW + right;
  const H = head + ph + foot;
  const y = (v: number): number => head + ph - (v / top) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="sans-serif">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
  );
  if (options.title) {
    out.push(`<text x="${left}" y="22" font-size="15" fill="#000000">${escapeXml(options.title)}</text>`);
  }
  // Legend in the header, one entry per series.
  out.push(`<g class="legend">`);
  let lx = left;
  series.forEach((s, i) => {
    out.push(
      `<rect x="${lx}" y="${head - 22}" width="10" height="10" fill="${colors[i % colors.length]}"/>`,
      `<text x="${lx + 14}" y="${head - 13}" font-size="11" fill="#000000">${escapeXml(s.name)}</text>`,
    );
    lx += 24 + 7 * s.name.length;
  });
  out.push(`</g>`);
  out.push(`<g class="axis" font-size="10" fill="#333333">`);
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(
      `<line class="tick" x1="${left}" y1="${fmt(y(v))}" x2="${W - right}" y2="${fmt(y(v))}" ` +
        `stroke="${v === 0 ? "#000000" : "#e0e0e0"}"/>`,
      `<text x="${left - 4}" y="${fmt(y(v) + 3)}" text-anchor="end">${fmt(v, 6)}</text>`,
    );
  }
  out.push(
    `<text x="14" y="${fmt(head + ph / 2)}" text-anchor="middle" transform="rotate(-90 14 ${
      fmt(head + ph / 2)
    })">${escapeXml(unit)}</text>`,
  );
  out.push(`</g>`);
  categories.forEach((label, c) => {
    const gx = left + c * groupW + 6;
    series.forEach((s, i) => {
      const entry = s.values.find((v) => v.label === label);
      if (!entry) return;
      const x = gx + i * bw;
      out.push(
        `<rect class="bar" data-series="${escapeXml(s.name)}" data-label="${escapeXml(label)}" ` +
          `data-value="${fmt(entry.value, 3)}" x="${x}" y="${fmt(y(entry.value))}" width="${bw - 2}" ` +
          `height="${fmt(head + ph - y(entry.value))}" fill="${colors[i % colors.length]}"/>`,
        // Rotated to read upwards from the bar's top; the baseline sits 3 px right of the bar's centre
        // so the glyphs (which extend left of a -90° baseline) are centred on the bar.
        `<text class="value" x="${fmt(x + (bw - 2) / 2 + 3)}" y="${fmt(y(entry.value) - 3)}" font-size="8" ` +
          `transform="rotate(-90 ${fmt(x + (bw - 2) / 2 + 3)} ${fmt(y(entry.value) - 3)})" ` +
          `fill="#333333">${fmt(entry.value, 1)}</text>`,
      );
    });
    const cx = gx + (series.length * bw) / 2, cy = head + ph + 12;
    out.push(
      `<text class="category" x="${fmt(cx)}" y="${cy}" font-size="11" text-anchor="end" fill="#000000" ` +
        `transform="rotate(-45 ${fmt(cx)} ${cy})">${escapeXml(label)}</text>`,
    );
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** One per-action table to chart, named (e.g. "MPJPE", "P-MPJPE"). */
export interface ActionChartSeries {
  /** Series name. */
  name: string;
  /** The table (see `actionTable`). */
  table: ActionTable;
}

/** Per-action bar chart of one or more action tables, with each table's average (over actions) as a
 * last "Average" group, as papers report it. */
export function actionBarChartSvg(
  tables: readonly ActionChartSeries[],
  options: BarChartOptions = {},
): string {
  return barChartSvg(
    tables.map(({ name, table }) => ({
      name,
      values: [
        ...table.rows.map((r) => ({ label: r.action, value: r.error })),
        ...(table.rows.length ? [{ label: "Average", value: table.average }] : []),
      ],
    })),
    options,
  );
}
