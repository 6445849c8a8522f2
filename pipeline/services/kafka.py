"""The local Apache Kafka: one KRaft process that is both broker and controller.

Besides the PLAINTEXT listener everything uses, a SASL_SSL listener on kafka_port + 2 (29094)
lets the secure connection settings be tried and tested for real: its certificate is signed by
a local CA, and the user `restguard` logs in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from pipeline.errors import ServiceError
from pipeline.services.layout import DEPLOY_LOCAL, cache_root
from pipeline.services.process import ManagedProcess, Progress, fetch_with_maven, port_open
from pipeline.services.tls import TlsFiles, local_tls
from pipeline.settings import ensure_secret_file
from schemas.settings import KafkaSettings, LocalServiceSettings, SaslMechanism

MAIN_CLASS = "kafka.Kafka"
SECURE_USER = "restguard"

_PROPERTIES = """\
# Written by `restguard services up`; edit the settings (local.*), not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},\
SECURE://127.0.0.1:{secure}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SECURE://127.0.0.1:{secure}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL
inter.broker.listener.name=PLAINTEXT
# SECURE: SASL over TLS (a local CA's certificate), for the secure connection settings.
listener.name.secure.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.secure.plain.sasl.jaas.config=\
org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";
listener.name.secure.scram-sha-256.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.ssl.keystore.type=PEM
listener.name.secure.ssl.keystore.location={keystore}
log.dirs={data}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Packs of request events can be large; allow 8 MiB records.
message.max.bytes=8388608
log.retention.check.interval.ms=60000
log.cleaner.backoff.ms=5000
"""


class LocalKafka:
    """Fetch, configure, format, start, health-check and stop the local broker."""

    name = "kafka"

    def __init__(self, settings: LocalServiceSettings) -> None:
        self.settings = settings
        self.home = settings.home.resolve() / "kafka"
        self.process = ManagedProcess("kafka", self.home, marker=f"{self.home}/server.properties")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def secure_port(self) -> int:
        return self.settings.kafka_port + 2

    @property
    def secure_password_file(self) -> Path:
        return self.home / "secure" / "password"

    def secure_tls(self) -> TlsFiles:
        return local_tls(self.home / "secure" / "tls")

    def secure_settings(self, mechanism: SaslMechanism = "SCRAM-SHA-512") -> KafkaSettings:
        """Settings that reach this broker through its SASL_SSL listener."""
        return KafkaSettings(
            bootstrap_servers=[f"127.0.0.1:{self.secure_port}"],
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,
            sasl_username=SECURE_USER,
            sasl_password_file=self.secure_password_file,
            ssl_cafile=self.secure_tls().ca,
        )

    def lib_dir(self) -> Path:
        return cache_root(self.settings) / f"kafka-{self.settings.kafka_version}" / "lib"

    def fetch(self, progress: Progress) -> Path:
        return fetch_with_maven(
            DEPLOY_LOCAL / "kafka" / "pom.xml",
            self.lib_dir(),
            {"kafka.version": self.settings.kafka_version},
            progress,
        )

    def _java(self, lib: Path, *args: str, heap: str | None = None) -> list[str]:
        jvm = [f"-Xmx{heap}", f"-Xms{heap}"] if heap else ["-Xmx256m"]
        return [
            "java",
            *jvm,
            "-XX:+UseG1GC",
            f"-XX:ErrorFile={self.home}/hs_err_%p.log",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            f"-Dlog4j2.configurationFile={DEPLOY_LOCAL / 'kafka' / 'log4j2.xml'}",
            "-cp",
            f"{lib}/*",
            *args,
        ]

    def configure(self) -> Path:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        ensure_secret_file(self.secure_password_file)
        props = self.home / "server.properties"
        props.touch(mode=0o600)  # it holds the PLAIN password
        props.chmod(0o600)
        props.write_text(
            _PROPERTIES.format(
                port=self.settings.kafka_port,
                controller=self.settings.kafka_controller_port,
                secure=self.secure_port,
                user=SECURE_USER,
                password=self.secure_password_file.read_text().strip(),
                keystore=self.secure_tls().keystore,
                data=data,
            )
        )
        return props

    def _add_scram_user(self) -> None:
        """The SCRAM credentials of the secure listener's user (kept in the cluster metadata)."""
        from kafka.admin import UserScramCredentialUpsertion

        from pipeline.kafka.admin import admin_client

        password = self.secure_password_file.read_text().strip()
        admin = admin_client(KafkaSettings(bootstrap_servers=[self.bootstrap]))
        try:
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):  # one per request
                result = admin.alter_user_scram_credentials(
                    [UserScramCredentialUpsertion(SECURE_USER, mechanism, password)]
                )
                if result.get(SECURE_USER):
                    raise ServiceError(
                        "kafka", f"{mechanism} user not created: {result[SECURE_USER]}"
                    )
        finally:
            admin.close()

    def _format(self, lib: Path, props: Path, progress: Progress) -> None:
        if (self.home / "data" / "meta.properties").is_file():
            return
        progress("kafka: formatting storage (first start)")
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java(
                lib,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0:
            raise ServiceError(
                "kafka", f"formatting storage failed:\n{result.stdout}{result.stderr}"
            )

    def healthy(self) -> bool:
        """True when the broker answers a metadata request."""
        if not port_open("127.0.0.1", self.settings.kafka_port):
            return False
        from pipeline.kafka.admin import cluster_answers

        return cluster_answers(KafkaSettings(bootstrap_servers=[self.bootstrap]), timeout_s=3.0)

    def start(self, progress: Progress) -> str:
        if self.process.pid() is not None:
            return "already running"
        for port in (
            self.settings.kafka_port,
            self.settings.kafka_controller_port,
            self.secure_port,
        ):
            if port_open("127.0.0.1", port):
                raise ServiceError(
                    "kafka", f"port {port} is taken by another program; set local.kafka_port"
                )
        lib = self.fetch(progress)
        props = self.configure()
        self._format(lib, props, progress)
        progress(f"kafka: starting on {self.bootstrap}")
        self.process.start(self._java(lib, MAIN_CLASS, str(props), heap=self.settings.kafka_heap))
        took = self.process.wait_healthy(self.healthy, self.settings.start_timeout_s, progress)
        self._add_scram_user()
        return f"started in {took:.1f}s"

    def stop(self) -> bool:
        return self.process.stop()

    def status(self) -> tuple[bool, str]:
        pid = self.process.pid()
        if pid is None:
            return False, "stopped"
        return self.healthy(), f"pid {pid}, {self.bootstrap}"
