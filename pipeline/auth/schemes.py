"""Parsers for the Authorization header, one per scheme keyword, kept in a registry."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from urllib.parse import unquote

from pipeline.auth.credentials import Credential
from pipeline.auth.tokens import TokenContext, malformed, token_credential
from schemas.vocabulary import Location, Scheme

HeaderParser = Callable[[str, TokenContext], Credential]

_PARSERS: dict[str, HeaderParser] = {}
_NAME = "authorization"
_HEADER = Location.HEADER
_NTLMSSP = "TlRMTVNTUA"  # base64 of b"NTLMSSP", the start of every NTLM message
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# An auth-param. Linear on any input: a name starts only where no name character precedes it
# (finditer would otherwise retry every suffix of a long run of name characters, each attempt
# scanning to its end: quadratic), and no quantifier gives back what it took (possessive).
_PARAM = re.compile(
    r'(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)\s*+=\s*+(?:"((?:[^"\\]|\\.)*+)"|([^\s,]*+))'
)


def register_scheme(*keywords: str) -> Callable[[HeaderParser], HeaderParser]:
    """Register a parser for Authorization header keywords (case-insensitive)."""

    def add(fn: HeaderParser) -> HeaderParser:
        for keyword in keywords:
            _PARSERS[keyword.lower()] = fn
        return fn

    return add


def registered_keywords() -> list[str]:
    return sorted(_PARSERS)


def parse_authorization(value: str, ctx: TokenContext) -> Credential:
    """The credential carried by one Authorization header value."""
    if len(value) > ctx.max_token_bytes + 64:
        return malformed(_HEADER, _NAME, f"Authorization header over {ctx.max_token_bytes} bytes")
    value = value.strip()
    if not value:
        return malformed(_HEADER, _NAME, "empty Authorization header")
    keyword, _, rest = value.partition(" ")
    parser = _PARSERS.get(keyword.lower())
    if parser is None:
        # Never echo the keyword: a bare token sent without a scheme would land in the record.
        return malformed(_HEADER, _NAME, "unsupported authorization scheme")
    return parser(rest.strip(), ctx)


def auth_params(text: str) -> dict[str, str]:
    """RFC 7235 auth-params (`a="b", c=d`), values unquoted."""
    out: dict[str, str] = {}
    for match in _PARAM.finditer(text):
        quoted, bare = match.group(2), match.group(3)
        out[match.group(1)] = quoted.replace('\\"', '"') if quoted is not None else bare
    return out


def decode_basic(encoded: str) -> tuple[str, str] | str:
    """(user, password) from a Basic token, or the problem as a string."""
    if not encoded:
        return "empty Basic credentials"
    if not _B64.match(encoded) or len(encoded) % 4:
        return "Basic credentials are not valid base64"
    try:
        raw = binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        return "Basic credentials are not valid base64"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, colon, password = text.partition(":")
    if not colon:
        return "Basic credentials have no colon between user and password"
    if not user:
        return "Basic credentials have an empty user name"
    return user, password


@register_scheme("basic")
def _basic(rest: str, ctx: TokenContext) -> Credential:
    decoded = decode_basic(rest)
    if isinstance(decoded, str):
        return malformed(_HEADER, _NAME, decoded)
    user, password = decoded
    material = f"{user}:{password}"
    return Credential(
        Scheme.BASIC,
        _HEADER,
        _NAME,
        secret=material,
        fingerprint=ctx.fingerprint(material),
        principal=user[:256],
    )


@register_scheme("bearer")
def _bearer(rest: str, ctx: TokenContext) -> Credential:
    return token_credential(rest, _HEADER, _NAME, ctx, default=Scheme.BEARER_OPAQUE)


@register_scheme("oauth")
def _oauth1(rest: str, ctx: TokenContext) -> Credential:
    params = {k: unquote(v) for k, v in auth_params(rest).items()}
    return oauth1_credential(params, _HEADER, _NAME, ctx)


def oauth1_credential(
    params: dict[str, str], location: Location, name: str, ctx: TokenContext
) -> Credential:
    """An OAuth 1.0a credential from its protocol parameters (header or query)."""
    consumer = params.get("oauth_consumer_key", "")
    if not consumer:
        return malformed(location, name, "OAuth 1.0 request without oauth_consumer_key")
    if not params.get("oauth_signature"):
        return malformed(location, name, "OAuth 1.0 request without oauth_signature")
    if not params.get("oauth_signature_method"):
        return malformed(location, name, "OAuth 1.0 request without oauth_signature_method")
    token = params.get("oauth_token", "")
    material = f"{consumer}:{token}"
    if len(material) > ctx.max_token_bytes:  # reachable from the query, where only the
        # contract bounds the values (an Authorization header is bounded as a whole)
        return malformed(
            location,
            name,
            f"OAuth 1.0 consumer key and token of {len(material)} bytes are over the "
            f"{ctx.max_token_bytes} limit",
        )
    return Credential(
        Scheme.OAUTH1,
        location,
        name,
        secret=material,
        fingerprint=ctx.fingerprint(material),
        principal=consumer[:256],
        consumer_key=consumer[:256],
    )


@register_scheme("negotiate")
def _negotiate(rest: str, ctx: TokenContext) -> Credential:
    if not rest:
        return malformed(_HEADER, _NAME, "empty Negotiate token")
    if not _B64.match(rest):
        return malformed(_HEADER, _NAME, "Negotiate token is not valid base64")
    scheme = Scheme.NTLM if rest.startswith(_NTLMSSP) else Scheme.NEGOTIATE
    return Credential(scheme, _HEADER, _NAME, secret=rest, fingerprint=ctx.fingerprint(rest))


@register_scheme("ntlm")
def _ntlm(rest: str, ctx: TokenContext) -> Credential:
    if not rest or not _B64.match(rest):
        return malformed(_HEADER, _NAME, "NTLM token is missing or not valid base64")
    return Credential(Scheme.NTLM, _HEADER, _NAME, secret=rest, fingerprint=ctx.fingerprint(rest))


@register_scheme("digest")
def _digest(rest: str, ctx: TokenContext) -> Credential:
    params = auth_params(rest)
    user = params.get("username", "")
    if not user or not params.get("response"):
        return malformed(_HEADER, _NAME, "Digest credentials without username or response")
    # The response changes with every nonce; the stable identity is the user and realm.
    material = f"{user}@{params.get('realm', '')}"
    return Credential(
        Scheme.DIGEST,
        _HEADER,
        _NAME,
        secret=material,
        fingerprint=ctx.fingerprint(material),
        principal=user[:256],
    )
