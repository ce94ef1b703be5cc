"""Scale-out load benchmark: the Celery deployment next to the embedded default, on this machine.

    .venv/bin/python bench/load.py                   # 6 jobs per kind, 5 s songs, 15 s of polling: ~4 minutes
    .venv/bin/python bench/load.py --jobs 3 --poll 5 # a quick look
    .venv/bin/python bench/load.py --json out.json   # also write the numbers

Each mode gets its own DATA_DIR and the same two job slots:

* embedded: `burntbeats serve` (JOB_RUNNER=local, JOB_CONCURRENCY=2, SQLite);
* celery: `burntbeats serve` with JOB_RUNNER=celery (no job runs in it), a private redis-server on a free
  loopback port, PostgreSQL (a throw-away schema of DATABASE_DSN, default the machine's
  postgresql://postgres@127.0.0.1:5432/test; SQLite with --sqlite) and two `burntbeats worker` processes
  (--concurrency 1 each, all queues), sharing the API's DATA_DIR as on one machine without S3.

For each kind (a 2-stem fast split, a speech clean-up, a MIDI transcription of a SECONDS-long song) it submits
JOBS jobs at once and polls them: jobs/s (JOBS / first submission to last finish) and end-to-end p50 / p99
(submission to the poll that saw it succeed). Then it submits JOBS jobs of every kind again and, while they
run, drives 64 status pollers (each on its own keep-alive connection, next request when the last is answered,
bench/api.py's client) against a finished job's status: requests/s and p50 / p99.

The load generator shares the machine's cores with the servers and workers; the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

from api import drive, free_port, song_wav, summarise

KINDS = {"stems": ("/api/stems/split", {"stems": "2", "quality": "fast"}, "/api/stems/status/"),
         "speech": ("/api/speech/enhance", {}, "/api/speech/status/"),
         "midi": ("/api/midi/convert", {}, "/api/midi/status/")}
POLLERS = 64
PG_DSN = os.environ.get("DATABASE_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} did not answer {url} within {timeout} s")


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "burntbeats.cli", *args], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Deployment:
    """One mode's processes; `base` is the API's URL."""

    def __init__(self, mode: str, root: Path, use_sqlite: bool, stack: ExitStack) -> None:
        self.mode, self.root = mode, root
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATA_DIR": str(root / "api"), "SECRET_KEY": "bench-secret", "JOB_CONCURRENCY": "2",
               "STEMS_MAX_QUEUE_DEPTH": "500", "SPEECH_MAX_QUEUE_DEPTH": "500", "MIDI_MAX_QUEUE_DEPTH": "500"}
        if mode == "celery":
            redis_port = free_port()
            redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(redis_port),
                                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stack.callback(_end, redis)
            env.update(JOB_RUNNER="celery", CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0")
            if not use_sqlite:
                env["DATABASE_URL"] = stack.enter_context(_pg_schema())
            else:  # the workers share the API's SQLite file
                env["DATABASE_URL"] = f"sqlite:///{(root / 'api' / 'burntbeats.db').resolve()}"
        api = _spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env, root / "api.log")
        stack.callback(_end, api)
        self.workers: list[subprocess.Popen] = []
        if mode == "celery":
            _wait_http(f"{self.base}/api/limits", api, "the API")  # migrated before the workers start
            for i in range(2):  # one machine, no S3: the workers share the API's DATA_DIR
                proc = _spawn(["worker", "--concurrency", "1"], env, root / f"worker{i}.log")
                stack.callback(_end, proc)
                self.workers.append(proc)
        _wait_http(f"{self.base}/health", api, f"the {mode} deployment", timeout=120)


def _pg_schema():
    from contextlib import contextmanager

    import psycopg

    @contextmanager
    def schema():
        name = f"bb_load_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            dsn = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{dsn}?options=-csearch_path%3D{name}"
        finally:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')

    return schema()


async def _submit(client: httpx.AsyncClient, kind: str, audio: bytes) -> tuple[dict, float]:
    url, form, _ = KINDS[kind]
    started = time.perf_counter()
    resp = await client.post(url, files={"file": ("song.wav", audio)}, data=form, timeout=120)
    resp.raise_for_status()
    return resp.json(), started


async def _until_done(client: httpx.AsyncClient, job: dict, timeout: float = 600) -> tuple[dict, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(job["status_url"], headers={"X-Job-Token": job["job_token"]}, timeout=60)).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body, time.perf_counter()
        await asyncio.sleep(0.1)
    raise SystemExit(f"job {job['job_id']} did not finish in {timeout} s")


async def run_batch(base: str, kind: str, count: int, audio: bytes) -> dict:
    async with httpx.AsyncClient(base_url=base) as client:
        submitted = await asyncio.gather(*(_submit(client, kind, audio) for _ in range(count)))
        done = await asyncio.gather(*(_until_done(client, job) for job, _ in submitted))
    failed = [body["error"] for body, _ in done if body["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"{kind} jobs failed: {failed[:3]}")
    first = min(t for _, t in submitted)
    e2e = np.array([end - start for (_, start), (_, end) in zip(submitted, done)])
    return {"jobs": count, "jobs_per_s": round(count / (max(t for _, t in done) - first), 3),
            "e2e_p50_s": round(float(np.percentile(e2e, 50)), 2), "e2e_p99_s": round(float(np.percentile(e2e, 99)), 2)}


async def run_polling(base: str, count: int, audio: bytes, seconds: float) -> dict:
    async with httpx.AsyncClient(base_url=base) as client:
        finished, _ = await _submit(client, "stems", audio)
        await _until_done(client, finished)
        load = [await _submit(client, kind, audio) for kind in KINDS for _ in range(count)]
        path = f"{KINDS['stems'][2]}{finished['job_id']}"
        latencies, errors, elapsed = await drive(base, path, {"X-Job-Token": finished["job_token"]}, POLLERS,
                                                 seconds, "h11")
        statuses = [(await client.get(j["status_url"], headers={"X-Job-Token": j["job_token"]})).json()["status"]
                    for j, _ in load]
        await asyncio.gather(*(_until_done(client, j) for j, _ in load))
    step = summarise("running", "status", POLLERS, latencies, errors, elapsed)
    return {"rps": step.rps, "p50_ms": step.p50_ms, "p99_ms": step.p99_ms, "errors": step.errors,
            "jobs_left_running_or_queued": sum(s in ("queued", "running") for s in statuses)}


def measure(mode: str, args: argparse.Namespace, audio: bytes) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bb-load-{mode}-"))
    try:
        with ExitStack() as stack:
            t0 = time.monotonic()
            deployment = Deployment(mode, root, args.sqlite, stack)
            print(f"{mode}: up in {time.monotonic() - t0:.1f} s", flush=True)
            result: dict = {"mode": mode, "kinds": {}}
            for kind in KINDS:
                result["kinds"][kind] = asyncio.run(run_batch(deployment.base, kind, args.jobs, audio))
                print(f"{mode}: {kind} {result['kinds'][kind]}", flush=True)
            result["poll"] = asyncio.run(run_polling(deployment.base, args.jobs, audio, args.poll))
            print(f"{mode}: status polls while jobs run {result['poll']}", flush=True)
            return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=6, help="jobs per kind and batch")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the test song")
    parser.add_argument("--poll", type=float, default=15.0, help="seconds of status polling at 64 pollers")
    parser.add_argument("--sqlite", action="store_true", help="celery mode on SQLite instead of PostgreSQL")
    parser.add_argument("--modes", default="embedded,celery")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    audio = song_wav(args.seconds)
    load_before = os.getloadavg()
    results = [measure(mode, args, audio) for mode in args.modes.split(",")]
    load_after = os.getloadavg()
    print(f"\n{args.jobs} jobs per kind, {args.seconds:g} s song, 2 job slots per mode; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print(f"{'':<22}" + "".join(f"{r['mode']:>22}" for r in results))
    for kind in KINDS:
        print(f"{kind + ' jobs/s':<22}" + "".join(f"{r['kinds'][kind]['jobs_per_s']:>22.3f}" for r in results))
        print(f"{kind + ' e2e p50/p99 s':<22}" + "".join(
            f"{r['kinds'][kind]['e2e_p50_s']:>14.2f} / {r['kinds'][kind]['e2e_p99_s']:<5.2f}" for r in results))
    print(f"{'status rps @64':<22}" + "".join(f"{r['poll']['rps']:>22.1f}" for r in results))
    print(f"{'status p50/p99 ms @64':<22}" + "".join(
        f"{r['poll']['p50_ms']:>14.1f} / {r['poll']['p99_ms']:<5.1f}" for r in results))
    print(f"{'poll errors':<22}" + "".join(f"{r['poll']['errors']:>22}" for r in results))
    if args.json:
        args.json.write_text(json.dumps({"load_average": [load_before, load_after], "results": results}, indent=2))


if __name__ == "__main__":
    main()
