"""Tests for burntbeats.audio.io: probing, streaming decode, read/write and transcode.

All fixtures are generated in tmp_path (see audio_fixtures.py).
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib

import av
import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import make_song, make_tone, write_fixture
from burntbeats.audio import (
    ENCODE_FORMATS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MEDIA_TYPES,
    MIN_DURATION_S,
    MIN_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    AudioTooLong,
    AudioTooShort,
    EmptyAudio,
    HeaderMismatch,
    UnsupportedAudio,
    decode_to_wav,
    probe,
    read_audio,
    transcode,
    write_audio,
)
from fuzz_audio import flac_patch_streaminfo, pcm16, wav_bytes

SECONDS = 1.5
DUR_TOL = 0.05

# fixture fmt -> (file name, expected container, expected codec, expected sample rate)
FORMATS = {
    "wav16": ("a.wav", "wav", "pcm_s16le", 44100),
    "wav24": ("a.wav", "wav", "pcm_s24le", 44100),
    "wav32f": ("a.wav", "wav", "pcm_f32le", 44100),
    "flac": ("a.flac", "flac", "flac", 44100),
    "ogg": ("a.ogg", "ogg", "vorbis", 44100),
    "opus": ("a.opus", "ogg", "opus", 48000),
    "mp3": ("a.mp3", "mp3", "mp3", 44100),
    "m4a": ("a.m4a", "m4a", "aac", 44100),
    "aac": ("a.aac", "aac", "aac", 44100),
}
LOSSLESS = ("wav16", "wav24", "wav32f", "flac")


def dominant_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest spectral peak of a 1-D signal."""
    x = np.asarray(x, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([200, 30, 30] * 8) for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- every format decodes


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_probes_and_decodes(tmp_path, fmt):
    name, container, codec, rate = FORMATS[fmt]
    path = tmp_path / name
    make_tone(path, seconds=SECONDS, fmt=fmt)

    info = probe(path)
    assert isinstance(info, AudioInfo)
    assert (info.format, info.codec, info.sample_rate, info.channels) == (container, codec, rate, 2)
    assert info.duration_s == pytest.approx(SECONDS, abs=DUR_TOL)

    audio, sr = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 2
    assert sr == rate
    assert audio.shape[1] / sr == pytest.approx(SECONDS, abs=DUR_TOL)
    assert dominant_hz(audio[0], sr) == pytest.approx(440.0, abs=3.0)
    # level kept (middle part: FFmpeg's AAC encoder overshoots on its first frame)
    assert np.abs(audio[0, sr // 10 : -sr // 10]).max() == pytest.approx(0.5, abs=0.03)
    if fmt in LOSSLESS:  # sample exact: same values libsndfile reads
        ref, _ = sf.read(path, dtype="float32", always_2d=True)
        np.testing.assert_array_equal(audio, ref.T)

    out = tmp_path / "decoded.wav"
    dinfo = decode_to_wav(path, out, sample_rate=44100, channels=2)
    assert (dinfo.format, dinfo.codec, dinfo.sample_rate, dinfo.channels) == (container, codec, rate, 2)
    assert dinfo.duration_s == pytest.approx(SECONDS, abs=DUR_TOL)
    written = sf.info(out)
    assert (written.samplerate, written.channels, written.subtype, written.format) == (44100, 2, "FLOAT", "WAV")
    assert written.frames / 44100 == pytest.approx(dinfo.duration_s, abs=2e-3)
    data, _ = sf.read(out, dtype="float32", always_2d=True)
    assert dominant_hz(data[:, 1], 44100) == pytest.approx(440.0, abs=3.0)
    if fmt in LOSSLESS:
        np.testing.assert_array_equal(data.T, audio)
        assert dinfo.duration_s == pytest.approx(SECONDS, abs=1e-9)


def test_m4a_is_trimmed_to_its_exact_length(tmp_path):
    # FFmpeg leaves the AAC tail padding in; the edit-list duration is exact.
    make_tone(tmp_path / "a.m4a", seconds=SECONDS)
    audio, sr = read_audio(tmp_path / "a.m4a")
    assert audio.shape[1] == round(SECONDS * sr)


def test_mono_file(tmp_path):
    make_tone(tmp_path / "m.flac", seconds=0.5, channels=1)
    info = probe(tmp_path / "m.flac")
    assert info.channels == 1
    audio, sr = read_audio(tmp_path / "m.flac")
    assert audio.shape == (1, round(0.5 * sr))


# --------------------------------------------------------------------------- content detection / bad input


def test_format_detected_from_content_not_extension(tmp_path):
    src = tmp_path / "real.flac"
    make_tone(src, seconds=0.5)
    fake = tmp_path / "song.mp3"
    fake.write_bytes(src.read_bytes())
    info = probe(fake)
    assert (info.format, info.codec) == ("flac", "flac")
    audio, _ = read_audio(fake)
    assert audio.shape == (2, 22050)


@pytest.mark.parametrize(
    "name,payload",
    [
        ("notes.wav", b"This is just a text file, not audio at all.\n" * 40),
        ("picture.wav", tiny_png()),
        ("picture.mp3", tiny_png()),
        ("random.mp3", np.random.default_rng(1).integers(1, 255, 4000, dtype=np.uint8).tobytes()),
    ],
)
def test_non_audio_is_unsupported(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(UnsupportedAudio) as err:
        probe(path)
    assert err.value.status_code == 415
    assert isinstance(err.value, AudioError)
    assert "audio" in str(err.value) and str(tmp_path) not in str(err.value)
    with pytest.raises(UnsupportedAudio):
        decode_to_wav(path, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()
    with pytest.raises(UnsupportedAudio):
        read_audio(path)


def test_video_without_audio_is_unsupported(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(UnsupportedAudio, match="no audio track") as err:
        probe(path)
    assert err.value.status_code == 415


def test_zero_byte_file_is_empty_400(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    for call in (lambda: probe(path), lambda: decode_to_wav(path, tmp_path / "o.wav"), lambda: read_audio(path)):
        with pytest.raises(EmptyAudio) as err:
            call()
        assert err.value.status_code == 400
        assert "empty" in str(err.value)


def test_header_only_wav_is_empty_422(tmp_path):
    full = tmp_path / "full.wav"
    make_tone(full, seconds=0.2)
    path = tmp_path / "header.wav"
    path.write_bytes(full.read_bytes()[:44])
    with pytest.raises(EmptyAudio) as err:
        probe(path)
    assert err.value.status_code == 422
    with pytest.raises(EmptyAudio) as err:
        decode_to_wav(path, tmp_path / "o.wav")
    assert err.value.status_code == 422
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("name,keep", [("cut.mp3", 100), ("cut.flac", 100), ("cut.m4a", 300), ("cut.ogg", 100)])
def test_truncated_file_is_empty_422(tmp_path, name, keep):
    full = tmp_path / ("full" + name[3:])
    make_tone(full, seconds=0.5)
    path = tmp_path / name
    path.write_bytes(full.read_bytes()[:keep])
    with pytest.raises(EmptyAudio) as err:
        probe(path)
    assert err.value.status_code == 422
    with pytest.raises(EmptyAudio):
        decode_to_wav(path, tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def test_partly_truncated_file_decodes_what_is_there(tmp_path):
    full = tmp_path / "full.wav"
    make_tone(full, seconds=1.0)
    path = tmp_path / "half.wav"
    path.write_bytes(full.read_bytes()[: 44 + 4 * 22050])  # header still claims 1 s
    info = decode_to_wav(path, tmp_path / "o.wav")
    assert info.duration_s == pytest.approx(0.5, abs=1e-3)


# --------------------------------------------------------------------------- duration limit


def test_probe_too_long(tmp_path):
    make_tone(tmp_path / "a.flac", seconds=2.0)
    assert probe(tmp_path / "a.flac", max_duration_s=3.0).duration_s == pytest.approx(2.0)
    with pytest.raises(AudioTooLong) as err:
        probe(tmp_path / "a.flac", max_duration_s=1.0)
    assert err.value.status_code == 422
    assert "2.0 s" in str(err.value) and "1.0 s" in str(err.value)
    assert err.value.duration_s == pytest.approx(2.0) and err.value.limit_s == 1.0


def test_too_long_message_uses_minutes():
    msg = str(AudioTooLong(725.0, 600.0))
    assert "12:05" in msg and "10:00" in msg


def test_decode_enforces_limit_while_decoding(tmp_path):
    # Raw ADTS only has a bit-rate estimate of its duration, so the limit is
    # enforced on the decoded samples.
    make_tone(tmp_path / "a.aac", seconds=2.0)
    out = tmp_path / "o.wav"
    with pytest.raises(AudioTooLong) as err:
        decode_to_wav(tmp_path / "a.aac", out, max_duration_s=1.0)
    assert err.value.status_code == 422
    assert not out.exists()
    with pytest.raises(AudioTooLong):
        probe(tmp_path / "a.aac", max_duration_s=1.0)
    # within the limit: fine
    assert decode_to_wav(tmp_path / "a.aac", out, max_duration_s=3.0).duration_s == pytest.approx(2.0, abs=DUR_TOL)


def test_decode_limit_from_container_duration(tmp_path):
    make_tone(tmp_path / "a.wav", seconds=3.0)
    with pytest.raises(AudioTooLong):
        decode_to_wav(tmp_path / "a.wav", tmp_path / "o.wav", max_duration_s=1.0)
    assert not (tmp_path / "o.wav").exists()


# --------------------------------------------------------------------------- conversion in decode_to_wav


def test_decode_mono_48k_to_stereo_44k(tmp_path):
    src = tmp_path / "mono48.wav"
    make_tone(src, seconds=1.0, sr=48000, channels=1, fmt="wav32f")
    out = tmp_path / "o.wav"
    calls: list[float] = []
    info = decode_to_wav(src, out, sample_rate=44100, channels=2, progress=calls.append)
    assert (info.sample_rate, info.channels) == (48000, 1)
    assert info.duration_s == pytest.approx(1.0, abs=1e-9)
    data, sr = sf.read(out, dtype="float32", always_2d=True)
    assert sr == 44100 and data.shape[1] == 2
    assert abs(data.shape[0] - 44100) <= 2
    np.testing.assert_array_equal(data[:, 0], data[:, 1])  # duplicated, not -3 dB panned
    assert np.abs(data[:, 0]).max() == pytest.approx(0.5, abs=0.01)
    assert dominant_hz(data[:, 0], 44100) == pytest.approx(440.0, abs=2.0)
    assert calls and calls[-1] == 1.0
    assert all(0.0 <= c <= 1.0 for c in calls) and calls == sorted(calls)


def test_decode_stereo_to_mono_averages(tmp_path):
    src = tmp_path / "s.wav"
    make_tone(src, seconds=0.3, fmt="wav32f")  # right channel is 0.9 x left
    audio, _ = read_audio(src, channels=1)
    full, _ = read_audio(src)
    np.testing.assert_allclose(audio[0], full.mean(axis=0), atol=1e-6)


def test_decode_surround_downmix(tmp_path):
    src = tmp_path / "six.wav"
    sr = 8000
    t = np.arange(sr // 2) / sr
    six = np.stack([0.9 * np.sin(2 * np.pi * 300 * t)] * 6).T
    sf.write(src, six, sr, subtype="PCM_24")
    assert probe(src).channels == 6
    out = tmp_path / "o.wav"
    info = decode_to_wav(src, out, sample_rate=sr, channels=2)
    assert info.channels == 6
    data, _ = sf.read(out, always_2d=True)
    assert data.shape == (sr // 2, 2)
    assert np.isfinite(data).all() and np.abs(data).max() <= 1.0
    assert np.abs(data).max() > 0.3


def test_read_audio_resamples(tmp_path):
    make_tone(tmp_path / "a.flac", seconds=1.0, sr=48000)
    audio, sr = read_audio(tmp_path / "a.flac", sample_rate=22050, channels=1)
    assert sr == 22050 and audio.shape[0] == 1
    assert abs(audio.shape[1] - 22050) <= 2
    assert dominant_hz(audio[0], sr) == pytest.approx(440.0, abs=2.0)


def test_decode_is_streaming(tmp_path):
    """Peak Python/numpy memory while decoding 20 s stays far below the decoded size (7 MB)."""
    src = tmp_path / "long.flac"
    make_tone(src, seconds=20.0)
    tracemalloc.start()
    try:
        info = decode_to_wav(src, tmp_path / "o.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.duration_s == pytest.approx(20.0)
    assert peak < 2_000_000, peak


def test_decode_song_fixture(tmp_path):
    mix, sources = make_song(tmp_path / "song.wav", seconds=2.0)
    assert set(sources) >= {"vocals", "drums", "bass", "other", "instrumental"}
    np.testing.assert_allclose(sources["vocals"] + sources["instrumental"], mix, atol=1e-6)
    audio, sr = read_audio(tmp_path / "song.wav")
    assert sr == 44100
    np.testing.assert_array_equal(audio, mix)


# --------------------------------------------------------------------------- writing


def _grid_signal(bits: int, n: int = 20000, channels: int = 2) -> np.ndarray:
    """Random values exactly on the integer grid of the given bit depth."""
    rng = np.random.default_rng(bits)
    full = 1 << (bits - 1)
    return (rng.integers(-full, full, (channels, n)) / full).astype(np.float32)


@pytest.mark.parametrize("name,bits", [("a.wav", 16), ("a.wav", 24), ("a.flac", 16), ("a.flac", 24)])
def test_write_integer_formats_round_trip_exactly(tmp_path, name, bits):
    x = _grid_signal(bits)
    path = tmp_path / name
    write_audio(path, x, 44100, bit_depth=bits)
    info = sf.info(path)
    assert info.subtype == f"PCM_{bits}" and info.samplerate == 44100
    y, sr = read_audio(path)
    assert sr == 44100
    np.testing.assert_array_equal(y, x)
    z, _ = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(z.T, x)


@pytest.mark.parametrize("bits", [16, 24])
def test_write_quantises_and_clips(tmp_path, bits):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.3, 1.3, (2, 5000)).astype(np.float32)
    write_audio(tmp_path / "q.flac", x, 48000, bit_depth=bits)
    y, _ = read_audio(tmp_path / "q.flac")
    step = 2.0 ** -(bits - 1)
    inside = np.abs(x) < 1.0 - step
    assert np.abs(y - x)[inside].max() <= step / 2 + 1e-9
    assert y.max() <= 1.0 and y.min() >= -1.0
    assert y[x > 1.0].min() >= 1.0 - step and y[x < -1.0].max() == -1.0


def test_write_float_wav_keeps_values(tmp_path):
    x = np.random.default_rng(3).uniform(-1.5, 1.5, (1, 3000)).astype(np.float32)
    write_audio(tmp_path / "f.wav", x, 16000, bit_depth=32)
    assert sf.info(tmp_path / "f.wav").subtype == "FLOAT"
    y, sr = read_audio(tmp_path / "f.wav")
    assert sr == 16000
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("sr", [44100, 22050])
def test_write_mp3(tmp_path, sr):
    t = np.arange(int(1.2 * sr)) / sr
    x = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    path = tmp_path / "a.mp3"
    write_audio(path, x, sr)
    info = probe(path)
    assert (info.format, info.codec, info.channels) == ("mp3", "mp3", 2)
    assert info.duration_s == pytest.approx(1.2, abs=0.1)
    y, ysr = read_audio(path, sample_rate=sr)
    assert y.shape[1] / sr == pytest.approx(1.2, abs=0.1)
    assert dominant_hz(y[0], sr) == pytest.approx(440.0, abs=3.0)
    assert np.abs(y[0]).max() == pytest.approx(0.5, abs=0.05)


def test_write_mono_mp3_and_explicit_fmt(tmp_path):
    x = 0.4 * np.sin(2 * np.pi * 1000 * np.arange(24000) / 48000).astype(np.float32)
    path = tmp_path / "export.bin"
    write_audio(path, x[None, :], 48000, fmt="mp3")
    info = probe(path)
    assert (info.format, info.channels, info.sample_rate) == ("mp3", 1, 48000)
    assert info.duration_s == pytest.approx(0.5, abs=0.1)


def test_write_rejects_bad_arguments(tmp_path):
    x = np.zeros((2, 100), np.float32)
    with pytest.raises(ValueError):
        write_audio(tmp_path / "a.ogg", x, 44100)
    with pytest.raises(ValueError):
        write_audio(tmp_path / "a.flac", x, 44100, bit_depth=32)
    with pytest.raises(ValueError):
        write_audio(tmp_path / "a.wav", x, 44100, bit_depth=8)
    with pytest.raises(ValueError):
        write_audio(tmp_path / "a.wav", np.zeros((1000, 2), np.float32), 44100)  # transposed


# --------------------------------------------------------------------------- transcode


def test_transcode_streams_blocks(tmp_path):
    sr = 44100
    x = _grid_signal(16, n=3 * sr + 123)
    src = tmp_path / "mix.wav"
    write_audio(src, x, sr, bit_depth=32)

    transcode(src, tmp_path / "o.wav", block_frames=10000)
    y, _ = read_audio(tmp_path / "o.wav")
    np.testing.assert_array_equal(y, x)

    transcode(src, tmp_path / "o.flac", bit_depth=24, block_frames=7777)
    assert sf.info(tmp_path / "o.flac").subtype == "PCM_24"
    y, _ = read_audio(tmp_path / "o.flac")
    np.testing.assert_array_equal(y, x)

    transcode(src, tmp_path / "o.mp3", block_frames=5000)
    info = probe(tmp_path / "o.mp3")
    assert info.format == "mp3"
    assert info.duration_s == pytest.approx(x.shape[1] / sr, abs=0.1)

    transcode(src, tmp_path / "o.bin", fmt="flac")
    assert probe(tmp_path / "o.bin").format == "flac"


def test_transcode_tone_to_mp3_keeps_pitch(tmp_path):
    make_tone(tmp_path / "t.wav", seconds=1.0, fmt="wav32f")
    transcode(tmp_path / "t.wav", tmp_path / "t.mp3", block_frames=4096)
    y, sr = read_audio(tmp_path / "t.mp3")
    assert y.shape[1] / sr == pytest.approx(1.0, abs=0.1)
    assert dominant_hz(y[0], sr) == pytest.approx(440.0, abs=3.0)


def test_constants():
    assert ENCODE_FORMATS == ("wav", "flac", "mp3")
    assert MEDIA_TYPES == {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


def test_error_hierarchy():
    assert issubclass(UnsupportedAudio, AudioError) and UnsupportedAudio("x").status_code == 415
    assert EmptyAudio("x").status_code == 422
    assert EmptyAudio("x", status_code=400).status_code == 400
    assert AudioTooLong(5, 1).status_code == 422
    assert str(UnsupportedAudio("Not audio.")) == "Not audio."


def test_write_fixture_helper_formats(tmp_path):
    # the shared helper writes what it says (other test modules rely on it)
    x = 0.25 * np.ones((2, 4800), np.float32)
    write_fixture(tmp_path / "x.wav", x, 48000, "wav24")
    assert sf.info(tmp_path / "x.wav").subtype == "PCM_24"


# --------------------------------------------------------------------------- validation: bounds, minimum, lying headers

@pytest.mark.parametrize("rate", [1, 100, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 2**31 - 1])
def test_sample_rate_out_of_bounds_is_a_sentence(tmp_path, rate):
    path = tmp_path / "r.wav"
    path.write_bytes(wav_bytes(pcm16(0.5, 22050, 1), rate=rate))
    for call in (lambda: probe(path), lambda: decode_to_wav(path, tmp_path / "o.wav")):
        with pytest.raises(UnsupportedAudio, match=f"{rate} Hz is not supported") as err:
            call()
        assert err.value.status_code == 422
    assert not (tmp_path / "o.wav").exists()


def test_absurd_rate_never_allocates_gigabytes(tmp_path):
    """A 2 GHz header used to build a resampler whose filter bank took ~9 GB: now refused first
    (the child runs under a 4 GB address-space limit, one BLAS thread so imports fit in it)."""
    path = tmp_path / "r.wav"
    path.write_bytes(wav_bytes(pcm16(0.5, 22050, 1), rate=2_000_000_000))
    code = ("import resource, sys; from burntbeats.audio import decode_to_wav, AudioError\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 32, 1 << 32))\n"
            "try: decode_to_wav(sys.argv[1], sys.argv[2], 44100, 2)\n"
            "except AudioError as e: print('refused', e)\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "o.wav")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("refused") and "not supported" in done.stdout


def test_bounds_on_channels(tmp_path):
    ok = tmp_path / "ok.wav"
    ok.write_bytes(wav_bytes(pcm16(0.2, 8000, MAX_CHANNELS), rate=8000, channels=MAX_CHANNELS))
    assert probe(ok).channels == MAX_CHANNELS
    for n in (MAX_CHANNELS + 1, 300):
        path = tmp_path / f"c{n}.wav"
        path.write_bytes(wav_bytes(pcm16(0.2, 8000, n), rate=8000, channels=n))
        with pytest.raises(UnsupportedAudio, match=f"{n} audio channels; at most {MAX_CHANNELS}") as err:
            probe(path)
        assert err.value.status_code == 422


@pytest.mark.parametrize("keep", [48, 60, 100, 1000, 3000])
def test_wav_cut_short_is_refused_at_probe(tmp_path, keep):
    full = tmp_path / "full.wav"
    make_tone(full, seconds=1.0)
    path = tmp_path / "cut.wav"
    path.write_bytes(full.read_bytes()[:keep])  # the header still says 1 s
    with pytest.raises(EmptyAudio) as err:
        probe(path)
    assert err.value.status_code == 422
    assert isinstance(err.value, AudioTooShort)
    assert f"shortest accepted is {MIN_DURATION_S:.3f} s" in str(err.value)
    with pytest.raises(AudioTooShort):
        decode_to_wav(path, tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def test_minimum_duration_is_a_parameter(tmp_path):
    make_tone(tmp_path / "a.flac", seconds=0.3)
    assert probe(tmp_path / "a.flac").duration_s == pytest.approx(0.3)
    with pytest.raises(AudioTooShort, match="0.300 s long"):
        probe(tmp_path / "a.flac", min_duration_s=0.5)
    assert probe(tmp_path / "a.flac", min_duration_s=None).duration_s == pytest.approx(0.3)


def _flac_bytes(audio: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def test_flac_holding_far_more_than_its_header_stops_early(tmp_path):
    """Header: 0.5 s. Content: 60 s of (well-compressed) silence. Probe cannot tell cheaply; the
    decode stops a little past the stated length, with a sentence, and leaves no output."""
    path = tmp_path / "bomb.flac"
    path.write_bytes(flac_patch_streaminfo(_flac_bytes(np.zeros(8000 * 60, np.float32), 8000), total=4000))
    assert probe(path).duration_s < 1.0
    out = tmp_path / "o.wav"
    seen: list[float] = []
    with pytest.raises(HeaderMismatch, match="more audio than its header says") as err:
        decode_to_wav(path, out, progress=seen.append)
    assert err.value.status_code == 422
    assert not out.exists()
    with pytest.raises(HeaderMismatch):
        read_audio(path)


def test_flac_far_larger_than_its_header_is_refused_at_probe(tmp_path):
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 8000 * 20).astype(np.float32)
    path = tmp_path / "lie.flac"
    path.write_bytes(flac_patch_streaminfo(_flac_bytes(noise, 8000), total=1600))  # says 0.2 s
    with pytest.raises(HeaderMismatch, match="far larger than the 0.2 s its header states") as err:
        probe(path)
    assert err.value.status_code == 422


def test_flac_header_saying_more_than_max_is_too_long(tmp_path):
    path = tmp_path / "long.flac"
    path.write_bytes(flac_patch_streaminfo(_flac_bytes(np.zeros(22050, np.float32), 22050), total=22050 * 3600))
    with pytest.raises(AudioTooLong):
        probe(path, max_duration_s=600)


def test_unknown_codec_in_wav_is_unsupported(tmp_path):
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(pcm16(0.5, 22050, 1), tag=0x1234))
    with pytest.raises(UnsupportedAudio, match="codec") as err:
        probe(path)
    assert err.value.status_code == 415


@pytest.mark.parametrize("channels", [0, 1000, 65535])
def test_unusable_channel_count_in_a_wav_header_is_named(tmp_path, channels):
    """FFmpeg drops a channel count over 512 to 0; the user still hears what is wrong."""
    path = tmp_path / "c.wav"
    path.write_bytes(wav_bytes(pcm16(0.5, 22050, 1), channels=channels))
    with pytest.raises(UnsupportedAudio, match="usable number of audio channels") as err:
        probe(path)
    assert err.value.status_code == 422
