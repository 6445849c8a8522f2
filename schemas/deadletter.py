"""DeadLetter: an input that could not be used, with the reason and where it came from."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    """Never holds the raw input: only its size and a redacted excerpt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(max_length=2048)
    error: str = Field(description="the error class, e.g. EventParseError")
    source: str = Field(description="a topic name or a file path")
    partition: int | None = None
    offset: int | None = None
    line: int | None = None
    received_at: AwareDatetime
    size: int = Field(ge=0)
    excerpt: str = Field(default="", max_length=1024)
