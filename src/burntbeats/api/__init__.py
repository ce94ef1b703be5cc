"""The HTTP API (FastAPI) and the static web UI."""
