"""Peak control for a master mix: a look-ahead brick-wall limiter and peak normalisation, both to CEILING.

The limiter (web/src/lib/peakControl.ts is the same arithmetic, for the browser's export):
    r[n] = min(1, CEILING / max_c |x_c[n]|)            the gain sample n needs
    m[n] = min(r[n - HOLD .. n + LOOKAHEAD - 1])       seen LOOKAHEAD frames early, held HOLD frames after
    g[n] = mean(m[n - LOOKAHEAD + 1 .. n])             a LOOKAHEAD-long ramp down and up
    y[n] = g[n] * x[n]
Every m value averaged into g[n] was taken over a window holding n, so g[n] <= r[n]: no output sample goes
over CEILING, and a mix that stays under it is left exactly as it is (g = 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

CEILING_DB = -1.0
CEILING = 10.0 ** (CEILING_DB / 20.0)
LOOKAHEAD_S = 0.005
HOLD_S = 0.05
BLOCK_FRAMES = 65536


def limiter_frames(sample_rate: int) -> tuple[int, int]:
    """(LOOKAHEAD, HOLD) in frames at `sample_rate`."""
    return max(1, round(LOOKAHEAD_S * sample_rate)), max(0, round(HOLD_S * sample_rate))


def window_min(a: np.ndarray, width: int) -> np.ndarray:
    """out[i] = min(a[i : i + width]) for every full window (van Herk / Gil-Werman: O(n) for any width)."""
    n = len(a)
    if width <= 1:
        return a.copy()
    if n < width:
        return np.zeros(0, dtype=a.dtype)
    padded = np.concatenate([a, np.full((-n) % width, np.inf, dtype=a.dtype)]).reshape(-1, width)
    prefix = np.minimum.accumulate(padded, axis=1).ravel()
    suffix = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    i = np.arange(n - width + 1)
    return np.minimum(suffix[i], prefix[i + width - 1])


def needed_gain(block: np.ndarray, ceiling: float = CEILING) -> np.ndarray:
    """r[n] for a (frames, channels) block."""
    peak = np.max(np.abs(block), axis=1) if block.size else np.zeros(len(block))
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, ceiling / np.maximum(peak, 1e-30))


def limiter_gain(r_ext: np.ndarray, lookahead: int, hold: int) -> np.ndarray:
    """g for the frames [s, e) from r over [s - (lookahead - 1) - hold, e + lookahead - 1)."""
    m = window_min(r_ext, hold + lookahead)
    c = np.concatenate([[0.0], np.cumsum(m, dtype=np.float64)])
    return np.minimum(1.0, (c[lookahead:] - c[:-lookahead]) / lookahead)


def limit_file(src: Path, dst: Path, ceiling: float = CEILING, block_frames: int = BLOCK_FRAMES) -> dict:
    """Limit a float WAV into a 16-bit stereo WAV, block by block (memory stays flat). Returns output facts."""
    with sf.SoundFile(str(src)) as f, sf.SoundFile(str(dst), "w", samplerate=f.samplerate, channels=f.channels,
                                                   subtype="PCM_16", format="WAV") as out:
        total, rate = f.frames, f.samplerate
        lookahead, hold = limiter_frames(rate)
        before, after = lookahead - 1 + hold, lookahead - 1
        peak, limited, clipped = 0.0, 0, 0
        for s in range(0, total, block_frames):
            e = min(total, s + block_frames)
            a, b = max(0, s - before), min(total, e + after)
            f.seek(a)
            x = f.read(b - a, dtype="float64", always_2d=True)
            r = np.ones(e - s + before + after)
            r[a - (s - before): a - (s - before) + len(x)] = needed_gain(x, ceiling)
            g = limiter_gain(r, lookahead, hold)
            y = x[s - a: s - a + (e - s)] * g[:, None]
            limited += int(np.count_nonzero(g < 1.0))
            peak = max(peak, float(np.max(np.abs(y))) if len(y) else 0.0)
            clipped += int(np.count_nonzero(np.abs(y) > 1.0))
            out.write(np.clip(y, -1.0, 1.0).astype(np.float32))
    return {"output_peak": round(peak, 4), "output_clipped_samples": clipped, "limited_frames": limited}


def scale_file(src: Path, dst: Path, gain: float, block_frames: int = BLOCK_FRAMES) -> dict:
    """Multiply a float WAV by `gain` into a 16-bit WAV (normalisation). Returns output facts."""
    peak, clipped = 0.0, 0
    with sf.SoundFile(str(src)) as f, sf.SoundFile(str(dst), "w", samplerate=f.samplerate, channels=f.channels,
                                                   subtype="PCM_16", format="WAV") as out:
        while len(block := f.read(block_frames, dtype="float64", always_2d=True)):
            block *= gain
            peak = max(peak, float(np.max(np.abs(block))))
            clipped += int(np.count_nonzero(np.abs(block) > 1.0))
            out.write(np.clip(block, -1.0, 1.0).astype(np.float32))
    return {"output_peak": round(peak, 4), "output_clipped_samples": clipped}
