"""Faults injected into the real pipeline, each ending with the counts adding up: a worker
killed with SIGKILL mid-stream, one of two workers dying, the Kafka broker restarting, and
Elasticsearch going away for a while.

The stream is N calls with known attackers in it: ATTACKERS each fail 15 times within 30 s
(over brute_force's 10 per 60 s: exactly one decision each), NEAR_MISSES each fail 9 times (one
short: a replayed call counted twice would block them). After every fault Elasticsearch must
hold exactly N audit records, each attacker exactly one decision and no near miss any."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.decisions.signing import DecisionVerifier
from pipeline.es.client import sync_client
from pipeline.ingest.lines import read_lines
from pipeline.ingest.run import ingest
from pipeline.kafka.producer import Producer
from pipeline.services import LocalService, local_services
from schemas.settings import Settings
from tests.integration.harness import (
    REPO,
    Namespace,
    Worker,
    audit_count,
    caught_up,
    topic_values,
    wait_for,
)
from tests.integration.test_enforcement import free_port
from tests.integration.test_validation import cli

N = 12_000
ATTACKERS = [f"198.18.1.{i}" for i in range(1, 7)]
NEAR_MISSES = [f"198.18.2.{i}" for i in range(1, 7)]


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:wrong-{user}".encode()).decode()


def stream(n: int = N, start: datetime | None = None) -> list[dict[str, Any]]:
    """n calls, one per 50 ms of event time; the attackers' and near misses' failures spread
    through it, each burst within 30 s."""
    start = start or datetime.now(UTC) - timedelta(hours=1)
    bursts: dict[int, tuple[str, str]] = {}
    subjects = [(ip, 15) for ip in ATTACKERS] + [(ip, 9) for ip in NEAR_MISSES]
    for k, (ip, count) in enumerate(subjects):
        first = (k + 1) * n // (len(subjects) + 2)
        for j in range(count):
            bursts[first + j * 40] = (ip, f"user-{ip.rsplit('.', 2)[1]}-{ip.rsplit('.', 1)[1]}")
    events = []
    for i in range(n):
        at = (start + timedelta(milliseconds=50 * i)).isoformat()
        if i in bursts:
            ip, user = bursts[i]
            event = {
                "event_id": f"f-{i:06d}",
                "timestamp": at,
                "method": "GET",
                "path": "/rest/api/2/myself",
                "status": 401,
                "client_ip": ip,
                "headers": {"authorization": _basic(user)},
            }
        else:
            event = {
                "event_id": f"f-{i:06d}",
                "timestamp": at,
                "method": "GET",
                "path": f"/rest/api/2/issue/PROJ-{i % 997}",
                "status": 200,
                "client_ip": f"10.{i % 7}.{i % 211}.{i % 251 + 1}",
                # one session per address (a session used from many would be a hijacking)
                "headers": {"cookie": f"JSESSIONID=s{i % 7}x{i % 211}x{i % 251}"},
            }
        events.append(event)
    return events


def feed(ns: Namespace, events: list[dict[str, Any]], path: Path) -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    settings = ns.settings()
    with path.open("rb") as fh, Producer(settings.kafka) as producer:
        summary = ingest(read_lines(fh), producer, settings, fmt="json", source=path.name)
    assert producer.failed == 0
    assert summary.events == len(events)


def decisions_by_subject(settings: Settings) -> dict[str, set[str]]:
    """Every decision on the topic, verified: subject → the distinct decision ids."""
    verifier = DecisionVerifier.from_settings(settings.decisions)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False
    )
    out: dict[str, set[str]] = defaultdict(set)
    try:
        tp = TopicPartition(settings.topics.decisions, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        while end and consumer.position(tp) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                for r in records:
                    if r.value is not None:
                        d = verifier.verify(r.key.decode(), r.value)
                        out[d.subject].add(d.id)
    finally:
        consumer.close()
    return out


def settled(settings: Settings, worker: Worker, expected: int, timeout: float = 180) -> None:
    """Every call indexed, and every topic the agents read committed to its end."""
    wait_for(lambda: audit_count(settings) >= expected, timeout, "all calls indexed", worker.tail)
    for topic in (settings.topics.requests, settings.topics.audit, settings.topics.signals):
        wait_for(partial(caught_up, settings, topic), 60, f"{topic} consumed", worker.tail)
    time.sleep(2.0)  # the last decisions' acks (they are sent before the state is written)


def assert_counts_add_up(settings: Settings, expected: int = N) -> None:
    assert audit_count(settings) == expected  # exactly: none lost, none twice (id = event id)
    decisions = decisions_by_subject(settings)
    for ip in ATTACKERS:
        assert len(decisions.get(ip, set())) == 1, (ip, decisions.get(ip))
    for ip in NEAR_MISSES:
        assert ip not in decisions, (ip, decisions[ip])

    def indexed() -> int:
        client = sync_client(settings.elasticsearch)
        try:
            client.indices.refresh(index=f"{settings.elasticsearch.index_prefix}-decisions-*")
            return int(
                client.count(
                    index=f"{settings.elasticsearch.index_prefix}-decisions-*",
                    query={"terms": {"subject": ATTACKERS}},
                )["count"]
            )
        finally:
            client.close()

    # indexed by decision id: a re-issued decision is the same document
    wait_for(lambda: indexed() >= len(ATTACKERS), 60, "the decisions indexed")
    assert indexed() == len(ATTACKERS)


@pytest.fixture
def faulty(namespace: Namespace) -> Namespace:
    namespace.extra = {"worker": {"batch_within_s": 0.05}}
    return namespace


def test_worker_killed_mid_stream_resumes_without_loss_or_duplicates(
    faulty: Namespace, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    settings = faulty.settings()
    feed(faulty, stream(), tmp_path / "calls.jsonl")
    first = workers("first")
    wait_for(lambda: audit_count(settings) >= N // 3, 120, "a third indexed", first.tail)
    first.kill()  # SIGKILL: no commit, no flush, no goodbye
    at_kill = audit_count(settings)
    assert at_kill < N, "the worker finished before it could be killed; raise N"
    second = workers("second")
    settled(settings, second, N)
    assert_counts_add_up(settings)


def test_two_workers_one_dies_and_the_survivor_takes_over(
    faulty: Namespace, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    settings = faulty.settings()
    survivor = workers("survivor")
    doomed = workers("doomed")
    wait_for(
        lambda: b"Assigned" in doomed.log.read_bytes() or b"assigned" in doomed.log.read_bytes(),
        60,
        "the second worker assigned partitions",
        doomed.tail,
    )
    feed(faulty, stream(), tmp_path / "calls.jsonl")
    wait_for(lambda: audit_count(settings) >= N // 4, 120, "a quarter indexed", doomed.tail)
    doomed.kill()
    settled(settings, survivor, N)
    assert survivor.alive()
    assert_counts_add_up(settings)


def _service(settings: Settings, name: str) -> LocalService:
    return next(s for s in local_services(settings.local) if type(s).__name__ == name)


@pytest.fixture
def restore_services(local_settings: Settings) -> Iterator[None]:
    """Whatever a test stops is running again afterwards, for the tests that follow."""
    yield
    for svc in local_services(local_settings.local):
        if not svc.status()[0]:
            svc.start(print)


def test_kafka_restart_mid_stream(
    faulty: Namespace,
    workers: Callable[..., Worker],
    tmp_path: Path,
    local_settings: Settings,
    restore_services: None,
) -> None:
    """The broker stops while `restguard ingest` is feeding it and a worker is consuming; both
    reconnect when it is back; every acknowledged call ends up indexed once."""
    settings = faulty.settings()
    kafka = _service(local_settings, "LocalKafka")
    worker = workers()
    events = stream()
    env = {**faulty.env(), "PATH": "/usr/bin:/bin"}
    ingest_log = tmp_path / "ingest.log"
    with ingest_log.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "ingest", "-", "--format", "json"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    assert proc.stdin is not None
    half = len(events) // 2
    for e in events[:half]:
        proc.stdin.write(orjson.dumps(e) + b"\n")
    proc.stdin.flush()
    wait_for(
        lambda: audit_count(settings) >= half // 2, 120, "the first calls indexed", worker.tail
    )

    kafka.stop()
    assert not kafka.status()[0]
    # Calls keep arriving while the broker is down: the producer buffers and retries.
    writer = threading.Thread(
        target=lambda: [proc.stdin.write(orjson.dumps(e) + b"\n") for e in events[half:]]  # type: ignore[union-attr]
    )
    writer.start()
    time.sleep(10)
    kafka.start(print)
    writer.join(60)
    proc.stdin.close()
    assert proc.wait(180) == 0, ingest_log.read_text()
    settled(settings, worker, N, timeout=300)
    assert worker.alive()
    assert_counts_add_up(settings)


def test_elasticsearch_outage_backs_off_and_indexes_everything_once(
    faulty: Namespace,
    workers: Callable[..., Worker],
    tmp_path: Path,
    local_settings: Settings,
    restore_services: None,
) -> None:
    """Elasticsearch stops mid-stream: calls keep flowing into Kafka and through
    classification, the indexer holds its offsets (nothing committed past what Elasticsearch
    acknowledged), and after Elasticsearch returns every call is indexed exactly once."""
    settings = faulty.settings()
    elastic = _service(local_settings, "LocalElasticsearch")
    events = stream()
    half = len(events) // 2
    worker = workers()
    feed(faulty, events[:half], tmp_path / "first.jsonl")
    settled(settings, worker, half)

    elastic.stop()
    stopped = time.monotonic()
    feed(faulty, events[half:], tmp_path / "second.jsonl")
    wait_for(
        lambda: caught_up(settings, settings.topics.requests),
        120,
        "classification to go on without Elasticsearch",
        worker.tail,
    )
    time.sleep(max(5.0, 60 - (time.monotonic() - stopped)))  # a minute away; the indexer retries
    assert not caught_up(settings, settings.topics.audit)  # offsets held: nothing acked
    assert worker.alive()
    elastic.start(print)
    settled(settings, worker, N, timeout=300)
    assert_counts_add_up(settings)


def test_a_rejected_document_is_dead_lettered_and_the_stream_goes_on(
    faulty: Namespace, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """A daily index whose mapping conflicts with the audit record (here `user.name` as a
    number) rejects those documents: they go to the dead-letter topic with Elasticsearch's
    reason, every other call is indexed, and nothing blocks."""
    settings = faulty.settings()
    events = stream(2_000, start=datetime(2024, 2, 29, 12, 0, tzinfo=UTC))
    conflict = f"{settings.elasticsearch.index_prefix}-audit-2024.02.29"
    client = sync_client(settings.elasticsearch)
    try:
        client.indices.create(
            index=conflict,
            mappings={"properties": {"user": {"properties": {"name": {"type": "long"}}}}},
        )
    finally:
        client.close()
    worker = workers()
    feed(faulty, events, tmp_path / "calls.jsonl")
    named = sum(1 for e in events if "authorization" in e["headers"])  # Basic: a user name

    def letters() -> list[dict[str, Any]]:
        return [orjson.loads(v) for v in topic_values(settings, settings.topics.deadletter)]

    wait_for(lambda: len(letters()) >= named, 120, "the rejected documents", worker.tail)
    settled(settings, worker, len(events) - named)
    rejected = letters()
    assert len(rejected) == named
    assert all("rejected by Elasticsearch" in d["reason"] for d in rejected)
    assert all(d["source"] == settings.topics.audit for d in rejected)
    assert audit_count(settings) == len(events) - named
    raw = orjson.dumps(rejected).decode()
    assert "wrong-user" not in raw  # the dead letters carry no password
    assert worker.alive()


def _get(url: str) -> tuple[int, dict[str, Any], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
    except OSError:
        return 0, {}, b""


def _authz(url: str, ip: str) -> tuple[int, str | None]:
    req = urllib.request.Request(
        f"{url}/authz", headers={"X-Original-URI": "/rest/api/2/myself", "X-Real-IP": ip}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers.get("X-Restguard-Rule")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("X-Restguard-Rule")
    except OSError:
        return 0, None  # no answer within 5 s: the point hung


def _health(url: str) -> tuple[int, dict[str, Any]]:
    status, _, body = _get(f"{url}/healthz")
    return status, (orjson.loads(body) if body else {})


@pytest.fixture
def serve_points(faulty: Namespace, tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """Start `enforce serve` processes (port, fail mode, publishing per call); stop them all."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> tuple[str, Path]:
        port = free_port()
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pipeline",
                        "enforce",
                        "serve",
                        "--port",
                        str(port),
                        *args,
                    ],
                    env={**faulty.env(), "PATH": "/usr/bin:/bin"},
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        return f"http://127.0.0.1:{port}", log

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


def test_enforce_serve_rides_out_a_kafka_outage(
    faulty: Namespace,
    workers: Callable[..., Worker],
    serve_points: Callable[..., tuple[str, Path]],
    local_settings: Settings,
    restore_services: None,
) -> None:
    """With the broker gone, a synced `enforce serve` keeps refusing what the last decisions
    refuse, answers every call without waiting for Kafka, reports itself disconnected and
    growing stale, and publishes what it saw once the broker is back (each call audited once).
    Points that never synced follow their fail mode: closed refuses (health 503), open allows."""
    settings = faulty.settings()
    kafka = _service(local_settings, "LocalKafka")
    url, log = serve_points("synced", "--publish", "--fail-mode", "closed")
    wait_for(lambda: _health(url)[0] == 200, 60, "the point synced", log.read_text)
    blocked = "198.51.100.7"
    out = cli(faulty, "decisions", "block", "--ip", blocked, "--for", "10m", "--reason", "fault")
    assert out.returncode == 0, out.stderr.decode()
    wait_for(lambda: _authz(url, blocked) == (403, "manual"), 30, "the block applied")
    calls = 1  # the probe that saw the block; every call below is counted too
    for i in range(5):
        assert _authz(url, f"10.7.0.{i}")[0] == 200
        calls += 1

    kafka.stop()
    assert not kafka.status()[0]
    wait_for(lambda: _health(url)[1].get("connected") is False, 60, "the point disconnected")
    answers = []
    for i in range(20):
        answers.append(_authz(url, blocked))
        answers.append(_authz(url, f"10.7.1.{i}"))
    calls += len(answers)
    assert answers[0::2] == [(403, "manual")] * 20  # the last decisions still apply
    assert [a[0] for a in answers[1::2]] == [200] * 20  # and nothing waits for Kafka
    status, first = _health(url)
    assert status == 200
    assert first["synced"] is True
    assert first["publisher"]["pending"] + first["publisher"]["acked"] >= 6
    time.sleep(2)
    later = _health(url)[1]
    assert later["stale_s"] > first["stale_s"]

    closed, closed_log = serve_points("never-synced-closed", "--fail-mode", "closed")
    opened, opened_log = serve_points("never-synced-open", "--fail-mode", "open")
    wait_for(lambda: _health(closed)[0] == 503, 90, "the closed point up", closed_log.read_text)
    wait_for(lambda: _health(opened)[0] == 200, 90, "the open point up", opened_log.read_text)
    assert _health(closed)[1]["synced"] is False
    assert _health(opened)[1]["synced"] is False
    assert _authz(closed, "10.7.2.1") == (403, "fail-closed")
    assert _authz(opened, "10.7.2.1")[0] == 200
    assert _authz(opened, blocked)[0] == 200  # open means open: it knows no decision yet

    kafka.start(print)
    wait_for(lambda: _health(url)[1].get("connected") is True, 90, "the point reconnected")
    wait_for(lambda: _health(closed)[0] == 200, 90, "the closed point synced at last")
    assert _authz(closed, blocked) == (403, "manual")
    wait_for(lambda: _authz(opened, blocked) == (403, "manual"), 30, "the open point synced")
    worker = workers()
    wait_for(
        lambda: _health(url)[1]["publisher"]["acked"] >= calls,
        90,
        f"the {calls} calls published",
        lambda: str(_health(url)[1]),
    )
    wait_for(lambda: audit_count(settings) >= calls, 120, f"{calls} calls audited", worker.tail)
    time.sleep(3)
    assert audit_count(settings) == calls
