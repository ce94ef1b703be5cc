import { useRef } from "react";
import type { MixerEngine } from "../lib/audioEngine";
import { useAnimationFrame } from "../lib/hooks";

/** Peak / RMS meter on the master bus (AnalyserNode), in dBFS from -48 to 0. */
export function MasterMeter({ engine, active }: { engine: MixerEngine | null; active: boolean }) {
  const rms = useRef<HTMLDivElement>(null);
  const peak = useRef<HTMLDivElement>(null);
  const hold = useRef(0);
  const toPct = (v: number) => {
    const db = v > 0 ? 20 * Math.log10(v) : -Infinity;
    return Math.max(0, Math.min(100, ((db + 48) / 48) * 100));
  };
  useAnimationFrame(!!engine, () => {
    if (!engine || !rms.current || !peak.current) return;
    const m = active ? engine.meter() : { peak: 0, rms: 0 };
    hold.current = Math.max(m.peak, hold.current * 0.95);
    rms.current.style.width = `${toPct(m.rms)}%`;
    peak.current.style.left = `${toPct(hold.current)}%`;
    peak.current.classList.toggle("clip", hold.current >= 1);
    rms.current.parentElement!.dataset.peak = m.peak.toFixed(4);
  });
  return (
    <div className="meter" title="Master level (peak and RMS, dBFS)" data-testid="master-meter" data-peak="0">
      <div className="meter-rms" ref={rms} />
      <div className="meter-peak" ref={peak} />
    </div>
  );
}
