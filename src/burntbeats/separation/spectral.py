"""Building blocks of the built-in DSP engine (`separation.dsp`): exact running medians, the STFT
pair, the separation cues (repeating background, centre channel) and a multichannel Wiener filter.

Medians are the costly part. They are computed with vectorised median-selection networks
(a pruned Batcher odd-even merge network, applied with numpy minimum/maximum on shifted
views in cache-sized blocks), which is exact and several times faster than
``scipy.ndimage.median_filter`` for these kernel sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, uniform_filter1d

EPS = 1e-10


# --------------------------------------------------------------------------- medians


def _batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Comparators of Batcher's odd-even merge sort for n (a power of two) wires."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@cache
def median_network(k: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """A comparator network selecting the median of k (odd) values.

    Batcher's network for the next power of two, restricted to the first k wires (the
    others would hold +inf and never move), then pruned backwards to the comparators that
    can influence the middle wire. Each entry is (lo, hi, need_min, need_max).
    """
    if k < 1 or k % 2 == 0:
        raise ValueError("median kernel must be odd")
    n = 1
    while n < k:
        n *= 2
    comps = [(a, b) for a, b in _batcher_pairs(n) if b < k]
    need = {k // 2}
    kept = []
    for a, b in reversed(comps):
        need_min, need_max = a in need, b in need
        if need_min or need_max:
            kept.append((a, b, need_min, need_max))
            need.add(a)
            need.add(b)
    kept.reverse()
    return tuple(kept)


def median_of(wires: list[np.ndarray]) -> np.ndarray:
    """Element-wise median of an odd number of same-shaped arrays."""
    w = list(wires)
    for a, b, need_min, need_max in median_network(len(w)):
        x, y = w[a], w[b]
        if need_min and need_max:
            w[a], w[b] = np.minimum(x, y), np.maximum(x, y)
        elif need_min:
            w[a] = np.minimum(x, y)
        else:
            w[b] = np.maximum(x, y)
    return np.array(w[len(w) // 2], copy=True) if len(w) == 1 else w[len(w) // 2]


def median_filter_axis(v: np.ndarray, size: int, axis: int, block: int = 64) -> np.ndarray:
    """Exact running median of a 2-D array along one axis ('mirror' edges, like
    scipy.ndimage.median_filter(mode='mirror') with a 1-D kernel); size is made odd."""
    size = int(size) | 1
    if size == 1 or v.shape[axis] == 1:
        return v.copy()
    half = min(size // 2, v.shape[axis] - 1)
    size = 2 * half + 1
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    vp = np.pad(v, pad, mode="reflect")
    n = v.shape[axis]
    other = 1 - axis
    out = np.empty_like(v)
    for s in range(0, v.shape[other], block):
        sl = [slice(None), slice(None)]
        sl[other] = slice(s, s + block)
        blk = vp[tuple(sl)]
        wires = []
        for i in range(size):
            ws = [slice(None), slice(None)]
            ws[axis] = slice(i, i + n)
            wires.append(blk[tuple(ws)])
        out[tuple(sl)] = median_of(wires)
    return out


# --------------------------------------------------------------------------- STFT


@lru_cache(maxsize=8)
def _window(n_fft: int, hop: int) -> np.ndarray:
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    # sqrt-Hann at 50 % overlap (analysis x synthesis = Hann, which overlap-adds to 1);
    # plain Hann for denser hops. The inverse divides by the exact window-square envelope
    # anyway, so either is a perfect-reconstruction pair.
    w = np.sqrt(hann) if n_fft == 2 * hop else hann
    return w.astype(np.float32)


def _n_frames(n: int, hop: int) -> int:
    return 1 + int(math.ceil(n / hop))


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(C, n) float32 -> (C, frames, n_fft // 2 + 1) complex64, centred frames."""
    c, n = x.shape
    pad = n_fft // 2
    t = _n_frames(n, hop)
    right = (t - 1) * hop + n_fft - n - pad
    mode = "reflect" if n > max(pad, right) else "constant"
    xp = np.pad(x, ((0, 0), (pad, right)), mode=mode)
    frames = sliding_window_view(xp, n_fft, axis=-1)[:, ::hop]
    return scipy.fft.rfft(frames * _window(n_fft, hop), axis=-1)


@lru_cache(maxsize=8)
def _envelope(n_fft: int, hop: int, t: int) -> np.ndarray:
    w2 = _window(n_fft, hop).astype(np.float64) ** 2
    r = n_fft // hop
    env = np.zeros((t + r - 1, hop))
    parts = w2.reshape(r, hop)
    for j in range(r):
        env[j : j + t] += parts[j]
    env = env.reshape(-1)
    return (1.0 / np.maximum(env, 1e-8)).astype(np.float32)


def istft(spec: np.ndarray, n_fft: int, hop: int, n: int) -> np.ndarray:
    """Least-squares inverse of `stft` (exact for an unmodified spectrum): -> (C, n) float32."""
    c, t, _ = spec.shape
    frames = scipy.fft.irfft(spec, n=n_fft, axis=-1)
    frames *= _window(n_fft, hop)
    r = n_fft // hop
    out = np.zeros((c, t + r - 1, hop), dtype=np.float32)
    parts = frames.reshape(c, t, r, hop)
    for j in range(r):
        out[:, j : j + t] += parts[:, :, j]
    out = out.reshape(c, -1)
    pad = n_fft // 2
    inv_env = _envelope(n_fft, hop, t)
    return out[:, pad : pad + n] * inv_env[pad : pad + n]


# --------------------------------------------------------------------------- cues


def ramp(f: np.ndarray, f0: float, f1: float) -> np.ndarray:
    """0 below f0, 1 above f1, raised-cosine in between."""
    x = np.clip((f - f0) / max(f1 - f0, 1e-9), 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)


def soft_ratio(a: np.ndarray, b: np.ndarray, power: float) -> np.ndarray:
    """a^p / (a^p + b^p), in [0, 1]; 0.5 where both are 0."""
    if power == 2.0:
        a = a * a
        b = b * b
    elif power != 1.0:
        a = a**power
        b = b**power
    return (a + EPS) / (a + b + 2 * EPS)


def _band_features(mag: np.ndarray, lo: int, hi: int, bands: int) -> np.ndarray:
    """Rows of sqrt-compressed, log-spaced band magnitudes of mag[:, lo:hi], unit-normalised."""
    edges = np.unique(np.geomspace(lo, hi, bands + 1).astype(int))
    edges = edges[edges < hi]
    width = np.diff(np.append(edges, hi)).astype(np.float32)
    feats = np.sqrt(np.add.reduceat(mag[:, :hi], edges, axis=1)[:, : len(edges)] / width)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True) + EPS
    return feats


def repeating_background(
    v: np.ndarray,
    side: np.ndarray | None,
    sr: int,
    hop: int,
    n_fft: int,
    neighbours: int,
    min_gap_s: float,
    bands: int,
    peak_s: float = 0.1,
) -> np.ndarray | None:
    """REPET-SIM: per frame, the element-wise median of its most similar frames.

    v: (frames, bins) magnitude of the mix; side: magnitude of L - R (or None for mono)
    on the lowest bins. Frames are compared on what a centred lead voice does not
    dominate: the side channel (where it cancels) and the bass/kick register below
    ~250 Hz. (Comparing full-mix spectra finds the frames where the *voice* repeats a
    note, which puts the voice in the "background".) Returns an array like v, or None if
    the block is too short for the model.
    """
    t, f = v.shape
    gap = max(1, int(round(min_gap_s * sr / hop)))
    k = min(int(neighbours), t - (2 * gap - 1))
    if k % 2 == 0:
        k -= 1
    if k < 3:
        return None
    to_bin = n_fft / sr
    lo_low, hi_low = max(1, int(30 * to_bin)), min(f, int(250 * to_bin) + 2)
    feats = [np.sqrt(v[:, lo_low:hi_low])]
    feats[0] = feats[0] / (np.linalg.norm(feats[0], axis=1, keepdims=True) + EPS)
    if side is not None:
        feats.append(_band_features(side, max(1, int(80 * to_bin)), side.shape[1], bands))
    feats = np.hstack(feats) if len(feats) > 1 else feats[0]
    # similarity rows in blocks, so memory stays O(block x frames) for long inputs
    nbrs = np.empty((t, k), dtype=np.intp)
    w = 2 * max(1, int(round(peak_s * sr / hop))) + 1 if peak_s > 0 else 0
    cols = np.arange(t)
    step = max(1, (1 << 21) // t)
    for s in range(0, t, step):
        rows = np.arange(s, min(t, s + step))
        sim = feats[rows] @ feats.T
        sim[np.abs(rows[:, None] - cols[None, :]) < gap] = -np.inf
        if w:
            # Prefer local maxima of each similarity row (one frame per repetition, as in
            # REPET-SIM): otherwise the k best are mostly adjacent frames of the two or
            # three most similar repetitions, and their median is not robust.
            local_max = maximum_filter1d(sim, w, axis=1, mode="nearest")
            # similarities lie in [-2, 2] (two unit-norm feature blocks): push non-peaks below
            sim[sim < local_max] -= 8.0
            del local_max
        nbrs[rows] = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        del sim
    out = np.empty_like(v)
    block = max(8, (1 << 18) // max(f, 1))
    for s in range(0, t, block):
        rows = nbrs[s : s + block]
        out[s : s + block] = median_of([v[rows[:, j]] for j in range(k)])
    np.minimum(out, v, out=out)
    return out


def centre_weight(xl: np.ndarray, xr: np.ndarray, smooth: int, power: float) -> np.ndarray:
    """Inter-channel coherence toward the centre, in [0, 1], per (frame, bin)."""
    pl = xl.real * xl.real + xl.imag * xl.imag
    pr = xr.real * xr.real + xr.imag * xr.imag
    cr = xl.real * xr.real + xl.imag * xr.imag
    num = 2.0 * cr
    den = pl + pr
    if smooth > 1:
        for a in (0, 1):
            num = uniform_filter1d(num, smooth, axis=a, mode="nearest")
            den = uniform_filter1d(den, smooth, axis=a, mode="nearest")
    c = np.clip(num / (den + EPS), 0.0, 1.0)
    if power != 1.0:
        c **= power
    return c


# --------------------------------------------------------------------------- Wiener


# estimate(j, lo, hi): source j's first STFT estimate (2, T, hi - lo) on bins lo:hi; the sources sum to the mix
Estimate = Callable[[int, int, int], np.ndarray]


def wiener(x: np.ndarray, estimate: Estimate, sources: int, iterations: int, keep: int,
            block: int = 96) -> list[np.ndarray]:
    """Multichannel Wiener refinement, per frequency block.

    x: (2, T, F) mixture STFT; `estimate`: the `sources` first estimates. Returns the refined
    STFTs of the first `keep` sources, each (2, T, F) complex64.
    """
    _, t, f = x.shape
    outs = [np.empty_like(x) for _ in range(keep)]
    for s in range(0, f, block):
        xb = x[:, :, s : s + block]
        xl, xr = xb[0], xb[1]
        ys = [estimate(j, s, s + block) for j in range(sources)]
        for _ in range(iterations):
            vs, rs = [], []
            for y in ys:
                pl = y[0].real ** 2 + y[0].imag ** 2
                pr = y[1].real ** 2 + y[1].imag ** 2
                v = 0.5 * (pl + pr)
                cross = y[0] * np.conj(y[1])
                norm = 1.0 / (v.sum(axis=0) + EPS)
                r11 = pl.sum(axis=0) * norm
                r22 = pr.sum(axis=0) * norm
                r12 = cross.sum(axis=0) * norm
                reg = 1e-3 * (r11 + r22) + EPS
                vs.append(v)
                rs.append((r11 + reg, r22 + reg, r12))
            a = sum(v * r[0] for v, r in zip(vs, rs))
            d = sum(v * r[1] for v, r in zip(vs, rs))
            b = sum(v * r[2] for v, r in zip(vs, rs))
            det = a * d - (b.real**2 + b.imag**2)
            inv_det = 1.0 / np.maximum(det, EPS * EPS)
            zl = (d * xl - b * xr) * inv_det
            zr = (a * xr - np.conj(b) * xl) * inv_det
            new = []
            for v, (r11, r22, r12) in zip(vs, rs):
                yl = v * (r11 * zl + r12 * zr)
                yr = v * (np.conj(r12) * zl + r22 * zr)
                new.append(np.stack([yl, yr]).astype(np.complex64, copy=False))
            ys = new
        for j in range(keep):
            outs[j][:, :, s : s + block] = ys[j]
    return outs
