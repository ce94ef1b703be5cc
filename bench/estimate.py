"""How good the time estimates are (jobs/estimate.py): predicted run time vs the real one, job after job.

    .venv/bin/python bench/estimate.py                      # fast, 2 stems: 4 20 10 60 30 45 90 s songs
    .venv/bin/python bench/estimate.py --quality balanced --lengths 10 30 60

Runs real stems jobs one at a time (JOB_CONCURRENCY=1) through the API in-process, in a throwaway DATA_DIR. For
each job it prints the run time predicted when it was submitted (from the jobs finished before it), the time left
predicted when it was about half-way, and what really happened. The first job has nothing measured yet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b.replace("Z", "+00:00")) - datetime.fromisoformat(a.replace("Z", "+00:00"))
            ).total_seconds()


def main() -> None:
    from fastapi.testclient import TestClient

    from audio_fixtures import make_song
    from burntbeats.api.app import create_app
    from conftest import make_settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", default="fast")
    parser.add_argument("--stems", default="2")
    parser.add_argument("--lengths", type=float, nargs="+", default=[4, 20, 10, 60, 30, 45, 90])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="burntbeats-bench-estimate-"))
    settings = make_settings(tmp, job_concurrency=1, max_upload_mb=200, max_duration_s=1800)
    print(f"quality={args.quality} stems={args.stems}")
    print(f"{'audio s':>8} {'predicted s':>11} {'actual s':>9} {'error':>7} {'at %':>5} {'left pred':>9} "
          f"{'left real':>9} {'x-realtime':>10} {'samples':>7}")
    with TestClient(create_app(settings)) as client:
        for seconds in args.lengths:
            song = tmp / f"song-{seconds:g}.wav"
            make_song(song, seconds=seconds)
            with open(song, "rb") as fh:
                job = client.post("/api/stems/split", files={"file": (song.name, fh)},
                                  data={"stems": args.stems, "quality": args.quality}).json()
            headers = {"X-Job-Token": job["job_token"]}
            first = client.get(job["status_url"], headers=headers).json()["estimate"] or {}
            half: tuple[float, float, float] | None = None  # (progress, predicted left, when)
            while (status := client.get(job["status_url"], headers=headers).json())["status"] not in (
                    "succeeded", "failed", "cancelled"):
                est = status.get("estimate") or {}
                if half is None and status["progress"] >= 40 and est.get("seconds_left") is not None:
                    half = (status["progress"], est["seconds_left"], time.monotonic())
                time.sleep(0.1)
            done = time.monotonic()
            actual = _seconds(status["started_at"], status["finished_at"])
            predicted = first.get("run_s")
            error = f"{(predicted - actual) / actual:+.0%}" if predicted else "-"
            at, left, real = (f"{half[0]:.0f}", f"{half[1]:.1f}", f"{done - half[2]:.1f}") if half else ("-",) * 3
            print(f"{seconds:8.0f} {predicted if predicted is not None else '-':>11} {actual:9.2f} {error:>7} "
                  f"{at:>5} {left:>9} {real:>9} {first.get('x_realtime') or '-':>10} {first.get('samples', 0):>7}")


if __name__ == "__main__":
    main()
