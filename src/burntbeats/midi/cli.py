"""`burntbeats transcribe take.wav -o take.mid [--quantize 1/16] [--program 33]` and
`burntbeats midi merge a.mid b.mid -o song.mid`. Same handler as the server's "midi.transcribe" jobs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import typer

from burntbeats.cli_support import check_input, console, run_job_locally, with_workdir

midi_app = typer.Typer(help="MIDI tools: merge MIDI files into one multi-track file.", no_args_is_help=True)


def transcribe(
    input_file: Path = typer.Argument(..., help="Audio file (wav, flac, ogg, opus, mp3, m4a, aac)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="MIDI file to write (default: INPUT.mid)."),
    quantize: str | None = typer.Option(None, "--quantize", "-q", help="Snap to a grid: 1/4 1/8 1/16 1/32 1/8T 1/16T."),
    program: int | None = typer.Option(None, "--program", "-p", min=0, max=127, help="General MIDI program 0-127."),
    drums: bool = typer.Option(False, "--drums", help="Write the notes on the drum channel (10)."),
    onset_threshold: float = typer.Option(0.5, help="Note onset confidence (Basic Pitch default 0.5)."),
    frame_threshold: float = typer.Option(0.3, help="Note frame confidence (Basic Pitch default 0.3)."),
    min_note_ms: float = typer.Option(127.7, "--min-note-ms", help="Minimum note length in ms."),
    min_freq: float | None = typer.Option(None, "--min-freq", help="Ignore notes below this frequency (Hz)."),
    max_freq: float | None = typer.Option(None, "--max-freq", help="Ignore notes above this frequency (Hz)."),
    melodia: bool = typer.Option(True, "--melodia/--no-melodia", help="Basic Pitch's melodia trick."),
    multiple_bends: bool = typer.Option(
        False, "--multiple-bends", help="Overlapping notes keep their own pitch bends."),
    no_bends: bool = typer.Option(False, "--no-bends", help="Write no pitch bends."),
    tempo: float = typer.Option(120.0, "--tempo", help="MIDI tempo in bpm (the quantise grid follows it)."),
    track_name: str | None = typer.Option(None, "--name", help="Track name (default: the file name)."),
    metadata: Path | None = typer.Option(None, "--metadata", help="Also write the analysis JSON here."),
) -> None:
    """Transcribe audio to a MIDI file with Basic Pitch."""
    from pydantic import ValidationError

    from burntbeats.jobs.kinds import JobKind
    from burntbeats.midi.engine import ConversionSettings, get_engine
    from burntbeats.settings import get_settings
    from burntbeats.storage import safe_stem_name

    check_input(input_file)
    try:
        cs = ConversionSettings(
            onset_threshold=onset_threshold, frame_threshold=frame_threshold, minimum_note_length_ms=min_note_ms,
            minimum_frequency=min_freq, maximum_frequency=max_freq, melodia_trick=melodia,
            multiple_pitch_bends=multiple_bends, pitch_bends=not no_bends, midi_tempo=tempo, quantize=quantize,
            program=program, drums=drums or None,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}") from None
    dest = output or input_file.with_suffix(".mid")
    # One process, one job: let the engine use every core (the server shares them among workers).
    settings = get_settings()
    get_engine(settings.midi_model_path, threads=settings.midi_threads or os.cpu_count())
    params = {"settings": cs.model_dump(exclude_defaults=True), "input_name": input_file.name,
              "track_name": track_name or safe_stem_name(input_file.name, "transcription"), "source": {"type": "file"}}

    def work(tmp: Path) -> None:
        result = run_job_locally(JobKind.MIDI_TRANSCRIBE, input_file, params, tmp, f"Transcribing {input_file.name}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp / "output.mid", dest)
        if metadata:
            shutil.copyfile(tmp / "metadata.json", metadata)
        key = f", key {result['estimated_key']}" if result.get("estimated_key") else ""
        timing = result.get("timing", {})
        speed = f", {timing['x_realtime']}x realtime" if timing.get("x_realtime") else ""
        console.print(f"engine: {result['engine']}: {result['note_count']} notes{key}{speed}")
        typer.echo(str(dest))

    with_workdir(work)


@midi_app.command("merge")
def merge(
    inputs: list[Path] = typer.Argument(..., help="MIDI files to merge (each becomes a named track)."),
    output: Path = typer.Option(..., "--output", "-o", help="The merged Type 1 MIDI file."),
    tempo: float | None = typer.Option(None, "--tempo", help="Tempo of the merged file (default: the first input's)."),
    title: str | None = typer.Option(None, "--title", help="Song title (conductor track name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the track layout as JSON."),
) -> None:
    """Merge MIDI files into one MIDI Type 1 file: one named track per input, own channel and program."""
    from burntbeats.midi.merge import merge_midi_files
    from burntbeats.midi.midifile import MidiWriteError

    for path in inputs:
        check_input(path)
    try:
        layout = merge_midi_files(inputs, output, tempo_bpm=tempo, title=title)
    except (MidiWriteError, OSError, EOFError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(json.dumps(layout, indent=2))
    else:
        for t in layout:
            kind = "drums" if t["is_drum"] else f"program {t['program']}"
            console.print(f"track {t['name']!r}: channel {t['channel']}, {kind}, {t['note_count']} notes")
    typer.echo(str(output))
