"""Export the JSON Schema of every wire contract, for producers in other languages.

python -m schemas.export          # rewrite schemas/json/*.schema.json
python -m schemas.export --check  # exit 1 if a file is out of date (the tests do this)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from schemas import openapi
from schemas.audit import AuditRecord
from schemas.credential import CredentialEvent
from schemas.deadletter import DeadLetter
from schemas.decision import Decision
from schemas.request import RequestEvent
from schemas.signal import SignalBatch

OUT = Path(__file__).parent / "json"
OPENAPI = Path(__file__).parent / "openapi.json"
CONTRACTS: dict[str, type[BaseModel]] = {
    "request-event": RequestEvent,
    "audit-record": AuditRecord,
    "decision": Decision,
    "dead-letter": DeadLetter,
    "credential-event": CredentialEvent,
    "signal-batch": SignalBatch,
}


def rendered() -> dict[str, str]:
    """File name → JSON Schema text (validation mode for inputs, serialization for outputs)."""
    out = {}
    for name, model in CONTRACTS.items():
        mode: Literal["validation", "serialization"] = (
            "validation" if model is RequestEvent else "serialization"
        )
        schema = model.model_json_schema(by_alias=True, mode=mode)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://restguard.dev/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def all_files() -> dict[Path, str]:
    files = {OUT / name: text for name, text in rendered().items()}
    files[OPENAPI] = json.dumps(openapi.build(), indent=2, sort_keys=True) + "\n"
    return files


def main(argv: list[str]) -> int:
    stale = []
    for path, text in all_files().items():
        file = path.name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(file)
        else:
            path.write_text(text)
    if stale:
        print("out of date: " + ", ".join(stale) + " (run: python -m schemas.export)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
