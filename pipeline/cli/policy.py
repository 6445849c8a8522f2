"""`restguard policy report`: what the current policy would do to the recorded traffic."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import click
import orjson

from pipeline.auth.policy import Facts, PolicyEngine
from pipeline.cli.common import note, parse_when, print_table, settings_of
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter
from pipeline.es.scan import scan_audit
from schemas.settings import PolicySettings
from schemas.vocabulary import Verdict

FIELDS = [
    "source.ip",
    "user.name",
    "url.path",
    "user_agent.original",
    "restguard.scheme",
    "restguard.validation.outcome",
    "restguard.credentials",
    "restguard.credentials_in_url",
    "restguard.rule",
]


@dataclass
class Row:
    calls: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    ips: set[str] = field(default_factory=set)


def report(docs: Any, policy: PolicySettings) -> dict[tuple[str, str, str], Row]:
    """(user, client, scheme) → what the policy would do to those calls."""
    engine = PolicyEngine(policy)
    rows: dict[tuple[str, str, str], Row] = defaultdict(Row)
    for doc in docs:
        facts = Facts.of_audit(doc)
        ruling = engine.judge(facts)
        key = (
            facts.principal or "-",
            (doc.get("user_agent") or {}).get("original") or "-",
            facts.scheme,
        )
        row = rows[key]
        row.calls += 1
        row.verdicts[ruling.verdict.value] += 1
        if ruling.verdict is not Verdict.ALLOW:
            row.rules[ruling.rule] += 1
        if len(row.ips) < 50:
            row.ips.add(facts.client_ip)
    return rows


@click.group("policy")
def command() -> None:
    """Dry-run the auth policy."""


@command.command("report")
@click.option("--since", default="7d", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Also list callers the policy allows.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_report(ctx: click.Context, since: str, show_all: bool, as_json: bool) -> None:
    """Who the current policy would block or flag, by user and client, over the audit trail."""
    settings = settings_of(ctx)
    client = sync_client(settings.elasticsearch)
    try:
        rows = report(
            scan_audit(
                client, settings.elasticsearch, AuditFilter(since=parse_when(since)), fields=FIELDS
            ),
            settings.policy,
        )
    finally:
        client.close()
    ordered = sorted(
        rows.items(),
        key=lambda kv: (-kv[1].verdicts["block"], -kv[1].verdicts["flag"], -kv[1].calls),
    )
    if not show_all:
        ordered = [kv for kv in ordered if kv[1].verdicts["block"] or kv[1].verdicts["flag"]]
    if as_json:
        for (user, agent, scheme), row in ordered:
            click.echo(
                orjson.dumps(
                    {
                        "user": user,
                        "client": agent,
                        "scheme": scheme,
                        "calls": row.calls,
                        "block": row.verdicts["block"],
                        "flag": row.verdicts["flag"],
                        "rules": dict(row.rules),
                        "ips": sorted(row.ips),
                    }
                ).decode()
            )
        return
    total = sum(r.calls for r in rows.values())
    blocked = sum(r.verdicts["block"] for r in rows.values())
    flagged = sum(r.verdicts["flag"] for r in rows.values())
    users = len({u for (u, _, _), r in rows.items() if r.verdicts["block"]})
    note(
        f"since {since}: {total:,} calls; the current policy would block {blocked:,} "
        f"(from {users} users) and flag {flagged:,}"
    )
    print_table(
        ["user", "client", "scheme", "calls", "block", "flag", "rule", "source IPs"],
        [
            [
                u,
                a,
                s,
                r.calls,
                r.verdicts["block"],
                r.verdicts["flag"],
                r.rules.most_common(1)[0][0] if r.rules else "",
                len(r.ips),
            ]
            for (u, a, s), r in ordered
        ],
    )
