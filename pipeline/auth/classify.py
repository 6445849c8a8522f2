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
# Distinct session cookies one request may carry (a browser sends one per cookie path, and
# Jira and Confluence each set a few); a Cookie header with more is one malformed credential,
# as one over max_header_bytes is. With one Authorization (or gateway) credential, one per
# API-key header and at most 4 + len(api_key_params) from the query, this bounds the
# credentials of any request, whatever it repeats (each is a part of its audit document).
MAX_SESSION_COOKIES = 8


class Classifier:
    """Pure: the same RequestEvent always gives the same Classification for one secret."""

    def __init__(self, settings: ClassifierSettings, fingerprint: Fingerprinter) -> None:
        self._ctx = TokenContext(fingerprint, settings.max_token_bytes)
        self._fingerprint = fingerprint
        self._api_key_headers = tuple(settings.api_key_headers)
        self._api_key_set = frozenset(self._api_key_headers)
        self._api_key_params = frozenset(p.lower() for p in settings.api_key_params)
        self._cookies = {c.lower(): c for c in settings.session_cookies}
        self._max_header = settings.max_header_bytes
        self._proxies: tuple[IPNetwork, ...] = tuple(settings.trusted_proxies)
        # Credentials are immutable values: a header seen before parses to the same result.
        ctx = self._ctx
        self._authorization = lru_cache(maxsize=_CACHE)(lambda v: parse_authorization(v, ctx))
        self._cookie_header = lru_cache(maxsize=_CACHE)(lambda v: tuple(self._cookies_in(v)))
        self._header_token = lru_cache(maxsize=_CACHE)(self._parse_header_token)

    def classify(self, event: RequestEvent) -> Classification:
        headers = event.headers
        found: list[Credential] = []
        primary: Credential | None = None  # the first found is the primary: sources are
        # visited in precedence order

        auth = headers.get("authorization")
        if auth is not None:
            primary = self._authorization(auth)
            found.append(primary)
        elif GATEWAY_SCHEME_HEADER in headers:
            scheme = _GATEWAY_SCHEMES.get(headers[GATEWAY_SCHEME_HEADER].lower())
            if scheme is not None:
                primary = Credential(scheme, Location.GATEWAY, "gateway", principal=event.username)
                found.append(primary)

        if not self._api_key_set.isdisjoint(headers):  # one C-level pass in the common case
            for name in self._api_key_headers:
                value = headers.get(name)
                if value is not None:
                    found.append(self._header_token(name, value))

        query = event.query
        redacted = query
        in_url = False
        if query and "=" in query:
            pairs = parse_query(query)
            from_url = query_credentials(pairs, self._api_key_params, self._ctx)
            if from_url:
                found.extend(from_url)
                in_url = True
            redacted, _ = redact_query(pairs, self._api_key_params)

        cookie = headers.get("cookie")
        if cookie:
            found.extend(self._cookie_header(cookie))

        if primary is None and found:
            primary = found[0]
        username = event.username
        if username and username != "-":
            principal: str | None = username
        else:
            principal = primary.principal if primary is not None else None
        return Classification(  # positional: the cheapest way to build a tuple
            primary.scheme if primary is not None else Scheme.ANONYMOUS,
            tuple(found),
            primary,
            principal,
            self.client_ip(event) if self._proxies else event.client_ip,
            redacted,
            in_url,
        )

    def _parse_header_token(self, name: str, value: str) -> Credential:
        if len(value) > self._max_header:
            return malformed(Location.HEADER, name, f"header over {self._max_header} bytes")
        return token_credential(
            value.strip(), Location.HEADER, name, self._ctx, default=Scheme.API_KEY
        )

    def _cookies_in(self, header: str) -> list[Credential]:
        if len(header) > self._max_header:
            return [
                malformed(Location.COOKIE, "cookie", f"Cookie header over {self._max_header} bytes")
            ]
        found: dict[str, Credential] = {}  # by material: a cookie sent twice is one credential
        for part in header.split(";"):
            name, eq, value = part.strip().partition("=")
            canonical = self._cookies.get(name.lower()) if eq else None
            value = value.strip().strip('"')
            if canonical is None or not value:
                continue
            material = f"{canonical}={value}"
            if material in found:
                continue
            if len(found) == MAX_SESSION_COOKIES:
                return [
                    malformed(
                        Location.COOKIE,
                        "cookie",
                        f"Cookie header with over {MAX_SESSION_COOKIES} session cookies",
                    )
                ]
            found[material] = Credential(
                Scheme.SESSION_COOKIE,
                Location.COOKIE,
                canonical,
                secret=material,
                fingerprint=self._fingerprint(material),
            )
        return list(found.values())

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
