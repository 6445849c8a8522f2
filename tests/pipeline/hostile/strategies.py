"""Hostile input: realistic shapes (events, log lines, records, header maps) with hostile content,
small choices that build huge inputs, and events that carry a known secret."""

from __future__ import annotations

import base64
import os
import string
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from schemas.request import MAX_HEADER_VALUE, MAX_HEADERS, MAX_QUERY
from schemas.settings import ClassifierSettings

T = TypeVar("T", bound=Callable[..., Any])

# Examples per property: modest on every push; `python -m tests.fuzz` sets this far higher.
FUZZ_EXAMPLES = int(os.environ.get("RESTGUARD_FUZZ_EXAMPLES", "0"))


# Hypothesis warns when it prints a failing example of over 30 kB, as hostile inputs often are;
# under filterwarnings=error the warning would replace the failure it was about to report.
_LARGE_REPR = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


def hostile(examples: int) -> Callable[[T], T]:
    """The settings of a hostile-input property: `examples` in CI, the fuzz run's count there."""
    extra: dict[str, Any] = {"database": None, "print_blob": True} if FUZZ_EXAMPLES else {}
    chosen = settings(
        max_examples=FUZZ_EXAMPLES or examples,
        # Huge inputs are the point: bounds are asserted on sizes, never on wall-clock time.
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
        **extra,
    )

    def apply(test: T) -> T:
        marked: T = _LARGE_REPR(chosen(test))
        return marked

    return apply


EVENT: dict[str, Any] = {
    "timestamp": "2024-05-14T09:00:00Z",
    "method": "GET",
    "path": "/rest/api/2/myself",
    "status": 200,
    "client_ip": "10.0.0.1",
}

# --- text ------------------------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "\x00",
        "\r\n",
        "\n",
        "\r",
        "\t",
        "\x0b",
        '"',
        "\\",
        '\\"',
        "'",
        "[",
        "]",
        "{",
        "}",
        " ",
        " [x",
        "%",
        "%zz",
        "%ff",
        "%00",
        "+",
        "=",
        "&",
        ";",
        ",",
        ":",
        ".",
        "==",
        "\u2028",
        "\ufeff",
        "\u202e",
        "\ufffd",
        "é",
        "\U0001f600",
        "\x1b[31m",
        "Basic ",
        "Bearer ",
        "OAuth ",
        "eyJ",
        "a=",
        'a="',
        "a" * 7,
    ]
)


def repeated(pieces: st.SearchStrategy[str], most: int = 70_000) -> st.SearchStrategy[str]:
    """One piece many times: a huge input from a small choice (hypothesis stays fast)."""
    return st.builds(lambda piece, n: piece * n, pieces, st.integers(1, most))


TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(PIECES | st.text(max_size=6), max_size=24).map("".join),
    repeated(PIECES | st.text(min_size=1, max_size=3)),
)
SHORT_TEXT = st.one_of(st.text(max_size=24), st.lists(PIECES, max_size=8).map("".join))

# Bytes that are not UTF-8: a lone continuation, a truncated sequence, an encoded surrogate,
# a code point past U+10FFFF, an overlong slash.
BAD_UTF8 = st.sampled_from(
    [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]
)


@st.composite
def spliced(draw: st.DrawFn, base: bytes) -> bytes:
    """`base` with invalid UTF-8, NUL, CR/LF or random bytes spliced in somewhere."""
    at = draw(st.integers(0, len(base)))
    junk = draw(st.one_of(BAD_UTF8, st.sampled_from([b"\x00", b"\r", b"\r\n"]), st.binary()))
    return base[:at] + junk + base[at:]


# --- JSON ------------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    SHORT_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHORT_TEXT, inner, max_size=4),
    max_leaves=16,
)
# JSON text no encoder writes: enormous numbers, non-finite literals, lone surrogates, deep or
# unterminated nesting, enormous strings.
RAW_JSON = st.one_of(
    st.sampled_from(
        [
            "1" + "0" * 400,
            "-" + "9" * 30,
            "18446744073709551616",
            "-9223372036854775809",
            "1e999",
            "-1e999",
            "1.7976931348623157e309",
            "NaN",
            "Infinity",
            "-0",
            '"\\ud800"',
            '"\\udc00x"',
            '"\\u0000"',
            '"\\/"',
            "[]",
            "{}",
            '""',
            "true",
        ]
    ),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 3000)),
    st.builds(lambda n: "[" * n, st.integers(1, 120_000)),
    st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(1, 2000)),
    st.builds(lambda n: "9" * n, st.integers(1, 6000)),
    st.builds(lambda n: '"' + "x" * n + '"', st.integers(0, 300_000)),
)
JSON_TEXT = st.one_of(JSON_VALUES.map(lambda v: orjson.dumps(v).decode()), RAW_JSON)
FIELDS = [*EVENT, "event_id", "query", "headers", "user_agent", "latency_ms", "bytes", "username"]


def obj(fields: dict[str, str]) -> str:
    """A JSON object from field name → JSON text (which may be text no encoder writes)."""
    return "{" + ",".join(f"{orjson.dumps(k).decode()}:{v}" for k, v in fields.items()) + "}"


@st.composite
def event_json(draw: st.DrawFn) -> bytes:
    """A RequestEvent-shaped JSON object, some fields given hostile values, types or names."""
    fields = {k: orjson.dumps(v).decode() for k, v in EVENT.items()}
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(FIELDS) | SHORT_TEXT)
        if draw(st.booleans()) and name in fields:
            del fields[name]
        else:
            fields[name] = draw(JSON_TEXT)
    if draw(st.booleans()):
        fields["headers"] = orjson.dumps(draw(header_maps())).decode()
    return obj(fields).encode("utf-8", "surrogatepass")


def good_event(n: int) -> bytes:
    return orjson.dumps({**EVENT, "path": f"/rest/api/2/issue/N-{n}", "event_id": f"good-{n}"})


# --- headers ---------------------------------------------------------------------------------

B64 = string.ascii_letters + string.digits + "+/"
KEYWORDS = ["Basic", "Bearer", "OAuth", "Negotiate", "NTLM", "Digest", "basic", "BEARER", "Token"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def auth_params(draw: st.DrawFn) -> str:
    """RFC 7235 auth-params with hostile names, quoting, escapes and percent-encoding."""
    names = st.sampled_from(
        [
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_nonce",
            "username",
            "response",
            "realm",
        ]
    )
    pairs = draw(st.lists(st.tuples(names | SHORT_TEXT, SHORT_TEXT | TEXT), max_size=12))
    sep = draw(st.sampled_from([", ", ",", " ", ",,", "\t"]))
    quote = draw(st.sampled_from(['"', "", "'"]))
    return sep.join(f"{k}={quote}{v}{quote}" for k, v in pairs)


JWT_SEGMENTS = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=64),
    JSON_TEXT.map(lambda t: b64url(t.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=64).map(b64url),
    repeated(st.sampled_from(["A", "_", "eyJ", "="]), 20_000),
)
JWT_LIKE = st.builds(
    lambda h, c, s: f"eyJ{h}.{c}.{s}", JWT_SEGMENTS, JWT_SEGMENTS, JWT_SEGMENTS
) | st.lists(JWT_SEGMENTS, max_size=6).map(lambda parts: "eyJ" + ".".join(parts))

CREDENTIAL_MATERIAL = st.one_of(
    st.text(alphabet=B64 + "=-_.!*", max_size=80),  # base64-ish, often broken
    st.binary(max_size=80).map(b64),  # decodes to anything: no colon, invalid UTF-8
    st.builds(lambda u, p: b64(f"{u}:{p}".encode("utf-8", "surrogatepass")), TEXT, SHORT_TEXT),
    st.binary(max_size=80).map(lambda b: b64(b).rstrip("=")),  # bad padding
    JWT_LIKE,
    auth_params(),
    TEXT,
)


@st.composite
def authorization(draw: st.DrawFn) -> str:
    keyword = draw(st.sampled_from(KEYWORDS) | SHORT_TEXT)
    sep = draw(st.sampled_from([" ", "  ", "\t", "", " \r\n "]))
    return f"{keyword}{sep}{draw(CREDENTIAL_MATERIAL)}"


COOKIE_NAMES = st.sampled_from(
    ["JSESSIONID", "jsessionid", "seraph.rememberme.cookie", "crowd.token_key", "atl.xsrf.token"]
)


@st.composite
def cookie_header(draw: st.DrawFn) -> str:
    """Many cookies (session cookies among them), hostile names and values."""
    one = st.builds(lambda k, v: f"{k}={v}", COOKIE_NAMES | SHORT_TEXT, SHORT_TEXT)
    if draw(st.booleans()):
        return "; ".join(draw(st.lists(one, max_size=20)))
    return "; ".join([draw(one)] * draw(st.integers(1, 4000)))


HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "authorization",
            "Authorization",
            "AUTHORIZATION",
            "cookie",
            "Cookie",
            "x-api-key",
            "api-key",
            "X-Restguard-Key",
            "x-forwarded-for",
            ":auth-scheme",
            "user-agent",
        ]
    ),
    st.text(min_size=1, max_size=24),  # control characters, unicode, colons, spaces
    repeated(st.sampled_from(["x", "\x00", ":"]), 300),
)
HEADER_VALUES = st.one_of(
    authorization(),
    cookie_header(),
    TEXT,
    st.lists(SHORT_TEXT | authorization(), max_size=4),
    st.sampled_from(["basic", "negotiate", "ntlm", "digest", "none"]),
)


def header_maps() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=8),
        # Past the header count limit.
        st.builds(
            lambda n: {f"x-h{i}": "v" for i in range(n)},
            st.integers(MAX_HEADERS - 2, MAX_HEADERS + 3),
        ),
    )


# --- query strings ---------------------------------------------------------------------------

QUERY_NAMES = st.sampled_from(
    [
        "os_username",
        "os_password",
        "OS_PASSWORD",
        "os%5Fpassword",
        "access_token",
        "jwt",
        "api_key",
        "ApiKey",
        "api-key",
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature",
        "oauth_signature_method",
        "token",
        "my_secret",
        "jql",
    ]
)


@st.composite
def query_string(draw: st.DrawFn) -> str:
    """Hostile pairs, often repeated many times up to the contract's bound on a query (one copy
    of them may be over it: a huge token)."""
    pairs = draw(st.lists(st.tuples(QUERY_NAMES | SHORT_TEXT, SHORT_TEXT | JWT_LIKE), max_size=10))
    parts = [f"{k}={v}" if draw(st.booleans()) else k for k, v in pairs]
    if draw(st.booleans()):
        room = MAX_QUERY // (len("&".join(parts)) + 1)
        parts *= draw(st.integers(1, max(1, min(3000, room))))  # the same names many times
    return draw(st.sampled_from(["", "?"])) + "&".join(parts)


# --- credentials everywhere at once ----------------------------------------------------------

CLASSIFIER = ClassifierSettings()
QUERY_CREDENTIALS = [
    "os_username",
    "os_password",
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature",
    "oauth_signature_method",
    "access_token",
    "jwt",
    *CLASSIFIER.api_key_params,
]


def any_case(names: list[str]) -> st.SearchStrategy[str]:
    """One of `names` in any mix of upper and lower case (one draw for the mix)."""
    return st.builds(
        lambda name, mask: "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(name)),
        st.sampled_from(names),
        st.integers(0, 2**32 - 1) | st.just(0),
    )


@st.composite
def credential_flood(draw: st.DrawFn) -> dict[str, Any]:
    """Event fields with credentials everywhere the classifier looks, each many times with its
    own value: Authorization values, every API-key header under several spellings, a Cookie
    header of many session cookies (some repeated), a query repeating every credential
    parameter in many spellings. A few choices, cycled into hundreds of copies (hypothesis
    stays fast); within the contract's bounds, so the event is accepted."""
    secret = draw(SECRETS)
    headers: dict[str, Any] = {}
    if draw(st.booleans()):
        n = draw(st.integers(1, 50))
        headers["authorization"] = [f"Bearer {secret}{i}" for i in range(n)]
    for name in draw(st.lists(any_case(CLASSIFIER.api_key_headers), max_size=8)):
        headers[name] = f"{secret}{len(headers)}"
    spellings = draw(st.lists(any_case(CLASSIFIER.session_cookies), min_size=1, max_size=12))
    n, distinct = draw(st.integers(0, 400)), draw(st.integers(1, 40))
    cookie = "; ".join(f"{spellings[i % len(spellings)]}={secret}{i % distinct}" for i in range(n))
    if cookie:
        headers["cookie"] = cookie[:MAX_HEADER_VALUE]
    spellings = draw(st.lists(any_case(QUERY_CREDENTIALS), min_size=1, max_size=24))
    n = draw(st.integers(0, 400))
    query = "&".join(f"{spellings[i % len(spellings)]}={secret}{i}" for i in range(n))
    return {"headers": headers, "query": query[:MAX_QUERY] or None}


# --- known secrets ---------------------------------------------------------------------------

SECRETS = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=48
).map(
    lambda s: f"Zk9{s}"  # a prefix no other strategy writes: a hit is a leak, not chance
)


@st.composite
def carried_secret(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """Event fields that carry a credential where the classifier looks for one, and the raw
    credential string as it appears in the input (what must never leave it)."""
    secret = draw(SECRETS)
    user = draw(st.sampled_from(["alice", "svc-jenkins", "a"]))
    basic = b64(f"{user}:{secret}".encode())
    placements: list[tuple[dict[str, Any], str]] = [
        ({"headers": {"authorization": f"Bearer {secret}"}}, secret),
        ({"headers": {"Authorization": f"Basic {basic}"}}, basic),
        (
            {
                "headers": {
                    "authorization": f'OAuth oauth_consumer_key="ck", oauth_token="{secret}", '
                    'oauth_signature_method="RSA-SHA1", oauth_signature="c2ln"'
                }
            },
            secret,
        ),
        ({"headers": {"authorization": f'Digest username="{user}", response="{secret}"'}}, secret),
        ({"headers": {"x-api-key": secret}}, secret),
        ({"headers": {"API-Key": secret}}, secret),
        ({"headers": {"x-restguard-key": f"rgk_abcdefgh_{secret}"}}, secret),
        ({"headers": {"cookie": f"JSESSIONID={secret}"}}, secret),
        ({"headers": {"Cookie": f"a=b; seraph.rememberme.cookie={secret}; c=d"}}, secret),
        ({"headers": {"cookie": ["a=1", f"JSESSIONID={secret}"]}}, secret),
        ({"headers": {"x-api-key": ["k1", secret]}}, secret),
        ({"query": f"os_username={user}&os_password={secret}"}, secret),
        ({"query": f"a=1&access_token={secret}"}, secret),
        ({"query": f"jwt={secret}&b=2"}, secret),
        ({"query": f"api_key={secret}"}, secret),
        ({"query": f"oauth_consumer_key=ck&oauth_signature={secret}"}, secret),
        ({"query": f"x=1&token={secret}"}, secret),
    ]
    chosen: tuple[dict[str, Any], str] = draw(st.sampled_from(placements))
    return chosen


# Ways to break an event that carries a secret, each a function of its fields → raw bytes.
def _as_json(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields)


BREAKS: list[tuple[str, Callable[[dict[str, Any]], bytes]]] = [
    ("bad status", lambda f: _as_json({**f, "status": "two hundred"})),
    ("bad time", lambda f: _as_json({**f, "timestamp": "yesterday"})),
    ("bad address", lambda f: _as_json({**f, "client_ip": "not-an-ip"})),
    ("no method", lambda f: _as_json({k: v for k, v in f.items() if k != "method"})),
    ("header type", lambda f: _as_json({**f, "headers": {**f.get("headers", {}), "x-n": 1}})),
    (
        "too many headers",
        lambda f: _as_json(
            {**f, "headers": {**f.get("headers", {}), **{f"x-{i}": "v" for i in range(130)}}}
        ),
    ),
    ("oversized", lambda f: _as_json({**f, "user_agent": "u" * 300_000})),
    ("garbage after", lambda f: _as_json(f) + b" trailing"),
    ("garbage before", lambda f: b"\x00\xff" + _as_json(f)),
    ("invalid utf-8", lambda f: _as_json(f).replace(b'"GET"', b'"G\xffET"')),
]
