"""How long a queued or running job will take, from the speed this server measured on its finished jobs.

A finished job is one measurement: its input's probed duration against (finished_at - started_at) of its last
attempt. A kind's speed is read from its newest finished jobs with the same speed-relevant params (quality,
engine, stems) in the jobs table, cached for a few seconds per database, kind and params: when their durations
differ enough, a straight line run = start-up + per-second x duration (least squares), else the median ratio.
Its x-realtime is seconds of audio per second of processing. A running job's time left blends the measured run
time with its own progress rate, trusting its progress more as it advances; a queued job's adds the wait for the
jobs ahead of it on JOB_CONCURRENCY workers. Jobs without a known input duration (a stem converted to MIDI,
exports) are estimated from their progress alone once running.
"""

from __future__ import annotations

import heapq
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.orm import Session

from burntbeats.db import Reader
from burntbeats.models import Job, JobStatus, utcnow

SPEED_PARAMS = ("quality", "engine", "stems")  # the params that change how fast a kind runs
SAMPLES = 20  # finished jobs measured per kind and params
SCANNED = 200  # newest finished rows of a kind looked at to find them
MIN_AUDIO_S = 0.5  # shorter inputs measure the start-up, not the speed
CACHE_TTL_S = 3.0  # how long a measured speed is reused (a job that just finished counts this soon)
MAX_AHEAD = 200  # more jobs ahead than this: no wait estimate
MIN_PROGRESS = 5.0  # percent before a job's own progress rate is trusted


@dataclass(frozen=True)
class Speed:
    start_s: float  # fixed cost of a run (decoding set-up, model load), >= 0
    per_audio_s: float  # processing seconds per second of input
    samples: int

    @property
    def x_realtime(self) -> float:
        return 1.0 / self.per_audio_s

    def run_s(self, audio_s: float) -> float:
        return self.start_s + self.per_audio_s * audio_s


def fit_speed(samples: list[tuple[float, float]]) -> Speed | None:
    """(input seconds, run seconds) pairs -> a Speed: a least-squares line when the inputs' lengths differ by 2x or
    more (three samples at least), else the median run time per input second with no start-up cost."""
    if not samples:
        return None
    audio = [a for a, _ in samples]
    if len(samples) >= 3 and max(audio) >= 2 * min(audio):
        mean_a = statistics.fmean(audio)
        mean_r = statistics.fmean(r for _, r in samples)
        var = sum((a - mean_a) ** 2 for a in audio)
        slope = sum((a - mean_a) * (r - mean_r) for a, r in samples) / var
        start = mean_r - slope * mean_a
        if slope > 0 and start >= 0:
            return Speed(start, slope, len(samples))
        if slope > 0:  # a negative start-up: the line through the origin instead
            through_origin = sum(a * r for a, r in samples) / sum(a * a for a in audio)
            return Speed(0.0, through_origin, len(samples))
    return Speed(0.0, statistics.median(r / a for a, r in samples), len(samples))


_cache: dict[tuple, tuple[float, Speed | None]] = {}
_cache_lock = threading.Lock()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def speed_key(params: dict[str, Any] | None) -> tuple[str, ...]:
    params = params or {}
    return tuple(str(params.get(name, "")) for name in SPEED_PARAMS)


def audio_seconds(params: dict[str, Any] | None, result: dict[str, Any] | None = None) -> float | None:
    """The input's duration: probed at submission (params["input"]), else what a finished job measured."""
    for duration in (((params or {}).get("input") or {}).get("duration_s"), (result or {}).get("duration_s")):
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration > 0:
            return float(duration)
    return None


def measured_speed(session: Reader, kind: str, params: dict[str, Any] | None) -> Speed | None:
    """The speed of this kind's newest finished jobs with the same speed params (None: none measured yet)."""
    engine = session.get_bind() if isinstance(session, Session) else session.engine
    key = (str(engine.url), kind, speed_key(params))
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < CACHE_TTL_S:
        return hit[1]
    rows = session.execute(
        select(Job.params, Job.result, Job.started_at, Job.finished_at)
        .where(Job.kind == kind, Job.status == JobStatus.SUCCEEDED, Job.started_at.is_not(None),
               Job.finished_at.is_not(None))
        .order_by(Job.finished_at.desc()).limit(SCANNED)
    )
    samples: list[tuple[float, float]] = []
    for row_params, result, started, finished in rows:
        audio = audio_seconds(row_params, result)
        run_s = (_aware(finished) - _aware(started)).total_seconds()
        if audio is None or audio < MIN_AUDIO_S or run_s <= 0 or speed_key(row_params) != key[2]:
            continue
        samples.append((audio, run_s))
        if len(samples) == SAMPLES:
            break
    speed = fit_speed(samples)
    with _cache_lock:
        _cache[key] = (now, speed)
    return speed


def seconds_left(run_s: float | None, elapsed_s: float, progress: float) -> float | None:
    """A running job's time left: from the measured run time and from its own progress rate, weighted by its
    progress (a job that overran its measured time is judged by its progress alone)."""
    by_speed = run_s - elapsed_s if run_s is not None else None
    by_progress = None
    if progress >= MIN_PROGRESS and elapsed_s >= 1.0:
        fraction = min(progress, 100.0) / 100.0
        by_progress = elapsed_s * (1.0 - fraction) / fraction
    if by_progress is None:
        return max(by_speed, 0.0) if by_speed is not None else None
    if by_speed is None or by_speed < 0:
        return by_progress
    weight = progress / 100.0
    return weight * by_progress + (1.0 - weight) * by_speed


def _run_s(session: Reader, job: Job | Row) -> tuple[float | None, Speed | None]:
    speed = measured_speed(session, job.kind, job.params)
    audio = audio_seconds(job.params)
    return (speed.run_s(audio) if speed and audio else None), speed


def _left_when_running(session: Reader, job: Job | Row, now: datetime) -> float | None:
    run_s, _speed = _run_s(session, job)
    elapsed = (now - _aware(job.started_at)).total_seconds() if job.started_at else 0.0
    return seconds_left(run_s, max(elapsed, 0.0), job.progress or 0.0)


def _wait_s(session: Reader, job: Job | Row, concurrency: int, now: datetime) -> float | None:
    """When a worker is free for `job`: the running jobs' time left and the queued jobs ahead's run times laid
    out on `concurrency` workers in queue order. None when one of them cannot be estimated."""
    table = Job.__table__  # rows, not objects: the same on a session and on a plain connection
    ahead = list(session.execute(
        select(table).where(or_(table.c.status == JobStatus.RUNNING,
                                and_(table.c.status == JobStatus.QUEUED, table.c.created_at < job.created_at)))
        .order_by(table.c.created_at).limit(MAX_AHEAD + 1)
    ))
    if len(ahead) > MAX_AHEAD:
        return None
    running = [_left_when_running(session, j, now) for j in ahead if j.status == JobStatus.RUNNING]
    queued = [_run_s(session, j)[0] for j in ahead if j.status == JobStatus.QUEUED]
    if any(t is None for t in running) or any(t is None for t in queued):
        return None
    free_at = [0.0] * max(concurrency - len(running), 0) + [float(t) for t in running]
    heapq.heapify(free_at)
    if not free_at:
        return None
    for run in queued:
        heapq.heappush(free_at, heapq.heappop(free_at) + float(run))
    return free_at[0]


def estimate(session: Reader, job: Job | Row, concurrency: int) -> dict[str, Any] | None:
    """The status's `estimate` (JobEstimatePublic) of a queued or running job; None once it ended or when
    nothing is known yet."""
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return None
    now = utcnow()
    run_s, speed = _run_s(session, job)
    if job.status == JobStatus.RUNNING:
        left = _left_when_running(session, job, now)
    else:
        wait = _wait_s(session, job, concurrency, now) if run_s is not None else None
        left = wait + run_s if wait is not None and run_s is not None else None
    if left is None and run_s is None:
        return None
    return {
        "seconds_left": round(left, 1) if left is not None else None,
        "run_s": round(run_s, 1) if run_s is not None else None,
        "x_realtime": round(speed.x_realtime, 2) if speed else None,
        "samples": speed.samples if speed else 0,
    }
