import { memo, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import type { StemRef } from "../lib/api";
import { formatDb, type LoopRegion, type StemSettings } from "../lib/mixer";
import { LaneDownload } from "./LaneDownload";
import { Waveform } from "./Waveform";

export const STEM_COLOURS: Record<string, string> = {
  vocals: "#ff7a3d",
  instrumental: "#b07cf0",
  drums: "#f7d038",
  bass: "#4d8cf4",
  guitar: "#f04d6a",
  piano: "#3dd6d0",
  other: "#5ad25a",
};

interface Props {
  name: string;
  stem: StemRef;
  /** Download names start with it. */
  base: string;
  storedBits: number;
  peaks: Float32Array[];
  duration: number;
  maxPeak: number;
  settings: StemSettings;
  audible: boolean;
  loop: LoopRegion | null;
  onChange: (name: string, patch: Partial<StemSettings>) => void;
  onSeek: (time: number) => void;
  onLoop: (a: number, b: number) => void;
  /** Transport keys (seek, loop in / out) pressed on the lane; true when handled. */
  onTransportKey: (e: KeyboardEvent<HTMLElement>) => boolean;
}

function panText(pan: number): string {
  if (Math.abs(pan) < 0.005) return "centre";
  return `${Math.round(Math.abs(pan) * 100)} % ${pan < 0 ? "left" : "right"}`;
}

function panLabel(pan: number): string {
  if (Math.abs(pan) < 0.005) return "C";
  return `${pan < 0 ? "L" : "R"}${Math.round(Math.abs(pan) * 100)}`;
}

/** One stem: mute / solo / volume / pan / download, and its waveform (click = seek, drag = loop region). Every
 * control is named with the stem ("Mute vocals"); on the focused lane M / S mute and solo, the arrows, Home and
 * End seek, I / O set the loop in / out. */
export const StemLane = memo(function StemLane(props: Props) {
  const { name, stem, base, storedBits, peaks, duration, maxPeak, settings, audible, loop, onChange, onSeek, onLoop, onTransportKey } = props;
  const area = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x0: number; t0: number; moved: boolean } | null>(null);
  const [sel, setSel] = useState<{ a: number; b: number } | null>(null);

  const timeAt = (clientX: number) => {
    const rect = area.current!.getBoundingClientRect();
    return Math.max(0, Math.min(1, (clientX - rect.left) / rect.width)) * duration;
  };
  const down = (e: PointerEvent<HTMLDivElement>) => {
    if (e.button !== 0) return;
    area.current!.setPointerCapture(e.pointerId);
    drag.current = { x0: e.clientX, t0: timeAt(e.clientX), moved: false };
  };
  const move = (e: PointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    if (!d) return;
    if (Math.abs(e.clientX - d.x0) > 4) d.moved = true;
    if (d.moved) setSel({ a: d.t0, b: timeAt(e.clientX) });
  };
  const up = (e: PointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    drag.current = null;
    setSel(null);
    if (!d) return;
    if (d.moved) onLoop(d.t0, timeAt(e.clientX));
    else onSeek(timeAt(e.clientX));
  };
  const keys = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.target !== e.currentTarget || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "m" || e.key === "M") {
      e.preventDefault();
      onChange(name, { mute: !settings.mute });
    } else if (e.key === "s" || e.key === "S") {
      e.preventDefault();
      onChange(name, { solo: !settings.solo });
    } else if (onTransportKey(e)) {
      e.preventDefault();
    }
  };

  const colour = STEM_COLOURS[name] ?? "#9aa4b2";
  const shade = sel ? { a: Math.min(sel.a, sel.b), b: Math.max(sel.a, sel.b) } : loop ? { a: loop.start, b: loop.end } : null;

  return (
    <div
      className={`lane ${audible ? "" : "lane-silent"}`}
      tabIndex={0}
      data-testid={`lane-${name}`}
      data-stem={name}
      role="group"
      aria-label={`${name} lane: M mute, S solo, arrows seek, I / O loop in / out`}
      onKeyDown={keys}
    >
      <div className="lane-controls">
        <div className="lane-name" style={{ color: colour }}>
          {name}
        </div>
        <div className="lane-buttons">
          <button
            type="button"
            className={`toggle mute ${settings.mute ? "on" : ""}`}
            aria-pressed={settings.mute}
            aria-label={`Mute ${name}`}
            title={`Mute ${name} (M)`}
            data-testid={`mute-${name}`}
            onClick={() => onChange(name, { mute: !settings.mute })}
          >
            M
          </button>
          <button
            type="button"
            className={`toggle solo ${settings.solo ? "on" : ""}`}
            aria-pressed={settings.solo}
            aria-label={`Solo ${name}`}
            title={`Solo ${name} (S)`}
            data-testid={`solo-${name}`}
            onClick={() => onChange(name, { solo: !settings.solo })}
          >
            S
          </button>
          <LaneDownload stem={stem} base={base} storedBits={storedBits} />
        </div>
        <label className="slider">
          <span>Vol</span>
          <input
            type="range"
            min={0}
            max={2}
            step={0.01}
            value={settings.gain}
            aria-label={`Volume ${name}`}
            aria-valuetext={formatDb(settings.gain)}
            data-testid={`gain-${name}`}
            onChange={(e) => onChange(name, { gain: Number(e.target.value) })}
            onDoubleClick={() => onChange(name, { gain: 1 })}
          />
          <output>{formatDb(settings.gain)}</output>
        </label>
        <label className="slider">
          <span>Pan</span>
          <input
            type="range"
            min={-1}
            max={1}
            step={0.01}
            value={settings.pan}
            aria-label={`Pan ${name}`}
            aria-valuetext={panText(settings.pan)}
            data-testid={`pan-${name}`}
            onChange={(e) => onChange(name, { pan: Number(e.target.value) })}
            onDoubleClick={() => onChange(name, { pan: 0 })}
          />
          <output>{panLabel(settings.pan)}</output>
        </label>
      </div>
      <div
        className="lane-wave"
        ref={area}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        data-testid={`wave-${name}`}
        aria-label={`${name} waveform: click to seek, drag to loop`}
        role="img"
      >
        <Waveform peaks={peaks} duration={duration} maxPeak={maxPeak} color={colour} testId={`waveform-${name}`} />
        {shade && duration > 0 && (
          <div
            className="loop-shade"
            style={{ left: `${(shade.a / duration) * 100}%`, width: `${((shade.b - shade.a) / duration) * 100}%` }}
          />
        )}
        <div className="playhead" />
      </div>
    </div>
  );
});
