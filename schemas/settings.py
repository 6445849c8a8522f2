"""The settings contract: one model, read from a TOML file and RESTGUARD_* environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    """Kafka topic names and shapes."""

    requests: str = "restguard.requests"
    audit: str = "restguard.audit"
    credentials: str = "restguard.credentials"
    decisions: str = "restguard.decisions"
    deadletter: str = "restguard.deadletter"
    signals: str = "restguard.signals"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    replication_factor: Annotated[int, Field(ge=1, le=16)] = 1
    # The raw request topic may carry credentials: keep it short.
    requests_retention_hours: Annotated[int, Field(ge=1)] = 24
    audit_retention_hours: Annotated[int, Field(ge=1)] = 7 * 24


class KafkaSettings(_Section):
    """How to reach Kafka."""

    bootstrap_servers: list[str] = ["127.0.0.1:29092"]
    client_id: str = "restguard"
    # Producer batching: a few milliseconds of linger turns per-record sends into batches.
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    compression: Literal["none", "lz4", "gzip", "snappy", "zstd"] = "lz4"
    # Events packed into one Kafka record by `ingest` (1 = one event per record).
    pack_size: Annotated[int, Field(ge=1, le=10_000)] = 200

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)


class ElasticsearchSettings(_Section):
    """How to reach Elasticsearch and how to write to it."""

    hosts: list[str] = ["http://127.0.0.1:29200"]
    index_prefix: str = "restguard"
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    bulk_max_docs: Annotated[int, Field(ge=1)] = 5000
    bulk_max_retries: Annotated[int, Field(ge=0)] = 5
    bulk_max_backoff_s: Annotated[float, Field(gt=0)] = 30.0
    retention_days: Annotated[int, Field(ge=1)] = 90
    refresh_interval: str = "1s"


class ClassifierSettings(_Section):
    """What the classifier treats as a credential, and the size bounds it enforces."""

    api_key_headers: list[str] = ["x-api-key", "api-key", "x-restguard-key"]
    api_key_params: list[str] = ["api_key", "apikey", "api-key"]
    session_cookies: list[str] = [
        "JSESSIONID",
        "seraph.rememberme.cookie",
        "seraph.confluence",
        "crowd.token_key",
        "studio.crowd.tokenkey",
    ]
    # Proxies whose X-Forwarded-For is believed; any other sender's header is ignored.
    trusted_proxies: list[IPvAnyNetwork] = []
    max_header_bytes: Annotated[int, Field(ge=256)] = 8192
    max_token_bytes: Annotated[int, Field(ge=256)] = 8192

    @field_validator("api_key_headers")
    @classmethod
    def _lower(cls, names: list[str]) -> list[str]:
        return [n.lower() for n in names]


class SecretSettings(_Section):
    """Where the secrets come from: a value (environment) or a file."""

    fingerprint_secret: SecretStr | None = None
    fingerprint_secret_file: Path = Path("var/secrets/fingerprint.key")


class WorkerSettings(_Section):
    """The Faust worker."""

    app_id: str = "restguard"
    # Events handled together: classification, one send per pack, one bulk per batch.
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 2000
    batch_within_s: Annotated[float, Field(gt=0)] = 0.25
    data_dir: Path = Path("var/worker")
    web_port: Annotated[int, Field(ge=0, le=65535)] = 6066
    web_enabled: bool = False
    session_timeout_s: Annotated[float, Field(gt=0)] = 30.0


class LocalServiceSettings(_Section):
    """The embedded Kafka and Elasticsearch that `restguard services` fetches and runs."""

    home: Path = Path("var/services")
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/restguard or ~/.cache/restguard
    kafka_version: str = "4.4.0"
    kafka_port: Annotated[int, Field(ge=1, le=65535)] = 29092
    kafka_controller_port: Annotated[int, Field(ge=1, le=65535)] = 29093
    kafka_heap: str = "512m"
    elasticsearch_version: str = "8.19.21"
    elasticsearch_http_port: Annotated[int, Field(ge=1, le=65535)] = 29200
    elasticsearch_transport_port: Annotated[int, Field(ge=1, le=65535)] = 29300
    elasticsearch_heap: str = "1g"
    start_timeout_s: Annotated[float, Field(gt=0)] = 180.0

    @field_validator("kafka_heap", "elasticsearch_heap")
    @classmethod
    def _heap(cls, value: str) -> str:
        if not value[:-1].isdigit() or value[-1].lower() not in "kmg":
            raise ValueError("a JVM heap size such as 512m or 1g")
        return value


class Settings(BaseSettings):
    """Every setting of restguard. Environment: RESTGUARD_<SECTION>__<NAME>, e.g.
    RESTGUARD_KAFKA__BOOTSTRAP_SERVERS='["kafka:9092"]'."""

    model_config = SettingsConfigDict(
        env_prefix="RESTGUARD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values, then the environment, then the TOML file (if the loader set one).
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    secrets: SecretSettings = SecretSettings()
    worker: WorkerSettings = WorkerSettings()
    local: LocalServiceSettings = LocalServiceSettings()
