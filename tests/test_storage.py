"""Storage keyed by (job_id, name): put (atomic), read a range, list, delete, link, name checks, Range responses,
on local disk and on S3 (moto's S3 server on loopback, tests/services.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from burntbeats.storage import InvalidName, LocalStorage, check_name
from conftest import make_settings

JOB, OTHER = "a" * 32, "b" * 32


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path) -> LocalStorage:
    if request.param == "local":
        return LocalStorage(tmp_path / "jobs")
    from burntbeats.storage.s3 import S3Storage

    s3 = request.getfixturevalue("s3_server")
    return S3Storage(make_settings(tmp_path, **s3.settings(prefix=f"t{os.urandom(4).hex()}/")))


def test_put_read_range_list_delete(storage: LocalStorage, tmp_path: Path):
    assert storage.put(JOB, "input", b"0123456789") == 10
    assert storage.put(JOB, "stems/vocals.wav", io.BytesIO(b"RIFFvocals")) == 10
    src = tmp_path / "x.bin"
    src.write_bytes(b"from a path")
    storage.put(JOB, "stems/bass.wav", src)
    assert src.exists()  # copied, not moved
    assert storage.read(JOB, "input") == b"0123456789"
    assert storage.read(JOB, "input", 2, 5) == b"234"
    assert storage.read(JOB, "input", 8) == b"89"
    with storage.open(JOB, "stems/vocals.wav") as fh:
        assert fh.read(4) == b"RIFF"
    assert storage.list(JOB) == ["input", "stems/bass.wav", "stems/vocals.wav"]
    assert storage.list(JOB, "stems/") == ["stems/bass.wav", "stems/vocals.wav"]
    assert storage.exists(JOB, "input") and not storage.exists(JOB, "nothing")
    assert storage.fetch(JOB, "input").read_bytes() == b"0123456789"
    with pytest.raises(FileNotFoundError):
        storage.fetch(JOB, "nothing")

    storage.delete(JOB, "stems/bass.wav")
    storage.delete(JOB, "stems/bass.wav")  # missing is not an error
    assert storage.list(JOB) == ["input", "stems/vocals.wav"]
    storage.delete(JOB)
    assert storage.list(JOB) == [] and not storage.exists(JOB, "input")


def test_put_moves_a_local_file_and_leaves_no_temporary(storage: LocalStorage, tmp_path: Path):
    src = tmp_path / "encoded.tmp"
    src.write_bytes(b"abc")
    storage.put(JOB, "stems/vocals.mp3", src, move=True)
    assert not src.exists() and storage.read(JOB, "stems/vocals.mp3") == b"abc"

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            raise OSError("disk went away")

    with pytest.raises(OSError):
        storage.put(JOB, "stems/vocals.mp3", Broken())
    # The old file is intact and no half-written or temporary file is left.
    assert storage.read(JOB, "stems/vocals.mp3") == b"abc"
    assert storage.list(JOB) == ["stems/vocals.mp3"]
    if isinstance(storage, LocalStorage):
        assert sorted(p.name for p in storage.job_dir(JOB).rglob("*") if p.is_file()) == ["vocals.mp3"]


def test_link_gives_the_job_its_own_copy(storage: LocalStorage):
    storage.put(OTHER, "stems/vocals.wav", b"shared bytes")
    storage.link(OTHER, "stems/vocals.wav", JOB, "input")
    storage.delete(OTHER)
    assert storage.read(JOB, "input") == b"shared bytes"
    with pytest.raises(FileNotFoundError):
        storage.link(OTHER, "stems/vocals.wav", JOB, "again")


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "stems/../../x", "a\\b", ".hidden", "stems/.tmp",
                                  "a//b", "stems/", "a/b/c/d/e", "x" * 200, "semi;colon", "new\nline"])
def test_names_that_could_leave_the_space_are_refused(storage: LocalStorage, name: str):
    with pytest.raises(InvalidName):
        check_name(name)
    with pytest.raises(InvalidName):
        storage.put(JOB, name, b"x")
    with pytest.raises(InvalidName):
        storage.exists(JOB, name)


@pytest.mark.parametrize("job_id", ["", "..", "a/b", "x" * 65, "ü"])
def test_bad_job_ids_are_refused(storage: LocalStorage, job_id: str):
    with pytest.raises(InvalidName):
        storage.put(job_id, "input", b"x")
    with pytest.raises(ValueError):  # InvalidName is a ValueError (older callers catch that)
        storage.job_dir(job_id)


def file_app(storage, filename: str) -> TestClient:
    """An app whose GET /file answers storage.response() for JOB's stems/vocals.wav."""
    app = FastAPI()

    @app.get("/file")
    def serve():
        return storage.response(JOB, "stems/vocals.wav", media_type="audio/wav", filename=filename)

    return TestClient(app)


def test_response_serves_ranges(tmp_path: Path):
    storage = LocalStorage(tmp_path / "jobs")
    data = bytes(range(256)) * 8
    storage.put(JOB, "stems/vocals.wav", data)
    client = file_app(storage, "song-vocals.wav")
    whole = client.get("/file")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/wav" and "song-vocals.wav" in whole.headers["content-disposition"]
    part = client.get("/file", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
