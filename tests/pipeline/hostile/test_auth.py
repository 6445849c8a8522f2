"""Hostile credentials: the classifier on any header map, the Authorization parsers, JWTs that are
garbage or signed with hostile contents, OAuth 1.0 parameters and query strings. Nothing raises,
a broken credential is malformed (never fingerprinted, never echoed), and memory stays bounded."""

from __future__ import annotations

import base64
import gc
import json
import string
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, example, given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm
from pydantic import ValidationError

from pipeline.audit import audit_document, credential_doc, dumps
from pipeline.auth import schemes
from pipeline.auth.bearer import MAX_TIME, MIN_TIME
from pipeline.auth.classify import MAX_SESSION_COOKIES, Classifier
from pipeline.auth.credentials import Credential
from pipeline.auth.fingerprint import Fingerprinter, is_fingerprint
from pipeline.auth.introspect import Introspector
from pipeline.auth.query import parse_query, query_credentials, redact_query
from pipeline.auth.schemes import decode_basic, parse_authorization
from pipeline.auth.tokens import TokenContext
from pipeline.core import build_processor
from schemas.request import MAX_HEADER_VALUE, MAX_QUERY, RequestEvent
from schemas.settings import IntrospectionSettings, Settings
from schemas.vocabulary import Location, Outcome, Scheme
from tests.conftest import TEST_SECRET
from tests.idp import public_jwk
from tests.pipeline.hostile.strategies import (
    CLASSIFIER,
    EVENT,
    JSON_TEXT,
    JWT_LIKE,
    SECRETS,
    SHORT_TEXT,
    TEXT,
    auth_params,
    authorization,
    b64url,
    credential_flood,
    header_maps,
    hostile,
    obj,
    query_string,
)

ISSUER = "https://idp.example.com"
KEY = ec.generate_private_key(ec.SECP256R1())
_JWKS = Path(tempfile.mkdtemp(prefix="restguard-hostile-")) / "jwks.json"
_JWKS.write_text(json.dumps({"keys": [public_jwk(KEY, "k1")]}))
JWT_SETTINGS = Settings.model_validate(
    {
        "validation": {
            "issuers": [
                {
                    "issuer": ISSUER,
                    "jwks_file": str(_JWKS),
                    "audiences": ["jira"],
                    "algorithms": ["ES256"],
                }
            ]
        }
    }
)
PROCESSOR = build_processor(JWT_SETTINGS, TEST_SECRET)
PROXIED = Classifier(
    Settings.model_validate({"classifier": {"trusted_proxies": ["10.0.0.0/8", "::/0"]}}).classifier,
    Fingerprinter(TEST_SECRET),
)
CTX = TokenContext(Fingerprinter(TEST_SECRET), 8192)
# A classifier configured to admit tokens as large as the contract admits headers.
WIDE_CTX = TokenContext(Fingerprinter(TEST_SECRET), MAX_HEADER_VALUE)
# The most credentials one request can yield, whatever it repeats: one from Authorization (or
# the gateway), one per API-key header, os_password, OAuth 1.0, access_token and jwt and one
# per API-key parameter from the query, and the distinct session cookies.
MAX_CREDENTIALS = (
    1 + len(CLASSIFIER.api_key_headers) + 4 + len(CLASSIFIER.api_key_params) + MAX_SESSION_COOKIES
)
SESSION_COOKIES = {c.lower(): c for c in CLASSIFIER.session_cookies}
NOW = datetime.now(UTC)
CLAIMS = {
    "iss": json.dumps(ISSUER),
    "sub": '"alice"',
    "aud": '"jira"',
    "exp": str(int(time.time()) + 600),
    "jti": '"j-1"',
}
CLAIM_NAMES = st.sampled_from([*CLAIMS, "nbf", "iat", "scope", "scp", "roles", "client_id"])


def event(headers: dict[str, Any], query: str | None = None, **extra: Any) -> RequestEvent:
    return RequestEvent.model_validate({**EVENT, "headers": headers, "query": query, **extra})


def bearer_event(token: str) -> RequestEvent | None:
    """An event carrying `token` as a bearer token, or None when the token is over the
    contract's bound on a header value (asserting that the event is refused at the edge)."""
    value = f"Bearer {token}"
    if len(value) > MAX_HEADER_VALUE:
        with pytest.raises(ValidationError, match="over the limit"):
            event({"authorization": value})
        return None
    return event({"authorization": value})


def sign(header: str, claims: str) -> str:
    """A compact JWS over arbitrary header and claims text, signed with the trusted key."""
    signing = f"{b64url(header.encode('utf-8', 'surrogatepass'))}."
    signing += b64url(claims.encode("utf-8", "surrogatepass"))
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing.encode(), KEY)
    return f"{signing}.{b64url(signature)}"


def assert_sane(cred: Credential, material: str = "") -> None:
    """A malformed credential is never fingerprinted and its problem never echoes the input;
    any other has a keyed fingerprint and bounded identity fields (a gateway-reported user is
    the one credential with no material to fingerprint)."""
    if cred.scheme is Scheme.MALFORMED:
        assert cred.fingerprint is None
        assert cred.problem
        assert len(cred.problem) <= 120
        if len(material) >= 16:
            assert material not in cred.problem
    elif cred.location is Location.GATEWAY:
        assert cred.fingerprint is None
    else:
        assert cred.fingerprint is not None
        assert is_fingerprint(cred.fingerprint)
        for text in (cred.principal, cred.consumer_key, cred.issuer):
            assert text is None or len(text) <= 256
    orjson.dumps(credential_doc(cred))


class TestClassifier:
    @hostile(250)
    @given(header_maps(), st.none() | query_string(), st.none() | SHORT_TEXT, st.booleans())
    def test_any_header_map(
        self, headers: dict[str, Any], query: str | None, username: str | None, proxied: bool
    ) -> None:
        """Any headers the contract accepts classify without raising into sane credentials
        and an audit document that serialises."""
        try:
            e = event(headers, query, username=username)
        except ValidationError:
            return  # refused at the edge: a dead letter, tested in test_wire
        classifier = PROXIED if proxied else PROCESSOR.classifier
        cls = classifier.classify(e)
        for cred in cls.credentials:
            assert_sane(cred)
        assert cls.primary is None or cls.primary in cls.credentials
        assert cls.scheme is (cls.primary.scheme if cls.primary else Scheme.ANONYMOUS)
        check = PROCESSOR.validator.check(e, cls)
        ruling = PROCESSOR.policy.rule(e, cls, check)
        dumps(audit_document(e, cls, check, ruling, NOW))

    @hostile(150)
    @given(credential_flood())
    @example({"headers": {}, "query": "API_KEY=a&api_key=b&Api_Key=c&apikey=d&APIKEY=e"})
    def test_credentials_per_request_are_bounded(self, fields: dict[str, Any]) -> None:
        """Credentials everywhere, each repeated many times under many spellings, yield at most
        MAX_CREDENTIALS credentials (each becomes part of the audit document), all sane: at
        most one per query parameter however it is spelt, and a bounded set of cookies."""
        e = event(**fields)
        for classifier in (PROCESSOR.classifier, PROXIED):
            cls = classifier.classify(e)
            assert len(cls.credentials) <= MAX_CREDENTIALS
            in_query = [c.name.lower() for c in cls.credentials if c.location is Location.QUERY]
            assert len(in_query) == len(set(in_query))
            assert len(in_query) <= 4 + len(CLASSIFIER.api_key_params)
            cookies = [c for c in cls.credentials if c.location is Location.COOKIE]
            assert len(cookies) <= MAX_SESSION_COOKIES
            assert len({c.fingerprint for c in cookies}) == len(cookies)  # no duplicates
            for cred in cls.credentials:
                assert_sane(cred)
        check = PROCESSOR.validator.check(e, cls)
        ruling = PROCESSOR.policy.rule(e, cls, check)
        dumps(audit_document(e, cls, check, ruling, NOW))

    @pytest.mark.parametrize("extra_cookie", [False, True])
    def test_every_source_at_once(self, extra_cookie: bool) -> None:
        """The bound is reached, not merely respected: one credential of each kind, from a
        request that repeats every one of them; one more distinct session cookie turns the
        Cookie header into one malformed credential."""
        sessions = [f"{name}=s{i}" for i, name in enumerate(CLASSIFIER.session_cookies * 2)]
        sessions = sessions[: MAX_SESSION_COOKIES + extra_cookie]
        query = "&".join(
            f"{name}={value}"
            for name, value in [
                ("os_username", "alice"),
                ("os_password", "pw"),
                ("oauth_consumer_key", "ck"),
                ("oauth_signature", "sig"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("access_token", "at"),
                ("jwt", "jw"),
                ("API_KEY", "shadow"),
                ("api_key", "k1"),
                ("Api_Key", "shadow2"),
                ("ApiKey", "k2"),
                ("apikey", "k3"),
                ("api-key", "k4"),
            ]
            * 3
        )
        e = event(
            {
                "authorization": "Bearer tok",
                **{name: f"key-{name}" for name in CLASSIFIER.api_key_headers},
                "cookie": "; ".join(sessions * 3),
            },
            query,
        )
        cls = PROCESSOR.classifier.classify(e)
        fingerprints = [c.fingerprint for c in cls.credentials if c.fingerprint]
        assert len(set(fingerprints)) == len(fingerprints)
        api_keys = {c.name: c for c in cls.credentials if c.location is Location.QUERY}
        # One per API-key parameter: the lower-case spelling wins over those sent before it.
        assert api_keys["api_key"].fingerprint == CTX.fingerprint("k1")
        assert api_keys["apikey"].fingerprint == CTX.fingerprint("k3")
        assert "API_KEY" not in api_keys
        assert "ApiKey" not in api_keys
        cookies = [c for c in cls.credentials if c.location is Location.COOKIE]
        if extra_cookie:
            assert len(cls.credentials) == MAX_CREDENTIALS - MAX_SESSION_COOKIES + 1
            assert [c.scheme for c in cookies] == [Scheme.MALFORMED]
            assert_sane(cookies[0])
        else:
            assert len(cls.credentials) == MAX_CREDENTIALS
            assert all(c.scheme is Scheme.SESSION_COOKIE for c in cookies)

    @hostile(150)
    @given(
        st.lists(
            st.sampled_from(["JSESSIONID", "jsessionid", "crowd.token_key", "other"]), min_size=1
        ),
        SECRETS,
        st.integers(1, 20),
    )
    @example(["JSESSIONID"] * 300, "Zk9aaaaaaaa", 1)  # one cookie 300 times: one credential
    @example(["JSESSIONID"] * 300, "Zk9aaaaaaaa", 300)
    @example(["JSESSIONID", "jsessionid"], "Zk9aaaaaaaa", 1)  # names are case-insensitive
    def test_session_cookies_are_bounded(self, names: list[str], secret: str, kinds: int) -> None:
        """One Cookie header repeating session cookies hundreds of times: each distinct one is
        a credential, a repeated one is not another, and past MAX_SESSION_COOKIES distinct
        ones the header is one malformed credential that does not echo them."""
        values = [f"{secret}{i % kinds}" for i in range(len(names))]
        header = "; ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
        assume(len(header) <= CLASSIFIER.max_header_bytes)
        distinct = {
            f"{SESSION_COOKIES[n.lower()]}={v}"
            for n, v in zip(names, values, strict=True)
            if n.lower() in SESSION_COOKIES
        }
        cls = PROCESSOR.classifier.classify(event({"cookie": header}))
        if len(distinct) <= MAX_SESSION_COOKIES:
            assert {c.fingerprint for c in cls.credentials} == {
                CTX.fingerprint(m) for m in distinct
            }
            assert len(cls.credentials) == len(distinct)
        else:
            assert [c.scheme for c in cls.credentials] == [Scheme.MALFORMED]
        for cred in cls.credentials:
            assert_sane(cred, secret)

    def test_oversized_headers_are_not_cached(self) -> None:
        """Distinct huge Authorization, cookie and API-key headers (over the classifier's bound,
        under the contract's) are refused without being kept: memory does not grow with them."""
        classifier = Classifier(Settings().classifier, Fingerprinter(TEST_SECRET))
        events = [
            event({name: f"{prefix}{i:06d}" + "A" * 30_000})
            for i in range(40)
            for name, prefix in (
                ("authorization", "Bearer "),
                ("cookie", "JSESSIONID="),
                ("x-api-key", ""),
            )
        ]
        gc.collect()
        tracemalloc.start()
        try:
            for e in events:
                cls = classifier.classify(e)
                assert cls.scheme is Scheme.MALFORMED or cls.primary is not None
            del events, e, cls
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert held < 500_000  # 120 headers of 30 KB: 3.6 MB if kept

    @hostile(100)
    @given(st.lists(TEXT | st.sampled_from(["10.1.1.1", "::1", "[::1]", "300.1.1.1"]), max_size=40))
    def test_any_forwarded_for_chain(self, hops: list[str]) -> None:
        """Any X-Forwarded-For from a trusted proxy yields a valid address, never raises."""
        try:
            e = event({"x-forwarded-for": ", ".join(hops)})
        except ValidationError:
            return
        ip = PROXIED.client_ip(e)
        assert ip == event({}, client_ip=ip).client_ip  # a canonical address


class TestAuthorizationHeader:
    @hostile(400)
    @given(authorization())
    @example("Basic " + base64.b64encode(b"no-colon-here").decode())
    @example("Basic " + base64.b64encode(b"\xff\xfe:\x00").decode())
    @example("Basic ====")
    @example("Basic dXNlcjpwYXNz=")
    @example("Negotiate " + "A" * 9000)
    def test_any_value(self, value: str) -> None:
        """Any Authorization value parses to one sane credential."""
        cred = parse_authorization(value, CTX)
        assert_sane(cred, value.partition(" ")[2].strip())

    @hostile(200)
    @given(st.text(max_size=200) | st.text(alphabet=string.ascii_letters + "+/=:", max_size=80))
    def test_basic_decoding(self, encoded: str) -> None:
        """decode_basic gives (user, password) with a non-empty user, or a problem."""
        out = decode_basic(encoded)
        if isinstance(out, tuple):
            assert out[0]
        else:
            assert out.startswith(("empty Basic", "Basic credentials"))

    @hostile(200)
    @given(auth_params())
    @example("a" * 8000)  # the parameter regex retried every suffix: quadratic
    @example("a" * 4000 + "=" + '"' * 4000)
    def test_oauth1_parameters(self, params: str) -> None:
        """Any OAuth 1.0 parameter list parses without raising."""
        cred = parse_authorization(f"OAuth {params}", CTX)
        assert_sane(cred)
        if cred.scheme is Scheme.OAUTH1:
            assert cred.consumer_key

    def test_oauth1_parameters_at_the_size_bound_parse_in_linear_time(self) -> None:
        """At the largest header value the contract admits (and a classifier configured to take
        tokens that large), the quadratic parameter regex took seconds, and at four times that
        minutes; the fix takes milliseconds. The bound is a termination check, not a benchmark."""
        for params in (
            "a" * (MAX_HEADER_VALUE - 6),
            "a=" + '"' * (MAX_HEADER_VALUE - 8),
            "a " * ((MAX_HEADER_VALUE - 6) // 2),
            'a="' + "\\" * ((MAX_HEADER_VALUE - 9) // 2),
        ):
            start = time.perf_counter()
            cred = parse_authorization(f"OAuth {params}", WIDE_CTX)
            schemes.auth_params(params * 4)
            assert time.perf_counter() - start < 20.0
            # Parsed, not refused for its size: the parameters were read and had no consumer key.
            assert cred.problem == "OAuth 1.0 request without oauth_consumer_key"
            assert_sane(cred)


class TestJwt:
    @hostile(250)
    @given(JWT_LIKE)
    @example("eyJ.eyJ.")
    @example("eyJhbGciOiJFUzI1NiJ9." + "A" * 9000 + ".x")
    def test_garbage_tokens_are_never_valid(self, token: str) -> None:
        """A token that is not signed by the issuer never validates, and nothing raises."""
        e = bearer_event(token)
        if e is None:
            return
        cls, check, _ = PROCESSOR.evaluate(e)
        assert check.outcome is not Outcome.VALID
        if cls.primary is not None:
            assert_sane(cls.primary, token)

    @hostile(150)
    @given(
        st.dictionaries(st.sampled_from(["kid", "typ", "crit", "jku", "x5c", "b64"]), JSON_TEXT),
        st.dictionaries(CLAIM_NAMES, JSON_TEXT, max_size=3),
    )
    @example({}, {"exp": "1e300"})  # signed, far past datetime's range
    @example({}, {"exp": "-1e300"})
    @example({}, {"nbf": "1e300"})
    @example({}, {"exp": "Infinity"})  # python's json (in pyjwt) reads non-finite numbers
    @example({}, {"exp": "NaN"})
    @example({"x": "[" * 900 + "]" * 900}, {})
    def test_signed_hostile_contents(self, header: dict[str, str], claims: dict[str, str]) -> None:
        """A token the issuer signed whatever it holds (nested JSON, enormous or non-finite
        times, wrong types) is judged without raising; absurd times never make it valid."""
        token = sign(
            obj({"alg": '"ES256"', "kid": '"k1"', **header}),
            obj({**CLAIMS, **claims}),
        )
        e = bearer_event(token)
        if e is None:
            return
        cls, check, _ = PROCESSOR.evaluate(e)
        if cls.primary is not None:
            assert_sane(cls.primary, token)
        if check.outcome is Outcome.VALID:
            exp = claims.get("exp", CLAIMS["exp"])
            assert exp == CLAIMS["exp"] or time.time() < float(exp) <= MAX_TIME
            for name in ("nbf", "iat"):
                if name in claims:
                    assert MIN_TIME <= float(claims[name]) <= MAX_TIME
            assert check.expires_at is not None
        dumps(audit_document(e, cls, check, PROCESSOR.policy.rule(e, cls, check), NOW))

    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
    @pytest.mark.parametrize(
        "value",
        [
            "1e300",
            "-1e300",
            "1e19",
            str(MAX_TIME + 1),
            str(MIN_TIME - 1),
            "1" + "0" * 400,
            "-" + "9" * 400,
            "Infinity",
            "NaN",
            "true",
            '"soon"',
            "null",
            "[]",
        ],
    )
    def test_time_claims_out_of_range_are_malformed(self, claim: str, value: str) -> None:
        """A signed token whose exp, nbf or iat is no NumericDate a datetime can hold (enormous,
        non-finite, another type) is malformed, with a reason that names no value."""
        token = sign(obj({"alg": '"ES256"', "kid": '"k1"'}), obj({**CLAIMS, claim: value}))
        _, check, _ = PROCESSOR.evaluate(event({"authorization": f"Bearer {token}"}))
        if value == "null" and claim in JWT_SETTINGS.validation.issuers[0].required_claims:
            assert check.outcome is Outcome.MISSING_CLAIM  # pyjwt: a null claim is no claim
        else:
            assert check.outcome is Outcome.MALFORMED
        assert value not in check.reason or len(value) < 5

    @pytest.mark.parametrize(
        ("claims", "outcome"),
        [
            ({"exp": str(MAX_TIME)}, Outcome.VALID),
            ({"exp": str(MIN_TIME)}, Outcome.EXPIRED),
            ({"exp": "0"}, Outcome.EXPIRED),
            ({"nbf": str(MAX_TIME)}, Outcome.NOT_YET_VALID),
            ({"nbf": str(MIN_TIME), "iat": str(MIN_TIME)}, Outcome.VALID),
            ({"iat": str(MAX_TIME)}, Outcome.VALID),  # iat is read, not judged
        ],
    )
    def test_time_claims_at_the_ends_of_the_range(
        self, claims: dict[str, str], outcome: Outcome
    ) -> None:
        """Times at the ends of a datetime's range are judged and reported, never raised on."""
        token = sign(obj({"alg": '"ES256"', "kid": '"k1"'}), obj({**CLAIMS, **claims}))
        e = event({"authorization": f"Bearer {token}"})
        cls, check, _ = PROCESSOR.evaluate(e)
        assert check.outcome is outcome
        dumps(audit_document(e, cls, check, PROCESSOR.policy.rule(e, cls, check), NOW))


class TestIntrospection:
    @hostile(100)
    @given(st.booleans(), JSON_TEXT)
    @example(True, "1e300")
    @example(True, "-1e300")
    @example(False, "1e300")
    @example(True, "1" + "0" * 400)
    @example(True, "true")
    def test_any_exp_in_the_answer(self, active: bool, exp: str) -> None:
        """An introspection answer whose exp is anything at all (the endpoint is trusted, its
        JSON is not) is judged without raising: `active` decides, a usable exp may expire it."""
        answer = obj({"active": orjson.dumps(active).decode(), "exp": exp, "sub": '"alice"'})
        introspector = Introspector(
            IntrospectionSettings(endpoint="https://idp.example.com/introspect", client_id="rg"),
            post=lambda *_: answer.encode("utf-8", "surrogatepass"),
        )
        introspector.fetch_many(["opaque-token"])
        check = introspector.check("opaque-token", NOW)
        if check.outcome is Outcome.VALID:
            assert active
            assert check.expires_at is None or check.expires_at >= NOW
        else:
            assert check.outcome in {
                Outcome.EXPIRED,
                Outcome.UNKNOWN_CREDENTIAL,
                Outcome.NOT_VALIDATED,  # an answer that is no JSON object with a boolean active
            }


class TestQuery:
    @hostile(250)
    @given(query_string())
    @example("os_password=x&" * (MAX_QUERY // 14))
    @example("%ff%fe=%zz&api_key=%00%")
    def test_any_query(self, query: str) -> None:
        """Any query string: credentials found without raising, each sane; the redacted
        query keeps every pair and no secret value."""
        pairs = parse_query(query)
        params = frozenset({"api_key", "apikey", "api-key"})
        for cred in query_credentials(pairs, params, CTX):
            assert_sane(cred)
        redacted, _ = redact_query(pairs, params)
        assert redacted.count("&") == sum(1 for _ in pairs) - 1 or not pairs

    @hostile(200)
    @given(
        query_string(),
        st.sampled_from(["os_password", "access_token", "api_key", "jwt", "x_token", "Password"]),
        SECRETS,
    )
    def test_secret_parameters_are_redacted(self, query: str, name: str, secret: str) -> None:
        """A secret parameter's value never survives redaction, wherever it sits."""
        full = f"{query}&{name}={secret}" if query else f"{name}={secret}"
        redacted, changed = redact_query(parse_query(full), frozenset({"api_key"}))
        assert changed
        assert secret not in redacted

    @hostile(100)
    @given(
        st.integers(1, 32_000),
        st.sampled_from(["os_username", "os_password", "oauth_consumer_key", "oauth_token"]),
    )
    @example(8192 - 2, "os_password")  # "u:" + 8190: at the bound, kept
    @example(8192 - 1, "os_password")  # over it by one
    @example(8192 - 1, "oauth_consumer_key")  # "<key>:" at the bound
    @example(8192, "oauth_consumer_key")
    def test_query_credentials_are_bounded(self, size: int, name: str) -> None:
        """A user, password, consumer key or token in the URL is bounded as a token or an
        Authorization header is: over max_token_bytes it is malformed, with a reason that
        does not echo it, not kept as the material of a fingerprint."""
        values = {
            "os_username": "u",
            "os_password": "p",
            "oauth_consumer_key": "",
            "oauth_token": "",
            name: "Zk9" + "p" * (size - 3) if size > 3 else "p" * size,
        }
        if not values["oauth_consumer_key"]:
            values["oauth_consumer_key"] = "ck"
        query = "&".join(f"{k}={v}" for k, v in values.items() if v)
        query += "&oauth_signature=s&oauth_signature_method=m"
        creds = {c.name: c for c in query_credentials(parse_query(query), frozenset(), CTX)}
        sizes = {
            "os_password": len(values["os_username"]) + 1 + len(values["os_password"]),
            "oauth_consumer_key": len(values["oauth_consumer_key"])
            + 1
            + len(values["oauth_token"]),
        }
        assert set(creds) == set(sizes)
        for cred_name, cred in creds.items():
            if sizes[cred_name] > CTX.max_token_bytes:
                assert cred.scheme is Scheme.MALFORMED
                assert cred.problem is not None
                assert "over the 8192 limit" in cred.problem
            else:
                assert cred.scheme is not Scheme.MALFORMED
            assert_sane(cred, values[name])
