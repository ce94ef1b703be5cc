"""`burntbeats enhance talk.m4a -o talk-clean.wav`: the speech job from the shell (registered in burntbeats.cli)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from burntbeats.cli_support import check_input, console, run_job_locally, with_workdir
from burntbeats.jobs.context import JobError
from burntbeats.jobs.kinds import JobKind
from burntbeats.speech.engines import ENGINE_CHOICES
from burntbeats.speech.job import SPEECH_SUBDIR, parse_params


def enhance(
    input_file: Path = typer.Argument(..., help="Voice recording (wav, flac, ogg, opus, mp3, m4a, aac, mp4...)."),
    output: Path | None = typer.Option(
        None, "--output", "-o",
        help="Output file: .wav, .flac or .mp3 (default: <input name>-enhanced.wav next to the input)."),
    engine: str = typer.Option(
        "balanced", "--engine", "-e",
        help="balanced | best (DeepFilterNet 3) | fast (RNNoise); also: rnnoise, deepfilternet."),
    atten_limit: float | None = typer.Option(
        None, "--atten-limit",
        help="Attenuation limit in dB (1-100); e.g. 18 keeps a little room tone; 100 = no limit. "
             "Default: none for balanced/best, 15 for fast."),
    sample_rate: str = typer.Option("original", "--sample-rate", help="original | 48000"),
    channels: str = typer.Option("keep", "--channels", help="keep (stereo stays stereo) | mono (down-mix)"),
    loudness: float | None = typer.Option(
        None, "--loudness", help="Normalise to this loudness in LUFS (e.g. -16 podcast, -23 broadcast)."),
    highpass: float | None = typer.Option(None, "--highpass", help="Rumble high-pass cut-off in Hz (e.g. 80)."),
    bit_depth: int = typer.Option(16, "--bit-depth", help="16 or 24 (wav/flac)."),
    keep_original: bool = typer.Option(
        False, "--ab", help="Also write <output>-original.<ext>: the original at the same rate, for A/B listening."),
) -> None:
    """Remove background noise from a voice recording. The result lines up with the original sample for sample."""
    from burntbeats.audio import transcode

    check_input(input_file)
    params = {"engine": engine, "atten_limit_db": atten_limit, "sample_rate": sample_rate, "channels": channels,
              "loudness_lufs": loudness, "highpass_hz": highpass, "bit_depth": bit_depth}
    try:
        params = parse_params(params).as_dict()
    except JobError as exc:
        raise typer.BadParameter(str(exc)) from None
    if output is None:
        output = input_file.with_name(f"{input_file.stem}-enhanced.wav")
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("wav", "flac", "mp3"):
        raise typer.BadParameter("the output must end in .wav, .flac or .mp3", param_hint="--output")
    if output.resolve() == input_file.resolve():
        raise typer.BadParameter("the output would overwrite the input", param_hint="--output")

    def work(tmp: Path) -> None:
        result = run_job_locally(JobKind.SPEECH_ENHANCE, input_file, params, tmp, f"Enhancing {input_file.name}")
        output.parent.mkdir(parents=True, exist_ok=True)
        targets = [("enhanced", output)]
        if keep_original:
            targets.append(("original", output.with_name(f"{output.stem}-original{output.suffix}")))
        for name, dest in targets:
            src = tmp / SPEECH_SUBDIR / f"{name}.wav"
            if fmt == "wav":
                shutil.copyfile(src, dest)
            else:
                transcode(src, dest, fmt, bit_depth=bit_depth)
        note = f" ({result['engine_note']})" if result.get("engine_note") else ""
        loud = result.get("loudness") or {}
        extra = f", {loud['output_lufs']} LUFS" if loud.get("output_lufs") is not None else ""
        console.print(f"engine: {result['engine']}{note}; {result['sample_rate']} Hz, "
                      f"{result['realtime_factor']}x realtime{extra}")
        for _name, dest in targets:
            typer.echo(str(dest))

    with_workdir(work)


__all__ = ["enhance", "ENGINE_CHOICES"]
