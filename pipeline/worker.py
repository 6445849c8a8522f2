"""`restguard worker`: prepare topics and index templates, then run the Faust agents."""

from __future__ import annotations

import logging

import faust
from elastic_transport import TransportError
from elasticsearch import ApiError

from agents import classify, detect, index, maintenance, metrics
from agents import decisions as decisions_agent
from pipeline.app import build_runtime, create_app
from pipeline.auth.seal import opener_from
from pipeline.core import build_processor
from pipeline.decisions.live import DecisionsView, LiveRevocations
from pipeline.decisions.signing import DecisionSigner
from pipeline.errors import ElasticsearchUnavailableError, KafkaUnavailableError
from pipeline.es.client import sync_client
from pipeline.es.indices import install_templates
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.registry import credential_view
from pipeline.settings import fingerprint_secret
from pipeline.tuning import tune_gc
from schemas.settings import Settings

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> None:
    """Create missing topics and install the index templates (both idempotent)."""
    ensure_topics(settings)
    client = sync_client(settings.elasticsearch)
    try:
        install_templates(client, settings.elasticsearch)
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(
            ",".join(settings.elasticsearch.hosts), str(err)
        ) from err
    finally:
        client.close()


REGISTRY_SYNC_S = 60.0


def build_worker_app(settings: Settings) -> faust.App:
    """The app with every agent registered. The credential registry is read completely before
    any event is judged, so no key is unknown merely because the worker just started."""
    registry = credential_view(settings).start()
    if not registry.wait_synced(REGISTRY_SYNC_S):
        status = registry.status()
        registry.stop()
        raise KafkaUnavailableError(
            settings.kafka.bootstrap, f"credential registry not loaded: {status.last_error}"
        )
    decisions = DecisionsView(settings).start()
    if not decisions.wait_synced(REGISTRY_SYNC_S):
        registry.stop()
        decisions.stop()
        raise KafkaUnavailableError(settings.kafka.bootstrap, "decisions not loaded in time")
    processor = build_processor(
        settings,
        fingerprint_secret(settings),
        registry=registry,
        revocations=LiveRevocations(decisions),
    )
    app = create_app(settings)
    rt = build_runtime(app, settings, processor, decisions)
    for agent in (classify, index, detect, decisions_agent, maintenance, metrics):
        agent.register(app, rt)
    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGTERM/SIGINT)."""
    fingerprint_secret(settings)  # fail before anything starts if a secret is missing
    DecisionSigner.from_settings(settings.decisions)
    opener_from(settings.secrets, required=settings.secrets.seal_credentials)
    prepare(settings)
    settings.worker.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_worker_app(settings)
    tune_gc()
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
