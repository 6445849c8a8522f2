"""The test side of the sandbox: namespaces with the test secret and a session signing key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline import sandbox
from pipeline.decisions.signing import generate_signing_key
from pipeline.sandbox import (
    REPO,
    Worker,
    audit_count,
    caught_up,
    flatten,
    topic_values,
    wait_for,
)
from tests.conftest import TEST_SECRET

# One decision signing key for the whole test session (enforcement points get its public half).
SIGNING_KEY = Path(f"/tmp/restguard-tests/keys-{os.getpid()}/decisions.pem")
generate_signing_key(SIGNING_KEY)

__all__ = [
    "REPO",
    "Namespace",
    "Worker",
    "audit_count",
    "caught_up",
    "flatten",
    "topic_values",
    "wait_for",
]


class Namespace(sandbox.Namespace):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(secret=TEST_SECRET.decode(), signing_key=SIGNING_KEY, **kwargs)
