"""The `burntbeats` command line: serve the app, or run any job kind directly from the shell."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from burntbeats.accounts.cli import users_app
from burntbeats.cli_support import check_input, console, run_job_locally, with_workdir
from burntbeats.jobs.kinds import JobKind
from burntbeats.midi.cli import midi_app, transcribe
from burntbeats.separation.cli_models import models_app
from burntbeats.settings import get_settings
from burntbeats.speech.cli import enhance
from burntbeats.storage import safe_stem_name

app = typer.Typer(help="Burnt Beats: stems, clean speech and MIDI from one install.", no_args_is_help=True)

@app.command()
def serve(
    host: str | None = typer.Option(None, help="Default from HOST (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Default from PORT (8000)."),
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
    from burntbeats.torch_device import DeviceUnavailable, check_startup

    try:
        check_startup(settings.device)  # the app checks it too; here it is one clean line, no traceback
    except DeviceUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    import uvicorn

    uvicorn.run("burntbeats.api.app:create_app", factory=True, host=settings.host, port=settings.port)


@app.command()
def worker(
    queues: str = typer.Option("stems,speech,midi", "--queues", "-Q",
                               help="Comma list of the queues to take jobs from: stems, speech, midi."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Jobs run at once (one process each)."),
    loglevel: str = typer.Option("info", "--loglevel", help="debug | info | warning | error"),
) -> None:
    """Run jobs from the Celery queues (JOB_RUNNER=celery: the API only queues them). Needs CELERY_BROKER_URL."""
    from burntbeats.jobs.celery_app import parse_queues
    from burntbeats.runtime_env import use_data_dir

    settings = get_settings()
    if not settings.celery_broker_url:
        console.print("[red]error:[/red] set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker")
        raise typer.Exit(code=2)
    try:
        names = parse_queues(queues)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--queues") from None
    # As `serve` does for its workers: library caches and temporary files under DATA_DIR.
    use_data_dir(settings.data_dir)
    from burntbeats.torch_device import DeviceUnavailable, check_startup

    try:
        check_startup(settings.device)
    except DeviceUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    from burntbeats.jobs.celery_worker import run_worker

    run_worker(settings, names, concurrency, loglevel.upper())


@app.command("worker-ping")
def worker_ping() -> None:
    """Exit 0 if a `burntbeats worker` on this host said it is alive in the last seconds (a container health check)."""
    import redis

    from burntbeats.jobs.celery_app import redis_key
    from burntbeats.jobs.celery_worker import HOST

    settings = get_settings()
    try:
        client = redis.Redis.from_url(settings.celery_broker_url, socket_timeout=3, socket_connect_timeout=3)
        alive = any(True for _ in client.scan_iter(match=redis_key(settings, "workers", f"{HOST}-*"), count=100))
    except (redis.RedisError, ValueError) as exc:
        console.print(f"[red]error:[/red] the broker cannot be reached: {exc}")
        raise typer.Exit(code=1) from None
    if not alive:
        console.print(f"[red]error:[/red] no worker on {HOST} is consuming")
        raise typer.Exit(code=1)
    typer.echo(f"a worker on {HOST} is alive")


@app.command()
def separate(
    input_file: Path = typer.Argument(..., help="Audio file (wav, flac, ogg, opus, mp3, m4a, aac)."),
    stems: int = typer.Option(2, "--stems", "-s", help="2 (vocals, instrumental), 4 (vocals, drums, bass, other) "
                              "or 6 (vocals, drums, bass, guitar, piano, other: needs the htdemucs_6s model)."),
    quality: str = typer.Option("balanced", "--quality", "-q", help="fast | balanced | best"),
    output_dir: Path = typer.Option(Path("separated"), "--output", "-o", help="Stems go to OUTPUT/<song name>/."),
    fmt: str = typer.Option("wav", "--format", "-f", help="wav | flac | mp3"),
) -> None:
    """Split a song into stems, writing OUTPUT/<song>/<stem>.<format>."""
    from burntbeats.audio import transcode

    check_input(input_file)
    if stems not in (2, 4, 6):
        raise typer.BadParameter("must be 2, 4 or 6", param_hint="--stems")
    if quality not in ("fast", "balanced", "best"):
        raise typer.BadParameter("must be fast, balanced or best", param_hint="--quality")
    if fmt not in ("wav", "flac", "mp3"):
        raise typer.BadParameter("must be wav, flac or mp3", param_hint="--format")
    dest = output_dir / safe_stem_name(input_file.name)

    def work(tmp: Path) -> None:
        result = run_job_locally(JobKind.STEMS_SPLIT, input_file,
                                 {"stems": stems, "quality": quality, "_playback": False}, tmp,
                                 f"Separating {input_file.name}")
        dest.mkdir(parents=True, exist_ok=True)
        for name in result["stems"]:
            src = tmp / "stems" / f"{name}.wav"
            if fmt == "wav":
                shutil.copyfile(src, dest / f"{name}.wav")
            else:
                transcode(src, dest / f"{name}.{fmt}", fmt)
        note = f" ({result['engine_note']})" if result.get("engine_note") else ""
        console.print(f"engine: {result['engine']} ({result['model']}), device: {result.get('device', 'cpu')}{note}")
        for name in result["stems"]:
            typer.echo(str(dest / f"{name}.{fmt}"))

    with_workdir(work)


# Each capability's commands live in its own package (on burntbeats.cli_support).
app.command("enhance")(enhance)
app.command("transcribe")(transcribe)
app.add_typer(midi_app, name="midi")
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")


if __name__ == "__main__":
    app()
