"""Decisions through the real Kafka: manual and detected, signed, verified by enforcement points
(the SDK and `restguard enforce serve`), forged ones refused, newcomers rebuilt from the topic."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from elasticsearch import ApiError

from pipeline.decisions.publish import publish_decisions
from pipeline.decisions.signing import DecisionSigner
from pipeline.enforce.sdk import Enforcer
from pipeline.es.client import sync_client
from pipeline.es.indices import decisions_alias
from pipeline.kafka.producer import Producer
from schemas.decision import Action, Decision, SubjectType
from schemas.request import RequestEvent
from tests.integration.harness import REPO, Namespace, Worker, wait_for
from tests.integration.test_validation import cli, event, send


@pytest.fixture
def enforcer(namespace: Namespace) -> Iterator[Enforcer]:
    sdk = Enforcer(namespace.settings()).start()
    assert sdk.wait_synced(30)
    yield sdk
    sdk.stop()


def probe(ip: str, **headers: str) -> RequestEvent:
    return RequestEvent.model_validate(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "method": "GET",
            "path": "/rest/api/2/x",
            "status": 0,
            "client_ip": ip,
            "headers": headers,
        }
    )


def decision(
    subject: str,
    action: Action,
    minutes: float = 10,
    offset_s: float = 0,
    kind: SubjectType = SubjectType.IP,
) -> Decision:
    now = datetime.now(UTC) + timedelta(seconds=offset_s)
    return Decision(
        id=uuid.uuid4().hex,
        subject_type=kind,
        subject=subject,
        action=action,
        reason="test",
        rule="manual",
        issued_at=now,
        expires_at=now + timedelta(minutes=minutes),
        issuer="test",
    )


def test_manual_block_and_lift_reach_an_enforcer(namespace: Namespace, enforcer: Enforcer) -> None:
    """`decisions block` is refused by an SDK within a second; `decisions lift` allows again."""
    ip = "203.0.113.77"
    assert enforcer.check(probe(ip)).allow
    start = time.monotonic()
    out = cli(namespace, "decisions", "block", "--ip", ip, "--for", "10m", "--reason", "abuse")
    assert out.returncode == 0, out.stderr.decode()
    wait_for(lambda: not enforcer.check(probe(ip)).allow, 10, "the block to arrive")
    assert time.monotonic() - start < 10
    listed = cli(namespace, "decisions", "list", "--json")
    assert [orjson.loads(x)["subject"] for x in listed.stdout.splitlines()] == [ip]
    out = cli(namespace, "decisions", "lift", f"ip:{ip}")
    assert out.returncode == 0, out.stderr.decode()
    wait_for(lambda: enforcer.check(probe(ip)).allow, 10, "the lift to arrive")


def test_forged_unsigned_moved_and_replayed_decisions_are_refused(
    namespace: Namespace, enforcer: Enforcer
) -> None:
    """Only decisions signed by a trusted key, on their own subject, newer than the one held,
    change anything; an unsigned tombstone cannot lift a live block."""
    settings = namespace.settings()
    ip = "203.0.113.88"
    old_lift = decision(ip, Action.LIFT, offset_s=-60)
    publish_decisions(settings, [decision(ip, Action.BLOCK)])
    wait_for(lambda: not enforcer.check(probe(ip)).allow, 10, "the block")

    rogue = DecisionSigner(Ed25519PrivateKey.generate(), settings.decisions.issuer)
    trusted = DecisionSigner.from_settings(settings.decisions)
    key = f"ip:{ip}".encode()
    other = decision("198.51.100.99", Action.LIFT)
    with Producer(settings.kafka) as producer:
        topic = settings.topics.decisions
        producer.send(topic, decision(ip, Action.LIFT).model_dump_json().encode(), key=key)
        producer.send(topic, rogue.sign(decision(ip, Action.LIFT)), key=key)
        producer.send(topic, trusted.sign(old_lift), key=key)  # a replay: older than the block
        producer.send(topic, trusted.sign(other), key=key)  # moved to another subject's key
        producer.send(topic, None, key=key)  # an unsigned tombstone
        producer.flush()
    wait_for(lambda: sum(enforcer.decisions.rejections.values()) >= 4, 10, "4 rejections")
    time.sleep(0.5)
    assert not enforcer.check(probe(ip)).allow
    reasons = " | ".join(enforcer.decisions.rejections)
    for word in ("no JWS", "unknown key", "replayed", "another subject"):
        assert word in reasons


def test_a_newcomer_rebuilds_the_current_set(namespace: Namespace) -> None:
    """An enforcement point that starts late reads the compacted topic from the start."""
    settings = namespace.settings()
    a, b = decision("192.0.2.10", Action.BLOCK), decision("192.0.2.11", Action.BLOCK)
    publish_decisions(settings, [a, b])
    publish_decisions(
        settings, [decision("192.0.2.10", Action.LIFT, offset_s=1)], tombstones=["ip:192.0.2.10"]
    )
    late = Enforcer(settings).start()
    try:
        assert late.wait_synced(30)
        assert late.check(probe("192.0.2.10")).allow
        assert not late.check(probe("192.0.2.11")).allow
    finally:
        late.stop()


def test_detection_blocks_a_brute_forcer_everywhere(
    namespace: Namespace, workers: Callable[..., Worker], enforcer: Enforcer, tmp_path: Path
) -> None:
    """Failed logins from one address → the worker's decision → the SDK refuses it; the
    decision is indexed beside the audit trail."""
    workers()
    attacker = "203.0.113.66"
    failures = [
        event(i, {"authorization": "Basic YWRtaW46Z3Vlc3M="}, ip=attacker)
        | {"status": 401, "path": "/rest/auth/1/session", "method": "POST"}
        for i in range(15)
    ]
    send(namespace, failures, tmp_path / "attack.jsonl")
    wait_for(lambda: not enforcer.check(probe(attacker)).allow, 60, "a block on the attacker")
    answer = enforcer.check(probe(attacker))
    assert answer.rule == "brute-force"
    settings = namespace.settings()

    def indexed() -> int:
        client = sync_client(settings.elasticsearch)
        try:
            client.indices.refresh(
                index=f"{settings.elasticsearch.index_prefix}-decisions-*",
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            return int(
                client.count(
                    index=decisions_alias(settings.elasticsearch),
                    query={"term": {"subject": attacker}},
                    ignore_unavailable=True,
                )["count"]
            )
        except ApiError:  # the daily index may still be allocating its shard
            return 0
        finally:
            client.close()

    wait_for(lambda: indexed() == 1, 30, "the decision in Elasticsearch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(namespace: Namespace, tmp_path: Path) -> Iterator[tuple[str, Namespace]]:
    port = free_port()
    namespace.extra = {
        "enforce": {"port": port, "publish_events": True},
        "policy": {"schemes": {"basic": "block"}},
    }
    env = {**namespace.env(), "PATH": "/usr/bin:/bin"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "enforce", "serve"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: _get(f"{url}/healthz")[0] == 200,
        60,
        "enforce serve up",
        lambda: (tmp_path / "serve.log").read_text(),
    )
    yield url, namespace
    proc.terminate()
    proc.wait(20)
    log.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)
    except OSError:
        return 0, {}


def test_enforce_serve_for_nginx_and_envoy(
    serve: tuple[str, Namespace], workers: Callable[..., Worker]
) -> None:
    """The HTTP decision point allows, denies by decision and by inline policy, streams the
    decisions over SSE (snapshot, then changes), and publishes what it saw."""
    url, ns = serve
    status, headers = _get(
        f"{url}/authz", {"X-Original-URI": "/rest/api/2/myself", "X-Real-IP": "10.1.2.3"}
    )
    assert status == 200
    status, headers = _get(
        f"{url}/authz",
        {
            "X-Original-URI": "/rest/api/2/myself",
            "X-Real-IP": "10.1.2.3",
            "Authorization": "Basic YWxpY2U6czNjcmV0",
        },
    )
    assert (status, headers["X-Restguard-Rule"]) == (403, "scheme:basic")

    stream = urllib.request.urlopen(f"{url}/decisions/stream", timeout=20)
    first = _sse_event(stream)
    assert first["event"] == "synced"
    out = cli(ns, "decisions", "block", "--ip", "10.1.2.3", "--for", "5m", "--reason", "test")
    assert out.returncode == 0, out.stderr.decode()
    change = _sse_event(stream)
    assert change["event"] == "decision"
    assert change["data"]["subject"] == "10.1.2.3"
    stream.close()

    status, headers = _get(f"{url}/envoy/rest/api/2/search", {"X-Forwarded-For": "10.1.2.3"})
    assert (status, headers["X-Restguard-Rule"]) == (403, "manual")

    metrics = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    assert 'restguard_enforce_requests_total{result="deny"} 2' in metrics

    # What the point saw went to Kafka as request events: the worker audits them.
    workers()
    from tests.integration.harness import audit_count

    wait_for(lambda: audit_count(ns.settings()) >= 3, 60, "published events audited")


def _sse_event(stream: Any) -> dict[str, Any]:
    event: dict[str, Any] = {}
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = orjson.loads(line[6:])
        elif line == "" and "event" in event:
            return event
