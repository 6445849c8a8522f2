"""The closed vocabularies shared by every contract: schemes, outcomes, verdicts."""

from __future__ import annotations

from enum import StrEnum


class Scheme(StrEnum):
    """How a REST call authenticated."""

    BASIC = "basic"
    BASIC_QUERY = "basic-query"
    BEARER_JWT = "bearer-jwt"
    BEARER_OPAQUE = "bearer-opaque"
    PAT = "pat"
    API_KEY = "api-key"
    OAUTH1 = "oauth1"
    SESSION_COOKIE = "session-cookie"
    NEGOTIATE = "negotiate"
    NTLM = "ntlm"
    DIGEST = "digest"
    ANONYMOUS = "anonymous"
    MALFORMED = "malformed"


class Location(StrEnum):
    """Where in the request a credential was carried."""

    HEADER = "header"
    QUERY = "query"
    COOKIE = "cookie"
    GATEWAY = "gateway"  # reported by the gateway's log, the credential itself unseen


class Outcome(StrEnum):
    """The result of validating a credential; each comes with one reason."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_ISSUER = "unknown-issuer"
    WRONG_AUDIENCE = "wrong-audience"
    UNKNOWN_KEY = "unknown-key"
    ALGORITHM_NOT_ALLOWED = "algorithm-not-allowed"
    MISSING_CLAIM = "missing-claim"
    INSUFFICIENT_SCOPE = "insufficient-scope"
    UNKNOWN_CREDENTIAL = "unknown-credential"
    REVOKED = "revoked"
    MALFORMED = "malformed"
    NOT_VALIDATED = "not-validated"


class Verdict(StrEnum):
    """What the policy says about a call."""

    ALLOW = "allow"
    FLAG = "flag"
    BLOCK = "block"


class EventOutcome(StrEnum):
    """ECS event.outcome."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"
