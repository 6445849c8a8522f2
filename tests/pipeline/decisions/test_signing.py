"""Signed decisions: receivers refuse unsigned, forged, moved and future-dated ones."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.decisions.signing import EVENT_TYPE, DecisionSigner, DecisionVerifier, key_id
from pipeline.errors import DecisionRejectedError
from schemas.decision import Action, Decision, SubjectType

KEY = Ed25519PrivateKey.generate()
SIGNER = DecisionSigner(KEY, "restguard")
VERIFIER = DecisionVerifier({key_id(KEY.public_key()): KEY.public_key()}, "restguard")


def decision(**over: object) -> Decision:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "id": "d0123456789abcdef",
        "subject_type": SubjectType.IP,
        "subject": "203.0.113.9",
        "action": Action.BLOCK,
        "reason": "brute force",
        "rule": "brute-force",
        "issued_at": now,
        "expires_at": now + timedelta(minutes=10),
        "issuer": "restguard",
    }
    return Decision.model_validate({**base, **over})


def test_round_trip() -> None:
    """A signed decision verifies back to the same decision."""
    d = decision()
    assert VERIFIER.verify(d.key, SIGNER.sign(d)) == d


def test_is_a_security_event_token() -> None:
    """The wire form is an RFC 8417 SET: typ secevent+jwt, the decision under `events`."""
    token = SIGNER.sign(decision()).decode()
    assert jwt.get_unverified_header(token)["typ"] == "secevent+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert EVENT_TYPE in claims["events"]
    assert claims["jti"] == "d0123456789abcdef"


def test_unsigned_is_refused() -> None:
    """Plain JSON or alg none is not a decision."""
    d = decision()
    with pytest.raises(DecisionRejectedError, match="no JWS"):
        VERIFIER.verify(d.key, d.model_dump_json().encode())
    none = jwt.encode({"iss": "restguard"}, "", algorithm="none")
    with pytest.raises(DecisionRejectedError, match="unsigned"):
        VERIFIER.verify(d.key, none.encode())


def test_signed_by_another_key_is_refused() -> None:
    """A decision signed by a key the receiver was not given is refused."""
    rogue = DecisionSigner(Ed25519PrivateKey.generate(), "restguard")
    d = decision(action=Action.LIFT)
    with pytest.raises(DecisionRejectedError, match="unknown key"):
        VERIFIER.verify(d.key, rogue.sign(d))


def test_forged_with_our_kid_is_refused() -> None:
    """Claiming our key id does not help a forger: the signature fails."""
    rogue_key = Ed25519PrivateKey.generate()
    d = decision(action=Action.LIFT)
    token = jwt.encode(
        {
            "iss": "restguard",
            "iat": 1,
            "jti": d.id,
            "events": {EVENT_TYPE: d.model_dump(mode="json")},
        },
        rogue_key,
        algorithm="EdDSA",
        headers={"kid": SIGNER.kid},
    )
    with pytest.raises(DecisionRejectedError, match="forged"):
        VERIFIER.verify(d.key, token.encode())


def test_tampered_payload_is_refused() -> None:
    """Changing a signed decision (block → lift) breaks its signature."""
    token = SIGNER.sign(decision()).decode()
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["events"][EVENT_TYPE]["action"] = "lift"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(DecisionRejectedError, match="forged"):
        VERIFIER.verify("ip:203.0.113.9", f"{head}.{forged}.{sig}".encode())


def test_moved_to_another_subject_is_refused() -> None:
    """A valid decision on another record key (another subject) is refused."""
    with pytest.raises(DecisionRejectedError, match="another subject"):
        VERIFIER.verify("ip:198.51.100.1", SIGNER.sign(decision()))


def test_future_dated_is_refused() -> None:
    """A decision issued far in the future (to outrank later ones) is refused."""
    d = decision(issued_at=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(DecisionRejectedError, match="future"):
        VERIFIER.verify(d.key, SIGNER.sign(d))
