"""Helpers every command shares: settings, times, tables, progress."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from pipeline.settings import load_settings
from schemas.settings import Settings

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def settings_of(ctx: click.Context) -> Settings:
    """The settings, loaded once per command (--config, $RESTGUARD_CONFIG, ./restguard.toml)."""
    root = ctx.find_root()
    obj: dict[str, Any] = root.obj if isinstance(root.obj, dict) else {}
    root.obj = obj
    if "settings" not in obj:
        config = obj.get("config")
        obj["settings"] = load_settings(Path(config) if config else None)
    settings: Settings = obj["settings"]
    return settings


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """`7d` (that long ago), or an ISO 8601 time (UTC if it names no zone)."""
    now = now or datetime.now(UTC)
    if _DURATION.match(text.strip()):
        return now - parse_duration(text)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (7d, 24h) nor an ISO time (2024-05-14T09:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table on stdout."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = min(max(widths[i], len(v)), 60)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(fmt.format(*headers).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        shown = [v if len(v) <= 60 else v[:57] + "..." for v in row]
        click.echo(fmt.format(*shown).rstrip())


def note(message: str) -> None:
    """Progress and diagnostics go to stderr, results to stdout."""
    click.echo(message, err=True)


class ProgressLine:
    """A one-line progress display on a terminal (stderr); silent when stderr is not a TTY."""

    def __init__(self, total_bytes: int | None) -> None:
        self.total = total_bytes
        self.tty = sys.stderr.isatty()

    def update(self, text: str, done_bytes: int | None = None) -> None:
        if not self.tty:
            return
        pct = ""
        if self.total and done_bytes is not None:
            pct = f"{min(100.0, 100.0 * done_bytes / self.total):5.1f}%  "
        sys.stderr.write(f"\r{pct}{text}\033[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
