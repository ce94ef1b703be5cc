"""What the commands of every capability share: the console, running a job handler in this process with
a progress bar, input checks and a temporary work folder. `burntbeats.cli` assembles the commands."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from burntbeats.jobs.context import JobContext, JobError
from burntbeats.settings import get_settings

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


def check_input(path: Path) -> None:
    if not path.is_file():
        console.print(f"[red]error:[/red] no such file: {path}")
        raise typer.Exit(code=2)


def with_workdir(fn: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory(prefix="burntbeats-") as tmp:
        fn(Path(tmp))
