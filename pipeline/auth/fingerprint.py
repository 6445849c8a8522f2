"""Keyed credential fingerprints: HMAC-SHA256 with a configured secret, never a plain hash."""

from __future__ import annotations

import hmac
from functools import lru_cache

PREFIX = "hmac-sha256:"
HEX_CHARS = 32  # 128 bits: collision-free for any realistic number of credentials


class Fingerprinter:
    """Maps credential material to `hmac-sha256:<hex>`; the secret never leaves this object."""

    __slots__ = ("__weakref__", "_cached", "_secret")

    def __init__(self, secret: bytes, cache_size: int = 65_536) -> None:
        if len(secret) < 16:
            raise ValueError("the fingerprint secret must be at least 16 bytes")
        self._secret = secret
        self._cached = lru_cache(maxsize=cache_size)(self._compute)

    def _compute(self, material: str) -> str:
        digest = hmac.digest(self._secret, material.encode("utf-8", "surrogatepass"), "sha256")
        return PREFIX + digest.hex()[:HEX_CHARS]

    def __call__(self, material: str) -> str:
        return self._cached(material)

    def __repr__(self) -> str:
        return "Fingerprinter(secret=<hidden>)"


def is_fingerprint(value: str) -> bool:
    """True if `value` has the shape of a restguard fingerprint."""
    if not value.startswith(PREFIX) or len(value) != len(PREFIX) + HEX_CHARS:
        return False
    try:
        int(value[len(PREFIX) :], 16)
    except ValueError:
        return False
    return True
