"""Deterministic generator of malformed and hostile "audio" uploads for the fuzz suite.

    from fuzz_audio import fuzz_cases
    for case in fuzz_cases(tmp_path):      # FuzzCase(name, data, family)
        ...

Families: truncated files (every base format cut at many lengths), lying WAV / FLAC / Ogg /
MP4 / Matroska / AIFF / AU headers (rate, channels, bit depth, length fields), absurd rates,
channel counts and durations, a FLAC "decompression bomb" whose header states far less than
it holds, random bytes (bare and behind real magic numbers), playlists and other demuxer
tricks (m3u, HLS, ffconcat, SDP, PLS, ASX, XSPF), polyglots (ZIP / HTML / PDF / images with
audio headers), ID3-only MP3s and empty files. Base files are written with soundfile and
PyAV (not burntbeats.audio) and are short (0.6 s), so accepted cases stay cheap.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from audio_fixtures import make_surround, make_tone

BASE_SECONDS = 0.6


@dataclass(frozen=True)
class FuzzCase:
    name: str  # unique, also the uploaded file name
    data: bytes
    family: str


# --------------------------------------------------------------------------- builders


def wav_bytes(
    pcm: bytes,
    *,
    rate: int = 22050,
    channels: int = 1,
    bits: int = 16,
    tag: int = 1,
    byte_rate: int | None = None,
    block_align: int | None = None,
    data_size: int | None = None,
    riff_size: int | None = None,
    fmt_size: int | None = None,
    fmt_extra: bytes = b"",
    riff: bytes = b"RIFF",
) -> bytes:
    """A RIFF/WAVE file with every header field settable (unsigned fields are masked to their width)."""
    ba = block_align if block_align is not None else max(1, channels * bits // 8)
    br = byte_rate if byte_rate is not None else rate * ba
    fmt = struct.pack("<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, br & 0xFFFFFFFF,
                      ba & 0xFFFF, bits & 0xFFFF) + fmt_extra
    fsize = len(fmt) if fmt_size is None else fmt_size
    dsize = len(pcm) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", fsize & 0xFFFFFFFF) + fmt
            + b"data" + struct.pack("<I", dsize & 0xFFFFFFFF) + pcm)
    rsize = len(body) if riff_size is None else riff_size
    return riff + struct.pack("<I", rsize & 0xFFFFFFFF) + body


def pcm16(seconds: float, rate: int, channels: int, seed: int = 0) -> bytes:
    """A quiet tone plus a little noise, interleaved 16-bit little-endian."""
    n = max(0, int(round(seconds * rate)))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * 330 * t)[:, None] + 0.02 * rng.standard_normal((n, channels))
    return np.clip(np.rint(x * 32767), -32768, 32767).astype("<i2").tobytes()


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_fixed_serial(data: bytes, serial: int = 0x42) -> bytes:
    """Every page's stream serial number set to ``serial`` (encoders pick a random one), CRCs fixed."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        nsegs = data[pos + 26]
        length = 27 + nsegs + sum(data[pos + 27 : pos + 27 + nsegs])
        page = bytearray(data[pos : pos + length])
        page[14:18] = struct.pack("<I", serial)
        page[22:26] = b"\0\0\0\0"
        page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
        out += page
        pos += length
    return bytes(out)


def ogg_set_last_granule(data: bytes, granule: int) -> bytes:
    """Rewrite the granule position (the stream length) of the last Ogg page, CRC fixed."""
    start = data.rfind(b"OggS")
    nsegs = data[start + 26]
    length = 27 + nsegs + sum(data[start + 27 : start + 27 + nsegs])
    page = bytearray(data[start : start + length])
    page[6:14] = struct.pack("<q", granule)
    page[22:26] = b"\0\0\0\0"
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return data[:start] + bytes(page) + data[start + length :]


def flac_patch_streaminfo(data: bytes, *, rate: int | None = None, channels: int | None = None,
                          bps: int | None = None, total: int | None = None,
                          min_block: int | None = None, max_block: int | None = None) -> bytes:
    """Rewrite STREAMINFO fields (the first metadata block, right after "fLaC")."""
    assert data[:4] == b"fLaC"
    si = bytearray(data[8:42])
    if min_block is not None:
        si[0:2] = struct.pack(">H", min_block)
    if max_block is not None:
        si[2:4] = struct.pack(">H", max_block)
    packed = int.from_bytes(si[10:18], "big")  # rate(20) channels-1(3) bps-1(5) total(36)
    r = (packed >> 44) & 0xFFFFF
    c = (packed >> 41) & 0x7
    b = (packed >> 36) & 0x1F
    t = packed & ((1 << 36) - 1)
    r = r if rate is None else rate & 0xFFFFF
    c = c if channels is None else (channels - 1) & 0x7
    b = b if bps is None else (bps - 1) & 0x1F
    t = t if total is None else total & ((1 << 36) - 1)
    si[10:18] = ((r << 44) | (c << 41) | (b << 36) | t).to_bytes(8, "big")
    return data[:8] + bytes(si) + data[42:]


def patch_after(data: bytes, marker: bytes, offset: int, value: bytes, occurrence: int = 0) -> bytes:
    """Overwrite bytes at ``offset`` after the n-th occurrence of ``marker`` (a box or element id)."""
    pos = -1
    for _ in range(occurrence + 1):
        pos = data.find(marker, pos + 1)
        assert pos >= 0, marker
    at = pos + len(marker) + offset
    return data[:at] + value + data[at + len(value) :]


def _extended80(value: float) -> bytes:
    """IEEE 754 80-bit extended (AIFF's COMM sample rate); NaN and inf included."""
    if value != value:
        return b"\x7f\xff\xc0" + b"\0" * 7
    if value == float("inf"):
        return b"\x7f\xff\x80" + b"\0" * 7
    if value == 0:
        return b"\0" * 10
    mant, exp = np.frexp(value)
    e = int(exp) - 1 + 16383
    m = int(mant * 2.0 ** 64)
    if e >= 0x7FFF:
        return b"\x7f\xfe" + b"\xff" * 8
    return struct.pack(">HQ", e, m & 0xFFFFFFFFFFFFFFFF)


def aiff_bytes(pcm_be: bytes, *, rate: float = 22050.0, channels: int = 1, bits: int = 16,
               frames: int | None = None) -> bytes:
    nframes = frames if frames is not None else len(pcm_be) // max(1, channels * bits // 8)
    comm = struct.pack(">hIh", channels, nframes & 0xFFFFFFFF, bits) + _extended80(rate)
    ssnd = struct.pack(">II", 0, 0) + pcm_be
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def au_bytes(pcm_be: bytes, *, rate: int = 22050, channels: int = 1, encoding: int = 3,
             offset: int = 24, data_size: int | None = None) -> bytes:
    size = len(pcm_be) if data_size is None else data_size
    head = b".snd" + struct.pack(">IIIII", offset & 0xFFFFFFFF, size & 0xFFFFFFFF, encoding, rate & 0xFFFFFFFF,
                                 channels & 0xFFFFFFFF)
    return head + b"\0" * max(0, min(offset, 64) - 24) + pcm_be


def id3v2(size: int, body: bytes = b"") -> bytes:
    """An ID3v2.4 tag header declaring ``size`` bytes (synchsafe), then ``body``."""
    s = size & 0x0FFFFFFF
    synch = bytes([(s >> 21) & 0x7F, (s >> 14) & 0x7F, (s >> 7) & 0x7F, s & 0x7F])
    return b"ID3\x04\x00\x00" + synch + body


def _webm_opus(path: Path, seconds: float) -> bytes:
    sr = 48000
    n = int(seconds * sr)
    x = (0.3 * np.sin(2 * np.pi * 330 * np.arange(n) / sr)).astype(np.float32)
    with av.open(str(path), "w", format="webm", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libopus", rate=sr)
        stream.layout = "mono"
        for i in range(0, n, 960):
            frame = av.AudioFrame.from_ndarray(x[None, i : i + 960].copy(), format="flt", layout="mono")
            frame.sample_rate = sr
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path.read_bytes()


# --------------------------------------------------------------------------- the cases


def base_files(workdir: Path) -> dict[str, bytes]:
    """Small valid files, one per supported container family (mono, 22.05/48 kHz, 0.6 s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}
    for name, fmt, sr in (("wav", "wav", 22050), ("flac", "flac", 22050), ("ogg", "ogg", 22050),
                          ("opus", "opus", 48000), ("mp3", "mp3", 22050), ("m4a", "m4a", 22050),
                          ("aac", "aac", 22050)):
        path = workdir / f"base.{name}"
        make_tone(path, seconds=BASE_SECONDS, sr=sr, channels=1, fmt=fmt)
        out[name] = path.read_bytes()
        if name in ("ogg", "opus"):  # deterministic bytes: no random stream serial
            out[name] = ogg_fixed_serial(out[name])
    out["webm"] = _webm_opus(workdir / "base.webm", BASE_SECONDS)
    make_surround(workdir / "base51.flac", "5.1", seconds=BASE_SECONDS, sr=22050)
    out["flac51"] = (workdir / "base51.flac").read_bytes()
    make_surround(workdir / "base71.flac", "7.1", seconds=BASE_SECONDS, sr=22050)  # planar, 8 planes
    out["flac71"] = (workdir / "base71.flac").read_bytes()
    pcm = pcm16(BASE_SECONDS, 22050, 1)
    out["aiff"] = aiff_bytes(np.frombuffer(pcm, "<i2").astype(">i2").tobytes())
    return out


def _cut_points(size: int) -> list[int]:
    small = [1, 2, 3, 4, 8, 12, 16, 24, 36, 44, 48, 60, 64, 100, 128, 200, 256, 512, 1024, 2048, 4096]
    frac = [size // 8, size // 4, size // 2, (3 * size) // 4, size - 64, size - 1]
    return sorted({c for c in small + frac if 0 < c < size})


def fuzz_cases(workdir: Path) -> list[FuzzCase]:
    bases = base_files(Path(workdir))
    cases: list[FuzzCase] = []

    def add(name: str, data: bytes, family: str) -> None:
        cases.append(FuzzCase(name, data, family))

    # ---- truncated at many lengths (the ext is kept: the server must not trust it)
    for kind, data in bases.items():
        ext = {"flac51": "flac", "flac71": "flac"}.get(kind, kind)
        for cut in _cut_points(len(data)):
            add(f"trunc-{kind}-{cut}.{ext}", data[:cut], "truncated")

    # ---- WAV header lies
    pcm = pcm16(BASE_SECONDS, 22050, 1, seed=1)
    for rate in (0, 1, 100, 7999, 8000, 384001, 1_000_000, 2**31 - 1, 2**32 - 1):
        add(f"wav-rate-{rate}.wav", wav_bytes(pcm, rate=rate), "wav-rate")
    for ch in (0, 3, 32, 33, 64, 200, 256, 300, 1000, 65535):
        add(f"wav-channels-{ch}.wav", wav_bytes(pcm, channels=ch), "wav-channels")
    for bits in (0, 1, 7, 12, 24, 64, 1000, 65535):
        add(f"wav-bits-{bits}.wav", wav_bytes(pcm, bits=bits), "wav-bits")
    for tag in (0, 2, 3, 6, 0x55, 0x11, 0xFFFE, 0x1234):
        add(f"wav-tag-{tag:#x}.wav", wav_bytes(pcm, tag=tag), "wav-codec")
    for ds in (0, 1, 100, 2**31 - 1, 2**32 - 1):
        add(f"wav-datasize-{ds}.wav", wav_bytes(pcm, data_size=ds), "wav-length")
    for rs in (0, 4, 2**32 - 1):
        add(f"wav-riffsize-{rs}.wav", wav_bytes(pcm, riff_size=rs), "wav-length")
    for fs in (0, 2, 14, 2**31 - 1):
        add(f"wav-fmtsize-{fs}.wav", wav_bytes(pcm, fmt_size=fs), "wav-length")
    for br, ba in ((0, 0), (1, 1), (2**32 - 1, 65535), (44100, 0)):
        add(f"wav-byterate-{br}-{ba}.wav", wav_bytes(pcm, byte_rate=br, block_align=ba), "wav-rate")
    # WAVE_FORMAT_EXTENSIBLE with a channel mask / sub-format that contradicts the header
    ext = struct.pack("<HHI", 22, 16, 0x3FFFF) + b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    add("wav-extensible-mask.wav", wav_bytes(pcm, tag=0xFFFE, fmt_extra=ext), "wav-codec")
    add("wav-extensible-garbage.wav", wav_bytes(pcm, tag=0xFFFE, fmt_extra=b"\xff" * 24), "wav-codec")
    add("rf64-no-ds64.wav", wav_bytes(pcm, riff=b"RF64", data_size=2**32 - 1, riff_size=2**32 - 1), "wav-length")
    add("wav-32ch-8k.wav", wav_bytes(pcm16(0.2, 8000, 32), rate=8000, channels=32), "wav-channels")
    add("wav-huge-claims-tiny.wav", wav_bytes(pcm16(0.2, 8000, 1), rate=8000, data_size=2**31), "wav-length")
    add("wav-two-data-chunks.wav", wav_bytes(pcm) + b"data" + struct.pack("<I", 2**31) + pcm, "wav-length")
    add("wav-html-as-pcm.wav", wav_bytes(b"<html><script>alert(1)</script></html>" * 400), "polyglot")

    # ---- FLAC STREAMINFO lies
    flac = bases["flac"]
    for rate in (0, 1, 7999, 655350, 1048575):
        add(f"flac-rate-{rate}.flac", flac_patch_streaminfo(flac, rate=rate), "flac-header")
    for ch in (2, 8):
        add(f"flac-channels-{ch}.flac", flac_patch_streaminfo(flac, channels=ch), "flac-header")
    for bps in (4, 32):
        add(f"flac-bps-{bps}.flac", flac_patch_streaminfo(flac, bps=bps), "flac-header")
    for total in (0, 1, 2205, 22050 * 3600 * 24, (1 << 36) - 1):
        add(f"flac-total-{total}.flac", flac_patch_streaminfo(flac, total=total), "flac-length")
    add("flac-blocksize-0.flac", flac_patch_streaminfo(flac, min_block=0, max_block=0), "flac-header")
    add("flac-blocksize-65535.flac", flac_patch_streaminfo(flac, min_block=65535, max_block=65535), "flac-header")
    # states 0.2 s, holds 20 s of noise: far larger than the header allows (refused at upload)
    noise = np.random.default_rng(3).uniform(-0.5, 0.5, (8000 * 20,)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, noise, 8000, format="FLAC", subtype="PCM_16")
    add("flac-lying-length-noise.flac", flac_patch_streaminfo(buf.getvalue(), total=1600), "flac-length")
    # states 0.5 s, holds 60 s of silence in a few kB (constant subframes): a decompression bomb
    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000 * 60, np.float32), 8000, format="FLAC", subtype="PCM_16")
    add("flac-bomb-silence.flac", flac_patch_streaminfo(buf.getvalue(), total=4000), "flac-length")
    add("flac-bomb-unknown-length.flac", flac_patch_streaminfo(buf.getvalue(), total=0), "flac-length")

    # ---- Ogg / MP4 / Matroska / AIFF / AU length and rate fields
    for granule in (0, 1, 2**40, 2**62):
        add(f"ogg-granule-{granule}.ogg", ogg_set_last_granule(bases["ogg"], granule), "ogg-length")
        add(f"opus-granule-{granule}.opus", ogg_set_last_granule(bases["opus"], granule), "ogg-length")
    m4a = bases["m4a"]
    for label, offset, value in (("timescale-0", 12, b"\0\0\0\0"), ("timescale-1", 12, b"\0\0\0\x01"),
                                 ("timescale-max", 12, b"\xff\xff\xff\xff"), ("duration-max", 16, b"\xff\xff\xff\xff"),
                                 ("duration-0", 16, b"\0\0\0\0")):
        add(f"m4a-mdhd-{label}.m4a", patch_after(m4a, b"mdhd", offset, value), "mp4-header")
    add("m4a-stsz-huge.m4a", patch_after(m4a, b"stsz", 8, b"\x3f\xff\xff\xff"), "mp4-header")
    add("m4a-stts-huge-delta.m4a", patch_after(m4a, b"stts", 12, b"\x7f\xff\xff\xff"), "mp4-header")
    add("m4a-mp4a-rate-max.m4a", patch_after(m4a, b"mp4a", 24, b"\xff\xff\x00\x00"), "mp4-header")
    add("m4a-mp4a-channels-max.m4a", patch_after(m4a, b"mp4a", 16, b"\xff\xff"), "mp4-header")
    webm = bases["webm"]
    for label, value in (("rate-huge", struct.pack(">d", 1e12)), ("rate-zero", struct.pack(">d", 0.0)),
                         ("rate-nan", struct.pack(">d", float("nan")))):
        if b"\xb5\x88" in webm:
            add(f"webm-{label}.webm", patch_after(webm, b"\xb5\x88", 0, value), "mkv-header")
    if b"\x9f\x81" in webm:
        add("webm-channels-200.webm", patch_after(webm, b"\x9f\x81", 0, b"\xc8"), "mkv-header")
    if b"\x44\x89\x88" in webm:
        add("webm-duration-huge.webm", patch_after(webm, b"\x44\x89\x88", 0, struct.pack(">d", 1e15)), "mkv-length")
    be = np.frombuffer(pcm, "<i2").astype(">i2").tobytes()
    for rate in (0.0, 1.0, 1e7, 1e30, float("nan"), float("inf"), -44100.0):
        add(f"aiff-rate-{rate}.aiff", aiff_bytes(be, rate=rate), "aiff-header")
    for ch in (0, 33, 1000, -1):
        add(f"aiff-channels-{ch}.aiff", aiff_bytes(be, channels=ch), "aiff-header")
    add("aiff-frames-huge.aiff", aiff_bytes(be, frames=2**32 - 1), "aiff-header")
    for rate in (0, 1, 2**32 - 1):
        add(f"au-rate-{rate}.au", au_bytes(be, rate=rate), "au-header")
    for ch in (0, 100, 2**32 - 1):
        add(f"au-channels-{ch}.au", au_bytes(be, channels=ch), "au-header")
    add("au-offset-huge.au", au_bytes(be, offset=2**31), "au-header")
    add("au-encoding-99.au", au_bytes(be, encoding=99), "au-header")

    # ---- random bytes, bare and behind real magic numbers
    rng = np.random.default_rng(2024)
    for i, n in enumerate((1, 7, 64, 512, 4096, 65536, 300_000)):
        add(f"random-{i}.mp3", rng.integers(0, 256, n, dtype=np.uint8).tobytes(), "random")
    magics = {"wav": b"RIFF\x24\x00\x01\x00WAVEfmt ", "flac": b"fLaC\x00\x00\x00\x22", "ogg": b"OggS\x00\x02",
              "mp3": b"\xff\xfb\x90\x64", "id3": b"ID3\x03\x00\x00\x00\x00\x00\x10", "m4a": b"\x00\x00\x00\x20ftypM4A ",
              "mkv": b"\x1aE\xdf\xa3\x9f\x42\x86\x81\x01", "aiff": b"FORM\x00\x01\x00\x00AIFFCOMM",
              "au": b".snd\x00\x00\x00\x18",
              "caf": b"caff\x00\x01\x00\x00", "aac": b"\xff\xf1\x50\x80", "wv": b"wvpk"}
    for kind, magic in magics.items():
        for j, n in enumerate((40, 20_000)):
            add(f"magic-{kind}-{j}.{kind}", magic + rng.integers(0, 256, n, dtype=np.uint8).tobytes(), "random-magic")

    # ---- playlists and other demuxer tricks (must never be opened: not on the demuxer allow-list)
    tricks = {
        "m3u": b"#EXTM3U\n#EXTINF:10,x\nfile:///etc/passwd\n",
        "m3u8": b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n",
        "hls-local": b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n/etc/passwd\n"
                     b"#EXTINF:1.0,\nconcat:/etc/hosts|/etc/passwd\n",
        "hls-data": b"#EXTM3U\n#EXTINF:1,\ndata:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEA\n",
        "ffconcat": b"ffconcat version 1.0\nfile '/etc/passwd'\nfile 'data/jobs/other/input'\n",
        "sdp": b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n",
        "pls": b"[playlist]\nFile1=/etc/passwd\nLength1=-1\nNumberOfEntries=1\nVersion=2\n",
        "asx": b'<asx version="3.0"><entry><ref href="file:///etc/passwd"/></entry></asx>',
        "xspf": b'<?xml version="1.0"?><playlist xmlns="http://xspf.org/ns/0/"><trackList><track>'
                b"<location>file:///etc/passwd</location></track></trackList></playlist>",
        "cue": b'FILE "/etc/passwd" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n',
        "srt": b"1\n00:00:00,000 --> 00:00:01,000\n<font>x</font>\n",
        "image2-pattern": b"%d.png\n",
        "m3u-after-id3": id3v2(10, b"\0" * 10) + b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n",
    }
    for kind, data in tricks.items():
        add(f"trick-{kind}.m3u8" if kind.startswith("hls") else f"trick-{kind}.wav", data, "demuxer-trick")

    # ---- polyglots
    wav_small = wav_bytes(pcm16(0.3, 22050, 1))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("song.wav", date_time=(2020, 1, 1, 0, 0, 0)), wav_small)  # fixed time
    add("polyglot-zip-with-wav.wav", zbuf.getvalue(), "polyglot")
    add("polyglot-wav-then-zip.wav", wav_small + zbuf.getvalue(), "polyglot")
    add("polyglot-html-then-wav.wav", b"<!doctype html><html><body>hi</body></html>\n" + wav_small, "polyglot")
    add("polyglot-wavheader-html.wav", wav_small[:44] + b"<html><script>alert(1)</script></html>", "polyglot")
    add("polyglot-pdf-mp3.mp3", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" + bases["mp3"], "polyglot")
    add("polyglot-gif-wav.wav", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;" + wav_small, "polyglot")
    add("polyglot-png-ogg.ogg", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bases["ogg"], "polyglot")
    add("polyglot-m4a-ftyp-html.m4a", bases["m4a"][:32] + b"<html>" * 100, "polyglot")
    add("polyglot-flac-zip.flac", bases["flac"][:42] + zbuf.getvalue(), "polyglot")
    add("polyglot-svg.wav", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "polyglot")

    # ---- ID3-only and ID3-tricked MP3s
    add("id3-only-empty.mp3", id3v2(0), "id3")
    add("id3-only-padded.mp3", id3v2(1024, b"\0" * 1024), "id3")
    add("id3-claims-256mb.mp3", id3v2(0x0FFFFFFF) + bases["mp3"], "id3")
    add("id3-then-html.mp3", id3v2(16, b"\0" * 16) + b"<html>" * 200, "id3")
    add("id3v1-only.mp3", b"TAG" + b"\0" * 125, "id3")
    add("id3-nested.mp3", id3v2(20, id3v2(10, b"\0" * 10)) + id3v2(0x0FFFFFFF), "id3")

    # ---- empty and near-empty
    for label, data in (("zero", b""), ("one", b"\0"), ("space", b" "), ("newlines", b"\n" * 100),
                        ("nul-4k", b"\0" * 4096), ("ff-4k", b"\xff" * 4096)):
        add(f"empty-{label}.wav", data, "empty")

    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "fuzz case names must be unique"
    return cases
