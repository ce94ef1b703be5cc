"""Channel conversion: mono <-> stereo, ITU-style fold-down of surround, and the downmix note."""

from __future__ import annotations

import av
import av.error
import numpy as np

from burntbeats.audio.errors import UnsupportedAudio

_SQRT1_2 = 0.7071067811865476


def downmix_weights(names: list[str]) -> np.ndarray:
    """(2, n) matrix folding n named channels to stereo (LFE dropped), normalised so it cannot clip."""
    w = np.zeros((2, len(names)), dtype=np.float64)
    for i, name in enumerate(names):
        if name == "FL":
            w[:, i] = (1.0, 0.0)
        elif name == "FR":
            w[:, i] = (0.0, 1.0)
        elif name.startswith("LFE"):
            continue
        elif name in ("FC", "BC", "TC", "TFC", "TBC", "BFC"):
            w[:, i] = (_SQRT1_2, _SQRT1_2)
        elif name.endswith("L") or name.endswith("LC"):
            w[:, i] = (_SQRT1_2, 0.0)
        elif name.endswith("R") or name.endswith("RC"):
            w[:, i] = (0.0, _SQRT1_2)
        else:
            w[:, i] = (0.5, 0.5)
    if not w.any():
        w[:] = 1.0
    return w / w.sum(axis=1).max()


def layout_names(layout) -> list[str]:
    n = layout.nb_channels
    names = [c.name for c in layout.channels]
    if n > 2 and (len(names) != n or any(x in ("NONE", "", "USR") or x.startswith("USR") for x in names)):
        try:  # unspecified order (e.g. a WAV without channel mask): assume FFmpeg's default layout
            default = av.AudioLayout(f"{n}c")
            if default.nb_channels == n:
                names = [c.name for c in default.channels]
        except (ValueError, av.error.FFmpegError):  # no default layout for this many channels
            names = ["NONE"] * n
    return names


class ChannelMixer:
    def __init__(self, in_channels: int, out_channels: int, names: list[str]) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.matrix: np.ndarray | None = None
        if in_channels == out_channels:
            return
        if out_channels == 1 and in_channels == 2:
            self.matrix = np.full((1, 2), 0.5, dtype=np.float32)
        elif out_channels == 1:  # surround -> mono: the mean of the stereo fold-down (LFE still dropped)
            self.matrix = downmix_weights(names).mean(axis=0, keepdims=True).astype(np.float32)
        elif in_channels == 1:
            self.matrix = np.ones((out_channels, 1), dtype=np.float32)
        elif out_channels == 2:
            self.matrix = downmix_weights(names).astype(np.float32)
        else:
            raise UnsupportedAudio(
                f"This file changes from {out_channels} to {in_channels} channels part-way through; "
                "that cannot be converted."
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            return x
        if self.in_channels == 1:
            return np.repeat(x, self.out_channels, axis=0)
        return (self.matrix @ x).astype(np.float32, copy=False)


def _layout_label(layout_name: str, channels: int) -> str:
    """Short user-facing name of a channel layout: "5.1" for "5.1(side)", "12-channel" for "12 channels"."""
    base = layout_name.split("(")[0].strip()
    if base and base[0].isdigit() and "." in base:
        return base
    if base in ("mono", "stereo", "quad", "hexagonal", "octagonal"):
        return base
    return f"{channels}-channel"


def downmix_note(layout_name: str, in_channels: int, out_channels: int) -> str | None:
    """The sentence a job result carries when multichannel input was folded down, else None."""
    if in_channels <= 2 or out_channels >= in_channels:
        return None
    target = "stereo" if out_channels == 2 else "mono"
    return f"{_layout_label(layout_name, in_channels)} input was downmixed to {target}."


def frame_array(frame) -> np.ndarray:
    """(channels, n) view of a *packed* float frame.

    Never call ``to_ndarray`` on planar frames: PyAV finds the planes by walking
    ``extended_data`` to a NULL pointer, and FFmpeg does not NULL-terminate it at 8 or more
    channels, so a 7.1 planar frame reads past the array and crashes the process. A packed
    frame has exactly one plane, whatever its channel count.
    """
    n = frame.layout.nb_channels
    return frame.to_ndarray().reshape(-1, n).T
