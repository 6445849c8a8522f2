"""The OpenAPI document of the query API, built from the same models as the wire contracts
(`python -m schemas.export` writes schemas/openapi.json; a test keeps it in sync)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.audit import AuditRecord
from schemas.decision import Decision, SubjectType
from schemas.vocabulary import EventOutcome, Outcome, Scheme, Verdict

_WHEN = {
    "type": "string",
    "maxLength": 64,
    "description": "a duration ago (30m, 24h, 7d) or an ISO 8601 time",
}


def _param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        out["description"] = description
    return out


def _errors() -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "400": {"description": "invalid parameters", **ref},
        "401": {"description": "no credential, or one that is invalid, expired or revoked", **ref},
        "403": {"description": "a valid credential without the audit:read scope", **ref},
        "503": {"description": "the audit store is unavailable", **ref},
    }


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "pass as `cursor` for the next page; null at the end",
            },
        },
    }


def build() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(AuditRecord, "serialization"), (Decision, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    components = dict(defs.get("$defs", {}))
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    }
    components["Stats"] = {
        "type": "object",
        "required": ["total", "schemes", "over_time"],
        "additionalProperties": True,
        "properties": {
            "total": {"type": "integer"},
            "schemes": {"type": "object"},
            "over_time": {"type": "array"},
        },
    }
    window = [_param("since", _WHEN), _param("until", _WHEN)]
    limit = _param("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
    cursor = _param(
        "cursor", {"type": "string", "maxLength": 512}, "the next_cursor of the previous page"
    )
    outcomes = [o.value for o in EventOutcome] + [o.value for o in Outcome]

    def ok(schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            **_errors(),
        }

    security: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "restguard audit API",
            "version": "1",
            "description": "The audit history of REST API authentication. Every call "
            "needs a credential with the audit:read scope and is itself "
            "audited.",
        },
        "security": security,
        "paths": {
            "/api/v1/audit": {
                "get": {
                    "summary": "Search audit records, newest first",
                    "operationId": "searchAudit",
                    "parameters": [
                        *window,
                        _param("scheme", {"type": "string", "enum": [s.value for s in Scheme]}),
                        _param("outcome", {"type": "string", "enum": outcomes}),
                        _param("verdict", {"type": "string", "enum": [v.value for v in Verdict]}),
                        _param("user", {"type": "string", "minLength": 1, "maxLength": 256}),
                        _param(
                            "ip", {"type": "string", "maxLength": 64}, "an address or CIDR range"
                        ),
                        _param(
                            "path",
                            {"type": "string", "minLength": 1, "maxLength": 1024},
                            "a URL path prefix",
                        ),
                        limit,
                        cursor,
                    ],
                    "responses": ok(_page({"$ref": "#/components/schemas/AuditRecord"})),
                }
            },
            "/api/v1/stats": {
                "get": {
                    "summary": "Counts by scheme, outcome and verdict, over time; the migration "
                    "list; the top failing addresses",
                    "operationId": "stats",
                    "parameters": [
                        *window,
                        _param("interval", {"type": "string", "enum": ["hour", "day"]}),
                        _param("top", {"type": "integer", "minimum": 1, "maximum": 100}),
                    ],
                    "responses": ok({"$ref": "#/components/schemas/Stats"}),
                }
            },
            "/api/v1/timeline": {
                "get": {
                    "summary": "The history of one user, credential or address, with decisions",
                    "operationId": "timeline",
                    "parameters": [
                        _param("since", _WHEN),
                        _param("user", {"type": "string", "minLength": 1, "maxLength": 256}),
                        _param(
                            "credential",
                            {"type": "string", "pattern": "^hmac-sha256:[0-9a-f]{32}$"},
                        ),
                        _param("ip", {"type": "string", "maxLength": 64}),
                        limit,
                    ],
                    "responses": ok(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": {"type": "object"}}},
                        }
                    ),
                }
            },
            "/api/v1/decisions": {
                "get": {
                    "summary": "Decisions as issued, newest first",
                    "operationId": "decisions",
                    "parameters": [
                        *window,
                        _param(
                            "subject_type",
                            {"type": "string", "enum": [t.value for t in SubjectType]},
                        ),
                        _param("subject", {"type": "string", "minLength": 1, "maxLength": 1024}),
                        limit,
                        cursor,
                    ],
                    "responses": ok(_page({"$ref": "#/components/schemas/Decision"})),
                }
            },
            "/api/v1/decisions/live": {
                "get": {
                    "summary": "The decisions in force now",
                    "operationId": "liveDecisions",
                    "responses": ok(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": {"type": "object"}}},
                        }
                    ),
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an OIDC access token or a restguard key",
                },
            },
        },
    }
