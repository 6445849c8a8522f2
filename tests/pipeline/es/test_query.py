"""Audit queries are structured clauses built from typed filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.es.query import AuditFilter, audit_query


def test_empty_filter_matches_all() -> None:
    """No filter, no clause."""
    assert audit_query(AuditFilter()) == {"match_all": {}}


def test_each_filter_is_one_clause() -> None:
    """Every given filter becomes a term, range or prefix clause on its ECS field."""
    q = audit_query(
        AuditFilter(
            since=datetime(2024, 5, 14, tzinfo=UTC),
            scheme="basic",
            outcome="failure",
            user="alice",
            ip="10.0.0.0/8",
            path_prefix="/rest/api/2/",
        )
    )
    clauses = q["bool"]["filter"]
    assert {"range": {"@timestamp": {"gte": "2024-05-14T00:00:00+00:00"}}} in clauses
    assert {"term": {"restguard.scheme": "basic"}} in clauses
    assert {"term": {"event.outcome": "failure"}} in clauses
    assert {"term": {"user.name": "alice"}} in clauses
    assert {"term": {"source.ip": "10.0.0.0/8"}} in clauses
    assert {"prefix": {"url.path": "/rest/api/2/"}} in clauses


def test_validation_outcomes_use_their_field() -> None:
    """`expired` filters the validation outcome, not ECS event.outcome."""
    q = audit_query(AuditFilter(outcome="expired"))
    assert q["bool"]["filter"] == [{"term": {"restguard.validation.outcome": "expired"}}]


@pytest.mark.parametrize("f", [AuditFilter(outcome="bogus"), AuditFilter(ip="not an ip")])
def test_bad_filters_are_refused(f: AuditFilter) -> None:
    """Unknown outcomes and bad addresses are errors, never passed through."""
    with pytest.raises(ValueError):  # noqa: PT011 - both are plain ValueErrors by design
        audit_query(f)


def test_user_text_is_never_query_syntax() -> None:
    """Lucene syntax in a user name is a literal term, not a query."""
    q = audit_query(AuditFilter(user="* OR user.name:admin"))
    assert q["bool"]["filter"] == [{"term": {"user.name": "* OR user.name:admin"}}]
