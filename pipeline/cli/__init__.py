"""The `restguard` command."""

from __future__ import annotations

import logging
import sys

import click

from pipeline import __version__
from pipeline.cli import (
    api,
    audit,
    bench,
    check,
    decisions,
    demo,
    doctor,
    enforce,
    ingest,
    keys,
    policy,
    secrets,
    services,
    worker,
)
from pipeline.errors import ConfigError, RestguardError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file (TOML). Default: $RESTGUARD_CONFIG, else ./restguard.toml if present.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more (to stderr).")
@click.version_option(__version__, prog_name="restguard")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """restguard: audit and enforce how REST API calls to Jira and Confluence authenticate."""
    ctx.obj = {"config": config}
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:  # kafka-python reports routine reconnects and closes as errors
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


for module in (
    services,
    worker,
    ingest,
    check,
    audit,
    keys,
    policy,
    decisions,
    enforce,
    api,
    bench,
    doctor,
    demo,
    secrets,
):
    cli.add_command(module.command)


def main() -> None:
    """Entry point: expected failures are one clear line, never a traceback."""
    try:
        # without standalone mode, click returns ctx.exit()'s code instead of exiting with it
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except ConfigError as err:
        click.echo(f"restguard: configuration error: {err}", err=True)
        sys.exit(2)
    except RestguardError as err:
        click.echo(f"restguard: error: {err}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    if isinstance(code, int) and code:
        sys.exit(code)
