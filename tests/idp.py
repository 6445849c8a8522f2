"""A real, small OpenID provider for tests, on 127.0.0.1: discovery, JWKS, RFC 7662
introspection. It signs real tokens with RSA, EC and Ed25519 keys, can rotate them and can go
down. It stands in for the identity provider users run beside Jira, which we do not ship."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
ALG_OF = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}
CLIENT_ID, CLIENT_SECRET = "restguard", "introspection-secret-123"


def new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(pub))
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(pub))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(pub))
    return {**jwk, "kid": kid, "use": "sig"}


class IdentityProvider:
    def __init__(self, audience: str = "jira") -> None:
        self.audience = audience
        self.keys: dict[str, tuple[str, PrivateKey]] = {}  # kid → (kind, key)
        for kind in ("rsa", "ec", "ed"):
            self.keys[f"{kind}-1"] = (kind, new_key(kind))
        self.opaque: dict[str, dict[str, Any]] = {}
        self.down = False
        self.requests: dict[str, int] = {}
        self._generation = 1
        self._lock = threading.Lock()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                return None

            def _count(self) -> None:
                with idp._lock:
                    path = self.path.split("?")[0]
                    idp.requests[path] = idp.requests.get(path, 0) + 1

            def _send(self, status: int, doc: object) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._count()
                if idp.down:
                    return self._send(503, {"error": "down"})
                if self.path == "/.well-known/openid-configuration":
                    return self._send(
                        200,
                        {
                            "issuer": idp.issuer,
                            "jwks_uri": f"{idp.issuer}/jwks",
                            "introspection_endpoint": f"{idp.issuer}/introspect",
                        },
                    )
                if self.path == "/jwks":
                    return self._send(200, idp.jwks())
                return self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                self._count()
                if idp.down:
                    return self._send(503, {"error": "down"})
                expected = (
                    "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                )
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"error": "invalid_client"})
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                claims = idp.opaque.get(form.get("token", ""))
                if claims is None:
                    return self._send(200, {"active": False})
                return self._send(200, claims)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> IdentityProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key, kid) for kid, (_, key) in self.keys.items()]}

    def rotate(self, kind: str) -> str:
        """Replace the key of one kind with a new one (new kid); returns the new kid."""
        self._generation += 1
        for kid in [k for k, (t, _) in self.keys.items() if t == kind]:
            del self.keys[kid]
        kid = f"{kind}-{self._generation}"
        self.keys[kid] = (kind, new_key(kind))
        return kid

    def kid_of(self, kind: str) -> str:
        return next(k for k, (t, _) in self.keys.items() if t == kind)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": self.audience,
            "iat": now,
            "exp": now + 3600,
            "jti": f"jti-{now}-{id(overrides)}",
            "scope": "read:jira",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        kind: str = "rsa",
        *,
        kid: str | None = None,
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        kid = kid or self.kid_of(kind)
        _, key = self.keys[kid] if kid in self.keys else (kind, self.keys[self.kid_of(kind)][1])
        return jwt.encode(
            self.claims(**claims),
            key,
            algorithm=alg or ALG_OF[kind],
            headers={"kid": kid, **(headers or {})},
        )

    def introspectable(self, token: str, **claims: Any) -> str:
        self.opaque[token] = {"active": True, **self.claims(**claims)}
        return token
