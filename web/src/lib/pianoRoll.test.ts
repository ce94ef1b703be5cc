import { describe, expect, it } from "vitest";
import {
  addNote,
  applyEdit,
  commit,
  describeNote,
  editForKey,
  deleteNotes,
  fromServer,
  hitTest,
  history,
  moveNotes,
  notesChanged,
  pitchName,
  quantize,
  redo,
  replace,
  resizeNotes,
  select,
  selectInRect,
  setVelocity,
  toServer,
  undo,
  type RollView,
} from "./pianoRoll";

const server = [
  { pitch: 60, start_s: 0, end_s: 0.5, velocity: 100 },
  { pitch: 64, start_s: 0.5, end_s: 1, velocity: 90 },
  { pitch: 67, start_s: 1, end_s: 2, velocity: 80 },
];

describe("conversion", () => {
  it("round-trips the server's note shape", () => {
    const s = fromServer(server);
    expect(s.notes.map((n) => n.id)).toEqual([1, 2, 3]);
    expect(toServer(s)).toEqual(server);
  });

  it("keeps fields it does not edit (pitch bends) through edits", () => {
    const s = fromServer([{ pitch: 60, start_s: 1, end_s: 2, velocity: 90, pitch_bends: [[0, 0.5]] }]);
    expect(toServer(moveNotes(s, [1], 1, 2))).toEqual([{ pitch: 62, start_s: 2, end_s: 3, velocity: 90, pitch_bends: [[0, 0.5]] }]);
  });

  it("sanitises odd input", () => {
    const s = fromServer([{ pitch: 200, start_s: -1, end_s: -0.5, velocity: 0 }]);
    expect(s.notes[0]).toMatchObject({ pitch: 127, start: 0, velocity: 1 });
    expect(s.notes[0].end).toBeGreaterThan(s.notes[0].start);
  });
});

describe("edits", () => {
  it("adds a note and selects it", () => {
    const s = addNote(fromServer(server), { pitch: 72, start: 0.25, duration: 0.25, velocity: 110 });
    expect(s.notes).toHaveLength(4);
    expect(s.selected).toEqual([4]);
    expect(toServer(s)[1]).toEqual({ pitch: 72, start_s: 0.25, end_s: 0.5, velocity: 110 });
  });

  it("deletes the selection", () => {
    let s = select(fromServer(server), [1, 3]);
    s = deleteNotes(s);
    expect(s.notes.map((n) => n.pitch)).toEqual([64]);
    expect(s.selected).toEqual([]);
  });

  it("moves notes in time and pitch, keeping the group inside the grid", () => {
    const s = moveNotes(fromServer(server), [1, 2], 0.25, 2);
    expect(toServer(s).slice(0, 2)).toEqual([
      { pitch: 62, start_s: 0.25, end_s: 0.75, velocity: 100 },
      { pitch: 66, start_s: 0.75, end_s: 1.25, velocity: 90 },
    ]);
    const left = moveNotes(fromServer(server), [2, 3], -5, 100);
    const moved = left.notes.filter((n) => n.id !== 1);
    expect(Math.min(...moved.map((n) => n.start))).toBe(0);
    expect(Math.max(...moved.map((n) => n.pitch))).toBe(127);
    expect(moved.find((n) => n.id === 2)!.pitch).toBe(124); // the group keeps its interval
  });

  it("resizes notes but never below the minimum length", () => {
    const s = resizeNotes(fromServer(server), [3], 0.5);
    expect(s.notes.find((n) => n.id === 3)!.end).toBe(2.5);
    const tiny = resizeNotes(fromServer(server), [1], -10);
    expect(tiny.notes[0].end).toBeGreaterThan(tiny.notes[0].start);
  });

  it("sets velocity within 1..127", () => {
    const s = setVelocity(fromServer(server), [1, 2], 300);
    expect(s.notes.slice(0, 2).map((n) => n.velocity)).toEqual([127, 127]);
  });

  it("selects by rectangle and toggles with additive clicks", () => {
    const s = selectInRect(fromServer(server), 0.4, 1.2, 63, 70);
    expect(s.selected.sort()).toEqual([2, 3]);
    expect(select(s, [2], true).selected).toEqual([3]);
  });

  it("quantizes to a grid", () => {
    expect(quantize(0.37, 0.125)).toBe(0.375);
    expect(quantize(0.37, 0)).toBe(0.37);
  });
});

describe("undo / redo", () => {
  it("undoes and redoes edits in order", () => {
    const s0 = fromServer(server);
    let h = history(s0);
    h = commit(h, moveNotes(h.present, [1], 0.5, 0));
    h = commit(h, deleteNotes(h.present, [2]));
    expect(h.present.notes).toHaveLength(2);
    h = undo(h);
    expect(h.present.notes).toHaveLength(3);
    expect(h.present.notes.find((n) => n.id === 1)!.start).toBe(0.5);
    h = undo(h);
    expect(h.present).toBe(s0);
    expect(undo(h)).toBe(h); // nothing more to undo
    h = redo(redo(h));
    expect(h.present.notes).toHaveLength(2);
    expect(redo(h)).toBe(h);
  });

  it("drops the redo stack after a new edit, and selection is not an undo step", () => {
    let h = history(fromServer(server));
    h = commit(h, setVelocity(h.present, [1], 10));
    h = undo(h);
    h = replace(h, select(h.present, [2]));
    expect(h.future).toHaveLength(1);
    h = commit(h, addNote(h.present, { pitch: 50, start: 3, duration: 1 }));
    expect(h.future).toHaveLength(0);
    expect(h.past).toHaveLength(1);
  });

  it("detects unsaved changes ignoring selection", () => {
    const a = fromServer(server);
    expect(notesChanged(a, select(a, [1]))).toBe(false);
    expect(notesChanged(a, moveNotes(a, [1], 0.1, 0))).toBe(true);
  });
});

describe("geometry", () => {
  const view: RollView = { pxPerSec: 100, rowHeight: 10, topPitch: 70, scrollTime: 0, keysWidth: 40 };

  it("finds the note under the pointer and its end edge", () => {
    const s = fromServer(server);
    // pitch 64 is row 6 -> y 60..70 ; note 2 spans x 90..140
    expect(hitTest(s, view, 100, 65)).toMatchObject({ note: { id: 2 }, zone: "body" });
    expect(hitTest(s, view, 138, 65)).toMatchObject({ note: { id: 2 }, zone: "end" });
    expect(hitTest(s, view, 100, 75)).toBeNull();
  });

  it("names pitches", () => {
    expect(pitchName(60)).toBe("C4");
    expect(pitchName(69)).toBe("A4");
  });
});

describe("step edits (keyboard, buttons, note list)", () => {
  const base = () => fromServer(server);
  const note = (st: ReturnType<typeof base>, id: number) => st.notes.find((n) => n.id === id)!;

  it("changes pitch by a semitone or an octave, time and length by a step, or deletes", () => {
    const s = base();
    expect(note(applyEdit(s, [2], "pitch-up", 0.25), 2).pitch).toBe(65);
    expect(note(applyEdit(s, [2], "octave-down", 0.25), 2).pitch).toBe(52);
    const later = note(applyEdit(s, [2], "later", 0.25), 2);
    expect([later.start, later.end]).toEqual([0.75, 1.25]);
    expect(note(applyEdit(s, [1], "earlier", 0.25), 1).start).toBe(0); // never before 0
    expect(note(applyEdit(s, [3], "shorter", 0.25), 3).end).toBe(1.75);
    expect(note(applyEdit(s, [3], "longer", 0.25), 3).end).toBe(2.25);
    expect(applyEdit(s, [1, 3], "delete", 0.25).notes.map((n) => n.id)).toEqual([2]);
    expect(applyEdit(s, [], "delete", 0.25)).toBe(s);
  });

  it("maps keys: plain arrows on the canvas, Alt+arrows in the note list", () => {
    const k = (key: string, mods: { shiftKey?: boolean; altKey?: boolean } = {}) => ({ key, shiftKey: false, altKey: false, ...mods });
    expect(editForKey(k("ArrowUp"))).toBe("pitch-up");
    expect(editForKey(k("ArrowUp", { shiftKey: true }))).toBe("octave-up");
    expect(editForKey(k("ArrowLeft"))).toBe("earlier");
    expect(editForKey(k("ArrowDown"), true)).toBeNull();
    expect(editForKey(k("ArrowDown", { altKey: true }), true)).toBe("pitch-down");
    expect(editForKey(k("ArrowRight", { altKey: true }), true)).toBe("later");
    expect(editForKey(k("]"), true)).toBe("longer");
    expect(editForKey(k("Delete"), true)).toBe("delete");
    expect(editForKey(k("a"))).toBeNull();
  });

  it("describes a note in words", () => {
    expect(describeNote(note(base(), 2))).toBe("E4 at 0.50 s, 0.50 s long, velocity 90");
  });
});
