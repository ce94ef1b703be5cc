"""The stems job: decode -> separate (chunked) -> encode. Shared by the API, expand and the CLI."""

from __future__ import annotations

import shutil

from burntbeats.audio import decode_to_wav, transcode
from burntbeats.jobs.context import JobContext, JobError
from burntbeats.separation.apply import separate_file
from burntbeats.separation.base import STEMS_SUBDIR, EngineUnavailable, stem_names
from burntbeats.separation.engines import select_engine
from burntbeats.separation.playback import write_all_playback


def run_split(ctx: JobContext) -> dict:
    stems = int(ctx.params.get("stems", 2))
    quality = str(ctx.params.get("quality", "balanced"))
    bit_depth = int(ctx.params.get("bit_depth", 16))
    if ctx.input_path is None:
        raise JobError("This job has no input audio (its files may have expired).")

    try:
        engine, info = select_engine(quality, stems, ctx.settings)
    except EngineUnavailable as exc:  # no engine of this install makes this layout (6 stems without htdemucs_6s)
        raise JobError(str(exc)) from None
    work = ctx.job_dir / "work"
    work.mkdir(exist_ok=True)
    decoded = work / "decoded.wav"

    ctx.progress("decoding", 0)
    source = decode_to_wav(
        ctx.input_path,
        decoded,
        sample_rate=engine.sample_rate,
        channels=2,
        max_duration_s=ctx.settings.max_duration_s,
        progress=ctx.sub_progress("decoding", 0, 10),
    )

    ctx.progress("separating", 10)
    raw = separate_file(engine, decoded, work, stems, progress=ctx.sub_progress("separating", 10, 92))

    ctx.progress("encoding", 92)
    out_dir = ctx.job_dir / STEMS_SUBDIR
    out_dir.mkdir(exist_ok=True)
    names = stem_names(stems)
    for i, name in enumerate(names):
        transcode(raw[name], out_dir / f"{name}.wav", fmt="wav", bit_depth=bit_depth)
        ctx.progress("encoding", 92 + 3 * (i + 1) / len(names))
    # The web mixer's compressed rendition and waveform peaks of every stem (separation/playback.py); the
    # CLI, which only keeps the stems, asks for none.
    if ctx.params.get("_playback", True):
        write_all_playback(out_dir, ctx.job_dir, names, progress=ctx.sub_progress("encoding", 95, 100))
    shutil.rmtree(work, ignore_errors=True)

    return {
        "engine": info.engine,
        "model": info.model,
        "engine_note": info.note,
        "engine_label": info.label,  # e.g. "Balanced — Spleeter 2-stem (built in)"
        "device": getattr(engine, "device", "cpu"),  # torch engines: what DEVICE resolved to; the others: cpu
        "stems": list(names),
        "quality": quality,
        "sample_rate": engine.sample_rate,
        "duration_s": round(source.duration_s, 3),
        "bit_depth": bit_depth,
        "input_downmix": source.downmix,  # e.g. "5.1 input was downmixed to stereo." (None: no downmix)
        "source": {
            "format": source.format,
            "codec": source.codec,
            "sample_rate": source.sample_rate,
            "channels": source.channels,
        },
    }
