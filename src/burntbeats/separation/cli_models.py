"""`burntbeats models list | verify | download NAME | install FILE`: neural weights in MODELS_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from burntbeats.separation import models as store
from burntbeats.settings import get_settings

models_app = typer.Typer(help="Neural separation models: list, verify, download, install (weights live in MODELS_DIR).",
                         no_args_is_help=True)
console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=code)


def _quality_modes() -> dict[str, list[str]]:
    """model name -> quality modes that ask for it."""
    try:
        from burntbeats.separation.quality import QUALITY_MODES
    except ImportError:
        return {}
    used: dict[str, list[str]] = {}
    for mode, row in QUALITY_MODES.items():
        if row.get("neural_model"):
            used.setdefault(row["neural_model"], []).append(mode)
    return used


def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.0f} MB"


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Known models, whether each is installed in MODELS_DIR, and the quality mode that uses it."""
    settings = get_settings()
    try:
        rows = store.list_models(settings)
    except store.ModelError as exc:
        _fail(str(exc))
    runtime = store.neural_runtime()
    used = _quality_modes()
    if as_json:
        typer.echo(json.dumps({"models_dir": str(store.models_dir(settings)), "runtime": runtime,
                               "models": [{**r, "quality_modes": used.get(r["name"], [])} for r in rows]}, indent=2))
        return
    table = Table(title=f"Models in {store.models_dir(settings)}")
    for col in ("name", "installed", "files", "size", "quality", "description"):
        table.add_column(col)
    for r in rows:
        present = sum(f["present"] for f in r["files"])
        size = sum(f["size_bytes"] or 0 for f in r["files"]) if present else None
        table.add_row(r["name"], "[green]yes[/green]" if r["installed"] else "no", f"{present}/{len(r['files'])}",
                      _mb(size), ", ".join(used.get(r["name"], [])) or "-", r["description"])
    Console().print(table)
    if not runtime["available"]:
        console.print(f"[yellow]note:[/yellow] {runtime['reason']}")


@models_app.command("verify")
def verify_cmd(
    names: list[str] | None = typer.Argument(None, help="Models to check (default: every installed one)."),
) -> None:
    """Check installed files against the manifest checksums. Exit code 1 if any check fails."""
    settings = get_settings()
    try:
        manifest = store.load_manifest(settings)
    except store.ModelError as exc:
        _fail(str(exc))
    explicit = bool(names)
    targets = list(names) if names else [n for n, spec in manifest.items()
                                          if any(store.file_path(settings, f).is_file() for f in spec.files)]
    if not targets:
        console.print(f"no models installed in {store.models_dir(settings)}; see `burntbeats models list`")
        return
    failed = False
    for name in targets:
        try:
            report = store.verify_model(settings, name)
        except store.ModelError as exc:
            _fail(str(exc))
        for f in report["files"]:
            if f["status"] == "ok":
                typer.echo(f"ok        {name}  {f['name']}")
            elif f["status"] == "missing":
                typer.echo(f"missing   {name}  {f['name']}")
            else:
                typer.echo(f"MISMATCH  {name}  {f['name']}  expected sha256 {f['expected']}..., got {f['actual']}")
        if any(f["status"] == "mismatch" for f in report["files"]):
            failed = True
        elif not report["installed"] and (explicit or any(f["status"] == "ok" for f in report["files"])):
            failed = True
    if failed:
        console.print("[red]some model files are missing or corrupt[/red]: re-run `burntbeats models download NAME`")
        raise typer.Exit(code=1)


@models_app.command("download")
def download_cmd(
    names: list[str] = typer.Argument(..., help="Model names (see `burntbeats models list`)."),
    force: bool = typer.Option(False, "--force", help="Download again even if a valid file is present."),
) -> None:
    """Fetch models from their official source (dl.fbaipublicfiles.com) into MODELS_DIR, checksum-verified."""
    settings = get_settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(file_name: str, done: int, total: int | None) -> None:
            if file_name not in tasks:
                tasks[file_name] = bar.add_task(file_name, total=total)
            bar.update(tasks[file_name], completed=done, total=total)

        for name in names:
            try:
                paths = store.download_model(settings, name, progress=progress, force=force)
            except store.ModelError as exc:
                bar.stop()
                _fail(str(exc))
            for path in paths:
                typer.echo(str(path))


@models_app.command("install")
def install_cmd(files: list[Path] = typer.Argument(..., help="Checkpoint files downloaded elsewhere (*.th).")) -> None:
    """Copy model files you downloaded elsewhere into MODELS_DIR (each is identified by its checksum)."""
    settings = get_settings()
    try:
        reports = store.install_files(settings, files)
    except store.ModelError as exc:
        _fail(str(exc))
    for report in reports:
        for name in report["installed_as"]:
            typer.echo(str(store.models_dir(settings) / name))
        for model in report["models"]:
            state = "complete" if model in report["complete"] else "still missing files"
            console.print(f"{model}: {state}")
