"""restguard API keys and registered personal access tokens: issuing, and judging a presented
one against the registry (fingerprint → latest CredentialEvent)."""

from __future__ import annotations

import fnmatch
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pipeline.auth.credentials import Credential
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.results import Check
from schemas.credential import CredentialEvent, CredentialStatus
from schemas.vocabulary import Outcome

KEY_PREFIX = "rgk_"


@dataclass(frozen=True)
class NewKey:
    """A freshly issued key: `secret` is shown once and never stored."""

    key_id: str
    secret: str
    fingerprint: str


def new_key(fingerprint: Fingerprinter) -> NewKey:
    """rgk_<key id>_<secret>: 10 hex chars of public id, 256 bits of secret."""
    key_id = secrets.token_hex(5)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(f"{KEY_PREFIX}{key_id}", secret, fingerprint(secret))


def path_matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def restriction_violated(record: CredentialEvent, client_ip: str, path: str) -> str | None:
    """Why this use is outside the key's restrictions (address or endpoint), if it is."""
    if record.ip_ranges:
        ip = ipaddress.ip_address(client_ip)
        if not any(ip.version == net.version and ip in net for net in record.ip_ranges):
            return "address outside the key's allowed ranges"
    if record.paths and not path_matches(path, record.paths):
        return "endpoint outside the key's allowed paths"
    return None


def decode_credential(key: bytes, value: bytes) -> CredentialEvent | None:
    """A registry record, or None if it is not one (or is filed under the wrong key)."""
    try:
        record = CredentialEvent.model_validate_json(value)
    except ValueError:
        return None
    return record if record.fingerprint == key.decode("utf-8", "replace") else None


@dataclass(frozen=True, slots=True)
class KeyCheck:
    check: Check
    record: CredentialEvent | None = None
    restriction: str | None = None


def check_registered(
    cred: Credential,
    registry: Mapping[str, CredentialEvent],
    at: datetime,
    client_ip: str,
    path: str,
) -> KeyCheck:
    """unknown-credential, revoked, expired or valid, plus any restriction it breaks."""
    record = registry.get(cred.fingerprint or "")
    kind = "key" if cred.token_id else "token"
    if record is None:
        return KeyCheck(Check(Outcome.UNKNOWN_CREDENTIAL, f"{kind} is not in the registry"))
    if record.status is CredentialStatus.REVOKED:
        reason = f"{record.key_id} revoked" + (f": {record.reason}" if record.reason else "")
        return KeyCheck(Check(Outcome.REVOKED, reason[:300], record.user), record)
    if record.expires_at is not None and at >= record.expires_at:
        return KeyCheck(
            Check(
                Outcome.EXPIRED,
                f"{record.key_id} expired at {record.expires_at.isoformat()}",
                record.user,
            ),
            record,
        )
    check = Check(
        Outcome.VALID,
        f"{record.key_id} is registered and active",
        record.user,
        record.expires_at,
        frozenset(record.scopes),
    )
    return KeyCheck(check, record, restriction_violated(record, client_ip, path))
