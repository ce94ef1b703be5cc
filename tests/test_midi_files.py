"""MIDI files, note data and analysis without the model: write/read round trips, merge layout,
validation of edited notes, versioning with undo, metadata that matches the written file."""

from __future__ import annotations

import json

import mido
import pytest

from burntbeats.midi.analysis import analyze_notes, estimate_key, estimate_tempo, polyphony
from burntbeats.midi.job import read_metadata, restore_notes, save_notes, undo_notes
from burntbeats.midi.merge import MergeSource, merge_midi_files, merge_sources, unique_names
from burntbeats.midi.midifile import MidiWriteError, TrackSpec, read_midi, write_midi
from burntbeats.midi.notes import (
    Note,
    NoteStore,
    NoteValidationError,
    NothingToUndo,
    VersionConflict,
    canonical,
    quantize_notes,
    validate_notes,
)
from burntbeats.storage.space import FolderSpace

TICK_S = 0.5 / 480  # one tick at 120 bpm, 480 PPQ


def _close(a: list[Note], b: list[Note], tol: float = TICK_S) -> None:
    assert len(a) == len(b)
    for x, y in zip(sorted(a, key=lambda n: (n.start_s, n.pitch)), sorted(b, key=lambda n: (n.start_s, n.pitch))):
        assert (x.pitch, x.velocity) == (y.pitch, y.velocity)
        assert abs(x.start_s - y.start_s) <= tol and abs(x.end_s - y.end_s) <= tol
        assert bool(x.pitch_bends) == bool(y.pitch_bends)
        for (o1, s1), (o2, s2) in zip(x.pitch_bends or [], y.pitch_bends or []):
            assert abs(o1 - o2) <= tol and abs(s1 - s2) <= 1 / 4096


MELODY = [
    Note(60, 0.0, 0.5, 100),
    Note(64, 0.5, 1.0, 90, [(0.1, 0.5), (0.2, 1.0), (0.3, 0.0)]),
    Note(67, 1.0, 1.75, 80),
    Note(72, 1.25, 2.0, 70),
]


def test_write_read_round_trip_with_bends(tmp_path):
    path = tmp_path / "a.mid"
    write_midi(path, [TrackSpec("lead", MELODY, program=73)], tempo_bpm=120)
    content = read_midi(path)
    assert content.type == 1 and content.ppq == 480 and len(content.tracks) == 2
    lead = content.tracks[1]
    assert lead.name == "lead" and lead.program == 73 and lead.channels == [0] and not lead.is_drum
    _close(lead.notes, MELODY)
    assert content.tempo_map == [(0, 500_000)]


def test_bend_on_overlapping_note_is_dropped_unless_multiple_pitch_bends(tmp_path):
    notes = [Note(60, 0.0, 1.0, 100, [(0.2, 1.0)]), Note(64, 0.5, 1.5, 100, [(0.1, -0.5)])]
    write_midi(tmp_path / "one.mid", [TrackSpec("x", notes)])
    assert all(n.pitch_bends is None for n in read_midi(tmp_path / "one.mid").all_notes())

    write_midi(tmp_path / "multi.mid", [TrackSpec("x", notes, multiple_pitch_bends=True)])
    track = read_midi(tmp_path / "multi.mid").tracks[1]
    assert len(track.channels) == 2  # the second bending voice got its own channel
    _close(track.notes, notes)


def test_tempo_does_not_move_notes(tmp_path):
    write_midi(tmp_path / "t.mid", [TrackSpec("x", MELODY)], tempo_bpm=93.5)
    content = read_midi(tmp_path / "t.mid")
    assert content.tempo_map[0][1] == round(60_000_000 / 93.5)
    _close(content.tracks[1].notes, MELODY, tol=60 / 93.5 / 480)


def test_merge_is_type1_with_one_named_track_per_source(tmp_path):
    out = tmp_path / "song.mid"
    layout = merge_sources(
        [
            MergeSource("vocals", MELODY[:2], program=53),
            MergeSource("drums", [Note(36, 0.0, 0.1, 110), Note(38, 0.5, 0.6, 100)], is_drum=True),
            MergeSource("bass", [Note(36, 0.0, 1.0, 90)], program=33),
            MergeSource("vocals", MELODY[2:], program=52),
        ],
        out, tempo_bpm=100, title="Song",
    )
    assert [t["name"] for t in layout] == ["vocals", "drums", "bass", "vocals-2"]
    assert [t["channel"] for t in layout] == [1, 10, 2, 3]

    raw = mido.MidiFile(str(out))
    assert raw.type == 1 and len(raw.tracks) == 5
    content = read_midi(out)
    names = [t.name for t in content.tracks]
    assert names == ["Song", "vocals", "drums", "bass", "vocals-2"]
    by_name = {t.name: t for t in content.tracks[1:]}
    assert by_name["drums"].channels == [9] and by_name["drums"].is_drum and by_name["drums"].program is None
    assert by_name["bass"].program == 33 and by_name["vocals"].program == 53 and by_name["vocals-2"].program == 52
    assert len({tuple(t.channels) for t in content.tracks[1:]}) == 4
    _close(by_name["vocals-2"].notes, MELODY[2:])


def test_merge_refuses_more_than_15_pitched_tracks(tmp_path):
    sources = [MergeSource(f"t{i}", [Note(60, 0, 1, 90)]) for i in range(16)]
    with pytest.raises(MidiWriteError, match="15 channels"):
        merge_sources(sources, tmp_path / "x.mid")
    # ... but drums do not take a pitched channel.
    merge_sources(sources[:15] + [MergeSource("drums", [Note(36, 0, 0.1, 90)], is_drum=True)], tmp_path / "y.mid")


def test_merge_midi_files_names_tracks_after_files(tmp_path):
    write_midi(tmp_path / "a.mid", [TrackSpec("whatever", MELODY[:2], program=10)])
    write_midi(tmp_path / "b.mid", [TrackSpec("x", MELODY[2:], program=20)], tempo_bpm=90)
    layout = merge_midi_files([tmp_path / "a.mid", tmp_path / "b.mid"], tmp_path / "m.mid")
    assert [(t["name"], t["program"]) for t in layout] == [("a", 10), ("b", 20)]
    content = read_midi(tmp_path / "m.mid")
    assert content.tempo_map[0][1] == 500_000  # the first input's tempo
    _close(content.all_notes(), MELODY)


def test_unique_names():
    assert unique_names(["vocals", "vocals", "Vocals", "bass"]) == ["vocals", "vocals-2", "Vocals-3", "bass"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"pitch": 128, "start_s": 0, "end_s": 1, "velocity": 90}, "pitch must be an integer from 0 to 127"),
        ({"pitch": 60.5, "start_s": 0, "end_s": 1, "velocity": 90}, "pitch must be an integer"),
        ({"pitch": 60, "start_s": 1, "end_s": 1, "velocity": 90}, "must be before end_s"),
        ({"pitch": 60, "start_s": -1, "end_s": 1, "velocity": 90}, "start_s must be a number of seconds >= 0"),
        ({"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 0}, "velocity must be an integer from 1 to 127"),
        ({"pitch": 60, "start_s": 0, "end_s": 1, "velocity": True}, "velocity must be an integer"),
        ({"pitch": 60, "start_s": 0, "end_s": 1}, "missing velocity"),
        ({"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 9, "pitch_bends": [[2.0, 1]]}, "within the note"),
        ({"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 9, "pitch_bends": [[0.5, 3]]}, "+/-2 semitones"),
        ("C4", "must be an object"),
    ],
)
def test_validate_notes_names_the_first_bad_note(bad, message):
    good = {"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 90}
    with pytest.raises(NoteValidationError) as err:
        validate_notes([good, good, bad, {"pitch": -5}], max_notes=100)
    assert "Note 3 (index 2)" in str(err.value) and message in str(err.value)


def test_validate_notes_limits():
    with pytest.raises(NoteValidationError, match="Too many notes: 3"):
        validate_notes([{"pitch": 60, "start_s": 0, "end_s": 1, "velocity": 9}] * 3, max_notes=2)
    with pytest.raises(NoteValidationError, match="must be a list"):
        validate_notes({"pitch": 60}, max_notes=2)
    assert validate_notes([], max_notes=2) == []


def test_canonical_cuts_restruck_notes_and_quantize_snaps():
    notes = canonical([Note(60, 0.0, 1.0, 90), Note(60, 0.5, 1.2, 80), Note(60, 0.5, 0.7, 100)])
    assert [(n.start_s, n.end_s, n.velocity) for n in notes] == [(0.0, 0.5, 90), (0.5, 1.2, 100)]
    q = quantize_notes([Note(60, 0.13, 0.2, 90), Note(62, 0.49, 0.93, 90)], "1/8", 120)  # grid 0.25 s
    assert [(n.start_s, n.end_s) for n in q] == [(0.25, 0.5), (0.5, 1.0)]
    t = quantize_notes([Note(60, 0.17, 0.5, 90)], "1/8T", 120)  # grid 1/6 s
    assert abs(t[0].start_s - 1 / 6) < 1e-9 and abs(t[0].end_s - 0.5) < 1e-9


# --------------------------------------------------------------------------- versions, metadata


def _meta(**settings) -> dict:
    return {"track": {"name": "lead", "program": 4, "is_drum": False},
            "settings": {"midi_tempo": 120.0, "multiple_pitch_bends": False, **settings}}


def test_note_store_commit_undo_restore(tmp_path):
    store = NoteStore(FolderSpace(tmp_path), max_versions=4)
    with store.locked():
        assert store.commit(MELODY, "transcription") == 1
        assert store.commit(MELODY[:2], "edit", base_version=1) == 2
        with pytest.raises(VersionConflict):
            store.commit(MELODY[:1], "edit", base_version=1)
        assert store.undo() == 1
        with pytest.raises(NothingToUndo):
            store.undo()
        assert store.restore(2) == 3 and len(store.notes()) == 2
        for _ in range(4):
            store.commit(MELODY[:1], "edit")
    numbers = store.version_numbers()
    assert len(numbers) == 4 and numbers[0] == 1 and store.head() == numbers[-1]  # pruned, v1 kept
    assert [v["current"] for v in store.versions()] == [False, False, False, True]


def test_save_notes_metadata_reflects_the_written_file(tmp_path):
    meta = save_notes(FolderSpace(tmp_path), MELODY, "transcription", meta=_meta())
    assert meta["notes_version"] == 1
    file_info = meta["midi_file_analysis"]
    raw = mido.MidiFile(str(tmp_path / "output.mid"))
    assert file_info["type"] == raw.type == 1
    assert file_info["ppq"] == raw.ticks_per_beat
    assert file_info["track_count"] == len(raw.tracks) == 2
    on_events = sum(1 for t in raw.tracks for m in t if m.type == "note_on" and m.velocity > 0)
    assert file_info["note_count"] == on_events == meta["note_analysis"]["note_count"] == 4
    assert file_info["tempo_map"] == [{"tick": 0, "bpm": 120.0}]
    assert file_info["tracks"][1] == {"index": 1, "name": "lead", "channels": [1], "program": 4, "is_drum": False,
                                      "note_count": 4, "pitch_bend_events": 3}
    assert abs(file_info["duration_s"] - raw.length) < 1e-6
    assert json.loads((tmp_path / "metadata.json").read_text()) == meta

    # An edit regenerates the file; undo brings the previous file back; both keep metadata in step.
    edited = save_notes(FolderSpace(tmp_path), [Note(48, 0.0, 3.0, 64)], "edit", base_version=1)
    assert edited["notes_version"] == 2 and read_midi(tmp_path / "output.mid").all_notes()[0].pitch == 48
    assert edited["midi_file_analysis"]["note_count"] == 1 and edited["midi_file_analysis"]["duration_s"] == 3.0
    undone = undo_notes(FolderSpace(tmp_path))
    assert undone["notes_version"] == 1
    assert read_metadata(FolderSpace(tmp_path))["midi_file_analysis"]["note_count"] == 4
    _close(read_midi(tmp_path / "output.mid").all_notes(), MELODY)
    assert restore_notes(FolderSpace(tmp_path), 2)["notes_version"] == 3


# --------------------------------------------------------------------------- analysis


def test_analysis_key_tempo_polyphony():
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 55, 60]
    notes = [Note(p, i * 0.5, i * 0.5 + 0.45, 90) for i, p in enumerate(scale)]  # 120 bpm quarter notes
    key = estimate_key(notes)
    assert key["key"] == "C major"
    tempo = estimate_tempo(notes)
    assert tempo and abs(tempo["bpm"] - 120) <= 2
    assert polyphony(notes) == {"max": 1, "mean": 1.0}
    chords = [Note(p, 0, 1, 90) for p in (60, 64, 67)] + [Note(62, 1, 2, 90)]
    assert polyphony(chords) == {"max": 3, "mean": 2.0}
    a = analyze_notes(notes)
    assert a["note_count"] == 13 and a["pitch_range"]["min_name"] == "G3" and a["pitch_range"]["max_name"] == "C5"
    assert a["note_length_s"]["median"] == 0.45
    assert analyze_notes([])["note_count"] == 0
