"""The MIDI job kinds: "midi.transcribe" (audio -> output.mid + note data) and "midi.export" (zip).

A transcription job folder holds:
    output.mid      the current MIDI file (Type 1: conductor track + one named track)
    notes/          versioned note data (v0001.json = the transcription; edits add versions; HEAD)
    metadata.json   conversion settings, note analysis, and `midi_file_analysis` read back from output.mid

Every version's notes are the notes read back from the file written for it, so the note data, the
file and the metadata always agree. Edits (API) go through `save_notes` / `undo_notes` here too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from burntbeats.jobs.context import JobContext, JobError
from burntbeats.jobs.kinds import JobKind
from burntbeats.midi.analysis import analyze_midi_file, analyze_notes
from burntbeats.midi.engine import (
    ConversionSettings,
    EngineUnavailable,
    Transcription,
    default_is_drum,
    default_program,
    engine_threads,
    get_engine,
    load_audio,
    to_model_rate,
)
from burntbeats.midi.merge import MergeSource, merge_sources, unique_names
from burntbeats.midi.midifile import MidiWriteError, TrackSpec, read_midi, write_midi
from burntbeats.midi.notes import Note, NoteStore
from burntbeats.storage import safe_filename, safe_stem_name
from burntbeats.storage.space import FolderSpace, JobSpace

OUTPUT_MIDI = "output.mid"
METADATA = "metadata.json"
EXPORT_ZIP = "stems.zip"
MERGED_NAME = "merged"
STEMS_SUBDIR = "stems"  # burntbeats.separation.job.STEMS_SUBDIR (not imported: keeps torch-free imports light)
EXPORT_SOURCES = "sources"  # an export's inputs, linked into its own space at submission
EXPORT_SCRATCH = "export"  # the members while the zip is made


@dataclass
class TrackInfo:
    name: str
    program: int
    is_drum: bool


def settings_from_params(raw: dict[str, Any] | None) -> ConversionSettings:
    try:
        return ConversionSettings.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise JobError(f"Invalid conversion setting {field}: {first.get('msg')}.") from None


def resolve_track(name: str | None, stem: str | None, cs: ConversionSettings) -> TrackInfo:
    label = (name or stem or "transcription").strip()[:80] or "transcription"
    program = cs.program if cs.program is not None else default_program(stem or label)
    is_drum = cs.drums if cs.drums is not None else default_is_drum(stem or label)
    return TrackInfo(name=label, program=program, is_drum=is_drum)


def _engine(settings) -> Any:
    try:
        return get_engine(getattr(settings, "midi_model_path", None), threads=engine_threads(settings))
    except EngineUnavailable as exc:
        raise JobError(str(exc)) from None


def _decode(path: Path, work: Path, max_duration_s: float | None, progress) -> tuple[np.ndarray, dict]:
    """Any supported format -> mono float32 at the model rate (decoded at its own rate, then soxr HQ)."""
    from burntbeats.audio import decode_to_wav, probe

    info = probe(path, max_duration_s)
    work.mkdir(parents=True, exist_ok=True)
    decoded = work / "decoded.wav"
    info = decode_to_wav(path, decoded, sample_rate=info.sample_rate, channels=1,
                         max_duration_s=max_duration_s, progress=progress)
    import soundfile as sf

    data, sr = sf.read(str(decoded), dtype="float32", always_2d=True)
    decoded.unlink(missing_ok=True)
    audio = to_model_rate(data, sr)
    return audio, {"format": info.format, "codec": info.codec, "sample_rate": info.sample_rate,
                   "channels": info.channels, "duration_s": round(info.duration_s, 3), "downmix": info.downmix}


def transcribe_audio_file(
    path: Path, cs: ConversionSettings, settings, work: Path, progress=None, decode_any: bool = True,
) -> tuple[Transcription, dict, Any]:
    """Decode + transcribe one file; returns (transcription, source audio info, engine)."""
    t0 = time.perf_counter()
    if decode_any:
        audio, info = _decode(path, work, settings.max_duration_s, None)
    else:
        audio = load_audio(path)
        info = {"format": "wav", "duration_s": round(len(audio) / 22050, 3)}
    decode_s = time.perf_counter() - t0
    if progress:
        progress(0.08)
    engine = _engine(settings)
    inner = (lambda f: progress(0.1 + 0.9 * f)) if progress else None
    result = engine.transcribe(audio, cs, inner)
    result.timing["decode_s"] = round(decode_s, 4)
    return result, info, engine


# ---------------------------------------------------------------------------------------------
# Writing a version: notes -> output.mid -> notes read back -> versions + metadata.json
# ---------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_metadata(files: JobSpace) -> dict[str, Any]:
    try:
        return json.loads(files.read(METADATA))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def _render(notes: Sequence[Note], meta: dict) -> tuple[Path, Any]:
    """Writes the MIDI file for `notes` to a private temporary file; returns it and what reads back from it."""
    track = meta["track"]
    cs = meta["settings"]
    fd, tmp_name = tempfile.mkstemp(prefix="burntbeats-", suffix=".mid")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_midi(
            tmp,
            [TrackSpec(name=track["name"], notes=notes, program=track["program"], is_drum=track["is_drum"],
                       multiple_pitch_bends=bool(cs.get("multiple_pitch_bends")))],
            tempo_bpm=float(cs.get("midi_tempo", 120.0)),
            title=track["name"],
        )
        return tmp, read_midi(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _publish(files: JobSpace, tmp: Path, content, meta: dict, version: int) -> dict:
    notes = content.all_notes()
    meta = {
        **meta,
        "notes_version": version,
        "note_analysis": analyze_notes(notes),
        "midi_file_analysis": analyze_midi_file(tmp, content),
        "updated_at": _now(),
    }
    files.write(OUTPUT_MIDI, tmp)
    files.write(METADATA, json.dumps(meta, indent=2).encode())
    return meta


def save_notes(files: JobSpace, notes: Sequence[Note], source: str, meta: dict | None = None,
               base_version: int | None = None, max_versions: int = 100) -> dict:
    """New version from `notes` (under the notes' lock). Returns the new metadata."""
    store = NoteStore(files, max_versions)
    with store.locked():
        meta = meta or read_metadata(files)
        tmp, content = _render(notes, meta)
        try:
            version = store.commit(content.all_notes(), source=source, base_version=base_version)
            return _publish(files, tmp, content, meta, version)
        finally:
            tmp.unlink(missing_ok=True)


def undo_notes(files: JobSpace, max_versions: int = 100) -> dict:
    store = NoteStore(files, max_versions)
    with store.locked():
        version = store.undo()
        return _republish(files, store, version)


def restore_notes(files: JobSpace, version: int, max_versions: int = 100) -> dict:
    store = NoteStore(files, max_versions)
    with store.locked():
        new_version = store.restore(version)
        return _republish(files, store, new_version)


def _republish(files: JobSpace, store: NoteStore, version: int) -> dict:
    meta = read_metadata(files)
    tmp, content = _render(store.notes(version), meta)
    try:
        return _publish(files, tmp, content, meta, version)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


def run_transcribe(ctx: JobContext) -> dict:
    cs = settings_from_params(ctx.params.get("settings"))
    if ctx.input_path is None:
        raise JobError("This job has no input audio (its files may have expired).")
    source = ctx.params.get("source") or {"type": "upload"}
    stem = ctx.params.get("stem")
    input_name = ctx.params.get("input_name")
    track = resolve_track(ctx.params.get("track_name") or stem or safe_stem_name(input_name, "transcription"), stem, cs)

    ctx.progress("decoding", 0)
    t0 = time.perf_counter()
    work = ctx.job_dir / "work"
    audio, audio_info = _decode(ctx.input_path, work, ctx.settings.max_duration_s, ctx.sub_progress("decoding", 0, 8))
    decode_s = time.perf_counter() - t0
    ctx.progress("loading model", 8)
    engine = _engine(ctx.settings)
    ctx.progress("transcribing", 10)
    result = engine.transcribe(audio, cs, ctx.sub_progress("transcribing", 10, 90))
    del audio
    ctx.progress("writing MIDI", 92)
    t1 = time.perf_counter()
    duration = result.duration_s
    meta = {
        "kind": JobKind.MIDI_TRANSCRIBE.value,
        "engine": {"name": engine.name, "model": engine.model, "runtime": engine.runtime,
                   "model_file": engine.model_path.name},
        "source": {**source, "input_name": input_name, "audio": audio_info},
        "settings": cs.model_dump(),
        "track": asdict(track),
        "timing": {**result.timing, "decode_s": round(decode_s, 4)},
    }
    meta = save_notes(FolderSpace(ctx.job_dir), result.notes, "transcription", meta=meta,
                      max_versions=getattr(ctx.settings, "midi_max_versions", 100))
    total = time.perf_counter() - t0
    meta["timing"].update(write_s=round(time.perf_counter() - t1, 4), total_s=round(total, 4),
                          x_realtime=round(duration / total, 1) if total > 0 else None)
    _write_json(ctx.job_dir / METADATA, meta)
    shutil.rmtree(work, ignore_errors=True)
    analysis = meta["note_analysis"]
    return {
        "engine": engine.name,
        "model": engine.model,
        "note_count": analysis["note_count"],
        "notes_version": meta["notes_version"],
        "duration_s": round(duration, 3),
        "input_downmix": audio_info.get("downmix"),  # "7.1 input was downmixed to mono." (None: no downmix)
        "track": asdict(track),
        "stem": stem,
        "estimated_key": (analysis.get("estimated_key") or {}).get("key"),
        "estimated_tempo_bpm": (analysis.get("estimated_tempo") or {}).get("bpm"),
        "timing": meta["timing"],
    }


def export_source(index: int, item_type: str) -> dict[str, str]:
    """Where export item `index`'s files lie in the export job's own space, by role: a MIDI item's output.mid
    and metadata.json (as they were when the export was submitted), or a stem's WAV."""
    base = f"{EXPORT_SOURCES}/{index:02d}"
    if item_type == "midi":
        return {"midi": f"{base}.mid", "metadata": f"{base}.json"}
    return {"audio": f"{base}.wav"}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _member_name(name: str) -> str:
    return safe_stem_name(safe_filename(name, "track"), "track")


def run_export(ctx: JobContext) -> dict:
    """The export job (see `_export`); its scratch folders go whatever happens. Its inputs (`sources/`) stay
    with the job, like any job's `input`: a retried attempt reads them again."""
    try:
        return _export(ctx)
    finally:
        for scratch in (ctx.job_dir / EXPORT_SCRATCH, ctx.job_dir / "work"):
            shutil.rmtree(scratch, ignore_errors=True)


def _export(ctx: JobContext) -> dict:
    """mode "stems": one .mid per selected stem plus merged.mid, zipped. Items are MIDI jobs (their
    notes, edits included, as they were at submission) or stems of a stems job (transcribed here with
    `settings`); either way read from this job's own space (`export_source`), never another job's."""
    mode = ctx.params.get("mode", "stems")
    if mode != "stems":
        raise JobError(f"Unknown export mode {mode!r}; this version supports mode=stems.")
    items = list(ctx.params.get("items") or [])
    if not items:
        raise JobError("Nothing to export: no stems were selected.")
    cs = settings_from_params(ctx.params.get("settings"))
    out_dir = ctx.job_dir / EXPORT_SCRATCH
    out_dir.mkdir(parents=True, exist_ok=True)
    names = unique_names([MERGED_NAME] + [_member_name(i.get("name") or i.get("stem") or "track") for i in items])[1:]

    sources: list[MergeSource] = []
    members: list[dict] = []
    transcribed = False
    tempo = cs.midi_tempo
    n = len(items)
    for idx, (item, name) in enumerate(zip(items, names)):
        ctx.progress("collecting", 5 + 85 * idx / n)
        files = {role: ctx.input_file(stored) for role, stored in export_source(idx, item.get("type")).items()}
        member = out_dir / f"{name}.mid"
        if item.get("type") == "midi":
            midi_path = files["midi"]
            if not midi_path.exists():
                raise JobError(f"The MIDI of {item.get('name') or item['job_id']!r} is missing; export it again.")
            shutil.copyfile(midi_path, member)
            try:
                notes = read_midi(member).all_notes()
            except (OSError, EOFError, ValueError, MidiWriteError):  # mido's errors for a damaged file
                raise JobError(f"The MIDI of {item.get('name') or item['job_id']!r} could not be read; "
                               "convert it again.") from None
            track = _read_json(files["metadata"]).get("track") or {}
            program, is_drum = int(track.get("program") or 0), bool(track.get("is_drum"))
        else:
            stem = item["stem"]
            wav = files["audio"]
            if not wav.exists():
                raise JobError(f"The stem {stem!r} of job {item['job_id']} is missing; export it again.")
            span = ctx.sub_progress(f"transcribing {stem}", 5 + 85 * idx / n, 5 + 85 * (idx + 1) / n)
            result, _, _engine_used = transcribe_audio_file(wav, cs, ctx.settings, ctx.job_dir / "work", span,
                                                              decode_any=False)
            transcribed = True
            info = resolve_track(name, stem, cs)
            notes, program, is_drum = result.notes, info.program, info.is_drum
            write_midi(member, [TrackSpec(name, notes, program, is_drum, cs.multiple_pitch_bends)],
                       tempo_bpm=tempo, title=name)
            notes = read_midi(member).all_notes()
        sources.append(MergeSource(name=name, notes=notes, program=program, is_drum=is_drum))
        members.append({"name": f"{name}.mid", "source_job": item["job_id"], "stem": item.get("stem"),
                        "note_count": len(notes), "program": None if is_drum else program, "is_drum": is_drum})

    ctx.progress("merging", 92)
    merged = out_dir / f"{MERGED_NAME}.mid"
    try:
        layout = merge_sources(sources, merged, tempo_bpm=tempo, title=ctx.params.get("title"))
    except MidiWriteError as exc:
        raise JobError(str(exc)) from None
    members.append({"name": f"{MERGED_NAME}.mid", "tracks": layout,
                    "midi_file_analysis": analyze_midi_file(merged)})

    ctx.progress("zipping", 96)
    tmp_zip = ctx.job_dir / f".{EXPORT_ZIP}.tmp"
    with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            zf.write(out_dir / m["name"], arcname=m["name"])
    os.replace(tmp_zip, ctx.job_dir / EXPORT_ZIP)
    _write_json(ctx.job_dir / METADATA, {"kind": JobKind.MIDI_EXPORT.value, "mode": mode, "members": members,
                                         "settings": cs.model_dump(), "created_at": _now()})
    return {
        "engine": "basic-pitch-onnx" if transcribed else "midi-merge",
        "mode": mode,
        "members": [m["name"] for m in members],
        "tracks": layout,
        "zip_bytes": (ctx.job_dir / EXPORT_ZIP).stat().st_size,
    }
