"""Every job kind's name, written once. A kind is `<family>.<action>`; a family shares a queue limit."""

from __future__ import annotations

from enum import StrEnum


class JobFamily(StrEnum):
    STEMS = "stems"
    SPEECH = "speech"
    MIDI = "midi"


class JobKind(StrEnum):
    STEMS_SPLIT = f"{JobFamily.STEMS}.split"
    STEMS_EXPORT = f"{JobFamily.STEMS}.export"
    SPEECH_ENHANCE = f"{JobFamily.SPEECH}.enhance"
    MIDI_TRANSCRIBE = f"{JobFamily.MIDI}.transcribe"
    MIDI_EXPORT = f"{JobFamily.MIDI}.export"


def family_of(kind: str) -> JobFamily:
    return JobFamily(kind.split(".", 1)[0])


def kind_matches(kind: str, wanted: str) -> bool:
    """`wanted` is a kind ("stems.split") or a family ("stems"; "stems." is read the same way)."""
    wanted = wanted.rstrip(".")
    return kind == wanted or (wanted in _FAMILIES and kind.startswith(f"{wanted}."))


_FAMILIES = {f.value for f in JobFamily}
