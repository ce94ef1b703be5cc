import { useEffect, useRef, useState } from "react";
import WaveSurfer from "wavesurfer.js";

interface Props {
  peaks: Float32Array[];
  duration: number;
  color: string;
  height?: number;
  /** Scale so this peak fills the height (shared by lanes so their sizes compare); default: own peak. */
  maxPeak?: number;
  testId?: string;
}

/** Draws a waveform from pre-computed peaks with wavesurfer.js. It never plays audio. */
export function Waveform({ peaks, duration, color, height = 72, maxPeak, testId }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [drawn, setDrawn] = useState(false);

  useEffect(() => {
    if (!box.current || !peaks.length || !(duration > 0)) return;
    setDrawn(false);
    const ws = WaveSurfer.create({
      container: box.current,
      peaks,
      duration,
      height,
      waveColor: color,
      progressColor: color,
      cursorWidth: 0,
      interact: false,
      normalize: true,
      maxPeak: maxPeak && maxPeak > 0 ? maxPeak : undefined,
      barWidth: 2,
      barGap: 1,
      barRadius: 1,
      hideScrollbar: true,
    });
    const off = ws.on("redrawcomplete", () => setDrawn(true));
    return () => {
      off();
      ws.destroy();
    };
  }, [peaks, duration, color, height, maxPeak]);

  return <div ref={box} className="waveform" data-testid={testId} data-drawn={drawn ? "true" : "false"} style={{ height }} />;
}
