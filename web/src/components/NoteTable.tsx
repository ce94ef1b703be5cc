import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { applyEdit, describeNote, editForKey, pitchName, select, type NoteEdit, type RollState } from "../lib/pianoRoll";

interface Props {
  state: RollState;
  onCommit: (next: RollState) => void;
  onReplace: (next: RollState) => void;
  /** Seconds per time / length step (the snap grid, or a small step when it is off). */
  step: number;
  onPreviewPitch?: (pitch: number) => void;
}

/** Rows per page: a long stem has thousands of notes; the list stays light. */
export const PAGE = 100;

const SAID: Record<NoteEdit, string> = {
  "pitch-up": "Up a semitone",
  "pitch-down": "Down a semitone",
  "octave-up": "Up an octave",
  "octave-down": "Down an octave",
  earlier: "Earlier",
  later: "Later",
  shorter: "Shorter",
  longer: "Longer",
  delete: "Deleted",
};

/**
 * The piano roll's text alternative: every note as a table row, reachable and editable from the keyboard.
 * ↑/↓ (Home/End, PageUp/PageDown) move between notes, Space selects, Escape selects none, Alt+↑/↓ change the pitch (Shift = an
 * octave), Alt+←/→ move in time, [ and ] shorten / lengthen, Delete removes. A key acts on the selected
 * notes when the focused note is one of them, else on the focused note alone.
 */
export function NoteTable({ state, onCommit, onReplace, step, onPreviewPitch }: Props) {
  const notes = state.notes;
  const [activeId, setActiveId] = useState<number | null>(null);
  const [said, setSaid] = useState("");
  const [page, setPage] = useState(0);
  const boxes = useRef(new Map<number, HTMLInputElement>());
  const refocus = useRef(false);

  const pages = Math.max(1, Math.ceil(notes.length / PAGE));
  const shownPage = Math.min(page, pages - 1);
  const rows = notes.slice(shownPage * PAGE, (shownPage + 1) * PAGE);
  // One row is a Tab stop: the active note when it is on this page, else the page's first note.
  const tabId = rows.some((n) => n.id === activeId) ? activeId! : rows[0]?.id;

  // Focus follows the active note (after a move in the list, or an edit that re-sorted the notes).
  useEffect(() => {
    if (!refocus.current || tabId === undefined) return;
    refocus.current = false;
    boxes.current.get(tabId)?.focus();
  });

  const goTo = (index: number) => {
    const n = notes[Math.min(notes.length - 1, Math.max(0, index))];
    if (!n) return;
    setActiveId(n.id);
    setPage(Math.floor(notes.indexOf(n) / PAGE));
    refocus.current = true;
  };

  const edit = (id: number, e: NoteEdit) => {
    const ids = state.selected.includes(id) ? state.selected : [id];
    const next = applyEdit(ids === state.selected ? state : select(state, [id]), ids, e, step);
    onCommit(next);
    if (e === "delete") {
      const rest = next.notes;
      const at = Math.min(notes.findIndex((n) => n.id === id), rest.length - 1);
      setActiveId(rest[at]?.id ?? null);
      setSaid(`${SAID.delete} ${ids.length} note${ids.length === 1 ? "" : "s"}.`);
    } else {
      const moved = next.notes.find((n) => n.id === id);
      if (moved) {
        setSaid(`${SAID[e]}: ${describeNote(moved)}.`);
        if (e.includes("pitch") || e.includes("octave")) onPreviewPitch?.(moved.pitch);
        setPage(Math.floor(next.notes.indexOf(moved) / PAGE));
      }
    }
    refocus.current = true;
  };

  const onKey = (e: KeyboardEvent<HTMLInputElement>, id: number, index: number) => {
    const moves: Record<string, number> = { ArrowUp: index - 1, ArrowDown: index + 1, Home: 0, End: notes.length - 1, PageUp: index - 10, PageDown: index + 10 };
    const what = editForKey(e, true);
    if (what) {
      e.preventDefault();
      e.stopPropagation();
      edit(id, what);
    } else if (e.key === "Escape" && state.selected.length) {
      e.preventDefault();
      onReplace(select(state, []));
    } else if (e.key in moves && !e.altKey) {
      e.preventDefault();
      e.stopPropagation();
      goTo(moves[e.key]);
    }
  };

  return (
    <details className="note-table" data-testid="note-table">
      <summary>
        Note list <span className="muted">— {notes.length} notes; edit them from the keyboard</span>
      </summary>
      <p className="muted hint">
        ↑/↓ choose a note, Space selects it (Escape: none), Alt+↑/↓ pitch (with Shift: an octave), Alt+←/→ earlier / later, [ / ] shorter /
        longer, Delete removes. Keys act on the selected notes when the focused one is selected.
      </p>
      <div className="note-table-scroll">
        <table>
          <caption className="sr-only">The notes in time order</caption>
          <thead>
            <tr>
              <th scope="col">Select</th>
              <th scope="col">Note</th>
              <th scope="col">Start (s)</th>
              <th scope="col">Length (s)</th>
              <th scope="col">Velocity</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((n, i) => {
              const index = shownPage * PAGE + i;
              const selected = state.selected.includes(n.id);
              return (
                <tr key={n.id} className={selected ? "selected" : ""} data-note-id={n.id}>
                  <td>
                    <input
                      type="checkbox"
                      checked={selected}
                      tabIndex={n.id === tabId ? 0 : -1}
                      aria-label={`Note ${index + 1}: ${describeNote(n)}`}
                      data-testid={`note-row-${n.id}`}
                      ref={(el) => {
                        if (el) boxes.current.set(n.id, el);
                        else boxes.current.delete(n.id);
                      }}
                      onFocus={() => setActiveId(n.id)}
                      onChange={() => onReplace(select(state, [n.id], true))}
                      onKeyDown={(e) => onKey(e, n.id, index)}
                    />
                  </td>
                  <td>
                    {pitchName(n.pitch)} <span className="muted">({n.pitch})</span>
                  </td>
                  <td>{n.start.toFixed(2)}</td>
                  <td>{(n.end - n.start).toFixed(2)}</td>
                  <td>{n.velocity}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {pages > 1 && (
        <div className="form-row">
          <button type="button" className="btn-small" disabled={shownPage === 0} onClick={() => setPage(shownPage - 1)}>
            Earlier notes
          </button>
          <span className="muted">
            Notes {shownPage * PAGE + 1}–{Math.min(notes.length, (shownPage + 1) * PAGE)} of {notes.length}
          </span>
          <button type="button" className="btn-small" disabled={shownPage >= pages - 1} onClick={() => setPage(shownPage + 1)}>
            Later notes
          </button>
        </div>
      )}
      <p className="muted" aria-live="polite" data-testid="note-table-status">
        {said}
      </p>
    </details>
  );
}
