// The split page's menus from GET /api/stems/modes: which engine each quality mode runs on this server.

import type { Schemas } from "./api";

export type Modes = Schemas["StemModesPublic"];

/** The quality menu for a stem count: what each mode runs on this server (GET /api/stems/modes). */
export function qualityOptions(modes: Modes, stems: number): { quality: string; label: string; available: boolean; note: string | null }[] {
  const rows = modes.modes.filter((m) => m.stems === stems);
  if (!rows.length) return ["fast", "balanced", "best"].map((q) => ({ quality: q, label: q[0].toUpperCase() + q.slice(1), available: true, note: null }));
  return rows.map((m) => ({ quality: m.quality, label: m.label, available: m.available, note: m.note ?? null }));
}
