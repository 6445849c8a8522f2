"""Opaque OAuth 2.0 tokens: RFC 7662 introspection, each answer cached no longer than the
token's own `exp` (and at most `cache_max_s`)."""

from __future__ import annotations

import base64
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline.auth.bearer import numeric_date, token_scopes
from pipeline.auth.results import Check
from pipeline.errors import ConfigError
from schemas.settings import IntrospectionSettings
from schemas.vocabulary import Outcome

log = logging.getLogger(__name__)
Post = Callable[[str, bytes, dict[str, str], float], bytes]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https or loopback
        data: bytes = resp.read(256 * 1024)
    return data


@dataclass(frozen=True, slots=True)
class Answer:
    active: bool
    claims: dict[str, Any]
    until: float  # monotonic time the answer may be used until
    error: str | None = None


class Introspector:
    def __init__(
        self,
        settings: IntrospectionSettings,
        post: Post = http_post,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 50_000,
    ) -> None:
        self.settings = settings
        self._post = post
        self._clock = clock
        self._cache: OrderedDict[str, Answer] = OrderedDict()
        self._cache_size = cache_size
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        if secret is None and settings.client_secret_file is not None:
            try:
                secret = Path(settings.client_secret_file).read_text().strip()
            except OSError as err:
                raise ConfigError(
                    "validation.introspection.client_secret_file", f"cannot be read: {err.strerror}"
                ) from err
        basic = f"{settings.client_id}:{secret or ''}".encode()
        self._auth = "Basic " + base64.b64encode(basic).decode()

    def wanted(self, token: str) -> bool:
        answer = self._cache.get(token)
        return answer is None or answer.until <= self._clock()

    def fetch_many(self, tokens: Iterable[str]) -> None:
        """Introspect tokens not cached (a few at a time, each bounded by the timeout)."""
        todo = [t for t in dict.fromkeys(tokens) if self.wanted(t)]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            for token, answer in zip(todo, pool.map(self._introspect, todo), strict=True):
                self._store(token, answer)

    def _store(self, token: str, answer: Answer) -> None:
        self._cache[token] = answer
        self._cache.move_to_end(token)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _introspect(self, token: str) -> Answer:
        now = self._clock()
        body = urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            doc = orjson.loads(
                self._post(self.settings.endpoint, body, headers, self.settings.timeout_s)
            )
            if not isinstance(doc, dict) or not isinstance(doc.get("active"), bool):
                raise ValueError("answer has no boolean 'active'")
        except (OSError, ValueError, urllib.error.URLError) as err:
            # Do not cache failures for long: try again on the next use after a short pause.
            return Answer(False, {}, now + 5.0, f"{type(err).__name__}")
        until = now + self.settings.cache_max_s
        exp = numeric_date(doc.get("exp"))
        if exp is not None:
            until = min(until, now + max(0.0, exp - time.time()))
        return Answer(doc["active"], doc, until)

    def check(self, token: str, at: datetime) -> Check:
        answer = self._cache.get(token)
        if answer is None:
            return Check(Outcome.NOT_VALIDATED, "introspection has not answered yet")
        if answer.error is not None:
            return Check(Outcome.NOT_VALIDATED, f"introspection unavailable ({answer.error})")
        claims = answer.claims
        # `active` is the endpoint's answer; an `exp` that is no NumericDate in a datetime's
        # range (true, "soon", 1e300) is ignored rather than believed or raised on.
        exp = numeric_date(claims.get("exp"))
        if not answer.active:
            if exp is not None and at.timestamp() > exp:
                return Check(Outcome.EXPIRED, "introspection: token expired")
            return Check(
                Outcome.UNKNOWN_CREDENTIAL,
                "introspection: token is not active (revoked, expired or unknown)",
            )
        if exp is not None and at.timestamp() > exp:
            return Check(Outcome.EXPIRED, "token expired")
        user = claims.get("username") or claims.get("sub") or claims.get("client_id")
        expires = datetime.fromtimestamp(exp, UTC) if exp is not None else None
        return Check(
            Outcome.VALID,
            "active per introspection",
            user if isinstance(user, str) else None,
            expires,
            token_scopes(claims, ["scope", "scp"]),
        )
