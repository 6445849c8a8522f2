"""The exported JSON Schemas and index templates stay in sync with the models."""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.es.indices import template_body
from schemas.export import main, rendered


def test_json_schemas_are_up_to_date() -> None:
    """schemas/json/ holds exactly what the models export (run `python -m schemas.export`)."""
    assert main(["--check"]) == 0


def test_every_contract_is_exported() -> None:
    """One schema file per wire contract, each a JSON object with properties."""
    files = rendered()
    assert set(files) == {
        "request-event.schema.json",
        "audit-record.schema.json",
        "decision.schema.json",
        "dead-letter.schema.json",
        "credential-event.schema.json",
        "signal-batch.schema.json",
    }
    for text in files.values():
        assert "properties" in orjson.loads(text)


def _leaves(mapping: dict[str, object], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, spec in mapping.items():
        assert isinstance(spec, dict)
        if "properties" in spec:
            props = spec["properties"]
            assert isinstance(props, dict)
            out |= _leaves(props, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_audit_mapping_covers_the_audit_record() -> None:
    """Every leaf field of an AuditRecord is mapped (the index is strict)."""
    schema = orjson.loads(rendered()["audit-record.schema.json"])
    defs = schema["$defs"]

    def fields(props: dict[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, spec in props.items():
            ref = spec.get("$ref") or next(
                (a.get("$ref") for a in spec.get("anyOf", []) if isinstance(a, dict)), None
            )
            items = spec.get("items")
            if isinstance(items, dict) and "$ref" in items:
                ref = items["$ref"]
            if isinstance(ref, str):
                sub = defs[ref.rsplit("/", 1)[1]]
                if sub.get("type") == "object" and "properties" in sub:
                    out |= fields(sub["properties"], f"{prefix}{name}.")
                    continue
            out.add(f"{prefix}{name}")
        return out

    mapped = _leaves(template_body("audit")["mappings"]["properties"])
    assert fields(schema["properties"]) == mapped
