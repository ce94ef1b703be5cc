"""File and status URLs from the routes' names (never hand-built strings): `/api/...` paths, plus the job's
token as the `token` query parameter for links a browser follows without headers (<audio src>, downloads)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request


def path_for(request: Request, route_name: str, **path_params: object) -> str:
    """The app-relative path of a named route, e.g. path_for(request, "stems.status", job_id=...)."""
    return str(request.app.url_path_for(route_name, **{k: str(v) for k, v in path_params.items()}))


def with_token(path: str, token: str) -> str:
    return f"{path}?{urlencode({'token': token})}"


def file_url(request: Request, route_name: str, token: str, **path_params: object) -> str:
    """A named route's path carrying the token: what status payloads hand out for downloads."""
    return with_token(path_for(request, route_name, **path_params), token)
