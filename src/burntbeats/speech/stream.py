"""Streaming building blocks for the speech pipeline, all *time-aligned*.

Every stage takes blocks shaped (channels, n) with ``push`` and returns whatever output is
ready; ``flush`` returns the rest. Whatever latency a stage has internally, its output
sample ``k`` corresponds to its input sample ``k`` (scaled by the rate ratio for a
resampler): stages can be chained and the final file lines up with the original sample
for sample. Memory is bounded by the block size, never by the length of the recording.

* :class:`Resampler` - polyphase resampling equal to ``scipy.signal.resample_poly`` on the
  whole signal (computed on overlapping segments with enough context on both sides).
* :class:`FIRFilter` - a linear-phase FIR (the rumble high-pass), zero-delay.
* :class:`AlignedEnhancer` - runs a :class:`~burntbeats.speech.base.SpeechEnhancer`
  per channel, removes its delay, mixes the dry signal back in for an attenuation limit.
* :class:`LoudnessMeter` - ITU-R BS.1770 integrated loudness, accumulated block by block
  (the same result as ``pyloudnorm.Meter.integrated_loudness`` on the whole signal).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal

from burntbeats.speech.base import EnhancerStream, SpeechEnhancer


def _empty(channels: int) -> np.ndarray:
    return np.zeros((channels, 0), dtype=np.float32)


class _ContextStage:
    """A linear, finite-support operation applied to overlapping segments.

    ``_apply(segment)`` maps (channels, m) input to (channels, m * up / down) output as if
    the signal were zero outside the segment. Feeding it segments with ``context`` real
    input samples on each side and keeping only the middle gives exactly the result of
    applying it to the whole signal.
    """

    def __init__(self, channels: int, context: int, up: int = 1, down: int = 1, block: int = 48000) -> None:
        self.channels = channels
        self.up, self.down = up, down
        self.context = -(-context // down) * down  # a multiple of `down`
        self.block = max(down, block // down * down)
        # buffer starts with `context` zeros: the signal is zero before its start
        self._buf = np.zeros((channels, self.context), dtype=np.float32)
        self._pos = self.context  # index in _buf of the next input sample to produce output for
        self.n_in = 0
        self.n_out = 0

    def _apply(self, seg: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, upto_end: bool) -> np.ndarray:
        outs = []
        c, up, down = self.context, self.up, self.down
        while True:
            avail = self._buf.shape[1] - self._pos - c  # input with full right context (or padding)
            if avail <= 0 or (not upto_end and avail < self.block):
                break
            step = min(self.block, avail)  # both are multiples of `down`
            seg = self._buf[:, self._pos - c : self._pos + step + c]
            y = self._apply(seg)
            a = c * up // down
            outs.append(y[:, a : a + step * up // down])
            self._pos += step
        # drop what no longer serves as left context
        keep_from = self._pos - c
        if keep_from > 0:
            self._buf = self._buf[:, keep_from:]
            self._pos -= keep_from
        return np.concatenate(outs, axis=1).astype(np.float32, copy=False) if outs else _empty(self.channels)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        self.n_in += x.shape[1]
        self._buf = np.concatenate([self._buf, x], axis=1)
        y = self._run(upto_end=False)
        self.n_out += y.shape[1]
        return y

    def expected_out(self) -> int:
        return -(-self.n_in * self.up // self.down)

    def flush(self) -> np.ndarray:
        rem = self._buf.shape[1] - self._pos
        pad = (-rem) % self.down + self.context
        self._buf = np.concatenate([self._buf, np.zeros((self.channels, pad), np.float32)], axis=1)
        y = self._run(upto_end=True)
        # the zero padding may produce a few samples past the true end
        y = y[:, : max(0, self.expected_out() - self.n_out)]
        self.n_out += y.shape[1]
        return y


class Resampler(_ContextStage):
    """Exact, streaming equivalent of ``resample_poly(x, up, down, axis=-1)`` for rate in -> rate out."""

    def __init__(self, channels: int, rate_in: int, rate_out: int, block_s: float = 1.0) -> None:
        g = gcd(int(rate_in), int(rate_out))
        up, down = int(rate_out) // g, int(rate_in) // g
        self.identity = up == down
        # resample_poly's filter has half-length 10 * max(up, down) in the upsampled domain
        context = int(np.ceil(10 * max(up, down) / up)) + 8
        super().__init__(channels, context, up, down, block=int(rate_in * block_s))

    def _apply(self, seg: np.ndarray) -> np.ndarray:
        return signal.resample_poly(seg, self.up, self.down, axis=1)

    def push(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            x = np.asarray(x, dtype=np.float32)
            self.n_in += x.shape[1]
            self.n_out += x.shape[1]
            return x
        return super().push(x)

    def flush(self) -> np.ndarray:
        if self.identity:
            return _empty(self.channels)
        return super().flush()


def highpass_taps(cutoff_hz: float, rate: int) -> np.ndarray:
    """Linear-phase high-pass FIR: -6 dB at `cutoff_hz`, transition about cutoff/2 wide."""
    width = max(10.0, cutoff_hz * 0.6)
    numtaps, beta = signal.kaiserord(60.0, width / (0.5 * rate))
    numtaps |= 1  # odd: a type-I filter can be a high-pass and has an integer delay
    return signal.firwin(numtaps, cutoff_hz, window=("kaiser", beta), pass_zero=False, fs=rate).astype(np.float64)


class FIRFilter(_ContextStage):
    """Zero-delay (linear-phase, centred) FIR filtering, streaming."""

    def __init__(self, channels: int, taps: np.ndarray, block: int = 96000) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        if len(self.taps) % 2 == 0:
            raise ValueError("FIR length must be odd")
        super().__init__(channels, (len(self.taps) - 1) // 2, block=block)

    def _apply(self, seg: np.ndarray) -> np.ndarray:
        return signal.oaconvolve(seg, self.taps[None, :], mode="same", axes=1)


class AlignedEnhancer:
    """Runs one engine stream per channel and removes the engine's delay (output aligned with input)."""

    def __init__(self, enhancer: SpeechEnhancer, channels: int) -> None:
        self.enhancer = enhancer
        self.channels = channels
        self.frame = enhancer.frame_length
        self.delay = enhancer.delay
        self.dry = enhancer.dry_gain()
        self._streams: list[EnhancerStream] = [enhancer.open_stream() for _ in range(channels)]
        self._pending = _empty(channels)  # input not yet a whole frame
        self._dry_fifo = _empty(channels)  # input whose output has not been emitted yet
        self._to_drop = self.delay
        self.n_in = 0
        self.n_out = 0

    def _process(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._pending, x], axis=1) if self._pending.shape[1] else x
        whole = buf.shape[1] // self.frame * self.frame
        self._pending = buf[:, whole:]
        if whole == 0:
            return _empty(self.channels)
        out = np.stack([s.process(np.ascontiguousarray(buf[c, :whole])) for c, s in enumerate(self._streams)])
        if self._to_drop:
            k = min(self._to_drop, out.shape[1])
            out = out[:, k:]
            self._to_drop -= k
        return out

    def _emit(self, out: np.ndarray, limit: int | None = None) -> np.ndarray:
        if limit is not None:
            out = out[:, :limit]
        n = out.shape[1]
        if self.dry and n:
            out = (1.0 - self.dry) * out + self.dry * self._dry_fifo[:, :n]
        self._dry_fifo = self._dry_fifo[:, n:]
        self.n_out += n
        return out.astype(np.float32, copy=False)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        self.n_in += x.shape[1]
        if self.dry:
            self._dry_fifo = np.concatenate([self._dry_fifo, x], axis=1)
        return self._emit(self._process(x))

    def flush(self) -> np.ndarray:
        tail = self.delay + self.frame
        zeros = np.zeros((self.channels, tail), dtype=np.float32)
        out = self._process(zeros)
        return self._emit(out, limit=max(0, self.n_in - self.n_out))

    def close(self) -> None:
        for s in self._streams:
            s.close()
        self._streams = []


class LoudnessMeter:
    """BS.1770-4 integrated loudness (LUFS), fed block by block. Matches pyloudnorm's Meter."""

    GATE_BLOCK_S = 0.4
    STEP_S = 0.1

    def __init__(self, rate: int, channels: int) -> None:
        import pyloudnorm

        meter = pyloudnorm.Meter(rate)
        self.rate = rate
        self.channels = channels
        self._filters = []
        for stage in meter._filters.values():  # K-weighting: high shelf, then high pass
            b, a = np.asarray(stage.b, dtype=np.float64), np.asarray(stage.a, dtype=np.float64)
            zi = np.zeros((channels, max(len(a), len(b)) - 1))
            self._filters.append([b, a, float(stage.passband_gain), zi])
        self._sub_sums: list[np.ndarray] = []  # per 100 ms sub-block: sum of squares per channel
        self._acc = np.zeros(channels)
        self._n = 0  # samples seen
        self._sub_index = 0

    def _sub_bound(self, j: int) -> int:
        return int(self.GATE_BLOCK_S * (j * 0.25) * self.rate)

    def push(self, x: np.ndarray) -> None:
        y = np.asarray(x, dtype=np.float64)
        for f in self._filters:
            b, a, g, zi = f
            y, f[3] = signal.lfilter(b, a, y, axis=1, zi=zi)
            y = g * y
        sq = y * y
        start = self._n
        self._n += y.shape[1]
        pos = 0
        while True:
            bound = self._sub_bound(self._sub_index + 1) - start
            if bound > y.shape[1]:
                self._acc += sq[:, pos:].sum(axis=1)
                break
            self._acc += sq[:, pos:bound].sum(axis=1)
            self._sub_sums.append(self._acc.copy())
            self._acc = np.zeros(self.channels)
            self._sub_index += 1
            pos = bound

    def integrated(self) -> float:
        """Integrated loudness in LUFS (-inf for silence or a clip shorter than 0.4 s)."""
        t = self._n / self.rate
        n_blocks = int(np.round((t - self.GATE_BLOCK_S) / (self.GATE_BLOCK_S * 0.25))) + 1
        subs = np.array(self._sub_sums + [self._acc])  # (n_sub, channels)
        if n_blocks < 1 or len(subs) < 1:
            return float("-inf")
        if len(subs) < n_blocks + 3:
            subs = np.concatenate([subs, np.zeros((n_blocks + 3 - len(subs), self.channels))])
        z = (subs[:n_blocks] + subs[1 : n_blocks + 1] + subs[2 : n_blocks + 2] + subs[3 : n_blocks + 3])
        z /= self.GATE_BLOCK_S * self.rate
        gains = np.array([1.0, 1.0, 1.0, 1.41, 1.41][: self.channels] + [1.0] * max(0, self.channels - 5))
        with np.errstate(divide="ignore"):
            lj = -0.691 + 10 * np.log10((z * gains).sum(axis=1))
        above = lj >= -70.0
        if not above.any():
            return float("-inf")
        rel = -0.691 + 10 * np.log10((z[above].mean(axis=0) * gains).sum()) - 10.0
        gated = (lj > rel) & above
        if not gated.any():
            return float("-inf")
        return float(-0.691 + 10 * np.log10((z[gated].mean(axis=0) * gains).sum()))


class PeakLimiter(_ContextStage):
    """Gain, then a look-ahead peak limiter that keeps every sample under `ceiling_db` (zero delay).

    The gain curve at sample n is the mean over the last `attack` samples of the minimum gain
    needed in [k - hold, k + attack): it starts falling `attack` samples before a peak,
    never lets a sample through above the ceiling, and recovers over `attack` samples once
    `hold` has passed. Channels share one gain (the stereo image does not move).
    It only looks a finite distance around each sample, so it streams exactly like the
    linear stages.
    """

    def __init__(self, channels: int, rate: int, gain: float = 1.0, ceiling_db: float = -1.0,
                 attack_s: float = 0.01, hold_s: float = 0.04) -> None:
        self.gain = float(gain)
        self.ceiling = float(10 ** (ceiling_db / 20))
        self.attack = max(1, int(round(attack_s * rate)))
        self.hold = max(0, int(round(hold_s * rate)))
        super().__init__(channels, self.attack * 2 + self.hold + 2, block=rate)

    def _apply(self, seg: np.ndarray) -> np.ndarray:
        from scipy.ndimage import minimum_filter1d

        x = seg * np.float32(self.gain)
        n = x.shape[1]
        if n == 0:
            return x
        peak = np.max(np.abs(x), axis=0)
        need = np.minimum(1.0, self.ceiling / np.maximum(peak.astype(np.float64), 1e-12))
        size = self.hold + self.attack
        m = minimum_filter1d(need, size=size, mode="nearest")  # m[c] = min need[c - size//2 : c - size//2 + size]
        idx = np.clip(np.arange(n) - self.hold + size // 2, 0, n - 1)
        h = m[idx]  # h[k] = min need[k - hold : k + attack]
        w = self.attack
        hp = np.concatenate([np.full(w, h[0]), h])  # hp[j] = h[j - w]
        cs = np.concatenate([[0.0], np.cumsum(hp)])
        g = (cs[w + 1 : n + w + 1] - cs[1 : n + 1]) / w  # mean of h[k - w + 1 .. k]
        g = np.minimum(g, 1.0)
        return (x * g[None, :].astype(np.float32)).astype(np.float32)
