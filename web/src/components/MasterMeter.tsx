import { useRef } from "react";
import type { MixerEngine } from "../lib/audioEngine";
import { useAnimationFrame } from "../lib/hooks";

interface Props {
  engine: MixerEngine | null;
  active: boolean;
  /** The clip light: latched on once the master goes over full scale, until clicked. */
  clipped: boolean;
  onClip: (clipped: boolean) => void;
}

/** Peak / RMS meter on the master bus (AnalyserNode), in dBFS from -48 to 0, and a latching clip light. */
export function MasterMeter({ engine, active, clipped, onClip }: Props) {
  const rms = useRef<HTMLDivElement>(null);
  const peak = useRef<HTMLDivElement>(null);
  const hold = useRef(0);
  const latched = useRef(clipped);
  latched.current = clipped;
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
    peak.current.classList.toggle("clip", hold.current > 1);
    rms.current.parentElement!.dataset.peak = m.peak.toFixed(4);
    if (m.peak > 1 && !latched.current) {
      latched.current = true;
      onClip(true);
    }
  });
  return (
    <div className="meter-group">
      <div className="meter" title="Master level (peak and RMS, dBFS)" data-testid="master-meter" data-peak="0">
        <div className="meter-rms" ref={rms} />
        <div className="meter-peak" ref={peak} />
      </div>
      <button
        type="button"
        className={`clip-light ${clipped ? "on" : ""}`}
        data-testid="clip-light"
        data-clipped={clipped ? "true" : "false"}
        aria-pressed={clipped}
        aria-label={clipped ? "Clip: the master went over 0 dBFS. Reset the clip light" : "Clip light: no clipping so far"}
        title={clipped ? "The master clipped (over 0 dBFS). Click to reset." : "Lights up when the master goes over 0 dBFS."}
        onClick={() => onClip(false)}
      >
        CLIP
      </button>
      <span className="visually-hidden" aria-live="polite">
        {clipped ? "The mix is clipping." : ""}
      </span>
    </div>
  );
}
