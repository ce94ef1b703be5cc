// A small Web Audio synth to hear the piano roll: one triangle oscillator + envelope per note.

import { midiToHz, type Note } from "./pianoRoll";

export interface SynthPlayback {
  startedAt: number;
  from: number;
  stop: () => void;
  position: () => number;
}

export function playNotes(ctx: AudioContext, notes: readonly Note[], from = 0, volume = 0.25): SynthPlayback {
  const out = ctx.createGain();
  out.gain.value = volume;
  out.connect(ctx.destination);
  const startedAt = ctx.currentTime + 0.05;
  const oscs: OscillatorNode[] = [];
  for (const n of notes) {
    if (n.end <= from) continue;
    const t0 = startedAt + Math.max(0, n.start - from);
    const t1 = startedAt + (n.end - from);
    const osc = ctx.createOscillator();
    osc.type = "triangle";
    osc.frequency.value = midiToHz(n.pitch);
    const env = ctx.createGain();
    const peak = (n.velocity / 127) * 0.6;
    env.gain.setValueAtTime(0, t0);
    env.gain.linearRampToValueAtTime(peak, t0 + 0.01);
    env.gain.setTargetAtTime(peak * 0.6, t0 + 0.01, 0.1);
    env.gain.setTargetAtTime(0, t1, 0.03);
    osc.connect(env).connect(out);
    osc.start(t0);
    osc.stop(t1 + 0.2);
    oscs.push(osc);
  }
  return {
    startedAt,
    from,
    stop: () => {
      for (const o of oscs) {
        try {
          o.stop();
        } catch {
          /* already stopped */
        }
      }
      out.disconnect();
    },
    position: () => from + Math.max(0, ctx.currentTime - startedAt),
  };
}

/** A short preview blip for one pitch (when a note is added or moved). */
export function previewPitch(ctx: AudioContext, pitch: number, velocity = 100): void {
  playNotes(ctx, [{ id: 0, pitch, start: 0, end: 0.18, velocity }], 0, 0.2);
}
