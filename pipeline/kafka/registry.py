"""The credential registry on Kafka: a compacted topic keyed by fingerprint."""

from __future__ import annotations

from pipeline.auth.keys import decode_credential
from pipeline.errors import KafkaUnavailableError
from pipeline.kafka.compacted import CompactedView
from pipeline.kafka.producer import Producer
from schemas.credential import CredentialEvent
from schemas.settings import Settings


def credential_view(settings: Settings) -> CompactedView[CredentialEvent]:
    return CompactedView(settings.kafka, settings.topics.credentials, decode_credential)


def load_registry(settings: Settings, timeout_s: float = 15.0) -> CompactedView[CredentialEvent]:
    """The registry, fully read (raises if Kafka does not deliver it in time)."""
    view = credential_view(settings).start()
    if not view.wait_synced(timeout_s):
        status = view.status()
        view.stop()
        raise KafkaUnavailableError(
            settings.kafka.bootstrap, status.last_error or "the registry did not load in time"
        )
    return view


def publish(settings: Settings, records: list[CredentialEvent]) -> None:
    """Write registry records and wait until Kafka acknowledged every one."""
    with Producer(settings.kafka) as producer:
        for record in records:
            producer.send(
                settings.topics.credentials,
                record.model_dump_json().encode(),
                key=record.fingerprint.encode(),
            )
        producer.flush()
        if producer.failed or producer.acked != len(records):
            raise KafkaUnavailableError(
                settings.kafka.bootstrap, producer.last_error or "not every record was acknowledged"
            )
