"""Burnt Beats: stems, clean speech and MIDI from one self-hosted install."""

__version__ = "0.1.0"
