"""JWT verification, secure by default: one function that always pins the algorithm list, the
issuer's own keys, the audience and the required claims, and maps pyjwt's errors onto outcomes.

A verified token is cached (by its exact string) until its `exp`, so a token used a thousand
times has its signature checked once; times are checked on every use, against the event's own
time, so an audit of old logs judges a token as it was when used.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt import PyJWK

from pipeline.auth.credentials import Credential
from pipeline.auth.jwks import JwksStore
from pipeline.auth.results import Check
from schemas.settings import IssuerSettings
from schemas.vocabulary import Outcome

# Key types each algorithm family may be verified with (never an HMAC with a public key).
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_KID = 256


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified token says, kept while it is cached."""

    issuer: str
    principal: str | None
    scopes: frozenset[str]
    exp: float | None
    nbf: float | None
    token_id: str | None
    subject_id: str | None
    leeway: float
    valid: Check  # the answer while its times hold, built once


def _valid_check(principal: str | None, exp: float | None, scopes: frozenset[str]) -> Check:
    expires = datetime.fromtimestamp(exp, UTC) if exp is not None else None
    return Check(Outcome.VALID, "signature and claims verified", principal, expires, scopes)


def token_scopes(claims: dict[str, Any], names: list[str]) -> frozenset[str]:
    """Scopes and roles: `scope` (space-separated), `scp` and `roles` (lists or strings)."""
    out: set[str] = set()
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            out.update(value.split())
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return frozenset(out)


# The times a datetime can hold (0001-01-01 to 9999-12-31, in whole seconds): a NumericDate
# outside them (1e300, -1e300, a 400-digit integer) is no real token's time, and cannot be
# turned into a datetime to report.
MIN_TIME = -62_135_596_800
MAX_TIME = 253_402_300_799
TIME_CLAIMS = ("exp", "nbf", "iat")


def numeric_date(value: object) -> float | None:
    """A NumericDate (seconds since the epoch) as a float, or None if `value` is not a finite
    number within the range of a datetime (a bool, a string, NaN, infinity, 1e300 …)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if MIN_TIME <= value <= MAX_TIME:  # compared before any conversion: float(10**400) raises
        return float(value)
    return None  # out of range, or NaN (which compares false)


class JwtVerifier:
    """Outcomes for bearer JWTs from the configured issuers."""

    def __init__(self, store: JwksStore, cache_size: int = 100_000) -> None:
        self.store = store
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Verified] = OrderedDict()
        self.verifications = 0  # signature checks done (the cache saves the rest)

    def wanted_key(self, cred: Credential) -> str | None:
        """The issuer to refetch keys for before this token can be judged, if any."""
        if cred.header is None or cred.issuer is None or cred.secret in self._cache:
            return None
        kid = cred.header.get("kid")
        kid = kid if isinstance(kid, str) and len(kid) <= MAX_KID else None
        return cred.issuer if self.store.wants(cred.issuer, kid) else None

    def check(self, cred: Credential, at: datetime) -> tuple[Check, Verified | None]:
        token = cred.secret
        verified = self._cache.get(token)
        if verified is None:
            result = self._verify(cred)
            if isinstance(result, Check):
                return result, None
            verified = result
            if self.cache_size:
                self._cache[token] = verified
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(token)
        leeway = verified.leeway
        now = at.timestamp()
        if verified.exp is not None and now > verified.exp + leeway:
            when = datetime.fromtimestamp(verified.exp, UTC).isoformat()
            return Check(Outcome.EXPIRED, f"token expired at {when}"), verified
        if verified.nbf is not None and now + leeway < verified.nbf:
            when = datetime.fromtimestamp(verified.nbf, UTC).isoformat()
            return Check(Outcome.NOT_YET_VALID, f"token not valid before {when}"), verified
        return verified.valid, verified

    def _verify(self, cred: Credential) -> Verified | Check:
        header, claims = cred.header or {}, cred.claims or {}
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            return Check(Outcome.ALGORITHM_NOT_ALLOWED, "unsigned token (alg none)")
        issuer = claims.get("iss")
        config = self.store.config(issuer) if isinstance(issuer, str) else None
        if config is None:
            return Check(Outcome.UNKNOWN_ISSUER, "issuer is not trusted")
        if alg not in config.algorithms:
            return Check(Outcome.ALGORITHM_NOT_ALLOWED, f"{alg} is not allowed for this issuer")
        key = self._key(config, header, alg)
        if isinstance(key, Check):
            return key
        self.verifications += 1
        try:
            decoded = jwt.decode(
                cred.secret,
                key=key.key,
                algorithms=[alg],
                audience=config.audiences or None,
                issuer=config.issuer,
                options={
                    "require": config.required_claims,
                    "verify_aud": bool(config.audiences),
                    # Times are judged against the event's time, on every use (see check()).
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            return Check(Outcome.BAD_SIGNATURE, "signature does not verify with the issuer's key")
        except jwt.MissingRequiredClaimError as err:
            return Check(Outcome.MISSING_CLAIM, f"required claim {err.claim!r} is missing")
        except jwt.InvalidAudienceError:
            return Check(Outcome.WRONG_AUDIENCE, "audience is not accepted")
        except jwt.InvalidIssuerError:
            return Check(Outcome.UNKNOWN_ISSUER, "issuer is not trusted")
        except jwt.InvalidAlgorithmError:
            return Check(Outcome.ALGORITHM_NOT_ALLOWED, f"{alg} is not allowed for this key")
        except (jwt.InvalidKeyError, jwt.DecodeError, jwt.InvalidTokenError) as err:
            return Check(Outcome.MALFORMED, f"token rejected: {type(err).__name__}")
        # pyjwt's time checks are off (times are judged per use), and with them its type
        # checks: a time claim that is present must be a NumericDate a datetime can hold, or
        # the token is malformed (never "valid forever" because its exp is "soon" or 1e300).
        times: dict[str, float] = {}
        for claim in TIME_CLAIMS:
            if claim in decoded:
                value = numeric_date(decoded[claim])
                if value is None:
                    return Check(
                        Outcome.MALFORMED, f"claim {claim!r} is not a NumericDate in range"
                    )
                times[claim] = value
        user = decoded.get(config.user_claim)
        jti, sub = decoded.get("jti"), decoded.get("sub")
        principal = user[:256] if isinstance(user, str) else cred.principal
        scopes = token_scopes(decoded, config.scope_claims)
        exp = times.get("exp")
        return Verified(
            issuer=config.issuer,
            principal=principal,
            scopes=scopes,
            exp=exp,
            nbf=times.get("nbf"),
            token_id=f"{config.issuer}#{jti}" if isinstance(jti, str) else None,
            subject_id=f"{config.issuer}#{sub}" if isinstance(sub, str) else None,
            leeway=config.leeway_s,
            valid=_valid_check(principal, exp, scopes),
        )

    def _key(self, config: IssuerSettings, header: dict[str, Any], alg: str) -> PyJWK | Check:
        keys = self.store.keys(config.issuer)
        kid = header.get("kid")
        want_type = _KEY_TYPES.get(alg[:2])
        if kid is not None:
            if not isinstance(kid, str) or len(kid) > MAX_KID:
                return Check(Outcome.MALFORMED, "kid is not a short string")
            key = keys.get(kid)
            if key is None:
                return Check(Outcome.UNKNOWN_KEY, "no key of the issuer has this kid")
            candidates = [key]
        else:
            candidates = [k for k in keys.values() if k.key_type == want_type]
            if len(candidates) != 1:
                return Check(
                    Outcome.UNKNOWN_KEY, "token has no kid and the issuer's key is ambiguous"
                )
        key = candidates[0]
        if key.key_type != want_type:
            return Check(Outcome.ALGORITHM_NOT_ALLOWED, f"{alg} does not match the key's type")
        return key
