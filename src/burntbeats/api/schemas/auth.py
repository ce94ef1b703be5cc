"""Accounts: sign-up / sign-in bodies, the caller, API keys."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignUpRequest(BaseModel):
    email: str = Field(max_length=320, description="The account's email (its sign-in name; no mail is sent).")
    password: str = Field(max_length=1024, description="At least 8 characters.")
    display_name: str | None = Field(None, max_length=200)


class SignInRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class UserPublic(BaseModel):
    id: str
    email: str | None
    display_name: str | None
    is_admin: bool
    created_at: str | None


class MePublic(BaseModel):
    """Whether this server has accounts, and who is signed in (null when nobody is)."""

    auth_required: bool = Field(description="AUTH_REQUIRED: job routes need a signed-in user.")
    signup_enabled: bool = Field(description="Visitors may create an account (SIGNUP_ENABLED).")
    user: UserPublic | None
    via: str | None = Field(description="How the caller signed in: local (accounts off), session, api_key, jwt.")
    csrf_token: str | None = Field(description="Send as X-CSRF-Token with every change made with the session cookie.")


class SignedInPublic(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="Send as X-CSRF-Token with every POST/PUT/PATCH/DELETE (cookie sign-in).")


class SignedOutPublic(BaseModel):
    signed_out: bool


class ApiKeyCreateRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for (e.g. 'laptop script').")


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None = None


class ApiKeyCreatedPublic(ApiKeyPublic):
    key: str = Field(description="The key, shown only now: send it as `Authorization: Bearer <key>`.")


class ApiKeyListPublic(BaseModel):
    keys: list[ApiKeyPublic]


class WebhookResultPublic(BaseModel):
    received: bool
    event: str
    user_id: str | None = Field(description="The account the event created or removed, if any.")
    deleted_jobs: int = Field(description="user.deleted: how many jobs (with their files) were removed.")
