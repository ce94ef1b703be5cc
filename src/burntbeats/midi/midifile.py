"""Writing and reading Standard MIDI Files (Type 1) with mido.

Layout written: track 0 is the conductor (title, tempo, 4/4); then one track per source, named after
it, on its own channel with its General MIDI program (drums on channel 10, i.e. index 9). Notes are
kept in seconds and converted at a single tempo, so timing is exact to one tick whatever tempo is
chosen. Pitch bends use the GM default range of +/-2 semitones (declared with RPN 0 on bending tracks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from burntbeats.midi.notes import BEND_RANGE_SEMITONES, Note, compact_bends

DEFAULT_PPQ = 480
DRUM_CHANNEL = 9
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]
BEND_MAX = 8191
BEND_MIN = -8192

# Event order at the same tick: releases first, then bend resets, bends, control, notes.
_OFF, _RESET, _CTRL, _BEND, _ON = 0, 1, 2, 3, 4


class MidiWriteError(ValueError):
    pass


@dataclass
class TrackSpec:
    name: str
    notes: Sequence[Note]
    program: int = 0
    is_drum: bool = False
    # True: overlapping notes may each keep their bends (they go to extra channels, Basic Pitch's option).
    multiple_pitch_bends: bool = False


@dataclass
class TrackData:
    index: int
    name: str | None
    channels: list[int]
    program: int | None
    is_drum: bool
    notes: list[Note] = field(default_factory=list)
    pitch_bend_events: int = 0


@dataclass
class MidiContent:
    type: int
    ppq: int
    tracks: list[TrackData]
    tempo_map: list[tuple[int, int]]  # (tick, microseconds per beat)
    time_signatures: list[tuple[int, int, int]]  # (tick, numerator, denominator)
    duration_ticks: int
    duration_s: float
    title: str | None = None

    def all_notes(self) -> list[Note]:
        notes = [n for t in self.tracks for n in t.notes]
        notes.sort(key=lambda n: (n.start_s, n.pitch))
        return notes


def tempo_us(bpm: float) -> int:
    return int(round(60_000_000 / bpm))


def bend_value(semitones: float) -> int:
    return max(BEND_MIN, min(BEND_MAX, int(round(semitones / BEND_RANGE_SEMITONES * 8192))))


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_midi(
    path: Path,
    tracks: Sequence[TrackSpec],
    tempo_bpm: float = 120.0,
    ppq: int = DEFAULT_PPQ,
    title: str | None = None,
) -> None:
    """Writes a Type 1 file. Raises MidiWriteError if the tracks need more than the 16 MIDI channels."""
    us = tempo_us(tempo_bpm)

    def tick(seconds: float) -> int:
        return max(0, int(round(seconds * 1_000_000 / us * ppq)))

    melodic = [t for t in tracks if not t.is_drum]
    if len(melodic) > len(MELODIC_CHANNELS):
        raise MidiWriteError(
            "A MIDI file has 15 channels for pitched instruments (plus drums); "
            f"{len(melodic)} pitched tracks were given."
        )
    free = list(MELODIC_CHANNELS)
    primary: list[int] = []
    for t in tracks:
        primary.append(DRUM_CHANNEL if t.is_drum else free.pop(0))

    mid = mido.MidiFile(type=1, ticks_per_beat=ppq)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=_meta_text(title or "Burnt Beats"), time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=us, time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(conductor)

    for spec, channel in zip(tracks, primary):
        voices = _assign_channels(spec, channel, free)
        events: list[tuple[int, int, int, mido.Message]] = []
        seq = 0

        def add(t: int, order: int, msg: mido.Message) -> None:
            nonlocal seq
            events.append((t, order, seq, msg))  # noqa: B023 - only called within this track's iteration
            seq += 1

        used_channels = sorted({ch for _, ch, _ in voices})
        bending_channels = sorted({ch for _, ch, bends in voices if bends})
        for ch in used_channels:
            if ch != DRUM_CHANNEL:
                add(0, _CTRL, mido.Message("program_change", channel=ch, program=int(spec.program) & 0x7F))
        for ch in bending_channels:
            for control, value in ((101, 0), (100, 0), (6, int(BEND_RANGE_SEMITONES)), (38, 0), (101, 127), (100, 127)):
                add(0, _CTRL, mido.Message("control_change", channel=ch, control=control, value=value))

        for note, ch, bends in voices:
            start, end = tick(note.start_s), tick(note.end_s)
            end = max(end, start + 1)
            add(start, _ON, mido.Message("note_on", channel=ch, note=note.pitch, velocity=note.velocity))
            add(end, _OFF, mido.Message("note_off", channel=ch, note=note.pitch, velocity=0))
            if bends:
                last = 0  # a note starts unbent (the previous bend was reset at its end)
                for offset, semis in bends:
                    value, at = bend_value(semis), tick(note.start_s + offset)
                    if value == last or at >= end:
                        continue
                    add(at, _BEND, mido.Message("pitchwheel", channel=ch, pitch=value))
                    last = value
                if last:
                    add(end, _RESET, mido.Message("pitchwheel", channel=ch, pitch=0))

        events.sort(key=lambda e: (e[0], e[1], e[2]))
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=_meta_text(spec.name), time=0))
        now = 0
        for t, _, _, msg in events:
            track.append(msg.copy(time=t - now))
            now = t
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))


def _meta_text(text: str) -> str:
    # Meta text is latin-1 in mido; keep names readable and encodable.
    return text.encode("latin-1", "replace").decode("latin-1")[:120]


def _assign_channels(spec: TrackSpec, channel: int, free: list[int]) -> list[tuple[Note, int, list | None]]:
    """(note, channel, bends) per note. A bend moves the whole channel, so a bending note must be alone
    on its channel while it sounds: it stays on the track's channel if it overlaps nothing, else goes
    to an extra channel (multiple_pitch_bends) or loses its bends."""
    notes = sorted(spec.notes, key=lambda n: (n.start_s, n.pitch))
    if spec.is_drum:
        return [(n, channel, None) for n in notes]
    overlaps = _overlap_flags(notes)
    out: list[tuple[Note, int, list | None]] = []
    extra: list[tuple[int, float]] = []  # (channel, busy until)
    for note, overlap in zip(notes, overlaps):
        bends = compact_bends(note.pitch_bends)
        if not bends or not overlap:
            out.append((note, channel, bends))
            continue
        if not spec.multiple_pitch_bends:
            out.append((note, channel, None))
            continue
        placed = False
        for i, (ch, busy_until) in enumerate(extra):
            if busy_until <= note.start_s:
                extra[i] = (ch, note.end_s)
                out.append((note, ch, bends))
                placed = True
                break
        if not placed and free:
            ch = free.pop(0)
            extra.append((ch, note.end_s))
            out.append((note, ch, bends))
            placed = True
        if not placed:
            out.append((note, channel, None))
    # A note left on the track channel with bends must not overlap a note that stayed there.
    return out


def _overlap_flags(notes: Sequence[Note]) -> list[bool]:
    flags = [False] * len(notes)
    for i in range(len(notes)):
        for j in range(i + 1, len(notes)):
            if notes[j].start_s >= notes[i].end_s:
                break
            flags[i] = flags[j] = True
    return flags


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_midi(path: Path) -> MidiContent:
    """Reads a MIDI file back into notes (seconds, via the file's tempo map), per track."""
    mid = mido.MidiFile(str(path))
    ppq = mid.ticks_per_beat
    if mid.type == 2:
        raise MidiWriteError("Type 2 MIDI files (independent sequences) are not supported.")

    tempo_map: list[tuple[int, int]] = []
    time_sigs: list[tuple[int, int, int]] = []
    duration_ticks = 0
    title = None
    for ti, track in enumerate(mid.tracks):
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "set_tempo":
                tempo_map.append((now, msg.tempo))
            elif msg.type == "time_signature":
                time_sigs.append((now, msg.numerator, msg.denominator))
            elif msg.type == "track_name" and ti == 0 and title is None:
                title = msg.name
        duration_ticks = max(duration_ticks, now)
    tempo_map.sort()
    if not tempo_map or tempo_map[0][0] != 0:
        tempo_map.insert(0, (0, 500_000))
    to_seconds = _tick_converter(tempo_map, ppq)

    tracks: list[TrackData] = []
    for ti, track in enumerate(mid.tracks):
        tracks.append(_read_track(ti, track, to_seconds))
    return MidiContent(
        type=mid.type, ppq=ppq, tracks=tracks, tempo_map=tempo_map, time_signatures=sorted(time_sigs),
        duration_ticks=duration_ticks, duration_s=to_seconds(duration_ticks), title=title,
    )


def _tick_converter(tempo_map: list[tuple[int, int]], ppq: int):
    # Seconds at each tempo change, then linear within a segment.
    starts: list[tuple[int, float, int]] = []
    seconds = 0.0
    prev_tick, prev_tempo = 0, tempo_map[0][1]
    for t, us in tempo_map:
        seconds += (t - prev_tick) * prev_tempo / 1e6 / ppq
        starts.append((t, seconds, us))
        prev_tick, prev_tempo = t, us

    def convert(tick: int) -> float:
        seg = starts[0]
        for s in starts:
            if s[0] <= tick:
                seg = s
            else:
                break
        return seg[1] + (tick - seg[0]) * seg[2] / 1e6 / ppq

    return convert


def _read_track(index: int, track: mido.MidiTrack, to_seconds) -> TrackData:
    name = None
    program = None
    channels: set[int] = set()
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    raw_notes: list[tuple[int, int, int, int, int]] = []  # (start, end, channel, pitch, velocity)
    bends: dict[int, list[tuple[int, int]]] = {}
    bend_events = 0
    now = 0
    for msg in track:
        now += msg.time
        kind = msg.type
        if kind == "track_name" and name is None:
            name = msg.name
        elif kind == "program_change" and program is None:
            program = msg.program
        elif kind == "note_on" and msg.velocity > 0:
            channels.add(msg.channel)
            open_notes.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
        elif kind in ("note_off", "note_on"):
            stack = open_notes.get((msg.channel, msg.note))
            if stack:
                start, vel = stack.pop(0)
                raw_notes.append((start, now, msg.channel, msg.note, vel))
        elif kind == "pitchwheel":
            bends.setdefault(msg.channel, []).append((now, msg.pitch))
            bend_events += 1
    for (ch, pitch), stack in open_notes.items():  # unterminated notes end with the track
        for start, vel in stack:
            raw_notes.append((start, max(now, start + 1), ch, pitch, vel))

    notes: list[Note] = []
    for start, end, ch, pitch, vel in sorted(raw_notes):
        start_s, end_s = to_seconds(start), to_seconds(end)
        notes.append(Note(pitch, start_s, end_s, vel, _note_bends(bends.get(ch), start, end, start_s, to_seconds)))
    is_drum = bool(channels) and channels == {DRUM_CHANNEL}
    return TrackData(index=index, name=name, channels=sorted(channels), program=program, is_drum=is_drum,
                     notes=notes, pitch_bend_events=bend_events)


def _note_bends(events, start: int, end: int, start_s: float, to_seconds):
    if not events:
        return None
    points: list[tuple[float, float]] = []
    current = 0
    for t, value in events:
        if t <= start:
            current = value
        else:
            break
    if current:
        points.append((0.0, current / 8192 * BEND_RANGE_SEMITONES))
    for t, value in events:
        if start < t < end:
            points.append((to_seconds(t) - start_s, value / 8192 * BEND_RANGE_SEMITONES))
    return compact_bends(points)
