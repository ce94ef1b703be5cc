"""A really full disk: the server's DATA_DIR is a small tmpfs the test mounts (in its own user and mount
namespace: no root, nothing left mounted), filled from outside through /proc/<pid>/root.

Uploads then answer 507 with a sentence and leave nothing behind (no job folder, no spool, no row);
MIN_FREE_DISK_MB refuses them before the disk is full and turns /health degraded; freeing space recovers.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import make_tone
from burntbeats.api.disk import DISK_FULL_DETAIL
from live_server import LiveServer

MB = 1024 * 1024


def _namespace_mount_works(tmp: Path) -> str | None:
    """None if `unshare` may mount a tmpfs here, else why not."""
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    point = tmp / "probe"
    point.mkdir()
    run = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                          f"mount -t tmpfs -o size=1m tmpfs '{point}'"], capture_output=True, text=True)
    return None if run.returncode == 0 else f"unshare cannot mount a tmpfs here: {run.stderr.strip()}"


@pytest.fixture
def small_disk_server(tmp_path):
    """start(size_mb, **env) -> a LiveServer whose DATA_DIR is a tmpfs of that size, and its view from here."""
    why_not = _namespace_mount_works(tmp_path)
    if why_not:
        pytest.skip(why_not)
    servers = []

    def start(size_mb: int, **env: str) -> tuple[LiveServer, Path]:
        data = tmp_path / f"data{len(servers)}"
        data.mkdir()
        prefix = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c",
                  'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"', "sh", f"{size_mb}m", str(data)]
        server = LiveServer(data, tmp_path / f"server{len(servers)}.log", env={"MAX_UPLOAD_MB": "8", **env},
                            prefix=prefix)
        servers.append(server)
        view = Path(f"/proc/{server.proc.pid}/root") / data.relative_to("/")  # the tmpfs, seen from here
        assert os.statvfs(view).f_blocks * os.statvfs(view).f_frsize <= size_mb * MB
        return server, view

    yield start
    for server in servers:
        server.stop()


def free(view: Path) -> int:
    st = os.statvfs(view)
    return st.f_bavail * st.f_frsize


def fill(view: Path, leave_bytes: int) -> Path:
    """Fill the disk, then give back `leave_bytes`."""
    filler = view / "filler"
    with open(filler, "ab") as fh:
        try:
            while True:
                fh.write(b"\0" * MB)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        fh.truncate(max(0, fh.tell() - leave_bytes))
    return filler


def noise_wav(path: Path, megabytes: float) -> bytes:
    frames = int(megabytes * MB / 2)
    sf.write(path, (np.random.default_rng(1).uniform(-0.5, 0.5, frames)).astype(np.float32), 44100, subtype="PCM_16")
    return path.read_bytes()


def left_behind(view: Path) -> list[str]:
    jobs = [p.name for p in (view / "jobs").iterdir()] if (view / "jobs").exists() else []
    spool = [p.name for p in (view / "tmp").iterdir()] if (view / "tmp").exists() else []
    return jobs + spool


def wait_done(server: LiveServer, body: dict) -> dict:
    deadline = time.monotonic() + 120
    while True:
        status = server.client.get(body["status_url"], headers={"X-Job-Token": body["job_token"]}).json()
        if status["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_full_disk_is_507_with_nothing_left_then_recovers(small_disk_server, tmp_path):
    server, view = small_disk_server(32, MIN_FREE_DISK_MB="0")
    big = noise_wav(tmp_path / "noise.wav", 3)
    tone = tmp_path / "tone.wav"
    make_tone(tone, seconds=1.0)
    # Let the workers and the database settle first (their files take part of the disk too).
    time.sleep(1)

    # 1. Almost nothing free: the request's spool (DATA_DIR/tmp) hits ENOSPC. 2. Room for the spool
    # only: the copy into the job's folder hits it. Every upload route, each time a 507 and nothing left.
    for leave in (MB // 2, 4 * MB):
        filler = fill(view, leave)
        for url, form in (("/api/stems/split", {"stems": "2", "quality": "fast"}), ("/api/speech/enhance", {}),
                          ("/api/midi/convert", {})):
            resp = server.client.post(url, files={"file": ("noise.wav", big)}, data=form)
            assert resp.status_code == 507, (leave, url, resp.text)
            assert resp.json()["detail"] == DISK_FULL_DETAIL
            assert left_behind(view) == [], (leave, url)
        assert server.client.get("/api/jobs").json()["jobs"] == []  # no row either
        filler.unlink()

    # Space freed: uploads work again and the job runs.
    assert free(view) > 16 * MB
    resp = server.client.post("/api/stems/split", files={"file": ("tone.wav", tone.read_bytes())},
                              data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    assert wait_done(server, resp.json())["status"] == "succeeded"
    assert '" 500 ' not in server.logs()  # the access log: not one internal error


def test_min_free_disk_refuses_uploads_early_and_health_says_degraded(small_disk_server, tmp_path):
    server, view = small_disk_server(24, MIN_FREE_DISK_MB="8")
    tone = tmp_path / "tone.wav"
    make_tone(tone, seconds=1.0)

    health = server.client.get("/health").json()
    assert health["status"] == "ok" and health["disk"]["ok"] is True
    assert health["disk"]["min_free_bytes"] == 8 * MB
    assert abs(health["disk"]["free_bytes"] - free(view)) < 2 * MB

    filler = fill(view, 6 * MB)  # the disk is not full, but under the threshold
    health = server.client.get("/health").json()
    assert health["status"] == "degraded" and health["disk"]["ok"] is False
    assert health["disk"]["free_bytes"] < 8 * MB
    resp = server.client.post("/api/stems/split", files={"file": ("tone.wav", tone.read_bytes())},
                              data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 507, resp.text
    assert "MIN_FREE_DISK_MB" in resp.json()["detail"] and "low on disk space" in resp.json()["detail"]
    assert left_behind(view) == []
    # Reads still work while space is low.
    assert server.client.get("/api/jobs").status_code == 200

    filler.unlink()
    assert server.client.get("/health").json()["status"] == "ok"
    resp = server.client.post("/api/stems/split", files={"file": ("tone.wav", tone.read_bytes())},
                              data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    assert wait_done(server, resp.json())["status"] == "succeeded"


def test_a_job_that_fills_the_disk_fails_with_a_sentence_and_leaves_no_work_files(small_disk_server, tmp_path):
    from audio_fixtures import make_song
    from burntbeats.jobs.worker import DISK_FULL as JOB_DISK_FULL

    server, view = small_disk_server(48, MIN_FREE_DISK_MB="0")
    song = tmp_path / "song.wav"
    make_song(song, seconds=12.0)
    payload = song.read_bytes()
    time.sleep(1)
    # Room for the upload (spooled, then copied) but not for four stems of it.
    filler = fill(view, 2 * len(payload) + 2 * MB)
    resp = server.client.post("/api/stems/split", files={"file": ("song.wav", payload)},
                              data={"stems": "4", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    status = wait_done(server, resp.json())
    assert status["status"] == "failed" and status["error"] == JOB_DISK_FULL, status
    job_dir = view / "jobs" / resp.json()["job_id"]
    assert sorted(p.name for p in job_dir.rglob("*") if p.is_file()) == ["input"]  # only what was uploaded
    filler.unlink()


def test_what_counts_as_a_full_disk(tmp_path):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from burntbeats.diskspace import failed_for_lack_of_space, is_disk_full

    enospc = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(enospc) and is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    wrapped = RuntimeError("upload failed")
    wrapped.__cause__ = enospc
    assert is_disk_full(wrapped)
    assert is_disk_full(OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")))
    # libsndfile's errno-less "System error." is a full disk only when the disk is (nearly) full.
    assert not failed_for_lack_of_space(RuntimeError("System error."), tmp_path)  # this machine's disk has room
    assert not failed_for_lack_of_space(RuntimeError("System error."))
    assert failed_for_lack_of_space(enospc)


def test_a_derived_job_on_a_full_disk_is_507_and_no_row(small_disk_server, tmp_path):
    """No upload at all (expand links the stored original): the job's row or folder cannot be written."""
    server, view = small_disk_server(32, MIN_FREE_DISK_MB="0")
    tone = tmp_path / "tone.wav"
    make_tone(tone, seconds=1.0)
    body = server.client.post("/api/stems/split", files={"file": ("tone.wav", tone.read_bytes())},
                              data={"stems": "2", "quality": "fast"}).json()
    assert wait_done(server, body)["status"] == "succeeded"
    expand = f"/api/stems/expand/{body['job_id']}"

    filler = fill(view, 0)
    resp = server.client.post(expand, headers={"X-Job-Token": body["job_token"]})
    assert resp.status_code == 507, resp.text
    assert resp.json()["detail"] == DISK_FULL_DETAIL
    assert [j["job_id"] for j in server.client.get("/api/jobs").json()["jobs"]] == [body["job_id"]]
    assert [p.name for p in (view / "jobs").iterdir()] == [body["job_id"]]

    filler.unlink()
    resp = server.client.post(expand, headers={"X-Job-Token": body["job_token"]})
    assert resp.status_code == 202, resp.text
    assert wait_done(server, resp.json())["status"] == "succeeded"
