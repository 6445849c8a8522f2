"""Integration tests run against the real Kafka and Elasticsearch that deploy/local starts.

The services are started once per session if they are not already running (and stopped again
at the end if this session started them). Each test gets its own topics, index prefix and
consumer group, so tests never see each other's data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.kafka.admin import ensure_topics
from pipeline.services import LocalService, local_services
from pipeline.settings import load_settings
from schemas.settings import Settings
from tests.integration.harness import Namespace, Worker

ARTIFACTS = Path(os.environ.get("RESTGUARD_TEST_ARTIFACTS", "test-artifacts"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parents[1]
    for item in items:
        parents = Path(str(item.fspath)).parents
        if tests / "integration" in parents or tests / "e2e" in parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_settings() -> Iterator[Settings]:
    """The real services, healthy, for the whole session."""
    settings = load_settings()
    started: list[LocalService] = []
    for svc in local_services(settings.local):
        healthy, _ = svc.status()
        if not healthy:
            svc.start(print)
            started.append(svc)
    yield settings
    if os.environ.get("RESTGUARD_KEEP_SERVICES") != "1":
        for svc in reversed(started):
            svc.stop()


@pytest.fixture
def namespace(local_settings: Settings) -> Iterator[Namespace]:
    """Fresh topics, index prefix and app id; created before the test, removed after."""
    ns = Namespace()
    ns.create()
    yield ns
    ns.remove()


@pytest.fixture
def workers(
    namespace: Namespace, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Worker]]:
    """Start real worker processes; all are stopped after the test, logs kept as artifacts."""
    started: list[Worker] = []
    test = request.node.name.replace("/", "_")[:80]

    def start(name: str = "worker", ns: Namespace | None = None) -> Worker:
        log = ARTIFACTS / "logs" / f"{test}-{name}.log"
        log.unlink(missing_ok=True)
        worker = Worker(ns or namespace, log, name).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def topics_ready(namespace: Namespace) -> Settings:
    settings = namespace.settings()
    ensure_topics(settings)
    return settings
