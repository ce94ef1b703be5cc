// The Web Audio graph both players share: per lane  gain -> StereoPanner -> master gain -> analyser -> speakers.
// The gains follow the mixer rules (mixer.ts: solo / mute, gain, pan); what feeds the lanes is the player's.

import { effectiveGains, type MixState } from "./mixer";

export interface BusLane {
  name: string;
  gain: GainNode;
  panner: StereoPannerNode;
}

/** The graph and the transport calls both players answer the same way (toggle, seek). */
export abstract class MixBus {
  readonly ctx: AudioContext;
  readonly masterGain: GainNode;
  readonly analyser: AnalyserNode;
  protected lanes: BusLane[] = [];
  protected playing = false;
  /** Seconds. */
  duration = 0;

  abstract play(from?: number): Promise<void>;
  abstract pause(): void;
  /** Stand at `t` seconds without playing. */
  protected abstract park(t: number): void;

  get isPlaying(): boolean {
    return this.playing;
  }

  async toggle(): Promise<void> {
    if (this.playing) this.pause();
    else await this.play();
  }

  async seek(time: number): Promise<void> {
    const t = Math.max(0, Math.min(time, this.duration));
    if (this.playing) await this.play(t);
    else this.park(t);
  }

  constructor(ctx: AudioContext) {
    this.ctx = ctx;
    this.masterGain = ctx.createGain();
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.masterGain.connect(this.analyser);
    this.analyser.connect(ctx.destination);
  }

  /** A lane's input (gain -> panner -> master); the old lanes are disconnected. */
  protected makeLane(name: string): BusLane {
    const gain = this.ctx.createGain();
    const panner = this.ctx.createStereoPanner();
    gain.connect(panner).connect(this.masterGain);
    return { name, gain, panner };
  }

  protected dropLanes(): void {
    for (const lane of this.lanes) lane.panner.disconnect();
    this.lanes = [];
  }

  /** Gains and pans of the mix onto the nodes. */
  protected setGains(mix: MixState): void {
    const gains = effectiveGains(mix.stems);
    for (const lane of this.lanes) {
      lane.gain.gain.value = gains[lane.name] ?? 0;
      lane.panner.pan.value = mix.stems[lane.name]?.pan ?? 0;
    }
    this.masterGain.gain.value = mix.master;
  }

  /** What every player's snapshot starts with. */
  protected transportSnapshot(position: number, loop: { start: number; end: number } | null) {
    return {
      state: this.ctx.state,
      playing: this.playing,
      position,
      duration: this.duration,
      sampleRate: this.ctx.sampleRate,
      master: this.masterGain.gain.value,
      loop,
    };
  }

  /** Peak and RMS (linear, 0..1+) of what the master outputs right now. */
  meter(): { peak: number; rms: number } {
    const data = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(data);
    let peak = 0;
    let sum = 0;
    for (const v of data) {
      const a = Math.abs(v);
      if (a > peak) peak = a;
      sum += v * v;
    }
    return { peak, rms: Math.sqrt(sum / data.length) };
  }

  protected async closeContext(): Promise<void> {
    if (this.ctx.state !== "closed") await this.ctx.close();
  }
}

export function sameLoop(a: { start: number; end: number } | null, b: { start: number; end: number } | null): boolean {
  return (a === null && b === null) || (!!a && !!b && a.start === b.start && a.end === b.end);
}
