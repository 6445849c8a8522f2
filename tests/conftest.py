"""Shared fixtures: a fixed fingerprint secret and settings that need no services."""

from __future__ import annotations

import pytest

from pipeline.auth.classify import Classifier
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.core import Processor, build_processor
from schemas.settings import Settings

TEST_SECRET = b"test-fingerprint-secret-0123456789"


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter(TEST_SECRET)


@pytest.fixture
def classifier(settings: Settings, fingerprinter: Fingerprinter) -> Classifier:
    return Classifier(settings.classifier, fingerprinter)


@pytest.fixture
def processor(settings: Settings) -> Processor:
    return build_processor(settings, TEST_SECRET)
