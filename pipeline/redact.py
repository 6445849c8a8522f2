"""Redaction of text that may hold credentials, for dead letters and error messages."""

from __future__ import annotations

import re

MASK = "[REDACTED]"
# Quoted, listed (a JSON array: repeated headers) or bare values that follow a credential-ish
# name: "authorization": "...", "cookie": ["a=1", "JSESSIONID=..."], token=...
_NAMED = re.compile(
    r"""(?ix)
    (?P<name>authorization|cookie|set-cookie|password|passwd|os_password|secret|token|api[_-]?key
        |access_token|jwt|oauth_signature|oauth_token|x-api-key|credential[s]?|session)
    (?P<sep>["']?\s*[:=]\s*)
    (?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|\[(?:"(?:[^"\\]|\\.)*"|[^\]"])*\]|[^\s&,;}\]]+)
    """
)
# Authorization-style values anywhere: Basic/Bearer/OAuth/Negotiate/NTLM/Digest + material.
# Never a backslash: eating the one of an escaped quote (`username=\"`) would end a JSON string
# early for _NAMED, which then masks only its start.
_SCHEME = re.compile(r"(?i)\b(basic|bearer|oauth|negotiate|ntlm|digest)\s+[^\s\"',;}\\]+")
# Long runs of token-like characters (JWTs, keys, base64 blobs).
_LONG = re.compile(r"[A-Za-z0-9+/=_.~-]{24,}")


def redact(text: str) -> str:
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _NAMED.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", text)
    return _LONG.sub(MASK, text)


def excerpt(raw: bytes, limit: int = 512) -> str:
    """A redacted, bounded, printable excerpt of raw input."""
    text = raw[: limit * 4].decode("utf-8", "replace")
    text = redact(text)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return text[:limit]
