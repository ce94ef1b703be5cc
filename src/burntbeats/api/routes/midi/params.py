"""Request parsing shared by the MIDI routes: a JSON object or a form, conversion settings, stem items."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from burntbeats.midi.engine import ConversionSettings

# Request fields that are not conversion settings.
REQUEST_KEYS = {"file", "files", "source_job", "stem", "source_token", "items", "track_name", "settings"}
ITEM_KEYS = {"source_job", "stem", "source_token", "track_name"}

SETTINGS_DOC = (
    "Conversion settings (all optional): onset_threshold, frame_threshold, minimum_note_length_ms, "
    "minimum_frequency, maximum_frequency, melodia_trick, multiple_pitch_bends, pitch_bends, midi_tempo, "
    "quantize (1/4, 1/8, 1/16, 1/32, 1/4T, 1/8T, 1/16T), program (General MIDI 0-127), drums."
)


def body_schema(required: list[str], props: dict[str, Any], json_example: dict) -> dict:
    settings_props = {name: {"type": "string"} for name in ConversionSettings.model_fields}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": required, "properties": {**props, **settings_props}}
                },
                "application/json": {"schema": {"type": "object"}, "example": json_example},
            },
        }
    }


async def read_body(request: Request) -> tuple[dict[str, Any], list[tuple[str, StarletteUploadFile]], Any]:
    """JSON object or a form: (fields, files, form-to-close)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(status_code=422, detail="The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise HTTPException(status_code=422, detail="The request body must be a JSON object.")
        return body, [], None
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=64, max_fields=200)
        fields: dict[str, Any] = {}
        files: list[tuple[str, StarletteUploadFile]] = []
        for key, value in form.multi_items():
            if isinstance(value, StarletteUploadFile):
                files.append((key, value))
            elif key in fields:
                fields[key] = (fields[key] if isinstance(fields[key], list) else [fields[key]]) + [value]
            else:
                fields[key] = value
        return fields, files, form
    raise HTTPException(
        status_code=415,
        detail="Send multipart/form-data (an audio `file` and settings) or a JSON object (`source_job`, `stem`).",
    )


def conversion_settings(fields: dict[str, Any], extra_allowed: set[str] = REQUEST_KEYS) -> ConversionSettings:
    raw: dict[str, Any] = {}
    nested = fields.get("settings")
    if isinstance(nested, str) and nested.strip():
        try:
            nested = json.loads(nested)
        except ValueError:
            raise HTTPException(status_code=422, detail="Invalid request. settings: not valid JSON.") from None
    if isinstance(nested, dict):
        raw.update(nested)
    elif nested not in (None, ""):
        raise HTTPException(status_code=422, detail="Invalid request. settings: must be an object.")
    for key, value in fields.items():
        if key in extra_allowed:
            continue
        if isinstance(value, str) and value.strip() == "":
            continue  # an empty form field means "default"
        raw[key] = value
    try:
        return ConversionSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            raise HTTPException(status_code=422, detail=f"Invalid request. Unknown setting {loc!r}. {SETTINGS_DOC}") from None
        raise HTTPException(status_code=422, detail=f"Invalid request. {loc or 'settings'}: {err.get('msg')}.") from None


def str_field(fields: dict, key: str) -> str | None:
    value = fields.get(key)
    if isinstance(value, list):
        raise HTTPException(status_code=422, detail=f"Invalid request. {key}: give it once.")
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def parse_items(raw: Any) -> list[dict]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        out: list[dict] = []
        for part in raw:
            out.extend(parse_items(part))
        return out
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise HTTPException(status_code=422, detail="Invalid request. items: not valid JSON.") from None
        if isinstance(raw, dict):
            raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise HTTPException(status_code=422, detail="Invalid request. items: a list of {source_job, stem, source_token}.")
    return raw
