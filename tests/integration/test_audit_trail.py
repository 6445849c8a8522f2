"""Gateway log → Kafka → agents → Elasticsearch, through the real services."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest
from elasticsearch import helpers

from pipeline.cli.check import check_result
from pipeline.core import build_processor
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, search_audit
from pipeline.ingest.lines import read_lines
from pipeline.ingest.run import ingest
from pipeline.kafka.admin import admin_client
from pipeline.kafka.producer import Producer
from pipeline.sample import SampleTraffic
from schemas.request import RequestEvent
from tests.conftest import TEST_SECRET
from tests.integration.harness import (
    REPO,
    Namespace,
    Worker,
    audit_count,
    caught_up,
    topic_values,
    wait_for,
)

N = 3000


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "requests.jsonl"
    with path.open("wb") as fh:
        for event in SampleTraffic(seed=11).events(N):
            fh.write(orjson.dumps(event) + b"\n")
    return path


def _ingest(ns: Namespace, path: Path, fmt: str = "json") -> int:
    settings = ns.settings()
    with path.open("rb") as fh, Producer(settings.kafka) as producer:
        summary = ingest(read_lines(fh), producer, settings, fmt=fmt, source=path.name)
    assert producer.failed == 0
    return summary.events


def _secrets_in(path: Path) -> set[str]:
    """Every raw credential the sample carries: what must never be stored."""
    found: set[str] = set()
    for line in path.read_bytes().splitlines():
        event = orjson.loads(line)
        for name, value in event.get("headers", {}).items():
            if name == "authorization":
                keyword, _, token = value.partition(" ")
                if keyword == "Basic":
                    try:
                        found.add(base64.b64decode(token).decode().partition(":")[2])
                    except ValueError:
                        continue
                elif keyword == "OAuth":
                    for part in token.split(","):
                        key, _, val = part.strip().partition("=")
                        if key in ("oauth_token", "oauth_signature"):
                            found.add(val.strip('"'))
                found.add(token)
            elif name == "cookie":
                found.update(p.split("=", 1)[1] for p in value.split("; ") if "=" in p)
            elif name == "x-api-key":
                found.add(value)
        for key, val in parse_qsl(event.get("query") or ""):
            if key == "os_password":
                found.add(val)
    return {s for s in found if len(s) >= 8}


class TestAuditTrail:
    def test_every_event_is_indexed_once(
        self, namespace: Namespace, workers: Callable[..., Worker], sample_file: Path
    ) -> None:
        """Ingest → agents → Elasticsearch holds exactly one record per event, with the same
        classification `restguard check` gives; re-ingesting adds no duplicates."""
        settings = namespace.settings()
        workers()
        assert _ingest(namespace, sample_file) == N
        wait_for(lambda: audit_count(settings) >= N, 120, f"{N} audit records")

        processor = build_processor(settings, TEST_SECRET)
        expected = Counter(
            check_result(processor, RequestEvent.model_validate_json(line))["scheme"]
            for line in sample_file.read_bytes().splitlines()
        )
        for scheme, count in expected.items():
            assert audit_count(settings, AuditFilter(scheme=scheme)) == count, scheme

        assert _ingest(namespace, sample_file) == N
        wait_for(
            lambda: (
                caught_up(settings, settings.topics.requests)
                and caught_up(settings, settings.topics.audit)
            ),
            60,
            "re-ingest processed",
        )
        # Both copies went through the pipeline, yet the index holds each event once.
        audit_lines = sum(v.count(b"\n") + 1 for v in topic_values(settings, settings.topics.audit))
        assert audit_lines == 2 * N
        assert audit_count(settings) == N

    def test_audit_search_finds_the_records(
        self, namespace: Namespace, workers: Callable[..., Worker], sample_file: Path
    ) -> None:
        """`restguard audit search` filters by scheme, user and path through the CLI."""
        settings = namespace.settings()
        workers()
        _ingest(namespace, sample_file)
        wait_for(lambda: audit_count(settings) >= N, 120, f"{N} audit records")
        env = {**namespace.env(), "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "audit",
                "search",
                "--scheme",
                "basic",
                "--user",
                "svc-jenkins",
                "--path",
                "/rest/",
                "--limit",
                "10000",
                "--json",
            ],
            capture_output=True,
            env=env,
            cwd=REPO,
            check=True,
            timeout=60,
        )
        docs = [orjson.loads(line) for line in out.stdout.splitlines()]
        client = sync_client(settings.elasticsearch)
        try:
            direct = search_audit(
                client,
                settings.elasticsearch,
                AuditFilter(scheme="basic", user="svc-jenkins"),
                10_000,
            )
        finally:
            client.close()
        assert docs
        assert len(docs) == len(direct)
        assert all(d["restguard"]["scheme"] == "basic" for d in docs)
        assert all(d["user"]["name"] == "svc-jenkins" for d in docs)

    def test_no_raw_credential_is_stored(
        self, namespace: Namespace, workers: Callable[..., Worker], sample_file: Path
    ) -> None:
        """After a full run (ingest, classify, index, detect, decide), a scan of every topic but
        the requests topic (the Faust changelogs too), every index and every log file written
        finds none of the passwords, tokens, keys and cookie values that went in."""
        settings = namespace.settings()
        worker = workers()
        secrets = _secrets_in(sample_file)
        assert len(secrets) > 20
        with sample_file.open("ab") as fh:  # a broken line that carries a credential
            fh.write(
                b'{"timestamp": "bad", "headers": {"authorization": "Bearer '
                + sorted(secrets)[0].encode()
                + b'"}}\n'
            )
        ingest_log = subprocess.run(
            [sys.executable, "-m", "pipeline", "ingest", "--format", "json", str(sample_file)],
            env={**namespace.env(), "PATH": "/usr/bin:/bin"},
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=120,
        )
        wait_for(lambda: audit_count(settings) >= N, 120, f"{N} audit records")
        wait_for(
            lambda: caught_up(settings, settings.topics.signals),
            60,
            "detection caught up",
            worker.tail,
        )

        places: dict[str, str] = {}
        admin = admin_client(settings.kafka)
        try:
            topics = sorted(t for t in admin.list_topics() if namespace.run in t)
        finally:
            admin.close()
        assert settings.topics.requests in topics
        for topic in topics:
            if topic != settings.topics.requests:
                places[f"topic {topic}"] = b"\n".join(
                    topic_values(settings, topic, timeout_ms=1500)
                ).decode(errors="replace")
        assert any("changelog" in t for t in topics), topics
        client = sync_client(settings.elasticsearch)
        try:
            indices = sorted(client.indices.get(index=f"{settings.elasticsearch.index_prefix}-*"))
            for index in indices:
                places[f"index {index}"] = "\n".join(
                    orjson.dumps(hit["_source"]).decode()
                    for hit in helpers.scan(client, index=index)
                )
        finally:
            client.close()
        assert any("-audit-" in i for i in indices)
        places["worker log"] = worker.log.read_text(errors="replace")
        places["ingest output"] = (ingest_log.stdout + ingest_log.stderr).decode(errors="replace")
        for log in sorted((REPO / "var" / "services").glob("*/logs/*.log")):
            places[f"service log {log.name}"] = log.read_text(errors="replace")

        audit = places[f"topic {settings.topics.audit}"]
        assert audit.count("hmac-sha256:") >= N // 2  # the scan reads real content
        assert places[f"topic {settings.topics.deadletter}"], "the broken line is dead-lettered"
        for place, text in places.items():
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{len(leaked)} raw credentials found in the {place}"


def test_bad_lines_are_dead_lettered_and_the_stream_goes_on(
    namespace: Namespace, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """Unparseable lines go to the dead-letter topic with their line numbers; the good lines
    around them are all indexed."""
    settings = namespace.settings()
    workers()
    good = [orjson.dumps(e) for e in SampleTraffic(seed=2).events(200)]
    lines = [*good[:100], b"not json", b'{"method": "GET"}', *good[100:]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _ingest(namespace, path) == 200
    wait_for(lambda: audit_count(settings) >= 200, 60, "200 audit records")
    letters = [orjson.loads(v) for v in topic_values(settings, settings.topics.deadletter)]
    assert sorted(d["line"] for d in letters) == [101, 102]
    assert all(d["source"] == "mixed.jsonl" and d["reason"] for d in letters)


def test_index_templates_take_shards_and_replicas_from_settings(namespace: Namespace) -> None:
    """On a cluster the daily indices get the configured shards and replicas (the template is
    checked, no index is created: one node cannot place a replica)."""
    namespace.extra = {"elasticsearch": {"shards": 3, "replicas": 1}}
    settings = namespace.create()
    client = sync_client(settings.elasticsearch)
    try:
        name = f"{settings.elasticsearch.index_prefix}-audit"
        [template] = client.indices.get_index_template(name=name)["index_templates"]
    finally:
        client.close()
    index = template["index_template"]["template"]["settings"]["index"]
    assert (index["number_of_shards"], index["number_of_replicas"]) == ("3", "1")
