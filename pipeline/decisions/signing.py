"""Decisions on the wire are Security Event Tokens (RFC 8417): a JWS signed with Ed25519 whose
`events` claim carries the decision. Receivers verify the signature against keys they were given,
the issuer, and that the record's Kafka key is the decision's own subject, so a signed decision
can neither be forged nor moved to another subject."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from pipeline.errors import ConfigError, DecisionRejectedError
from pipeline.keyfiles import write_key_pair
from schemas.decision import Decision
from schemas.settings import DecisionSettings

EVENT_TYPE = "https://schemas.restguard.dev/secevent/decision"
TYP = "secevent+jwt"
MAX_RECORD = 16 * 1024


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_signing_key(path: Path) -> bool:
    """Create an Ed25519 key pair (private PEM 0600, public beside it); False if it exists."""
    if path.exists():
        return False
    write_key_pair(Ed25519PrivateKey.generate(), path, public_path(path))
    return True


def public_path(private: Path) -> Path:
    return private.with_name(private.stem + ".pub.pem")


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as err:
        raise ConfigError(
            "decisions.signing_key_file",
            f"{path} does not exist; create it with `restguard secrets init`",
        ) from err
    except (OSError, ValueError) as err:
        raise ConfigError("decisions.signing_key_file", f"{path} is not a PEM key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("decisions.signing_key_file", f"{path} is not an Ed25519 key")
    return key


def load_public_keys(settings: DecisionSettings) -> dict[str, Ed25519PublicKey]:
    """kid → accepted public key."""
    keys: dict[str, Ed25519PublicKey] = {}
    if not settings.verify_key_files:
        pub = public_path(settings.signing_key_file)
        if pub.is_file():
            files, setting = [pub], "decisions.signing_key_file"
        else:
            private = load_private(settings.signing_key_file)
            keys[key_id(private.public_key())] = private.public_key()
            return keys
    else:
        files, setting = list(settings.verify_key_files), "decisions.verify_key_files"
    for index, path in enumerate(files):
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"{setting}.{index}" if setting.endswith("files") else setting,
                f"{path} is not a readable PEM public key: {err}",
            ) from err
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(setting, f"{path} is not an Ed25519 public key")
        keys[key_id(key)] = key
    return keys


class DecisionSigner:
    def __init__(self, key: Ed25519PrivateKey, issuer: str) -> None:
        self._key = key
        self.issuer = issuer
        self.kid = key_id(key.public_key())

    @classmethod
    def from_settings(cls, settings: DecisionSettings) -> DecisionSigner:
        return cls(load_private(settings.signing_key_file), settings.issuer)

    def sign(self, decision: Decision) -> bytes:
        claims = {
            "iss": self.issuer,
            "iat": int(decision.issued_at.timestamp()),
            "jti": decision.id,
            "sub_id": {"format": "opaque", "id": decision.key},
            "events": {EVENT_TYPE: decision.model_dump(mode="json")},
        }
        token = jwt.encode(
            claims, self._key, algorithm="EdDSA", headers={"kid": self.kid, "typ": TYP}
        )
        return token.encode()


@dataclass
class DecisionVerifier:
    keys: dict[str, Ed25519PublicKey]
    issuer: str
    max_skew_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: DecisionSettings) -> DecisionVerifier:
        return cls(load_public_keys(settings), settings.issuer, settings.max_clock_skew_s)

    def verify(self, record_key: str, value: bytes, now: datetime | None = None) -> Decision:
        """The decision a record carries, or DecisionRejectedError saying why not."""
        if len(value) > MAX_RECORD:
            raise DecisionRejectedError("record too large")
        token = value.decode("ascii", "replace")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise DecisionRejectedError("not a signed decision (no JWS)") from None
        if header.get("alg") != "EdDSA":
            raise DecisionRejectedError(f"unsigned or wrongly signed (alg {header.get('alg')!r})")
        key = self.keys.get(str(header.get("kid")))
        if key is None:
            raise DecisionRejectedError("signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                options={
                    "require": ["iss", "iat", "jti", "events"],
                    "verify_aud": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise DecisionRejectedError("forged: the signature does not verify") from None
        except jwt.PyJWTError as err:
            raise DecisionRejectedError(f"invalid decision token ({type(err).__name__})") from None
        try:
            decision = Decision.model_validate(claims["events"][EVENT_TYPE])
        except (KeyError, TypeError, ValidationError):
            raise DecisionRejectedError("no decision in the token") from None
        if decision.id != claims.get("jti"):
            raise DecisionRejectedError("token id and decision id differ")
        if decision.key != record_key:
            raise DecisionRejectedError("decision moved to another subject's key")
        now = now or datetime.now(UTC)
        if (decision.issued_at - now).total_seconds() > self.max_skew_s:
            raise DecisionRejectedError("issued in the future")
        return decision
