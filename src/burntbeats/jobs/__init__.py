"""The one job pipeline shared by every job kind (stems, speech, MIDI, exports)."""
