/**
 * Pictures of poses: 2D and 3D skeletons as SVG, per-action bar charts as SVG, and a self-contained
 * HTML viewer. Everything returns text (no DOM, no files), deterministic for the same input.
 * @module
 */

export * from "./svg_common.ts";
export * from "./axes.ts";
export * from "./image_embed.ts";
export * from "./svg2d.ts";
export * from "./svg3d.ts";
export * from "./bar_chart.ts";
export * from "./html_viewer.ts";
export { VIEWER_SCRIPT } from "./viewer_client.ts";
