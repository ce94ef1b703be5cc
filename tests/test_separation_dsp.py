"""The built-in DSP separator, the quality table and the chunked driver.

Audio is generated in-process: a loop-based "song" at 120 bpm with four known sources
(a centre-panned melody with vibrato, kick/snare/hat drums, a 55 Hz bass line, a chord
pad panned left and an arpeggio panned right), so separation quality can be measured.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import soundfile as sf

from burntbeats.separation import quality as quality_table
from burntbeats.separation.apply import plan_segments, separate_array, separate_file, split_given_vocals
from burntbeats.separation.base import FOUR_STEMS, TWO_STEMS
from burntbeats.separation.dsp import DSPSeparator
from burntbeats.separation.spectral import istft, median_filter_axis, median_of, stft

SR = 44100
QUALITIES = tuple(quality_table.QUALITY_MODES)


# --------------------------------------------------------------------------- test audio


def _decay(n: int, tau: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / 0.002) * np.exp(-t / tau)


def make_sources(seconds: float, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    beat = SR // 2
    bar = 4 * beat
    bars = n // bar + 1
    tb = np.arange(bar) / SR

    # drums: one bar, tiled
    kb = np.zeros(bar)
    tk = np.arange(int(0.3 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45 + 75 * np.exp(-tk / 0.03)) / SR) * np.exp(-tk / 0.12)
    snare = np.diff(rng.standard_normal(int(0.2 * SR)), prepend=0.0) * 0.5 * _decay(int(0.2 * SR), 0.06)
    hat = np.diff(rng.standard_normal(int(0.06 * SR)), n=2, prepend=[0.0, 0.0]) * 0.2 * _decay(int(0.06 * SR), 0.015)
    for b in (0, 2):
        kb[b * beat : b * beat + len(kick)] += kick
    for b in (1, 3):
        kb[b * beat : b * beat + len(snare)] += snare
    for e in range(8):
        kb[e * beat // 2 : e * beat // 2 + len(hat)] += hat
    drums = np.tile(kb, bars)[:n]

    # bass: a 55 Hz line (one bar in four on 49 Hz), with two harmonics
    bass = np.concatenate(
        [0.45 * sum(a * np.sin(2 * np.pi * f * k * tb) for k, a in ((1, 1.0), (2, 0.3), (3, 0.1)))
         * np.minimum(1, (tb[-1] - tb) / 0.02 + 1e-3) for f in [55.0, 55.0, 55.0, 49.0] * bars]
    )[:n]

    # other: chord pad (left) + arpeggio (right), repeating every 2 bars
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66)]
    pad, arp = np.zeros(bars * bar), np.zeros(bars * bar)
    step = beat // 2
    ts = np.arange(step) / SR
    for i in range(bars):
        ch = chords[i % 2]
        chord = sum(np.sin(2 * np.pi * f * tb) + 0.3 * np.sin(4 * np.pi * f * tb) for f in ch)
        pad[i * bar : (i + 1) * bar] = 0.08 * chord * np.minimum(1, tb / 0.1)
        for s in range(8):
            f = 2 * ch[s % 3]
            tone = np.sin(2 * np.pi * f * ts) + 0.4 * np.sin(4 * np.pi * f * ts)
            arp[i * bar + s * step : i * bar + (s + 1) * step] = 0.1 * tone * _decay(step, 0.08)

    # vocals: centre, non-repeating melody (0.25-1 s notes) with 5.5 Hz vibrato
    scale = 220.0 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15]) / 12)
    voc = np.zeros(n + SR)
    pos = int(0.1 * SR)
    while pos < n:
        dur = int(rng.choice([0.25, 0.5, 0.75, 1.0]) * SR)
        tn = np.arange(dur) / SR
        phase = 2 * np.pi * np.cumsum(rng.choice(scale) * (1 + 0.025 * np.sin(2 * np.pi * 5.5 * tn))) / SR
        note = sum((1 / h) * (1 + 2 * np.exp(-(((h * 330 - 700) / 250) ** 2))) * np.sin(h * phase)
                   for h in range(1, 12))
        voc[pos : pos + dur] += 0.12 * note * np.minimum(1, tn / 0.03) * np.minimum(1, (tn[-1] - tn) / 0.05 + 1e-3)
        pos += dur + int(rng.choice([0.0, 0.0, 0.25, 0.5]) * SR)
    voc = voc[:n]

    sources = {
        "vocals": np.stack([0.8 * voc, 0.8 * voc]),
        "drums": np.stack([0.8 * drums, 0.85 * drums]),
        "bass": np.stack([0.85 * bass, 0.85 * bass]),
        "other": np.stack([0.8 * pad[:n] + 0.2 * arp[:n], 0.25 * pad[:n] + 0.75 * arp[:n]]),
    }
    gain = 0.9 / float(np.abs(sum(sources.values())).max())
    sources = {k: (v * gain).astype(np.float32) for k, v in sources.items()}
    sources["instrumental"] = sources["drums"] + sources["bass"] + sources["other"]
    mix = (sources["vocals"] + sources["instrumental"]).astype(np.float32)
    return mix, sources


@pytest.fixture(scope="module")
def song() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return make_sources(12.0, seed=1)


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-20)))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-20))


# --------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("k", [1, 3, 5, 9, 17, 21, 31, 45])
def test_median_network_is_exact(k: int) -> None:
    rng = np.random.default_rng(k)
    x = rng.standard_normal((k, 4000)).astype(np.float32)
    x[:, :50] = 0.0  # ties
    assert np.array_equal(median_of(list(x)), np.median(x, axis=0).astype(np.float32))


@pytest.mark.parametrize("axis,size", [(0, 17), (1, 31), (0, 5), (1, 9)])
def test_median_filter_matches_scipy(axis: int, size: int) -> None:
    v = np.random.default_rng(0).random((300, 200), dtype=np.float32)
    shape = [1, 1]
    shape[axis] = size
    expected = scipy.ndimage.median_filter(v, size=tuple(shape), mode="mirror")
    assert np.array_equal(median_filter_axis(v, size, axis=axis), expected)


@pytest.mark.parametrize("quality", QUALITIES)
def test_stft_round_trip_is_exact(quality: str) -> None:
    st = quality_table.dsp_settings(quality)
    x = np.random.default_rng(2).standard_normal((2, 30011)).astype(np.float32)
    y = istft(stft(x, st["n_fft"], st["hop"]), st["n_fft"], st["hop"], x.shape[1])
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-5


def test_quality_table() -> None:
    assert set(QUALITIES) == {"fast", "balanced", "best"}
    assert quality_table.QUALITY_MODES["fast"]["neural_model"] is None
    assert quality_table.QUALITY_MODES["balanced"]["neural_model"] == "htdemucs"
    assert quality_table.QUALITY_MODES["best"]["neural_model"] == "htdemucs_ft"
    for q in QUALITIES:
        assert quality_table.route_chain(q)[-1] == "dsp"  # the built-in engine ends every chain
        settings = quality_table.dsp_settings(q)
        settings["n_fft"] = 1  # a copy: the table is unchanged
        assert quality_table.dsp_settings(q)["n_fft"] > 1
        engine = DSPSeparator(q)
        assert engine.name == "dsp" and engine.sample_rate == SR
        assert 0 < engine.overlap_s < engine.segment_s
    with pytest.raises(ValueError):
        quality_table.dsp_settings("ultra")
    with pytest.raises(TypeError):
        DSPSeparator("fast", no_such_setting=1)
    assert DSPSeparator("fast", wiener_iterations=2).settings.wiener_iterations == 2


@pytest.mark.parametrize("quality", QUALITIES)
def test_masks_sum_to_one(song, quality: str) -> None:
    mix, _ = song
    engine = DSPSeparator(quality)
    spec = stft(mix[:, : 6 * SR], engine.settings.n_fft, engine.settings.hop)
    for stems in (2, 4):
        masks = engine.masks(spec, stems)
        assert len(masks) == stems
        assert all(m.min() >= 0.0 and m.max() <= 1.0 for m in masks)
        assert np.abs(sum(masks) - 1.0).max() < 1e-5


def test_without_the_vocal_mask_everything_goes_to_drums_bass_and_other(song) -> None:
    """The Spleeter hybrid's split of an accompaniment: no vocal stem, the same harmonic / low-band rules."""
    mix, _ = song
    mix = mix[:, : 6 * SR]
    plain = DSPSeparator("balanced", vocal_mask=False)
    spec = stft(mix, plain.settings.n_fft, plain.settings.hop)
    vocals, drums, bass, other = plain.masks(spec, 4)
    assert not vocals.any()
    assert np.abs(drums + bass + other - 1.0).max() < 1e-5
    out = plain.separate(mix, 4)
    assert np.abs(out["vocals"]).max() < 1e-6
    assert np.abs(sum(out.values()) - mix).max() < 1e-5


def test_the_harmonic_margin_moves_bins_above_the_bass_band_from_other_to_drums(song) -> None:
    mix, _ = song
    plain = DSPSeparator("balanced", vocal_mask=False)
    strict = plain.with_settings(harmonic_margin=2.0)
    spec = stft(mix[:, : 6 * SR], plain.settings.n_fft, plain.settings.hop)
    _, drums0, bass0, other0 = plain.masks(spec, 4)
    _, drums1, bass1, other1 = strict.masks(spec, 4)
    freqs = np.arange(spec.shape[2]) * SR / plain.settings.n_fft
    below, above = freqs < plain.settings.bass_band_hz[0], freqs > plain.settings.bass_band_hz[1]
    assert np.array_equal(bass1[:, below], bass0[:, below]) and np.array_equal(drums1[:, below], drums0[:, below])
    assert (other1[:, above] <= other0[:, above] + 1e-6).all() and (drums1[:, above] >= drums0[:, above] - 1e-6).all()
    assert other1[:, above].sum() < 0.95 * other0[:, above].sum()
    with pytest.raises(ValueError, match="harmonic_margin"):
        plain.with_settings(harmonic_margin=0.0)


def test_split_given_vocals_refines_them_and_sums_to_the_mix(song) -> None:
    mix, stems = song
    mix, vocals = mix[:, : 6 * SR], stems["vocals"][:, : 6 * SR]
    split = DSPSeparator("balanced", vocal_mask=False)
    out = split.split_given_vocals(mix, vocals)
    assert list(out) == ["vocals", "drums", "bass", "other"]
    assert np.abs(sum(out.values()) - mix).max() < 1e-5
    # given the true vocals, the refinement keeps them nearly as they are
    err = np.sum((out["vocals"] - vocals).astype(np.float64) ** 2) / np.sum(vocals.astype(np.float64) ** 2)
    assert 10 * np.log10(1 / err) > 15
    plain = split.with_settings(wiener_iterations=0).split_given_vocals(mix, vocals)
    assert np.abs(plain["vocals"] - vocals).max() < 1e-5
    # the chunked driver: 2-s blocks crossfaded, still the mix in sum, close to the one-block split
    seen: list[float] = []
    chunked = split_given_vocals(split.with_settings(segment_s=2.0, overlap_s=0.5), mix, vocals, seen.append)
    assert np.abs(sum(chunked.values()) - mix).max() < 1e-5
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3
    diff = np.sum((chunked["vocals"] - out["vocals"]).astype(np.float64) ** 2) / np.sum(vocals.astype(np.float64) ** 2)
    assert 10 * np.log10(1 / diff) > 15
    with pytest.raises(ValueError, match="vocal_mask=False"):
        DSPSeparator("balanced").split_given_vocals(mix, vocals)
    with pytest.raises(ValueError, match=r"\(2, samples\)"):
        split.split_given_vocals(mix, vocals[:, :-1])


def test_plan_segments_cover_the_file() -> None:
    for n, seg, ovl in [(100, 30, 5), (30, 30, 5), (31, 30, 5), (1000, 100, 60), (7, 3, 2)]:
        segs = plan_segments(n, seg, ovl)
        assert segs[0][0] == 0 and segs[-1][1] == n
        assert all(b - a <= seg for a, b in segs)
        assert all(a0 < a1 <= b0 < b1 for (a0, b0), (a1, b1) in zip(segs, segs[1:]))
        assert all(b0 <= a2 for (_, b0), (a2, _) in zip(segs, segs[2:]))
    assert plan_segments(0, 10, 2) == []


# --------------------------------------------------------------------------- the file driver


@pytest.mark.parametrize("stems", [2, 4])
@pytest.mark.parametrize("quality", QUALITIES)
def test_separate_file_stems_sum_to_mix(tmp_path, song, quality: str, stems: int) -> None:
    mix, _ = song
    mix = mix[:, : int(7.5 * SR)]
    wav = tmp_path / "mix.wav"
    sf.write(wav, mix.T, SR, subtype="FLOAT")
    progress: list[float] = []
    # 3 s blocks with 1 s overlap: 4 blocks, 3 crossfades
    paths = separate_file(DSPSeparator(quality), wav, tmp_path / "out", stems, progress=progress.append,
                          segment_s=3.0, overlap_s=1.0)

    names = TWO_STEMS if stems == 2 else FOUR_STEMS
    assert list(paths) == list(names)
    total = np.zeros_like(mix)
    for name in names:
        assert paths[name] == tmp_path / "out" / f"{name}.wav"
        info = sf.info(paths[name])
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 2, mix.shape[1], "FLOAT")
        data, _ = sf.read(paths[name], dtype="float32")
        assert np.isfinite(data).all()
        total += data.T
    assert np.abs(total - mix).max() < 1e-4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.wav" for n in names)

    assert progress, "no progress reported"
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert all(a <= b for a, b in zip(progress, progress[1:])), progress
    assert progress[-1] == 1.0
    assert len(progress) >= 4  # at least once per block


def test_separate_array_matches_separate_file(tmp_path, song) -> None:
    mix, _ = song
    mix = mix[:, : 5 * SR]
    wav = tmp_path / "mix.wav"
    sf.write(wav, mix.T, SR, subtype="FLOAT")
    engine = DSPSeparator("fast")
    paths = separate_file(engine, wav, tmp_path, 4, segment_s=2.0, overlap_s=0.5)
    arrays = separate_array(engine, mix, 4, segment_s=2.0, overlap_s=0.5)
    for name, path in paths.items():
        data, _ = sf.read(path, dtype="float32")
        assert np.abs(data.T - arrays[name]).max() < 1e-6
    assert np.abs(sum(arrays.values()) - mix).max() < 1e-4


def test_progress_exception_cancels_and_cleans_up(tmp_path, song) -> None:
    mix, _ = song
    wav = tmp_path / "mix.wav"
    sf.write(wav, mix[:, : 4 * SR].T, SR, subtype="FLOAT")

    class Cancelled(Exception):
        pass

    def progress(fraction: float) -> None:
        if fraction >= 0.5:
            raise Cancelled

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        separate_file(DSPSeparator("fast"), wav, out, 4, progress=progress, segment_s=1.0, overlap_s=0.25)
    assert list(out.iterdir()) == []


def test_mono_short_and_mismatched_input(tmp_path) -> None:
    engine = DSPSeparator("fast")
    mono = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    wav = tmp_path / "mono.wav"
    sf.write(wav, mono, SR, subtype="FLOAT")
    paths = separate_file(engine, wav, tmp_path / "out", 2)
    total = sum(sf.read(p, dtype="float32")[0] for p in paths.values())
    assert total.shape == (SR, 2)
    assert np.abs(total - mono[:, None]).max() < 1e-4

    for n in (0, 1, 100):
        x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
        out = engine.separate(x, 4)
        assert all(v.shape == x.shape and v.dtype == np.float32 for v in out.values())
        assert np.abs(sum(out.values()) - x).max(initial=0.0) < 1e-5

    silent = engine.separate(np.zeros((2, SR), np.float32), 4)
    assert all(not v.any() for v in silent.values())

    wav48 = tmp_path / "48k.wav"
    sf.write(wav48, np.zeros((4800, 2), np.float32), 48000, subtype="FLOAT")
    with pytest.raises(ValueError, match="sample rate"):
        separate_file(engine, wav48, tmp_path / "out48", 2)


# --------------------------------------------------------------------------- quality of separation

# Thresholds are well under what each mode measures on this song (see the docstring of
# test_four_stems_are_meaningful) but far above what an uninformed split gives: a stem
# equal to the mix scores well below 0 dB SDR against a source that carries a quarter
# of its energy, and splitting the mix evenly into 4 gives ~-6 dB or worse.
MIN_SDR_4 = {"vocals": 5.0, "drums": 3.0, "bass": 4.0, "other": 0.0}
MIN_SDR_2 = {"vocals": 5.0, "instrumental": 12.0}


@pytest.mark.parametrize("quality", QUALITIES)
def test_four_stems_are_meaningful(song, quality: str) -> None:
    """Each stem correlates best with its own source and beats a modest SDR bar.

    Measured on this 12 s song (dB SDR vocals/drums/bass/other): fast ~9.9/7.7/11.7/4.6,
    balanced ~10.9/8.1/11.9/5.1, best ~11.1/8.3/12/5.7 (2 stems: vocals ~9.9-10.8,
    instrumental ~19-20). The SDR bars are about half of that, so tuning may move the
    numbers without the test turning into a benchmark.
    """
    mix, sources = song
    out = DSPSeparator(quality).separate(mix, 4)
    assert list(out) == list(FOUR_STEMS)
    for name in FOUR_STEMS:
        corr = {src: correlation(out[name], sources[src]) for src in FOUR_STEMS}
        assert max(corr, key=corr.get) == name, (name, corr)
        assert sdr(sources[name], out[name]) > MIN_SDR_4[name], (name, sdr(sources[name], out[name]))


@pytest.mark.parametrize("quality", QUALITIES)
def test_two_stems_are_meaningful(song, quality: str) -> None:
    mix, sources = song
    out = DSPSeparator(quality).separate(mix, 2)
    assert list(out) == list(TWO_STEMS)
    assert correlation(out["vocals"], sources["vocals"]) > correlation(out["vocals"], sources["instrumental"])
    for name in TWO_STEMS:
        assert sdr(sources[name], out[name]) > MIN_SDR_2[name], (name, sdr(sources[name], out[name]))
    # the vocal stem holds most of the melody's energy and little of the rest
    assert np.sum(out["vocals"] * sources["vocals"]) > 0.7 * np.sum(sources["vocals"] ** 2)
