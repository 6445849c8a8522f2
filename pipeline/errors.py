"""The one exception tree of restguard: a root, family bases, leaves that carry their data."""

from __future__ import annotations

import threading

# --- secrets in messages -------------------------------------------------------------------

MASK = "***"
_secrets: tuple[str, ...] = ()  # longest first; replaced whole, so readers need no lock
_secrets_lock = threading.Lock()


class HiddenStr(str):
    """A secret string whose repr is masked: libraries that log their config dict (kafka-python
    logs its admin client's) print *** instead of the password."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def hide_secret(value: str) -> HiddenStr:
    """Remember a secret in use, so `scrub` removes it from every message we build."""
    global _secrets
    if value:
        with _secrets_lock:
            _secrets = tuple(sorted({*_secrets, str(value)}, key=len, reverse=True))
    return HiddenStr(value)


def scrub(text: str) -> str:
    """The text with every secret in use (a Kafka password, an Elasticsearch key) masked."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


class RestguardError(Exception):
    """Base class of every error restguard raises on purpose."""


# --- configuration -----------------------------------------------------------------------


class ConfigError(RestguardError):
    """A setting is missing, unreadable or invalid."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = scrub(problem)
        super().__init__(f"setting {setting!r}: {self.problem}")


# --- invalid input -----------------------------------------------------------------------


class InvalidEventError(RestguardError):
    """An input record (gateway event, log line) cannot be used; it goes to the dead letters."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class EventParseError(InvalidEventError):
    """A line or record could not be parsed into a RequestEvent."""


class EventTooLargeError(InvalidEventError):
    """A line, record or header is over its size bound."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(f"{what} is {size} bytes, over the limit of {limit}")


class SealError(InvalidEventError):
    """An event's sealed credentials cannot be opened or made."""


class SealFormatError(SealError):
    """The sealed field is no box of a known version, or its content is no set of credentials."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"sealed credentials unreadable: {problem}")


class UnknownSealKeyError(SealError):
    """The box is sealed to a key this process does not hold."""

    def __init__(self, kid: str, held: tuple[str, ...]) -> None:
        self.kid = kid
        self.held = held
        super().__init__(
            f"sealed credentials for key {kid}, which is not held here "
            f"(held: {', '.join(held) or 'none; see secrets.seal_private_key_files'})"
        )


class SealTamperedError(SealError):
    """The box does not authenticate: altered, moved to another event, or forged."""

    def __init__(self) -> None:
        super().__init__(
            "sealed credentials do not authenticate (altered, moved to another event, or "
            "sealed for another key under this key's id)"
        )


# --- authentication / validation -----------------------------------------------------------


class AuthError(RestguardError):
    """A credential could not be validated; carries the outcome and its reason."""

    def __init__(self, outcome: str, reason: str) -> None:
        self.outcome = outcome
        self.reason = reason
        super().__init__(f"{outcome}: {reason}")


# --- enforcement ---------------------------------------------------------------------------


class EnforcementError(RestguardError):
    """An enforcement point cannot apply or trust a decision."""


class DecisionRejectedError(EnforcementError):
    """A decision record failed verification (unsigned, forged, replayed or expired)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"decision rejected: {reason}")


# --- sinks and transports ------------------------------------------------------------------


class SinkError(RestguardError):
    """Kafka or Elasticsearch refused or failed a write."""

    def __init__(self, message: str) -> None:
        # Client libraries' texts are quoted here: never let a password or key through.
        super().__init__(scrub(message))


class KafkaUnavailableError(SinkError):
    """Kafka could not be reached."""

    def __init__(self, servers: str, detail: str) -> None:
        self.servers = servers
        self.detail = scrub(detail)
        super().__init__(f"Kafka at {servers} is unreachable: {detail}")


class ElasticsearchUnavailableError(SinkError):
    """Elasticsearch could not be reached or answered with a server error."""

    def __init__(self, hosts: str, detail: str) -> None:
        self.hosts = hosts
        self.detail = scrub(detail)
        super().__init__(f"Elasticsearch at {hosts} is unavailable: {detail}")


class DocumentRejectedError(SinkError):
    """Elasticsearch refused one document for good (e.g. a mapping conflict)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BackpressureError(SinkError):
    """A bulk write still failed after its bounded retries; the caller must slow down."""

    def __init__(self, attempts: int, detail: str) -> None:
        self.attempts = attempts
        self.detail = scrub(detail)
        super().__init__(f"bulk write failed after {attempts} attempts: {detail}")


# --- local services ------------------------------------------------------------------------


class ServiceError(RestguardError):
    """A local service (Kafka, Elasticsearch) could not be fetched, started or stopped."""

    def __init__(self, service: str, problem: str) -> None:
        self.service = service
        self.problem = problem
        super().__init__(f"{service}: {problem}")
