"""Several sources -> one MIDI Type 1 file: one named track per source, each on its own channel with
its own program; drum sources share channel 10. Timing is kept in seconds, so sources written at
different tempos still line up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from burntbeats.midi.midifile import DRUM_CHANNEL, MELODIC_CHANNELS, MidiWriteError, TrackSpec, read_midi, write_midi
from burntbeats.midi.notes import Note, canonical
from burntbeats.storage import safe_stem_name

MAX_MERGE_SOURCES = 32


@dataclass
class MergeSource:
    name: str
    notes: Sequence[Note]
    program: int = 0
    is_drum: bool = False


def unique_names(names: Sequence[str]) -> list[str]:
    """`vocals, vocals` -> `vocals, vocals-2` (track names and zip members must not collide)."""
    used: set[str] = set()
    out = []
    for name in names:
        base = name or "track"
        candidate, n = base, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate.lower())
        out.append(candidate)
    return out


def check_channels(sources: Sequence[MergeSource]) -> None:
    pitched = sum(1 for s in sources if not s.is_drum)
    if pitched > len(MELODIC_CHANNELS):
        raise MidiWriteError(
            f"Too many pitched sources to merge: {pitched}. A MIDI file has 15 channels for pitched "
            f"instruments (drums share channel {DRUM_CHANNEL + 1})."
        )


def merge_sources(
    sources: Sequence[MergeSource], out_path: Path, tempo_bpm: float = 120.0, title: str | None = None
) -> list[dict]:
    """Writes the merged file; returns the track layout (name, channel 1-16, program, drums, notes)."""
    if not sources:
        raise MidiWriteError("Nothing to merge: no sources were given.")
    if len(sources) > MAX_MERGE_SOURCES:
        raise MidiWriteError(f"At most {MAX_MERGE_SOURCES} sources can be merged at once.")
    check_channels(sources)
    names = unique_names([s.name for s in sources])
    specs = [TrackSpec(name=n, notes=canonical(s.notes), program=s.program, is_drum=s.is_drum)
             for n, s in zip(names, sources)]
    write_midi(out_path, specs, tempo_bpm=tempo_bpm, title=title or "Burnt Beats merge")
    layout = []
    channels = iter(MELODIC_CHANNELS)
    for spec in specs:
        channel = DRUM_CHANNEL if spec.is_drum else next(channels)
        layout.append({"name": spec.name, "channel": channel + 1, "program": None if spec.is_drum else spec.program,
                       "is_drum": spec.is_drum, "note_count": len(spec.notes)})
    return layout


def sources_from_midi_file(path: Path, name: str | None = None, content=None) -> list[MergeSource]:
    """A MIDI file's note-bearing tracks as merge sources, named after the file (and track if several)."""
    content = content or read_midi(path)
    base = name or safe_stem_name(Path(path).name, "track")
    tracks = [t for t in content.tracks if t.notes]
    sources = []
    for t in tracks:
        label = base if len(tracks) == 1 else f"{base} - {t.name or f'track {t.index}'}"
        sources.append(MergeSource(name=label, notes=t.notes, program=t.program or 0, is_drum=t.is_drum))
    return sources


def merge_midi_files(paths: Sequence[Path], out_path: Path, tempo_bpm: float | None = None,
                     title: str | None = None) -> list[dict]:
    """`burntbeats midi merge a.mid b.mid -o song.mid`: every input's notes become named tracks."""
    sources: list[MergeSource] = []
    first_tempo = None
    for path in paths:
        content = read_midi(path)
        if first_tempo is None and content.tempo_map:
            first_tempo = 60_000_000 / content.tempo_map[0][1]
        sources.extend(sources_from_midi_file(path, content=content))
    return merge_sources(sources, out_path, tempo_bpm=tempo_bpm or first_tempo or 120.0, title=title)
