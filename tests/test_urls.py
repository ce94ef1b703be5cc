"""api/urls.path_for (a cached template per route) gives exactly what Starlette's url_path_for gives."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import NoMatchFound

from burntbeats.api.app import create_app
from burntbeats.api.urls import file_url, path_for
from conftest import make_settings


def _named_routes(app):
    seen = set()
    for route in app.router.routes:
        for r in getattr(getattr(route, "original_router", None), "routes", [route]):
            if isinstance(r, APIRoute) and r.name not in seen:
                seen.add(r.name)
                yield r


def test_path_for_matches_url_path_for(tmp_path):
    app = create_app(make_settings(tmp_path))
    request = Request({"type": "http", "app": app})
    routes = list(_named_routes(app))
    assert any(r.name == "stems.file" for r in routes)
    for route in routes:
        params = {name: f"v{i}-{route.name}.x" for i, name in enumerate(route.param_convertors)}
        for _ in range(2):  # the second call uses the cached template
            assert path_for(request, route.name, **params) == app.url_path_for(route.name, **params)
    assert file_url(request, "stems.original", "a/b+c", job_id="j1") == "/api/stems/original/j1?token=a%2Fb%2Bc"


def test_path_for_refuses_what_url_path_for_refuses(tmp_path):
    app = create_app(make_settings(tmp_path))
    request = Request({"type": "http", "app": app})
    path_for(request, "stems.file", job_id="j", filename="a.wav")
    with pytest.raises(NoMatchFound):
        path_for(request, "no.such.route", job_id="j")
    with pytest.raises(AssertionError):  # Starlette's str converter: no "/" in a path segment
        path_for(request, "stems.file", job_id="a/b", filename="a.wav")
