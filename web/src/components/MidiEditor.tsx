import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { saveNotes, type MidiStatus } from "../lib/midiApi";
import {
  applyEdit,
  commit,
  deleteNotes,
  fromServer,
  history,
  notesChanged,
  redo,
  replace,
  setVelocity,
  toServer,
  undo,
  type History,
  type NoteEdit,
  type RollState,
} from "../lib/pianoRoll";
import { playNotes, previewPitch, type SynthPlayback } from "../lib/synth";
import { ErrorText } from "./ErrorText";
import { NoteTable } from "./NoteTable";
import { MAX_PX_PER_SEC, MIN_PX_PER_SEC, PianoRoll } from "./PianoRoll";

/** Step edits of the selected notes as buttons (touch and pointer users; the keys do the same). */
const EDIT_BUTTONS: { edit: NoteEdit; icon: string; label: string }[] = [
  { edit: "pitch-down", icon: "♭", label: "Down a semitone" },
  { edit: "pitch-up", icon: "♯", label: "Up a semitone" },
  { edit: "octave-down", icon: "⇊", label: "Down an octave" },
  { edit: "octave-up", icon: "⇈", label: "Up an octave" },
  { edit: "earlier", icon: "◀", label: "Earlier by one step" },
  { edit: "later", icon: "▶", label: "Later by one step" },
  { edit: "shorter", icon: "⇤", label: "Shorter by one step" },
  { edit: "longer", icon: "⇥", label: "Longer by one step" },
];

interface Props {
  job: MidiStatus;
  token: string;
  /** Called after a successful save with the server's answer (new version, file URL). */
  onSaved?: (version: number) => void;
}

const GRIDS: { label: string; beats: number }[] = [
  { label: "Off", beats: 0 },
  { label: "1/4", beats: 1 },
  { label: "1/8", beats: 0.5 },
  { label: "1/16", beats: 0.25 },
  { label: "1/32", beats: 0.125 },
];

/** The note editor: piano roll + toolbar (play, undo/redo, velocity, snap, zoom, save). */
export function MidiEditor({ job, token, onSaved }: Props) {
  const initial = useMemo(() => fromServer(job.notes ?? []), [job.notes]);
  const [hist, setHist] = useState<History<RollState>>(() => history(initial));
  const [saved, setSaved] = useState<RollState>(initial);
  const [version, setVersion] = useState<number | undefined>(job.notes_version ?? undefined);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [savedNote, setSavedNote] = useState("");
  const [gridIdx, setGridIdx] = useState(3);
  const [pxPerSec, setPxPerSec] = useState(120);
  const [playing, setPlaying] = useState(false);
  const [velocityDraft, setVelocityDraft] = useState<number | null>(null);
  const ctxRef = useRef<AudioContext | null>(null);
  const playback = useRef<SynthPlayback | null>(null);
  const stopTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const cursor = useRef(0);

  const state = hist.present;
  const tempo = Number(job.settings?.midi_tempo ?? 120) || 120;
  const beatS = 60 / tempo;
  const grid = GRIDS[gridIdx].beats * beatS;
  const step = grid > 0 ? grid : 0.05;
  const zoom = (px: number) => setPxPerSec(Math.min(MAX_PX_PER_SEC, Math.max(MIN_PX_PER_SEC, px)));
  const dirty = notesChanged(state, saved);
  const duration = Number((job.result as { duration_s?: number } | null)?.duration_s ?? 0);
  const selectedNotes = state.notes.filter((n) => state.selected.includes(n.id));
  const selVelocity = selectedNotes.length ? Math.round(selectedNotes.reduce((a, n) => a + n.velocity, 0) / selectedNotes.length) : 100;

  const audio = () => (ctxRef.current ??= new AudioContext());
  useEffect(
    () => () => {
      playback.current?.stop();
      if (stopTimer.current) clearTimeout(stopTimer.current);
      void ctxRef.current?.close();
    },
    [],
  );

  const onCommit = useCallback((next: RollState) => setHist((h) => commit(h, next)), []);
  const onReplace = useCallback((next: RollState) => setHist((h) => replace(h, next)), []);
  const preview = useCallback((pitch: number) => previewPitch(audio(), pitch), []);

  const stop = useCallback(() => {
    if (playback.current) cursor.current = playback.current.position();
    playback.current?.stop();
    playback.current = null;
    if (stopTimer.current) clearTimeout(stopTimer.current);
    setPlaying(false);
  }, []);

  const play = useCallback(async () => {
    const ctx = audio();
    if (ctx.state === "suspended") await ctx.resume();
    const end = Math.max(0, ...state.notes.map((n) => n.end));
    const from = cursor.current >= end ? 0 : cursor.current;
    playback.current = playNotes(ctx, state.notes, from);
    setPlaying(true);
    stopTimer.current = setTimeout(() => {
      stop();
      cursor.current = 0;
    }, (end - from + 0.4) * 1000);
  }, [state.notes, stop]);

  const playhead = useCallback(() => (playback.current ? playback.current.position() : cursor.current), []);

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    setSavedNote("");
    try {
      const resp = await saveNotes(job.job_id, token, toServer(state), version);
      setVersion(resp.notes_version);
      setSaved(state);
      setSavedNote(`Saved — version ${resp.notes_version}, ${resp.note_count} notes; output.mid updated.`);
      onSaved?.(resp.notes_version);
    } catch (err) {
      setSaveError(err);
    } finally {
      setSaving(false);
    }
  };

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === "z" || e.key === "Z")) {
      e.preventDefault();
      setHist((h) => (e.shiftKey ? redo(h) : undo(h)));
    } else if (mod && (e.key === "y" || e.key === "Y")) {
      e.preventDefault();
      setHist(redo);
    } else if (mod && (e.key === "s" || e.key === "S")) {
      e.preventDefault();
      if (dirty && !saving) void save();
    } else if (e.key === " " && !(e.target instanceof HTMLInputElement) && !(e.target instanceof HTMLSelectElement)) {
      e.preventDefault();
      if (playing) stop();
      else void play();
    }
  };

  const commitVelocity = () => {
    if (velocityDraft === null) return;
    onCommit(setVelocity(state, state.selected, velocityDraft));
    setVelocityDraft(null);
  };

  return (
    <div className="midi-editor" onKeyDown={onKey} data-testid="midi-editor" data-dirty={dirty ? "true" : "false"}>
      <div className="roll-toolbar">
        <button type="button" className="btn-primary" onClick={() => (playing ? stop() : void play())} data-testid="roll-play">
          {playing ? "■ Stop" : "▶ Play"}
        </button>
        <button type="button" onClick={() => setHist(undo)} disabled={!hist.past.length} title="Undo (Ctrl+Z)" data-testid="undo">
          Undo
        </button>
        <button type="button" onClick={() => setHist(redo)} disabled={!hist.future.length} title="Redo (Ctrl+Shift+Z)" data-testid="redo">
          Redo
        </button>
        <button type="button" onClick={() => onCommit(deleteNotes(state))} disabled={!state.selected.length} title="Delete (Del)">
          Delete
        </button>
        <label className="slider" title="Velocity of the selected notes">
          <span>Vel</span>
          <input
            type="range"
            min={1}
            max={127}
            value={velocityDraft ?? selVelocity}
            disabled={!state.selected.length}
            data-testid="velocity"
            onChange={(e) => setVelocityDraft(Number(e.target.value))}
            onPointerUp={commitVelocity}
            onKeyUp={commitVelocity}
            onBlur={commitVelocity}
          />
          <output>{velocityDraft ?? (state.selected.length ? selVelocity : "–")}</output>
        </label>
        <label className="field inline">
          <span className="muted">Snap</span>
          <select value={gridIdx} onChange={(e) => setGridIdx(Number(e.target.value))}>
            {GRIDS.map((g, i) => (
              <option key={g.label} value={i}>
                {g.label}
              </option>
            ))}
          </select>
        </label>
        <span className="muted">Zoom</span>
        <button type="button" className="btn-small" onClick={() => zoom(pxPerSec / 1.5)} aria-label="Zoom out" data-testid="zoom-out">
          −
        </button>
        <button type="button" className="btn-small" onClick={() => zoom(pxPerSec * 1.5)} aria-label="Zoom in" data-testid="zoom-in">
          +
        </button>
        <button type="button" className="btn-primary" onClick={() => void save()} disabled={!dirty || saving} data-testid="save-notes" title="Save (Ctrl+S)">
          {saving ? "Saving…" : dirty ? "Save" : "Saved"}
        </button>
        {job.file_url && (
          <a href={job.file_url} download data-testid="download-mid">
            Download .mid
          </a>
        )}
      </div>
      <ErrorText error={saveError} testId="save-error" />
      {savedNote && !dirty && (
        <p className="muted" data-testid="save-note">
          {savedNote}
        </p>
      )}
      <div className="roll-toolbar" role="group" aria-label="Edit the selected notes" data-testid="note-edit-buttons">
        <span className="muted">Selected</span>
        {EDIT_BUTTONS.map((b) => (
          <button
            key={b.edit}
            type="button"
            className="btn-small"
            aria-label={b.label}
            title={b.label}
            disabled={!state.selected.length}
            data-testid={`edit-${b.edit}`}
            onClick={() => onCommit(applyEdit(state, state.selected, b.edit, step))}
          >
            {b.icon}
          </button>
        ))}
      </div>
      <PianoRoll
        onZoom={zoom}
        state={state}
        onCommit={onCommit}
        onReplace={onReplace}
        playhead={playhead}
        playing={playing}
        grid={grid}
        beatS={beatS}
        pxPerSec={pxPerSec}
        duration={duration}
        onPreviewPitch={preview}
      />
      <p className="muted hint">
        Drag a note to move it (snaps to the grid), drag its right edge to resize, double-click empty space to add, drag on empty space to
        select several, Delete to remove, arrows to nudge (Shift+↑/↓ = octave), [ / ] shorter / longer, Ctrl+Z / Ctrl+Shift+Z undo / redo,
        space to play. On a touch screen: tap a note to select it, the buttons above edit it, one finger scrolls, two fingers zoom.{" "}
        {state.notes.length} notes{state.selected.length ? `, ${state.selected.length} selected` : ""}.
      </p>
      <NoteTable state={state} onCommit={onCommit} onReplace={onReplace} step={step} onPreviewPitch={preview} />
    </div>
  );
}
