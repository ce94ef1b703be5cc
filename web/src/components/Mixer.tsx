import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import type { StemsStatus } from "../lib/api";
import { manifestPeaks, MixerEngine } from "../lib/audioEngine";
import { useAnimationFrame } from "../lib/hooks";
import {
  anySolo,
  defaultMix,
  formatDb,
  formatTime,
  isAudible,
  makeLoop,
  reconcileMix,
  seekTarget,
  setLoopIn,
  setLoopOut,
  updateStem,
  type MixState,
  type StemSettings,
} from "../lib/mixer";
import { baseName } from "../lib/render";
import { loadMix, saveMix } from "../lib/storage";
import { ErrorText } from "./ErrorText";
import { ExportPanel } from "./ExportPanel";
import { MasterMeter } from "./MasterMeter";
import { StemLane } from "./StemLane";
import "../mixer.css";

declare global {
  interface Window {
    __mixer?: {
      engine: MixerEngine;
      snapshot: () => ReturnType<MixerEngine["snapshot"]>;
      mix: () => MixState;
    };
  }
}

interface Props {
  job: StemsStatus;
  token: string;
}

/** Keys typed into these must not drive the transport. */
function isTypingTarget(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  if (t.closest("[data-keyscope]")) return true;
  const tag = t.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable) return true;
  if (tag === "INPUT") return !["range", "checkbox", "button", "radio"].includes((t as HTMLInputElement).type);
  return false;
}

/** The multitrack mixer of a finished stems job. */
export function Mixer({ job, token }: Props) {
  const names = useMemo(() => job.stems.map((s) => s.id), [job.stems]);
  const [engine, setEngine] = useState<MixerEngine | null>(null);
  const [peaks, setPeaks] = useState<Record<string, Float32Array[]> | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [playError, setPlayError] = useState<unknown>(null);
  const [mix, setMix] = useState<MixState>(() => reconcileMix(loadMix(job.job_id), names));
  const [playing, setPlaying] = useState(false);
  const [clipped, setClipped] = useState(false);
  const lanesRef = useRef<HTMLDivElement>(null);
  const timeRef = useRef<HTMLSpanElement>(null);
  const seekRef = useRef<HTMLInputElement>(null);
  const mixRef = useRef(mix);
  mixRef.current = mix;
  const base = baseName(job.input_name);
  const storedBits = Number(job.result?.bit_depth ?? job.params?.bit_depth ?? 16);

  // One engine (AudioContext) per job view; the renditions stream in the background.
  useEffect(() => {
    const eng = new MixerEngine();
    eng.onEnded = () => setPlaying(false);
    eng.onError = (err) => setPlayError(err);
    setEngine(eng);
    setPeaks(null);
    const ctrl = new AbortController();
    setLoadError(null);
    eng
      .load(job.stems.map((s) => ({ name: s.id, playbackUrl: s.playback_url })), ctrl.signal)
      .then((manifests) => setPeaks(Object.fromEntries(manifests.map((m) => [m.stem, manifestPeaks(m)]))))
      .catch((err) => {
        if (!ctrl.signal.aborted) setLoadError(err);
      });
    window.__mixer = { engine: eng, snapshot: () => eng.snapshot(), mix: () => mixRef.current };
    return () => {
      ctrl.abort();
      if (window.__mixer?.engine === eng) delete window.__mixer;
      void eng.dispose();
    };
  }, [job.job_id, job.stems]);

  // Mix -> graph, and remember it for this job.
  useEffect(() => {
    engine?.applyMix(mix);
    // Only remember a mix that was touched (History marks jobs with a saved mix).
    if (loadMix(job.job_id) || JSON.stringify(mix) !== JSON.stringify(defaultMix(names))) saveMix(job.job_id, mix);
  }, [engine, mix, job.job_id, names]);

  const ready = !!peaks && !!engine;
  const duration = ready ? engine.duration : 0;
  // One scale for every lane, so a quiet stem looks quiet (with a floor so silence stays flat).
  const maxPeak = useMemo(() => {
    let m = 0;
    for (const chans of Object.values(peaks ?? {})) for (const ch of chans) for (const v of ch) if (v > m) m = v;
    return Math.max(m, 0.05);
  }, [peaks]);

  const updatePlayhead = useCallback(() => {
    if (!engine) return;
    const pos = engine.position();
    lanesRef.current?.style.setProperty("--pos", String(engine.duration ? pos / engine.duration : 0));
    const text = `${formatTime(pos)} / ${formatTime(engine.duration)}`;
    if (timeRef.current) timeRef.current.textContent = text;
    if (seekRef.current && document.activeElement !== seekRef.current) {
      seekRef.current.value = String(pos);
      seekRef.current.setAttribute("aria-valuetext", text);
    }
  }, [engine]);
  useAnimationFrame(playing, updatePlayhead);
  useEffect(updatePlayhead, [updatePlayhead, ready]);

  const toggle = useCallback(async () => {
    if (!engine || !ready) return;
    setPlayError(null);
    try {
      const start = engine.toggle();
      setPlaying(engine.isPlaying);
      await start;
    } catch (err) {
      setPlayError(err);
    }
    updatePlayhead();
  }, [engine, ready, updatePlayhead]);

  const onChange = useCallback((name: string, patch: Partial<StemSettings>) => setMix((m) => updateStem(m, name, patch)), []);
  const onSeek = useCallback(
    (t: number) => {
      void engine?.seek(t).then(updatePlayhead);
      updatePlayhead();
    },
    [engine, updatePlayhead],
  );
  const onLoop = useCallback(
    (a: number, b: number) => setMix((m) => ({ ...m, loop: makeLoop(a, b, engine?.duration ?? 0) })),
    [engine],
  );

  // Arrows / Home / End seek, I / O set the loop in / out, Escape clears it: on a lane or the transport.
  const onTransportKey = useCallback(
    (e: KeyboardEvent<HTMLElement>): boolean => {
      if (!engine || !ready || e.ctrlKey || e.metaKey || e.altKey) return false;
      const pos = engine.position();
      const target = seekTarget(e.key, e.shiftKey, pos, engine.duration);
      if (target !== null) {
        onSeek(target);
        return true;
      }
      const key = e.key.toLowerCase();
      if (key === "i") setMix((m) => ({ ...m, loop: setLoopIn(m.loop, pos, engine.duration) }));
      else if (key === "o") setMix((m) => ({ ...m, loop: setLoopOut(m.loop, pos, engine.duration) }));
      else if (e.key === "Escape" && mixRef.current.loop) setMix((m) => ({ ...m, loop: null }));
      else return false;
      return true;
    },
    [engine, ready, onSeek],
  );

  // Space = play / pause anywhere on the page, except while typing or playing the game.
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.code !== "Space" && e.key !== " ") return;
      if (e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target)) return;
      e.preventDefault();
      void toggle();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [toggle]);

  const soloActive = anySolo(mix.stems);

  return (
    <section className="mixer" data-testid="mixer" data-ready={ready ? "true" : "false"}>
      <div className="transport">
        <button
          type="button"
          className="btn-primary play"
          onClick={() => void toggle()}
          onKeyDown={(e) => {
            if (e.key !== " " && e.key !== "Enter" && onTransportKey(e)) e.preventDefault();
          }}
          disabled={!ready}
          data-testid="play"
          aria-label={playing ? "Pause (space)" : "Play (space)"}
        >
          {playing ? "❚❚ Pause" : "▶ Play"}
        </button>
        <label className="slider position">
          <span className="visually-hidden">Position</span>
          <input
            ref={seekRef}
            type="range"
            min={0}
            max={duration || 1}
            step={0.01}
            defaultValue={0}
            disabled={!ready}
            aria-label="Position: arrows seek 5 s (Shift: 1 s), Home / End, I / O loop in / out"
            data-testid="seek"
            onKeyDown={(e) => {
              if (onTransportKey(e)) e.preventDefault();
            }}
            onChange={(e) => onSeek(Number(e.target.value))}
          />
        </label>
        <span className="time" ref={timeRef} data-testid="time">
          0:00.0 / 0:00.0
        </span>
        <span className="loop-info" data-testid="loop-info">
          {mix.loop ? (
            <>
              Loop {formatTime(mix.loop.start)}–{formatTime(mix.loop.end)}{" "}
              <button type="button" className="btn-small" onClick={() => setMix((m) => ({ ...m, loop: null }))}>
                Clear loop
              </button>
            </>
          ) : (
            <small className="muted">Drag across a waveform to loop a region (or I / O keys); click to seek.</small>
          )}
        </span>
        <label className="slider master">
          <span>Master</span>
          <input
            type="range"
            min={0}
            max={2}
            step={0.01}
            value={mix.master}
            aria-label="Master volume"
            aria-valuetext={formatDb(mix.master)}
            data-testid="master-gain"
            onChange={(e) => setMix((m) => ({ ...m, master: Number(e.target.value) }))}
            onDoubleClick={() => setMix((m) => ({ ...m, master: 1 }))}
          />
          <output>{formatDb(mix.master)}</output>
        </label>
        <MasterMeter engine={engine} active={playing} clipped={clipped} onClip={setClipped} />
        <button type="button" className="btn-small" onClick={() => setMix(defaultMix(names))} title="Reset every fader">
          Reset mix
        </button>
      </div>
      <ErrorText error={playError} />
      {!ready && !loadError && <p className="muted">Loading the stems…</p>}
      <ErrorText error={loadError} testId="mixer-error" />
      <div className="lanes" ref={lanesRef} data-testid="lanes">
        {ready &&
          job.stems.map((stem) => (
            <StemLane
              key={stem.id}
              name={stem.id}
              stem={stem}
              base={base}
              storedBits={storedBits}
              peaks={peaks[stem.id] ?? []}
              duration={duration}
              maxPeak={maxPeak}
              settings={mix.stems[stem.id]}
              audible={isAudible(mix.stems[stem.id], soloActive)}
              loop={mix.loop}
              onChange={onChange}
              onSeek={onSeek}
              onLoop={onLoop}
              onTransportKey={onTransportKey}
            />
          ))}
      </div>
      <p className="muted hint">
        Space: play / pause · Tab to a lane, then M: mute, S: solo, ← / →: seek 5 s (Shift: 1 s), Home / End, I / O: loop in /
        out, Esc: clear the loop · double-click a fader to reset it.
      </p>
      {ready && (
        <ExportPanel job={job} token={token} mix={mix} duration={duration} storedBits={storedBits} clipped={clipped} />
      )}
    </section>
  );
}
