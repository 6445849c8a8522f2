"""End-to-end tests share the integration fixtures (real services, namespaces, workers)."""

from tests.integration.conftest import (  # noqa: F401 - fixtures re-exported for pytest
    local_settings,
    namespace,
    pytest_collection_modifyitems,
    topics_ready,
    workers,
)
