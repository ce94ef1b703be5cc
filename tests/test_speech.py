"""Speech enhancement engine and pipeline: quality, alignment, lengths, rates, loudness, exact streaming stages.

Test signals are speech-like (glottal pulses through gliding formants, fricatives, pauses;
``burntbeats.speech.synth``) mixed with noise at a known SNR, so the clean reference is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from burntbeats.jobs.context import JobContext, JobError
from burntbeats.settings import Settings
from burntbeats.speech import pipeline
from burntbeats.speech.engines import DeepFilterNet, RNNoise, normalise_engine, select_enhancer
from burntbeats.speech.job import parse_params, run_enhance
from burntbeats.speech.stream import AlignedEnhancer, FIRFilter, LoudnessMeter, PeakLimiter, Resampler, highpass_taps
from burntbeats.speech.synth import make_noise, mix_at_snr, si_sdr, synth_speech


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    n = min(len(clean), len(estimate))
    return float(10 * np.log10(np.sum(clean[:n] ** 2) / np.sum((clean[:n] - estimate[:n]) ** 2)))


def run_job(tmp_path: Path, audio: np.ndarray, sr: int, params: dict, subtype: str = "FLOAT",
            workers: int = 2) -> tuple[dict, Path]:
    """Write `audio` (n,) or (n, channels) as the job input and run the handler in-process."""
    job_dir = tmp_path / "job"
    job_dir.mkdir(parents=True, exist_ok=True)
    sf.write(job_dir / "input", audio, sr, format="WAV", subtype=subtype)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", speech_workers=workers)
    ctx = JobContext(job_id="t", kind="speech.enhance", owner_id="t", params=params, job_dir=job_dir,
                     input_path=job_dir / "input", settings=settings)
    return run_enhance(ctx), job_dir / "speech"


@pytest.fixture(scope="module")
def noisy_clip():
    """6 s of speech at 44.1 kHz with pink noise at 5 dB SNR (the engines run at 48 kHz: both resampling paths)."""
    sr = 44100
    clean = synth_speech(6.0, sr, seed=12)
    noisy = mix_at_snr(clean, make_noise("pink", len(clean), sr, seed=12), 5.0)
    return clean, noisy, sr


# Why +6 dB: at 5 dB SNR the engines measure about +10 dB (DeepFilterNet) and +8 dB
# (RNNoise) of SI-SDR on this clip *at lag 0*; +6 dB means the noise power went down 4x
# beyond any scaling. Any misalignment kills it: shifted by the engine's own delay (1440 /
# 960 samples, 20-30 ms) the SI-SDR of speech drops below 0 dB.
MIN_GAIN_DB = 6.0


@pytest.mark.parametrize("engine", ["balanced", "fast"])
def test_enhancement_raises_snr_aligned_at_original_rate(tmp_path, noisy_clip, engine):
    clean, noisy, sr = noisy_clip
    result, out = run_job(tmp_path, noisy, sr, {"engine": engine})
    enhanced, out_sr = sf.read(out / "enhanced.wav", dtype="float32")
    assert out_sr == sr and enhanced.shape == clean.shape  # same rate, same length, mono
    before, after = si_sdr(clean, noisy), si_sdr(clean, enhanced)
    assert after - before >= MIN_GAIN_DB, (before, after)
    assert snr_db(clean, enhanced) - snr_db(clean, noisy) >= MIN_GAIN_DB - 1.0
    # aligned: the cross-correlation peaks at lag 0 (+-1 sample: RNNoise's input high-pass shifts phase a bit)
    cc = signal.correlate(enhanced, clean, mode="full", method="fft")
    assert abs(int(np.argmax(cc)) - (len(clean) - 1)) <= 1
    assert result["engine"] == ("deepfilternet3" if engine == "balanced" else "rnnoise")
    assert result["samples"] == len(clean) and result["sample_rate"] == sr
    # the A/B original is the input at the same rate and length
    original, _ = sf.read(out / "original.wav", dtype="float32")
    assert original.shape == noisy.shape and np.max(np.abs(original - noisy)) < 1e-3


def test_stereo_keep_and_48k_output(tmp_path):
    sr = 22050
    clean = synth_speech(3.0, sr, seed=3)
    left = mix_at_snr(clean, make_noise("white", len(clean), sr, seed=1), 10.0)
    right = 0.5 * left
    result, out = run_job(tmp_path, np.stack([left, right], axis=1), sr,
                          {"engine": "fast", "channels": "keep", "sample_rate": "48000", "bit_depth": 24})
    info = sf.info(str(out / "enhanced.wav"))
    expected = -(-len(clean) * 48000 // sr)  # the exact length of the original resampled to 48 kHz
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (48000, 2, expected, "PCM_24")
    orig = sf.info(str(out / "original.wav"))
    assert (orig.samplerate, orig.channels, orig.frames) == (48000, 2, expected)
    assert result["channels"] == 2 and result["sample_rate"] == 48000
    data, _ = sf.read(out / "enhanced.wav")
    # each channel was enhanced on its own: the half-level right channel stays about half as loud
    ratio = np.sqrt(np.mean(data[:, 1] ** 2) / np.mean(data[:, 0] ** 2))
    assert 0.35 < ratio < 0.7


def test_short_input_and_channel_defaults(tmp_path):
    """The default keeps stereo as stereo (and mono as mono); channels=mono down-mixes."""
    sr = 16000
    x = (0.1 * np.random.default_rng(0).standard_normal((777, 2))).astype(np.float32)  # < 50 ms, stereo
    result, out = run_job(tmp_path / "keep", x, sr, {"engine": "fast"}, subtype="PCM_16")
    info = sf.info(str(out / "enhanced.wav"))
    assert (info.samplerate, info.channels, info.frames) == (sr, 2, 777)
    assert result["channels"] == 2
    result, out = run_job(tmp_path / "mono", x, sr, {"engine": "fast", "channels": "mono"}, subtype="PCM_16")
    assert (sf.info(str(out / "enhanced.wav")).channels, result["channels"]) == (1, 1)
    result, out = run_job(tmp_path / "in-mono", x[:, 0], sr, {"engine": "fast"}, subtype="PCM_16")
    assert (sf.info(str(out / "enhanced.wav")).channels, result["channels"]) == (1, 1)


def test_loudness_normalisation_and_peak_ceiling(tmp_path):
    import pyloudnorm

    sr = 48000
    clean = synth_speech(6.0, sr, seed=5) * 0.3
    noisy = mix_at_snr(clean, make_noise("white", len(clean), sr, seed=5), 15.0)
    result, out = run_job(tmp_path, noisy, sr, {"engine": "fast", "loudness_lufs": -16, "highpass_hz": 80})
    data, _ = sf.read(out / "enhanced.wav")
    measured = pyloudnorm.Meter(sr).integrated_loudness(data)
    assert abs(measured - (-16.0)) < 0.5, result["loudness"]
    assert np.max(np.abs(data)) <= 10 ** (-1 / 20) + 1e-4  # look-ahead limiter: -1 dBFS ceiling
    assert abs(result["loudness"]["output_lufs"] - measured) < 0.05
    # the A/B original is not normalised
    original, _ = sf.read(out / "original.wav")
    assert pyloudnorm.Meter(sr).integrated_loudness(original) < -22


@pytest.mark.parametrize("engine_cls", [DeepFilterNet, RNNoise])
def test_attenuation_limit_keeps_some_background(engine_cls):
    sr = 48000
    noise = 0.05 * make_noise("white", 4 * sr, sr, seed=2)[None, :]

    def residual_db(limit):
        st = AlignedEnhancer(engine_cls(limit), 1)
        y = np.concatenate([st.push(noise), st.flush()], axis=1)
        st.close()
        tail = slice(sr, None)  # after the models settle
        return 10 * np.log10(np.mean(y[0, tail] ** 2) / np.mean(noise[0, tail] ** 2))

    unlimited, limited = residual_db(100.0), residual_db(6.0)
    assert unlimited < -20  # measured: about -44 dB (DeepFilterNet), -33 dB (RNNoise)
    assert -7.0 < limited < -5.0  # measured: -6.0 / -5.9 dB
    default = residual_db(None)  # DeepFilterNet: no limit; RNNoise: 15 dB
    if engine_cls.default_atten_limit_db is None:
        assert default < -20
    else:
        assert -engine_cls.default_atten_limit_db - 1.5 < default < -engine_cls.default_atten_limit_db + 1.0


def test_lanes_match_one_continuous_stream(tmp_path):
    """Two parallel lanes (pre-roll + cross-fade) give (almost) what one continuous stream gives."""
    sr = 16000
    clean = synth_speech(30.0, sr, seed=8)
    noisy = mix_at_snr(clean, make_noise("pink", len(clean), sr, seed=8), 5.0)
    src = tmp_path / "in.wav"
    sf.write(src, noisy, sr, subtype="FLOAT")
    outs = []
    for workers in (1, 2):
        work = tmp_path / f"w{workers}"
        work.mkdir()
        lanes = pipeline.enhance_wav(src, work, RNNoise(), rate_out=sr, workers=workers)
        assert len(lanes) == workers
        outs.append(np.concatenate(list(pipeline.assemble(lanes)), axis=1)[0])
    one, two = outs
    assert one.shape == two.shape == clean.shape
    assert snr_db(one, two) > 25
    # no click at the join (15 s): the local difference stays small
    join = 15 * sr
    local = slice(join - sr // 10, join + sr // 10)
    assert np.max(np.abs(one[local] - two[local])) < 0.1 * np.max(np.abs(one[local])) + 1e-3


def test_cancellation_stops_the_lanes(tmp_path):
    sr = 16000
    src = tmp_path / "in.wav"
    sf.write(src, 0.1 * make_noise("white", 40 * sr, sr), sr, subtype="FLOAT")

    class Stop(Exception):
        pass

    def progress(_fraction):
        raise Stop()

    with pytest.raises(Stop):
        pipeline.enhance_wav(src, tmp_path, RNNoise(), rate_out=sr, workers=2, progress=progress, poll_s=0.05)


# --------------------------------------------------------------------------- exact streaming stages


@pytest.mark.parametrize("rates", [(44100, 48000), (48000, 44100), (16000, 48000), (48000, 22050), (48000, 48000)])
def test_resampler_equals_resample_poly(rates):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 54321)).astype(np.float32)
    rs = Resampler(2, *rates)
    parts, i = [], 0
    while i < x.shape[1]:
        k = int(rng.integers(1, 20000))
        parts.append(rs.push(x[:, i : i + k]))
        i += k
    parts.append(rs.flush())
    y = np.concatenate(parts, axis=1)
    ref = signal.resample_poly(x, rs.up, rs.down, axis=1) if not rs.identity else x
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) < 1e-5


def test_highpass_is_zero_phase_and_streams():
    taps = highpass_taps(80.0, 48000)
    _, h = signal.freqz(taps, worN=[30.0, 80.0, 300.0, 1000.0], fs=48000)
    db = 20 * np.log10(np.abs(h))
    assert db[0] < -40 and -7 < db[1] < -5 and abs(db[2]) < 0.1 and abs(db[3]) < 0.1
    x = np.random.default_rng(2).standard_normal((1, 100001)).astype(np.float32)
    f = FIRFilter(1, taps)
    y = np.concatenate([f.push(x[:, :333]), f.push(x[:, 333:]), f.flush()], axis=1)
    assert np.max(np.abs(y[0] - signal.convolve(x[0], taps, mode="same"))) < 1e-5


def test_loudness_meter_matches_pyloudnorm():
    import pyloudnorm

    sr = 44100
    x = (0.1 * np.random.default_rng(3).standard_normal((2, int(6.7 * sr))) * np.linspace(0.1, 1, int(6.7 * sr)))
    m = LoudnessMeter(sr, 2)
    for i in range(0, x.shape[1], 10007):
        m.push(x[:, i : i + 10007])
    assert abs(m.integrated() - pyloudnorm.Meter(sr).integrated_loudness(x.T)) < 1e-6


def test_peak_limiter_ceiling_and_streaming():
    sr = 48000
    x = synth_speech(5.0, sr, seed=4)[None, :] * np.float32(2.5)
    lim = PeakLimiter(1, sr, gain=1.0, ceiling_db=-1.0)
    y = np.concatenate([lim.push(x[:, :12345]), lim.push(x[:, 12345:]), lim.flush()], axis=1)
    assert y.shape == x.shape
    assert np.max(np.abs(y)) <= 10 ** (-1 / 20) + 1e-6
    quiet = np.abs(x[0]) < 0.05  # far below the ceiling, away from peaks the gain returns to 1
    assert np.median(np.abs(y[0][quiet]) / np.maximum(np.abs(x[0][quiet]), 1e-9)) > 0.9


@pytest.mark.parametrize("engine_cls", [DeepFilterNet, RNNoise])
def test_aligned_enhancer_length_for_any_block_sizes(engine_cls):
    st = AlignedEnhancer(engine_cls(), 2)
    x = (0.01 * np.random.default_rng(5).standard_normal((2, 10007))).astype(np.float32)
    parts = [st.push(x[:, :1]), st.push(x[:, 1:500]), st.push(x[:, 500:])]
    parts.append(st.flush())
    st.close()
    assert np.concatenate(parts, axis=1).shape == x.shape


# --------------------------------------------------------------------------- settings


def test_engine_names_and_params():
    assert normalise_engine("rnnoise") == "fast" and normalise_engine("DeepFilterNet") == "balanced"
    assert normalise_engine(None) == "balanced"
    best = select_enhancer("best")
    assert best.enhancer.name == "deepfilternet3" and not best.parallel
    assert select_enhancer("balanced").parallel
    p = parse_params({"engine": "fast", "atten_limit_db": "24", "sample_rate": 48000, "highpass_hz": "0",
                      "loudness_lufs": ""})
    assert (p.engine, p.atten_limit_db, p.sample_rate, p.highpass_hz, p.loudness_lufs) == ("fast", 24.0, "48000",
                                                                                          None, None)
    for bad in ({"engine": "magic"}, {"atten_limit_db": "0"}, {"atten_limit_db": "loud"}, {"sample_rate": "44100"},
                {"channels": "5.1"}, {"loudness_lufs": "-3"}, {"highpass_hz": "5"}, {"bit_depth": "8"}):
        with pytest.raises(JobError):
            parse_params(bad)
