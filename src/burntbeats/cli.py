"""The `burntbeats` command line: serve the app, or run any job kind directly from the shell."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from burntbeats.jobs.context import JobContext, JobError
from burntbeats.jobs.kinds import JobKind
from burntbeats.settings import get_settings
from burntbeats.storage import safe_stem_name

app = typer.Typer(help="Burnt Beats: stems, clean speech and MIDI from one install.", no_args_is_help=True)
console = Console(stderr=True)


def run_job_locally(kind: str, input_path: Path | None, params: dict, work_dir: Path, label: str) -> dict:
    """Run a job handler in this process (no database), with a rich progress bar. Same handler as the server."""
    from burntbeats.audio import AudioError
    from burntbeats.jobs.worker import run_handler

    work_dir.mkdir(parents=True, exist_ok=True)
    local_input = None
    if input_path is not None:
        local_input = work_dir / "input"
        try:
            local_input.symlink_to(input_path.resolve())
        except OSError:
            shutil.copyfile(input_path, local_input)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as bar:
        task = bar.add_task(label, total=100, stage="starting")

        def report(stage: str, percent: float) -> None:
            bar.update(task, completed=percent, stage=stage)

        ctx = JobContext(job_id="cli", kind=kind, owner_id="local", params=params, job_dir=work_dir,
                         input_path=local_input, settings=get_settings(), report=report)
        try:
            result = run_handler(ctx)
        except (JobError, AudioError) as exc:
            bar.stop()
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=1) from None
        bar.update(task, completed=100, stage="done")
    return result


def _check_input(path: Path) -> None:
    if not path.is_file():
        console.print(f"[red]error:[/red] no such file: {path}")
        raise typer.Exit(code=2)


def with_workdir(fn: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory(prefix="burntbeats-") as tmp:
        fn(Path(tmp))


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Default from HOST (127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Default from PORT (8000)."),
) -> None:
    """Start the web app and API (embedded default: SQLite, local files, in-process workers)."""
    import os

    from burntbeats.runtime_env import use_data_dir

    # The app factory reads its settings from the environment: --host/--port must reach it too
    # (the default ALLOWED_HOSTS includes the bound host).
    if host:
        os.environ["HOST"] = host
    if port:
        os.environ["PORT"] = str(port)
    get_settings.cache_clear()
    settings = get_settings()
    # Before the heavy imports: library caches and temporary files under DATA_DIR, not $HOME or /tmp.
    use_data_dir(settings.data_dir)
    import uvicorn

    uvicorn.run("burntbeats.api.app:create_app", factory=True, host=settings.host, port=settings.port)


@app.command()
def separate(
    input_file: Path = typer.Argument(..., help="Audio file (wav, flac, ogg, opus, mp3, m4a, aac)."),
    stems: int = typer.Option(2, "--stems", "-s", help="2 (vocals, instrumental) or 4 (vocals, drums, bass, other)."),
    quality: str = typer.Option("balanced", "--quality", "-q", help="fast | balanced | best"),
    output_dir: Path = typer.Option(Path("separated"), "--output", "-o", help="Stems go to OUTPUT/<song name>/."),
    fmt: str = typer.Option("wav", "--format", "-f", help="wav | flac | mp3"),
) -> None:
    """Split a song into stems, writing OUTPUT/<song>/<stem>.<format>."""
    from burntbeats.audio import transcode

    _check_input(input_file)
    if stems not in (2, 4):
        raise typer.BadParameter("must be 2 or 4", param_hint="--stems")
    if quality not in ("fast", "balanced", "best"):
        raise typer.BadParameter("must be fast, balanced or best", param_hint="--quality")
    if fmt not in ("wav", "flac", "mp3"):
        raise typer.BadParameter("must be wav, flac or mp3", param_hint="--format")
    dest = output_dir / safe_stem_name(input_file.name)

    def work(tmp: Path) -> None:
        result = run_job_locally(JobKind.STEMS_SPLIT, input_file, {"stems": stems, "quality": quality}, tmp,
                                 f"Separating {input_file.name}")
        dest.mkdir(parents=True, exist_ok=True)
        for name in result["stems"]:
            src = tmp / "stems" / f"{name}.wav"
            if fmt == "wav":
                shutil.copyfile(src, dest / f"{name}.wav")
            else:
                transcode(src, dest / f"{name}.{fmt}", fmt)
        note = f" ({result['engine_note']})" if result.get("engine_note") else ""
        console.print(f"engine: {result['engine']}{note}")
        for name in result["stems"]:
            typer.echo(str(dest / f"{name}.{fmt}"))

    with_workdir(work)


# Each capability's commands live in its own package; they import `run_job_locally` from here,
# so they are registered after it is defined.
from burntbeats.midi.cli import midi_app, transcribe  # noqa: E402
from burntbeats.separation.cli_models import models_app  # noqa: E402
from burntbeats.speech.cli import enhance  # noqa: E402

app.command("enhance")(enhance)
app.command("transcribe")(transcribe)
app.add_typer(midi_app, name="midi")
app.add_typer(models_app, name="models")


if __name__ == "__main__":
    app()
