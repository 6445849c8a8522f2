"""Query parameters of the API, validated at the edge: typed, bounded, unknown ones refused.
Nothing a caller sends reaches Elasticsearch as query text: only as typed filter values."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.cli.common import parse_when
from schemas.decision import SubjectType
from schemas.vocabulary import EventOutcome, Outcome, Scheme, Verdict

OUTCOMES = frozenset(o.value for o in EventOutcome) | frozenset(o.value for o in Outcome)
Text = Annotated[str, Field(min_length=1, max_length=256)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)

    @field_validator("since", "until")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_when(value)
            except Exception as err:
                raise ValueError("a duration such as 24h or 7d, or an ISO 8601 time") from err
        return value

    def window(self) -> tuple[datetime | None, datetime | None]:
        return (
            parse_when(self.since) if self.since else None,
            parse_when(self.until) if self.until else None,
        )


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as err:
        raise ValueError("cursor is not one this API gave out") from err
    if (
        not isinstance(value, list)
        or len(value) > 4
        or not all(isinstance(v, str | int | float) for v in value)
    ):
        raise ValueError("cursor is not one this API gave out")
    return value


def encode_cursor(values: list[Any] | None) -> str | None:
    return None if values is None else base64.urlsafe_b64encode(orjson.dumps(values)).decode()


class AuditParams(_Params):
    scheme: Scheme | None = None
    outcome: Annotated[str, Field(max_length=32)] | None = None
    verdict: Verdict | None = None
    user: Text | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, Field(max_length=512)] | None = None

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str | None) -> str | None:
        if value is not None and value not in OUTCOMES:
            raise ValueError(f"one of {', '.join(sorted(OUTCOMES))}")
        return value

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_network(value, strict=False)
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        decode_cursor(value)
        return value


class StatsParams(_Params):
    interval: Literal["hour", "day"] = "day"
    top: Annotated[int, Field(ge=1, le=100)] = 10


class TimelineParams(_Params):
    user: Text | None = None
    credential: Annotated[str, Field(pattern=r"^hmac-sha256:[0-9a-f]{32}$")] | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200

    @model_validator(mode="after")
    def _one(self) -> TimelineParams:
        if sum(v is not None for v in (self.user, self.credential, self.ip)) != 1:
            raise ValueError("give exactly one of user, credential, ip")
        if self.ip is not None:
            ipaddress.ip_address(self.ip)
        return self


class DecisionParams(_Params):
    subject_type: SubjectType | None = None
    subject: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, Field(max_length=512)] | None = None

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        decode_cursor(value)
        return value
