"""`restguard ingest FILE|-`: gateway log lines → the requests topic."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path
from typing import BinaryIO, cast

import click

from pipeline.cli.common import ProgressLine, note, settings_of
from pipeline.errors import SinkError
from pipeline.ingest.formats import formats
from pipeline.ingest.lines import read_lines, source_name
from pipeline.ingest.run import IngestSummary, ingest
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.producer import Producer


def open_input(path: str) -> tuple[BinaryIO, Path | None, int | None]:
    """The byte stream of FILE (gzip if it ends in .gz) or stdin, and its size if known."""
    if path == "-":
        return sys.stdin.buffer, None, None
    p = Path(path)
    if not p.is_file():
        raise click.BadParameter(f"{path} is not a readable file", param_hint="FILE")
    size = os.path.getsize(p)
    opened = gzip.open(p, "rb") if p.suffix == ".gz" else p.open("rb")  # noqa: SIM115
    stream = cast(BinaryIO, opened)
    return stream, p, None if p.suffix == ".gz" else size


@click.command("ingest")
@click.argument("file", default="-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(formats()),
    default="json",
    show_default=True,
    help="json: RequestEvent lines; nginx: combined or JSON log_format; jira: "
    "atlassian-jira-http-access.log.",
)
@click.option("--gateway", default=None, help="Set the gateway name on every event.")
@click.option(
    "--source",
    default=None,
    help="Name of the source for stable event ids (default: the file name).",
)
@click.option(
    "--pack-size",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Events per Kafka record (default: kafka.pack_size for files, 1 for stdin, so a "
    "tailed log is sent line by line).",
)
@click.pass_context
def command(
    ctx: click.Context,
    file: str,
    fmt: str,
    gateway: str | None,
    source: str | None,
    pack_size: int | None,
) -> None:
    """Read FILE (or stdin) and produce its request events to Kafka; bad lines are counted and
    dead-lettered with their line number, and never stop the run."""
    settings = settings_of(ctx)
    stream, path, size = open_input(file)
    pack = pack_size or (1 if path is None else settings.kafka.pack_size)
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"pack_size": pack})}
    )
    ensure_topics(settings)
    bar = ProgressLine(size)

    def progress(s: IngestSummary, done: int) -> None:
        bar.update(
            f"{s.lines:,} lines  {s.events:,} events  {s.dead:,} dead  "
            f"{s.lines / max(s.seconds, 1e-9):,.0f} lines/s",
            done,
        )

    with stream, Producer(settings.kafka) as producer:
        summary = ingest(
            read_lines(stream),
            producer,
            settings,
            fmt=fmt,
            source=source or source_name(path),
            gateway=gateway,
            progress=progress,
        )
        bar.done()
    note(
        f"ingested {summary.lines:,} lines in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f} lines/s): "
        f"{summary.events:,} events in {summary.records:,} Kafka records, "
        f"{summary.dead:,} dead-lettered"
    )
    if summary.first_error:
        note(f"first bad line: {summary.first_error}")
    if producer.failed:
        raise SinkError(f"Kafka refused {producer.failed} records: {producer.last_error}")
