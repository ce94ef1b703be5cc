"""Generated audio fixtures shared by the test suite (no downloads, deterministic).

    from audio_fixtures import make_tone, make_song

    audio = make_tone(tmp_path / "a.flac", seconds=1.0)            # (channels, n) float32 written
    mix, sources = make_song(tmp_path / "song.wav", seconds=4.0)   # mix (2, n); sources["vocals"], ...

Fixtures are written with soundfile (wav/flac/ogg-vorbis) or PyAV directly (opus, mp3,
m4a, aac), never with ``burntbeats.audio.io``, so they can test it.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf

# fmt values accepted by make_tone / write_fixture (None: from the path suffix)
TONE_FORMATS = ("wav", "wav16", "wav24", "wav32f", "flac", "ogg", "opus", "mp3", "m4a", "aac")
_SUFFIX_FORMATS = {
    ".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".opus": "opus",
    ".mp3": "mp3", ".m4a": "m4a", ".mp4": "m4a", ".aac": "aac",
}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def _fixture_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        try:
            fmt = _SUFFIX_FORMATS[path.suffix.lower()]
        except KeyError:
            raise ValueError(f"cannot tell the fixture format from {path.name!r}; pass fmt=") from None
    fmt = fmt.lower()
    if fmt == "vorbis":
        fmt = "ogg"
    if fmt not in TONE_FORMATS:
        raise ValueError(f"unknown fixture format {fmt!r}; one of {TONE_FORMATS}")
    return fmt


def write_fixture(path, audio: np.ndarray, sr: int, fmt: str | None = None) -> None:
    """Write float audio shaped (channels, n) in one of TONE_FORMATS ("wav" is 16-bit PCM)."""
    path = Path(path)
    fmt = _fixture_format(path, fmt)
    audio = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    if audio.ndim == 1:
        audio = audio[None, :]
    data = audio.T
    if fmt in ("wav", "wav16"):
        sf.write(path, data, sr, format="WAV", subtype="PCM_16")
    elif fmt == "wav24":
        sf.write(path, data, sr, format="WAV", subtype="PCM_24")
    elif fmt == "wav32f":
        sf.write(path, data, sr, format="WAV", subtype="FLOAT")
    elif fmt == "flac":
        sf.write(path, data, sr, format="FLAC", subtype="PCM_16")
    elif fmt == "ogg":
        sf.write(path, data, sr, format="OGG", subtype="VORBIS")
    else:
        codec, container = {"opus": ("libopus", "ogg"), "mp3": ("libmp3lame", "mp3"),
                            "m4a": ("aac", "ipod"), "aac": ("aac", "adts")}[fmt]
        _encode_pyav(path, audio, sr, codec, container)


def _encode_pyav(path: Path, audio: np.ndarray, sr: int, codec: str, container_fmt: str) -> None:
    channels = audio.shape[0]
    if channels > 2:
        raise ValueError("PyAV fixtures support mono or stereo")
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), mode="w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = layout
        if codec != "libopus":  # libopus takes packed s16/flt; PyAV converts the frames
            stream.format = "fltp"
        if codec in ("libmp3lame", "aac"):
            stream.bit_rate = 192_000 if channels == 2 else 128_000
        step = 4096  # PyAV rebuffers to the encoder's frame size
        for i in range(0, audio.shape[1], step):
            block = np.ascontiguousarray(audio[:, i : i + step])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = sr
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def make_tone(
    path, seconds: float = 2.0, sr: int = 44100, channels: int = 2, freq: float = 440.0, fmt=None
) -> np.ndarray:
    """Write a sine tone (amplitude 0.5, 5 ms fades) and return the float32 (channels, n) written.

    Each channel carries the same tone (channel k is scaled by 1 - 0.1*k so channels
    are distinguishable). Opus only supports 8/12/16/24/48 kHz: for ``fmt="opus"`` an
    unsupported ``sr`` is replaced by 48000 (the returned array is at that rate).
    """
    path = Path(path)
    f = _fixture_format(path, fmt)
    if f == "opus" and sr not in _OPUS_RATES:
        sr = 48000
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, int(0.005 * sr))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    audio = np.stack([x * (1.0 - 0.1 * k) for k in range(channels)]).astype(np.float32)
    write_fixture(path, audio, sr, f)
    return audio


# --------------------------------------------------------------------------- synthetic song

_A4 = 440.0


def _midi_hz(note: float) -> float:
    return _A4 * 2.0 ** ((note - 69) / 12.0)


def _env(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    e = np.ones(n)
    a = min(n, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    e[:a] = np.linspace(0, 1, a)
    if r > 0:
        e[n - r :] *= np.linspace(1, 0, r)
    return e


def make_song(path, seconds: float, sr: int = 44100, seed: int = 0, fmt: str | None = None):
    """Write a synthetic stereo "song" and return ``(mix, sources)``.

    ``mix`` is float32 (2, n); ``sources`` maps "vocals", "drums", "bass", "other" (each
    float32 (2, n), summing to ``mix`` up to float32 rounding) plus "instrumental" = drums + bass + other.

    * vocals: centred harmonic melody with 5.5 Hz vibrato (C major, 262-523 Hz)
    * drums:  kick on beats 1 and 3, snare on 2 and 4, hi-hat eighths (panned slightly right)
    * bass:   chord roots two octaves down (65-110 Hz), a band-limited saw (4 harmonics)
    * other:  chord pad (I-V-vi-IV), notes panned left / centre / right, slow attack

    120 BPM, deterministic for a given seed. Written as a float WAV by default (so the file
    equals ``mix`` exactly); any make_tone format via ``fmt`` or the suffix.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    beat = 0.5  # 120 BPM
    bar = 4 * beat

    # ---- vocals: one note per beat from the chord tones / scale, harmonic, vibrato
    scale = np.array([60, 62, 64, 65, 67, 69, 71, 72])  # C4..C5
    n_beats = int(np.ceil(seconds / beat))
    notes = scale[rng.integers(0, len(scale), n_beats)]
    note_idx = np.minimum((t / beat).astype(int), n_beats - 1)
    f0 = np.array([_midi_hz(m) for m in notes])[note_idx]
    vibrato = 1.0 + 0.012 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / sr
    voice = sum((0.9 ** k) / k * np.sin(k * phase) for k in range(1, 7))
    pos = (t % beat) / beat  # position inside the note: short attack and release per note
    venv = np.clip(pos / 0.08, 0, 1) * np.clip((1 - pos) / 0.12, 0, 1)
    vocals = 0.28 * voice * venv
    vocals_st = np.stack([vocals, vocals])

    # ---- drums
    drums_st = np.zeros((2, n))
    kick_len, snare_len, hat_len = int(0.25 * sr), int(0.18 * sr), int(0.05 * sr)
    tk = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * (45 * tk + (120 - 45) / 30 * (1 - np.exp(-30 * tk)))) * np.exp(-tk * 14)
    ts = np.arange(snare_len) / sr
    snare_noise = rng.standard_normal(snare_len)
    snare = (0.6 * snare_noise + 0.5 * np.sin(2 * np.pi * 185 * ts)) * np.exp(-ts * 22)
    th = np.arange(hat_len) / sr
    hat_noise = np.diff(rng.standard_normal(hat_len + 1))  # crude high-pass
    hat = 0.5 * hat_noise * np.exp(-th * 70)

    def add(sig, start, gains):
        if start >= n:
            return
        m = min(len(sig), n - start)
        drums_st[0, start : start + m] += gains[0] * sig[:m]
        drums_st[1, start : start + m] += gains[1] * sig[:m]

    for b in range(n_beats):
        s = int(round(b * beat * sr))
        if b % 4 in (0, 2):
            add(kick, s, (0.9, 0.9))
        else:
            add(snare, s, (0.5, 0.5))
        add(hat, s, (0.15, 0.25))
        add(hat, int(round((b + 0.5) * beat * sr)), (0.1, 0.18))

    # ---- chords (I-V-vi-IV in C), bass and pad
    chords = [(60, 64, 67), (67, 71, 74), (69, 72, 76), (65, 69, 72)]
    n_bars = int(np.ceil(seconds / bar))
    bar_idx = np.minimum((t / bar).astype(int), n_bars - 1)

    bass_f = np.array([_midi_hz(chords[i % 4][0] - 24) for i in range(n_bars)])[bar_idx]
    bass_phase = 2 * np.pi * np.cumsum(bass_f) / sr
    bass = sum((-1) ** (k + 1) / k * np.sin(k * bass_phase) for k in range(1, 5))
    bpos = (t % beat) / beat
    bass = bass * np.clip(bpos / 0.02, 0, 1) * np.exp(-bpos * 1.5)
    bass = 0.45 * bass
    bass_st = np.stack([bass, bass])

    pad_st = np.zeros((2, n))
    pans = (0.2, 0.5, 0.8)  # 0 = left, 1 = right
    for v in range(3):
        f = np.array([_midi_hz(chords[i % 4][v] - 12) for i in range(n_bars)])[bar_idx]
        ph = 2 * np.pi * np.cumsum(f) / sr
        det = 2 * np.pi * np.cumsum(f * 1.004) / sr
        tone = 0.5 * (np.sin(ph) + 0.3 * np.sin(2 * ph) + np.sin(det) + 0.3 * np.sin(2 * det))
        pad_st[0] += np.cos(pans[v] * np.pi / 2) * tone
        pad_st[1] += np.sin(pans[v] * np.pi / 2) * tone
    ppos = (t % bar) / bar
    pad_st *= 0.07 * np.clip(ppos / 0.25, 0, 1) * np.clip((1 - ppos) / 0.05, 0, 1)

    sources = {"vocals": vocals_st, "drums": drums_st, "bass": bass_st, "other": pad_st}
    mix = sum(sources.values())
    peak = float(np.abs(mix).max()) if n else 0.0
    gain = 0.9 / peak if peak > 0.9 else 1.0
    sources = {k: (v * gain).astype(np.float32) for k, v in sources.items()}
    mix = (sources["vocals"] + sources["drums"] + sources["bass"] + sources["other"]).astype(np.float32)
    sources["instrumental"] = (sources["drums"] + sources["bass"] + sources["other"]).astype(np.float32)

    write_fixture(path, mix, sr, fmt or ("wav32f" if path.suffix.lower() == ".wav" else None))
    return mix, sources


# --------------------------------------------------------------------------- surround

SURROUND_FORMATS = ("wav", "flac", "opus")  # as the suffix: .wav / .flac / .opus


def surround_signal(layout: str = "5.1", seconds: float = 1.5, sr: int = 48000) -> np.ndarray:
    """(channels, n) float32 in FFmpeg's channel order for ``layout``: each channel its own tone
    (A4 on the centre, quieter fifths/octaves around it, 55 Hz on the LFE), 10 ms fades."""
    names = [c.name for c in av.AudioLayout(layout).channels]
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    rows = []
    for k, name in enumerate(names):
        if name == "FC":
            freq, amp = 440.0, 0.5
        elif name.startswith("LFE"):
            freq, amp = 55.0, 0.3
        else:
            freq, amp = 440.0 * (1.5, 2.0, 3.0)[k % 3], 0.15
        rows.append(amp * np.sin(2 * np.pi * freq * t) * fade)
    return np.stack(rows).astype(np.float32)


def make_surround(path, layout: str = "5.1", seconds: float = 1.5, sr: int = 48000) -> np.ndarray:
    """Write ``surround_signal`` with PyAV, the layout recorded in the file (WAV channel mask,
    FLAC channel assignment, Opus mapping family 1); returns the float32 (channels, n) written.

    Frames are handed to the encoders *packed* (one plane): PyAV cannot build planar frames
    with 8 or more channels.
    """
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    codec, container, sample_fmt = {"wav": ("pcm_s16le", "wav", "s16"), "flac": ("flac", "flac", "s16"),
                                    "opus": ("libopus", "ogg", "flt")}[kind]
    audio = surround_signal(layout, seconds, sr)
    channels = audio.shape[0]
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = layout
        stream.format = sample_fmt
        step = 960
        for i in range(0, audio.shape[1], step):
            block = np.ascontiguousarray(audio[:, i : i + step].T).reshape(1, -1)
            if sample_fmt == "s16":
                block = np.rint(block * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(block, format=sample_fmt, layout=layout)
            assert frame.samples * channels == block.shape[1]
            frame.sample_rate = sr
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return audio
