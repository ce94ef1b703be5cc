"""The one submission path: every kind is admitted, stored and handed to the runner the same way; overload is
503 + Retry-After + a sentence for every kind; a derived job reads only its own storage space."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import select

from audio_fixtures import make_song, make_tone
from burntbeats.api.app import create_app
from burntbeats.db import session_scope
from burntbeats.jobs import service, submit
from burntbeats.jobs.kinds import JobKind
from burntbeats.jobs.worker import execute_job
from burntbeats.models import Job
from burntbeats.storage import get_storage
from conftest import make_settings


class RecordingRunner:
    """Records what it is handed and runs nothing: the test runs queued jobs itself with the worker's code."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def notify(self) -> None: ...

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)


def run_queued(settings) -> list[str]:
    """Claim and execute every queued job in this process (burntbeats.jobs.worker.execute_job); final statuses."""
    statuses = []
    while True:
        with session_scope(settings.resolved_database_url) as session:
            job_id = service.claim_next(session)
        if job_id is None:
            return statuses
        statuses.append(execute_job(job_id, settings))


def _wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _split(client: TestClient, payload: bytes):
    return client.post("/api/stems/split", files={"file": ("song.wav", payload)}, data={"quality": "fast"})


def _enhance(client: TestClient, payload: bytes):
    return client.post("/api/speech/enhance", files={"file": ("talk.wav", payload)}, data={"engine": "fast"})


def _convert(client: TestClient, payload: bytes):
    return client.post("/api/midi/convert", files={"file": ("lead.wav", payload)})


@pytest.fixture
def app_env(tmp_path: Path):
    settings = make_settings(tmp_path)
    runner = RecordingRunner()
    with TestClient(create_app(settings, runner=runner)) as client:
        yield settings, runner, client


def test_every_kind_is_admitted_and_handed_to_the_runner(app_env, tmp_path, monkeypatch):
    settings, runner, client = app_env
    admitted: list[tuple[str, int]] = []
    real_admit = submit.admit

    def recording_admit(session, settings, kind, owner_id, count, params):
        admitted.append((str(kind), count))
        assert len(params) == count
        return real_admit(session, settings, kind, owner_id, count, params)

    monkeypatch.setattr(submit, "admit", recording_admit)
    song = tmp_path / "song.wav"
    make_song(song, seconds=2.0)
    split = _split(client, song.read_bytes()).json()
    assert run_queued(settings) == ["succeeded"]
    hdr = {"X-Job-Token": split["job_token"]}
    assert client.post(f"/api/stems/expand/{split['job_id']}", headers=hdr).status_code == 202
    assert client.post("/api/stems/server-export", json={"job_id": split["job_id"],
                                                         "job_token": split["job_token"]}).status_code == 202
    assert _enhance(client, _wav()).status_code == 202
    assert _convert(client, _wav()).status_code == 202

    assert admitted == [(JobKind.STEMS_SPLIT, 1), (JobKind.STEMS_SPLIT, 1), (JobKind.STEMS_EXPORT, 1),
                        (JobKind.SPEECH_ENHANCE, 1), (JobKind.MIDI_TRANSCRIBE, 1)]
    with session_scope(settings.resolved_database_url) as session:
        rows = list(session.scalars(select(Job).order_by(Job.created_at)))
    assert [r.id for r in rows] == runner.submitted  # every row was handed to the runner, in order
    # The upload's facts are recorded by the submission path.
    assert rows[0].params["input"]["sample_rate"] == 44100 and rows[0].params["input"]["duration_s"] == 2.0


@pytest.mark.parametrize("kind", ["stems", "speech", "MIDI"])
def test_overload_is_503_with_retry_after_and_a_sentence(tmp_path, kind):
    settings = make_settings(tmp_path, stems_max_queue_depth=2, speech_max_queue_depth=2, midi_max_queue_depth=2)
    post = {"stems": _split, "speech": _enhance, "MIDI": _convert}[kind]
    with TestClient(create_app(settings, runner=RecordingRunner())) as client:
        assert [post(client, _wav()).status_code for _ in range(2)] == [202, 202]
        full = post(client, _wav())
        assert full.status_code == 503, full.text
        assert int(full.headers["retry-after"]) > 0
        detail = full.json()["detail"]
        assert f"{kind} queue is full" in detail and "try again in" in detail
        assert len(list(settings.jobs_dir.iterdir())) == 2  # the refused upload left nothing behind
        # Another family is not affected by this one's queue.
        other = {"stems": _enhance, "speech": _split, "MIDI": _split}[kind]
        assert other(client, _wav()).status_code == 202


def test_refused_input_creates_nothing(app_env):
    settings, runner, client = app_env
    assert _split(client, b"not audio at all" * 10).status_code == 415
    assert runner.submitted == [] and (not settings.jobs_dir.exists() or not any(settings.jobs_dir.iterdir()))
    assert not any((settings.data_dir / "tmp").iterdir())  # no scratch file left either


def test_derived_jobs_read_only_their_own_space(app_env, tmp_path):
    """Expand and server export get the parent's files at submission: deleting the parent's files after that
    does not matter to them."""
    settings, runner, client = app_env
    song = tmp_path / "song.wav"
    make_song(song, seconds=2.0)
    split = _split(client, song.read_bytes()).json()
    assert run_queued(settings) == ["succeeded"]
    hdr = {"X-Job-Token": split["job_token"]}
    expand = client.post(f"/api/stems/expand/{split['job_id']}", headers=hdr).json()
    export = client.post("/api/stems/server-export", json={"job_id": split["job_id"], "job_token": split["job_token"],
                                                           "stems": {"instrumental": {"mute": True}}}).json()
    get_storage(settings).delete(split["job_id"])  # the parent's whole space is gone
    assert not (settings.jobs_dir / split["job_id"]).exists()

    assert run_queued(settings) == ["succeeded", "succeeded"]
    four = client.get(expand["status_url"], headers={"X-Job-Token": expand["job_token"]}).json()
    assert [s["id"] for s in four["stems"]] == ["vocals", "drums", "bass", "other"]
    assert client.get(four["stems"][0]["url"]).status_code == 200
    mix = client.get(export["status_url"], headers={"X-Job-Token": export["job_token"]}).json()
    assert mix["status"] == "succeeded" and mix["result"]["gains"] == {"vocals": 1.0, "instrumental": 0.0}
    assert client.get(mix["url"]).status_code == 200


def test_derived_job_of_an_expired_parent_is_410_and_creates_nothing(app_env, tmp_path):
    settings, runner, client = app_env
    make_tone(tmp_path / "a.wav", seconds=1.0)
    split = _split(client, (tmp_path / "a.wav").read_bytes()).json()
    assert run_queued(settings) == ["succeeded"]
    get_storage(settings).delete(split["job_id"], "stems/vocals.wav")
    resp = client.post("/api/stems/server-export", json={"job_id": split["job_id"], "job_token": split["job_token"]})
    assert resp.status_code == 410 and "expired" in resp.json()["detail"]
    assert runner.submitted == [split["job_id"]]
    assert sorted(p.name for p in settings.jobs_dir.iterdir()) == [split["job_id"]]


def test_kind_names_and_families():
    from burntbeats.jobs.kinds import JobFamily, family_of, kind_matches
    from burntbeats.jobs.registry import JOB_KINDS

    assert set(JOB_KINDS) == set(JobKind)  # every kind has a handler, every handler a kind
    assert JobKind.STEMS_SPLIT == "stems.split" and family_of("midi.export") is JobFamily.MIDI
    assert kind_matches("stems.export", JobFamily.STEMS) and kind_matches("stems.export", "stems.")
    assert kind_matches("stems.split", JobKind.STEMS_SPLIT) and not kind_matches("stems.export", JobKind.STEMS_SPLIT)
    assert not kind_matches("stemsx.split", "stems") and not kind_matches("speech.enhance", "spee")


def test_only_the_submission_path_creates_jobs():
    """No module but jobs/submit.py calls service.create_job (read from the source, so a new route cannot
    quietly create jobs another way)."""
    import ast

    import burntbeats

    root = Path(burntbeats.__file__).parent
    callers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name == "create_job":
                    callers.add(path.relative_to(root).as_posix())
    assert callers == {"jobs/submit.py"}
