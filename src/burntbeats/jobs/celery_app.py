"""The Celery application shared by the API (which only publishes) and `burntbeats worker` (which runs jobs).

One queue per job family (stems, speech, midi), so a long separation never holds up MIDI or speech. A
message carries only the job id: the job's row (status, lease, attempts) is the truth, so a message
delivered twice, or redelivered after its worker died, is harmless (`celery_worker.take`). Messages are
acknowledged when the job ends (`acks_late`) and put back when the process running it dies
(`reject_on_worker_lost`); results go to the database, never to a Celery result backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from burntbeats.jobs.kinds import JobFamily, family_of
from burntbeats.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "burntbeats.run_job"
QUEUES: tuple[str, ...] = tuple(family.value for family in JobFamily)
# The API's broker calls: how long a connection or a command may take before the submission is answered
# with a 503 (one retry on a fresh connection after a failure, so a restarted Redis costs no error).
API_SOCKET_TIMEOUT_S = 0.8
WORKER_REGISTRY_TTL_S = 15  # a worker's presence key outlives a few of its beats (every 5 s)


def queue_for(kind: str) -> str:
    return family_of(kind).value


def parse_queues(text: str) -> list[str]:
    """`stems,speech` -> ["stems", "speech"]; ValueError with a sentence for an unknown name."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if not names or unknown:
        raise ValueError(f"queues must be a comma list of {', '.join(QUEUES)} (got {text!r})")
    return list(dict.fromkeys(names))


def redis_key(settings: Settings, *parts: str) -> str:
    """A key of ours in the broker's Redis, under CELERY_KEY_PREFIX."""
    return settings.celery_key_prefix + "burntbeats:" + ":".join(parts)


def make_celery(settings: Settings, *, worker: bool = False) -> Celery:
    from celery import Celery
    from kombu import Exchange, Queue

    app = Celery("burntbeats", broker=settings.celery_broker_url, set_as_current=False)
    visibility = settings.celery_visibility_timeout_s
    transport: dict = {
        "visibility_timeout": visibility,
        # Messages of a worker that vanished come back after `visibility`: look for them often enough.
        "unacked_restore_interval": max(1.0, min(10.0, visibility / 4)),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": API_SOCKET_TIMEOUT_S if not worker else 5.0,
    }
    if not worker:
        transport["socket_timeout"] = API_SOCKET_TIMEOUT_S  # a publish never hangs a request
    if settings.celery_key_prefix:
        transport["global_keyprefix"] = settings.celery_key_prefix
    app.conf.update(
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=API_SOCKET_TIMEOUT_S if not worker else 5.0,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        task_default_queue=QUEUES[0],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,  # a worker takes one job per free slot, never a backlog
        worker_enable_remote_control=False,  # no pidbox / broadcast traffic
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app
