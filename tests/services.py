"""Real services for the scale-out tests, started by the test run on loopback: a private redis-server on a
free port (so a test may stop it without touching the machine's Redis), moto's S3 server, and
`burntbeats worker` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live_server import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def wait_port(port: int, timeout: float = 10.0, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the {what} did not listen on port {port} within {timeout} s")


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, its append-only file in `folder` (a restart keeps the queue)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        if not os.path.exists(REDIS_SERVER):
            pytest.fail("redis-server is needed by the scale-out tests (Debian package redis-server)")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, what="redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class S3Server:
    """moto's standalone S3 server (ThreadedMotoServer) on a free loopback port, with one bucket."""

    def __init__(self, bucket: str = "burntbeats-test") -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.bucket = bucket
        self.client().create_bucket(Bucket=bucket)

    def settings(self, prefix: str = "") -> dict:
        return {"s3_enabled": True, "s3_bucket": self.bucket, "s3_endpoint_url": self.endpoint,
                "s3_access_key_id": "test", "s3_secret_access_key": "test", "s3_region": "us-east-1",
                "s3_prefix": prefix}

    def env(self, prefix: str = "") -> dict[str, str]:
        return {key.upper(): ("1" if value is True else str(value)) for key, value in self.settings(prefix).items()}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        self.server.stop()


def settings_env(settings) -> dict[str, str]:
    """The environment that gives a subprocess the same settings as `settings`."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            env[name.upper()] = "1" if value else "0"
        else:
            env[name.upper()] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return env


class Worker:
    """`burntbeats worker` in a subprocess, its log in `log_path`."""

    def __init__(self, settings, log_path: Path, queues: str = "stems,speech,midi", concurrency: int = 1,
                 extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **settings_env(settings), **(extra_env or {})}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parents[1] / "src"),
                                                        env.get("PYTHONPATH", "")) if p)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "burntbeats", "worker", "--queues", queues, "--concurrency", str(concurrency)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until Celery says the worker consumes (it then handles SIGTERM as a warm shutdown)."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.logs():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.logs()[-3000:]}")
            time.sleep(0.1)

    def pool(self) -> set[int]:
        return process_tree(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes (each leads its own process group)."""
        for pid in [self.proc.pid, *self.pool()]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self._log.close()


SUBMIT = {  # kind -> (URL, form) of its upload route
    "stems": ("/api/stems/split", {"stems": "2", "quality": "fast"}),
    "speech": ("/api/speech/enhance", {}),
    "midi": ("/api/midi/convert", {}),
}


def post_job(client, family: str, path: Path):
    """Upload `path` as a job of `family` (stems split fast, speech enhance, MIDI convert); the response."""
    url, form = SUBMIT[family]
    with open(path, "rb") as fh:
        return client.post(url, files={"file": (path.name, fh, "application/octet-stream")}, data=form)


def process_tree(root: int) -> set[int]:
    """Every live descendant of process `root` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def describe(pids) -> str:
    """`pid: command line` for each of `pids`, for assertion messages."""
    lines = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            lines.append(f"{pid}: {command}")
        except (FileNotFoundError, ProcessLookupError):
            lines.append(f"{pid}: (gone)")
    return "; ".join(lines)
