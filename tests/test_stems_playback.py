"""The mixer's playback data: each stem's Opus rendition (segments that decode on their own, in line with the
stem) and waveform peaks, computed by the split job or on first request; per-stem bit depths; the stems ZIP."""

from __future__ import annotations

import io
import json
import zipfile

import av
import numpy as np
import soundfile as sf

from audio_fixtures import make_song
from burntbeats.audio.playback import PREROLL_FRAMES, RENDITION_RATE, SEGMENT_FRAMES, write_playback
from conftest import wait_for


def _decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def test_rendition_segments_decode_alone_and_line_up_with_the_stem(tmp_path):
    rate = 44100
    n = int(rate * 11.3)
    t = np.arange(n) / rate
    x = np.stack([0.5 * np.sin(2 * np.pi * 441 * t), 0.25 * np.sin(2 * np.pi * 882 * t)], axis=1)
    x[rate * 3: rate * 3 + 100] = 0.9  # a loud spot the peaks must show
    src = tmp_path / "stem.wav"
    sf.write(src, x.astype(np.float32), rate, subtype="PCM_16")
    m = write_playback(src, tmp_path / "stem.ogg")
    data = (tmp_path / "stem.ogg").read_bytes()

    assert m["sample_rate"] == RENDITION_RATE and m["channels"] == 2 and m["bytes"] == len(data)
    assert abs(m["frames"] - round(n * RENDITION_RATE / rate)) <= 1
    segs = m["segments"]
    assert [s["start"] for s in segs] == [i * SEGMENT_FRAMES for i in range(len(segs))]
    assert sum(s["frames"] for s in segs) == m["frames"]
    assert segs[0]["preroll"] == 0 and all(s["preroll"] == PREROLL_FRAMES for s in segs[1:])
    assert segs[0]["byte_start"] == 0 and all(a["byte_end"] == b["byte_start"] for a, b in zip(segs, segs[1:]))
    assert segs[-1]["byte_end"] == len(data)
    assert len(data) < 0.2 * src.stat().st_size  # 128 kbps against 1411

    spliced = []
    for s in segs:  # each segment is a whole Ogg Opus stream of exactly preroll + frames frames
        y = _decode(data[s["byte_start"]:s["byte_end"]])
        assert y.shape == (2, s["preroll"] + s["frames"])
        spliced.append(y[:, s["preroll"]:])
    y = np.concatenate(spliced, axis=1)
    tt = np.arange(y.shape[1]) / RENDITION_RATE
    ref = np.stack([0.5 * np.sin(2 * np.pi * 441 * tt), 0.25 * np.sin(2 * np.pi * 882 * tt)])
    quiet = (tt < 2.9) | (tt > 3.1)  # away from the loud spot
    err = y[:, quiet] - ref[:, quiet]
    assert np.sqrt(np.mean(err**2)) < 0.01  # the timeline is the stem's, sample for sample (no lag)
    seams = np.concatenate([np.arange(s["start"] - 50, s["start"] + 50) for s in segs[1:]])
    assert np.max(np.abs(err[:, np.isin(np.flatnonzero(quiet), seams)])) < 0.05  # joins are clean

    peaks = m["peaks"]
    bucket = peaks["bucket_frames"]
    assert len(peaks["channels"]) == 2 and len(peaks["channels"][0]) == -(-n // bucket)
    assert max(peaks["channels"][0]) >= 0.89 and abs(peaks["channels"][0][1] - 0.5) < 0.01
    assert abs(peaks["channels"][1][1] - 0.25) < 0.01


def _split(client, path, **form):
    with open(path, "rb") as fh:
        return client.post("/api/stems/split", files={"file": (path.name, fh, "application/octet-stream")},
                           data={k: str(v) for k, v in form.items()}).json()


def test_playback_api_formats_and_zip(client, settings, tmp_path):
    song = tmp_path / "Song.wav"
    make_song(song, seconds=6.0)
    job = _split(client, song, stems=2, quality="fast", bit_depth=24)
    status = wait_for(client, job["status_url"], job["job_token"])
    assert status["status"] == "succeeded" and status["server_export"] is True
    assert status["result"]["bit_depth"] == 24
    vocals = status["stems"][0]
    play = client.get(vocals["playback_url"])
    assert play.status_code == 200, play.text
    body = play.json()
    assert body["stem"] == "vocals" and body["codec"] == "opus" and abs(body["duration_s"] - 6.0) < 0.01
    assert len(body["peaks"]["channels"]) == 2 and body["segments"][-1]["byte_end"] == body["bytes"]
    ogg = client.get(body["url"])
    assert ogg.status_code == 200 and ogg.headers["content-type"] == "audio/ogg" and len(ogg.content) == body["bytes"]
    seg = body["segments"][1]
    part = client.get(body["url"], headers={"Range": f"bytes={seg['byte_start']}-{seg['byte_end'] - 1}"})
    assert part.status_code == 206 and _decode(part.content).shape[1] == seg["preroll"] + seg["frames"]

    # Bit depths: the stored 24-bit stem, and a 16-bit copy of it, as WAV and FLAC.
    for query, subtype in (("", "PCM_24"), ("?bits=16", "PCM_16"), ("?bits=24", "PCM_24")):
        r = client.get(f"/api/stems/file/{job['job_id']}/vocals.wav{query}", headers={"X-Job-Token": job["job_token"]})
        assert r.status_code == 200 and sf.info(io.BytesIO(r.content)).subtype == subtype, query
    for query, subtype in (("", "PCM_16"), ("?bits=24", "PCM_24")):
        r = client.get(f"/api/stems/file/{job['job_id']}/vocals.flac{query}", headers={"X-Job-Token": job["job_token"]})
        assert r.status_code == 200 and sf.info(io.BytesIO(r.content)).subtype == subtype, query

    # The ZIP, in each format.
    for query, ext in (("format=wav&bits=16", "wav"), ("format=flac&bits=24", "flac"), ("format=mp3", "mp3")):
        r = client.get(f"{status['archive_url']}&{query}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
        assert r.headers["content-disposition"] == 'attachment; filename="Song-stems.zip"'
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert sorted(z.namelist()) == [f"Song-instrumental.{ext}", f"Song-vocals.{ext}"]
            if ext != "mp3":
                info = sf.info(io.BytesIO(z.read(f"Song-vocals.{ext}")))
                assert info.subtype == ("PCM_16" if ext == "wav" else "PCM_24") and abs(info.duration - 6) < 0.01

    # A 16-bit job has no 24-bit stems to give: a sentence, not zero padding.
    job16 = _split(client, song, stems=2, quality="fast")
    wait_for(client, job16["status_url"], job16["job_token"])
    auth = {"X-Job-Token": job16["job_token"]}
    r = client.get(f"/api/stems/file/{job16['job_id']}/vocals.wav?bits=24", headers=auth)
    assert r.status_code == 409 and "16 bits" in r.json()["detail"]
    r = client.get(f"/api/stems/archive/{job16['job_id']}?format=flac&bits=24", headers=auth)
    assert r.status_code == 409
    r = client.get(f"/api/stems/playback/{job16['job_id']}/drums", headers=auth)
    assert r.status_code == 404 and "drums" in r.json()["detail"]


def test_a_job_without_renditions_gets_them_on_first_request(client, settings, tmp_path):
    song = tmp_path / "old.wav"
    make_song(song, seconds=3.0)
    job = _split(client, song, stems=2, quality="fast")
    status = wait_for(client, job["status_url"], job["job_token"])
    folder = settings.jobs_dir / job["job_id"] / "playback"
    computed = json.loads((folder / "vocals.json").read_text())
    for p in folder.iterdir():  # as a job made before renditions existed
        p.unlink()
    again = client.get(status["stems"][0]["playback_url"]).json()
    assert again["segments"] == computed["segments"] and again["peaks"] == computed["peaks"]
    assert (folder / "vocals.ogg").is_file() and (folder / "vocals.json").is_file()
    assert client.get(again["url"]).content == (folder / "vocals.ogg").read_bytes()
