// Piano-roll note editing as pure functions over an immutable state, plus an undo/redo history.
// The canvas component (components/PianoRoll.tsx) only maps pointer/keyboard input onto these.

export interface ServerNote {
  pitch: number;
  start_s: number;
  end_s: number;
  velocity: number;
  [extra: string]: unknown;
}

export interface Note {
  id: number;
  pitch: number;
  start: number;
  end: number;
  velocity: number;
  /** Fields the editor does not change but must send back (e.g. pitch_bends, relative to the start). */
  extra?: Record<string, unknown>;
}

export interface RollState {
  notes: Note[];
  selected: number[];
  nextId: number;
}

export const MIN_NOTE_S = 0.03;
export const MIN_PITCH = 0;
export const MAX_PITCH = 127;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round = (v: number) => Math.round(v * 10000) / 10000;

export function emptyRoll(): RollState {
  return { notes: [], selected: [], nextId: 1 };
}

export function fromServer(notes: readonly ServerNote[]): RollState {
  const out: Note[] = notes.map((n, i) => {
    const start = Math.max(0, Number(n.start_s) || 0);
    const { pitch: _p, start_s: _s, end_s: _e, velocity: _v, ...rest } = n;
    return {
      ...(Object.keys(rest).length ? { extra: rest } : {}),
      id: i + 1,
      pitch: clamp(Math.round(Number(n.pitch)), MIN_PITCH, MAX_PITCH),
      start,
      end: Math.max(start + MIN_NOTE_S, Number(n.end_s) || 0),
      velocity: clamp(Math.round(Number(n.velocity ?? 100)), 1, 127),
    };
  });
  return { notes: sortNotes(out), selected: [], nextId: out.length + 1 };
}

export function toServer(state: RollState): ServerNote[] {
  return sortNotes(state.notes).map((n) => ({
    ...n.extra,
    pitch: n.pitch,
    start_s: round(n.start),
    end_s: round(n.end),
    velocity: n.velocity,
  }));
}

export function sortNotes(notes: Note[]): Note[] {
  return [...notes].sort((a, b) => a.start - b.start || a.pitch - b.pitch || a.id - b.id);
}

// ------------------------------------------------------------------ selection

export function select(state: RollState, ids: readonly number[], additive = false): RollState {
  const known = new Set(state.notes.map((n) => n.id));
  const wanted = ids.filter((id) => known.has(id));
  if (!additive) return { ...state, selected: [...new Set(wanted)] };
  const sel = new Set(state.selected);
  for (const id of wanted) {
    if (sel.has(id)) sel.delete(id);
    else sel.add(id);
  }
  return { ...state, selected: [...sel] };
}

export function selectAll(state: RollState): RollState {
  return { ...state, selected: state.notes.map((n) => n.id) };
}

/** Notes overlapping the time range [t0, t1] and the pitch range [p0, p1]. */
export function selectInRect(state: RollState, t0: number, t1: number, p0: number, p1: number, additive = false): RollState {
  const [ta, tb] = [Math.min(t0, t1), Math.max(t0, t1)];
  const [pa, pb] = [Math.min(p0, p1), Math.max(p0, p1)];
  const ids = state.notes.filter((n) => n.end >= ta && n.start <= tb && n.pitch >= pa && n.pitch <= pb).map((n) => n.id);
  if (!additive) return { ...state, selected: ids };
  return { ...state, selected: [...new Set([...state.selected, ...ids])] };
}

// ------------------------------------------------------------------ edits

export function addNote(
  state: RollState,
  note: { pitch: number; start: number; duration: number; velocity?: number },
): RollState {
  const n: Note = {
    id: state.nextId,
    pitch: clamp(Math.round(note.pitch), MIN_PITCH, MAX_PITCH),
    start: Math.max(0, note.start),
    end: Math.max(0, note.start) + Math.max(MIN_NOTE_S, note.duration),
    velocity: clamp(Math.round(note.velocity ?? 100), 1, 127),
  };
  return { notes: sortNotes([...state.notes, n]), selected: [n.id], nextId: state.nextId + 1 };
}

export function deleteNotes(state: RollState, ids: readonly number[] = state.selected): RollState {
  const gone = new Set(ids);
  return { ...state, notes: state.notes.filter((n) => !gone.has(n.id)), selected: state.selected.filter((id) => !gone.has(id)) };
}

/** Move notes by dt seconds and dp semitones; the group keeps its shape at the edges (start >= 0, 0..127). */
export function moveNotes(state: RollState, ids: readonly number[], dt: number, dp: number): RollState {
  const moving = new Set(ids);
  const group = state.notes.filter((n) => moving.has(n.id));
  if (!group.length) return state;
  const minStart = Math.min(...group.map((n) => n.start));
  const minPitch = Math.min(...group.map((n) => n.pitch));
  const maxPitch = Math.max(...group.map((n) => n.pitch));
  const t = Math.max(dt, -minStart);
  const p = clamp(Math.round(dp), MIN_PITCH - minPitch, MAX_PITCH - maxPitch);
  const notes = state.notes.map((n) =>
    moving.has(n.id) ? { ...n, start: n.start + t, end: n.end + t, pitch: n.pitch + p } : n,
  );
  return { ...state, notes: sortNotes(notes) };
}

/** Change the end of notes by dEnd seconds (each keeps at least MIN_NOTE_S). */
export function resizeNotes(state: RollState, ids: readonly number[], dEnd: number): RollState {
  const set = new Set(ids);
  return {
    ...state,
    notes: state.notes.map((n) => (set.has(n.id) ? { ...n, end: Math.max(n.start + MIN_NOTE_S, n.end + dEnd) } : n)),
  };
}

export function setVelocity(state: RollState, ids: readonly number[], velocity: number): RollState {
  const set = new Set(ids);
  const v = clamp(Math.round(velocity), 1, 127);
  return { ...state, notes: state.notes.map((n) => (set.has(n.id) ? { ...n, velocity: v } : n)) };
}

export function quantize(value: number, grid: number): number {
  return grid > 0 ? Math.round(value / grid) * grid : value;
}

// ------------------------------------------------------------------ step edits (keys, buttons, the note list)

/** One step of an edit, the same from the canvas keys, the toolbar buttons and the note list. */
export type NoteEdit = "pitch-up" | "pitch-down" | "octave-up" | "octave-down" | "earlier" | "later" | "shorter" | "longer" | "delete";

/** Apply one step to the notes `ids`: a semitone or an octave, `step` seconds earlier / later / shorter / longer, or delete. */
export function applyEdit(state: RollState, ids: readonly number[], edit: NoteEdit, step: number): RollState {
  if (!ids.length) return state;
  switch (edit) {
    case "pitch-up":
      return moveNotes(state, ids, 0, 1);
    case "pitch-down":
      return moveNotes(state, ids, 0, -1);
    case "octave-up":
      return moveNotes(state, ids, 0, 12);
    case "octave-down":
      return moveNotes(state, ids, 0, -12);
    case "earlier":
      return moveNotes(state, ids, -step, 0);
    case "later":
      return moveNotes(state, ids, step, 0);
    case "shorter":
      return resizeNotes(state, ids, -step);
    case "longer":
      return resizeNotes(state, ids, step);
    case "delete":
      return deleteNotes(state, ids);
  }
}

/**
 * The edit a key asks for. On the canvas the plain arrows edit (Shift+up/down = octave); in the note list the
 * plain arrows move between notes, so the edits need Alt there (`arrowsNeedAlt`). Delete / Backspace delete,
 * [ and ] make notes shorter / longer.
 */
export function editForKey(e: { key: string; shiftKey: boolean; altKey: boolean }, arrowsNeedAlt = false): NoteEdit | null {
  if (e.key === "Delete" || e.key === "Backspace") return "delete";
  if (e.key === "[") return "shorter";
  if (e.key === "]") return "longer";
  if (arrowsNeedAlt && !e.altKey) return null;
  if (e.key === "ArrowUp") return e.shiftKey ? "octave-up" : "pitch-up";
  if (e.key === "ArrowDown") return e.shiftKey ? "octave-down" : "pitch-down";
  if (e.key === "ArrowLeft") return "earlier";
  if (e.key === "ArrowRight") return "later";
  return null;
}

/** A note in words: "C4 at 1.50 s, 0.25 s long, velocity 100". */
export function describeNote(n: Note): string {
  return `${pitchName(n.pitch)} at ${n.start.toFixed(2)} s, ${(n.end - n.start).toFixed(2)} s long, velocity ${n.velocity}`;
}

// ------------------------------------------------------------------ hit testing / geometry

export interface RollView {
  pxPerSec: number;
  rowHeight: number;
  /** Highest pitch shown at the top row. */
  topPitch: number;
  /** Seconds at the left edge. */
  scrollTime: number;
  /** Pixels reserved at the left for the keyboard. */
  keysWidth: number;
}

export const timeToX = (v: RollView, t: number) => v.keysWidth + (t - v.scrollTime) * v.pxPerSec;
export const xToTime = (v: RollView, x: number) => (x - v.keysWidth) / v.pxPerSec + v.scrollTime;
export const pitchToY = (v: RollView, p: number) => (v.topPitch - p) * v.rowHeight;
export const yToPitch = (v: RollView, y: number) => v.topPitch - Math.floor(y / v.rowHeight);

export type HitZone = "body" | "end";

/** The topmost note under a point (x, y in canvas pixels), and whether the pointer is on its end edge. */
export function hitTest(state: RollState, view: RollView, x: number, y: number, edgePx = 6): { note: Note; zone: HitZone } | null {
  const pitch = yToPitch(view, y);
  for (let i = state.notes.length - 1; i >= 0; i--) {
    const n = state.notes[i];
    if (n.pitch !== pitch) continue;
    const x0 = timeToX(view, n.start);
    const x1 = timeToX(view, n.end);
    if (x >= x0 && x <= x1 + 2) {
      return { note: n, zone: x >= x1 - edgePx ? "end" : "body" };
    }
  }
  return null;
}

/** Pitch range that frames a set of notes, with some margin. */
export function pitchRange(notes: readonly Note[], margin = 3): [number, number] {
  if (!notes.length) return [48, 84];
  const lo = Math.min(...notes.map((n) => n.pitch));
  const hi = Math.max(...notes.map((n) => n.pitch));
  return [clamp(lo - margin, MIN_PITCH, MAX_PITCH), clamp(hi + margin, MIN_PITCH, MAX_PITCH)];
}

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
export function pitchName(p: number): string {
  return `${NAMES[((p % 12) + 12) % 12]}${Math.floor(p / 12) - 1}`;
}

export function isBlackKey(p: number): boolean {
  return [1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12);
}

export function midiToHz(p: number): number {
  return 440 * Math.pow(2, (p - 69) / 12);
}

// ------------------------------------------------------------------ undo / redo

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

export const HISTORY_LIMIT = 200;

export function history<T>(present: T): History<T> {
  return { past: [], present, future: [] };
}

/** Record an edit: the old present goes on the undo stack, the redo stack is cleared. */
export function commit<T>(h: History<T>, next: T): History<T> {
  if (next === h.present) return h;
  const past = [...h.past, h.present];
  if (past.length > HISTORY_LIMIT) past.shift();
  return { past, present: next, future: [] };
}

/** Change the present without an undo step (selection, previews). */
export function replace<T>(h: History<T>, next: T): History<T> {
  return { ...h, present: next };
}

export function undo<T>(h: History<T>): History<T> {
  if (!h.past.length) return h;
  return { past: h.past.slice(0, -1), present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
}

export function redo<T>(h: History<T>): History<T> {
  if (!h.future.length) return h;
  return { past: [...h.past, h.present], present: h.future[0], future: h.future.slice(1) };
}

/** True when the notes differ from what was last saved (ignores selection). */
export function notesChanged(a: RollState, b: RollState): boolean {
  return JSON.stringify(toServer(a)) !== JSON.stringify(toServer(b));
}
