"""The embedded local services (Kafka, Elasticsearch) for the demo, the tests and CI."""

from __future__ import annotations

from typing import Protocol

from pipeline.services.elastic import LocalElasticsearch
from pipeline.services.kafka import LocalKafka
from pipeline.services.process import Progress
from schemas.settings import LocalServiceSettings


class LocalService(Protocol):
    name: str

    def start(self, progress: Progress) -> str: ...
    def stop(self) -> bool: ...
    def status(self) -> tuple[bool, str]: ...


def local_services(settings: LocalServiceSettings) -> list[LocalService]:
    """Kafka first: it is needed first and starts fastest."""
    return [LocalKafka(settings), LocalElasticsearch(settings)]
