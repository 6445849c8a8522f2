"""Redaction of free text."""

from __future__ import annotations

import pytest

from pipeline.redact import MASK, excerpt, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"authorization": "Basic YWxpY2U6czNjcmV0"}', "YWxpY2U6czNjcmV0"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("GET /x?os_password=hunter2&x=1", "hunter2"),
        ('"cookie":"JSESSIONID=0A1B2C3D"', "0A1B2C3D"),
        ("token=zzzzzzzzzz", "zzzzzzzzzz"),
        ("x " + "Q" * 40 + " y", "Q" * 40),
    ],
)
def test_known_secret_shapes_are_masked(text: str, secret: str) -> None:
    """Values after credential names, auth-scheme tokens and long token-like runs are masked."""
    out = redact(text)
    assert secret not in out
    assert MASK in out


def test_plain_text_survives() -> None:
    """Ordinary text is left readable."""
    assert redact("status must be an integer") == "status must be an integer"


def test_excerpt_is_bounded_and_printable() -> None:
    """Excerpts are short, printable and safe for invalid UTF-8."""
    out = excerpt(b"\xff\x00abc" * 1000, limit=50)
    assert len(out) <= 50
    assert out.isprintable()
