"""One regression test per known attack on JWT validation, each named after it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pipeline.auth.fingerprint import Fingerprinter
from schemas.decision import SubjectType
from schemas.settings import Settings
from schemas.vocabulary import Outcome
from tests.conftest import TEST_SECRET
from tests.idp import IdentityProvider, public_jwk
from tests.pipeline.auth.conftest import Judge, SetRevocations


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class AttackerServer:
    """A key server the attacker controls: it must never be contacted."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(jwks).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def attacker(attacker_key: rsa.RSAPrivateKey) -> Iterator[AttackerServer]:
    server = AttackerServer({"keys": [public_jwk(attacker_key, "evil")]})
    yield server
    server.stop()


def test_alg_none_is_refused(idp: IdentityProvider, judge: Judge) -> None:
    """An unsigned token (alg: none) is never accepted."""
    token = unsigned({"alg": "none", "typ": "JWT"}, idp.claims())
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_any_case_is_refused(idp: IdentityProvider, judge: Judge, alg: str) -> None:
    """`none` in any capitalisation is refused."""
    check, _ = judge(bearer(unsigned({"alg": alg, "kid": idp.kid_of("rsa")}, idp.claims())))
    assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED


def test_hs256_signed_with_the_issuers_public_key_is_refused(
    idp: IdentityProvider, judge: Judge
) -> None:
    """The classic key confusion: HS256 with the issuer's RSA public key as HMAC secret."""
    kid = idp.kid_of("rsa")
    public_pem = (
        idp.keys[kid][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    payload = b64(json.dumps(idp.claims()).encode())
    sig = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    check, _ = judge(bearer(f"{header}.{payload}.{b64(sig)}"))
    assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED


def test_hmac_algorithms_cannot_be_allowed_for_an_issuer() -> None:
    """The settings refuse HS* for an issuer: its keys are public."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="symmetric"):
        Settings.model_validate(
            {
                "validation": {
                    "issuers": [
                        {"issuer": "https://idp.example.com", "algorithms": ["RS256", "HS256"]}
                    ]
                }
            }
        )


def test_embedded_jwk_header_is_not_trusted(
    idp: IdentityProvider, judge: Judge, attacker_key: rsa.RSAPrivateKey
) -> None:
    """A token carrying its own key (`jwk` header) is judged with the issuer's keys only."""
    jwk = public_jwk(attacker_key, "evil")
    for kid in ("evil", idp.kid_of("rsa")):
        token = jwt.encode(
            idp.claims(), attacker_key, algorithm="RS256", headers={"kid": kid, "jwk": jwk}
        )
        check, _ = judge(bearer(token))
        assert check.outcome in (Outcome.UNKNOWN_KEY, Outcome.BAD_SIGNATURE)


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_key_urls_in_the_header_are_never_fetched(
    idp: IdentityProvider,
    judge: Judge,
    attacker: AttackerServer,
    attacker_key: rsa.RSAPrivateKey,
    header: str,
) -> None:
    """`jku` / `x5u` pointing at the attacker's key server are ignored: no request is made."""
    token = jwt.encode(
        idp.claims(), attacker_key, algorithm="RS256", headers={"kid": "evil", header: attacker.url}
    )
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.UNKNOWN_KEY
    assert attacker.hits == 0


def test_x5c_certificate_chain_is_not_trusted(
    idp: IdentityProvider, judge: Judge, attacker_key: rsa.RSAPrivateKey
) -> None:
    """An `x5c` chain in the header does not supply a key."""
    der = attacker_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode(
        idp.claims(),
        attacker_key,
        algorithm="RS256",
        headers={"kid": idp.kid_of("rsa"), "x5c": [base64.b64encode(der).decode()]},
    )
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.BAD_SIGNATURE


@pytest.mark.parametrize(
    "kid",
    ["../../../../../../dev/null", "/dev/null", "' OR '1'='1", "rsa-1' --", "rsa-1\x00", "*"],
)
def test_kid_path_and_injection_tricks(
    idp: IdentityProvider, judge: Judge, attacker_key: rsa.RSAPrivateKey, kid: str
) -> None:
    """A kid is only ever a dictionary key: paths and injections find no key."""
    token = jwt.encode(idp.claims(), attacker_key, algorithm="RS256", headers={"kid": kid})
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.UNKNOWN_KEY


def test_kid_dev_null_with_empty_hmac_secret(idp: IdentityProvider, judge: Judge) -> None:
    """kid=/dev/null signed HS256 with an empty secret is refused by the algorithm list."""
    header = b64(json.dumps({"alg": "HS256", "kid": "/dev/null"}).encode())
    payload = b64(json.dumps(idp.claims()).encode())
    sig = hmac.new(b"", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    check, _ = judge(bearer(f"{header}.{payload}.{b64(sig)}"))
    assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED


@pytest.mark.parametrize("kid", [42, {"$ne": 1}, ["rsa-1"], "k" * 1000])
def test_kid_that_is_not_a_short_string(idp: IdentityProvider, judge: Judge, kid: object) -> None:
    """Numbers, objects, lists and huge kids are malformed."""
    token = unsigned({"alg": "RS256", "kid": kid}, idp.claims(), b"x" * 256)
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.MALFORMED


def test_oversized_token_is_refused(idp: IdentityProvider, judge: Judge) -> None:
    """A token over the size bound is malformed before any parsing or verification."""
    token = idp.token(padding="x" * 20_000)
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.MALFORMED
    assert "over" in check.reason


def test_algorithm_confusion_between_key_types(idp: IdentityProvider, judge: Judge) -> None:
    """An ES256 header naming the issuer's RSA key is refused, not tried."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(idp.claims(), ec_key, algorithm="ES256", headers={"kid": idp.kid_of("rsa")})
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED


def test_ecdsa_malleability_does_not_bypass_revocation(
    idp: IdentityProvider, judge: Judge, revocations: SetRevocations
) -> None:
    """An ECDSA signature re-encoded as (r, n-s) is a different token string that still
    verifies; revoking by (iss, jti) refuses it, revoking by fingerprint alone would not."""
    token = idp.token("ec", jti="mall-1")
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    twin = f"{head}.{body}.{b64(r.to_bytes(32, 'big') + (n - s).to_bytes(32, 'big'))}"
    assert twin != token
    assert judge(bearer(twin))[0].outcome is Outcome.VALID

    revocations.subjects[(SubjectType.CREDENTIAL, Fingerprinter(TEST_SECRET)(token))] = "leaked"
    assert judge(bearer(token))[0].outcome is Outcome.REVOKED
    assert judge(bearer(twin))[0].outcome is Outcome.VALID  # the hash-based revocation misses it

    revocations.subjects[(SubjectType.TOKEN_ID, f"{idp.issuer}#mall-1")] = "leaked"
    assert judge(bearer(twin))[0].outcome is Outcome.REVOKED


def test_issuer_claim_cannot_pick_an_untrusted_issuer(
    idp: IdentityProvider,
    judge: Judge,
    attacker: AttackerServer,
    attacker_key: rsa.RSAPrivateKey,
) -> None:
    """`iss` naming the attacker's server is an unknown issuer; its discovery is not fetched."""
    token = jwt.encode(
        idp.claims(iss=attacker.url.rsplit("/", 1)[0]),
        attacker_key,
        algorithm="RS256",
        headers={"kid": "evil"},
    )
    check, _ = judge(bearer(token))
    assert check.outcome is Outcome.UNKNOWN_ISSUER
    assert attacker.hits == 0
