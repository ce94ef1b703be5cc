"""Batched DeepFilterNet 3 on onnxruntime (burntbeats.speech.dfn_batch) against the C runtime.

The batched stream runs the same three ONNX graphs with all temporal state carried exactly
(GRU states, causal-conv history, feature normalisation, STFT memories), so it should equal the
C stream up to float rounding. Measured on this machine: 99-127 dB SNR between the two outputs
(max |diff| ~3e-7 on 30 s clips, with and without an attenuation limit). The threshold of 60 dB
leaves room for other CPUs / onnxruntime kernels (summation order) while real mismatches land far
below it (measured): feature-normalisation states reset every block 25 dB, GRU states reset
every block 10 dB, one frame of look-ahead wrong -3 dB.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import signal

from burntbeats.speech.dfn_batch import DeepFilterNetBatch
from burntbeats.speech.engines import DeepFilterNet
from burntbeats.speech.stream import AlignedEnhancer
from burntbeats.speech.synth import make_noise, mix_at_snr, si_sdr, synth_speech

SR = 48000
MIN_AGREEMENT_DB = 60.0


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / (np.sum((ref - est) ** 2) + 1e-30)))


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, np.ndarray]:
    clean = synth_speech(8.0, SR, seed=11)
    noise = 0.7 * make_noise("pink", len(clean), SR, seed=3) + 0.3 * make_noise("white", len(clean), SR, seed=4)
    noisy = mix_at_snr(clean, noise, 5.0)
    n = len(noisy) // 480 * 480
    # a stretch of digital silence in the middle (libDF's silence handling must match too)
    noisy[3 * SR : 3 * SR + SR // 3] = 0.0
    return clean[:n], noisy[:n]


@pytest.fixture(scope="module")
def c_out(clip) -> np.ndarray:
    return DeepFilterNet().open_stream().process(clip[1])


def test_matches_c_runtime(clip, c_out) -> None:
    clean, noisy = clip
    t = time.perf_counter()
    out = DeepFilterNetBatch().open_stream().process(noisy)
    elapsed = time.perf_counter() - t
    assert out.dtype == np.float32 and len(out) == len(noisy)
    assert snr_db(c_out, out) > MIN_AGREEMENT_DB
    # Same enhancement as the C runtime against the clean reference (delay 1440 removed).
    d = DeepFilterNetBatch.delay
    gain_c = si_sdr(clean[:-d], c_out[d:]) - si_sdr(clean, noisy)
    gain_b = si_sdr(clean[:-d], out[d:]) - si_sdr(clean, noisy)
    assert gain_b > 3.0 and abs(gain_b - gain_c) < 0.01
    assert elapsed < len(noisy) / SR  # faster than real time even on a loaded machine


def test_aligned_with_c_output(clip, c_out) -> None:
    out = DeepFilterNetBatch().open_stream().process(clip[1])
    a, b = c_out[SR : 3 * SR].astype(np.float64), out[SR - 480 : 3 * SR + 480].astype(np.float64)
    xc = signal.correlate(b, a, mode="valid", method="fft")  # lags -480 .. 480
    assert len(xc) == 961 and int(np.argmax(xc)) - 480 == 0


def test_attenuation_limit_matches_c_runtime(clip) -> None:
    noisy = clip[1][: 3 * SR]
    ref = DeepFilterNet(atten_limit_db=12.0).open_stream().process(noisy)
    out = DeepFilterNetBatch(atten_limit_db=12.0).open_stream().process(noisy)
    assert snr_db(ref, out) > MIN_AGREEMENT_DB
    full = DeepFilterNetBatch().open_stream().process(noisy)
    assert snr_db(ref, full) < 30.0  # the limit really changes the output


def test_state_carried_across_odd_calls(clip) -> None:
    noisy = clip[1][: 4 * SR]
    once = DeepFilterNetBatch().open_stream().process(noisy)
    # 7 pieces of odd numbers of frames, and blocks smaller than some pieces
    cuts = np.array([1, 2, 39, 40, 171, 250]) * 480
    stream = DeepFilterNetBatch(max_block_frames=97).open_stream()
    pieces = [stream.process(p) for p in np.split(noisy, cuts)]
    assert len(pieces) == 7 and [len(p) for p in pieces] == [len(p) for p in np.split(noisy, cuts)]
    np.testing.assert_allclose(np.concatenate(pieces), once, atol=1e-5)


def test_lengths_and_errors() -> None:
    s = DeepFilterNetBatch().open_stream()
    assert len(s.process(np.zeros(0, np.float32))) == 0
    assert len(s.process(np.zeros(480, np.float32))) == 480
    assert len(s.process(np.ones(480 * 3, np.float32) * 0.01)) == 1440
    with pytest.raises(ValueError):
        s.process(np.zeros(500, np.float32))
    s.close()


def test_drop_in_for_aligned_enhancer(clip) -> None:
    noisy = clip[1][: 3 * SR + 1234]

    def run(engine) -> np.ndarray:
        al = AlignedEnhancer(engine, 1)
        x = noisy[None, :]
        out = [al.push(x[:, i : i + 30011]) for i in range(0, x.shape[1], 30011)] + [al.flush()]
        al.close()
        return np.concatenate(out, axis=1)[0]

    ref, out = run(DeepFilterNet()), run(DeepFilterNetBatch())
    assert len(out) == len(noisy) == len(ref)
    assert snr_db(ref, out) > MIN_AGREEMENT_DB


@pytest.mark.parametrize("quality", ["balanced", "best"])
def test_balanced_and_best_run_the_batched_path(quality) -> None:
    """No silent fallback to the slower C runtime: the product's default path is the batched one."""
    from burntbeats.speech.engines import select_enhancer

    choice = select_enhancer(quality)
    assert isinstance(choice.enhancer, DeepFilterNetBatch)
    assert choice.note is None
    assert choice.parallel is (quality == "balanced")
    assert "onnxruntime" in choice.enhancer.describe()["model"]
