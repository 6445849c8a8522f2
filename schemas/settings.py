"""The settings contract: one model, read from a TOML file and RESTGUARD_* environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas.vocabulary import Scheme

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


def _existing_file(path: Path | None) -> Path | None:
    if path is not None and not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file")
    return path


ExistingFile = Annotated[Path | None, AfterValidator(_existing_file)]
KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(_Section):
    """How to reach Kafka, and how to authenticate (SASL) and encrypt (TLS) the connection."""

    bootstrap_servers: list[str] = ["127.0.0.1:29092"]
    client_id: str = "restguard"
    # Producer batching: a few milliseconds of linger turns per-record sends into batches.
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    compression: Literal["none", "lz4", "gzip", "snappy", "zstd"] = "lz4"
    # Events packed into one Kafka record by `ingest` (1 = one event per record).
    pack_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    security_protocol: KafkaProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    # The password: RESTGUARD_KAFKA__SASL_PASSWORD, or a file holding it (never printed).
    sasl_password: SecretStr | None = None
    sasl_password_file: ExistingFile = None
    # TLS (SSL, SASL_SSL): the CA that signed the brokers' certificates (default: the system's),
    # and a client certificate and key for brokers that require one.
    ssl_cafile: ExistingFile = None
    ssl_certfile: ExistingFile = None
    ssl_keyfile: ExistingFile = None
    ssl_check_hostname: bool = True

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @model_validator(mode="after")
    def _security(self) -> KafkaSettings:
        p = self.security_protocol
        if self.sasl:
            if self.sasl_mechanism is None:
                raise ValueError(f"security_protocol {p} needs a sasl_mechanism")
            if not self.sasl_username:
                raise ValueError(f"sasl_mechanism {self.sasl_mechanism} needs a sasl_username")
            if (self.sasl_password is None) == (self.sasl_password_file is None):
                raise ValueError("give the SASL password once: sasl_password or sasl_password_file")
            if p == "SASL_PLAINTEXT" and self.sasl_mechanism == "PLAIN":
                remote = [s for s in self.bootstrap_servers if not _loopback(_host_of(s))]
                if remote:
                    raise ValueError(
                        f"PLAIN over SASL_PLAINTEXT would send the password in clear text to "
                        f"{', '.join(remote)}: use SASL_SSL (or a SCRAM mechanism)"
                    )
        else:
            given = [
                name
                for name in (
                    "sasl_mechanism",
                    "sasl_username",
                    "sasl_password",
                    "sasl_password_file",
                )
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} given but security_protocol {p} does not use SASL "
                    "(SASL_PLAINTEXT or SASL_SSL do)"
                )
        if not self.tls:
            given = [
                name
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} given but security_protocol {p} does not use TLS "
                    "(SSL or SASL_SSL do)"
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile needs the ssl_certfile it belongs to")
        return self


def _host_of(server: str) -> str:
    """The host of a Kafka bootstrap address: host:port, [v6]:port."""
    return server.rsplit(":", 1)[0].strip("[]") if ":" in server else server


class ElasticsearchSettings(_Section):
    """How to reach Elasticsearch, how to authenticate (API key or basic) and verify TLS, and how
    to write to it."""

    hosts: list[str] = ["http://127.0.0.1:29200"]
    # An API key (the "encoded" form Elasticsearch returns, or id:key), or a user and password;
    # each secret as a value (RESTGUARD_ELASTICSEARCH__API_KEY, ...) or a file (never printed).
    api_key: SecretStr | None = None
    api_key_file: ExistingFile = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: ExistingFile = None
    # TLS (https:// hosts): the CA that signed the nodes' certificates (default: the system's),
    # and a client certificate and key for nodes that require one.
    ca_certs: ExistingFile = None
    verify_certs: bool = True
    client_cert: ExistingFile = None
    client_key: ExistingFile = None
    index_prefix: str = "restguard"
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    bulk_max_docs: Annotated[int, Field(ge=1)] = 5000
    bulk_max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    # Bulk requests in flight at once: one keeps a single Elasticsearch core busy at most.
    bulk_concurrency: Annotated[int, Field(ge=1, le=16)] = 2
    # Shards per daily index: more than one lets a node index on several cores.
    shards: Annotated[int, Field(ge=1, le=64)] = 2
    # Copies of each shard on other nodes: 0 for a single node, 1 or more on a cluster.
    replicas: Annotated[int, Field(ge=0, le=8)] = 0
    bulk_max_retries: Annotated[int, Field(ge=0)] = 5
    bulk_max_backoff_s: Annotated[float, Field(gt=0)] = 30.0
    retention_days: Annotated[int, Field(ge=1)] = 90
    refresh_interval: str = "1s"

    @field_validator("hosts")
    @classmethod
    def _no_userinfo(cls, hosts: list[str]) -> list[str]:
        from urllib.parse import urlsplit

        for i, host in enumerate(hosts):
            if "@" in (urlsplit(host).netloc if "//" in host else host):
                # The value itself is not repeated: it holds a password.
                raise ValueError(
                    f"host {i + 1} has credentials in its URL: use elasticsearch.username and "
                    "password (or password_file), or api_key"
                )
        return hosts

    @property
    def tls(self) -> bool:
        return all(h.startswith("https://") for h in self.hosts)

    @model_validator(mode="after")
    def _security(self) -> ElasticsearchSettings:
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("give the API key once: api_key or api_key_file")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give the password once: password or password_file")
        has_key = self.api_key is not None or self.api_key_file is not None
        has_password = self.password is not None or self.password_file is not None
        if has_key and (self.username or has_password):
            raise ValueError("choose one authentication: api_key, or username and password")
        if has_password and not self.username:
            raise ValueError("a password needs its username")
        if self.username and not has_password:
            raise ValueError(f"username {self.username!r} needs a password or password_file")
        schemes = {h.split("://", 1)[0].lower() if "://" in h else "http" for h in self.hosts}
        tls_files = [n for n in ("ca_certs", "client_cert", "client_key") if getattr(self, n)]
        if tls_files and schemes != {"https"}:
            raise ValueError(f"{', '.join(tls_files)} given but not every host is https://")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs the client_cert it belongs to")
        if has_key or has_password:
            clear = [
                h
                for h in self.hosts
                if not h.lower().startswith("https://") and not _loopback(_url_host(h))
            ]
            if clear:
                raise ValueError(
                    f"credentials would cross the network in clear text to {', '.join(clear)}: "
                    "use https://"
                )
        return self


def _url_host(host: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(host if "//" in host else f"http://{host}").hostname


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


ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


def _loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


class IssuerSettings(_Section):
    """One trusted OIDC / OAuth 2.0 issuer of JWTs."""

    issuer: str = Field(description="the exact `iss` value")
    # Where the keys come from: jwks_file, else jwks_uri, else OIDC discovery of the issuer.
    jwks_uri: str | None = None
    jwks_file: Path | None = None
    audiences: list[str] = Field(default=[], description="accepted `aud` values; empty: any")
    algorithms: list[str] = ["RS256", "ES256", "EdDSA"]
    leeway_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    required_claims: list[str] = ["exp", "sub"]
    user_claim: str = "sub"
    scope_claims: list[str] = ["scope", "scp", "roles"]

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme == "https" and url.netloc:
            return value
        if url.scheme == "http" and _loopback(url.hostname):
            return value  # a local identity provider (development, tests)
        raise ValueError(f"{value!r} is not an https URL (http only on loopback)")

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("at least one algorithm")
        for alg in values:
            if alg in SYMMETRIC_ALGORITHMS:
                raise ValueError(
                    f"{alg} is symmetric: an issuer's public keys must never be HMAC secrets"
                )
            if alg not in ASYMMETRIC_ALGORITHMS:
                known = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
                raise ValueError(f"unknown algorithm {alg!r} (known: {known})")
        return values


class ScopeRule(_Section):
    """Calls matching methods + path pattern need every listed scope (or role)."""

    methods: list[str] = Field(default=["*"], description='HTTP methods, "*" for any')
    path: str = Field(description="a glob such as /rest/api/2/issue*")
    scopes: list[str] = Field(min_length=1)

    @field_validator("methods")
    @classmethod
    def _upper(cls, values: list[str]) -> list[str]:
        return [v.upper() for v in values]


class IntrospectionSettings(_Section):
    """RFC 7662 token introspection for opaque bearer tokens."""

    endpoint: str
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    cache_max_s: Annotated[float, Field(ge=0)] = 300.0

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        return IssuerSettings._url(value) or value


class ValidationSettings(_Section):
    """How credentials are checked."""

    issuers: list[IssuerSettings] = []
    scope_rules: list[ScopeRule] = []
    introspection: IntrospectionSettings | None = None
    jwks_refresh_s: Annotated[float, Field(gt=0)] = 600.0
    # On an unknown `kid`, refetch at most this often per issuer.
    jwks_min_refetch_s: Annotated[float, Field(ge=0)] = 10.0
    jwks_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    verified_cache_size: Annotated[int, Field(ge=0)] = 100_000
    # Jira issues PATs: unless registered here, a PAT is judged by Jira (not-validated).
    require_registered_pats: bool = False


VerdictName = Literal["allow", "flag", "block"]


class PolicyException(_Section):
    """Who or what a scheme rule does not apply to. Every given condition must hold."""

    name: str
    verdict: VerdictName = "allow"
    schemes: list[str] = Field(default=[], description="empty: any scheme")
    users: list[str] = []
    consumer_keys: list[str] = Field(default=[], description="OAuth 1.0 Application Links")
    ip_ranges: list[IPvAnyNetwork] = []
    paths: list[str] = Field(default=[], description="globs")

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: list[str]) -> list[str]:
        _check_schemes(value)
        return value


class PolicySettings(_Section):
    """Per-scheme verdicts, their exceptions, and what an invalid credential gets."""

    default: VerdictName = "allow"
    schemes: dict[str, VerdictName] = {}
    exceptions: list[PolicyException] = []
    invalid_credentials: VerdictName = "block"
    credentials_in_url: Literal["flag", "block"] = "flag"

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: dict[str, VerdictName]) -> dict[str, VerdictName]:
        _check_schemes(list(value))
        return value


def _check_schemes(names: list[str]) -> None:
    known = {s.value for s in Scheme}
    for name in names:
        if name not in known:
            raise ValueError(f"unknown scheme {name!r} (known: {', '.join(sorted(known))})")


class ThresholdRule(_Section):
    """A count (or distinct count) of signals per subject within a sliding window."""

    enabled: bool = True
    threshold: Annotated[int, Field(ge=1)]
    window_s: Annotated[float, Field(gt=0, le=7 * 86_400)]


class CampaignRule(_Section):
    """A distributed attack: `threshold` distinct addresses failing logins within the window
    make a campaign; every address among them with `per_ip` failures is blocked."""

    enabled: bool = True
    threshold: Annotated[int, Field(ge=2)] = 25
    window_s: Annotated[float, Field(gt=0, le=86_400)] = 1200
    per_ip: Annotated[int, Field(ge=1)] = 3


class DetectionSettings(_Section):
    """What counts as a failed authentication, the detection rules, and their decisions."""

    failure_statuses: list[int] = [401, 403]
    failure_paths: list[str] = Field(
        default=["/rest/*"], description="globs; failures elsewhere (UI pages) are ignored"
    )
    # Login endpoints: a failure there is a guess, not a stale client retrying its request.
    login_paths: list[str] = [
        "/rest/auth/1/session",
        "/login.jsp",
        "/dologin.action",
        "/rest/gadget/1.0/login",
    ]
    # Failed authentications per source IP.
    brute_force: ThresholdRule = ThresholdRule(threshold=10, window_s=60)
    # Failed logins per source IP over a long window (guessing slower than brute_force sees).
    slow_brute_force: ThresholdRule = ThresholdRule(threshold=60, window_s=3600)
    # Many addresses failing logins at once: each that failed per_ip times is blocked.
    distributed_spray: CampaignRule = CampaignRule()
    # Distinct user names failing from one IP.
    spray: ThresholdRule = ThresholdRule(threshold=6, window_s=600)
    # Distinct IPs failing for one user name (stuffing one account from many places).
    user_stuffing: ThresholdRule = ThresholdRule(threshold=8, window_s=600)
    # Distinct IPs using one credential or token: a leaked credential.
    leaked_credential: ThresholdRule = ThresholdRule(threshold=6, window_s=600)
    # Uses of a revoked credential from one IP.
    revoked_reuse: ThresholdRule = ThresholdRule(threshold=1, window_s=600)
    # Uses of one credential with a scheme the policy blocks.
    policy_block: ThresholdRule = ThresholdRule(threshold=1, window_s=600)
    # Repeat offenders get longer decisions: the n-th offense lasts block_durations[n-1].
    block_durations_s: list[Annotated[float, Field(gt=0)]] = [600, 3600, 86_400, 7 * 86_400]
    offense_memory_s: Annotated[float, Field(gt=0)] = 7 * 86_400
    # A revoked (leaked) credential stays revoked this long: it must be replaced, not waited out.
    revoke_duration_s: Annotated[float, Field(gt=0)] = 30 * 86_400
    # Never blocked, automatically or by hand.
    allowlist_ips: list[IPvAnyNetwork] = []
    allowlist_users: list[str] = []
    # A (credential, IP) pair is reported to detection at most once per this many seconds of
    # event time: half the leaked_credential window keeps every live pair counted.
    signal_dedupe_s: Annotated[float, Field(ge=0)] = 300.0


class DecisionSettings(_Section):
    """Signing decisions (the worker, the CLI) and verifying them (every enforcement point)."""

    issuer: str = "restguard"
    signing_key_file: Path = Path("var/secrets/decisions-ed25519.pem")
    # Public keys receivers accept (PEM). Empty: the public half of signing_key_file.
    verify_key_files: list[Path] = []
    max_clock_skew_s: Annotated[float, Field(ge=0)] = 300.0


class EnforceSettings(_Section):
    """`restguard enforce serve`: the HTTP decision point."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 29400
    # When the decisions were never loaded (Kafka unreachable since start): allow or deny.
    fail_mode: Literal["open", "closed"] = "open"
    # Judge credentials inline with the policy (e.g. block Basic) besides the decisions.
    inline_policy: bool = True
    # Publish what it saw as request events (the gateway then needs no log shipper).
    publish_events: bool = False
    sse_keepalive_s: Annotated[float, Field(gt=0)] = 15.0


class ApiSettings(_Section):
    """`restguard api serve`: the authenticated query API and the dashboard."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 29600
    # Every call to the API is published as a request event, so the API audits its own use.
    publish_events: bool = True


class SecretSettings(_Section):
    """Where the secrets come from: a value (environment) or a file."""

    fingerprint_secret: SecretStr | None = None
    fingerprint_secret_file: Path = Path("var/secrets/fingerprint.key")
    # Sealed credentials (pipeline/auth/seal.py): gateways (ingest, enforce serve, api serve)
    # encrypt every credential of an event to the public key before it reaches the requests
    # topic; workers and `check` open them with the private keys. Upgrade workers first.
    seal_credentials: bool = False
    seal_public_key_file: Path = Path("var/secrets/seal-x25519.pub.pem")
    # The current key and those being rotated out (a box names its key); missing files are
    # skipped, but a worker with seal_credentials on needs at least one.
    seal_private_key_files: list[Path] = [Path("var/secrets/seal-x25519.pem")]


class WorkerSettings(_Section):
    """The Faust worker."""

    app_id: str = "restguard"
    # Events handled together: classification, one send per pack, one bulk per batch.
    # Kafka records taken together: a record may be one event or a pack of them (ingest packs
    # kafka.pack_size), so 50 records are 50 to 10,000 events.
    batch_records: Annotated[int, Field(ge=1, le=10_000)] = 50
    # How long a batch waits to fill: under load batches fill at once; when idle this bounds the
    # latency an event adds on its way to a decision.
    batch_within_s: Annotated[float, Field(gt=0)] = 0.05
    data_dir: Path = Path("var/worker")
    # Prometheus metrics at http://metrics_host:metrics_port/metrics (0: no endpoint). Give each
    # worker on one host its own port (RESTGUARD_WORKER__METRICS_PORT).
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 29500
    metrics_host: str = "127.0.0.1"
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
    validation: ValidationSettings = ValidationSettings()
    policy: PolicySettings = PolicySettings()
    detection: DetectionSettings = DetectionSettings()
    decisions: DecisionSettings = DecisionSettings()
    enforce: EnforceSettings = EnforceSettings()
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    local: LocalServiceSettings = LocalServiceSettings()
