"""The one way a job of any kind is created.

`submit_jobs` (and `submit_job` for one) stores each job's inputs in its own storage space, asks the
admission policy (`burntbeats.jobs.admission.admit`) whether the submission is accepted, creates the rows,
commits, and hands each id to the runner (`runner.submit(job_id)`). All or nothing: if an input is refused,
admission says no, or the runner cannot take the jobs (JOB_RUNNER=celery with its broker down:
ServiceUnavailable, a 503), no row exists and the stored files are removed.

Inputs are small objects with one async method (:class:`JobInput`): the API's upload
(`burntbeats.api.common.UploadedAudio`) and :class:`FilesFromJob` here (files of an earlier job linked into
the new job's space, so a derived job reads only its own space).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from anyio import to_thread
from sqlalchemy.orm import Session

from burntbeats.errors import Gone, ServiceUnavailable
from burntbeats.jobs import service
from burntbeats.jobs.admission import Batch, admit
from burntbeats.models import Job
from burntbeats.settings import Settings
from burntbeats.storage import Storage

INPUT_FILE = "input"  # where an upload (or a stem a derived job converts) is stored in the job's space


class Runner(Protocol):
    def submit(self, job_id: str) -> None: ...


class SubmitEnv(Protocol):
    """What submission needs from the app (the API's AppState has these attributes)."""

    settings: Settings
    storage: Storage
    runner: Runner


class JobInput(Protocol):
    async def store(self, storage: Storage, job_id: str) -> dict[str, Any]:
        """Put this input into the job's space; returns facts merged into the job's params (may be empty).
        Raises a DomainError / AudioError / HTTPException with a sentence when the input is refused."""


@dataclass(frozen=True)
class FilesFromJob:
    """Files of an earlier job, hard-linked (or copied) into the new job's space at submission."""

    job_id: str
    names: Mapping[str, str]  # the new job's name -> the source job's name
    gone_message: str = "The source job's files have expired; please upload again."

    async def store(self, storage: Storage, job_id: str) -> dict[str, Any]:
        def link_all() -> None:
            for name, source_name in self.names.items():
                try:
                    storage.link(self.job_id, source_name, job_id, name)
                except FileNotFoundError:
                    raise Gone(self.gone_message) from None

        await to_thread.run_sync(link_all)
        return {}


@dataclass
class JobRequest:
    """One job to create."""

    kind: str
    owner_id: str
    params: dict[str, Any]
    inputs: Sequence[JobInput] = field(default_factory=tuple)
    input_name: str | None = None
    parent_id: str | None = None
    title: str | None = None


async def submit_jobs(
    session: Session, env: SubmitEnv, requests: Sequence[JobRequest], *, group_id: str | None = None,
) -> list[Job]:
    """Create every job in `requests` (one group when `group_id` is set), or none of them."""
    staged: list[tuple[str, JobRequest, dict[str, Any]]] = []
    try:
        for request in requests:
            job_id = service.new_id()
            staged.append((job_id, request, {}))
            facts: dict[str, Any] = {}
            for job_input in request.inputs:
                facts.update(await job_input.store(env.storage, job_id))
            staged[-1] = (job_id, request, {**request.params, **facts})
        jobs = await to_thread.run_sync(_admit_and_create, session, env.settings, staged, group_id)
    except BaseException:
        for job_id, _request, _params in staged:
            env.storage.delete(job_id)
        raise
    ids = [job.id for job in jobs]
    try:
        # Off the event loop: a remote runner's publish is a network call (bounded, see celery_runner).
        await to_thread.run_sync(_hand_over, env.runner, ids)
    except ServiceUnavailable:
        # The queue cannot take them: the jobs are withdrawn (rows and files), the caller gets a 503.
        await to_thread.run_sync(service.withdraw_jobs, session, ids)
        for job_id in ids:
            env.storage.delete(job_id)
        raise
    return jobs


async def submit_job(session: Session, env: SubmitEnv, request: JobRequest, *, group_id: str | None = None) -> Job:
    """:func:`submit_jobs` for one job."""
    return (await submit_jobs(session, env, [request], group_id=group_id))[0]


def _admit_and_create(
    session: Session, settings: Settings, staged: list[tuple[str, JobRequest, dict[str, Any]]], group_id: str | None,
) -> list[Job]:
    # One database round in one worker thread: admission per (kind, owner) with the batch's size, then the rows.
    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for job_id, request, params in staged:
        groups[(request.kind, request.owner_id)].append((job_id, params))
    for (kind, owner_id), members in groups.items():
        admit(session, settings, kind, owner_id, len(members), Batch([p for _, p in members], [j for j, _ in members]))
    jobs = [
        service.create_job(
            session, kind=request.kind, owner_id=request.owner_id, params=params, job_id=job_id,
            input_name=request.input_name, parent_id=request.parent_id, group_id=group_id, title=request.title,
        )
        for job_id, request, params in staged
    ]
    session.commit()
    return jobs


def _hand_over(runner: Runner, ids: list[str]) -> None:
    for job_id in ids:
        runner.submit(job_id)

