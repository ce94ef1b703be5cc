"""GET /api/stems/modes: what each quality mode runs on this install, per stem count."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StemLayoutPublic(BaseModel):
    stems: int = Field(description="The stem count a split job may ask for.")
    names: list[str] = Field(description="The stems such a job makes, in order.")


class StemModePublic(BaseModel):
    quality: str = Field(description="The quality mode (the split form's `quality`).")
    title: str = Field(description="The mode's name for people, e.g. Balanced.")
    stems: int
    available: bool = Field(description="False: no engine of this install makes this many stems in this mode.")
    engine: str = Field(description="The engine a job with these settings runs now (its result's `engine`).")
    model: str = Field(description="Its model (the job result's `model`).")
    label: str = Field(description="For a menu, e.g. \"Balanced — Spleeter 2-stem (built in)\" or "
                       "\"Best — htdemucs_ft not installed: runs ...\".")
    note: str | None = Field(description="Why the mode's first choice does not run (the job's `engine_note`).")
    preferred: str = Field(description="The mode's first choice for this stem count.")
    fallback: bool = Field(description="True when something else than `preferred` runs.")


class StemModesPublic(BaseModel):
    default_quality: str
    layouts: list[StemLayoutPublic]
    modes: list[StemModePublic] = Field(description="One row per quality mode and stem count.")
