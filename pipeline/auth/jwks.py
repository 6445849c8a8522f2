"""Issuer keys: JWKS from a file, a jwks_uri or OIDC discovery; cached, refetched on an unknown
`kid` at most every `jwks_min_refetch_s`, and the last good set kept while an issuer is down.

Only keys from these sources are ever used: keys a token offers in its own header (`jwk`, `jku`,
`x5u`, `x5c`) are never fetched and never trusted.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from pipeline.errors import ConfigError
from schemas.settings import IssuerSettings, ValidationSettings

log = logging.getLogger(__name__)
MAX_DOCUMENT_BYTES = 1024 * 1024

Fetch = Callable[[str, float], bytes]


def http_get(url: str, timeout: float) -> bytes:
    """GET a small JSON document (bounded size)."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https or loopback
        body: bytes = resp.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document over {MAX_DOCUMENT_BYTES} bytes")
    return body


def parse_jwks(raw: bytes) -> dict[str, PyJWK]:
    """kid → key for every usable key of a JWKS; keys without a kid get their index."""
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWKS: no 'keys' list")
    keys: dict[str, PyJWK] = {}
    for index, jwk in enumerate(doc["keys"]):
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        if any(name in jwk for name in ("d", "p", "q", "k")):
            raise ValueError("the JWKS holds private or symmetric key material")
        try:
            key = PyJWK(jwk)
        except PyJWKError as err:
            log.warning("skipping an unusable JWKS key (%s)", err)
            continue
        keys[str(jwk.get("kid") or f"#{index}")] = key
    if not keys:
        raise ValueError("the JWKS has no usable signing key")
    return keys


@dataclass
class IssuerKeys:
    config: IssuerSettings
    keys: dict[str, PyJWK] = field(default_factory=dict)
    fetched_at: float | None = None  # monotonic
    last_attempt: float | None = None
    last_error: str | None = None
    jwks_uri: str | None = None


class JwksStore:
    """The keys of every trusted issuer. Lookups are pure dict reads; `refresh` does the I/O."""

    def __init__(
        self,
        settings: ValidationSettings,
        fetch: Fetch = http_get,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self.issuers: dict[str, IssuerKeys] = {i.issuer: IssuerKeys(i) for i in settings.issuers}
        for state in self.issuers.values():
            if state.config.jwks_file is not None:
                self._load_file(state)

    def _load_file(self, state: IssuerKeys) -> None:
        path = state.config.jwks_file
        assert path is not None  # noqa: S101 - caller checked
        index = next(i for i, s in enumerate(self.settings.issuers) if s is state.config)
        setting = f"validation.issuers.{index}.jwks_file"
        try:
            state.keys = parse_jwks(Path(path).read_bytes())
        except OSError as err:
            raise ConfigError(setting, f"{path} cannot be read: {err.strerror}") from err
        except ValueError as err:
            raise ConfigError(setting, f"{path}: {err}") from err
        state.fetched_at = self._clock()

    def config(self, issuer: str) -> IssuerSettings | None:
        state = self.issuers.get(issuer)
        return state.config if state else None

    def keys(self, issuer: str) -> dict[str, PyJWK]:
        state = self.issuers.get(issuer)
        return state.keys if state else {}

    def wants(self, issuer: str, kid: str | None) -> bool:
        """True if a fetch could help: the kid is unknown and the rate limit allows one."""
        state = self.issuers.get(issuer)
        if state is None or state.config.jwks_file is not None:
            return False
        if state.keys and (kid is None or kid in state.keys):
            return False
        last = state.last_attempt
        return last is None or self._clock() - last >= self.settings.jwks_min_refetch_s

    def stale(self) -> list[str]:
        """Issuers whose keys are older than `jwks_refresh_s` (or never fetched)."""
        now = self._clock()
        return [
            name
            for name, s in self.issuers.items()
            if s.config.jwks_file is None
            and (s.fetched_at is None or now - s.fetched_at >= self.settings.jwks_refresh_s)
            and (s.last_attempt is None or now - s.last_attempt >= self.settings.jwks_min_refetch_s)
        ]

    def refresh(self, issuer: str) -> bool:
        """Fetch an issuer's keys now. On failure the last good keys stay. True on success."""
        state = self.issuers.get(issuer)
        if state is None or state.config.jwks_file is not None:
            return False
        with self._lock:
            state.last_attempt = self._clock()
            timeout = self.settings.jwks_timeout_s
            try:
                uri = state.config.jwks_uri or state.jwks_uri or self._discover(state, timeout)
                keys = parse_jwks(self._fetch(uri, timeout))
            except (OSError, ValueError, urllib.error.URLError) as err:
                state.last_error = f"{type(err).__name__}: {err}"[:500]
                log.warning(
                    "JWKS of %s not refreshed (%s); keeping %d known keys",
                    issuer,
                    state.last_error,
                    len(state.keys),
                )
                return False
            state.keys, state.jwks_uri = keys, uri
            state.fetched_at, state.last_error = self._clock(), None
            return True

    def _discover(self, state: IssuerKeys, timeout: float) -> str:
        url = state.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc: Any = orjson.loads(self._fetch(url, timeout))
        if not isinstance(doc, dict) or doc.get("issuer") != state.config.issuer:
            raise ValueError("discovery document names a different issuer")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str):
            raise ValueError("discovery document has no jwks_uri")
        IssuerSettings._url(uri)  # the same https-or-loopback rule as configured URIs
        return uri

    def status(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {
            name: {
                "keys": sorted(s.keys),
                "age_s": None if s.fetched_at is None else round(now - s.fetched_at, 1),
                "last_error": s.last_error,
            }
            for name, s in self.issuers.items()
        }
