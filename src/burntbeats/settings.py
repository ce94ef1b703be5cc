"""All configuration comes from the environment (or a `.env` file), never from code."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from burntbeats.jobs.tokens import JobTokens

# DEVICE values (burntbeats.torch_device resolves them).
DEVICES = ("auto", "cpu", "cuda", "mps")


def parse_list(value: str | None) -> list[str]:
    """A comma list setting (ALLOWED_HOSTS, OIDC_AUDIENCE...) as its items, spaces trimmed, empties dropped."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class Settings(BaseSettings):
    # A refused value is never echoed in the error (several settings are secrets).
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      hide_input_in_errors=True)

    data_dir: Path = Field(default=Path("data"), description="Job files and the SQLite database live here.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default is SQLite under DATA_DIR.")
    # API requests that use the database at once (each holds one pooled connection; more wait their turn
    # without holding a thread), how long one waits for its turn before a 503, and how long a statement
    # waits for a locked SQLite database (also a 503 after that).
    db_pool_size: int = Field(default=40, ge=1)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    db_busy_timeout_s: float = Field(default=30.0, gt=0)
    # Nice level of the job worker processes (0-19): jobs yield the CPU to the API's answers.
    worker_nice: int = Field(default=10, ge=0, le=19)
    models_dir: Path = Field(default=Path("models"), description="Neural model weights are loaded from here.")

    host: str = "127.0.0.1"
    port: int = 8000
    # Host names clients may use (comma list; default: HOST plus localhost, 127.0.0.1, ::1). Other Host
    # headers are refused, which defeats DNS rebinding. "*" allows any (behind a proxy that checks it).
    allowed_hosts: str = ""
    # Other origins allowed to send POST/PUT/PATCH/DELETE (comma list, e.g. https://music.example.com);
    # the server's own pages, curl and the CLI need no entry.
    allowed_origins: str = ""

    max_upload_mb: int = Field(default=200, ge=1)
    # New uploads are refused (507) while DATA_DIR's disk has less free than this; /health says "degraded".
    min_free_disk_mb: int = Field(default=500, ge=0)
    max_duration_s: float = Field(default=30 * 60, gt=0)
    job_concurrency: int = Field(default=max(1, min(2, os.cpu_count() or 1)), ge=1)
    job_retention_hours: float = Field(default=24.0, gt=0)
    # A running job's lease: its worker renews it every JOB_LEASE_S / 3; when it runs out the worker is
    # presumed dead and the job is re-queued, until it has been tried JOB_MAX_ATTEMPTS times.
    job_lease_s: float = Field(default=30.0, ge=0.5)
    job_max_attempts: int = Field(default=3, ge=1)
    torch_threads: int = Field(default=max(1, os.cpu_count() or 1), ge=1)
    # Where torch engines run: auto (CUDA if torch sees a GPU, else MPS, else the CPU), cpu, cuda or mps.
    # An explicit cuda / mps that is not there stops the server at start-up with a sentence.
    device: str = Field(default="auto", description="auto | cpu | cuda | mps")

    # Signs per-job download tokens. Set it in production; the default is per-install random.
    secret_key: str = Field(default="", repr=False)
    # When set, job tokens are signed JWTs bound to the job id, its owner and an expiry (jobs/tokens.py): a job
    # token lasts JOB_TOKEN_TTL_HOURS, the file links in status answers FILE_TOKEN_TTL_S.
    job_token_secret: str = Field(default="", repr=False, pattern=r"^(|.{32,})$",
                                  description="Empty, or at least 32 characters (HS256 needs a 256-bit key).")
    job_token_ttl_hours: float = Field(default=24.0, gt=0)
    file_token_ttl_s: float = Field(default=3600.0, gt=0)
    # The admin API (/api/admin/...): off (404) unless set; requests send it as X-API-Key.
    api_key: str = Field(default="", repr=False)
    # External identity (OIDC, e.g. Clerk): bearer JWTs from OIDC_ISSUER, verified with its JWKS (default
    # <issuer>/.well-known/jwks.json) under an allow-list of asymmetric algorithms; `aud` checked when
    # OIDC_AUDIENCE (comma list) is set; OIDC_LEEWAY_S of clock skew; the key set cached OIDC_JWKS_CACHE_S.
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_algorithms: str = "RS256"
    oidc_leeway_s: float = Field(default=30.0, ge=0, le=600)
    oidc_jwks_cache_s: int = Field(default=300, ge=0)
    # A token naming an unknown key id fetches the key set again, at most once per this many seconds.
    oidc_jwks_cooldown_s: float = Field(default=30.0, ge=0)
    # Clerk's user webhooks (POST /api/auth/clerk/webhook), verified with svix: off (404) unless set.
    clerk_webhook_secret: str = Field(default="", repr=False)

    # Rate limits (guard/ratelimit.py; `limits` notation, empty = none), kept in Redis when REDIS_URL is set.
    redis_url: str = Field(default="", repr=False)
    rate_limit_sign_in: str = "20/minute"  # sign-in attempts per client address
    rate_limit_sign_in_failures: str = "5/15 minutes"  # failed sign-ins per email
    rate_limit_sign_up: str = "10/hour"  # sign-ups per client address
    rate_limit_submit: str = "60/minute"  # jobs per user (AUTH_REQUIRED only)
    rate_limit_submit_ip: str = "120/minute"  # jobs per client address (AUTH_REQUIRED only)
    # Malware scan of every upload before a job is queued (guard/clamav.py): clamd on a Unix socket
    # (CLAMD_SOCKET) or TCP (CLAMD_HOST, CLAMD_PORT). When clamd cannot answer, uploads are refused with 503
    # unless CLAMD_FAIL_OPEN=1 (then they pass unscanned, logged).
    clamd_socket: str = ""
    clamd_host: str = ""
    clamd_port: int = Field(default=3310, ge=1, le=65535)
    clamd_timeout_s: float = Field(default=30.0, gt=0)
    clamd_fail_open: bool = False
    # Other origins whose pages may call this API with credentials (CORS, comma list); off by default.
    cors_origins: str = ""

    # Accounts (burntbeats.accounts): off by default (one local user, no sign-in). AUTH_REQUIRED=1: every job
    # route needs a signed-in user (session cookie, API key or external JWT); anonymous calls get 401.
    auth_required: bool = False
    # Whether visitors may create local accounts (sign-up); off: operators create them (`burntbeats users`).
    signup_enabled: bool = True
    # How long a sign-in lasts; whether the session cookie is Secure ("auto": when the request came over https).
    session_ttl_hours: float = Field(default=24 * 14, gt=0)
    cookie_secure: Literal["auto", "always", "never"] = "auto"

    # Plans and usage tokens (burntbeats.billing; README "Plans and billing"). Off: no metering, no plan limits,
    # everything as without it. On: accounts are required (AUTH_REQUIRED), each job reserves its cost in tokens
    # at submission (settled on success, refunded on failure or cancel) and plan limits apply.
    usage_tokens_enabled: bool = False
    # The plan of an account without a subscription (an id of burntbeats.billing.plans.PLANS).
    default_plan: str = "free"
    # What a job costs (burntbeats.billing.costs): per started minute of input for stems and speech (times the
    # stem-count and quality factors), a flat cost per MIDI transcription and per server-side export.
    stems_token_cost_per_minute: float = Field(default=10.0, ge=0)
    speech_token_cost_per_minute: float = Field(default=4.0, ge=0)
    midi_token_cost: int = Field(default=5, ge=0)
    stems_export_token_cost: int = Field(default=1, ge=0)
    midi_export_token_cost: int = Field(default=0, ge=0)
    # JSON objects: stem count -> factor, quality mode (fast | balanced | best) -> factor.
    stems_token_factors: dict[int, float] = Field(default_factory=lambda: {2: 1.0, 4: 1.5, 6: 2.0})
    quality_token_factors: dict[str, float] = Field(
        default_factory=lambda: {"fast": 0.5, "balanced": 1.0, "best": 2.0})
    # Stripe (billing/stripe_gateway.py): the secret API key (empty: payments off, checkout and portal 404), the
    # webhook signing secret (empty: POST /api/billing/webhook 404), where the API is (empty: Stripe's; tests point
    # it at a local server), and the prices of the paid plans and the token packs (billing/plans.py).
    stripe_secret_key: str = Field(default="", repr=False)
    stripe_webhook_secret: str = Field(default="", repr=False)
    stripe_api_base: str = ""
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1)
    stripe_price_id_pro: str = ""
    stripe_price_id_studio: str = ""
    stripe_price_id_pack_small: str = ""
    stripe_price_id_pack_large: str = ""

    # Job runner: "local" (in-process worker pool) or "celery" (scale-out: `burntbeats worker` processes
    # fed through CELERY_BROKER_URL; the API then only stores inputs, creates rows and enqueues).
    job_runner: Literal["local", "celery"] = "local"

    # Admission: jobs of a family (stems / speech / midi) waiting or running before new ones get 503.
    stems_max_queue_depth: int = Field(default=50, ge=1)
    speech_max_queue_depth: int = Field(default=20, ge=1)
    speech_max_upload_mb: int = Field(default=200, ge=1)
    # Speech enhancement: threads per job (a recording is cut into this many lanes processed in parallel).
    speech_workers: int = Field(default=max(1, min(2, os.cpu_count() or 1)), ge=1)
    server_export_enabled: bool = True
    # Audio -> MIDI (burntbeats.midi): the Basic Pitch ONNX model (default: the one inside the
    # basic-pitch package), engine threads per worker (0 = cores / JOB_CONCURRENCY), limits.
    midi_model_path: Path | None = None
    midi_threads: int = Field(default=0, ge=0)
    midi_max_queue_depth: int = Field(default=50, ge=1)
    midi_max_batch_items: int = Field(default=16, ge=1)
    midi_max_notes: int = Field(default=50_000, ge=1)
    midi_max_versions: int = Field(default=100, ge=2)
    # Neural separation (burntbeats.separation.neural / .models): demucs shift trick (0 = off, each
    # shift costs one more pass), chunk overlap inside a block, an extra model manifest (JSON, same
    # schema as separation/models_manifest.json) merged over the built-in one for custom checkpoints,
    # and whether a checksum-verified checkpoint may be fully unpickled when it holds objects outside
    # the loader's allow-list (off: such a file is refused).
    neural_shifts: int = Field(default=0, ge=0, le=20)
    neural_overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    models_manifest: Path | None = None
    models_trust_pickle: bool = False

    # Scale-out (burntbeats.jobs.celery_runner, JOB_RUNNER=celery): the Redis broker, a key prefix so that
    # several installs (or test runs) share one Redis, how long a delivered but unacknowledged job message
    # waits before Redis hands it to another worker, and how long a queued job's message is trusted before
    # the API sends it again (the job lease makes duplicates harmless).
    celery_broker_url: str = Field(default="", description="redis://host:6379/0")
    celery_key_prefix: str = ""
    celery_visibility_timeout_s: float = Field(default=3600.0, ge=1)
    celery_republish_s: float = Field(default=600.0, ge=1)
    # Object storage (burntbeats.storage.s3, S3_ENABLED=1): job files live in S3_BUCKET under S3_PREFIX;
    # file URLs answer with presigned redirects valid S3_PRESIGN_EXPIRY_S. DATA_DIR keeps a local cache.
    s3_enabled: bool = False
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_endpoint_url: str = Field(default="", description="Empty for AWS; e.g. http://minio:9000")
    # Where browsers reach the store, when not at S3_ENDPOINT_URL (presigned links are signed for this host).
    s3_public_endpoint_url: str = ""
    s3_access_key_id: str = Field(default="", repr=False)
    s3_secret_access_key: str = Field(default="", repr=False)
    s3_prefix: str = ""
    s3_presign_expiry_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    s3_delete_local_after_upload: bool = True

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, value: object) -> str:
        text = str(value if value is not None else "auto").strip().lower() or "auto"
        if text not in DEVICES:
            raise ValueError(f"DEVICE must be one of {', '.join(DEVICES)} (got {value!r})")
        return text

    @model_validator(mode="after")
    def _metering_needs_accounts(self) -> Settings:
        # Tokens belong to accounts: metering turns sign-in on (as AUTH_REQUIRED=1 would).
        if self.usage_tokens_enabled:
            self.auth_required = True
        return self

    @model_validator(mode="after")
    def _scale_out(self) -> Settings:
        if self.job_runner == "celery" and not self.celery_broker_url.startswith(("redis://", "rediss://")):
            raise ValueError("JOB_RUNNER=celery needs CELERY_BROKER_URL=redis://host:6379/0 (a Redis broker)")
        if self.s3_enabled and not self.s3_bucket:
            raise ValueError("S3_ENABLED=1 needs S3_BUCKET (and S3_ENDPOINT_URL for a store other than AWS)")
        return self

    @field_validator("rate_limit_sign_in", "rate_limit_sign_in_failures", "rate_limit_sign_up", "rate_limit_submit",
                     "rate_limit_submit_ip")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            from limits import parse

            try:
                parse(value)
            except ValueError:
                raise ValueError("write a rate as e.g. 10/minute or 5/15 minutes (empty = no limit)") from None
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'burntbeats.db').resolve()}"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def job_tokens(self, secret: str) -> JobTokens:
        return JobTokens(secret=secret, signing_secret=self.job_token_secret or None,
                         job_ttl_s=self.job_token_ttl_hours * 3600, file_ttl_s=self.file_token_ttl_s)

    def resolved_secret_key(self) -> str:
        """A stable secret: from the environment, else one generated once and kept in DATA_DIR."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / ".secret_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
