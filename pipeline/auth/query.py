"""Credentials carried in the URL query string, and redaction of the query before storage."""

from __future__ import annotations

from urllib.parse import unquote_plus

from pipeline.auth.credentials import Credential
from pipeline.auth.schemes import oauth1_credential
from pipeline.auth.tokens import TokenContext, malformed, token_credential
from schemas.vocabulary import Location, Scheme

REDACTED = "REDACTED"
_Q = Location.QUERY
# Parameter names whose value is always a secret.
SECRET_PARAMS = frozenset(
    {"os_password", "password", "access_token", "jwt", "oauth_token", "oauth_signature", "token"}
)
_SECRET_WORDS = ("password", "passwd", "secret", "token")


def parse_query(query: str) -> list[tuple[str, str, str]]:
    """(raw pair, decoded name, decoded value) for each `&`-separated pair, in order."""
    out = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        try:
            out.append((pair, unquote_plus(name), unquote_plus(value)))
        except (UnicodeDecodeError, ValueError):
            out.append((pair, name, value))
    return out


def is_secret_param(name: str, api_key_params: frozenset[str]) -> bool:
    lowered = name.lower()
    return (
        lowered in SECRET_PARAMS
        or lowered in api_key_params
        or any(word in lowered for word in _SECRET_WORDS)
    )


def redact_query(
    pairs: list[tuple[str, str, str]], api_key_params: frozenset[str]
) -> tuple[str, bool]:
    """The query with secret values replaced by REDACTED, and whether anything was replaced."""
    changed = False
    parts = []
    for raw, name, value in pairs:
        if value and is_secret_param(name, api_key_params):
            raw_name = raw.partition("=")[0]
            parts.append(f"{raw_name}={REDACTED}")
            changed = True
        else:
            parts.append(raw)
    return "&".join(parts), changed


def query_credentials(
    pairs: list[tuple[str, str, str]], api_key_params: frozenset[str], ctx: TokenContext
) -> list[Credential]:
    """Every credential in the query: os_username/os_password, OAuth 1.0, tokens, API keys;
    at most one of each (the first of a repeated name), so at most 4 + len(api_key_params)."""
    params: dict[str, str] = {}
    for _, name, value in pairs:
        params.setdefault(name, value)
    found: list[Credential] = []
    if "os_password" in params:
        user, password = params.get("os_username", ""), params["os_password"]
        material = f"{user}:{password}"
        if not user:
            found.append(malformed(_Q, "os_password", "os_password without os_username"))
        elif len(material) > ctx.max_token_bytes:  # as a token or an Authorization header is
            found.append(
                malformed(
                    _Q,
                    "os_password",
                    f"os_username and os_password of {len(material)} bytes are over the "
                    f"{ctx.max_token_bytes} limit",
                )
            )
        else:
            found.append(
                Credential(
                    Scheme.BASIC_QUERY,
                    _Q,
                    "os_password",
                    secret=material,
                    fingerprint=ctx.fingerprint(material),
                    principal=user[:256],
                )
            )
    if "oauth_consumer_key" in params or "oauth_signature" in params:
        found.append(oauth1_credential(params, _Q, "oauth_consumer_key", ctx))
    for name in ("access_token", "jwt"):
        if name in params:
            found.append(
                token_credential(params[name], _Q, name, ctx, default=Scheme.BEARER_OPAQUE)
            )
    # One credential per API-key parameter, however many spellings of it the query repeats
    # (api_key, API_KEY, Api_Key …): the lower-case spelling if sent, else the first sent.
    api_keys: dict[str, str] = {}
    for name in params:
        lowered = name.lower()
        if lowered in api_key_params and (lowered not in api_keys or name == lowered):
            api_keys[lowered] = name
    for name in api_keys.values():
        found.append(token_credential(params[name], _Q, name, ctx, default=Scheme.API_KEY))
    return found
