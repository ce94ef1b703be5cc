"""The operator's admin API (API_KEY): users, jobs, usage."""

from __future__ import annotations

from pydantic import BaseModel, Field

from burntbeats.api.schemas.auth import UserPublic
from burntbeats.api.schemas.common import JobState


class AdminUserPublic(UserPublic):
    disabled: bool
    last_sign_in_at: str | None
    external_id: str | None = Field(description="<issuer>|<sub> of an external identity (OIDC / Clerk), if any.")


class AdminUserListPublic(BaseModel):
    users: list[AdminUserPublic]


class AdminJobPublic(BaseModel):
    job_id: str
    kind: str
    status: JobState
    owner_id: str
    input_name: str | None
    error: str | None
    created_at: str | None
    finished_at: str | None


class AdminJobListPublic(BaseModel):
    jobs: list[AdminJobPublic]


class UsageRowPublic(BaseModel):
    user_id: str
    email: str | None
    jobs: int = Field(description="Jobs created in the period.")
    by_kind: dict[str, int]
    by_status: dict[str, int]
    audio_seconds: float = Field(description="Seconds of uploaded audio in the period's jobs.")
    processing_seconds: float = Field(description="Wall time the period's finished jobs ran for.")


class UsagePublic(BaseModel):
    since: str
    users: list[UsageRowPublic]
