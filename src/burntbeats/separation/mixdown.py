"""Server-side master export: mix a finished stems job with the web mixer's settings.

The job kind is "stems.export". Its params are
    {"source_job": <stems job id>, "format": "wav" | "mp3", "master_gain": float,
     "stems": {name: {"gain": float, "pan": float, "mute": bool, "solo": bool}}}
Its inputs are the source job's stems, linked into its own space at submission as `sources/<stem>.wav`
(it never reads another job's folder); it writes `mix.wav` (and `mix.mp3` when asked) into its own folder.

The arithmetic is the browser's, so "render on server" sounds like "render in the browser":
- solo / mute: a stem is heard when it is not muted and (no stem is soloed or it is soloed);
  mute always wins (web/src/lib/mixer.ts `isAudible`).
- pan: the Web Audio StereoPannerNode's equal-power law (Web Audio spec, "StereoPannerNode
  panning algorithm"), both for mono and stereo stems (web/src/lib/mixer.ts `panMatrix`).
- gain: stem gain, then the master gain, then clipped to [-1, 1] and written as 16-bit PCM.
- peak control (optional, as the browser's export): "limit" = the look-ahead limiter of
  burntbeats.audio.limiter to -1 dBFS, "normalize" = one gain that puts the peak at -1 dBFS. Both mix into a
  float WAV first, then write the 16-bit file from it.

The stems are streamed in blocks with soundfile, so memory stays flat in song length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from burntbeats.audio.limiter import CEILING, CEILING_DB, limit_file, scale_file
from burntbeats.jobs.context import JobContext, JobError

MIX_BASENAME = "mix"
SOURCES_SUBDIR = "sources"  # the stems to mix, linked in from the source job at submission
BLOCK_FRAMES = 65536
MAX_GAIN = 4.0
PEAK_CONTROLS = ("off", "limit", "normalize")


@dataclass(frozen=True)
class StemMix:
    gain: float = 1.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False

    @classmethod
    def from_dict(cls, raw: Mapping | None) -> StemMix:
        raw = raw or {}
        return cls(
            gain=float(min(MAX_GAIN, max(0.0, float(raw.get("gain", 1.0))))),
            pan=float(min(1.0, max(-1.0, float(raw.get("pan", 0.0))))),
            mute=bool(raw.get("mute", False)),
            solo=bool(raw.get("solo", False)),
        )


def is_audible(stem: StemMix, any_solo: bool) -> bool:
    """Mute always wins; when any stem is soloed only soloed stems are heard."""
    return not stem.mute and (not any_solo or stem.solo)


def effective_gains(stems: Mapping[str, StemMix]) -> dict[str, float]:
    any_solo = any(s.solo for s in stems.values())
    return {name: (s.gain if is_audible(s, any_solo) else 0.0) for name, s in stems.items()}


def pan_matrix(pan: float, channels: int) -> np.ndarray:
    """2x2 (stereo in) or 1x2 (mono in) matrix M with out[L, R] = in @ M, as StereoPannerNode does.

    Rows are input channels, columns are output channels.
    """
    pan = min(1.0, max(-1.0, float(pan)))
    if channels == 1:
        x = (pan + 1.0) / 2.0
        return np.array([[math.cos(x * math.pi / 2), math.sin(x * math.pi / 2)]], dtype=np.float64)
    if pan <= 0:
        x = pan + 1.0
        gain_l, gain_r = math.cos(x * math.pi / 2), math.sin(x * math.pi / 2)
        # outL = inL + inR * gainL ; outR = inR * gainR
        return np.array([[1.0, 0.0], [gain_l, gain_r]], dtype=np.float64)
    x = pan
    gain_l, gain_r = math.cos(x * math.pi / 2), math.sin(x * math.pi / 2)
    # outL = inL * gainL ; outR = inR + inL * gainR
    return np.array([[gain_l, gain_r], [0.0, 1.0]], dtype=np.float64)


def mix_files(
    sources: Mapping[str, Path],
    settings: Mapping[str, StemMix],
    master_gain: float,
    out_path: Path,
    *,
    block_frames: int = BLOCK_FRAMES,
    progress: Callable[[float], None] | None = None,
    peak_control: str = "off",
) -> dict:
    """Mix the stem files into a stereo 16-bit WAV at `out_path`, block by block. Returns facts about the mix:
    `peak` / `clipped_samples` of the mix itself, `output_peak` / `output_clipped_samples` of the file."""
    if not sources:
        raise JobError("There are no stems to mix.")
    if peak_control not in PEAK_CONTROLS:
        raise JobError(f"peak_control must be one of {', '.join(PEAK_CONTROLS)}.")
    mix_path = out_path if peak_control == "off" else out_path.with_name(f".{out_path.stem}.float.wav")
    gains = effective_gains({name: settings.get(name, StemMix()) for name in sources})
    master = min(MAX_GAIN, max(0.0, float(master_gain)))
    with ExitStack() as stack:
        files = {name: stack.enter_context(sf.SoundFile(str(path), "r")) for name, path in sources.items()}
        rates = {f.samplerate for f in files.values()}
        if len(rates) != 1:
            raise JobError("The stems have different sample rates and cannot be mixed.")
        rate = rates.pop()
        total = max(f.frames for f in files.values())
        # Silent stems are not read at all.
        active = {
            name: (f, gains[name] * pan_matrix(settings.get(name, StemMix()).pan, f.channels))
            for name, f in files.items()
            if gains[name] > 0.0 and f.channels in (1, 2)
        }
        out_path.parent.mkdir(parents=True, exist_ok=True)
        peak = 0.0
        clipped = 0
        subtype = "PCM_16" if peak_control == "off" else "FLOAT"
        with sf.SoundFile(str(mix_path), "w", samplerate=rate, channels=2, subtype=subtype, format="WAV") as out:
            done = 0
            while done < total:
                n = min(block_frames, total - done)
                acc = np.zeros((n, 2), dtype=np.float64)
                for f, matrix in active.values():
                    block = f.read(n, dtype="float64", always_2d=True)
                    if len(block):
                        acc[: len(block)] += block @ matrix
                acc *= master
                peak = max(peak, float(np.max(np.abs(acc))) if n else 0.0)
                clipped += int(np.count_nonzero(np.abs(acc) > 1.0))
                if peak_control == "off":
                    np.clip(acc, -1.0, 1.0, out=acc)
                out.write(acc.astype(np.float32))
                done += n
                if progress:
                    progress(done / total if total else 1.0)
    output: dict = {"output_peak": round(min(peak, 1.0), 4), "output_clipped_samples": clipped}
    if peak_control != "off":
        try:
            if peak_control == "limit":
                output = limit_file(mix_path, out_path)
            else:
                gain = CEILING / peak if peak > 0 else 1.0
                output = {**scale_file(mix_path, out_path, gain), "normalize_gain_db": round(20 * math.log10(gain), 2)}
        finally:
            mix_path.unlink(missing_ok=True)
    return {
        "sample_rate": rate,
        "frames": total,
        "duration_s": round(total / rate, 3) if rate else 0.0,
        "peak": round(peak, 4),
        "clipped_samples": clipped,
        "peak_control": peak_control,
        "ceiling_db": CEILING_DB if peak_control != "off" else None,
        **output,
        "gains": {name: round(g, 4) for name, g in gains.items()},
    }


def run_export(ctx: JobContext) -> dict:
    """Job handler for "stems.export"."""
    source_id = str(ctx.params.get("source_job", ""))
    fmt = str(ctx.params.get("format", "wav"))
    if fmt not in ("wav", "mp3"):
        raise JobError("The export format must be wav or mp3.")
    names = [str(n) for n in ctx.params.get("stem_names", [])]
    sources = {name: ctx.input_file(f"{SOURCES_SUBDIR}/{name}.wav") for name in names}
    missing = [name for name, path in sources.items() if not path.exists()]
    if not sources or missing:
        raise JobError("The source job's stems have expired or were removed; split the song again.")
    settings = {name: StemMix.from_dict((ctx.params.get("stems") or {}).get(name)) for name in names}

    ctx.progress("mixing", 0)
    wav_path = ctx.job_dir / f"{MIX_BASENAME}.wav"
    facts = mix_files(
        sources, settings, float(ctx.params.get("master_gain", 1.0)), wav_path,
        progress=ctx.sub_progress("mixing", 0, 85 if fmt == "mp3" else 100),
        peak_control=str(ctx.params.get("peak_control", "off")),
    )
    if fmt == "mp3":
        from burntbeats.audio import transcode

        ctx.progress("encoding", 85)
        transcode(wav_path, ctx.job_dir / f"{MIX_BASENAME}.mp3", fmt="mp3")
    ctx.progress("done", 100)
    return {
        "engine": "mixdown",
        "source_job": source_id,
        "format": fmt,
        "file": f"{MIX_BASENAME}.{fmt}",
        **facts,
    }
