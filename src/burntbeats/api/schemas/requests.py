"""Request bodies: form models for stems and speech uploads, the server-export JSON body.

Form fields arrive as text; each validator accepts what the old handlers accepted (case and spaces
ignored) and a bad value is a 422 naming the field: "Invalid request. stems: must be one of 2, 4, 6 (got '3')."
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from burntbeats.jobs.context import JobError
from burntbeats.separation.base import STEM_LAYOUTS
from burntbeats.separation.mixdown import MAX_GAIN
from burntbeats.speech.job import parse_params

QUALITIES = ("fast", "balanced", "best")


def invalid(message: str) -> PydanticCustomError:
    # The message goes through the context so braces in user input are never read as a template.
    return PydanticCustomError("invalid_value", "{message}", {"message": message})


def choose(value: Any, choices: tuple) -> Any:
    for choice in choices:
        if str(value).strip().lower() == str(choice).lower():
            return choice
    raise invalid(f"must be one of {', '.join(str(c) for c in choices)} (got {value!r}).")


class StemsSplitForm(BaseModel):
    stems: int = Field(2, description="2 = vocals + instrumental, 4 = vocals, drums, bass, other, 6 = vocals, "
                       "drums, bass, guitar, piano, other (needs the htdemucs_6s model installed, else 422).")
    quality: str = Field("balanced", description="fast | balanced | best")
    bit_depth: int = Field(16, description="Bit depth of the WAV stems: 16 or 24.")

    @field_validator("stems", "quality", "bit_depth", mode="before")
    @classmethod
    def _choice(cls, value: Any, info: ValidationInfo) -> Any:
        choices = {"stems": tuple(STEM_LAYOUTS), "quality": QUALITIES, "bit_depth": (16, 24)}
        return choose(value, choices[info.field_name])


class StemsExpandForm(BaseModel):
    quality: str | None = Field(None, description="fast | balanced | best; defaults to the original job's quality.")

    @field_validator("quality", mode="before")
    @classmethod
    def _choice(cls, value: Any) -> Any:
        return choose(value, QUALITIES) if value not in (None, "") else None


class SpeechEnhanceForm(BaseModel):
    engine: str = Field("balanced", description="balanced (DeepFilterNet 3, uses every core) | best (DeepFilterNet 3 "
                        "as one continuous stream) | fast (RNNoise). Engine names rnnoise / deepfilternet also work.")
    atten_limit_db: float | None = Field(None, description="Attenuation limit in dB (1-100): keep some of the "
                                         "background for a natural sound, e.g. 12-24; 100 = no limit. Empty = the "
                                         "engine's default: no limit for balanced/best, 15 for fast.")
    sample_rate: str = Field("original", description="Output sample rate: original | 48000.")
    channels: str = Field("keep", description="keep (mono stays mono, stereo stays stereo; more channels fold to "
                          "stereo) | mono (down-mix).")
    loudness_lufs: float | None = Field(None, description="Normalise to this integrated loudness (-40 to -5 LUFS, "
                                        "e.g. -16 for podcasts, -23 for broadcast). Empty = unchanged.")
    highpass_hz: float | None = Field(None, description="Rumble high-pass cut-off (20-300 Hz, e.g. 80). "
                                      "Empty or 0 = off.")
    bit_depth: int = Field(16, description="WAV bit depth: 16 or 24.")

    @field_validator("*", mode="before")
    @classmethod
    def _speech_rule(cls, value: Any, info: ValidationInfo) -> Any:
        # The same rules as the CLI and the job (burntbeats.speech.job.parse_params), one field at a time.
        try:
            return getattr(parse_params({info.field_name: value}), info.field_name)
        except JobError as exc:
            raise invalid(str(exc)) from None


class StemSettings(BaseModel):
    gain: float = Field(1.0, ge=0.0, le=MAX_GAIN, description="Linear gain (1 = unchanged).")
    pan: float = Field(0.0, ge=-1.0, le=1.0, description="-1 = left, 0 = centre, 1 = right (equal-power).")
    mute: bool = False
    solo: bool = False


class ServerExportRequest(BaseModel):
    job_id: str = Field(..., max_length=32, description="A finished stems job.")
    job_token: str = Field(..., max_length=512, description="That job's token.")
    format: Literal["wav", "mp3"] = "wav"
    stems: dict[str, StemSettings] = Field(default_factory=dict, description="Per-stem settings; missing = defaults.")
    master_gain: float = Field(1.0, ge=0.0, le=MAX_GAIN)
    peak_control: Literal["off", "limit", "normalize"] = Field(
        "off", description="limit = a look-ahead limiter to -1 dBFS; normalize = one gain that puts the peak at "
        "-1 dBFS; off = clip what goes over full scale (the result counts those samples).")


class JobRenameRequest(BaseModel):
    """PATCH /api/jobs/{job_id}: the job's display title (the history's name for it)."""

    title: str | None = Field(None, max_length=200,
                              description="Up to 200 characters (spaces trimmed); null or empty = the upload's name.")

    @field_validator("title")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ch < " " and ch not in "\t\n\r" for ch in value):
            raise invalid("must not contain control characters.")
        return value
