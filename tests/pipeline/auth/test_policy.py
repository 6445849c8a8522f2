"""The policy: per-scheme verdicts, exceptions, invalid credentials, credentials in URLs."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.auth.policy import Facts, PolicyEngine
from schemas.settings import PolicySettings
from schemas.vocabulary import Outcome, Verdict

POLICY = PolicySettings.model_validate(
    {
        "schemes": {"basic": "flag", "basic-query": "block", "oauth1": "block"},
        "exceptions": [
            {"name": "applinks", "schemes": ["oauth1"], "consumer_keys": ["confluence-applink"]},
            {
                "name": "jenkins",
                "schemes": ["basic"],
                "users": ["svc-jenkins"],
                "ip_ranges": ["10.0.0.0/8"],
                "verdict": "allow",
            },
            {
                "name": "legacy-report",
                "schemes": ["basic"],
                "paths": ["/rest/api/2/search*"],
                "verdict": "block",
            },
        ],
    }
)


def facts(**over: Any) -> Facts:
    base: dict[str, Any] = {
        "scheme": "basic",
        "principal": "alice",
        "consumer_key": None,
        "client_ip": "10.1.2.3",
        "path": "/rest/api/2/myself",
        "outcome": Outcome.NOT_VALIDATED,
        "restriction": None,
        "credentials_in_url": False,
    }
    return Facts(**{**base, **over})


@pytest.mark.parametrize(
    ("over", "verdict", "rule"),
    [
        ({}, Verdict.FLAG, "scheme:basic"),
        ({"scheme": "pat"}, Verdict.ALLOW, "default"),
        ({"principal": "svc-jenkins"}, Verdict.ALLOW, "exception:jenkins"),
        ({"principal": "svc-jenkins", "client_ip": "203.0.113.9"}, Verdict.FLAG, "scheme:basic"),
        ({"path": "/rest/api/2/search"}, Verdict.BLOCK, "exception:legacy-report"),
        (
            {"scheme": "oauth1", "consumer_key": "confluence-applink"},
            Verdict.ALLOW,
            "exception:applinks",
        ),
        ({"scheme": "oauth1", "consumer_key": "rogue-app"}, Verdict.BLOCK, "scheme:oauth1"),
        ({"scheme": "bearer-jwt", "outcome": Outcome.EXPIRED}, Verdict.BLOCK, "invalid-credential"),
        (
            {"scheme": "api-key", "outcome": Outcome.VALID, "restriction": "address outside"},
            Verdict.BLOCK,
            "key-restriction",
        ),
        ({"scheme": "pat", "credentials_in_url": True}, Verdict.FLAG, "credentials-in-url"),
        (
            {"scheme": "basic-query", "credentials_in_url": True},
            Verdict.BLOCK,
            "scheme:basic-query",
        ),
        (
            {"principal": "svc-jenkins", "credentials_in_url": True},
            Verdict.FLAG,
            "credentials-in-url",
        ),
    ],
)
def test_rulings(over: dict[str, Any], verdict: Verdict, rule: str) -> None:
    """Each call gets the verdict and the rule the documented order gives."""
    ruling = PolicyEngine(POLICY).judge(facts(**over))
    assert (ruling.verdict, ruling.rule) == (verdict, rule)


def test_flag_is_report_only() -> None:
    """`flag` never blocks: it records what blocking would break."""
    assert PolicyEngine(POLICY).judge(facts()).verdict is not Verdict.BLOCK


def test_invalid_credentials_can_be_report_only() -> None:
    """invalid_credentials = flag reports failures without blocking them."""
    engine = PolicyEngine(PolicySettings(invalid_credentials="flag"))
    assert engine.judge(facts(outcome=Outcome.REVOKED)).verdict is Verdict.FLAG


def test_url_credentials_can_be_blocked_outright() -> None:
    """credentials_in_url = block blocks them whatever else allows them."""
    engine = PolicyEngine(PolicySettings(credentials_in_url="block"))
    assert engine.judge(facts(scheme="pat", credentials_in_url=True)).verdict is Verdict.BLOCK


def test_facts_from_a_stored_audit_record() -> None:
    """The policy can be re-run over stored audit records (policy report)."""
    doc = {
        "source": {"ip": "10.0.0.9"},
        "user": {"name": "bob"},
        "url": {"path": "/rest/x"},
        "restguard": {
            "scheme": "oauth1",
            "credentials_in_url": False,
            "validation": {"outcome": "not-validated"},
            "credentials": [{"scheme": "oauth1", "principal": "confluence-applink"}],
        },
    }
    f = Facts.of_audit(doc)
    assert (f.scheme, f.consumer_key, f.principal) == ("oauth1", "confluence-applink", "bob")
    assert PolicyEngine(POLICY).judge(f).rule == "exception:applinks"


def test_unknown_scheme_names_are_refused() -> None:
    """A typo in a scheme name is a settings error, not a silently ignored rule."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown scheme"):
        PolicySettings.model_validate({"schemes": {"basci": "block"}})
