"""Sealed credentials in a RequestEvent: every credential of one event in one box.

A gateway moves the credential headers (Authorization, Proxy-Authorization, Cookie, the API-key
headers, any header named like a token or secret) into the box, and with them the original query
when it has secret parameters (the visible query keeps them as REDACTED, as the audit trail
does). The box is bound to the event id. Opening restores the event exactly and validates it
like any incoming event: anyone with the public key can seal, so a box is input, not trust.

Box content: `{"h": {header: value}, "q": "original query"}` (q only when the query was sealed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from pipeline.auth.query import parse_query, redact_query
from pipeline.auth.seal import Opener, Sealer, sealer_from, split_box
from pipeline.errors import (
    EventParseError,
    InvalidEventError,
    SealFormatError,
    UnknownSealKeyError,
)
from schemas.request import MAX_QUERY, RequestEvent, normalize_headers
from schemas.settings import ClassifierSettings, Settings

# Always credentials, whatever the settings say.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# A header whose name holds one of these carries a secret too (X-Auth-Token, X-Api-Secret …).
_SECRET_WORDS = (
    "authorization",
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api-key",
    "api_key",
    "session",
    "credential",
    "signature",
)


@lru_cache(maxsize=4096)
def _named_like_a_secret(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS)


@dataclass(frozen=True, slots=True)
class CredentialParts:
    """Where a RequestEvent may carry credentials, beyond the fixed headers."""

    api_key_headers: frozenset[str]
    api_key_params: frozenset[str]

    @classmethod
    def from_settings(cls, settings: ClassifierSettings) -> CredentialParts:
        return cls(
            frozenset(settings.api_key_headers),
            frozenset(p.lower() for p in settings.api_key_params),
        )

    def is_credential_header(self, name: str) -> bool:
        """`name` is lower-case, as RequestEvent keeps it."""
        return (
            name in CREDENTIAL_HEADERS
            or name in self.api_key_headers
            or (name[:1] != ":" and _named_like_a_secret(name))  # ":auth-scheme" is no secret
        )


class EventSealer:
    """Seals the credentials of events (the gateway side)."""

    def __init__(self, sealer: Sealer, parts: CredentialParts) -> None:
        self.sealer = sealer
        self.parts = parts

    @property
    def kid(self) -> str:
        return self.sealer.kid

    def seal(self, event: RequestEvent) -> RequestEvent:
        """The event with its credentials in one box; unchanged if it carries none."""
        is_credential = self.parts.is_credential_header
        sealed = {k: v for k, v in event.headers.items() if is_credential(k)}
        query = event.query
        visible = query
        if query and "=" in query:
            redacted, changed = redact_query(parse_query(query), self.parts.api_key_params)
            if changed:
                visible = redacted
        if event.sealed is not None:
            if sealed or visible != query:
                raise SealFormatError("an already sealed event carries credentials in clear")
            return event
        if not sealed and visible == query:
            return event
        content: dict[str, Any] = {"h": sealed}
        if visible != query:
            content["q"] = query
        box = self.sealer.seal(orjson.dumps(content), event.event_id.encode())
        headers = (
            {k: v for k, v in event.headers.items() if k not in sealed} if sealed else event.headers
        )
        return event.model_copy(update={"headers": headers, "query": visible, "sealed": box})


def open_event(event: RequestEvent, opener: Opener | None) -> RequestEvent:
    """The event with its sealed credentials back in place (itself if it has none); SealError
    if they cannot be opened."""
    if event.sealed is None:
        return event
    if opener is None:
        kid, _, _ = split_box(event.sealed)
        raise UnknownSealKeyError(kid, ())
    content = _content(opener.open(event.sealed, event.event_id.encode()))
    if not content["h"].keys().isdisjoint(event.headers):
        raise SealFormatError("a sealed header is also in clear")
    # Validated by the contract's own rules: anyone with the public key can seal.
    try:
        headers = normalize_headers({**event.headers, **content["h"]}) if content["h"] else None
    except ValueError as err:
        raise SealFormatError(f"headers: {err}") from None
    update: dict[str, Any] = {"sealed": None}
    if headers is not None:
        update["headers"] = headers
    if "q" in content:
        query: str = content["q"]
        if len(query) > MAX_QUERY:
            raise SealFormatError(f"the query is over the limit of {MAX_QUERY} chars")
        update["query"] = query.removeprefix("?") or None
    return event.model_copy(update=update)


def try_open(event: RequestEvent, opener: Opener | None) -> RequestEvent | InvalidEventError:
    """open_event with its failure as a value, for loops that dead-letter and go on."""
    try:
        return open_event(event, opener)
    except InvalidEventError as err:
        return err
    except Exception as err:  # never a crash, whatever the box holds
        return EventParseError(f"sealed credentials unopenable ({type(err).__name__})")


def _content(plaintext: bytes) -> dict[str, Any]:
    try:
        content = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        raise SealFormatError("the box holds no JSON") from None
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("h"), dict)
        or not all(isinstance(v, str) for v in content["h"].values())
        or not isinstance(content.get("q", ""), str)
        or not set(content) <= {"h", "q"}
    ):
        raise SealFormatError("the box holds no credential set")
    return content


def gateway_sealer(settings: Settings) -> EventSealer | None:
    """What gateways seal with, or None when secrets.seal_credentials is off."""
    sealer = sealer_from(settings.secrets)
    if sealer is None:
        return None
    return EventSealer(sealer, CredentialParts.from_settings(settings.classifier))
