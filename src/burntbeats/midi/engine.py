"""Transcription engines: audio -> notes. One small interface, one engine (Spotify's Basic Pitch).

Basic Pitch ships its network as ONNX inside its PyPI package
(`basic_pitch/saved_models/icassp_2022/nmp.onnx`); it runs here on CPU with onnxruntime, without
TensorFlow. The package is only *located* (never imported): its Python modules pull in librosa,
resampy and numba, whose first-call JIT costs seconds. This module reproduces Basic Pitch's own
pipeline instead (`inference.run_inference` windowing and `note_creation.model_output_to_notes`),
step for step, with the melodia search made faster (same notes; `tests/test_midi_engine.py` checks
equality against the package's implementation). Audio is resampled to 22050 Hz with soxr "HQ",
which is what `librosa.load` does inside Basic Pitch.

The engine is created once per process (`get_engine`) and warmed up on creation, so only the first
job in a worker pays for loading the model.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from burntbeats.midi.notes import Note, canonical, compact_bends, drop_overlapping_bends, quantize_notes

ProgressFn = Callable[[float], None]

BASIC_PITCH_INSTALL = "pip install --no-deps basic-pitch==0.4.0"

# ---------------------------------------------------------------------------------------------
# Conversion settings (the options Basic Pitch users know, plus quantisation and instrument)
# ---------------------------------------------------------------------------------------------

Quantize = Literal["1/4", "1/8", "1/16", "1/32", "1/4T", "1/8T", "1/16T"]


class ConversionSettings(BaseModel):
    """Audio -> MIDI options. Defaults are Basic Pitch's own."""

    model_config = ConfigDict(extra="forbid")

    onset_threshold: float = Field(0.5, ge=0.05, le=0.95, description="Minimum onset confidence for a note to start.")
    frame_threshold: float = Field(0.3, ge=0.05, le=0.95, description="Minimum frame confidence for a note to go on.")
    minimum_note_length_ms: float = Field(127.7, ge=10, le=2000, description="Shorter notes are dropped.")
    minimum_frequency: float | None = Field(None, ge=20, le=8000, description="Hz; lower notes are ignored.")
    maximum_frequency: float | None = Field(None, ge=20, le=8000, description="Hz; higher notes are ignored.")
    melodia_trick: bool = Field(True, description="Basic Pitch's melodia post-processing (finds notes without onsets).")
    multiple_pitch_bends: bool = Field(
        False, description="Overlapping notes keep their own pitch bends (extra channels).")
    pitch_bends: bool = Field(True, description="Estimate pitch bends at all.")
    midi_tempo: float = Field(120.0, ge=20, le=300, description="Tempo written to the MIDI file (bpm).")
    quantize: Quantize | None = Field(None, description="Snap notes to a grid at midi_tempo: 1/8, 1/16, 1/8T ...")
    program: int | None = Field(None, ge=0, le=127, description="General MIDI program (0-127); default by stem name.")
    drums: bool | None = Field(None, description="Write on the drum channel (10); default: true for a 'drums' stem.")

    @field_validator("quantize", mode="before")
    @classmethod
    def _quantize(cls, value):
        if value is None:
            return None
        text = str(value).strip()
        if text.lower() in ("", "none", "off", "false", "0"):
            return None
        return text[:-1] + "T" if text.lower().endswith("t") else text

    @model_validator(mode="after")
    def _range(self) -> ConversionSettings:
        if self.minimum_frequency and self.maximum_frequency and self.minimum_frequency >= self.maximum_frequency:
            raise ValueError("minimum_frequency must be lower than maximum_frequency")
        return self

    @property
    def min_note_frames(self) -> int:
        return int(np.round(self.minimum_note_length_ms / 1000 * (AUDIO_SAMPLE_RATE / FFT_HOP)))


# General MIDI programs (0-based) for common stem names.
STEM_PROGRAMS = {"vocals": 53, "voice": 53, "bass": 33, "guitar": 25, "piano": 0, "other": 0, "instrumental": 0,
                 "strings": 48, "synth": 81}


def default_program(stem: str | None) -> int:
    return STEM_PROGRAMS.get((stem or "").lower(), 0)


def default_is_drum(stem: str | None) -> bool:
    return (stem or "").lower() in ("drums", "drum", "percussion")


# ---------------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------------


@dataclass
class Transcription:
    notes: list[Note]
    duration_s: float
    timing: dict[str, float]


class TranscriptionEngine(Protocol):
    name: str
    model: str
    sample_rate: int

    def transcribe(
        self, audio: np.ndarray, settings: ConversionSettings, progress: ProgressFn | None = None
    ) -> Transcription:
        """`audio`: mono float32 at `sample_rate`. Returns canonical notes (quantised if asked)."""
        ...


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message says why and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Basic Pitch (ONNX)
# ---------------------------------------------------------------------------------------------

# basic_pitch.constants
FFT_HOP = 256
AUDIO_SAMPLE_RATE = 22050
AUDIO_N_SAMPLES = AUDIO_SAMPLE_RATE * 2 - FFT_HOP  # 43844
ANNOTATIONS_FPS = AUDIO_SAMPLE_RATE // FFT_HOP  # 86
ANNOT_N_FRAMES = ANNOTATIONS_FPS * 2  # 172
ANNOTATIONS_BASE_FREQUENCY = 27.5
CONTOURS_BINS_PER_SEMITONE = 3
N_FREQ_BINS_CONTOURS = 88 * CONTOURS_BINS_PER_SEMITONE
# basic_pitch.inference.run_inference
N_OVERLAPPING_FRAMES = 30
OVERLAP_LEN = N_OVERLAPPING_FRAMES * FFT_HOP
HOP_SIZE = AUDIO_N_SAMPLES - OVERLAP_LEN
# basic_pitch.note_creation
MIDI_OFFSET = 21
MAX_FREQ_IDX = 87
ENERGY_TOL = 11

_OUTPUTS = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
            "contour": "StatefulPartitionedCall:0"}
_INPUT = "serving_default_input_2:0"


def default_model_path() -> Path:
    """The ONNX model inside the installed basic-pitch package (located without importing it)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(f"The Basic Pitch model is not installed. Install it with: {BASIC_PITCH_INSTALL}")
    return Path(list(spec.submodule_search_locations)[0]) / "saved_models" / "icassp_2022" / "nmp.onnx"


class BasicPitchOnnxEngine:
    name = "basic-pitch-onnx"
    model = "basic-pitch icassp_2022 (nmp.onnx)"
    sample_rate = AUDIO_SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, threads: int | None = None, batch_size: int = 8) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_file():
            raise EngineUnavailable(
                f"The Basic Pitch model file is missing ({self.model_path}). Install it with: {BASIC_PITCH_INSTALL}"
            )
        self.threads = max(1, int(threads or os.cpu_count() or 1))
        self.batch_size = batch_size
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Shared CPUs: idle threads sleep instead of spinning.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.runtime = f"onnxruntime {ort.__version__}"
        self._lock = threading.Lock()
        # Warm-up: the first run of a session is slow, and note creation imports scipy.signal.
        t0 = time.perf_counter()
        notes_from_activations(self.activations(np.zeros(AUDIO_SAMPLE_RATE, dtype=np.float32)), ConversionSettings())
        self.warmup_s = time.perf_counter() - t0

    # -- model output ----------------------------------------------------
    def activations(self, audio: np.ndarray, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        """Basic Pitch's `run_inference` on a mono 22050 Hz signal: {'note', 'onset', 'contour'} (frames x bins)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        original_length = audio.shape[0]
        padded = np.concatenate([np.zeros(OVERLAP_LEN // 2, dtype=np.float32), audio])
        starts = list(range(0, padded.shape[0], HOP_SIZE))
        n_olap = N_OVERLAPPING_FRAMES // 2
        per_window = ANNOT_N_FRAMES - 2 * n_olap
        n_frames = int(np.floor(original_length * (ANNOTATIONS_FPS / AUDIO_SAMPLE_RATE)))
        total = len(starts) * per_window
        out = {
            "note": np.empty((total, 88), np.float32),
            "onset": np.empty((total, 88), np.float32),
            "contour": np.empty((total, N_FREQ_BINS_CONTOURS), np.float32),
        }
        names = list(_OUTPUTS)
        for b0 in range(0, len(starts), self.batch_size):
            chunk = starts[b0 : b0 + self.batch_size]
            batch = np.zeros((len(chunk), AUDIO_N_SAMPLES, 1), dtype=np.float32)
            for k, s in enumerate(chunk):
                window = padded[s : s + AUDIO_N_SAMPLES]
                batch[k, : window.shape[0], 0] = window
            with self._lock:
                results = self.session.run([_OUTPUTS[n] for n in names], {_INPUT: batch})
            for name, res in zip(names, results):
                trimmed = res[:, n_olap:-n_olap, :]
                out[name][b0 * per_window : (b0 + len(chunk)) * per_window] = trimmed.reshape(-1, res.shape[-1])
            if progress:
                progress(min(1.0, (b0 + len(chunk)) / len(starts)))
        return {k: v[:n_frames] for k, v in out.items()}

    # -- notes -----------------------------------------------------------
    def transcribe(
        self, audio: np.ndarray, settings: ConversionSettings, progress: ProgressFn | None = None
    ) -> Transcription:
        t0 = time.perf_counter()
        acts = self.activations(audio, progress)
        t1 = time.perf_counter()
        notes = notes_from_activations(acts, settings)
        t2 = time.perf_counter()
        return Transcription(
            notes=notes,
            duration_s=len(audio) / self.sample_rate,
            timing={"inference_s": round(t1 - t0, 4), "note_creation_s": round(t2 - t1, 4)},
        )


_engines: dict[str, BasicPitchOnnxEngine] = {}
_engines_lock = threading.Lock()


def get_engine(model_path: Path | None = None, threads: int | None = None) -> BasicPitchOnnxEngine:
    """The process-wide engine (created and warmed up on first use; later calls reuse it)."""
    path = Path(model_path) if model_path else default_model_path()
    key = str(path)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = BasicPitchOnnxEngine(path, threads=threads)
        return engine


def engine_threads(settings) -> int:
    """Threads per engine: MIDI_THREADS, else the cores shared out among the job workers."""
    configured = int(getattr(settings, "midi_threads", 0) or 0)
    if configured > 0:
        return configured
    return max(1, (os.cpu_count() or 1) // max(1, int(getattr(settings, "job_concurrency", 1))))


# ---------------------------------------------------------------------------------------------
# Audio loading (for WAV/FLAC/OGG files; the job pipeline decodes other formats first)
# ---------------------------------------------------------------------------------------------


def to_model_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono (channel mean, as librosa does), float32, resampled to 22050 Hz with soxr HQ."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        # soundfile layout (frames, channels)
        audio = audio.mean(axis=1)
    if sample_rate != AUDIO_SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sample_rate, AUDIO_SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_audio(path: Path) -> np.ndarray:
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return to_model_rate(data, sr)


# ---------------------------------------------------------------------------------------------
# Basic Pitch note creation (basic_pitch.note_creation), ported
# ---------------------------------------------------------------------------------------------


def _hz_to_midi(hz: float) -> float:
    return 12 * (np.log2(hz) - np.log2(440.0)) + 69


def model_frames_to_time(n_frames: int) -> np.ndarray:
    original_times = np.arange(n_frames) * FFT_HOP / AUDIO_SAMPLE_RATE
    window_numbers = np.floor(np.arange(n_frames) / ANNOT_N_FRAMES)
    window_offset = (FFT_HOP / AUDIO_SAMPLE_RATE) * (ANNOT_N_FRAMES - (AUDIO_N_SAMPLES / FFT_HOP)) + 0.0018
    return original_times - (window_offset * window_numbers)


def _inferred_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    diffs = []
    for n in range(1, n_diff + 1):
        frames_appended = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(frames_appended[n:, :] - frames_appended[:-n, :])
    frame_diff = np.min(diffs, axis=0)
    frame_diff[frame_diff < 0] = 0
    frame_diff[:n_diff, :] = 0
    peak = np.max(frame_diff) if frame_diff.size else 0.0
    if peak > 0:
        frame_diff = np.max(onsets) * frame_diff / peak
    return np.max([onsets, frame_diff], axis=0)


def _trace_and_clear(row: np.ndarray, above: np.ndarray | None, below: np.ndarray | None, i: int, stop: int,
                     step: int, frame_thresh: float, energy_tol: int) -> tuple[int, int]:
    """Melodia trick: walk from frame `i` towards `stop` (exclusive) while fewer than `energy_tol`
    frames in a row are below `frame_thresh`, zeroing this pitch and its neighbours on the way.
    Returns (where the walk stopped, how many trailing frames were below the threshold)."""
    k = 0
    while (i < stop if step > 0 else i > stop) and k < energy_tol:
        if row[i] < frame_thresh:
            k += 1
        else:
            k = 0
        row[i] = 0
        if above is not None:
            above[i] = 0
        if below is not None:
            below[i] = 0
        i += step
    return i, k


def output_to_notes_polyphonic(
    frames: np.ndarray,
    onsets: np.ndarray,
    onset_thresh: float,
    frame_thresh: float,
    min_note_len: int,
    infer_onsets: bool,
    max_freq: float | None,
    min_freq: float | None,
    melodia_trick: bool = True,
    energy_tol: int = ENERGY_TOL,
) -> list[tuple[int, int, int, float]]:
    """Same result as basic_pitch.note_creation.output_to_notes_polyphonic (frames, not seconds).

    The melodia loop there recomputes a global max/argmax of the remaining energy per note; here the
    candidate cells are sorted once (value descending, then position, exactly argmax's tie order)
    and visited while they keep their value, which yields the same sequence of picks."""
    from scipy.signal import argrelmax

    frames = np.array(frames, copy=True)
    onsets = np.array(onsets, copy=True)
    n_frames = frames.shape[0]
    if n_frames == 0:
        return []
    if max_freq is not None:
        idx = int(np.round(_hz_to_midi(max_freq) - MIDI_OFFSET))
        onsets[:, idx:] = 0
        frames[:, idx:] = 0
    if min_freq is not None:
        idx = int(np.round(_hz_to_midi(min_freq) - MIDI_OFFSET))
        onsets[:, :idx] = 0
        frames[:, :idx] = 0
    if infer_onsets:
        onsets = _inferred_onsets(onsets, frames)

    peak_thresh_mat = np.zeros(onsets.shape)
    peaks = argrelmax(onsets, axis=0)
    peak_thresh_mat[peaks] = onsets[peaks]
    onset_idx = np.where(peak_thresh_mat >= onset_thresh)
    onset_time_idx = onset_idx[0][::-1]
    onset_freq_idx = onset_idx[1][::-1]

    # (freq, time) layout so a scan along time is contiguous; float64 as in the original.
    energy = np.array(frames.T, dtype=np.float64, order="C")
    note_events: list[tuple[int, int, int, float]] = []

    for note_start_idx, freq_idx in zip(onset_time_idx.tolist(), onset_freq_idx.tolist()):
        if note_start_idx >= n_frames - 1:
            continue
        row = energy[freq_idx]
        i = note_start_idx + 1
        k = 0
        while i < n_frames - 1 and k < energy_tol:
            if row[i] < frame_thresh:
                k += 1
            else:
                k = 0
            i += 1
        i -= k
        if i - note_start_idx <= min_note_len:
            continue
        energy[freq_idx, note_start_idx:i] = 0
        if freq_idx < MAX_FREQ_IDX:
            energy[freq_idx + 1, note_start_idx:i] = 0
        if freq_idx > 0:
            energy[freq_idx - 1, note_start_idx:i] = 0
        amplitude = np.mean(frames[note_start_idx:i, freq_idx])
        note_events.append((note_start_idx, i, freq_idx + MIDI_OFFSET, float(amplitude)))

    if melodia_trick:
        # Candidates in the original's (time, freq) C order, sorted stably by value descending.
        cand_t, cand_f = np.nonzero(energy.T > frame_thresh)
        values = energy[cand_f, cand_t]
        order = np.argsort(-values, kind="stable")
        for i_mid, freq_idx in zip(cand_t[order].tolist(), cand_f[order].tolist()):
            row = energy[freq_idx]
            if not row[i_mid] > frame_thresh:
                continue  # zeroed by an earlier note: the original would never pick it
            row[i_mid] = 0
            above = energy[freq_idx + 1] if freq_idx < MAX_FREQ_IDX else None
            below = energy[freq_idx - 1] if freq_idx > 0 else None

            i, k = _trace_and_clear(row, above, below, i_mid + 1, n_frames - 1, +1, frame_thresh, energy_tol)
            i_end = i - 1 - k
            i, k = _trace_and_clear(row, above, below, i_mid - 1, 0, -1, frame_thresh, energy_tol)
            i_start = i + 1 + k

            if i_end - i_start <= min_note_len:
                continue
            amplitude = np.mean(frames[i_start:i_end, freq_idx])
            note_events.append((i_start, i_end, freq_idx + MIDI_OFFSET, float(amplitude)))

    return note_events


_FREQ_GAUSSIAN_CACHE: dict[int, np.ndarray] = {}


def get_pitch_bends(
    contours: np.ndarray, note_events: Sequence[tuple[int, int, int, float]], n_bins_tolerance: int = 25
) -> list[tuple[int, int, int, float, list[int] | None]]:
    """basic_pitch.note_creation.get_pitch_bends: per-frame bends in 1/3-semitone units."""
    from scipy.signal.windows import gaussian

    window_length = n_bins_tolerance * 2 + 1
    freq_gaussian = _FREQ_GAUSSIAN_CACHE.get(window_length)
    if freq_gaussian is None:
        freq_gaussian = _FREQ_GAUSSIAN_CACHE[window_length] = gaussian(window_length, std=5)
    out = []
    for start_idx, end_idx, pitch_midi, amplitude in note_events:
        pitch_hz = 440.0 * 2.0 ** ((pitch_midi - 69) / 12.0)
        freq_idx = int(np.round(12.0 * CONTOURS_BINS_PER_SEMITONE * np.log2(pitch_hz / ANNOTATIONS_BASE_FREQUENCY)))
        freq_start_idx = max(freq_idx - n_bins_tolerance, 0)
        freq_end_idx = min(N_FREQ_BINS_CONTOURS, freq_idx + n_bins_tolerance + 1)
        sub = contours[start_idx:end_idx, freq_start_idx:freq_end_idx] * freq_gaussian[
            max(0, n_bins_tolerance - freq_idx) : window_length
            - max(0, freq_idx - (N_FREQ_BINS_CONTOURS - n_bins_tolerance - 1))
        ]
        pb_shift = n_bins_tolerance - max(0, n_bins_tolerance - freq_idx)
        bends = (np.argmax(sub, axis=1) - pb_shift).tolist()
        out.append((start_idx, end_idx, pitch_midi, amplitude, bends))
    return out


def notes_from_activations(acts: dict[str, np.ndarray], settings: ConversionSettings) -> list[Note]:
    """Basic Pitch's `model_output_to_notes` (infer_onsets=True), as Notes; then our post-processing:
    bends as [offset_s, semitones] (clipped to the +/-2 semitones a MIDI file holds), overlapping
    bends dropped unless multiple_pitch_bends, optional quantisation, canonical order."""
    events = output_to_notes_polyphonic(
        acts["note"], acts["onset"],
        onset_thresh=settings.onset_threshold,
        frame_thresh=settings.frame_threshold,
        min_note_len=settings.min_note_frames,
        infer_onsets=True,
        max_freq=settings.maximum_frequency,
        min_freq=settings.minimum_frequency,
        melodia_trick=settings.melodia_trick,
    )
    if settings.pitch_bends:
        with_bends = get_pitch_bends(acts["contour"], events)
    else:
        with_bends = [(*e, None) for e in events]
    times = model_frames_to_time(acts["contour"].shape[0])
    notes: list[Note] = []
    for start_idx, end_idx, pitch, amplitude, bends in with_bends:
        start_s, end_s = float(times[start_idx]), float(times[end_idx])
        if end_s <= start_s:
            continue
        velocity = int(min(127, max(1, np.round(127 * amplitude))))
        points = None
        if bends:
            # Basic Pitch spreads the per-frame values evenly from start to end (np.linspace).
            offsets = np.linspace(0.0, end_s - start_s, len(bends))
            points = compact_bends([(float(o), max(-2.0, min(2.0, b / CONTOURS_BINS_PER_SEMITONE)))
                                    for o, b in zip(offsets, bends)])
        notes.append(Note(int(pitch), start_s, end_s, velocity, points))
    if not settings.multiple_pitch_bends:
        notes = drop_overlapping_bends(notes)
    if settings.quantize:
        return quantize_notes(notes, settings.quantize, settings.midi_tempo)
    return canonical(notes)
