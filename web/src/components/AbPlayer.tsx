import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import { BufferMixerEngine, computePeaks } from "../lib/bufferEngine";
import { useAnimationFrame } from "../lib/hooks";
import { defaultMix, formatTime, updateStem } from "../lib/mixer";
import type { LoadedStem } from "../lib/render";
import { ErrorText } from "./ErrorText";
import { ProgressBar } from "./ProgressBar";
import { Waveform } from "./Waveform";

interface Props {
  originalUrl: string;
  enhancedUrl: string;
}

type Side = "original" | "enhanced";

declare global {
  interface Window {
    __abPlayer?: { snapshot: () => ReturnType<BufferMixerEngine["snapshot"]> };
  }
}

/**
 * Original vs enhanced, sample-synchronised: both play at once (same AudioContext start time) and
 * the switch only changes which one is heard, so A/B flips keep the position and are instant.
 */
export function AbPlayer({ originalUrl, enhancedUrl }: Props) {
  const [engine, setEngine] = useState<BufferMixerEngine | null>(null);
  const [stems, setStems] = useState<LoadedStem[]>([]);
  const [side, setSide] = useState<Side>("enhanced");
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const box = useRef<HTMLDivElement>(null);
  const timeRef = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    const eng = new BufferMixerEngine();
    eng.onEnded = () => setPlaying(false);
    setEngine(eng);
    const ctrl = new AbortController();
    eng
      .load(
        [
          { name: "original", url: originalUrl },
          { name: "enhanced", url: enhancedUrl },
        ],
        undefined,
        ctrl.signal,
      )
      .then(setStems)
      .catch((err) => !ctrl.signal.aborted && setError(err));
    window.__abPlayer = { snapshot: () => eng.snapshot() };
    return () => {
      ctrl.abort();
      delete window.__abPlayer;
      void eng.dispose();
    };
  }, [originalUrl, enhancedUrl]);

  useEffect(() => {
    const mix = defaultMix(["original", "enhanced"]);
    engine?.applyMix(updateStem(mix, side === "original" ? "enhanced" : "original", { mute: true }));
  }, [engine, side]);

  const update = useCallback(() => {
    if (!engine) return;
    const pos = engine.position();
    box.current?.style.setProperty("--pos", String(engine.duration ? pos / engine.duration : 0));
    if (timeRef.current) timeRef.current.textContent = `${formatTime(pos)} / ${formatTime(engine.duration)}`;
  }, [engine]);
  useAnimationFrame(playing, update);
  useEffect(update, [update, stems]);

  const toggle = async () => {
    if (!engine) return;
    await engine.toggle();
    setPlaying(engine.isPlaying);
    update();
  };

  const seek = (e: MouseEvent<HTMLDivElement>) => {
    if (!engine) return;
    const rect = e.currentTarget.getBoundingClientRect();
    void engine.seek(((e.clientX - rect.left) / rect.width) * engine.duration).then(update);
  };

  const peaks = useMemo(() => Object.fromEntries(stems.map((s) => [s.name, computePeaks(s.buffer)])), [stems]);
  // Both waveforms on one scale, so the removed noise is visible.
  const maxPeak = useMemo(() => {
    let m = 0;
    for (const chans of Object.values(peaks)) for (const ch of chans) for (const v of ch) if (v > m) m = v;
    return Math.max(m, 0.05);
  }, [peaks]);

  return (
    <div className="ab" data-testid="ab-player" data-ready={stems.length ? "true" : "false"}>
      <div className="form-row">
        <button type="button" className="btn-primary" onClick={() => void toggle()} disabled={!stems.length} data-testid="ab-play">
          {playing ? "❚❚ Pause" : "▶ Play"}
        </button>
        <div className="ab-switch" role="group" aria-label="Listen to">
          {(["original", "enhanced"] as Side[]).map((s) => (
            <button key={s} type="button" className={side === s ? "on" : ""} aria-pressed={side === s} onClick={() => setSide(s)} data-testid={`ab-${s}`}>
              {s === "original" ? "A · Original" : "B · Enhanced"}
            </button>
          ))}
        </div>
        <span className="time" ref={timeRef}>
          0:00.0
        </span>
        <small className="muted">Switch A/B while playing: the position is kept.</small>
      </div>
      {!stems.length && !error && <ProgressBar value={30} label="Loading audio…" />}
      <ErrorText error={error} />
      {stems.length > 0 && (
        <div className="lanes" ref={box}>
          {stems.map((st) => (
            <div key={st.name} className={`ab-lane ${side === st.name ? "" : "lane-silent"}`}>
              <span className="ab-label">{st.name === "original" ? "A · Original" : "B · Enhanced"}</span>
              <div className="lane-wave" onClick={seek} style={{ cursor: "pointer" }} data-testid={`ab-wave-${st.name}`}>
                <Waveform
                  peaks={peaks[st.name] ?? []}
                  duration={st.buffer.duration}
                  maxPeak={maxPeak}
                  color={st.name === "original" ? "#9aa4b2" : "#ff7a3d"}
                  height={72}
                  testId={`ab-waveform-${st.name}`}
                />
                <div className="playhead" />
              </div>
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
