"""The FastAPI application: REST API under /api, OpenAPI at /docs, the built web UI at /."""

from __future__ import annotations

import gc
import importlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

import burntbeats
from burntbeats.accounts.external import Issuer
from burntbeats.api.auth import current_caller
from burntbeats.api.database import close_database, install_database_error_handlers, open_database
from burntbeats.api.deps import AppState
from burntbeats.api.disk import LowDiskMiddleware, disk_full_response, install_disk_full_handlers, is_disk_full
from burntbeats.api.errors import install_domain_error_handlers
from burntbeats.api.metrics import HttpMetricsMiddleware, Metrics
from burntbeats.api.openapi import install_openapi
from burntbeats.api.schemas.errors import ErrorPublic, ValidationErrorItem
from burntbeats.api.security import install_security
from burntbeats.api.uploads import UploadLimitMiddleware
from burntbeats.db import migrate, session_scope
from burntbeats.guard.clamav import Scanner
from burntbeats.jobs import service
from burntbeats.jobs.runner import JobRunner
from burntbeats.jobs.runners import make_runner
from burntbeats.runtime_env import data_dir_environment
from burntbeats.settings import Settings, get_settings
from burntbeats.storage import get_storage
from burntbeats.torch_device import DeviceUnavailable, check_startup

log = logging.getLogger(__name__)

# Each capability contributes one router module (with a `router` attribute). The job routers need a caller
# (401 for an anonymous request when AUTH_REQUIRED is set); the others decide per route.
ROUTERS = [
    "burntbeats.api.routes.jobs",
    "burntbeats.api.routes.stems",
    "burntbeats.api.routes.stems_modes",
    "burntbeats.api.routes.stems_files",
    "burntbeats.api.routes.midi",
    "burntbeats.api.routes.speech",
    "burntbeats.api.routes.stems_export",
    "burntbeats.api.routes.models",
    "burntbeats.api.routes.auth",
    "burntbeats.api.routes.limits",
    "burntbeats.api.routes.admin",
    "burntbeats.api.routes.plans",
    "burntbeats.api.routes.billing",
    "burntbeats.api.routes.billing_webhook",
    "burntbeats.api.routes.billing_admin",
    "burntbeats.api.routes.webhooks",
    "burntbeats.api.routes.health",
    "burntbeats.api.routes.metrics",
]
OPEN_ROUTERS = frozenset({"burntbeats.api.routes.models", "burntbeats.api.routes.stems_modes",
                          "burntbeats.api.routes.auth", "burntbeats.api.routes.limits", "burntbeats.api.routes.admin",
                          "burntbeats.api.routes.plans", "burntbeats.api.routes.webhooks",
                          "burntbeats.api.routes.health", "burntbeats.api.routes.metrics",
                          "burntbeats.api.routes.billing_webhook", "burntbeats.api.routes.billing_admin"})

_REPO_WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"
_PACKAGED_WEB_DIST = Path(__file__).resolve().parents[1] / "web_dist"


def web_dist_dir() -> Path | None:
    for candidate in (_REPO_WEB_DIST, _PACKAGED_WEB_DIST):
        if (candidate / "index.html").exists():
            return candidate
    return None


_heap_frozen = False


def _freeze_start_up_heap() -> None:
    """Once per process, after the first start-up: what imports and start-up built lives as long as the
    process, so it leaves the cyclic collector's sight (gc.freeze). A full collection then scans only what
    requests made since, instead of pausing every request ~150 ms to scan ~230k objects (docs/performance.md)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None, runner: JobRunner | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            check_startup(settings.device)  # an explicit DEVICE=cuda / mps that is absent: no server
        except DeviceUnavailable as exc:
            log.error("%s", exc)
            raise RuntimeError(str(exc)) from None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
        open_database(app, settings)
        migrate(url)
        with session_scope(url) as session:
            service.ensure_local_user(session)
        job_runner = runner or make_runner(settings)
        secret = settings.resolved_secret_key()
        app.state.burntbeats = AppState(settings=settings, runner=job_runner, storage=get_storage(settings),
                                        secret=secret, tokens=settings.job_tokens(secret),
                                        issuer=Issuer.from_settings(settings), scanner=Scanner.from_settings(settings))
        metrics.url, metrics.runner = url, job_runner
        # Before the workers start (they inherit the environment): caches and temp files under DATA_DIR.
        with data_dir_environment(settings.data_dir):
            job_runner.start()
            _freeze_start_up_heap()
            try:
                yield
            finally:
                job_runner.stop()
                close_database(app)

    app = FastAPI(
        title="Burnt Beats",
        version=burntbeats.__version__,
        description="Stems, clean speech and MIDI from one self-hosted install. Jobs are asynchronous: "
        "submit (202 + job_id + job_token) -> poll status -> fetch files. Pass the job_token as the "
        "`X-Job-Token` header or the `token` query parameter.",
        lifespan=lifespan,
    )
    app.add_middleware(
        UploadLimitMiddleware,
        limits={"/api/": settings.max_upload_mb, "/api/speech/": settings.speech_max_upload_mb},
    )
    app.add_middleware(LowDiskMiddleware, data_dir=settings.data_dir, min_free_mb=settings.min_free_disk_mb)
    install_security(app, settings)
    # Outermost: every request is timed, refusals included (/metrics, burntbeats.api.metrics).
    metrics = app.state.metrics = Metrics(settings.resolved_database_url)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    _install_error_handlers(app)
    install_database_error_handlers(app)
    install_disk_full_handlers(app)

    for module_name in ROUTERS:
        needs_caller = [] if module_name in OPEN_ROUTERS else [Depends(current_caller)]
        app.include_router(importlib.import_module(module_name).router, dependencies=needs_caller)

    _mount_web_ui(app)
    install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    install_domain_error_handlers(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for err in errors:
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid value')}")
        items = [ValidationErrorItem(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", "")))
                 for e in errors]
        body = ErrorPublic(detail="Invalid request. " + "; ".join(parts), errors=items)
        return JSONResponse(status_code=422, content=body.model_dump(mode="json"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if is_disk_full(exc.__cause__):  # FastAPI's "error parsing the body": the upload's spool hit ENOSPC
            return disk_full_response()
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path can have several routes.
            allowed = _allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
        elif exc.status_code == 404 and detail == "Not Found":  # no route at all (Starlette's default text)
            detail = f"No such path: {request.url.path}."
        body = ErrorPublic(detail=detail)
        return JSONResponse(status_code=exc.status_code, content=body.model_dump(exclude_none=True), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "Internal server error."})


_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route answers at this request's path (routes may be nested in included routers)."""
    return [method for method in _HTTP_METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in app.router.routes)]


class _WebUIRoute(APIRoute):
    """The web UI's catch-all, which never claims /api/: an unknown API path is a 404, a wrong method a 405."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http" and scope.get("path", "").startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


def _mount_web_ui(app: FastAPI) -> None:
    dist = web_dist_dir()
    if dist is None:
        @app.get("/", include_in_schema=False)
        def no_ui() -> JSONResponse:
            return JSONResponse({"detail": "The web UI is not built. Run `make run` (it builds web/), or use /docs."})
        return

    if (dist / "assets").exists():
        app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    index = dist / "index.html"

    def spa(path: str) -> FileResponse:
        # Static files at the top of dist/ (favicon...), anything else is a client-side route.
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and dist.resolve() in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(index)

    app.router.add_api_route("/{path:path}", spa, methods=["GET"], include_in_schema=False,
                             route_class_override=_WebUIRoute)
