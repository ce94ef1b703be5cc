"""The MIDI API end to end with real worker processes: convert (upload and from a stems job's stem),
status with notes, the file, edits + undo, batch, merge, export, and the 4xx answers.

One app (two worker processes, each loading the engine once) serves the whole module."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile

import mido
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from audio_fixtures import make_song
from burntbeats.midi.midifile import read_midi
from conftest import make_settings, wait_for
from test_midi_synth import INSTRUMENTS, chord_progression, random_melody, render

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("basic_pitch") is None,
    reason="the Basic Pitch model is not installed: pip install --no-deps basic-pitch==0.4.0",
)

@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return make_settings(tmp_path_factory.mktemp("midi"), midi_max_batch_items=4)


@pytest.fixture(scope="module")
def client(settings):
    from burntbeats.api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    ref = random_melody(seed=5, n_notes=10, low=60, high=76)
    sf.write(d / "lead take.wav", render(ref, INSTRUMENTS["voice"], 44100), 44100, subtype="PCM_16")
    chords = chord_progression(seed=1, n_chords=3)
    sf.write(d / "keys.flac", render(chords, INSTRUMENTS["piano"], 44100), 44100)
    (d / "notes.txt").write_text("this is not audio\n" * 50)
    return d, ref


def _upload(client, path, url="/api/midi/convert", **form):
    with open(path, "rb") as fh:
        return client.post(url, files={"file": (path.name, fh, "application/octet-stream")},
                           data={k: str(v) for k, v in form.items()})


@pytest.fixture(scope="module")
def converted(client, audio_dir):
    """A finished conversion of the uploaded lead take: (job_id, token, final status)."""
    d, _ = audio_dir
    resp = _upload(client, d / "lead take.wav", quantize="1/16", program="73", onset_threshold="0.5")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    status = wait_for(client, f"/api/midi/status/{body['job_id']}", body["job_token"])
    assert status["status"] == "succeeded", status
    return body["job_id"], body["job_token"], status


@pytest.fixture(scope="module")
def stems_job(client, audio_dir, tmp_path_factory):
    song = tmp_path_factory.mktemp("song") / "Song.wav"
    make_song(song, seconds=4.0)
    with open(song, "rb") as fh:
        resp = client.post("/api/stems/split", files={"file": (song.name, fh, "audio/wav")},
                           data={"stems": "2", "quality": "fast"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    status = wait_for(client, f"/api/stems/status/{body['job_id']}", body["job_token"])
    assert status["status"] == "succeeded", status
    return body["job_id"], body["job_token"]


def test_convert_upload_status_file_and_metadata(client, converted, audio_dir):
    job_id, token, status = converted
    _, ref = audio_dir
    assert status["engine"] == "basic-pitch-onnx" and status["progress"] == 100
    assert status["params"]["settings"] == {"quantize": "1/16", "program": 73}
    notes = status["notes"]
    assert status["notes_version"] == 1 and len(notes) == status["note_count"] >= len(ref)
    assert set(notes[0]) == {"pitch", "start_s", "end_s", "velocity", "pitch_bends"}
    # The melody's pitches come back (quantised to 1/16 at 120 bpm = 0.125 s).
    assert {p for _, _, p in ref} <= {n["pitch"] for n in notes}
    assert all(abs(n["start_s"] / 0.125 - round(n["start_s"] / 0.125)) < 1e-3 for n in notes)
    assert status["track"] == {"name": "lead take", "program": 73, "is_drum": False}

    resp = client.get(status["file_url"])
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/midi"
    midi = mido.MidiFile(file=io.BytesIO(resp.content))
    assert midi.type == 1 and len(midi.tracks) == 2

    meta = client.get(status["metadata_url"]).json()
    file_info = meta["midi_file_analysis"]
    assert file_info["note_count"] == sum(1 for m in midi.tracks[1] if m.type == "note_on" and m.velocity > 0)
    assert file_info["note_count"] == len(notes) == meta["note_analysis"]["note_count"]
    assert file_info["ppq"] == midi.ticks_per_beat and file_info["track_count"] == len(midi.tracks)
    assert abs(file_info["duration_s"] - midi.length) < 1e-6
    assert meta["settings"]["quantize"] == "1/16" and meta["settings"]["onset_threshold"] == 0.5
    analysis_keys = {"estimated_key", "estimated_tempo", "polyphony", "pitch_range", "note_length_s"}
    assert analysis_keys <= set(meta["note_analysis"])

    assert client.get(f"/api/midi/status/{job_id}").status_code == 403
    assert client.get(f"/api/midi/status/{job_id}", headers={"X-Job-Token": "nope"}).status_code == 403
    assert client.get(f"/api/midi/file/{job_id}/other.mid?token={token}").status_code == 404
    assert client.get("/api/midi/status/" + "0" * 32, headers={"X-Job-Token": token}).status_code == 404


def test_edit_notes_round_trip_versions_and_undo(client, converted):
    job_id, token, status = converted
    h = {"X-Job-Token": token}
    original = status["notes"]
    edited = [dict(n) for n in original[:3]]
    edited[0]["pitch"] += 1
    edited.append({"pitch": 84, "start_s": 9.0, "end_s": 9.75, "velocity": 100, "pitch_bends": [[0.25, 1.0]]})

    resp = client.put(f"/api/midi/notes/{job_id}", headers=h, json={"notes": edited, "base_version": 1})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["notes_version"] == 2 and body["note_count"] == 4
    # The regenerated file holds exactly the edited notes.
    content = read_midi_bytes(client.get(body["file_url"]).content)
    got = sorted((n.pitch, n.start_s, n.end_s, n.velocity) for n in content.all_notes())
    want = sorted((n["pitch"], n["start_s"], n["end_s"], n["velocity"]) for n in edited)
    assert [g[0] for g in got] == [w[0] for w in want] and [g[3] for g in got] == [w[3] for w in want]
    assert np.allclose([g[1:3] for g in got], [w[1:3] for w in want], atol=0.0011)
    bent = [n for n in content.all_notes() if n.pitch == 84][0]
    assert bent.pitch_bends and abs(bent.pitch_bends[0][1] - 1.0) < 1e-3
    meta = client.get(f"/api/midi/file/{job_id}/metadata.json", headers=h).json()
    assert meta["notes_version"] == 2 and meta["midi_file_analysis"]["note_count"] == 4

    # A stale base_version is refused; a malformed list names the first bad note.
    stale = client.put(f"/api/midi/notes/{job_id}", headers=h, json={"notes": edited, "base_version": 1})
    assert stale.status_code == 409
    bad = edited[:2] + [{"pitch": 60, "start_s": 2.0, "end_s": 1.0, "velocity": 90}, {"pitch": 999}]
    resp = client.put(f"/api/midi/notes/{job_id}", headers=h, json={"notes": bad})
    detail = resp.json()["detail"]
    assert resp.status_code == 422 and "Note 3 (index 2)" in detail and "start_s" in detail
    resp = client.put(f"/api/midi/notes/{job_id}", headers=h,
                      json=[{"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 0}])
    assert resp.status_code == 422 and "velocity" in resp.json()["detail"]
    assert client.put(f"/api/midi/notes/{job_id}", json={"notes": edited}).status_code == 403

    versions = client.get(f"/api/midi/notes/{job_id}/versions", headers=h).json()
    assert [v["version"] for v in versions["versions"]] == [1, 2] and versions["current"] == 2

    resp = client.post(f"/api/midi/notes/{job_id}/undo", headers=h)
    assert resp.status_code == 200 and resp.json()["notes_version"] == 1
    assert client.get(f"/api/midi/status/{job_id}", headers=h).json()["notes"] == original
    assert len(read_midi_bytes(client.get(resp.json()["file_url"]).content).all_notes()) == len(original)
    assert client.post(f"/api/midi/notes/{job_id}/undo", headers=h).status_code == 409

    resp = client.post(f"/api/midi/notes/{job_id}/restore/2", headers=h)
    assert resp.status_code == 200 and resp.json()["notes_version"] == 3 and resp.json()["note_count"] == 4
    assert client.get(f"/api/midi/notes/{job_id}?version=1", headers=h).json()["notes"] == original
    assert client.post(f"/api/midi/notes/{job_id}/restore/99", headers=h).status_code == 404
    client.post(f"/api/midi/notes/{job_id}/restore/1", headers=h)  # leave the original for later tests


class _KeyedOnly:
    """The app's storage with its local-folder methods taken away, as an object store would have it."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name in ("job_dir", "fetch", "stage", "publish"):
            raise AssertionError(f"the notes routes used storage.{name}, a local path")
        return getattr(self._inner, name)


def test_note_edits_go_through_the_storage_interface_only(client, converted):
    """PUT / undo / restore / versions read and rewrite the job's files by (job_id, name) under the storage's
    lock, never through a local folder, so an object store can hold a MIDI job."""
    job_id, token, status = converted
    h = {"X-Job-Token": token}
    state = client.app.state.burntbeats
    real = state.storage
    state.storage = _KeyedOnly(real)
    try:
        before = client.get(f"/api/midi/notes/{job_id}", headers=h).json()
        edited = [dict(n) for n in before["notes"][:2]]
        saved = client.put(f"/api/midi/notes/{job_id}", headers=h,
                           json={"notes": edited, "base_version": before["notes_version"]})
        assert saved.status_code == 200, saved.text
        assert saved.json()["note_count"] == 2
        assert client.post(f"/api/midi/notes/{job_id}/undo", headers=h).json()["notes_version"] == \
            before["notes_version"]
        versions = client.get(f"/api/midi/notes/{job_id}/versions", headers=h).json()["versions"]
        assert saved.json()["notes_version"] in [v["version"] for v in versions]
        restored = client.post(f"/api/midi/notes/{job_id}/restore/{before['notes_version']}", headers=h)
        assert restored.status_code == 200 and restored.json()["note_count"] == len(before["notes"])
    finally:
        state.storage = real
    assert len(read_midi_bytes(real.read(job_id, "output.mid")).all_notes()) == len(before["notes"])
    assert not [n for n in real.list(job_id) if n.endswith(".tmp")]


def read_midi_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mid"
        path.write_bytes(data)
        return read_midi(path)


def test_convert_from_a_stem_of_a_stems_job(client, stems_job):
    stems_id, stems_token = stems_job
    resp = client.post("/api/midi/convert", json={"source_job": stems_id, "stem": "vocals",
                                                  "source_token": stems_token, "minimum_note_length_ms": 80})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    status = wait_for(client, f"/api/midi/status/{body['job_id']}", body["job_token"])
    assert status["status"] == "succeeded", status
    assert status["parent_id"] == stems_id and status["stem"] == "vocals"
    assert status["source"] == {"type": "stem", "job_id": stems_id, "stem": "vocals"}
    assert status["track"]["name"] == "vocals" and status["track"]["program"] == 53
    assert status["note_count"] > 0

    # The token may come in the header, and a form works as well as JSON.
    resp = client.post("/api/midi/convert", data={"source_job": stems_id, "stem": "instrumental"},
                       headers={"X-Job-Token": stems_token})
    assert resp.status_code == 202, resp.text

    def err(payload, **kw):
        r = client.post("/api/midi/convert", json=payload, **kw)
        return r.status_code, r.json()["detail"]

    code, detail = err({"source_job": stems_id, "stem": "vocals", "source_token": "forged"})
    assert code == 403 and "token" in detail
    code, detail = err({"source_job": stems_id, "stem": "vocals"})
    assert code == 403
    code, detail = err({"source_job": stems_id, "stem": "drums", "source_token": stems_token})
    assert code == 404 and "no stem named 'drums'" in detail and "vocals" in detail
    code, detail = err({"source_job": "f" * 32, "stem": "vocals", "source_token": stems_token})
    assert code == 404
    code, detail = err({"source_job": stems_id, "stem": "vocals", "source_token": stems_token, "quantize": "1/5"})
    assert code == 422 and "quantize" in detail
    code, detail = err({"source_job": stems_id, "stem": "vocals", "source_token": stems_token, "volume": 11})
    assert code == 422 and "volume" in detail
    code, detail = err({})
    assert code == 422


def test_unfinished_source_job_is_409(client, settings):
    from burntbeats.api.deps import job_token
    from burntbeats.db import session_scope
    from burntbeats.jobs import service

    with session_scope(settings.resolved_database_url) as session:
        job = service.create_job(session, kind="stems.split", owner_id="local", params={"stems": 2},
                                 job_id=service.new_id())
        job_id = job.id
        job.status = "running"  # never claimed by a worker: no input file
        session.commit()
    state = client.app.state.burntbeats
    resp = client.post("/api/midi/convert", json={"source_job": job_id, "stem": "vocals",
                                                  "source_token": job_token(state, job)})
    assert resp.status_code == 409 and "not finished" in resp.json()["detail"]


def test_non_audio_upload_is_415(client, audio_dir):
    d, _ = audio_dir
    resp = _upload(client, d / "notes.txt")
    assert resp.status_code == 415, resp.text
    resp = client.post("/api/midi/convert", content=b"hello", headers={"content-type": "text/plain"})
    assert resp.status_code == 415


def test_batch_of_files_and_stems(client, audio_dir, stems_job):
    d, _ = audio_dir
    stems_id, stems_token = stems_job
    with open(d / "lead take.wav", "rb") as a, open(d / "keys.flac", "rb") as b:
        resp = client.post(
            "/api/midi/batch",
            files=[("files", ("lead take.wav", a, "audio/wav")), ("files", ("keys.flac", b, "audio/flac"))],
            data={"items": json.dumps([{"source_job": stems_id, "stem": "vocals", "source_token": stems_token,
                                        "program": 54}]),
                  "melodia_trick": "false"},
        )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert len(body["jobs"]) == 3 and [j["name"] for j in body["jobs"]] == ["lead take", "keys", "vocals"]
    url, token = body["status_url"], body["batch_token"]
    status = wait_for(client, url, token)
    assert status["status"] == "succeeded" and status["counts"] == {"succeeded": 3} and status["progress"] == 100
    assert all(j["note_count"] > 0 and j["file_url"] for j in status["jobs"])
    third = status["jobs"][2]
    vocals = client.get(f"/api/midi/status/{third['job_id']}", headers={"X-Job-Token": third["job_token"]}).json()
    assert vocals["track"]["program"] == 54 and vocals["settings"]["melodia_trick"] is False
    assert vocals["group_id"] == body["batch_id"]

    assert client.get(url, headers={"X-Job-Token": "bad"}).status_code == 403
    assert client.get(url, headers={"X-Job-Token": body["jobs"][0]["job_token"]}).status_code == 403
    assert client.get("/api/midi/batch/" + "e" * 32, headers={"X-Job-Token": token}).status_code == 404


def test_batch_is_all_or_nothing(client, audio_dir, settings):
    from sqlalchemy import func, select

    from burntbeats.db import session_scope
    from burntbeats.models import Job

    d, _ = audio_dir

    def count() -> int:
        with session_scope(settings.resolved_database_url) as session:
            return session.scalar(select(func.count()).select_from(Job).where(Job.kind == "midi.transcribe"))

    before = count()
    with open(d / "lead take.wav", "rb") as a, open(d / "notes.txt", "rb") as b:
        resp = client.post("/api/midi/batch", files=[("files", ("a.wav", a, "audio/wav")),
                                                     ("files", ("notes.txt", b, "text/plain"))])
    assert resp.status_code == 415 and resp.json()["detail"].startswith("Item 2 (notes.txt)")
    resp = client.post("/api/midi/batch",
                       json={"items": [{"source_job": "a" * 32, "stem": "vocals", "source_token": "x"}]})
    assert resp.status_code == 404 and resp.json()["detail"].startswith("Item 1")
    resp = client.post("/api/midi/batch", json={"items": [{"source_job": "a", "stem": "x"}] * 5})
    assert resp.status_code == 422 and "at most 4" in resp.json()["detail"]
    assert client.post("/api/midi/batch", json={"items": []}).status_code == 422
    assert count() == before


def _finished(client, path, **form):
    resp = _upload(client, path, **form)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert wait_for(client, f"/api/midi/status/{body['job_id']}", body["job_token"])["status"] == "succeeded"
    return body["job_id"], body["job_token"]


def test_merge_finished_jobs_into_type1(client, converted, audio_dir):
    d, _ = audio_dir
    lead_id, lead_token, lead_status = converted
    keys_id, keys_token = _finished(client, d / "keys.flac", program="0")
    resp = client.post("/api/midi/merge", json={"sources": [
        {"job_id": lead_id, "job_token": lead_token},
        {"job_id": keys_id, "job_token": keys_token, "name": "Piano"},
        {"job_id": keys_id, "job_token": keys_token, "name": "Kit", "drums": True},
    ], "title": "My Song"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/midi"
    midi = mido.MidiFile(file=io.BytesIO(resp.content))
    assert midi.type == 1 and len(midi.tracks) == 4
    content = read_midi_bytes(resp.content)
    assert [t.name for t in content.tracks] == ["My Song", "lead take", "Piano", "Kit"]
    lead, piano, kit = content.tracks[1:]
    assert lead.program == 73 and lead.channels == [0]
    assert piano.program == 0 and piano.channels == [1]
    assert kit.is_drum and kit.channels == [9]
    assert len(lead.notes) == lead_status["note_count"] and len(piano.notes) == len(kit.notes) > 0

    bad = client.post("/api/midi/merge", json={"sources": [{"job_id": lead_id, "job_token": "x"}]})
    assert bad.status_code == 403
    assert client.post("/api/midi/merge", json={"sources": []}).status_code == 422
    unknown = client.post("/api/midi/merge", json={"sources": [{"job_id": "c" * 32, "job_token": "x"}]})
    assert unknown.status_code == 404


def test_export_zip_from_midi_and_stems_jobs(client, converted, stems_job):
    lead_id, lead_token, _ = converted
    stems_id, stems_token = stems_job
    resp = client.post("/api/midi/export", json={
        "mode": "stems",
        "selected_stems": ["lead take", "instrumental"],
        "source_jobs": [{"job_id": lead_id, "job_token": lead_token}, {"job_id": stems_id, "job_token": stems_token}],
    })
    assert resp.status_code == 202, resp.text
    body = resp.json()
    export_id, export_token = body["export_id"], body["export_token"]
    status = wait_for(client, f"/api/midi/export/status/{export_id}", export_token)
    assert status["status"] == "succeeded", status
    assert status["kind"] == "midi.export"
    assert status["members"] == ["lead take.mid", "instrumental.mid", "merged.mid"]

    resp = client.get(status["file_url"])
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert sorted(zf.namelist()) == ["instrumental.mid", "lead take.mid", "merged.mid"]
        merged = read_midi_bytes(zf.read("merged.mid"))
        lead = read_midi_bytes(zf.read("lead take.mid"))
    assert [t.name for t in merged.tracks[1:]] == ["lead take", "instrumental"]
    assert len(merged.tracks[1].notes) == len(lead.all_notes())

    assert client.get(f"/api/midi/export/status/{export_id}", headers={"X-Job-Token": "bad"}).status_code == 403
    assert client.get(f"/api/midi/export/file/{export_id}/stems.zip?token={lead_token}").status_code == 403
    assert client.get(f"/api/midi/export/file/{export_id}/x.zip?token={export_token}").status_code == 404

    def post(payload):
        return client.post("/api/midi/export", json=payload)

    r = post({"selected_stems": ["drums"], "source_jobs": [{"job_id": stems_id, "job_token": stems_token}]})
    assert r.status_code == 404 and "drums" in r.json()["detail"]
    r = post({"source_jobs": [{"job_id": stems_id, "job_token": lead_token}]})
    assert r.status_code == 403
    r = post({"mode": "audio", "source_jobs": [{"job_id": stems_id, "job_token": stems_token}]})
    assert r.status_code == 422
    r = post({"source_jobs": [{"job_id": export_id, "job_token": export_token}]})
    assert r.status_code == 422 and "midi.export" in r.json()["detail"]


def test_bad_fields_are_422s_naming_the_field_in_json_and_forms(client):
    def check(resp, field):
        assert resp.status_code == 422, resp.text
        body = resp.json()
        assert body["detail"].startswith(f"Invalid request. {field}: "), body
        assert [".".join(map(str, e["loc"])) for e in body["errors"]] == [f"body.{field}"]

    source = {"source_job": "a" * 32, "stem": "vocals", "source_token": "t"}
    check(client.post("/api/midi/convert", json={**source, "program": 128}), "program")
    check(client.post("/api/midi/convert", data={**source, "program": "128"}), "program")
    check(client.post("/api/midi/convert", data={**source, "settings": json.dumps({"midi_tempo": 500})}),
          "settings.midi_tempo")
    check(client.post("/api/midi/convert", json={**source, "source_job": 7}), "source_job")
    check(client.post("/api/midi/convert", data={**source, "stem": ["a", "b"]}), "stem")
    resp = client.post("/api/midi/convert", json={**source, "volume": 11})
    check(resp, "volume")
    assert "onset_threshold" in resp.json()["detail"]  # says which settings there are
    check(client.post("/api/midi/batch", json={"items": [{**source, "program": -1}]}), "items.0.program")
    check(client.post("/api/midi/batch", data={"items": json.dumps([source, {**source, "quantize": "1/3"}])}),
          "items.1.quantize")
    check(client.post("/api/midi/batch", data={"items": "[not json"}), "items")


@pytest.mark.parametrize("url", ["/api/midi/convert", "/api/midi/batch", "/api/midi/merge", "/api/midi/export"])
def test_deeply_nested_json_is_a_422_with_a_sentence(client, url):
    deep = "[" * 100_000 + "]" * 100_000
    resp = client.post(url, content=deep, headers={"content-type": "application/json"})
    assert resp.status_code == 422 and "nested too deeply" in resp.json()["detail"]
    deep_object = '{"items": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001
    resp = client.post(url, content=deep_object, headers={"content-type": "application/json"})
    assert resp.status_code == 422 and "nested too deeply" in resp.json()["detail"]


def test_deeply_nested_json_in_notes_and_form_fields_is_a_422(client, converted):
    job_id, token, _ = converted
    deep = "[" * 100_000 + "]" * 100_000
    resp = client.put(f"/api/midi/notes/{job_id}", content=deep,
                      headers={"content-type": "application/json", "X-Job-Token": token})
    assert resp.status_code == 422 and "nested too deeply" in resp.json()["detail"]
    for url, field in (("/api/midi/convert", "settings"), ("/api/midi/batch", "items")):
        resp = client.post(url, data={field: deep})
        assert resp.status_code == 422 and "nested too deeply" in resp.json()["detail"], resp.text
        assert resp.json()["errors"][0]["loc"] == ["body", field]
    # Brackets inside strings do not count; ordinary bodies still work.
    resp = client.put(f"/api/midi/notes/{job_id}", headers={"X-Job-Token": token},
                      json={"notes": [{"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 90}], "junk": "[" * 1000})
    assert resp.status_code == 200, resp.text
    client.post(f"/api/midi/notes/{job_id}/undo", headers={"X-Job-Token": token})


def test_typed_responses_keep_every_field_of_the_shared_status(client, converted, settings):
    """The response models drop unknown keys: every field status_payload gives must be in the MIDI models."""
    from burntbeats.api.common import status_payload
    from burntbeats.db import session_scope
    from burntbeats.models import Job

    job_id, token, _ = converted
    with session_scope(settings.resolved_database_url) as session:
        shared = set(status_payload(session, session.get(Job, job_id), settings))
    body = client.get(f"/api/midi/status/{job_id}", headers={"X-Job-Token": token}).json()
    assert shared <= set(body)
    light = client.get(f"/api/midi/status/{job_id}?include_notes=false", headers={"X-Job-Token": token}).json()
    assert "notes" not in light and light["note_count"] == body["note_count"]  # unset fields stay out, not null


def test_export_job_reads_only_its_own_space(client, converted, settings, tmp_path):
    """The export's inputs are linked into its space at submission; the handler never opens another job's
    folder (here the source job id does not even exist in storage)."""
    from burntbeats.jobs.context import JobContext
    from burntbeats.midi.job import export_source, run_export

    job_id, token, status = converted
    src = client.app.state.burntbeats.storage
    own = tmp_path / "export-job"
    files = export_source(0, "midi")
    (own / "sources").mkdir(parents=True)
    (own / files["midi"]).write_bytes(src.read(job_id, "output.mid"))
    (own / files["metadata"]).write_bytes(src.read(job_id, "metadata.json"))
    staging = tmp_path / "attempt"  # the runner's staging folder for this attempt: outputs go there
    staging.mkdir()
    ctx = JobContext(job_id="e" * 32, kind="midi.export", owner_id="local", job_dir=staging, input_path=None,
                     inputs_dir=own, settings=settings, params={"mode": "stems", "items": [
                         {"type": "midi", "job_id": "f" * 32, "name": "lead take", "stem": "lead take"}]})
    result = run_export(ctx)
    assert result["members"] == ["lead take.mid", "merged.mid"]
    assert sorted(p.name for p in staging.iterdir()) == ["metadata.json", "stems.zip"]  # no scratch left
    assert sorted(p.name for p in own.iterdir()) == ["sources"]
    with zipfile.ZipFile(staging / "stems.zip") as zf:
        assert len(read_midi_bytes(zf.read("lead take.mid")).all_notes()) == status["note_count"]


def test_midi_from_a_stem_gets_its_own_copy_of_the_stem(client, stems_job, settings):
    stems_id, stems_token = stems_job
    resp = client.post("/api/midi/convert", json={"source_job": stems_id, "stem": "instrumental",
                                                  "source_token": stems_token})
    assert resp.status_code == 202, resp.text
    storage = client.app.state.burntbeats.storage
    new_id = resp.json()["job_id"]
    assert storage.read(new_id, "input") == storage.read(stems_id, "stems/instrumental.wav")
    assert wait_for(client, f"/api/midi/status/{new_id}", resp.json()["job_token"])["status"] == "succeeded"


def test_midi_jobs_from_other_jobs_need_nothing_of_them_once_submitted(tmp_path, audio_dir):
    """MIDI from a stem, a batch of stems and a MIDI export get their inputs at submission: the source jobs'
    spaces can be gone by the time they run (the jobs run here, in order, with the worker's code)."""
    from burntbeats.api.app import create_app
    from burntbeats.storage import get_storage
    from test_submit import RecordingRunner, run_queued

    d, _ = audio_dir
    settings = make_settings(tmp_path)
    song = tmp_path / "song.wav"
    make_song(song, seconds=3.0)
    with TestClient(create_app(settings, runner=RecordingRunner())) as client:
        split = client.post("/api/stems/split", files={"file": ("song.wav", song.read_bytes())},
                            data={"stems": "2", "quality": "fast"}).json()
        lead = _upload(client, d / "lead take.wav").json()
        assert run_queued(settings) == ["succeeded", "succeeded"]

        stem_ref = {"source_job": split["job_id"], "stem": "vocals", "source_token": split["job_token"]}
        single = client.post("/api/midi/convert", json=stem_ref).json()
        batch = client.post("/api/midi/batch", json={"items": [stem_ref, {**stem_ref, "stem": "instrumental"}]}).json()
        export = client.post("/api/midi/export", json={
            "selected_stems": ["lead take", "instrumental"],
            "source_jobs": [{"job_id": lead["job_id"], "job_token": lead["job_token"]},
                            {"job_id": split["job_id"], "job_token": split["job_token"]}],
        }).json()
        storage = get_storage(settings)
        storage.delete(split["job_id"])
        storage.delete(lead["job_id"])

        assert run_queued(settings) == ["succeeded"] * 4
        assert client.get(single["status_url"], headers={"X-Job-Token": single["job_token"]}).json()["note_count"] > 0
        done = client.get(batch["status_url"], headers={"X-Job-Token": batch["batch_token"]}).json()
        assert done["status"] == "succeeded" and done["total"] == 2
        status = client.get(export["status_url"], headers={"X-Job-Token": export["export_token"]}).json()
        assert status["members"] == ["lead take.mid", "instrumental.mid", "merged.mid"]
        names = storage.list(export["export_id"])
        assert names == ["metadata.json", "sources/00.json", "sources/00.mid", "sources/01.wav", "stems.zip"]


def test_a_failed_export_leaves_no_scratch_files(tmp_path, settings):
    from burntbeats.jobs.context import JobContext, JobError
    from burntbeats.midi.job import export_source, run_export

    own = tmp_path / "export-job"
    (own / "sources").mkdir(parents=True)
    (own / export_source(0, "midi")["midi"]).write_bytes(b"MThd not really a MIDI file")
    ctx = JobContext(job_id="e" * 32, kind="midi.export", owner_id="local", job_dir=own, input_path=None,
                     settings=settings, params={"mode": "stems", "items": [
                         {"type": "midi", "job_id": "f" * 32, "name": "lead", "stem": "lead"}]})
    with pytest.raises(JobError, match="could not be read"):
        run_export(ctx)
    assert sorted(p.name for p in own.iterdir()) == ["sources"]  # the input stays (a retry needs it), scratch goes
