import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { StemsStatus } from "../lib/api";
import { computePeaks, MixerEngine, type LoadedStem } from "../lib/audioEngine";
import { useAnimationFrame } from "../lib/hooks";
import {
  anySolo,
  defaultMix,
  formatDb,
  formatTime,
  isAudible,
  makeLoop,
  reconcileMix,
  updateStem,
  type MixState,
  type StemSettings,
} from "../lib/mixer";
import { loadMix, saveMix } from "../lib/storage";
import { ErrorText } from "./ErrorText";
import { ExportPanel } from "./ExportPanel";
import { MasterMeter } from "./MasterMeter";
import { ProgressBar } from "./ProgressBar";
import { StemLane } from "./StemLane";

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
  const [stems, setStems] = useState<LoadedStem[]>([]);
  const [loadState, setLoadState] = useState<{ done: number; total: number } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [playError, setPlayError] = useState<unknown>(null);
  const [mix, setMix] = useState<MixState>(() => reconcileMix(loadMix(job.job_id), names));
  const [playing, setPlaying] = useState(false);
  const lanesRef = useRef<HTMLDivElement>(null);
  const timeRef = useRef<HTMLSpanElement>(null);
  const mixRef = useRef(mix);
  mixRef.current = mix;

  // One engine (AudioContext) per job view.
  useEffect(() => {
    const eng = new MixerEngine();
    eng.onEnded = () => setPlaying(false);
    setEngine(eng);
    const ctrl = new AbortController();
    setLoadState({ done: 0, total: job.stems.length });
    setLoadError(null);
    eng
      .load(
        job.stems.map((s) => ({ name: s.id, url: s.url })),
        (done, total) => setLoadState({ done, total }),
        ctrl.signal,
      )
      .then((loaded) => {
        setStems(loaded);
        setLoadState(null);
      })
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

  const duration = engine?.duration ?? 0;
  const peaks = useMemo(() => Object.fromEntries(stems.map((s) => [s.name, computePeaks(s.buffer)])), [stems]);
  // One scale for every lane, so a quiet stem looks quiet (with a floor so silence stays flat).
  const maxPeak = useMemo(() => {
    let m = 0;
    for (const chans of Object.values(peaks)) for (const ch of chans) for (const v of ch) if (v > m) m = v;
    return Math.max(m, 0.05);
  }, [peaks]);
  const ready = stems.length > 0 && !!engine;

  const updatePlayhead = useCallback(() => {
    if (!engine) return;
    const pos = engine.position();
    lanesRef.current?.style.setProperty("--pos", String(engine.duration ? pos / engine.duration : 0));
    if (timeRef.current) timeRef.current.textContent = `${formatTime(pos)} / ${formatTime(engine.duration)}`;
  }, [engine]);
  useAnimationFrame(playing, updatePlayhead);
  useEffect(updatePlayhead, [updatePlayhead, ready]);

  const toggle = useCallback(async () => {
    if (!engine || !ready) return;
    setPlayError(null);
    try {
      await engine.toggle();
      setPlaying(engine.isPlaying);
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

  // Space = play / pause anywhere on the page, except while typing or playing the game.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
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
          disabled={!ready}
          data-testid="play"
          aria-label={playing ? "Pause (space)" : "Play (space)"}
        >
          {playing ? "❚❚ Pause" : "▶ Play"}
        </button>
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
            <small className="muted">Drag across a waveform to loop a region; click to seek.</small>
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
            data-testid="master-gain"
            onChange={(e) => setMix((m) => ({ ...m, master: Number(e.target.value) }))}
            onDoubleClick={() => setMix((m) => ({ ...m, master: 1 }))}
          />
          <output>{formatDb(mix.master)}</output>
        </label>
        <MasterMeter engine={engine} active={playing} />
        <button type="button" className="btn-small" onClick={() => setMix(defaultMix(names))} title="Reset every fader">
          Reset mix
        </button>
      </div>
      <ErrorText error={playError} />
      {loadState && !loadError && (
        <ProgressBar value={(loadState.done / Math.max(1, loadState.total)) * 100} label={`Loading stems ${loadState.done}/${loadState.total}…`} />
      )}
      <ErrorText error={loadError} testId="mixer-error" />
      <div className="lanes" ref={lanesRef} data-testid="lanes">
        {ready &&
          names.map((name) => (
            <StemLane
              key={name}
              name={name}
              peaks={peaks[name] ?? []}
              duration={duration}
              maxPeak={maxPeak}
              settings={mix.stems[name]}
              audible={isAudible(mix.stems[name], soloActive)}
              loop={mix.loop}
              onChange={onChange}
              onSeek={onSeek}
              onLoop={onLoop}
            />
          ))}
      </div>
      <p className="muted hint">
        Space: play / pause · Tab to a lane, then M: mute, S: solo · double-click a fader to reset it.
      </p>
      {ready && <ExportPanel job={job} token={token} stems={stems} mix={mix} />}
    </section>
  );
}
