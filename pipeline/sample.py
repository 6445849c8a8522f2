"""A deterministic, realistic sample of Jira/Confluence REST traffic as RequestEvent dicts, with
every auth scheme (the demo's input, and test and benchmark data).

The credentials are made up, but have the real shapes: Basic pairs, Data Center personal access
tokens, EdDSA-signed JWTs from two issuers (keys derived from the seed), OAuth 1.0a Application
Links, session cookies, restguard keys, Kerberos/NTLM, Digest, and broken ones.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

JIRA_PATHS = [
    "/rest/api/2/issue/{key}",
    "/rest/api/2/search",
    "/rest/api/2/myself",
    "/rest/api/2/project",
    "/rest/api/2/field",
    "/rest/api/2/issue/{key}/comment",
    "/rest/agile/1.0/board",
    "/rest/agile/1.0/board/{n}/sprint",
    "/rest/api/2/user",
    "/rest/api/latest/issue/{key}",
]
CONFLUENCE_PATHS = [
    "/rest/api/content",
    "/rest/api/content/{n}",
    "/rest/api/space",
    "/rest/api/content/search",
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
]
SCRIPTS = [
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "Apache-HttpClient/4.5.14 (Java/17.0.8)",
    "Jenkins/2.440",
]
ISSUERS = ("https://idp.example.com/realms/corp", "https://login.example.org/oauth2")


def issuer_key(seed: int, issuer: str) -> Ed25519PrivateKey:
    """The demo issuers' signing keys, derived from the seed (Ed25519 signs deterministically)."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"{seed}:{issuer}".encode()).digest()
    )


def issuer_jwks(seed: int, issuer: str) -> dict[str, Any]:
    """The public JWKS of a demo issuer (what its discovery endpoint would serve)."""
    from jwt.algorithms import OKPAlgorithm

    jwk = OKPAlgorithm.to_jwk(issuer_key(seed, issuer).public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "EdDSA"}]}


@dataclass(frozen=True)
class Client:
    ip: str
    scheme: str
    user: str
    agent: str
    headers: dict[str, str]
    query: str | None = None
    fail_rate: float = 0.01


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


class SampleTraffic:
    """`events(n)` yields n RequestEvent dicts; the same seed gives the same traffic."""

    def __init__(self, seed: int = 7, start: datetime | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
        self.seed = seed
        self.start = start or datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
        self.clients = self._clients()
        self.attacker = "203.0.113.66"

    def _ip(self, internal: bool) -> str:
        r = self.rng
        if internal:
            return f"10.{r.randrange(0, 4)}.{r.randrange(0, 255)}.{r.randrange(2, 254)}"
        return (
            f"{r.choice([81, 84, 91, 145, 185, 193])}.{r.randrange(1, 255)}."
            f"{r.randrange(0, 255)}.{r.randrange(2, 254)}"
        )

    def _jwt(self, user: str, issuer: str, *, expired: bool = False) -> str:
        now = int(self.start.timestamp())
        claims = {
            "iss": issuer,
            "sub": user,
            "aud": "jira",
            "jti": f"{user}-{self.rng.randrange(10**9)}",
            "iat": now - 60,
            "exp": now - 30 if expired else now + 86_400,
            "scope": "read:jira",
            "client_id": f"app-{user}",
        }
        return jwt.encode(
            claims, issuer_key(self.seed, issuer), algorithm="EdDSA", headers={"kid": "k1"}
        )

    def _clients(self) -> list[Client]:
        r = self.rng
        out: list[Client] = []
        users = [
            f"{n}"
            for n in (
                "alice",
                "bob",
                "carol",
                "dave",
                "erin",
                "frank",
                "grace",
                "heidi",
                "ivan",
                "judy",
                "mallory",
                "niaj",
                "olivia",
                "peggy",
            )
        ]
        for user in users:  # browsers with a session
            out.append(
                Client(
                    self._ip(r.random() < 0.5),
                    "session-cookie",
                    user,
                    r.choice(BROWSERS),
                    {
                        "cookie": f"JSESSIONID={r.getrandbits(128):032X}; "
                        f"atlassian.xsrf.token=B{r.getrandbits(64):x}"
                    },
                )
            )
        for user in ("svc-jenkins", "svc-backup", "bob", "reporting", "svc-sync"):  # Basic scripts
            out.append(
                Client(
                    self._ip(True),
                    "basic",
                    user,
                    r.choice(SCRIPTS),
                    {"authorization": "Basic " + _b64(f"{user}:pw-{r.getrandbits(40):x}")},
                )
            )
        for user in ("carol", "dave", "svc-grafana", "svc-slack"):  # Data Center PATs
            pat = _b64(f"{r.randrange(10**11, 10**12)}:".encode() + r.randbytes(20))
            out.append(
                Client(
                    self._ip(r.random() < 0.7),
                    "pat",
                    user,
                    r.choice(SCRIPTS),
                    {"authorization": f"Bearer {pat}"},
                )
            )
        for i, user in enumerate(("svc-portal", "svc-mobile", "erin", "frank", "svc-bi")):  # OIDC
            token = self._jwt(user, ISSUERS[i % 2], expired=user == "frank")
            out.append(
                Client(
                    self._ip(False),
                    "bearer-jwt",
                    user,
                    r.choice(SCRIPTS),
                    {"authorization": f"Bearer {token}"},
                )
            )
        for consumer in ("confluence-applink", "bitbucket-applink"):  # OAuth 1.0a App Links
            header = (
                f'OAuth oauth_consumer_key="{consumer}", oauth_token="{r.getrandbits(96):x}", '
                'oauth_signature_method="RSA-SHA1", oauth_timestamp="1715677200", '
                f'oauth_nonce="{r.getrandbits(64):x}", oauth_version="1.0", '
                f'oauth_signature="{_b64(r.randbytes(32))}"'
            )
            out.append(
                Client(
                    self._ip(True),
                    "oauth1",
                    consumer,
                    "Apache-HttpClient/4.5.14",
                    {"authorization": header},
                )
            )
        for name in ("svc-automation", "svc-crm"):  # restguard-issued API keys
            key = (
                f"rgk_{r.getrandbits(40):010x}_{base64.urlsafe_b64encode(r.randbytes(24)).decode()}"
            )
            out.append(
                Client(self._ip(True), "api-key", name, r.choice(SCRIPTS), {"x-api-key": key})
            )
        out.append(
            Client(
                self._ip(False),
                "bearer-opaque",
                "svc-partner",
                "axios/1.6.7",
                {"authorization": f"Bearer {r.getrandbits(160):040x}"},
            )
        )
        out.append(
            Client(
                self._ip(True),
                "basic-query",
                "legacy-report",
                "curl/7.68.0",
                {},
                query=f"os_username=legacy-report&os_password=pw{r.getrandbits(32):x}",
            )
        )
        out.append(
            Client(
                self._ip(True),
                "negotiate",
                "kerb-user",
                BROWSERS[0],
                {"authorization": "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgI"},
            )
        )
        out.append(
            Client(
                self._ip(True),
                "ntlm",
                "ntlm-user",
                BROWSERS[0],
                {"authorization": "NTLM TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAA=="},
            )
        )
        out.append(
            Client(
                self._ip(True),
                "digest",
                "digest-user",
                "curl/8.4.0",
                {
                    "authorization": 'Digest username="digest-user", realm="jira", '
                    'nonce="abc", uri="/rest/api/2/myself", '
                    'response="6629fae49393a05397450978507c4ef1"'
                },
            )
        )
        for _ in range(3):  # anonymous
            out.append(Client(self._ip(False), "anonymous", "", r.choice(BROWSERS), {}))
        out.append(
            Client(
                self._ip(False),
                "malformed",
                "",
                "curl/7.88.1",
                {"authorization": "Basic not-base64!"},
            )
        )
        out.append(
            Client(
                self._ip(False),
                "malformed",
                "",
                "python-requests/2.25.1",
                {"authorization": "Bearer "},
            )
        )
        return out

    def api_keys(self) -> list[tuple[str, str]]:
        """(user, key) of the sample's restguard API keys."""
        return [(c.user, c.headers["x-api-key"]) for c in self.clients if c.scheme == "api-key"]

    def _path(self) -> str:
        r = self.rng
        template = r.choice(JIRA_PATHS if r.random() < 0.75 else CONFLUENCE_PATHS)
        return template.format(key=f"PROJ-{r.randrange(1, 5000)}", n=r.randrange(1, 900))

    def events(self, n: int, spacing_ms: float = 50.0) -> Iterator[dict[str, Any]]:
        r = self.rng
        t = self.start
        weights = [12 if c.scheme == "session-cookie" else 6 for c in self.clients]
        for i in range(n):
            t += timedelta(milliseconds=r.expovariate(1.0 / spacing_ms))
            if i % 50 == 25:  # a password-spraying attacker on Basic
                user = r.choice(["admin", "jira-admin", "root", "alice", "svc-jenkins"])
                yield self._event(
                    t,
                    self.attacker,
                    "POST",
                    "/rest/auth/1/session",
                    401,
                    {"authorization": "Basic " + _b64(f"{user}:Winter{r.randrange(2020, 2025)}!")},
                    "python-requests/2.31.0",
                    None,
                )
                continue
            c = r.choices(self.clients, weights)[0]
            status = (
                401
                if (
                    c.scheme in ("malformed", "bearer-opaque")
                    or "frank" in c.user
                    or r.random() < c.fail_rate
                )
                else r.choice([200, 200, 200, 201, 204, 304])
            )
            if c.scheme == "anonymous":
                status = r.choice([200, 401, 302])
            yield self._event(
                t,
                c.ip,
                r.choice(["GET"] * 8 + ["POST", "PUT"]),
                self._path(),
                status,
                c.headers,
                c.agent,
                c.query,
            )

    def _event(
        self,
        t: datetime,
        ip: str,
        method: str,
        path: str,
        status: int,
        headers: dict[str, str],
        agent: str,
        query: str | None,
    ) -> dict[str, Any]:
        r = self.rng
        event: dict[str, Any] = {
            "timestamp": t.isoformat().replace("+00:00", "Z"),
            "method": method,
            "path": path,
            "status": status,
            "client_ip": ip,
            "request_id": f"{r.getrandbits(48):012x}",
            "headers": dict(headers),
            "user_agent": agent,
            "latency_ms": round(r.lognormvariate(3.0, 0.8), 1),
            "bytes": r.randrange(80, 40_000),
            "gateway": "nginx-demo",
        }
        if query:
            event["query"] = query
        return event
