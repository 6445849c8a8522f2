"""Credential validation against a real local identity provider: every outcome, one reason each."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.auth.bearer import JwtVerifier
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.keys import new_key
from pipeline.auth.results import Check
from pipeline.auth.validate import CredentialValidator
from pipeline.core import Processor, build_processor
from pipeline.errors import ConfigError
from schemas.credential import CredentialEvent, CredentialKind, CredentialStatus
from schemas.decision import SubjectType
from schemas.settings import Settings
from schemas.vocabulary import Outcome, Verdict
from tests.conftest import TEST_SECRET
from tests.idp import IdentityProvider
from tests.pipeline.auth.conftest import Judge, SetRevocations, validation_settings


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def verifier_of(judge: Judge) -> JwtVerifier:
    validator = judge.processor.validator  # type: ignore[attr-defined]
    assert isinstance(validator, CredentialValidator)
    assert validator.jwt is not None
    return validator.jwt


class TestJwtOutcomes:
    @pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
    def test_valid(self, idp: IdentityProvider, judge: Judge, kind: str) -> None:
        """RS256, ES256 and EdDSA tokens from the trusted issuer are valid; sub names the user."""
        check, ruling = judge(bearer(idp.token(kind, sub="bob")))
        assert check.outcome is Outcome.VALID
        assert check.principal == "bob"
        assert ruling.verdict is Verdict.ALLOW

    def test_expired(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token used after its exp is expired, with the time in the reason."""
        check, _ = judge(bearer(idp.token(exp=int(time.time()) - 60)))
        assert check.outcome is Outcome.EXPIRED
        assert "expired at" in check.reason

    def test_judged_at_the_events_time(self, idp: IdentityProvider, judge: Judge) -> None:
        """A replayed old log judges a token by when it was used, not by today."""
        exp = int(time.time()) + 600
        token = idp.token(exp=exp)
        past, _ = judge(bearer(token), at=datetime.now(UTC) - timedelta(hours=1))
        future, _ = judge(bearer(token), at=datetime.now(UTC) + timedelta(hours=1))
        assert past.outcome is Outcome.VALID
        assert future.outcome is Outcome.EXPIRED

    def test_not_yet_valid(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token before its nbf is not yet valid."""
        check, _ = judge(bearer(idp.token(nbf=int(time.time()) + 600)))
        assert check.outcome is Outcome.NOT_YET_VALID

    def test_bad_signature(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token whose signature was tampered with has a bad signature."""
        token = idp.token()
        head, body, sig = token.split(".")
        tampered = f"{head}.{body}.{sig[:-6]}AAAAAA"
        check, _ = judge(bearer(tampered))
        assert check.outcome is Outcome.BAD_SIGNATURE

    def test_unknown_issuer(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token from an issuer not in the settings is refused without fetching anything."""
        before = dict(idp.requests)
        check, ruling = judge(bearer(idp.token(iss="https://evil.example.com")))
        assert check.outcome is Outcome.UNKNOWN_ISSUER
        assert ruling.verdict is Verdict.BLOCK
        assert ruling.rule == "invalid-credential"
        assert idp.requests.get("/jwks", 0) == before.get("/jwks", 0)

    def test_wrong_audience(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token for another audience is refused."""
        check, _ = judge(bearer(idp.token(aud="confluence")))
        assert check.outcome is Outcome.WRONG_AUDIENCE

    def test_unknown_key(self, idp: IdentityProvider, judge: Judge) -> None:
        """A kid the issuer does not publish is an unknown key."""
        check, _ = judge(bearer(idp.token(headers={"kid": "no-such-kid"})))
        assert check.outcome is Outcome.UNKNOWN_KEY

    def test_algorithm_not_allowed(self, idp: IdentityProvider, judge: Judge) -> None:
        """An algorithm outside the issuer's allowlist is refused before any key is used."""
        check, _ = judge(bearer(idp.token("rsa", alg="RS512")))
        assert check.outcome is Outcome.ALGORITHM_NOT_ALLOWED

    def test_missing_claim(self, idp: IdentityProvider, judge: Judge) -> None:
        """A token without a required claim (sub) is refused, naming the claim."""
        check, _ = judge(bearer(idp.token(sub=None)))
        assert check.outcome is Outcome.MISSING_CLAIM
        assert "'sub'" in check.reason

    def test_malformed(self, idp: IdentityProvider, judge: Judge) -> None:
        """A JWT-shaped token whose parts do not decode is malformed."""
        check, ruling = judge(bearer("eyJhbGciOiJSUzI1NiJ9.!!!.sig"))
        assert check.outcome is Outcome.MALFORMED
        assert ruling.verdict is Verdict.BLOCK
        head, body, _ = idp.token().split(".")
        check, _ = judge(bearer(f"{head}.{body}.not*base64"))
        assert check.outcome is Outcome.MALFORMED

    def test_revoked_by_token_id(
        self, idp: IdentityProvider, judge: Judge, revocations: SetRevocations
    ) -> None:
        """A token whose (iss, jti) is revoked is refused, however valid its signature."""
        token = idp.token(jti="leaked-1")
        revocations.subjects[(SubjectType.TOKEN_ID, f"{idp.issuer}#leaked-1")] = "leaked"
        check, _ = judge(bearer(token))
        assert check.outcome is Outcome.REVOKED
        assert "leaked" in check.reason

    def test_revoked_by_subject(
        self, idp: IdentityProvider, judge: Judge, revocations: SetRevocations
    ) -> None:
        """Revoking (iss, sub) refuses every token of that subject, re-encoded or not."""
        revocations.subjects[(SubjectType.TOKEN_ID, f"{idp.issuer}#mallory")] = "offboarded"
        for kind in ("rsa", "ec"):
            check, _ = judge(bearer(idp.token(kind, sub="mallory")))
            assert check.outcome is Outcome.REVOKED

    def test_insufficient_scope(self, idp: IdentityProvider, judge: Judge) -> None:
        """A write to /rest/api/2/* needs write:jira; read:jira alone is not enough."""
        check, _ = judge(
            bearer(idp.token(scope="read:jira")), method="POST", path="/rest/api/2/issue"
        )
        assert check.outcome is Outcome.INSUFFICIENT_SCOPE
        assert "write:jira" in check.reason
        ok, _ = judge(
            bearer(idp.token(scope="read:jira write:jira")), method="POST", path="/rest/api/2/issue"
        )
        assert ok.outcome is Outcome.VALID

    def test_scopes_from_scp_and_roles(self, idp: IdentityProvider, judge: Judge) -> None:
        """`scp` lists and `roles` count as scopes too."""
        claim_sets: list[dict[str, Any]] = [{"scp": ["write:jira"]}, {"roles": ["write:jira"]}]
        for claims in claim_sets:
            check, _ = judge(
                bearer(idp.token(scope=None, **claims)), method="PUT", path="/rest/api/2/issue/X-1"
            )
            assert check.outcome is Outcome.VALID


class TestVerifiedCache:
    def test_a_token_used_a_thousand_times_is_verified_once(
        self, idp: IdentityProvider, judge: Judge
    ) -> None:
        """The signature of a reused token is checked once; its times on every use."""
        token = idp.token()
        for _ in range(1000):
            check, _ = judge(bearer(token))
            assert check.outcome is Outcome.VALID
        assert verifier_of(judge).verifications == 1


class TestIssuerKeys:
    def test_keys_are_fetched_once(self, idp: IdentityProvider, judge: Judge) -> None:
        """Discovery and the JWKS are fetched once for many tokens."""
        for kind in ("rsa", "ec", "ed", "rsa"):
            judge(bearer(idp.token(kind)))
        assert idp.requests["/.well-known/openid-configuration"] == 1
        assert idp.requests["/jwks"] == 1

    def test_rotation_is_picked_up_on_an_unknown_kid(
        self, idp: IdentityProvider, judge: Judge
    ) -> None:
        """After the issuer rotates, the first token with the new kid triggers one refetch."""
        assert judge(bearer(idp.token("rsa")))[0].outcome is Outcome.VALID
        verifier_of(judge).store.issuers[idp.issuer].last_attempt = 0.0  # past the rate limit
        idp.rotate("rsa")
        check, _ = judge(bearer(idp.token("rsa")))
        assert check.outcome is Outcome.VALID
        assert idp.requests["/jwks"] == 2

    def test_unknown_kid_refetches_are_rate_limited(
        self, idp: IdentityProvider, judge: Judge
    ) -> None:
        """A flood of tokens with unknown kids cannot make us hammer the issuer."""
        judge(bearer(idp.token("rsa")))
        for i in range(50):
            judge(bearer(idp.token(headers={"kid": f"bogus-{i}"})))
        assert idp.requests["/jwks"] <= 2

    def test_last_good_keys_kept_while_the_issuer_is_down(
        self, idp: IdentityProvider, judge: Judge
    ) -> None:
        """With the issuer down, known keys keep validating; the failure is recorded."""
        judge(bearer(idp.token("rsa")))
        idp.down = True
        store = verifier_of(judge).store
        assert store.refresh(idp.issuer) is False
        assert store.issuers[idp.issuer].last_error
        check, _ = judge(bearer(idp.token("ec", sub="carol")))
        assert check.outcome is Outcome.VALID

    def test_keys_from_a_file(self, idp: IdentityProvider, tmp_path: Path) -> None:
        """jwks_file works without any network."""
        path = tmp_path / "jwks.json"
        path.write_bytes(orjson.dumps(idp.jwks()))
        settings = Settings.model_validate(
            {
                "validation": {
                    "issuers": [
                        {"issuer": idp.issuer, "jwks_file": str(path), "audiences": ["jira"]}
                    ]
                }
            }
        )
        idp.down = True
        processor = build_processor(settings, TEST_SECRET)
        check = _evaluate(processor, idp.token("ed"))
        assert check.outcome is Outcome.VALID

    def test_unreadable_key_file_names_the_setting(self, tmp_path: Path) -> None:
        """A missing key file is a ConfigError naming the setting, not a traceback."""
        settings = Settings.model_validate(
            {
                "validation": {
                    "issuers": [
                        {
                            "issuer": "https://idp.example.com",
                            "jwks_file": str(tmp_path / "nope.json"),
                        }
                    ]
                }
            }
        )
        with pytest.raises(ConfigError) as info:
            build_processor(settings, TEST_SECRET)
        assert info.value.setting == "validation.issuers.0.jwks_file"


def _evaluate(processor: Processor, token: str) -> Check:
    from schemas.request import RequestEvent

    event = RequestEvent.model_validate(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "method": "GET",
            "path": "/rest/x",
            "status": 200,
            "client_ip": "10.0.0.1",
            "headers": bearer(token),
        }
    )
    _, check, _ = processor.evaluate(event)
    return check


class TestIntrospection:
    def test_active_token(self, idp: IdentityProvider, judge: Judge) -> None:
        """An opaque token the issuer says is active is valid, with its user."""
        token = idp.introspectable("opaque-token-abcdef0123456789", sub="svc-bi", username="svc-bi")
        check, _ = judge(bearer(token))
        assert check.outcome is Outcome.VALID
        assert check.principal == "svc-bi"

    def test_inactive_token(self, judge: Judge) -> None:
        """An opaque token the issuer does not know is not accepted."""
        check, ruling = judge(bearer("opaque-unknown-0123456789abcdef"))
        assert check.outcome is Outcome.UNKNOWN_CREDENTIAL
        assert ruling.verdict is Verdict.BLOCK

    def test_answers_are_cached_until_exp(self, idp: IdentityProvider, judge: Judge) -> None:
        """One introspection call serves many uses of the token."""
        token = idp.introspectable("opaque-cached-0123456789abcdef")
        for _ in range(20):
            assert judge(bearer(token))[0].outcome is Outcome.VALID
        assert idp.requests["/introspect"] == 1

    def test_endpoint_down_is_not_validated(self, idp: IdentityProvider, judge: Judge) -> None:
        """If introspection fails, the outcome says so instead of guessing."""
        idp.down = True
        check, _ = judge(bearer("opaque-while-down-0123456789ab"))
        assert check.outcome is Outcome.NOT_VALIDATED
        assert "unavailable" in check.reason


class TestRegisteredKeys:
    @pytest.fixture
    def issued(self, registry: dict[str, CredentialEvent]) -> Callable[..., str]:
        def issue(**fields: object) -> str:
            key = new_key(Fingerprinter(TEST_SECRET))
            record = CredentialEvent.model_validate(
                {
                    "fingerprint": key.fingerprint,
                    "key_id": key.key_id,
                    "kind": "api-key",
                    "user": "alice",
                    "scopes": ["read:jira", "write:jira"],
                    "created_at": datetime.now(UTC) - timedelta(days=1),
                    **fields,
                }
            )
            registry[key.fingerprint] = record
            return key.secret

        return issue

    def test_valid(self, issued: Callable[..., str], judge: Judge) -> None:
        """A registered, active key is valid and names its user."""
        check, ruling = judge({"x-api-key": issued()})
        assert check.outcome is Outcome.VALID
        assert check.principal == "alice"
        assert ruling.verdict is Verdict.ALLOW

    def test_unknown(self, judge: Judge) -> None:
        """A restguard-shaped key that was never issued is an unknown credential."""
        check, _ = judge({"x-api-key": new_key(Fingerprinter(TEST_SECRET)).secret})
        assert check.outcome is Outcome.UNKNOWN_CREDENTIAL

    def test_revoked(self, issued: Callable[..., str], judge: Judge) -> None:
        """A revoked key is refused, with the reason."""
        key = issued(status=CredentialStatus.REVOKED, reason="left the company")
        check, ruling = judge({"authorization": f"Bearer {key}"})
        assert check.outcome is Outcome.REVOKED
        assert "left the company" in check.reason
        assert ruling.verdict is Verdict.BLOCK

    def test_expired(self, issued: Callable[..., str], judge: Judge) -> None:
        """A key past its expiry is expired."""
        key = issued(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        assert judge({"x-api-key": key})[0].outcome is Outcome.EXPIRED

    def test_ip_restriction(self, issued: Callable[..., str], judge: Judge) -> None:
        """A key used from outside its networks is blocked by policy (key-restriction)."""
        key = issued(ip_ranges=["10.0.0.0/8"])
        inside, ok = judge({"x-api-key": key}, client_ip="10.2.3.4")
        outside, blocked = judge({"x-api-key": key}, client_ip="203.0.113.5")
        assert ok.verdict is Verdict.ALLOW
        assert outside.outcome is Outcome.VALID
        assert (blocked.verdict, blocked.rule) == (Verdict.BLOCK, "key-restriction")
        assert inside.restriction is None

    def test_path_restriction(self, issued: Callable[..., str], judge: Judge) -> None:
        """A key used on an endpoint outside its paths is blocked by policy."""
        key = issued(paths=["/rest/api/2/*"])
        assert judge({"x-api-key": key}, path="/rest/api/2/search")[1].verdict is Verdict.ALLOW
        assert judge({"x-api-key": key}, path="/rest/agile/1.0/board")[1].rule == "key-restriction"

    def test_key_scopes_apply(self, issued: Callable[..., str], judge: Judge) -> None:
        """A read-only key cannot write."""
        key = issued(scopes=["read:jira"])
        check, _ = judge({"x-api-key": key}, method="DELETE", path="/rest/api/2/issue/X-1")
        assert check.outcome is Outcome.INSUFFICIENT_SCOPE

    def test_registered_pat(self, registry: dict[str, CredentialEvent], judge: Judge) -> None:
        """A registered Jira PAT is validated like a key; an unregistered one is left to Jira."""
        pat = "MTIzNDU2Nzg5MDEyOkFBQUFBQUFBQUFBQUFBQUFBQUFB"
        fp = Fingerprinter(TEST_SECRET)(pat)
        registry[fp] = CredentialEvent(
            fingerprint=fp,
            key_id="pat_1",
            kind=CredentialKind.PAT,
            user="carol",
            created_at=datetime.now(UTC),
        )
        check, _ = judge(bearer(pat))
        assert (check.outcome, check.principal) == (Outcome.VALID, "carol")
        other, _ = judge(bearer("OTg3NjU0MzIxMDk4OkJCQkJCQkJCQkJCQkJCQkJCQkJC"))
        assert other.outcome is Outcome.NOT_VALIDATED


class TestOtherSchemes:
    def test_basic_is_not_validated(self, judge: Judge) -> None:
        """Basic cannot be checked offline: not-validated, with that reason."""
        check, _ = judge({"authorization": "Basic YWxpY2U6czNjcmV0"})
        assert check.outcome is Outcome.NOT_VALIDATED
        assert "offline" in check.reason

    def test_revoked_credential_fingerprint(
        self, judge: Judge, revocations: SetRevocations
    ) -> None:
        """Any credential, Basic included, can be revoked by its fingerprint."""
        fp = Fingerprinter(TEST_SECRET)("alice:s3cret")
        revocations.subjects[(SubjectType.CREDENTIAL, fp)] = "password leaked"
        check, _ = judge({"authorization": "Basic YWxpY2U6czNjcmV0"})
        assert check.outcome is Outcome.REVOKED


def test_issuers_must_be_https(idp: IdentityProvider) -> None:
    """A plain-http issuer outside loopback is a settings error naming the field."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"validation.issuers.0.issuer"):
        Settings.model_validate({"validation": {"issuers": [{"issuer": "http://idp.example.com"}]}})
    assert validation_settings(idp).validation.issuers[0].issuer.startswith("http://127.0.0.1")
