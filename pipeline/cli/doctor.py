"""`restguard doctor`: check and explain what restguard needs, exit 1 if something is wrong.

Secrets are never printed: a setting's value is shown redacted, only its source and state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import orjson
from elasticsearch import AuthenticationException
from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.cli.common import settings_of
from pipeline.decisions.signing import load_private, load_public_keys
from pipeline.errors import RestguardError, scrub
from pipeline.es.client import describe as describe_es
from pipeline.es.client import sync_client
from pipeline.kafka.admin import admin_client, cluster_problem, topic_specs
from pipeline.kafka.producer import Producer
from pipeline.kafka.security import client_kwargs
from pipeline.kafka.security import consumer as new_consumer
from pipeline.kafka.security import describe as describe_kafka
from pipeline.settings import fingerprint_secret
from schemas.settings import Settings

PROBE_TOPIC = "restguard.doctor"
MAX_SKEW_S = 2.0


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Check = Callable[[Settings], list[Finding]]


def _secrets(settings: Settings) -> list[Finding]:
    out = []
    try:
        fingerprint_secret(settings)
        source = (
            "RESTGUARD_SECRETS__FINGERPRINT_SECRET"
            if settings.secrets.fingerprint_secret
            else str(settings.secrets.fingerprint_secret_file)
        )
        out.append(Finding("fingerprint secret", True, f"set (from {source}; value not shown)"))
    except RestguardError as err:
        out.append(
            Finding(
                "fingerprint secret",
                False,
                str(err),
                "restguard secrets init (or set the environment variable)",
            )
        )
    try:
        keys = load_public_keys(settings.decisions)
        out.append(Finding("decision keys", True, f"{len(keys)} verification key(s)"))
    except RestguardError as err:
        out.append(Finding("decision keys", False, str(err), "restguard secrets init"))
    try:
        load_private(settings.decisions.signing_key_file)
        out.append(Finding("decision signing key", True, "readable (workers and CLI can sign)"))
    except RestguardError:
        out.append(
            Finding(
                "decision signing key",
                True,
                "absent here (fine on an enforcement point, which only verifies)",
            )
        )
    return out


def _kafka(settings: Settings) -> list[Finding]:
    servers = settings.kafka.bootstrap
    try:
        client_kwargs(settings.kafka)  # reads the password and the TLS files now
    except RestguardError as err:
        return [Finding("kafka security", False, str(err), "fix the setting it names")]
    out = [Finding("kafka security", True, describe_kafka(settings.kafka))]
    problem = cluster_problem(settings.kafka, timeout_s=5.0)
    if problem is not None:
        return [
            *out,
            Finding(
                "kafka",
                False,
                f"{servers} does not answer: {problem}",
                "restguard services up (local), or check kafka.bootstrap_servers and the "
                "security settings",
            ),
        ]
    out.append(Finding("kafka", True, f"{servers} answers"))
    admin = admin_client(settings.kafka)
    try:
        described = {
            t["name"]: t for t in admin.describe_topics([s.name for s in topic_specs(settings)])
        }
        for spec in topic_specs(settings):
            topic = described.get(spec.name)
            if topic is None or topic.get("error_code"):
                out.append(
                    Finding(
                        f"topic {spec.name}",
                        False,
                        "missing",
                        "restguard worker creates it (or restguard ingest)",
                    )
                )
                continue
            partitions = len(topic["partitions"])
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, spec.name)], config_filter="all"
            )
            values = configs.get("topic", {}).get(spec.name, {})
            policy = (values.get("cleanup.policy") or {}).get("value")
            problems = []
            if partitions < spec.partitions:
                problems.append(f"{partitions} partitions, expected {spec.partitions}")
            if policy != spec.config["cleanup.policy"]:
                problems.append(
                    f"cleanup.policy {policy}, expected {spec.config['cleanup.policy']}"
                )
            out.append(
                Finding(
                    f"topic {spec.name}",
                    not problems,
                    "; ".join(problems) or f"{partitions} partition(s), {policy}",
                    "recreate the topic or alter its config" if problems else "",
                )
            )
        out += _lag(settings)
        out.append(_skew(settings))
    except KafkaError as err:
        out.append(Finding("kafka", False, scrub(f"{type(err).__name__}: {err}")))
    finally:
        admin.close()
    return out


def _lag(settings: Settings) -> list[Finding]:
    group = settings.worker.app_id
    admin = admin_client(settings.kafka)
    consumer = new_consumer(settings.kafka)
    try:
        offsets = admin.list_group_offsets(group)
        offsets = offsets.get(group, offsets)
        out = []
        for name, topic in (
            ("classify", settings.topics.requests),
            ("index", settings.topics.audit),
            ("detect", settings.topics.signals),
        ):
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
            if not tps:
                continue
            ends = consumer.end_offsets(tps)
            lag = sum(
                end - (offsets[tp].offset if tp in offsets else 0) for tp, end in ends.items()
            )
            out.append(
                Finding(
                    f"lag of agent {name}",
                    lag < 10_000,
                    f"{lag:,} records behind on {topic}",
                    "start more workers (same worker.app_id)" if lag >= 10_000 else "",
                    {"lag": lag},
                )
            )
        return out
    finally:
        consumer.close()
        admin.close()


def _skew(settings: Settings) -> Finding:
    """The broker stamps a probe record (LogAppendTime); compare with our clock."""
    admin = admin_client(settings.kafka)
    try:
        admin.create_topics(
            [
                NewTopic(
                    PROBE_TOPIC,
                    1,
                    settings.topics.replication_factor,
                    topic_configs={
                        "message.timestamp.type": "LogAppendTime",
                        "retention.ms": "3600000",
                    },
                )
            ]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    consumer = new_consumer(settings.kafka, consumer_timeout_ms=5000)
    tp = TopicPartition(PROBE_TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    start = consumer.position(tp)
    with Producer(settings.kafka) as producer:
        before = time.time()
        producer.send(PROBE_TOPIC, b"probe")
        producer.flush()
        after = time.time()
    consumer.seek(tp, start)
    stamp = next((m.timestamp for m in consumer), None)
    consumer.close()
    if stamp is None:
        return Finding("clock skew", False, "the probe record did not come back")
    skew = stamp / 1000 - (before + after) / 2
    return Finding(
        "clock skew against Kafka",
        abs(skew) <= MAX_SKEW_S + (after - before),
        f"{skew * 1000:+.0f} ms",
        "synchronise this host's clock (NTP)",
        {"skew_ms": round(skew * 1000)},
    )


def _elasticsearch(settings: Settings) -> list[Finding]:
    hosts = ",".join(settings.elasticsearch.hosts)
    try:
        client = sync_client(settings.elasticsearch)  # reads the key or password files now
    except RestguardError as err:
        return [Finding("elasticsearch security", False, str(err), "fix the setting it names")]
    out = [Finding("elasticsearch security", True, describe_es(settings.elasticsearch))]
    try:
        try:
            health = client.cluster.health()
        except AuthenticationException:
            return [
                *out,
                Finding(
                    "elasticsearch",
                    False,
                    f"{hosts} refused the credentials (401)",
                    "check elasticsearch.api_key, or username and password",
                ),
            ]
        except Exception as err:
            # elastic-transport's str() of a TLS or connection error is only "TLS error".
            why = scrub(f"{type(err).__name__}: {getattr(err, 'message', '')}".rstrip(": "))
            return [
                *out,
                Finding(
                    "elasticsearch",
                    False,
                    f"{hosts} does not answer ({why})",
                    "restguard services up (local), or check elasticsearch.hosts and the TLS "
                    "settings",
                ),
            ]
        out.append(
            Finding(
                "elasticsearch",
                health["status"] in ("green", "yellow"),
                f"{hosts}: cluster {health['status']}",
            )
        )
        prefix = settings.elasticsearch.index_prefix
        for kind in ("audit", "decisions"):
            name = f"{prefix}-{kind}"
            exists = client.indices.exists_index_template(name=name).body
            out.append(
                Finding(
                    f"index template {name}",
                    bool(exists),
                    "installed" if exists else "missing",
                    "" if exists else "restguard worker installs it",
                )
            )
        return out
    except Exception as err:
        return [*out, Finding("elasticsearch", False, f"{hosts}: {type(err).__name__}")]
    finally:
        client.close()


CHECKS: list[tuple[str, Check]] = [
    ("secrets", _secrets),
    ("kafka", _kafka),
    ("elasticsearch", _elasticsearch),
]


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Check settings, secrets, Kafka (topics, partitions, compaction, lag, clock skew) and
    Elasticsearch (health, index templates); exit 1 if anything is wrong."""
    settings = settings_of(ctx)  # an invalid setting already stops here, naming it
    findings = [Finding("settings", True, "valid")]
    for _, check in CHECKS:
        findings += check(settings)
    bad = [f for f in findings if not f.ok]
    if as_json:
        click.echo(
            orjson.dumps({"ok": not bad, "findings": [f.__dict__ for f in findings]}).decode()
        )
    else:
        for f in findings:
            mark = "ok  " if f.ok else "FAIL"
            click.echo(
                f"{mark} {f.check}: {f.detail}" + (f"  → {f.hint}" if f.hint and not f.ok else "")
            )
    if bad:
        ctx.exit(1)
