"""Chunked driver: run any `Separator` over a long file (or array) in overlapping blocks.

The input is read one block at a time (never the whole file), each block is separated,
consecutive blocks are crossfaded over their overlap with weights that sum to one, and
the stems are written incrementally, so memory stays flat in song length and the stems
still add up to the mix (each block's stems do, and so does any convex combination).

    blocks:   [----- 0 -----]
                        [----- 1 -----]
                                  [----- 2 ---]
    weights:  1 1 1 1 1 1 \\___/ 1 1 1 \\___/ 1 1      (fade-out + fade-in = 1)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import soundfile as sf

from burntbeats.separation.base import ProgressFn, Separator, stem_names

# Files whose float32 data would pass the 4 GiB RIFF limit are written as RF64.
_RIFF_LIMIT = 4 * 1024**3 - 1024 * 1024


def plan_segments(n: int, segment: int, overlap: int) -> list[tuple[int, int]]:
    """Split [0, n) into blocks of at most `segment` samples, consecutive ones sharing
    `overlap` samples; the blocks are as even as possible (no tiny last block). The
    overlap is shortened if needed so that only neighbouring blocks overlap."""
    if n <= 0:
        return []
    if segment <= 0:
        raise ValueError("segment must be positive")
    overlap = max(0, min(overlap, segment - 1))
    if n <= segment:
        return [(0, n)]
    count = math.ceil((n - overlap) / (segment - overlap))
    stride = math.ceil((n - overlap) / count)
    overlap = min(overlap, stride)  # only neighbouring blocks may overlap
    out = []
    for i in range(count):
        start = i * stride
        stop = n if i == count - 1 else min(n, start + stride + overlap)
        out.append((start, stop))
    return out


def _fade_in(length: int) -> np.ndarray:
    """Raised-cosine fade-in of `length` samples; 1 - fade_in is the matching fade-out."""
    t = (np.arange(length, dtype=np.float64) + 0.5) / length
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def _blocks(
    engine: Separator,
    n: int,
    read: Callable[[int, int], np.ndarray],
    stems: int,
    progress: ProgressFn | None,
    segment_s: float | None,
    overlap_s: float | None,
    run: Callable[[np.ndarray, int, int, ProgressFn | None], dict[str, np.ndarray]] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield, in order, consecutive finished pieces {stem: (C, m) float32} covering [0, n).

    run(block, start, stop, progress) separates one block (default: engine.separate)."""
    names = stem_names(stems)
    sr = int(engine.sample_rate)
    seg_s = float(segment_s if segment_s is not None else engine.segment_s)
    ovl_s = float(overlap_s if overlap_s is not None else engine.overlap_s)
    if seg_s <= 0 or ovl_s < 0:
        raise ValueError("segment_s must be > 0 and overlap_s >= 0")
    if ovl_s >= seg_s:
        raise ValueError(f"overlap_s ({ovl_s}) must be shorter than segment_s ({seg_s})")
    segments = plan_segments(n, max(1, int(round(seg_s * sr))), int(round(ovl_s * sr)))
    count = len(segments)

    last = [0.0]

    def report(value: float) -> None:
        if progress is None:
            return
        value = min(1.0, max(last[0], value))
        if value > last[0] or value == 1.0:
            last[0] = value
            progress(value)

    tail: dict[str, np.ndarray] | None = None
    for i, (start, stop) in enumerate(segments):
        block = read(start, stop)
        sub = None if progress is None else (lambda p, i=i: report((i + min(max(float(p), 0.0), 1.0) * 0.999) / count))
        out = engine.separate(block, stems, sub) if run is None else run(block, start, stop, sub)
        length = stop - start
        for name in names:
            if name not in out:
                raise RuntimeError(f"engine {engine.name!r} returned no {name!r} stem")
            if out[name].shape != block.shape:
                raise RuntimeError(
                    f"engine {engine.name!r} returned {name!r} with shape {out[name].shape}, expected {block.shape}")
        ov_prev = 0 if i == 0 else segments[i - 1][1] - start
        ov_next = 0 if i == count - 1 else stop - segments[i + 1][0]
        piece: dict[str, np.ndarray] = {}
        w = _fade_in(ov_prev) if ov_prev > 0 else None
        for name in names:
            y = np.asarray(out[name], dtype=np.float32)
            parts = []
            if ov_prev > 0:
                prev = tail[name]
                parts.append(prev + (y[:, :ov_prev] - prev) * w)
            parts.append(y[:, ov_prev : length - ov_next])
            piece[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        tail = None
        if ov_next > 0:
            tail = {name: np.array(out[name][:, length - ov_next :], dtype=np.float32) for name in names}
        del out, block
        yield piece
        report((i + 1) / count)
    if count == 0:
        report(1.0)


def _as_engine_input(block: np.ndarray) -> np.ndarray:
    """(frames, channels) from soundfile -> (2, frames) float32 (mono is duplicated)."""
    block = np.ascontiguousarray(block.T, dtype=np.float32)
    if block.shape[0] == 1:
        block = np.repeat(block, 2, axis=0)
    return block


def separate_file(
    engine: Separator,
    wav_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    stems: int,
    progress: ProgressFn | None = None,
    segment_s: float | None = None,
    overlap_s: float | None = None,
) -> dict[str, Path]:
    """Separate a WAV file at the engine's sample rate into `out_dir/{stem}.wav` (float32).

    The file is read and the stems written block by block; mono input is treated as
    stereo (both channels). `progress(fraction)` gets the fraction of blocks done (and
    finer steps from the engine), non-decreasing, ending at 1.0; an exception it raises
    cancels the run and propagates (no partial stem files are left behind).
    """
    names = stem_names(stems)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    finals = {name: out_dir / f"{name}.wav" for name in names}
    temps = {name: out_dir / f".{name}.wav.part" for name in names}
    try:
        with ExitStack() as stack:
            src = stack.enter_context(sf.SoundFile(str(wav_path), "r"))
            if src.samplerate != engine.sample_rate:
                raise ValueError(f"{wav_path}: sample rate {src.samplerate} Hz, "
                                 f"engine {engine.name!r} needs {engine.sample_rate} Hz")
            if src.channels not in (1, 2):
                raise ValueError(f"{wav_path}: {src.channels} channels; expected mono or stereo")
            n = src.frames
            fmt = "RF64" if n * 2 * 4 > _RIFF_LIMIT else "WAV"
            writers = {
                name: stack.enter_context(
                    sf.SoundFile(str(temps[name]), "w", engine.sample_rate, 2, subtype="FLOAT", format=fmt))
                for name in names
            }

            def read(start: int, stop: int) -> np.ndarray:
                src.seek(start)
                block = src.read(stop - start, dtype="float32", always_2d=True)
                if block.shape[0] != stop - start:
                    raise OSError(f"{wav_path}: short read at frame {start}")
                return _as_engine_input(block)

            for piece in _blocks(engine, n, read, stems, progress, segment_s, overlap_s):
                for name in names:
                    writers[name].write(np.ascontiguousarray(piece[name].T))
    except BaseException:
        for path in temps.values():
            path.unlink(missing_ok=True)
        raise
    for name in names:
        os.replace(temps[name], finals[name])
    return finals


def separate_array(
    engine: Separator,
    audio: np.ndarray,
    stems: int,
    progress: ProgressFn | None = None,
    segment_s: float | None = None,
    overlap_s: float | None = None,
    sample_rate: int | None = None,
) -> dict[str, np.ndarray]:
    """In-memory version of `separate_file`: audio (channels, samples) -> {stem: float32 array of the
    same shape}, with the same chunking. `sample_rate`: the audio's rate when it is not the engine's;
    it is resampled to the engine's rate (soxr HQ), separated, and the stems resampled back, the last
    stem being the mix minus the others so that they still add up to it exactly."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] not in (1, 2):
        raise ValueError(f"audio must be (channels, samples) with 1 or 2 channels, got {x.shape}")
    if sample_rate is not None and int(sample_rate) != int(engine.sample_rate):
        return _resampled(engine, x, int(sample_rate), stems, progress, segment_s, overlap_s)
    channels, n = x.shape

    def read(start: int, stop: int) -> np.ndarray:
        block = x[:, start:stop]
        return np.repeat(block, 2, axis=0) if channels == 1 else np.ascontiguousarray(block)

    return _gather(_blocks(engine, n, read, stems, progress, segment_s, overlap_s), stem_names(stems), channels, n)


def _gather(pieces: Iterator[dict[str, np.ndarray]], names, channels: int, n: int) -> dict[str, np.ndarray]:
    """`_blocks`' consecutive pieces -> {stem: (channels, n) float32}; a mono result is the mean of the two
    channels the engine was given."""
    result = {name: np.empty((channels, n), dtype=np.float32) for name in names}
    pos = 0
    for piece in pieces:
        m = piece[names[0]].shape[1]
        for name in names:
            y = piece[name]
            result[name][:, pos : pos + m] = y.mean(axis=0, keepdims=True) if channels == 1 else y
        pos += m
    return result


def split_given_vocals(engine, mix: np.ndarray, vocals: np.ndarray,
                       progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
    """`separate_array`'s chunking for a second stage that knows the vocals (the Spleeter hybrid):
    (2, n) mix and vocals -> the 4 stems; each block goes to engine.split_given_vocals(mix block,
    vocals block, progress)."""
    x = np.ascontiguousarray(mix, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 2 or np.shape(vocals) != x.shape:
        raise ValueError(f"mix and vocals must both be (2, samples), got {x.shape} and {np.shape(vocals)}")
    n = x.shape[1]

    def run(block: np.ndarray, start: int, stop: int, sub: ProgressFn | None) -> dict[str, np.ndarray]:
        return engine.split_given_vocals(block, vocals[:, start:stop], sub)

    return _gather(_blocks(engine, n, lambda a, b: x[:, a:b], 4, progress, None, None, run), stem_names(4), 2, n)


def _resampled(engine, x: np.ndarray, rate: int, stems: int, progress, segment_s, overlap_s) -> dict[str, np.ndarray]:
    import soxr

    if rate <= 0:
        raise ValueError("sample_rate must be positive")
    sr = int(engine.sample_rate)
    inner = soxr.resample(np.ascontiguousarray(x.T), rate, sr, quality="HQ").T
    out = separate_array(engine, inner, stems, progress, segment_s, overlap_s)
    names = stem_names(stems)
    n = x.shape[1]
    result = {}
    for name in names[:-1]:
        y = soxr.resample(np.ascontiguousarray(out[name].T), sr, rate, quality="HQ").T
        fit = np.zeros_like(x)
        fit[:, : min(n, y.shape[1])] = y[:, :n]
        result[name] = fit
    result[names[-1]] = x - sum(result.values())
    return result
