"""The audit document: ECS shape, outcome, and no secrets."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from pipeline.audit import audit_document, dumps, event_outcome
from pipeline.auth.results import Check, Ruling
from pipeline.core import Processor
from pipeline.sample import SampleTraffic
from schemas.audit import AuditRecord
from schemas.request import RequestEvent
from schemas.vocabulary import EventOutcome, Outcome, Verdict

NOW = datetime(2024, 5, 14, 10, 0, tzinfo=UTC)


def _event(**extra: object) -> RequestEvent:
    return RequestEvent.model_validate(
        {
            "timestamp": "2024-05-14T11:00:00+02:00",
            "method": "GET",
            "path": "/rest/api/2/x",
            "status": 200,
            "client_ip": "10.0.0.1",
            **extra,
        }
    )


class TestEventOutcome:
    @pytest.mark.parametrize(
        ("status", "outcome", "verdict", "expected"),
        [
            (200, Outcome.VALID, Verdict.ALLOW, EventOutcome.SUCCESS),
            (200, Outcome.NOT_VALIDATED, Verdict.FLAG, EventOutcome.SUCCESS),
            (401, Outcome.NOT_VALIDATED, Verdict.ALLOW, EventOutcome.FAILURE),
            (403, Outcome.VALID, Verdict.ALLOW, EventOutcome.FAILURE),
            (200, Outcome.EXPIRED, Verdict.ALLOW, EventOutcome.FAILURE),
            (200, Outcome.VALID, Verdict.BLOCK, EventOutcome.FAILURE),
            (500, Outcome.VALID, Verdict.ALLOW, EventOutcome.UNKNOWN),
        ],
    )
    def test_mapping(
        self, status: int, outcome: Outcome, verdict: Verdict, expected: EventOutcome
    ) -> None:
        """A denial status, a failed validation or a block is a failure; 2xx/3xx a success."""
        assert event_outcome(status, Check(outcome, "r"), Ruling(verdict, "x")) is expected


class TestDocument:
    def test_matches_the_audit_record_contract(self, processor: Processor) -> None:
        """The hot-path dict validates as an AuditRecord and dumps to the same JSON."""
        for data in SampleTraffic(seed=3).events(300):
            doc = processor.process(RequestEvent.model_validate(data), NOW)
            record = AuditRecord.model_validate_json(dumps(doc))
            assert orjson.loads(record.model_dump_json(by_alias=True)) == orjson.loads(dumps(doc))

    def test_timestamp_is_utc(self, processor: Processor) -> None:
        """@timestamp is stored in UTC, so the daily index is the UTC day."""
        doc = orjson.loads(dumps(processor.process(_event(), NOW)))
        assert doc["@timestamp"] == "2024-05-14T09:00:00Z"

    def test_no_credential_in_the_document(self, processor: Processor) -> None:
        """Passwords, tokens and cookie values never appear; only fingerprints do."""
        secrets = ["hunter2-pass", "tok-9f8e7d6c5b4a3928", "SESSIONVALUE123456"]
        event = _event(
            headers={
                "authorization": "Basic " + base64.b64encode(b"alice:hunter2-pass").decode(),
                "cookie": "JSESSIONID=SESSIONVALUE123456",
                "x-api-key": "tok-9f8e7d6c5b4a3928",
            },
            query="os_username=bob&os_password=hunter2-pass",
        )
        text = dumps(processor.process(event, NOW)).decode()
        for secret in secrets:
            assert secret not in text
        assert "os_password=REDACTED" in text
        assert text.count("hmac-sha256:") >= 4

    def test_build_fields(self, processor: Processor) -> None:
        """ECS names carry the request's facts."""
        doc = audit_document(
            _event(user_agent="curl/8", request_id="r1", bytes=12, gateway="gw"),
            *processor.evaluate(_event()),
            NOW,
        )
        assert doc["event"]["category"] == ("authentication", "web")
        assert doc["http"]["request"] == {"method": "GET", "id": "r1"}
        assert doc["http"]["response"] == {"status_code": 200, "bytes": 12}
        assert doc["user_agent"]["original"] == "curl/8"
        assert doc["observer"]["name"] == "gw"
        assert doc["restguard"]["scheme"] == "anonymous"
