"""Telling token kinds apart by shape (JWT, Jira/Confluence PAT, restguard key, opaque) without
any secret, and reading a JWT's header and claims without trusting them."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from pipeline.auth.credentials import Credential
from pipeline.auth.fingerprint import Fingerprinter
from schemas.vocabulary import Location, Scheme

# restguard-issued keys: rgk_<key id>_<secret>; the key id is public, the rest is the secret.
RESTGUARD_KEY = re.compile(r"^rgk_([a-z0-9]{8,32})_([A-Za-z0-9_-]{20,128})$")
# Jira/Confluence Data Center personal access tokens: base64 of "<numeric id>:<random bytes>".
_PAT_SHAPE = re.compile(r"^[A-Za-z0-9+/]{40,64}={0,2}$")
_PAT_DECODED = re.compile(rb"^\d{6,20}:")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class TokenContext:
    """What token parsing needs: the fingerprinter and the size bound."""

    fingerprint: Fingerprinter
    max_token_bytes: int


class JwtShapeError(ValueError):
    """A token has the shape of a JWT but its header or claims cannot be read."""


def b64url_decode(segment: str) -> bytes:
    if not _B64URL.match(segment):
        raise binascii.Error("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@lru_cache(maxsize=16_384)
def read_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, unverified. Raises JwtShapeError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtShapeError(f"a JWT has 3 segments, this has {len(parts)}")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        claims = orjson.loads(b64url_decode(parts[1]))
    except (binascii.Error, ValueError) as err:
        raise JwtShapeError("JWT header or payload is not base64url-encoded JSON") from err
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtShapeError("JWT header and payload must be JSON objects")
    if not isinstance(header.get("alg"), str):
        raise JwtShapeError("JWT header has no 'alg'")
    return header, claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def looks_like_pat(token: str) -> bool:
    if not _PAT_SHAPE.match(token):
        return False
    try:
        return _PAT_DECODED.match(base64.b64decode(token, validate=True)) is not None
    except binascii.Error:
        return False


def _text_claim(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:256]
    return None


def token_credential(
    token: str, location: Location, name: str, ctx: TokenContext, *, default: Scheme
) -> Credential:
    """Classify a bearer-style token by its shape; `default` is the scheme of an unknown shape."""
    if not token:
        return malformed(location, name, "empty token")
    if len(token) > ctx.max_token_bytes:
        return malformed(
            location, name, f"token of {len(token)} bytes is over the {ctx.max_token_bytes} limit"
        )
    if _WHITESPACE.search(token):
        return malformed(location, name, "token contains whitespace")
    match = RESTGUARD_KEY.match(token)
    if match:
        return Credential(
            Scheme.API_KEY,
            location,
            name,
            secret=token,
            fingerprint=ctx.fingerprint(token),
            token_id=f"rgk_{match.group(1)}",
        )
    if looks_like_jwt(token):
        try:
            header, claims = read_jwt(token)
        except JwtShapeError as err:
            return malformed(location, name, str(err))
        issuer = _text_claim(claims, "iss")
        jti = _text_claim(claims, "jti")
        return Credential(
            Scheme.BEARER_JWT,
            location,
            name,
            secret=token,
            fingerprint=ctx.fingerprint(token),
            principal=_text_claim(claims, "sub", "client_id", "azp"),
            issuer=issuer,
            token_id=f"{issuer or ''}#{jti}" if jti else None,
            header=header,
            claims=claims,
        )
    if looks_like_pat(token):
        return Credential(
            Scheme.PAT, location, name, secret=token, fingerprint=ctx.fingerprint(token)
        )
    return Credential(default, location, name, secret=token, fingerprint=ctx.fingerprint(token))


def malformed(location: Location, name: str, problem: str) -> Credential:
    """A credential that is present but unusable; never fingerprinted (it may be garbage)."""
    return Credential(Scheme.MALFORMED, location, name, problem=problem)
