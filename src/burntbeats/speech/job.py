"""The speech-enhancement job: decode -> enhance (chunked, aligned) -> loudness -> write. API and CLI share it.

Outputs, in ``<job_dir>/speech/``:

* ``enhanced.wav`` - the cleaned recording, sample-aligned with the original, at the output
  rate (the original's by default) and channel layout (mono by default);
* ``original.wav`` - the original decoded at the same rate and channel layout, for A/B
  listening (switching between the two at any point lands on the same sample).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from burntbeats.audio import decode_to_wav, probe
from burntbeats.jobs.context import JobContext, JobError
from burntbeats.speech.engines import ENGINE_CHOICES, EngineUnavailable, normalise_engine, select_enhancer
from burntbeats.speech.pipeline import assemble, enhance_wav, measure_blocks
from burntbeats.speech.stream import LoudnessMeter, PeakLimiter, Resampler

SPEECH_SUBDIR = "speech"
FILES = ("enhanced", "original")
OUTPUT_RATES = ("original", "48000")
CHANNEL_MODES = ("mono", "keep")
LOUDNESS_RANGE = (-40.0, -5.0)
HIGHPASS_RANGE = (20.0, 300.0)
ATTEN_RANGE = (1.0, 100.0)
PEAK_CEILING_DB = -1.0  # loudness normalisation never pushes samples above this


@dataclass
class EnhanceParams:
    engine: str = "balanced"  # fast | balanced | best (engine names accepted, normalised)
    atten_limit_db: float | None = None
    sample_rate: str = "original"  # "original" | "48000"
    channels: str = "keep"  # "keep" (mono stays mono, stereo stays stereo) | "mono" (down-mix)
    loudness_lufs: float | None = None
    highpass_hz: float | None = None
    bit_depth: int = 16

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _opt_float(params: dict, key: str, lo: float, hi: float, what: str) -> float | None:
    value = params.get(key)
    if value is None or value == "" or (isinstance(value, str) and value.lower() in ("none", "off")):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise JobError(f"{what} must be a number between {lo:g} and {hi:g}.") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise JobError(f"{what} must be between {lo:g} and {hi:g} (got {value}).")
    return v


def parse_params(params: dict) -> EnhanceParams:
    """Validate job parameters (from the API form or the CLI); JobError with a sentence if bad."""
    try:
        engine = normalise_engine(params.get("engine") or params.get("quality"))
    except ValueError:
        raise JobError(f"Unknown engine {params.get('engine')!r}. Use one of: {', '.join(ENGINE_CHOICES)}.") from None
    rate = str(params.get("sample_rate") or "original").lower()
    if rate in ("48k", "48khz"):
        rate = "48000"
    if rate not in OUTPUT_RATES:
        raise JobError("sample_rate must be 'original' or 48000.")
    channels = str(params.get("channels") or "keep").lower()
    if channels not in CHANNEL_MODES:
        raise JobError("channels must be 'mono' or 'keep'.")
    hp = _opt_float(params, "highpass_hz", 0.0, HIGHPASS_RANGE[1], "The high-pass frequency (Hz)")
    if hp is not None and hp == 0:
        hp = None
    if hp is not None and hp < HIGHPASS_RANGE[0]:
        raise JobError(f"The high-pass frequency must be 0 (off) or between {HIGHPASS_RANGE[0]:g} and "
                       f"{HIGHPASS_RANGE[1]:g} Hz.")
    try:
        bit_depth = int(params.get("bit_depth", 16))
    except (TypeError, ValueError):
        bit_depth = -1
    if bit_depth not in (16, 24):
        raise JobError("bit_depth must be 16 or 24.")
    return EnhanceParams(
        engine=engine,
        atten_limit_db=_opt_float(params, "atten_limit_db", *ATTEN_RANGE, "The attenuation limit (dB)"),
        sample_rate=rate,
        channels=channels,
        loudness_lufs=_opt_float(params, "loudness_lufs", *LOUDNESS_RANGE, "The loudness target (LUFS)"),
        highpass_hz=hp,
        bit_depth=bit_depth,
    )


def _workers(ctx: JobContext, parallel: bool) -> int:
    if not parallel:
        return 1
    configured = getattr(ctx.settings, "speech_workers", None)
    return max(1, int(configured or min(2, os.cpu_count() or 1)))


def _limited(blocks: Iterator[np.ndarray], limiter: PeakLimiter, meter: LoudnessMeter) -> Iterator[np.ndarray]:
    for x in blocks:
        y = limiter.push(x)
        meter.push(y)
        yield y
    y = limiter.flush()
    meter.push(y)
    yield y


def _write_pcm(blocks: Iterator[np.ndarray], path: Path, rate: int, channels: int, bit_depth: int) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    try:
        with sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, format="WAV",
                          subtype="PCM_16" if bit_depth == 16 else "PCM_24") as out:
            for x in blocks:
                out.write(np.clip(x, -1.0, 1.0).T)
                n += x.shape[1]
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def _wav_blocks(path: Path, block: int = 1 << 17) -> Iterator[np.ndarray]:
    with sf.SoundFile(path) as f:
        while True:
            x = f.read(block, dtype="float32", always_2d=True)
            if not len(x):
                return
            yield np.ascontiguousarray(x.T)


def _resampled_blocks(path: Path, rate_out: int) -> Iterator[np.ndarray]:
    info = sf.info(str(path))
    rs = Resampler(int(info.channels), int(info.samplerate), rate_out)
    for x in _wav_blocks(path):
        y = rs.push(x)
        if y.shape[1]:
            yield y
    yield rs.flush()


def run_enhance(ctx: JobContext) -> dict:
    p = parse_params(ctx.params)
    if ctx.input_path is None:
        raise JobError("This job has no input audio (its files may have expired).")
    try:
        choice = select_enhancer(p.engine, p.atten_limit_db)
    except (EngineUnavailable, OSError) as exc:
        raise JobError(f"No speech enhancement engine can run on this machine ({exc}).") from exc
    enhancer = choice.enhancer

    work = ctx.job_dir / "work"
    out_dir = ctx.job_dir / SPEECH_SUBDIR
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        # ---- decode at the recording's own rate (no resampling yet: alignment stays in our hands)
        ctx.progress("decoding", 0)
        known = ctx.params.get("input") or {}
        if known.get("sample_rate") and known.get("channels"):
            src_rate, src_channels = int(known["sample_rate"]), int(known["channels"])
        else:
            info = probe(ctx.input_path, ctx.settings.max_duration_s)
            src_rate, src_channels = info.sample_rate, info.channels
        channels = 1 if p.channels == "mono" else min(2, src_channels)
        native = work / "native.wav"
        source = decode_to_wav(ctx.input_path, native, sample_rate=src_rate, channels=channels,
                               max_duration_s=ctx.settings.max_duration_s,
                               progress=ctx.sub_progress("decoding", 0, 8))
        out_rate = src_rate if p.sample_rate == "original" else 48000
        n_native = sf.info(str(native)).frames
        seconds = n_native / src_rate

        # ---- enhance (lanes in parallel threads)
        ctx.progress("enhancing", 8)
        workers = _workers(ctx, choice.parallel)
        started = time.monotonic()
        lanes = enhance_wav(native, work, enhancer, rate_out=out_rate, highpass_hz=p.highpass_hz,
                            workers=workers, progress=ctx.sub_progress("enhancing", 8, 88))
        elapsed = time.monotonic() - started

        # ---- loudness: measure, then gain + look-ahead peak limiter while writing
        loudness = None
        blocks: Iterator[np.ndarray] = assemble(lanes)
        out_meter = None
        if p.loudness_lufs is not None:
            ctx.progress("measuring loudness", 88)
            measured, peak = measure_blocks(assemble(lanes), out_rate, channels)
            if math.isfinite(measured):
                gain_db = p.loudness_lufs - measured
                if peak * 10 ** (gain_db / 20) > 10 ** (PEAK_CEILING_DB / 20):
                    # the limiter will shave some loudness off: measure how much once and compensate
                    ctx.progress("measuring loudness", 90)
                    probe_meter = LoudnessMeter(out_rate, channels)
                    for _ in _limited(assemble(lanes), PeakLimiter(channels, out_rate, 10 ** (gain_db / 20),
                                                                   PEAK_CEILING_DB), probe_meter):
                        pass
                    achieved = probe_meter.integrated()
                    if math.isfinite(achieved):
                        gain_db += min(6.0, max(0.0, p.loudness_lufs - achieved))
                out_meter = LoudnessMeter(out_rate, channels)
                blocks = _limited(assemble(lanes), PeakLimiter(channels, out_rate, 10 ** (gain_db / 20),
                                                               PEAK_CEILING_DB), out_meter)
                loudness = {"target_lufs": p.loudness_lufs, "measured_lufs": round(measured, 2),
                            "gain_db": round(gain_db, 2), "peak_ceiling_db": PEAK_CEILING_DB}
            else:
                loudness = {"target_lufs": p.loudness_lufs, "measured_lufs": None, "gain_db": 0.0,
                            "note": "The enhanced audio is silent (or too short to measure): no gain was applied."}

        # ---- write the outputs
        ctx.progress("writing", 92)
        n_out = _write_pcm(blocks, out_dir / "enhanced.wav", out_rate, channels, p.bit_depth)
        if out_meter is not None and loudness is not None:
            achieved = out_meter.integrated()
            loudness["output_lufs"] = round(achieved, 2) if math.isfinite(achieved) else None
        ctx.progress("writing", 96)
        originals = _wav_blocks(native) if out_rate == src_rate else _resampled_blocks(native, out_rate)
        n_orig = _write_pcm(originals, out_dir / "original.wav", out_rate, channels, p.bit_depth)
        if n_orig != n_out:  # pragma: no cover - both paths are exact by construction
            raise RuntimeError(f"length mismatch: enhanced {n_out}, original {n_orig}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ctx.progress("done", 100)
    return {
        "engine": enhancer.name,
        "model": enhancer.model,
        "engine_note": choice.note,
        # DeepFilterNet (its C library or onnxruntime's CPU provider) and RNNoise run no torch: DEVICE does not
        # apply, they always run on the CPU.
        "device": "cpu",
        "quality": choice.quality,
        "files": list(FILES),
        "sample_rate": out_rate,
        "channels": channels,
        "samples": n_out,
        "duration_s": round(seconds, 3),
        "bit_depth": p.bit_depth,
        "atten_limit_db": enhancer.atten_limit_db,  # the limit applied (the engine's default if none was given)
        "highpass_hz": p.highpass_hz,
        "loudness": loudness,
        "delay_compensated_samples": enhancer.delay,
        "workers": len(lanes),
        "realtime_factor": round(seconds / max(elapsed, 1e-6), 1),
        "input_downmix": source.downmix,  # e.g. "5.1 input was downmixed to stereo." (None: no downmix)
        "settings": p.as_dict(),
        "source": {
            "format": source.format,
            "codec": source.codec,
            "sample_rate": source.sample_rate,
            "channels": source.channels,
        },
    }
