"""What an upload may be, before it is sent: the web app shows these next to every file picker."""

from __future__ import annotations

from fastapi import APIRouter

from burntbeats.api.deps import StateDep
from burntbeats.api.schemas.common import LimitsPublic

router = APIRouter(prefix="/api/limits", tags=["meta"])


@router.get("", name="limits", response_model=LimitsPublic,
            summary="Upload size and duration limits, batch size and how long job files are kept")
def limits(state: StateDep) -> dict:
    s = state.settings
    return {
        "max_upload_mb": s.max_upload_mb,
        "speech_max_upload_mb": s.speech_max_upload_mb,
        "max_duration_s": s.max_duration_s,
        "midi_max_batch_items": s.midi_max_batch_items,
        "job_retention_hours": s.job_retention_hours,
    }
