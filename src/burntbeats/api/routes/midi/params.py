"""The MIDI routes' request bodies as Pydantic models, and reading them from a JSON object or a form.

/convert and /batch take either multipart/form-data (uploads + fields) or a JSON object at the same URL,
which FastAPI cannot declare with one parameter; `read_request` reads either into a dict and the model
validates it, so both answer a bad field with the same 422 as every other route (`RequestValidationError`).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator
from starlette.datastructures import FormData, UploadFile

from burntbeats.api.json_body import JsonBodyError, is_json, loads_bounded
from burntbeats.midi.engine import ConversionSettings

SETTING_NAMES = frozenset(ConversionSettings.model_fields)
UPLOAD_FIELDS = ("file", "files")
MAX_FORM_FILES = 64
MAX_FORM_FIELDS = 200

SETTINGS_DOC = (
    "Conversion settings (all optional): onset_threshold, frame_threshold, minimum_note_length_ms, "
    "minimum_frequency, maximum_frequency, melodia_trick, multiple_pitch_bends, pitch_bends, midi_tempo, "
    "quantize (1/4, 1/8, 1/16, 1/32, 1/4T, 1/8T, 1/16T), program (General MIDI 0-127), drums."
)

Model = TypeVar("Model", bound=BaseModel)


def _json_text(value: Any) -> Any:
    """A form sends nested values as JSON text; a JSON body sends them as they are."""
    if isinstance(value, str):
        try:
            return loads_bounded(value)
        except JsonBodyError as exc:
            raise ValueError(str(exc).replace("The request body", "The value")) from None
    return value


class StemSource(BaseModel):
    """One stem of a finished stems job (no re-upload); its token in `source_token` or X-Job-Token."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    source_job: str | None = Field(None, max_length=64, description="A finished stems job's id.")
    stem: str | None = Field(None, max_length=120, description="The stem to convert, e.g. vocals.")
    source_token: str | None = Field(None, max_length=1024, description="The stems job's job_token.")
    track_name: str | None = Field(
        None, description="Track name (default: the stem or file name); 80 characters at most."
    )


class _NestedSettings(BaseModel):
    settings: ConversionSettings | None = Field(None, description="The settings as one object (JSON text in a form).")

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_from_text(cls, value: Any) -> Any:
        return _json_text(value)


class ConvertRequest(StemSource, _NestedSettings, ConversionSettings):
    """POST /convert's fields besides the upload: a stem source and/or settings, flat or under `settings`."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    def conversion_settings(self) -> ConversionSettings:
        return merged_settings(self, self.settings)


class BatchItem(StemSource, ConversionSettings):
    """A stem to convert in a batch; its own settings override the batch's."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class BatchRequest(_NestedSettings, ConversionSettings):
    """POST /batch's fields besides the uploads: stem items and the settings shared by every item."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    items: list[BatchItem] = Field(
        default_factory=list, max_length=1000,
        description="Stems to convert (a JSON list in a form; repeated `items` fields add up).",
    )

    @field_validator("items", mode="before")
    @classmethod
    def _items_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            out: list[Any] = []
            for part in value:
                parsed = _json_text(part)
                out.extend(parsed if isinstance(parsed, list) else [parsed])
            return out
        return value

    def conversion_settings(self) -> ConversionSettings:
        return merged_settings(self, self.settings)


def merged_settings(flat: BaseModel, nested: ConversionSettings | None = None,
                    base: ConversionSettings | None = None, loc: tuple = ()) -> ConversionSettings:
    """`base` < `nested` < the settings given flat; only the ones that were given count."""
    raw = base.model_dump(exclude_defaults=True) if base else {}
    raw.update(nested.model_dump(exclude_unset=True) if nested else {})
    raw.update(flat.model_dump(include=SETTING_NAMES, exclude_unset=True))
    try:
        return ConversionSettings.model_validate(raw)
    except ValidationError as exc:  # only the cross-field check can fail here
        raise validation_error(exc, loc) from None


class JobRef(BaseModel):
    job_id: str = Field(..., max_length=64)
    job_token: str | None = Field(None, max_length=1024)


class MergeSourceRef(JobRef):
    name: str | None = Field(None, max_length=80, description="Track name (default: the stem or file name).")
    program: int | None = Field(None, ge=0, le=127, description="General MIDI program (default: the job's).")
    drums: bool | None = Field(None, description="Put this source on the drum channel (10).")


class MergeRequest(BaseModel):
    sources: list[MergeSourceRef] = Field(..., min_length=1, max_length=32)
    tempo: float | None = Field(None, ge=20, le=300, description="Default: the first source's MIDI tempo.")
    title: str | None = Field(None, max_length=120)


class ExportRequest(BaseModel):
    mode: Literal["stems"] = Field("stems", description="v1: `stems` = one .mid per selected stem + merged.mid.")
    selected_stems: list[str] | None = Field(None, max_length=32, description="Default: every stem the sources have.")
    source_jobs: list[JobRef] = Field(..., min_length=1, max_length=32,
                                      description="Finished MIDI conversions and/or stems jobs (ids + tokens).")
    settings: ConversionSettings | None = Field(None, description="For stems that still need converting.")
    title: str | None = Field(None, max_length=120)


class NotesEdit(BaseModel):
    """PUT /notes: the editor's note list (checked note by note by `validate_notes`), or just the list."""

    notes: list[Any] = Field(..., description="[{pitch, start_s, end_s, velocity, pitch_bends}, ...]")
    base_version: StrictInt | None = Field(None, description="Refuse the edit (409) if the notes changed since.")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return {"notes": value} if isinstance(value, list) else value


def validation_error(exc: ValidationError, loc: tuple = ()) -> RequestValidationError:
    """Pydantic's errors as the app's 422 (`Invalid request. <field>: <what is wrong>`), located in the body."""
    errors = []
    for err in exc.errors():
        where = ("body", *loc, *(err.get("loc") or ("settings",)))  # no location: the settings' cross-field check
        msg = err.get("msg", "invalid value")
        if err.get("type") == "extra_forbidden":
            msg = f"not a field of this request. {SETTINGS_DOC}"
        errors.append({"loc": where, "msg": msg, "type": err.get("type")})
    return RequestValidationError(errors)


async def read_request(
    request: Request, model: type[Model],
) -> tuple[Model, list[tuple[str, UploadFile]], FormData | None]:
    """A JSON object or a form validated as `model`: (fields, uploaded files, the form to close)."""
    fields: dict[str, Any]
    files: list[tuple[str, UploadFile]] = []
    form = None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if is_json(request):
        try:
            body = loads_bounded(await request.body())
        except JsonBodyError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if not isinstance(body, dict):
            raise HTTPException(status_code=422, detail="The request body must be a JSON object.")
        fields = body
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
        fields = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((key, value))
            elif key in fields:  # repeated: a list (an error for single-valued fields)
                fields[key] = (fields[key] if isinstance(fields[key], list) else [fields[key]]) + [value]
            else:
                fields[key] = value
    else:
        raise HTTPException(
            status_code=415,
            detail="Send multipart/form-data (an audio `file` and settings) or a JSON object (`source_job`, `stem`).",
        )
    # An empty field means "the default"; text in the upload fields is not an upload (ignored, as before).
    given = {k: v for k, v in fields.items()
             if k not in UPLOAD_FIELDS and not (isinstance(v, str) and v.strip() == "")}
    try:
        if form is not None:
            _check_repeated(given, model)
        return model.model_validate(given), files, form
    except (ValidationError, RequestValidationError) as exc:
        if form is not None:
            await form.close()
        raise validation_error(exc) if isinstance(exc, ValidationError) else exc from None


def _check_repeated(fields: dict[str, Any], model: type[BaseModel]) -> None:
    """A form field given twice is a list: fine for list fields (`items`), a clear 422 for the rest."""
    repeatable = {name for name, field in model.model_fields.items()
                  if getattr(field.annotation, "__origin__", None) is list}
    errors = [{"loc": ("body", key), "msg": "give it once", "type": "repeated_field"}
              for key, value in fields.items() if isinstance(value, list) and key not in repeatable]
    if errors:
        raise RequestValidationError(errors)


def body_schema(model: type[BaseModel], upload: dict[str, Any], json_example: dict) -> dict:
    """openapi_extra for a route that reads `model` from a form (with `upload` fields) or a JSON object."""
    schema = _inline_refs(model.model_json_schema())
    form_props = {name: {"type": "string"} if name in ("settings", "items") else prop
                  for name, prop in schema["properties"].items()}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": {**upload, **form_props}}},
                "application/json": {"schema": {**schema, "title": model.__name__}, "example": json_example},
            },
        }
    }


def _inline_refs(schema: dict) -> dict:
    """The model's JSON schema with its `$defs` written in place (openapi_extra cannot add components)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
