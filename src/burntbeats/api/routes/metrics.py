"""GET /metrics: Prometheus text format (burntbeats.api.metrics says what is in it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["meta"])


@router.get("/metrics", name="metrics", response_class=Response,
            summary="Jobs by kind and state, queue depths, job durations, x-realtime per engine, HTTP latency",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "The Prometheus text exposition format (version 0.0.4)."}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
