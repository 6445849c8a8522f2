"""The scheme classifier: every credential in a request, the primary one, the readable principal.

Precedence of the primary credential (the first present wins), which mirrors what Jira and
Confluence Data Center act on:

1. the Authorization header (even when malformed: the server rejects the call on it);
2. the scheme a gateway reported without the credential (nginx `$remote_user` means Basic);
3. an API-key header;
4. credentials in the URL: os_username/os_password, OAuth 1.0 parameters, access_token/jwt,
   API-key parameters;
5. a session cookie;
6. none of these: anonymous.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from pipeline.auth.credentials import Classification, Credential
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.query import parse_query, query_credentials, redact_query
from pipeline.auth.schemes import parse_authorization
from pipeline.auth.tokens import TokenContext, malformed, token_credential
from schemas.request import RequestEvent
from schemas.settings import ClassifierSettings, IPNetwork
from schemas.vocabulary import Location, Scheme

# A pseudo-header (leading colon: no HTTP client can send it) by which a log parser reports the
# scheme a gateway saw when the log holds no credential, e.g. nginx's $remote_user.
GATEWAY_SCHEME_HEADER = ":auth-scheme"
_GATEWAY_SCHEMES = {
    s.value: s for s in (Scheme.BASIC, Scheme.DIGEST, Scheme.NEGOTIATE, Scheme.NTLM)
}

_CACHE = 32_768


class Classifier:
    """Pure: the same RequestEvent always gives the same Classification for one secret."""

    def __init__(self, settings: ClassifierSettings, fingerprint: Fingerprinter) -> None:
        self._ctx = TokenContext(fingerprint, settings.max_token_bytes)
        self._fingerprint = fingerprint
        self._api_key_headers = tuple(settings.api_key_headers)
        self._api_key_params = frozenset(p.lower() for p in settings.api_key_params)
        self._cookies = {c.lower(): c for c in settings.session_cookies}
        self._max_header = settings.max_header_bytes
        self._proxies: tuple[IPNetwork, ...] = tuple(settings.trusted_proxies)
        # Credentials are immutable values: a header seen before parses to the same result.
        ctx = self._ctx
        self._authorization = lru_cache(maxsize=_CACHE)(lambda v: parse_authorization(v, ctx))
        self._cookie_header = lru_cache(maxsize=_CACHE)(lambda v: tuple(self._cookies_in(v)))

    def classify(self, event: RequestEvent) -> Classification:
        headers = event.headers
        found: list[tuple[int, Credential]] = []

        auth = headers.get("authorization")
        if auth is not None:
            found.append((0, self._authorization(auth)))
        elif GATEWAY_SCHEME_HEADER in headers:
            scheme = _GATEWAY_SCHEMES.get(headers[GATEWAY_SCHEME_HEADER].lower())
            if scheme is not None:
                cred = Credential(scheme, Location.GATEWAY, "gateway", principal=event.username)
                found.append((1, cred))

        for name in self._api_key_headers:
            value = headers.get(name)
            if value is not None:
                found.append((2, self._header_token(name, value)))

        redacted = event.query
        in_url = False
        if event.query and "=" in event.query:
            pairs = parse_query(event.query)
            for cred in query_credentials(pairs, self._api_key_params, self._ctx):
                found.append((3, cred))
                in_url = True
            redacted, _ = redact_query(pairs, self._api_key_params)

        cookie = headers.get("cookie")
        if cookie:
            found.extend((4, c) for c in self._cookie_header(cookie))

        primary = min(found, key=lambda item: item[0])[1] if found else None
        principal = self._principal(primary, event)
        return Classification(
            scheme=primary.scheme if primary else Scheme.ANONYMOUS,
            credentials=tuple(c for _, c in found),
            primary=primary,
            principal=principal,
            client_ip=self.client_ip(event),
            redacted_query=redacted,
            credentials_in_url=in_url,
        )

    def _header_token(self, name: str, value: str) -> Credential:
        if len(value) > self._max_header:
            return malformed(Location.HEADER, name, f"header over {self._max_header} bytes")
        return token_credential(
            value.strip(), Location.HEADER, name, self._ctx, default=Scheme.API_KEY
        )

    def _cookies_in(self, header: str) -> Iterable[Credential]:
        if len(header) > self._max_header:
            yield malformed(
                Location.COOKIE, "cookie", f"Cookie header over {self._max_header} bytes"
            )
            return
        for part in header.split(";"):
            name, eq, value = part.strip().partition("=")
            canonical = self._cookies.get(name.lower()) if eq else None
            value = value.strip().strip('"')
            if canonical is None or not value:
                continue
            material = f"{canonical}={value}"
            yield Credential(
                Scheme.SESSION_COOKIE,
                Location.COOKIE,
                canonical,
                secret=material,
                fingerprint=self._fingerprint(material),
            )

    @staticmethod
    def _principal(primary: Credential | None, event: RequestEvent) -> str | None:
        """The caller's name: what the gateway knows (e.g. Jira's log), else what the credential
        says without a secret (Basic user, JWT sub, OAuth 1.0 consumer key)."""
        if event.username and event.username != "-":
            return event.username
        return primary.principal if primary else None

    def client_ip(self, event: RequestEvent) -> str:
        """The caller's address: X-Forwarded-For is believed only from a trusted proxy, walking
        the chain from the right until the first untrusted hop."""
        xff = event.headers.get("x-forwarded-for")
        if not xff or not self._proxies or not self._trusted(event.client_ip):
            return event.client_ip
        hops = [h.strip().strip("[]") for h in xff.split(",") if h.strip()]
        current = event.client_ip
        for hop in reversed(hops):
            try:
                ip = ipaddress.ip_address(hop)
            except ValueError:
                return current  # garbage beyond this point was written by an untrusted party
            current = str(ip)
            if not any(ip in net for net in self._proxies):
                return current
        return current

    def _trusted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self._proxies)
