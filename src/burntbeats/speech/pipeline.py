"""File-level speech enhancement: chunked, time-aligned, optionally parallel.

``enhance_wav`` reads a float WAV at the recording's own rate block by block and runs the
chain  resample to 48 kHz -> engine (delay removed) -> optional rumble high-pass ->
resample to the output rate  (see :mod:`burntbeats.speech.stream`); every stage keeps
sample ``k`` at position ``k``, so the result lines up with the original sample for sample.
Memory is a few seconds of audio whatever the length of the recording.

One model stream runs at about 10-20x realtime on one core. To use several cores the
recording is cut into ``workers`` contiguous *lanes*, each processed by its own thread
(the engines' C code runs without the GIL) with its own model state carried across its
whole lane. A lane starts ``PREROLL_S`` early so that its state has converged by the time
its own part begins (the pre-roll output is thrown away), and lanes are joined with a
short equal-gain raised-cosine cross-fade. Lane outputs go to temporary files, and
:func:`assemble` streams them back as one signal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from burntbeats.speech.base import SpeechEnhancer
from burntbeats.speech.stream import AlignedEnhancer, FIRFilter, LoudnessMeter, Resampler, highpass_taps

PREROLL_S = 6  # whole seconds a lane starts early: DeepFilterNet's feature normalisation (tau 1 s) converges
POSTROLL_S = 1  # whole seconds read past a lane's end (right context for the filters and look-ahead)
CROSSFADE_S = 0.2
MIN_LANE_S = 12  # do not split into lanes shorter than this (2 x pre-roll)
READ_BLOCK_S = 4.0


class Cancelled(Exception):
    """Raised in lanes once the caller asked to stop."""


@dataclass
class Lane:
    index: int
    read_start: int  # input samples (at the input rate)
    read_end: int
    write_start: int  # output samples (at the output rate)
    write_end: int
    path: Path


def plan_lanes(n_in: int, rate_in: int, rate_out: int, workers: int, work_dir: Path) -> list[Lane]:
    """Split [0, n_in) into up to `workers` lanes cut at whole seconds (exact at every rate)."""
    n_out = -(-n_in * rate_out // rate_in)
    seconds = n_in // rate_in
    count = max(1, min(int(workers), seconds // MIN_LANE_S))
    cuts = [round(k * seconds / count) for k in range(1, count)]  # whole seconds
    bounds_in = [0] + [c * rate_in for c in cuts] + [n_in]
    bounds_out = [0] + [c * rate_out for c in cuts] + [n_out]
    xfade = int(round(CROSSFADE_S * rate_out))
    lanes = []
    for k in range(count):
        start_in = bounds_in[k]
        read_start = max(0, start_in - PREROLL_S * rate_in) if k else 0
        read_end = min(n_in, bounds_in[k + 1] + POSTROLL_S * rate_in) if k < count - 1 else n_in
        write_start = bounds_out[k] - xfade if k else 0
        lanes.append(Lane(k, read_start, read_end, write_start, bounds_out[k + 1], work_dir / f"lane{k}.wav"))
    return lanes


class Chain:
    """resample -> enhance -> (high-pass) -> resample, all aligned; (channels, n) blocks in and out."""

    def __init__(self, enhancer: SpeechEnhancer, channels: int, rate_in: int, rate_out: int,
                 highpass_hz: float | None) -> None:
        er = enhancer.sample_rate
        self.stages: list = [Resampler(channels, rate_in, er), AlignedEnhancer(enhancer, channels)]
        if highpass_hz:
            self.stages.append(FIRFilter(channels, highpass_taps(float(highpass_hz), er)))
        self.stages.append(Resampler(channels, er, rate_out))

    def push(self, x: np.ndarray) -> np.ndarray:
        for st in self.stages:
            x = st.push(x)
        return x

    def flush(self) -> np.ndarray:
        out = None
        for st in self.stages:
            parts = [] if out is None else [st.push(out)]
            parts.append(st.flush())
            out = np.concatenate(parts, axis=1)
        return out

    def close(self) -> None:
        for st in self.stages:
            if hasattr(st, "close"):
                st.close()


def _run_lane(lane: Lane, src: Path, enhancer: SpeechEnhancer, channels: int, rate_in: int, rate_out: int,
              highpass_hz: float | None, done: list[int], stop: threading.Event) -> None:
    chain = Chain(enhancer, channels, rate_in, rate_out, highpass_hz)
    # output index of the chain's first sample (read_start is a whole second, so this is exact)
    pos = lane.read_start * rate_out // rate_in
    written = 0
    want = lane.write_end - lane.write_start
    block = int(READ_BLOCK_S * rate_in)

    def emit(y: np.ndarray) -> None:
        nonlocal pos, written
        a = max(0, lane.write_start - pos)
        b = min(y.shape[1], lane.write_end - pos)
        if b > a:
            out.write(y[:, a:b].T)
            written += b - a
        pos += y.shape[1]

    try:
        with sf.SoundFile(src) as f, sf.SoundFile(lane.path, "w", samplerate=rate_out, channels=channels,
                                                    format="WAV", subtype="FLOAT") as out:
            f.seek(lane.read_start)
            left = lane.read_end - lane.read_start
            while left > 0:
                if stop.is_set():
                    raise Cancelled()
                x = f.read(min(block, left), dtype="float32", always_2d=True)
                if not len(x):
                    break
                left -= len(x)
                emit(chain.push(np.ascontiguousarray(x.T)))
                done[lane.index] += len(x)
            emit(chain.flush())
            if written < want:  # never expected; keeps lengths exact whatever happens
                out.write(np.zeros((want - written, channels), dtype=np.float32))
    finally:
        chain.close()


def enhance_wav(
    src: Path,
    work_dir: Path,
    enhancer: SpeechEnhancer,
    *,
    rate_out: int,
    highpass_hz: float | None = None,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
    poll_s: float = 0.25,
) -> list[Lane]:
    """Enhance the float WAV `src` into lane files under `work_dir`; read them back with :func:`assemble`.

    `progress(fraction)` is called from this thread (it may raise to cancel: lanes then stop).
    """
    info = sf.info(str(src))
    rate_in, channels, n_in = int(info.samplerate), int(info.channels), int(info.frames)
    lanes = plan_lanes(n_in, rate_in, rate_out, workers, work_dir)
    total = sum(lane.read_end - lane.read_start for lane in lanes)
    done = [0] * len(lanes)
    stop = threading.Event()
    runner = ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="speech-lane")
    futures: list[Future] = []
    try:
        for lane in lanes:
            futures.append(runner.submit(_run_lane, lane, src, enhancer, channels, rate_in, rate_out,
                                         highpass_hz, done, stop))
        while True:
            finished, pending = wait(futures, timeout=poll_s, return_when=FIRST_EXCEPTION)
            for fut in finished:
                if fut.exception() is not None:
                    raise fut.exception()
            if progress is not None:
                progress(min(1.0, sum(done) / max(1, total)))
            if not pending:
                break
    except BaseException:
        stop.set()
        raise
    finally:
        runner.shutdown(wait=True)
    return lanes


def assemble(lanes: list[Lane], block: int = 1 << 17) -> Iterator[np.ndarray]:
    """The lane files as one (channels, n) block stream, with cross-fades at the joins."""
    held: np.ndarray | None = None
    for k, lane in enumerate(lanes):
        last = k == len(lanes) - 1
        with sf.SoundFile(lane.path) as f:
            n = f.frames
            xfade_next = 0 if last else lanes[k + 1].write_start
            keep_tail = 0 if last else lane.write_end - xfade_next  # samples to cross-fade with the next lane
            body = n - keep_tail
            read = 0
            if held is not None:
                m = held.shape[1]
                head = f.read(m, dtype="float32", always_2d=True).T
                read += m
                w = (0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)).astype(np.float32)
                yield held * (1.0 - w) + head * w
                held = None
            while read < body:
                x = f.read(min(block, body - read), dtype="float32", always_2d=True).T
                if not x.shape[1]:
                    break
                read += x.shape[1]
                yield x
            if keep_tail:
                held = f.read(keep_tail, dtype="float32", always_2d=True).T
    if held is not None:  # pragma: no cover - the last lane never holds a tail
        yield held


def measure_blocks(blocks: Iterator[np.ndarray], rate: int, channels: int) -> tuple[float, float]:
    """(integrated loudness LUFS, sample peak) of a block stream."""
    meter = LoudnessMeter(rate, channels)
    peak = 0.0
    for x in blocks:
        meter.push(x)
        if x.size:
            peak = max(peak, float(np.max(np.abs(x))))
    return meter.integrated(), peak
