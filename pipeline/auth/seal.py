"""Sealed boxes: bytes only the holder of an X25519 private key can open (HPKE-like, RFC 9180
base mode in spirit).

seal:  X25519 between an ephemeral key and the recipient's public key; HKDF-SHA256 over the
       shared secret (salt: the version label; info: both public keys) gives a
       ChaCha20-Poly1305 key; each box has a random 96-bit nonce and authenticates `aad`.
text:  `rgs1.<kid>.<epk>.<nonce || ciphertext>`: kid is 16 hex digits of SHA-256 over the
       recipient's raw public key and picks the private key (workers may hold several: the
       current one and those being rotated out); epk and the rest are unpadded base64url.

Key agreement costs ~100 us, the AEAD ~3 us: a Sealer keeps its ephemeral key for at most
EPHEMERAL_USES boxes or EPHEMERAL_S seconds (nonces stay random per box), and an Opener caches
the key derived per (kid, ephemeral key). The ephemeral private key lives only in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipeline.errors import ConfigError, SealFormatError, SealTamperedError, UnknownSealKeyError
from pipeline.keyfiles import write_key_pair
from schemas.settings import SecretSettings

VERSION = "rgs1"
_SALT = b"restguard-seal-v1"
_NONCE = 12
_TAG = 16
_KID_CHARS = frozenset("0123456789abcdef")
EPHEMERAL_USES = 1024
EPHEMERAL_S = 30.0
OPENER_CACHE = 4096


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URL = bytes.maketrans(b"-_+/", b"+/!!")  # "+" and "/" are no base64url: make them fail


def _unb64(text: str) -> bytes:
    """Strict unpadded base64url (a2b_base64 is C; base64.b64decode(validate=True) a regex)."""
    data = text.encode("ascii").translate(_FROM_URL) + b"=" * (-len(text) % 4)
    return binascii.a2b_base64(data, strict_mode=True)


def key_id(public: X25519PublicKey) -> str:
    """The id a box names its recipient key by."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def derive(
    private: X25519PrivateKey, peer: bytes, epk: bytes, recipient: bytes
) -> ChaCha20Poly1305:
    """The AEAD of one (ephemeral, recipient) pair, from either side's private key."""
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:  # a low-order point: no shared secret
        raise SealTamperedError() from None
    key = HKDF(hashes.SHA256(), 32, _SALT, b"x25519-chacha20poly1305:" + epk + recipient).derive(
        shared
    )
    return ChaCha20Poly1305(key)


class Sealer:
    """Seals to one recipient key."""

    def __init__(
        self,
        recipient: X25519PublicKey,
        *,
        max_uses: int = EPHEMERAL_USES,
        max_age_s: float = EPHEMERAL_S,
    ) -> None:
        self.kid = key_id(recipient)
        self._recipient = _raw(recipient)
        self._max_uses = max_uses
        self._max_age_s = max_age_s
        # (text prefix, AEAD) as one value: a renewal swaps both at once.
        self._state: tuple[str, ChaCha20Poly1305] | None = None
        self._uses = 0
        self._born = 0.0

    def _renew(self, now: float) -> tuple[str, ChaCha20Poly1305]:
        ephemeral = X25519PrivateKey.generate()
        epk = _raw(ephemeral.public_key())
        aead = derive(ephemeral, self._recipient, epk, self._recipient)
        state = (f"{VERSION}.{self.kid}.{_b64(epk)}.", aead)
        self._state, self._uses, self._born = state, 0, now
        return state

    def seal(self, plaintext: bytes, aad: bytes = b"") -> str:
        """The box text of `plaintext`, bound to `aad` (which the opener must give again)."""
        now = time.monotonic()
        state = self._state
        if state is None or self._uses >= self._max_uses or now - self._born > self._max_age_s:
            state = self._renew(now)
        self._uses += 1
        prefix, aead = state
        nonce = os.urandom(_NONCE)
        return prefix + _b64(nonce + aead.encrypt(nonce, plaintext, aad))


class Opener:
    """Opens boxes sealed to any of its private keys."""

    def __init__(self, keys: Sequence[X25519PrivateKey], cache_size: int = OPENER_CACHE) -> None:
        self._keys = {key_id(k.public_key()): (k, _raw(k.public_key())) for k in keys}
        self.kids = tuple(self._keys)
        self._aead = lru_cache(maxsize=cache_size)(self._derive)

    def _derive(self, kid: str, epk_text: str) -> ChaCha20Poly1305:
        epk = _decode(epk_text)
        if len(epk) != 32:
            raise SealFormatError("the ephemeral key is not 32 bytes")
        private, recipient = self._keys[kid]
        return derive(private, epk, epk, recipient)

    def open(self, box: str, aad: bytes = b"") -> bytes:
        """The plaintext of a box; SealError saying why it cannot be had."""
        kid, epk_text, body_text = split_box(box)
        if kid not in self._keys:
            raise UnknownSealKeyError(kid, self.kids)
        aead = self._aead(kid, epk_text)  # the text is the cache key: no decoding when known
        body = _decode(body_text)
        if len(body) < _NONCE + _TAG:
            raise SealFormatError("the ciphertext is too short")
        try:
            return aead.decrypt(body[:_NONCE], body[_NONCE:], aad)
        except InvalidTag:
            raise SealTamperedError() from None


def split_box(box: str) -> tuple[str, str, str]:
    """(kid, ephemeral key text, nonce and ciphertext text) of a box; SealFormatError if it is
    not one."""
    parts = box.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise SealFormatError(f"not a {VERSION} box")
    _, kid, epk_text, body_text = parts
    if len(kid) != 16 or not _KID_CHARS.issuperset(kid):
        raise SealFormatError("the key id is not 16 hex digits")
    return kid, epk_text, body_text


def _decode(text: str) -> bytes:
    try:
        return _unb64(text)
    except (binascii.Error, ValueError):
        raise SealFormatError("not base64url") from None


# --- key files -----------------------------------------------------------------------------


def generate_seal_key(private: Path, public: Path) -> bool:
    """Create an X25519 key pair (private PEM 0600, public PEM); False if either exists."""
    if private.exists() or public.exists():
        return False
    write_key_pair(X25519PrivateKey.generate(), private, public)
    return True


def load_public_key(path: Path, setting: str = "secrets.seal_public_key_file") -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError as err:
        raise ConfigError(
            setting, f"{path} does not exist; create it with `restguard secrets init`"
        ) from err
    except (OSError, ValueError) as err:
        raise ConfigError(setting, f"{path} is not a readable PEM public key") from err
    if not isinstance(key, X25519PublicKey):
        raise ConfigError(setting, f"{path} is not an X25519 public key")
    return key


def load_private_key(path: Path, setting: str) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(setting, f"{path} is not a readable, unencrypted PEM key") from err
    if not isinstance(key, X25519PrivateKey):
        raise ConfigError(setting, f"{path} is not an X25519 private key")
    return key


def sealer_from(settings: SecretSettings) -> Sealer | None:
    """The gateways' sealer, or None when seal_credentials is off."""
    if not settings.seal_credentials:
        return None
    return Sealer(load_public_key(settings.seal_public_key_file))


def opener_from(settings: SecretSettings, *, required: bool = False) -> Opener | None:
    """An opener with every private key file that exists (None if none does, unless
    `required`: then that is a ConfigError)."""
    keys = [
        load_private_key(path, f"secrets.seal_private_key_files.{index}")
        for index, path in enumerate(settings.seal_private_key_files)
        if path.exists()
    ]
    if keys:
        return Opener(keys)
    if required:
        raise ConfigError(
            "secrets.seal_private_key_files",
            "no private key file exists, so sealed credentials cannot be opened; create one "
            "with `restguard secrets init`",
        )
    return None
