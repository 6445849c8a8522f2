"""The one exception tree of restguard: a root, family bases, leaves that carry their data."""

from __future__ import annotations


class RestguardError(Exception):
    """Base class of every error restguard raises on purpose."""


# --- configuration -----------------------------------------------------------------------


class ConfigError(RestguardError):
    """A setting is missing, unreadable or invalid."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"setting {setting!r}: {problem}")


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


class KafkaUnavailableError(SinkError):
    """Kafka could not be reached."""

    def __init__(self, servers: str, detail: str) -> None:
        self.servers = servers
        self.detail = detail
        super().__init__(f"Kafka at {servers} is unreachable: {detail}")


class ElasticsearchUnavailableError(SinkError):
    """Elasticsearch could not be reached or answered with a server error."""

    def __init__(self, hosts: str, detail: str) -> None:
        self.hosts = hosts
        self.detail = detail
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
        self.detail = detail
        super().__init__(f"bulk write failed after {attempts} attempts: {detail}")


# --- local services ------------------------------------------------------------------------


class ServiceError(RestguardError):
    """A local service (Kafka, Elasticsearch) could not be fetched, started or stopped."""

    def __init__(self, service: str, problem: str) -> None:
        self.service = service
        self.problem = problem
        super().__init__(f"{service}: {problem}")
