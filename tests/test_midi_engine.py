"""The Basic Pitch ONNX engine: transcription accuracy on melodies rendered from known notes, equality
with Basic Pitch's own post-processing, the conversion settings, and the CLI."""

from __future__ import annotations

import importlib.util
import json
import warnings

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from burntbeats.midi.engine import (
    AUDIO_N_SAMPLES,
    ConversionSettings,
    get_engine,
    get_pitch_bends,
    output_to_notes_polyphonic,
    to_model_rate,
)
from burntbeats.midi.midifile import read_midi
from test_midi_synth import INSTRUMENTS, SR, chord_progression, note_hz, random_melody, render

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("basic_pitch") is None,
    reason="the Basic Pitch model is not installed: pip install --no-deps basic-pitch==0.4.0",
)

@pytest.fixture(scope="session")
def engine():
    """One engine per test session (loading + warm-up happen once, as in a worker process)."""
    return get_engine(threads=2)


def _scores(ref, est):
    ref_i = np.array([[s, e] for s, e, _ in ref])
    ref_p = np.array([note_hz(p) for _, _, p in ref])
    est_i = np.array([[n.start_s, n.end_s] for n in est]).reshape(-1, 2)
    est_p = np.array([note_hz(n.pitch) for n in est])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p, offset_ratio=None)
        matched = mir_eval.transcription.match_notes(ref_i, ref_p, est_i, est_p, offset_ratio=None)
    onset_err = [abs(ref_i[i, 0] - est_i[j, 0]) for i, j in matched]
    return p, r, f, (float(np.mean(onset_err)) if onset_err else 1.0)


@pytest.fixture(scope="module")
def melody():
    ref = random_melody(seed=11, n_notes=16, low=57, high=77)  # ~8 s, A3..F5
    return ref, to_model_rate(render(ref, INSTRUMENTS["clarinet"], SR, seed=1), SR)


def _unmatched_are_partials(ref, est) -> bool:
    """Every estimated note without a reference match sits on an upper partial (harmonic 2-12, within
    a semitone) of a reference note sounding at that time: a harmonic, not a wrong pitch."""
    ref_i = np.array([[s, e] for s, e, _ in ref])
    ref_p = np.array([note_hz(p) for _, _, p in ref])
    est_i = np.array([[n.start_s, n.end_s] for n in est]).reshape(-1, 2)
    est_p = np.array([note_hz(n.pitch) for n in est])
    matched = {j for _, j in mir_eval.transcription.match_notes(ref_i, ref_p, est_i, est_p, offset_ratio=None)}
    for j, n in enumerate(est):
        if j in matched:
            continue
        sounding = [p for s, e, p in ref if s - 0.05 <= n.start_s <= e]
        if not any(abs(n.pitch - p - 12 * np.log2(k)) <= 1 for p in sounding for k in range(2, 13)):
            return False
    return True


def test_known_melody_is_transcribed_with_right_pitches_and_onsets(engine, melody):
    """16 notes (A3-F5, 0.2-0.6 s, ~8 s, clarinet-like additive synthesis); mir_eval note matching
    (pitch within 50 cents, onset within 50 ms). Thresholds:

    * recall >= 0.95 with Basic Pitch's defaults: every rendered note must come back with its exact
      pitch and onset (at most one of 16 missed). A transposition, octave error or a timing offset
      beyond 50 ms fails this at once. Mean onset error < 25 ms (measured 3-7 ms).
    * With the defaults Basic Pitch's melodia step also adds notes on strong upper partials of these
      synthetic tones (measured precision 0.53-0.89 over 6 seeds, 0.80 on this one, F 0.89), a
      property of the model that we keep (set maximum_frequency or turn melodia off). So we require
      F >= 0.8 and that every unmatched note is an upper partial of a sounding note, never a wrong pitch.
    * With melodia off, F >= 0.95 (measured 1.0 on 5 of 6 seeds, 0.97 on the other).
    """
    ref, audio = melody
    result = engine.transcribe(audio, ConversionSettings())
    p, r, f, onset_err = _scores(ref, result.notes)
    assert r >= 0.95 and f >= 0.8, (p, r, f)
    assert onset_err < 0.025
    assert _unmatched_are_partials(ref, result.notes)

    strict = engine.transcribe(audio, ConversionSettings(melodia_trick=False))
    p, r, f, onset_err = _scores(ref, strict.notes)
    assert f >= 0.95, (p, r, f)
    assert all(1 <= n.velocity <= 127 for n in strict.notes)


def test_polyphonic_chords(engine):
    ref = chord_progression(seed=2, n_chords=5)
    audio = to_model_rate(render(ref, INSTRUMENTS["piano"], SR), SR)
    p, r, f, _ = _scores(ref, engine.transcribe(audio, ConversionSettings(melodia_trick=False)).notes)
    assert r >= 0.9 and f >= 0.85, (p, r, f)


def test_same_notes_as_basic_pitch_itself(engine, melody):
    """Our windowing and note creation reproduce basic_pitch.inference / note_creation exactly."""
    pytest.importorskip("librosa")
    from basic_pitch import inference as bp_inference
    from basic_pitch import note_creation as bp_notes

    _, audio = melody
    acts = engine.activations(audio)

    # Reference windowing + unwrapping with the package's own functions and our ONNX session.
    overlap = 30 * 256
    padded = np.concatenate([np.zeros(overlap // 2, dtype=np.float32), audio])
    outs = {"note": [], "onset": [], "contour": []}
    names = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
             "contour": "StatefulPartitionedCall:0"}
    for window, _ in bp_inference.window_audio_file(padded, AUDIO_N_SAMPLES - overlap):
        res = engine.session.run(list(names.values()), {"serving_default_input_2:0": window[None]})
        for key, value in zip(names, res):
            outs[key].append(value)
    ref_acts = {k: bp_inference.unwrap_output(np.concatenate(v), len(audio), 30) for k, v in outs.items()}
    for key in acts:  # batching windows may change float rounding (~1e-7), nothing more
        assert acts[key].shape == ref_acts[key].shape
        np.testing.assert_allclose(acts[key], ref_acts[key], rtol=0, atol=1e-5)

    for melodia, onset, frame, min_len in ((True, 0.5, 0.3, 11), (False, 0.3, 0.2, 5), (True, 0.6, 0.4, 20)):
        ours = output_to_notes_polyphonic(acts["note"], acts["onset"], onset, frame, min_len, True, 2000.0, 60.0,
                                          melodia)
        theirs = bp_notes.output_to_notes_polyphonic(acts["note"].copy(), acts["onset"].copy(), onset_thresh=onset,
                                                     frame_thresh=frame, min_note_len=min_len, infer_onsets=True,
                                                     max_freq=2000.0, min_freq=60.0, melodia_trick=melodia)
        assert ours == [(a, b, c, float(d)) for a, b, c, d in theirs]
        bends = [list(x[4]) for x in bp_notes.get_pitch_bends(acts["contour"], theirs)]
        assert [x[4] for x in get_pitch_bends(acts["contour"], ours)] == bends


def test_settings_shape_the_output(engine, melody):
    ref, audio = melody
    limited = engine.transcribe(audio, ConversionSettings(minimum_frequency=300, maximum_frequency=600)).notes
    # Basic Pitch rounds the limits to the nearest semitone: 300 Hz -> D4 (62), 600 Hz -> below D5 (74).
    assert limited and all(62 <= n.pitch < 74 for n in limited)

    grid = 60 / 100 / 4  # 1/16 at 100 bpm
    quantized = engine.transcribe(audio, ConversionSettings(quantize="1/16", midi_tempo=100)).notes
    for n in quantized:
        assert abs(n.start_s / grid - round(n.start_s / grid)) < 1e-6
        assert abs(n.end_s / grid - round(n.end_s / grid)) < 1e-6 and n.end_s > n.start_s

    long_only = engine.transcribe(audio, ConversionSettings(minimum_note_length_ms=400)).notes
    assert all(n.end_s - n.start_s >= 0.38 for n in long_only)
    assert len(long_only) < len(ref)

    assert all(n.pitch_bends is None for n in engine.transcribe(audio, ConversionSettings(pitch_bends=False)).notes)
    assert engine.transcribe(np.zeros(SR // 2, dtype=np.float32), ConversionSettings()).notes == []


def test_conversion_settings_validation():
    assert ConversionSettings(quantize="off").quantize is None
    assert ConversionSettings(quantize="1/8t").quantize == "1/8T"
    assert ConversionSettings().min_note_frames == 11  # Basic Pitch's 127.70 ms
    for bad in ({"onset_threshold": 2}, {"quantize": "1/5"}, {"program": 128}, {"what": 1},
                {"minimum_frequency": 500, "maximum_frequency": 400}):
        with pytest.raises(ValueError):
            ConversionSettings(**bad)


def test_cli_transcribe_and_merge(engine, melody, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from burntbeats.cli import app

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    ref, audio = melody
    take = tmp_path / "take.wav"
    sf.write(take, audio, 22050)
    runner = CliRunner()
    res = runner.invoke(app, ["transcribe", str(take), "-o", str(tmp_path / "take.mid"), "--quantize", "1/16",
                              "--program", "33", "--metadata", str(tmp_path / "meta.json")])
    assert res.exit_code == 0, res.output
    content = read_midi(tmp_path / "take.mid")
    assert content.tracks[1].name == "take" and content.tracks[1].program == 33
    p, r, f, _ = _scores(ref, content.all_notes())
    assert r >= 0.9, (p, r, f)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["settings"]["quantize"] == "1/16"
    assert meta["midi_file_analysis"]["note_count"] == len(content.all_notes())

    res = runner.invoke(app, ["midi", "merge", str(tmp_path / "take.mid"), str(tmp_path / "take.mid"),
                              "-o", str(tmp_path / "song.mid"), "--json"])
    assert res.exit_code == 0, res.output
    merged = read_midi(tmp_path / "song.mid")
    assert merged.type == 1 and [t.name for t in merged.tracks[1:]] == ["take", "take-2"]

    res = runner.invoke(app, ["transcribe", str(take), "--quantize", "1/7"])
    assert res.exit_code != 0
