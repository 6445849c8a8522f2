"""A realistic mix of REST calls for the benchmarks: JWTs from three issuers (RS256, ES256,
EdDSA) reused as real clients reuse them, registered and unknown API keys, Jira PATs, Basic,
OAuth 1.0 Application Links, session cookies, anonymous calls and broken credentials.

Everything it needs (issuer keys, the key registry) is built in memory and on a temp dir."""

from __future__ import annotations

import base64
import json
import random
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.keys import new_key
from schemas.credential import CredentialEvent, CredentialKind
from schemas.request import RequestEvent
from schemas.settings import Settings

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Share of calls per kind of client (a Jira DC fronted by SSO, with scripts and integrations).
WEIGHTS = {
    "cookie": 30,
    "jwt": 22,
    "basic": 12,
    "pat": 10,
    "api-key": 8,
    "oauth1": 5,
    "anonymous": 6,
    "basic-query": 2,
    "opaque": 2,
    "malformed": 2,
    "unknown-key": 1,
}
PATHS = [
    "/rest/api/2/issue/PROJ-{n}",
    "/rest/api/2/search",
    "/rest/api/2/myself",
    "/rest/agile/1.0/board/{n}/sprint",
    "/rest/api/content/{n}",
    "/rest/api/2/project",
]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class Mix:
    settings: Settings
    registry: dict[str, CredentialEvent]
    events: list[RequestEvent] = field(default_factory=list)

    def lines(self) -> list[bytes]:
        return [e.model_dump_json(exclude_none=True).encode() for e in self.events]


def build_mix(
    n: int,
    workdir: Path,
    secret: bytes,
    seed: int = 1,
    start: datetime | None = None,
    span_s: float = 3600.0,
) -> Mix:
    """n events over span_s seconds, and the settings (issuers) and registry they need."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data
    start = start or datetime.now(UTC) - timedelta(seconds=span_s)
    fp = Fingerprinter(secret)
    now = int(start.timestamp())

    issuers: list[dict[str, Any]] = []
    tokens: list[str] = []
    keys: list[tuple[str, PrivateKey, str]] = [
        ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        ("ec", ec.generate_private_key(ec.SECP256R1()), "ES256"),
        ("ed", ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ]
    algorithms = get_default_algorithms()
    for name, key, alg in keys:
        issuer = f"https://{name}.idp.bench.example"
        public = json.loads(algorithms[alg].to_jwk(key.public_key()))
        jwk = {**public, "kid": f"{name}-1", "use": "sig"}
        path = workdir / f"jwks-{name}.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        issuers.append(
            {"issuer": issuer, "jwks_file": str(path), "audiences": ["jira"], "algorithms": [alg]}
        )
        for i in range(100):  # 100 live tokens per issuer, reused across calls
            claims = {
                "iss": issuer,
                "sub": f"user{i}",
                "aud": "jira",
                "jti": f"{name}-{i}",
                "iat": now,
                "exp": now + int(span_s) + 3600,
                "scope": "read:jira",
            }
            tokens.append(jwt.encode(claims, key, algorithm=alg, headers={"kid": f"{name}-1"}))

    registry: dict[str, CredentialEvent] = {}
    api_keys = []
    for i in range(200):
        k = new_key(fp)
        api_keys.append(k.secret)
        registry[k.fingerprint] = CredentialEvent(
            fingerprint=k.fingerprint,
            key_id=k.key_id,
            kind=CredentialKind.API_KEY,
            user=f"svc-{i}",
            scopes=["read:jira"],
            created_at=start - timedelta(days=1),
        )
    pats = [
        _b64(f"{rng.randrange(10**11, 10**12)}:".encode() + rng.randbytes(20)) for _ in range(300)
    ]
    for pat in pats[:100]:
        f = fp(pat)
        registry[f] = CredentialEvent(
            fingerprint=f,
            key_id=f"pat_{f[-10:]}",
            kind=CredentialKind.PAT,
            user="pat-user",
            created_at=start - timedelta(days=1),
        )
    basics = [f"user{i}:pw-{secrets.token_hex(4)}" for i in range(500)]
    cookies = [f"JSESSIONID={secrets.token_hex(16).upper()}" for i in range(3000)]
    unknown_keys = [new_key(fp).secret for _ in range(20)]

    settings = Settings.model_validate(
        {
            "validation": {"issuers": issuers},
            "policy": {"schemes": {"basic": "flag", "basic-query": "block", "oauth1": "flag"}},
        }
    )
    kinds = list(WEIGHTS)
    weights = list(WEIGHTS.values())
    events = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        headers: dict[str, str] = {}
        query = None
        # Each credential lives at a home address (a client machine), as in real traffic;
        # broken and anonymous clients come from a few hundred addresses.
        who = rng.randrange(300)
        if kind == "cookie":
            who = rng.randrange(len(cookies))
            headers["cookie"] = cookies[who] + "; atlassian.xsrf.token=x"
        elif kind == "jwt":
            who = int(rng.paretovariate(1.2)) % len(tokens)
            headers["authorization"] = "Bearer " + tokens[who]
        elif kind == "basic":
            who = rng.randrange(len(basics))
            headers["authorization"] = "Basic " + _b64(basics[who].encode())
        elif kind == "pat":
            who = rng.randrange(len(pats))
            headers["authorization"] = "Bearer " + pats[who]
        elif kind == "api-key":
            who = rng.randrange(len(api_keys))
            headers["x-api-key"] = api_keys[who]
        elif kind == "unknown-key":
            headers["x-api-key"] = rng.choice(unknown_keys)
        elif kind == "oauth1":
            who = rng.randrange(3)
            headers["authorization"] = (
                f'OAuth oauth_consumer_key="applink-{who}", oauth_token="t{i % 50}", '
                'oauth_signature_method="RSA-SHA1", oauth_signature="c2lnbmF0dXJl"'
            )
        elif kind == "basic-query":
            query = f"os_username=legacy&os_password=pw{rng.randrange(5)}&maxResults=50"
        elif kind == "opaque":
            headers["authorization"] = f"Bearer {rng.getrandbits(128):032x}"
        elif kind == "malformed":
            headers["authorization"] = rng.choice(["Basic !!!", "Bearer ", "Token x"])
        status = 401 if kind in ("malformed", "unknown-key", "opaque") else 200
        stable = zlib.crc32(f"{kind}:{who}".encode()) & 0xFFFFFF
        home = stable if rng.random() < 0.995 else rng.getrandbits(24)  # a few roam
        ip = f"10.{home >> 16 & 3}.{home >> 8 & 255}.{home % 253 + 1}"
        events.append(
            RequestEvent.model_validate(
                {
                    "event_id": f"b{seed}-{i}",
                    "timestamp": start + timedelta(seconds=span_s * i / max(n, 1)),
                    "method": "GET",
                    "path": rng.choice(PATHS).format(n=rng.randrange(1, 5000)),
                    "query": query,
                    "status": status,
                    "client_ip": ip,
                    "headers": headers,
                    "user_agent": "bench/1.0",
                    "gateway": "bench",
                }
            )
        )
    return Mix(settings, registry, events)
