"""Errors for bad input audio: each carries an HTTP status and a sentence fit for the user."""

from __future__ import annotations

__all__ = [
    "AudioError", "UnsupportedAudio", "EmptyAudio", "AudioTooLong", "AudioTooShort", "HeaderMismatch", "fmt_duration",
]


class AudioError(Exception):
    """Bad input audio. ``str(err)`` is a sentence fit for the user; ``status_code`` an HTTP status."""

    status_code: int = 422

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class UnsupportedAudio(AudioError):
    """Not audio, or a container we cannot read (HTTP 415)."""

    status_code = 415


class EmptyAudio(AudioError):
    """Nothing to decode: 0-byte file (400), header only, truncated or zero samples (422)."""

    status_code = 422


class AudioTooLong(AudioError):
    """Longer than the configured limit (HTTP 422)."""

    status_code = 422

    def __init__(self, duration_s: float, limit_s: float, *, at_least: bool = False) -> None:
        self.duration_s = float(duration_s)
        self.limit_s = float(limit_s)
        if at_least:  # decoding stopped at the limit: the full length is not known
            message = (
                f"This audio is longer than the limit of {fmt_duration(limit_s)} "
                f"(decoding stopped after {fmt_duration(duration_s)})."
            )
        else:
            message = (
                f"This audio is {fmt_duration(duration_s)} long, which is over the limit of {fmt_duration(limit_s)}."
            )
        super().__init__(message)


class AudioTooShort(EmptyAudio):
    """Less decodable audio than the minimum (HTTP 422): a truncated or near-empty file."""

    status_code = 422

    def __init__(self, duration_s: float, minimum_s: float) -> None:
        self.duration_s = float(duration_s)
        self.minimum_s = float(minimum_s)
        super().__init__(
            f"This audio is only {duration_s:.3f} s long (the file may be truncated); "
            f"the shortest accepted is {minimum_s:.3f} s."
        )


class HeaderMismatch(AudioError):
    """The decoded content contradicts the file's header (HTTP 422)."""

    status_code = 422


def fmt_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d} ({seconds:.0f} s)"
    return f"{m}:{s:02d} ({seconds:.0f} s)"
