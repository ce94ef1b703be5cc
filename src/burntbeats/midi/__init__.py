"""Audio -> MIDI: Basic Pitch transcription (ONNX, CPU), editable note data, multi-track merge, exports.

Modules:
    engine    the transcription interface, conversion settings and the Basic Pitch ONNX engine
    notes     the note data model, validation of edited notes, quantisation, versioned note storage
    midifile  writing and reading Standard MIDI Files (Type 1)
    analysis  note analysis (range, polyphony, key, tempo) and analysis of a written MIDI file
    merge     several sources -> one Type 1 file, one named track per source
    job       the job handlers ("midi.transcribe", "midi.export")
    cli       `burntbeats transcribe` and `burntbeats midi merge`
"""
