/**
 * Per-action error tables as Human3.6M results are reported: per action the mean over all frames of the
 * action's sequences and cameras, then the unweighted average over actions.
 * @module
 */

import { InputError } from "../../engine/errors.ts";

/** The 15 Human3.6M actions in the order papers list them. */
export const H36M_ACTIONS: readonly string[] = [
  "Directions",
  "Discussion",
  "Eating",
  "Greeting",
  "Phoning",
  "Photo",
  "Posing",
  "Purchases",
  "Sitting",
  "SittingDown",
  "Smoking",
  "Waiting",
  "WalkDog",
  "Walking",
  "WalkTogether",
];

const CANONICAL = new Map<string, string>(H36M_ACTIONS.map((a) => [a.toLowerCase(), a]));
/** Long forms used by some releases (S1's "TakingPhoto"/"WalkingDog" in the original files). */
const ALIASES: Record<string, string> = {
  takingphoto: "Photo",
  walkingdog: "WalkDog",
  walkingtogether: "WalkTogether",
};

/**
 * The action of a Human3.6M sequence name, as the papers group them: a trailing camera id
 * (`".54138969"`) and sub-sequence number (`" 1"`, `"_2"`, `"-3"`) are dropped, so both sub-sequences of an
 * action merge, and the name is matched to the 15 actions of `H36M_ACTIONS` ignoring case, spaces, `_` and
 * `-`, with the long forms mapped to the short ones as VideoPose3D does (`"TakingPhoto 2"` → `"Photo"`,
 * `"WalkingDog"` → `"WalkDog"`, `"Walking Together"` → `"WalkTogether"`, `"sitting_down_1"` →
 * `"SittingDown"`). Other names come back trimmed, without their number.
 */
export function actionOfSequence(sequence: string): string {
  const base = sequence.trim().replace(/\.\d{8}$/, "").replace(/[\s_-]*\d+$/, "").trim();
  const key = base.toLowerCase().replace(/[\s_-]+/g, "");
  return CANONICAL.get(key) ?? ALIASES[key] ?? base;
}

/** Errors of one evaluated unit (e.g. one sequence seen from one camera). */
export interface ActionErrors {
  /** Action name (already reduced with `actionOfSequence` if needed). */
  action: string;
  /** Error of every frame of the unit (e.g. `mpjpePerFrame`). */
  frameErrors: ArrayLike<number>;
}

/** One row of an action table. */
export interface ActionTableRow {
  /** Action name. */
  action: string;
  /** Mean error over all frames of the action. */
  error: number;
  /** Frames counted. */
  frames: number;
  /** Units (sequence × camera) counted. */
  units: number;
}

/** A per-action table with the average over actions. */
export interface ActionTable {
  /** One row per action present. */
  rows: ActionTableRow[];
  /** Unweighted mean of the rows' errors (the "Avg" column of papers). */
  average: number;
  /** Mean over all frames of all actions. */
  pooled: number;
  /** Frames counted in total. */
  frames: number;
}

/**
 * Builds the per-action table from per-frame errors. Rows follow `options.order` (default `H36M_ACTIONS`),
 * then any other actions alphabetically; units with no frames are skipped.
 */
export function actionTable(
  entries: Iterable<ActionErrors>,
  options: { order?: readonly string[] } = {},
): ActionTable {
  const sums = new Map<string, { sum: number; frames: number; units: number }>();
  for (const { action, frameErrors } of entries) {
    if (frameErrors.length === 0) continue;
    const acc = sums.get(action) ?? { sum: 0, frames: 0, units: 0 };
    for (let i = 0; i < frameErrors.length; i++) {
      const e = frameErrors[i];
      if (!Number.isFinite(e)) {
        throw new InputError(`action table: action "${action}" has a non-finite error ${e}`);
      }
      acc.sum += e;
    }
    acc.frames += frameErrors.length;
    acc.units++;
    sums.set(action, acc);
  }
  const order = options.order ?? H36M_ACTIONS;
  const names = [
    ...order.filter((a) => sums.has(a)),
    ...[...sums.keys()].filter((a) => !order.includes(a)).sort(),
  ];
  const rows = names.map((action) => {
    const { sum, frames, units } = sums.get(action)!;
    return { action, error: sum / frames, frames, units };
  });
  const frames = rows.reduce((s, r) => s + r.frames, 0);
  const total = [...sums.values()].reduce((s, r) => s + r.sum, 0);
  return {
    rows,
    average: rows.length === 0 ? NaN : rows.reduce((s, r) => s + r.error, 0) / rows.length,
    pooled: frames === 0 ? NaN : total / frames,
    frames,
  };
}

/** Formats an action table as aligned text lines, one action a line, then `Average`. */
export function formatActionTable(
  table: ActionTable,
  options: { digits?: number; unit?: string } = {},
): string {
  const digits = options.digits ?? 1;
  const unit = options.unit ?? "mm";
  const width = Math.max(12, ...table.rows.map((r) => r.action.length));
  const line = (name: string, v: number, extra = ""): string =>
    `${name.padEnd(width)} ${v.toFixed(digits).padStart(8)} ${unit}${extra}`;
  return [
    ...table.rows.map((r) => line(r.action, r.error, `  (${r.frames} frames)`)),
    line("Average", table.average),
  ].join("\n");
}
