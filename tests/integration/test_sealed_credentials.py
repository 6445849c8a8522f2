"""Sealed credentials through the real services: ingest and the HTTP gateways seal, the requests
topic holds no raw credential, and the workers open every event and record exactly what they
record for the same events unsealed."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from elasticsearch import helpers

from pipeline.auth.seal import Sealer, generate_seal_key
from pipeline.cli.check import check_result
from pipeline.core import build_processor
from pipeline.es.client import sync_client
from pipeline.es.indices import audit_alias
from pipeline.ingest.formats import parser_for
from pipeline.ingest.lines import read_lines, to_event
from pipeline.sample import SampleTraffic
from schemas.request import RequestEvent
from schemas.settings import Settings
from tests.conftest import TEST_SECRET
from tests.integration.harness import (
    REPO,
    Namespace,
    Worker,
    audit_count,
    topic_values,
    wait_for,
)
from tests.integration.test_audit_trail import _ingest, _secrets_in
from tests.integration.test_enforcement import _get, free_port

N = 1500


@pytest.fixture
def sealing(namespace: Namespace, tmp_path: Path) -> Namespace:
    """The namespace with sealing on: gateways get the public key, workers the private one."""
    private, public = tmp_path / "seal.pem", tmp_path / "seal.pub.pem"
    generate_seal_key(private, public)
    namespace.extra = {
        "secrets": {
            "seal_credentials": True,
            "seal_public_key_file": str(public),
            "seal_private_key_files": [str(private)],
        },
        # A revocation lands asynchronously and `check` cannot see it: without it, the
        # outcomes of the agents and of `check` are comparable event by event.
        "detection": {"leaked_credential": {"enabled": False, "threshold": 6, "window_s": 600}},
    }
    return namespace


def _stored(settings: Settings) -> dict[str, dict[str, Any]]:
    client = sync_client(settings.elasticsearch)
    try:
        return {
            hit["_source"]["event"]["id"]: hit["_source"]
            for hit in helpers.scan(client, index=audit_alias(settings.elasticsearch))
        }
    finally:
        client.close()


def _judged(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What an audit record says about the credentials: scheme, fingerprints, outcome."""
    r = doc["restguard"]
    return (
        r["scheme"],
        r["fingerprint"],
        tuple(c["fingerprint"] for c in r["credentials"]),
        r["principal"],
        r["validation"]["outcome"],
        r["verdict"],
    )


def _expected(result: dict[str, Any]) -> tuple[Any, ...]:
    return (
        result["scheme"],
        result["fingerprint"],
        tuple(c["fingerprint"] for c in result["credentials"]),
        result["principal"],
        result["outcome"],
        result["verdict"],
    )


def test_sealed_ingest_is_audited_like_unsealed(
    sealing: Namespace, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """Ingest seals every credential: the requests topic holds none of them, the workers open
    every event and Elasticsearch records the schemes, fingerprints and outcomes that the same
    events get unsealed; an event sealed to a key the workers lack is a dead letter."""
    settings = sealing.settings()
    path = tmp_path / "requests.jsonl"
    with path.open("wb") as fh:
        for data in SampleTraffic(seed=13).events(N):
            fh.write(orjson.dumps(data) + b"\n")
    secrets = _secrets_in(path)
    assert len(secrets) > 20
    foreign = orjson.loads(path.read_bytes().splitlines()[0])
    foreign.pop("query", None)
    foreign.update(
        event_id="sealed-elsewhere",
        headers={},
        sealed=Sealer(X25519PrivateKey.generate().public_key()).seal(b"{}", b"sealed-elsewhere"),
    )
    with path.open("ab") as fh:
        fh.write(orjson.dumps(foreign) + b"\n")

    worker = workers()
    assert _ingest(sealing, path) == N + 1
    wait_for(lambda: audit_count(settings) >= N, 120, f"{N} audit records", worker.tail)

    raw = b"\n".join(topic_values(settings, settings.topics.requests)).decode()
    assert raw.count('"sealed":"rgs1.') >= N * 0.9
    leaked = [s for s in secrets if s in raw]
    assert not leaked, f"{len(leaked)} raw credentials on the requests topic"

    processor = build_processor(settings, TEST_SECRET)
    parse = parser_for("json")
    unsealed = {}
    with path.open("rb") as fh:
        for line in read_lines(fh):
            event = to_event(line, parse, path.name)
            if event.sealed is None:
                unsealed[event.event_id] = _expected(check_result(processor, event))
    stored = _stored(settings)
    assert len(stored) == N
    assert {k: _judged(v) for k, v in stored.items()} == unsealed

    wait_for(lambda: any(topic_values(settings, settings.topics.deadletter)), 30, "the dead letter")
    [letter] = [orjson.loads(v) for v in topic_values(settings, settings.topics.deadletter)]
    assert letter["error"] == "UnknownSealKeyError"
    assert letter["source"] == settings.topics.requests
    assert letter["offset"] is not None
    assert "not held here" in letter["reason"]
    assert not [s for s in secrets if s in worker.log.read_text(errors="replace")]


@pytest.fixture
def gateways(sealing: Namespace, tmp_path: Path) -> Iterator[tuple[str, str, Namespace]]:
    """`enforce serve --publish` and `api serve`, both sealing."""
    enforce_port, api_port = free_port(), free_port()
    sealing.extra.update(
        enforce={"port": enforce_port, "publish_events": True},
        api={"port": api_port, "publish_events": True},
    )
    env = {**sealing.env(), "PATH": "/usr/bin:/bin"}
    procs = []
    for name in ("enforce", "api"):
        with (tmp_path / f"{name}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "pipeline", name, "serve"],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    urls = f"http://127.0.0.1:{enforce_port}", f"http://127.0.0.1:{api_port}"
    try:
        for url, name in zip(urls, ("enforce", "api"), strict=True):
            _wait_healthy(url, tmp_path / f"{name}.log")
        yield urls[0], urls[1], sealing
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


def _wait_healthy(url: str, log: Path) -> None:
    wait_for(lambda: _get(f"{url}/healthz")[0] == 200, 60, f"{url} up", log.read_text)


def test_gateways_seal_what_they_publish(
    gateways: tuple[str, str, Namespace], workers: Callable[..., Worker]
) -> None:
    """`enforce serve` and `api serve` publish sealed events: the topic has none of the
    credentials, and the audit records judge them as the unsealed calls would be."""
    enforce_url, api_url, ns = gateways
    settings = ns.settings()
    workers()
    tag = uuid.uuid4().hex[:12]
    password, query_password = f"pw-{tag}-basic", f"pw-{tag}-query"
    session, api_key = f"session-{tag}", f"key-{tag}-unknown"
    basic = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    target = f"/rest/api/2/myself?os_username=bob&os_password={query_password}"
    status, _ = _get(
        f"{enforce_url}/authz",
        {
            "X-Original-URI": target,
            "X-Real-IP": "10.7.0.1",
            "Authorization": basic,
            "Cookie": f"JSESSIONID={session}",
        },
    )
    assert status == 200
    status, _ = _get(f"{api_url}/api/v1/stats", {"X-API-Key": api_key})
    assert status == 401
    wait_for(lambda: audit_count(settings) >= 2, 60, "both calls in the audit")

    raw = b"\n".join(topic_values(settings, settings.topics.requests)).decode()
    assert raw.count('"sealed":"rgs1.') == 2
    for secret in (password, query_password, session, api_key, basic.split()[1]):
        assert secret not in raw

    processor = build_processor(settings, TEST_SECRET)
    base: dict[str, Any] = {"timestamp": "2024-05-14T09:00:00Z", "status": 0}
    enforce_call = RequestEvent.model_validate(
        {
            **base,
            "method": "GET",
            "path": "/rest/api/2/myself",
            "query": target.partition("?")[2],
            "client_ip": "10.7.0.1",
            "headers": {"authorization": basic, "cookie": f"JSESSIONID={session}"},
        }
    )
    api_call = RequestEvent.model_validate(
        {
            **base,
            "method": "GET",
            "path": "/api/v1/stats",
            "status": 401,
            "client_ip": "127.0.0.1",
            "headers": {"x-api-key": api_key},
        }
    )
    docs = sorted(_stored(settings).values(), key=lambda d: d["observer"]["name"])
    assert [d["observer"]["name"] for d in docs] == ["restguard-api", "restguard-enforce"]
    assert [_judged(d) for d in docs] == [
        _expected(check_result(processor, e)) for e in (api_call, enforce_call)
    ]
    assert docs[1]["url"]["query"] == "os_username=bob&os_password=REDACTED"
