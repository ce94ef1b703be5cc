import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent, type PointerEvent } from "react";
import {
  addNote,
  applyEdit,
  editForKey,
  hitTest,
  isBlackKey,
  moveNotes,
  pitchName,
  pitchRange,
  pitchToY,
  quantize,
  resizeNotes,
  select,
  selectAll,
  selectInRect,
  timeToX,
  xToTime,
  yToPitch,
  type Note,
  type RollState,
  type RollView,
} from "../lib/pianoRoll";

interface Props {
  state: RollState;
  /** An edit: becomes one undo step. */
  onCommit: (next: RollState) => void;
  /** Not an undo step (selection). */
  onReplace: (next: RollState) => void;
  /** Seconds; drawn as a line. Read each frame through this getter. */
  playhead: () => number | null;
  playing: boolean;
  /** Seconds per grid step (snap); 0 = free. */
  grid: number;
  /** Seconds per beat (from the MIDI tempo); bars are 4 beats. */
  beatS: number;
  pxPerSec: number;
  duration: number;
  onPreviewPitch?: (pitch: number) => void;
  /** Two-finger pinch on the roll asks for this zoom (pixels per second). */
  onZoom?: (pxPerSec: number) => void;
}

export const MIN_PX_PER_SEC = 30;
export const MAX_PX_PER_SEC = 800;

const ROW = 12;
const KEYS = 46;

type Drag =
  | { kind: "move"; x0: number; y0: number; origin: RollState; ids: number[]; moved: boolean }
  | { kind: "resize"; x0: number; origin: RollState; ids: number[]; moved: boolean }
  | { kind: "marquee"; x0: number; y0: number; x1: number; y1: number; origin: RollState; additive: boolean };

declare global {
  interface Window {
    __pianoRoll?: {
      view: RollView;
      notes: () => Note[];
      selected: () => number[];
      /** Canvas-relative rectangle of a note. */
      noteRect: (id: number) => { x: number; y: number; w: number; h: number } | null;
    };
  }
}

/** Canvas piano roll: select, move, resize, add (double-click) and delete notes; playhead. */
export function PianoRoll({ state, onCommit, onReplace, playhead, playing, grid, beatS, pxPerSec, duration, onPreviewPitch, onZoom }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [preview, setPreview] = useState<RollState | null>(null);
  const shown = preview ?? state;

  // The pitch range is fixed from the notes when they are loaded (so the roll does not jump while editing).
  const [range, setRange] = useState<[number, number]>(() => pitchRange(state.notes, 4));
  useEffect(() => {
    const [lo, hi] = pitchRange(state.notes, 4);
    setRange(([a, b]) => (lo < a || hi > b ? [Math.min(a, lo), Math.max(b, hi)] : [a, b]));
  }, [state.notes]);
  const [lo, hi] = range;
  const lastEnd = Math.max(duration, ...shown.notes.map((n) => n.end));
  const width = Math.ceil(KEYS + (lastEnd + 2) * pxPerSec);
  const height = (hi - lo + 1) * ROW;
  const view: RollView = useMemo(() => ({ pxPerSec, rowHeight: ROW, topPitch: hi, scrollTime: 0, keysWidth: KEYS }), [pxPerSec, hi]);

  const snap = useCallback((t: number) => (grid > 0 ? quantize(t, grid) : t), [grid]);

  const draw = useCallback(() => {
    const c = canvas.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== width * dpr || c.height !== height * dpr) {
      c.width = width * dpr;
      c.height = height * dpr;
      c.style.width = `${width}px`;
      c.style.height = `${height}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#101116";
    ctx.fillRect(0, 0, width, height);
    // Rows.
    for (let p = hi; p >= lo; p--) {
      const y = pitchToY(view, p);
      ctx.fillStyle = isBlackKey(p) ? "#15161d" : "#1a1c24";
      ctx.fillRect(KEYS, y, width - KEYS, ROW);
      if (p % 12 === 0) {
        ctx.fillStyle = "#2a2d3a";
        ctx.fillRect(KEYS, y + ROW - 1, width - KEYS, 1);
      }
    }
    // Beat grid (bars of 4 beats) and the snap grid.
    const step = grid > 0 ? grid : beatS / 4;
    const near = (t: number, unit: number) => Math.abs(t / unit - Math.round(t / unit)) < 1e-6;
    for (let t = 0, i = 0; t <= lastEnd + 2; t = ++i * step) {
      const x = Math.round(timeToX(view, t)) + 0.5;
      const bar = near(t, beatS * 4);
      const beat = near(t, beatS);
      ctx.strokeStyle = bar ? "#3a3e4f" : beat ? "#272a36" : "#1e2029";
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, height);
      ctx.stroke();
    }
    // Notes.
    const sel = new Set(shown.selected);
    for (const n of shown.notes) {
      const x = timeToX(view, n.start);
      const w = Math.max(3, (n.end - n.start) * pxPerSec);
      const y = pitchToY(view, n.pitch);
      const a = 0.35 + 0.65 * (n.velocity / 127);
      ctx.fillStyle = sel.has(n.id) ? `rgba(255, 179, 71, ${a})` : `rgba(255, 106, 43, ${a})`;
      ctx.fillRect(x, y + 1, w, ROW - 2);
      ctx.strokeStyle = sel.has(n.id) ? "#fff" : "#ff9a6b";
      ctx.lineWidth = sel.has(n.id) ? 1.5 : 1;
      ctx.strokeRect(x + 0.5, y + 1.5, w - 1, ROW - 3);
      ctx.fillStyle = "rgba(255,255,255,0.5)";
      ctx.fillRect(x + w - 3, y + 3, 2, ROW - 6); // resize handle
    }
    // Marquee.
    if (drag?.kind === "marquee") {
      ctx.strokeStyle = "#ffb347";
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(Math.min(drag.x0, drag.x1) + 0.5, Math.min(drag.y0, drag.y1) + 0.5, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
      ctx.setLineDash([]);
    }
    // Keyboard.
    for (let p = hi; p >= lo; p--) {
      const y = pitchToY(view, p);
      ctx.fillStyle = isBlackKey(p) ? "#2b2d36" : "#d9dbe2";
      ctx.fillRect(0, y, KEYS - 2, ROW - 1);
      if (p % 12 === 0) {
        ctx.fillStyle = "#333";
        ctx.font = "9px system-ui, sans-serif";
        ctx.fillText(pitchName(p), 3, y + ROW - 3);
      }
    }
    // Playhead.
    const t = playhead();
    if (t !== null) {
      const x = Math.round(timeToX(view, t)) + 0.5;
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, height);
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  }, [width, height, hi, lo, view, grid, beatS, lastEnd, shown, pxPerSec, drag, playhead]);

  useEffect(draw, [draw]);
  useEffect(() => {
    if (!playing) return;
    let id = 0;
    const loop = () => {
      draw();
      id = requestAnimationFrame(loop);
    };
    id = requestAnimationFrame(loop);
    return () => cancelAnimationFrame(id);
  }, [playing, draw]);

  // Test / automation hook.
  const shownRef = useRef(shown);
  shownRef.current = shown;
  useEffect(() => {
    window.__pianoRoll = {
      view,
      notes: () => shownRef.current.notes,
      selected: () => shownRef.current.selected,
      noteRect: (id) => {
        const n = shownRef.current.notes.find((m) => m.id === id);
        if (!n) return null;
        return { x: timeToX(view, n.start), y: pitchToY(view, n.pitch), w: (n.end - n.start) * view.pxPerSec, h: ROW };
      },
    };
    return () => {
      delete window.__pianoRoll;
    };
  }, [view]);

  // Zooming keeps the time under the pinch (or the middle of the visible roll) where it was.
  const zoomAnchor = useRef<{ time: number; offsetX: number } | null>(null);
  const lastPx = useRef(pxPerSec);
  useLayoutEffect(() => {
    const w = wrap.current;
    const old = lastPx.current;
    lastPx.current = pxPerSec;
    if (!w || old === pxPerSec) return;
    const anchor = zoomAnchor.current ?? { time: (w.scrollLeft + w.clientWidth / 2 - KEYS) / old, offsetX: w.clientWidth / 2 };
    zoomAnchor.current = null;
    w.scrollLeft = Math.max(0, KEYS + anchor.time * pxPerSec - anchor.offsetX);
  }, [pxPerSec, width]);

  // Two-finger pinch (touch): the distance between the fingers scales the zoom.
  const touches = useRef(new Map<number, { x: number; y: number }>());
  const pinch = useRef<{ d0: number; px0: number } | null>(null);
  const spread = () => {
    const [a, b] = [...touches.current.values()];
    return { d: Math.hypot(a.x - b.x, a.y - b.y), midX: (a.x + b.x) / 2 };
  };

  const point = (e: PointerEvent<HTMLCanvasElement>) => {
    const r = canvas.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  const down = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.pointerType === "touch") {
      touches.current.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (touches.current.size === 2 && onZoom) {
        // A second finger: this is a pinch, not an edit.
        setDrag(null);
        setPreview(null);
        pinch.current = { d0: Math.max(10, spread().d), px0: pxPerSec };
        return;
      }
    }
    if (e.button !== 0 || pinch.current) return;
    canvas.current!.focus();
    const { x, y } = point(e);
    if (x < KEYS) {
      onPreviewPitch?.(yToPitch(view, y));
      return;
    }
    canvas.current!.setPointerCapture(e.pointerId);
    const hit = hitTest(state, view, x, y);
    if (hit) {
      let base = state;
      if (!state.selected.includes(hit.note.id)) base = select(state, [hit.note.id], e.shiftKey);
      else if (e.shiftKey) base = select(state, [hit.note.id], true);
      if (base !== state) onReplace(base);
      const ids = base.selected.includes(hit.note.id) ? base.selected : [hit.note.id];
      if (hit.zone === "end") setDrag({ kind: "resize", x0: x, origin: base, ids, moved: false });
      else setDrag({ kind: "move", x0: x, y0: y, origin: base, ids, moved: false });
      onPreviewPitch?.(hit.note.pitch);
    } else {
      setDrag({ kind: "marquee", x0: x, y0: y, x1: x, y1: y, origin: state, additive: e.shiftKey });
    }
  };

  const moveHandler = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.pointerType === "touch" && touches.current.has(e.pointerId)) {
      touches.current.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pinch.current && touches.current.size === 2 && onZoom && wrap.current) {
        const { d, midX } = spread();
        const next = Math.min(MAX_PX_PER_SEC, Math.max(MIN_PX_PER_SEC, (pinch.current.px0 * d) / pinch.current.d0));
        if (Math.abs(next - pxPerSec) > 0.5) {
          const offsetX = midX - wrap.current.getBoundingClientRect().left;
          zoomAnchor.current = { time: (wrap.current.scrollLeft + offsetX - KEYS) / pxPerSec, offsetX };
          onZoom(next);
        }
        return;
      }
    }
    const { x, y } = point(e);
    if (!drag) {
      const hit = x >= KEYS ? hitTest(state, view, x, y) : null;
      canvas.current!.style.cursor = hit ? (hit.zone === "end" ? "ew-resize" : "grab") : "crosshair";
      return;
    }
    if (drag.kind === "move") {
      const moved = drag.moved || Math.abs(x - drag.x0) > 3 || Math.abs(y - drag.y0) > 3;
      if (!moved) return;
      const first = drag.origin.notes.find((n) => n.id === drag.ids[0])!;
      const dt = snap(first.start + (x - drag.x0) / pxPerSec) - first.start;
      const dp = -Math.round((y - drag.y0) / ROW);
      setPreview(moveNotes(drag.origin, drag.ids, dt, dp));
      if (!drag.moved) setDrag({ ...drag, moved: true });
    } else if (drag.kind === "resize") {
      const first = drag.origin.notes.find((n) => n.id === drag.ids[0])!;
      const dEnd = snap(first.end + (x - drag.x0) / pxPerSec) - first.end;
      setPreview(resizeNotes(drag.origin, drag.ids, dEnd));
      if (!drag.moved) setDrag({ ...drag, moved: true });
    } else {
      setDrag({ ...drag, x1: x, y1: y });
    }
  };

  const endTouch = (e: PointerEvent<HTMLCanvasElement>) => {
    touches.current.delete(e.pointerId);
    if (!pinch.current) return false;
    if (touches.current.size === 0) pinch.current = null;
    return true;
  };

  /** The browser took the gesture over (a touch scroll of the roll): drop the drag, change nothing. */
  const cancel = (e: PointerEvent<HTMLCanvasElement>) => {
    endTouch(e);
    setDrag(null);
    setPreview(null);
  };

  const up = (e: PointerEvent<HTMLCanvasElement>) => {
    if (endTouch(e)) return;
    const d = drag;
    setDrag(null);
    if (!d) return;
    if ((d.kind === "move" || d.kind === "resize") && d.moved && preview) {
      onCommit(preview);
    } else if (d.kind === "marquee") {
      const dx = Math.abs(d.x1 - d.x0);
      const dy = Math.abs(d.y1 - d.y0);
      if (dx < 3 && dy < 3) {
        if (!d.additive) onReplace(select(state, []));
      } else {
        onReplace(
          selectInRect(state, xToTime(view, d.x0), xToTime(view, d.x1), yToPitch(view, d.y0), yToPitch(view, d.y1), d.additive),
        );
      }
    }
    setPreview(null);
  };

  const dbl = (e: MouseEvent<HTMLCanvasElement>) => {
    const r = canvas.current!.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    if (x < KEYS || hitTest(state, view, x, y)) return;
    const start = Math.max(0, grid > 0 ? Math.floor(xToTime(view, x) / grid) * grid : xToTime(view, x));
    const pitch = yToPitch(view, y);
    onCommit(addNote(state, { pitch, start, duration: grid > 0 ? grid * 2 : 0.25, velocity: 100 }));
    onPreviewPitch?.(pitch);
  };

  const keys = (e: KeyboardEvent<HTMLCanvasElement>) => {
    const sel = state.selected;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === "a" || e.key === "A")) {
      e.preventDefault();
      onReplace(selectAll(state));
      return;
    }
    if (mod) return; // undo / redo are handled by the editor
    if (e.key === "Escape") {
      onReplace(select(state, []));
      return;
    }
    if (!sel.length) return;
    const edit = editForKey(e);
    if (!edit) return;
    e.preventDefault();
    e.stopPropagation();
    onCommit(applyEdit(state, sel, edit, grid > 0 ? grid : 0.05));
  };

  return (
    <div className="roll-wrap" ref={wrap} data-testid="piano-roll">
      <canvas
        ref={canvas}
        className="roll-canvas"
        tabIndex={0}
        data-keyscope="roll"
        data-testid="piano-roll-canvas"
        role="application"
        aria-roledescription="piano roll"
        aria-label={`Piano roll, ${state.notes.length} notes${state.selected.length ? `, ${state.selected.length} selected` : ""}: drag notes to move, drag their right edge to resize, double-click to add, arrows move the selected notes, Delete removes them. The note list below the roll lists and edits every note.`}
        onPointerDown={down}
        onPointerMove={moveHandler}
        onPointerUp={up}
        onPointerCancel={cancel}
        onDoubleClick={dbl}
        onKeyDown={keys}
      />
    </div>
  );
}
