"""The separation benchmark's song generator (bench/evalset.py), MIDI part only.

Rendering needs fluidsynth, the FluidR3 soundfont and espeak-ng (Debian packages the test
install does not add), so these tests only check the pretty_midi songs and the speech
plan: seeded determinism, the stem layout, the instruments and the variety across seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pretty_midi = pytest.importorskip("pretty_midi")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import evalset  # noqa: E402 - importable once bench/ is on sys.path


def _notes(spec) -> dict[str, list[tuple]]:
    return {
        stem: [(i.program, i.is_drum, n.pitch, n.velocity, round(n.start, 6), round(n.end, 6))
               for i in pm.instruments for n in i.notes]
        for stem, pm in spec.midi.items()
    }


def test_same_seed_same_song_and_other_seeds_differ() -> None:
    a, b = evalset.build_song(3, 30.0), evalset.build_song(3, 30.0)
    assert _notes(a) == _notes(b)
    assert a.describe() == b.describe()
    assert a.digest() == b.digest()
    c = evalset.build_song(4, 30.0)
    assert _notes(c) != _notes(a)
    assert c.digest() != a.digest()


def test_stems_and_instruments() -> None:
    for seed in (0, 1, 2, 100):
        spec = evalset.build_song(seed, 30.0)
        assert tuple(spec.midi) == evalset.STEMS == ("vocals", "drums", "bass", "other")
        for stem, pm in spec.midi.items():
            assert isinstance(pm, pretty_midi.PrettyMIDI)
            assert pm.instruments, stem
            for inst in pm.instruments:
                assert inst.notes, (seed, stem)
                assert all(0.0 <= n.start < n.end <= spec.seconds for n in inst.notes)
                assert all(1 <= n.velocity <= 127 and 0 <= n.pitch <= 127 for n in inst.notes)
                pans = [c.value for c in inst.control_changes if c.number == 10]
                assert len(pans) == 1
        drums = spec.midi["drums"].instruments
        assert len(drums) == 1 and drums[0].is_drum
        assert not any(i.is_drum for stem in ("vocals", "bass", "other") for i in spec.midi[stem].instruments)
        (lead,) = spec.midi["vocals"].instruments
        assert lead.program in evalset.VOCAL_PROGRAMS
        assert [c.value for c in lead.control_changes if c.number == 10] == [64]  # centred
        (bass,) = spec.midi["bass"].instruments
        assert 32 <= bass.program <= 39
        assert max(n.pitch for n in bass.notes) < min(n.pitch for n in lead.notes)
        other_pans = [c.value for i in spec.midi["other"].instruments for c in i.control_changes if c.number == 10]
        assert all(abs(p - 64) >= 24 for p in other_pans)  # keys/guitar/pads are panned
        # the lead alternates between the sung line and espeak phrases
        assert "sing" in spec.vocal_plan and "speak" in spec.vocal_plan
        assert spec.speech
        assert all(p.kind in ("spoken", "chant") and p.voice in evalset.SPEECH_VOICES for p in spec.speech)
        assert all(0.0 <= p.start < spec.seconds and 0 <= p.pitch <= 99 for p in spec.speech)


def test_sung_notes_stay_in_the_key() -> None:
    for seed in range(8):
        spec = evalset.build_song(seed, 30.0)
        scale = {(spec.key + d) % 12 for d in evalset.SCALES[spec.mode]}
        for stem in ("vocals", "other"):
            pitches = {n.pitch % 12 for i in spec.midi[stem].instruments for n in i.notes}
            assert pitches <= scale, (seed, stem)


def test_variety_across_seeds() -> None:
    specs = [evalset.build_song(seed, 30.0) for seed in range(8)]
    assert len({s.tempo for s in specs}) >= 6
    assert all(72 <= s.tempo <= 150 for s in specs)
    assert len({(s.key, s.mode) for s in specs}) >= 5
    assert {s.mode for s in specs} == {"major", "minor"}
    assert len({s.drum_style for s in specs}) >= 3
    assert len({s.programs["bass"][0] for s in specs}) >= 3
    assert len({tuple(s.programs["other"]) for s in specs}) >= 5
    assert len({s.programs["vocals"][0] for s in specs}) >= 2
    held_out = {evalset.build_song(seed, 30.0).digest() for seed in range(100, 108)}
    assert not held_out & {s.digest() for s in specs}


def test_short_song_and_cache_layout(tmp_path) -> None:
    spec = evalset.build_song(7, 3.0)
    assert spec.seconds == 3.0
    for pm in spec.midi.values():
        assert all(n.end <= 3.0 for i in pm.instruments for n in i.notes)
    assert evalset.song_dir(tmp_path, 7) == tmp_path / "seed-0007"
    assert evalset.build_song(7, 3.0).digest() != evalset.build_song(7, 30.0).digest()
