"""RequestEvent: what a gateway sends for each REST call (the only record that may hold secrets)."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# Hard bounds of the contract; the classifier applies tighter, configurable ones to credentials.
MAX_PATH = 16_384
MAX_QUERY = 32_768
MAX_HEADER_VALUE = 32_768
MAX_HEADERS = 128
MAX_TEXT = 4_096
MAX_SEALED = 262_144

EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Method = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{1,16}$", to_upper=True, strip_whitespace=True)
]
ShortText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
SealedBox = Annotated[
    str, StringConstraints(max_length=MAX_SEALED, pattern=r"^rgs[0-9]+\.[A-Za-z0-9._-]+$")
]


def _event_id_optional(schema: dict[str, Any]) -> None:
    """Producers may leave event_id out: a stable one is derived from the content."""
    schema["required"] = [f for f in schema.get("required", []) if f != "event_id"]
    schema["properties"]["event_id"]["description"] = (
        "Unique id of the call; derived from the event's non-secret content when absent."
    )


class RequestEvent(BaseModel):
    """One REST call as seen by a gateway. Field names are the wire contract."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        str_strip_whitespace=False,
        json_schema_extra=_event_id_optional,
    )

    timestamp: AwareDatetime
    method: Method
    path: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH)]
    status: Annotated[int, Field(ge=0, le=999)]
    client_ip: str
    event_id: EventId
    request_id: ShortText | None = None
    query: Annotated[str, StringConstraints(max_length=MAX_QUERY)] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    user_agent: ShortText | None = None
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    bytes: Annotated[int, Field(ge=0)] | None = None
    gateway: ShortText | None = None
    username: ShortText | None = None
    sealed: SealedBox | None = Field(
        default=None,
        description="The event's credentials (credential headers; the query too when it has "
        "secret parameters, which stay there as REDACTED) sealed to the pipeline's public key: "
        "rgs1.<key id>.<ephemeral key>.<nonce and ciphertext>, bound to event_id. Only workers "
        "holding the private key can open it (pipeline/auth/seal.py).",
    )

    @field_validator("client_ip", mode="before")
    @classmethod
    def _ip(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("client_ip must be a string")
        return normalize_ip(value)

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.removeprefix("?")
            return value or None
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: object) -> dict[str, str]:
        return normalize_headers(value)

    @model_validator(mode="before")
    @classmethod
    def _stable_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("event_id"):
            data = dict(data)
            data["event_id"] = content_id(data)
        return data


def normalize_headers(value: object) -> dict[str, str]:
    """Header names are case-insensitive: lower-case them; join repeated names. ValueError if
    the headers break the contract's bounds."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("headers must be an object of header name to value")
    if len(value) > MAX_HEADERS:
        raise ValueError(f"{len(value)} headers, over the limit of {MAX_HEADERS}")
    out: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not name or len(name) > 256:
            raise ValueError("header names must be non-empty strings of at most 256 chars")
        if isinstance(raw, list):
            if not all(isinstance(v, str) for v in raw):
                raise ValueError(f"header {name[:64]!r} must be a string or list of strings")
            text = ("; " if name.lower() == "cookie" else ", ").join(raw)
        elif isinstance(raw, str):
            text = raw
        else:
            raise ValueError(f"header {name[:64]!r} must be a string")
        if len(text) > MAX_HEADER_VALUE:
            raise ValueError(
                f"header {name[:64]!r} is {len(text)} chars, over the limit of {MAX_HEADER_VALUE}"
            )
        key = name.lower()
        if key in out:
            text = out[key] + ("; " if key == "cookie" else ", ") + text
        out[key] = text
    return out


def normalize_ip(value: str) -> str:
    """The canonical text of an address; ValueError if it is none. Canonical IPv4, the common
    case, is checked by the C library (ipaddress would cost ~10 us a call)."""
    text = value.strip().strip("[]")
    try:
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text)) == text:
            return text
    except OSError:
        pass
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as err:
        raise ValueError("client_ip is not an IP address") from err


_ID_FIELDS = (
    "timestamp",
    "method",
    "path",
    "query",
    "status",
    "client_ip",
    "request_id",
    "user_agent",
    "latency_ms",
    "bytes",
    "gateway",
    "username",
)


def content_id(data: dict[str, Any], salt: str = "") -> str:
    """A stable event id from an event's non-secret content (header values never enter it:
    a plain hash over a password would make it crackable)."""
    headers = data.get("headers")
    names = sorted(str(k).lower() for k in headers) if isinstance(headers, dict) else []
    parts = [_plain(data.get(k)) for k in _ID_FIELDS]
    digest = hashlib.sha256(orjson.dumps([parts, names, salt])).hexdigest()
    return digest[:32]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return hex(value)  # past what orjson writes (and str() refuses over 4300 digits)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    # No valid field value (the event will be refused): any stable stand-in will do, where
    # str() of a deeply nested list recursed past Python's limit.
    return type(value).__name__
