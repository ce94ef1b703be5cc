"""Audio -> MIDI API: convert (upload or a stem of a stems job), status with piano-roll notes, the MIDI
file, note edits with undo, batches, merge to one multi-track file, and zip exports."""

from fastapi import APIRouter

from burntbeats.api.routes.midi import batch, convert, merge_export, notes

router = APIRouter(prefix="/api/midi", tags=["midi"])
for _module in (convert, notes, batch, merge_export):
    router.include_router(_module.router)
