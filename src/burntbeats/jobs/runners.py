"""JOB_RUNNER picks the runner the API hands its jobs to: `local` (jobs/runner.py, worker processes of its
own) or `celery` (jobs/celery_runner.py, publishes to the queues `burntbeats worker` processes consume)."""

from __future__ import annotations

from burntbeats.jobs.runner import JobRunner, LocalRunner
from burntbeats.settings import Settings


def make_runner(settings: Settings) -> JobRunner:
    if settings.job_runner == "celery":
        from burntbeats.jobs.celery_runner import CeleryRunner  # celery and redis: imported in this mode only

        return CeleryRunner(settings)
    return LocalRunner(settings)
