"""The note data the piano roll shows and edits: model, validation, quantisation, versioned storage.

A note is `{"pitch": 60, "start_s": 1.0, "end_s": 1.5, "velocity": 90, "pitch_bends": [[0.0, 0.33], ...]}`.
`pitch_bends` is null or a list of `[offset_s, semitones]` points relative to the note's start (so a
note keeps its bend when it is moved), each value holding until the next point; the range is the
General MIDI default of +/-2 semitones.

Each edit is stored as a new immutable version under `notes/` in the job's files (a
:class:`~burntbeats.storage.space.JobSpace`); `notes/HEAD` names the current one and every version
remembers its parent, so an edit can be undone (or any version restored).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from burntbeats.errors import Conflict, InvalidRequest, NotFound
from burntbeats.storage.space import JobSpace

BEND_RANGE_SEMITONES = 2.0
MAX_BENDS_PER_NOTE = 2000
MAX_TIME_S = 6 * 3600.0

# Grid name -> length in quarter notes.
QUANTIZE_GRIDS: dict[str, float] = {
    "1/4": 1.0,
    "1/8": 0.5,
    "1/16": 0.25,
    "1/32": 0.125,
    "1/4T": 2.0 / 3.0,
    "1/8T": 1.0 / 3.0,
    "1/16T": 1.0 / 6.0,
}


@dataclass(slots=True)
class Note:
    pitch: int
    start_s: float
    end_s: float
    velocity: int
    pitch_bends: list[tuple[float, float]] | None = field(default=None)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "pitch": int(self.pitch),
            "start_s": round(float(self.start_s), 6),
            "end_s": round(float(self.end_s), 6),
            "velocity": int(self.velocity),
            "pitch_bends": [[round(float(o), 6), round(float(s), 4)] for o, s in self.pitch_bends]
            if self.pitch_bends
            else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Note:
        bends = d.get("pitch_bends")
        return cls(
            pitch=int(d["pitch"]),
            start_s=float(d["start_s"]),
            end_s=float(d["end_s"]),
            velocity=int(d["velocity"]),
            pitch_bends=[(float(o), float(s)) for o, s in bends] if bends else None,
        )


def notes_to_dicts(notes: Sequence[Note]) -> list[dict[str, Any]]:
    return [n.to_dict() for n in notes]


# ---------------------------------------------------------------------------------------------
# Validation of an edited note list (from the browser)
# ---------------------------------------------------------------------------------------------


class NoteValidationError(InvalidRequest, ValueError):
    """An edited note list is malformed; the message names the first bad note."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def validate_notes(payload: Any, max_notes: int) -> list[Note]:
    """Checks an edited note list; returns canonical notes or raises NoteValidationError (first bad note)."""
    if not isinstance(payload, list):
        raise NoteValidationError("`notes` must be a list of notes.")
    if len(payload) > max_notes:
        raise NoteValidationError(f"Too many notes: {len(payload)} (the limit is {max_notes}).")
    notes: list[Note] = []
    for i, raw in enumerate(payload):
        where = f"Note {i + 1} (index {i})"
        if not isinstance(raw, dict):
            raise NoteValidationError(f"{where} must be an object with pitch, start_s, end_s and velocity.")
        missing = [k for k in ("pitch", "start_s", "end_s", "velocity") if k not in raw]
        if missing:
            raise NoteValidationError(f"{where} is missing {', '.join(missing)}.")
        pitch = _integer(raw["pitch"])
        if pitch is None or not 0 <= pitch <= 127:
            raise NoteValidationError(f"{where}: pitch must be an integer from 0 to 127, got {raw['pitch']!r}.")
        velocity = _integer(raw["velocity"])
        if velocity is None or not 1 <= velocity <= 127:
            raise NoteValidationError(
                f"{where}: velocity must be an integer from 1 to 127, got {raw['velocity']!r}."
            )
        start, end = _number(raw["start_s"]), _number(raw["end_s"])
        if start is None or start < 0 or start > MAX_TIME_S:
            raise NoteValidationError(f"{where}: start_s must be a number of seconds >= 0, got {raw['start_s']!r}.")
        if end is None or end > MAX_TIME_S:
            raise NoteValidationError(f"{where}: end_s must be a number of seconds, got {raw['end_s']!r}.")
        if not start < end:
            raise NoteValidationError(f"{where}: start_s ({start}) must be before end_s ({end}).")
        bends = _validate_bends(raw.get("pitch_bends"), end - start, where)
        notes.append(Note(pitch, start, end, velocity, bends))
    return notes


def _validate_bends(raw: Any, duration: float, where: str) -> list[tuple[float, float]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_BENDS_PER_NOTE:
        raise NoteValidationError(
            f"{where}: pitch_bends must be null or a list of at most {MAX_BENDS_PER_NOTE} [offset_s, semitones] pairs."
        )
    bends: list[tuple[float, float]] = []
    for point in raw:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise NoteValidationError(f"{where}: each pitch bend must be an [offset_s, semitones] pair.")
        offset, semis = _number(point[0]), _number(point[1])
        if offset is None or not 0 <= offset <= duration + 1e-6:
            raise NoteValidationError(f"{where}: a pitch bend offset must lie within the note (0 to {duration:.4f} s).")
        if semis is None or abs(semis) > BEND_RANGE_SEMITONES:
            raise NoteValidationError(f"{where}: a pitch bend must be within +/-{BEND_RANGE_SEMITONES:g} semitones.")
        bends.append((offset, semis))
    bends.sort(key=lambda b: b[0])
    return bends or None


# ---------------------------------------------------------------------------------------------
# Canonical form, quantisation, pitch-bend conflicts
# ---------------------------------------------------------------------------------------------


def compact_bends(bends: Sequence[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
    """Canonical bend points: a note starts unbent and each value holds until the next point, so
    points that repeat the value in force are dropped; None when the note never bends."""
    if not bends:
        return None
    by_offset: list[tuple[float, float]] = []
    for offset, semis in sorted(bends, key=lambda b: b[0]):
        if by_offset and offset - by_offset[-1][0] < 1e-9:
            by_offset[-1] = (by_offset[-1][0], semis)  # same instant: the later value wins
        else:
            by_offset.append((offset, semis))
    out: list[tuple[float, float]] = []
    for offset, semis in by_offset:
        in_force = out[-1][1] if out else 0.0
        if abs(semis - in_force) >= 1e-9:
            out.append((offset, semis))
    return out or None


def canonical(notes: Sequence[Note]) -> list[Note]:
    """Sorted by (start, pitch); a note the same pitch re-strikes is cut where the next one starts
    (one MIDI channel cannot hold two overlapping notes of the same pitch)."""
    ordered = sorted(notes, key=lambda n: (n.start_s, n.pitch, -n.end_s))
    last_by_pitch: dict[int, Note] = {}
    kept: list[Note] = []
    for note in ordered:
        note = Note(note.pitch, note.start_s, note.end_s, note.velocity, compact_bends(note.pitch_bends))
        prev = last_by_pitch.get(note.pitch)
        if prev is not None and note.start_s < prev.end_s:
            if note.start_s - prev.start_s < 1e-6:
                # Same start: keep one note, the longer and louder of the two.
                prev.end_s = max(prev.end_s, note.end_s)
                prev.velocity = max(prev.velocity, note.velocity)
                continue
            prev.end_s = note.start_s
            if prev.pitch_bends:
                prev.pitch_bends = [b for b in prev.pitch_bends if b[0] < prev.duration_s] or None
        last_by_pitch[note.pitch] = note
        kept.append(note)
    return kept


def drop_overlapping_bends(notes: Sequence[Note]) -> list[Note]:
    """Notes that overlap another note lose their pitch bends (a bend moves a whole MIDI channel).

    Basic Pitch's rule when `multiple_pitch_bends` is off."""
    ordered = sorted(notes, key=lambda n: (n.start_s, n.end_s, n.pitch))
    overlapping = [False] * len(ordered)
    for i in range(len(ordered)):
        for j in range(i + 1, len(ordered)):
            if ordered[j].start_s >= ordered[i].end_s:
                break
            overlapping[i] = overlapping[j] = True
    return [
        Note(n.pitch, n.start_s, n.end_s, n.velocity, None if overlap else n.pitch_bends)
        for n, overlap in zip(ordered, overlapping)
    ]


def quantize_notes(notes: Sequence[Note], grid: str, tempo_bpm: float) -> list[Note]:
    """Snaps starts and ends to the nearest grid line (at least one grid step long); bends scale along."""
    step = QUANTIZE_GRIDS[grid] * 60.0 / tempo_bpm
    out: list[Note] = []
    for n in notes:
        start = round(n.start_s / step) * step
        end = max(start + step, round(n.end_s / step) * step)
        bends = None
        if n.pitch_bends:
            scale = (end - start) / n.duration_s if n.duration_s > 0 else 1.0
            bends = [(o * scale, s) for o, s in n.pitch_bends]
        out.append(Note(n.pitch, start, end, n.velocity, bends))
    return canonical(out)


# ---------------------------------------------------------------------------------------------
# Versioned storage (undo)
# ---------------------------------------------------------------------------------------------


class NothingToUndo(Conflict):
    pass


class VersionConflict(Conflict):
    pass


class UnknownVersion(NotFound):
    pass


_VERSION_FILE = re.compile(r"^notes/v(\d{4,})\.json$")
_HEAD = "notes/HEAD"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class NoteStore:
    """`notes/vNNNN.json` (immutable) + `notes/HEAD` in a job's files. Use `with store.locked():` around changes."""

    def __init__(self, files: JobSpace, max_versions: int = 100) -> None:
        self.files = files
        self.max_versions = max(2, max_versions)

    # -- reading ---------------------------------------------------------
    def exists(self) -> bool:
        return self.files.exists(_HEAD)

    def head(self) -> int:
        try:
            return int(self.files.read(_HEAD).decode().strip())
        except (OSError, ValueError):
            raise UnknownVersion("This job has no note data.") from None

    @staticmethod
    def _name(version: int) -> str:
        return f"notes/v{version:04d}.json"

    def read(self, version: int | None = None) -> dict[str, Any]:
        version = self.head() if version is None else version
        try:
            return json.loads(self.files.read(self._name(version)))
        except (OSError, ValueError):
            raise UnknownVersion(f"There is no version {version} of these notes.") from None

    def notes(self, version: int | None = None) -> list[Note]:
        return [Note.from_dict(d) for d in self.read(version)["notes"]]

    def version_numbers(self) -> list[int]:
        return sorted(int(m.group(1)) for name in self.files.list("notes/") if (m := _VERSION_FILE.match(name)))

    def versions(self) -> list[dict[str, Any]]:
        head = self.head() if self.exists() else None
        out = []
        for v in self.version_numbers():
            try:
                doc = self.read(v)
            except UnknownVersion:
                continue
            out.append({
                "version": v,
                "parent": doc.get("parent"),
                "source": doc.get("source"),
                "created_at": doc.get("created_at"),
                "note_count": len(doc.get("notes", [])),
                "current": v == head,
            })
        return out

    # -- changing (call under `locked()`) --------------------------------
    def locked(self) -> AbstractContextManager[None]:
        return self.files.locked("notes")

    def commit(self, notes: Sequence[Note], source: str, base_version: int | None = None) -> int:
        """Store `notes` as a new version (child of HEAD) and make it HEAD; returns its number."""
        parent = self.head() if self.exists() else None
        if base_version is not None and parent is not None and base_version != parent:
            raise VersionConflict(
                f"The notes changed since version {base_version} (the current version is {parent}); "
                "reload and edit again."
            )
        numbers = self.version_numbers()
        version = (numbers[-1] if numbers else 0) + 1
        doc = {"version": version, "parent": parent, "source": source, "created_at": _now(),
               "notes": notes_to_dicts(notes)}
        self.files.write(self._name(version), json.dumps(doc, separators=(",", ":")).encode())
        self._set_head(version)
        self._prune()
        return version

    def undo(self) -> int:
        """HEAD moves to its parent version (nothing is deleted); returns the new HEAD."""
        doc = self.read()
        parent = doc.get("parent")
        if parent is None or not self.files.exists(self._name(parent)):
            raise NothingToUndo("There is no earlier version to go back to.")
        self._set_head(parent)
        return parent

    def restore(self, version: int) -> int:
        """Makes a copy of an older version the new HEAD (so the restore itself can be undone)."""
        doc = self.read(version)
        return self.commit([Note.from_dict(d) for d in doc["notes"]], source=f"restore of v{version}")

    def _set_head(self, version: int) -> None:
        self.files.write(_HEAD, str(version).encode())

    def _prune(self) -> None:
        numbers = self.version_numbers()
        head = self.head()
        keep_first = numbers[:1]  # the transcription itself is always kept
        excess = len(numbers) - self.max_versions
        for v in numbers[1:]:
            if excess <= 0:
                break
            if v != head and v not in keep_first:
                self.files.delete(self._name(v))
                excess -= 1
