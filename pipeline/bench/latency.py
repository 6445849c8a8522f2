"""`revocation`: from the offending event (or a manual revoke) entering Kafka to the SDK and
`enforce serve` refusing; `check`: the SDK's check() with a million live decisions."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from pipeline import sandbox
from pipeline.bench.e2e import Note, _namespace, _quiet
from pipeline.bench.stats import Figure, percentile
from pipeline.decisions.book import Entry
from pipeline.decisions.live import DecisionsView
from pipeline.decisions.signing import DecisionSigner
from pipeline.enforce.sdk import Enforcer
from pipeline.kafka.producer import Producer
from pipeline.tuning import tune_gc
from schemas.decision import Action, Decision, SubjectType
from schemas.request import RequestEvent
from schemas.settings import Settings

REVOCATION_TARGET_MS = 200.0
CHECK_TARGET_US = 5.0
MEMORY_TARGET_MB = 500.0


def _probe(ip: str, **headers: str) -> RequestEvent:
    return RequestEvent.model_validate(
        {
            "timestamp": datetime.now(UTC),
            "method": "GET",
            "path": "/rest/api/2/search",
            "status": 0,
            "client_ip": ip,
            "headers": headers,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_denies(url: str, ip: str) -> bool:
    headers = {"X-Real-IP": ip, "X-Original-URI": "/rest/x"}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(req, timeout=2):  # noqa: S310 - our own loopback server
            return False
    except urllib.error.HTTPError as err:
        return err.code in (401, 403)
    except OSError:
        return False


def _sdk_denies(sdk: Enforcer, ip: str) -> bool:
    return not sdk.check(_probe(ip)).allow


def _until(cond: Callable[[], bool], start: float, timeout: float = 10.0) -> float:
    """Seconds from `start` until cond() holds (polled as fast as it answers)."""
    while True:
        if cond():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError("no refusal within the timeout")


def bench_revocation(trials: int = 50, note: Note = _quiet) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = _free_port()
        ns = _namespace(
            workdir,
            extra={
                "enforce": {"port": port},
                "detection": {"brute_force": {"threshold": 3, "window_s": 60}},
            },
        )
        settings = ns.create()
        worker = sandbox.Worker(ns, workdir / "worker.log").start()
        env = {**os.environ, **ns.env()}
        with (workdir / "serve.log").open("ab") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "enforce", "serve"],
                env=env,
                cwd=sandbox.REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sdk = Enforcer(settings).start()
        url = f"http://127.0.0.1:{port}/authz"
        try:
            sandbox.wait_for(lambda: sdk.wait_synced(1) and _healthy(port), 90, "enforcers")
            manual_sdk, manual_http = _manual_trials(settings, sdk, url, trials, note)
            detected_sdk, detected_http = _detection_trials(settings, sdk, url, trials, note)
        finally:
            sdk.stop()
            serve.terminate()
            serve.wait(20)
            worker.stop()
            ns.remove()
    figures = []
    for name, values in (
        ("manual revoke → SDK refuses", manual_sdk),
        ("manual revoke → enforce serve", manual_http),
        ("offending event → SDK refuses", detected_sdk),
        ("offending event → enforce serve", detected_http),
    ):
        ms = [v * 1000 for v in values]
        p99 = percentile(ms, 0.99)
        fig = Figure(
            f"revocation p50: {name}", "ms", ms, target=f"p99 <= {REVOCATION_TARGET_MS:.0f} ms"
        )
        fig.notes.update(
            {"p50_ms": round(percentile(ms, 0.5), 1), "p99_ms": round(p99, 1), "trials": len(ms)}
        )
        fig.met = p99 <= REVOCATION_TARGET_MS
        figures.append(fig)
    return figures


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/healthz",
            timeout=2,
        ) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _manual_trials(
    settings: Settings, sdk: Enforcer, url: str, trials: int, note: Note
) -> tuple[list[float], list[float]]:
    signer = DecisionSigner.from_settings(settings.decisions)
    via_sdk, via_http = [], []
    with Producer(settings.kafka) as producer:
        for i in range(trials):
            ip = f"198.18.{i // 250}.{i % 250 + 1}"
            now = datetime.now(UTC)
            d = Decision(
                id=uuid.uuid4().hex,
                subject_type=SubjectType.IP,
                subject=ip,
                action=Action.BLOCK,
                reason="bench",
                rule="manual",
                issued_at=now,
                expires_at=now + timedelta(minutes=5),
                issuer="bench",
            )
            value = signer.sign(d)
            start = time.perf_counter()
            producer.send(settings.topics.decisions, value, key=d.key.encode())
            producer.flush()
            via_sdk.append(_until(partial(_sdk_denies, sdk, ip), start))
            via_http.append(_until(partial(_http_denies, url, ip), start))
    note(
        f"  manual revoke: p50 {percentile(via_sdk, 0.5) * 1000:.1f} ms (SDK), "
        f"{percentile(via_http, 0.5) * 1000:.1f} ms (enforce serve)"
    )
    return via_sdk, via_http


def _detection_trials(
    settings: Settings, sdk: Enforcer, url: str, trials: int, note: Note
) -> tuple[list[float], list[float]]:
    """Two failed logins, then the third (the threshold): timed from sending the third."""
    via_sdk, via_http = [], []
    with Producer(settings.kafka) as producer:
        for i in range(trials):
            ip = f"198.19.{i // 250}.{i % 250 + 1}"

            def failure(n: int, ip: str = ip) -> bytes:
                return (
                    RequestEvent.model_validate(
                        {
                            "event_id": f"bench-{ip}-{n}",
                            "timestamp": datetime.now(UTC),
                            "method": "POST",
                            "path": "/rest/auth/1/session",
                            "status": 401,
                            "client_ip": ip,
                        }
                    )
                    .model_dump_json()
                    .encode()
                )

            for n in range(2):
                producer.send(settings.topics.requests, failure(n))
            producer.flush()
            time.sleep(0.3)
            start = time.perf_counter()
            producer.send(settings.topics.requests, failure(2))
            producer.flush()
            via_sdk.append(_until(partial(_sdk_denies, sdk, ip), start))
            via_http.append(_until(partial(_http_denies, url, ip), start))
    note(
        f"  offending event: p50 {percentile(via_sdk, 0.5) * 1000:.1f} ms (SDK), "
        f"{percentile(via_http, 0.5) * 1000:.1f} ms (enforce serve)"
    )
    return via_sdk, via_http


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_check(decisions: int = 1_000_000, runs: int = 5, note: Note = _quiet) -> list[Figure]:
    """check() on a gateway holding `decisions` live decisions, measured in a fresh process so
    its resident memory is the decisions' own (a process that ran other benchmarks reuses freed
    memory and would under-report)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        per_call, memory_mb, loaded, denied, probes = pool.apply(_measure_check, (decisions, runs))
    note(
        f"  check(): {sorted(per_call)[len(per_call) // 2]:.2f} us with {decisions:,} "
        f"decisions, {memory_mb:,.0f} MB"
    )
    call = Figure(
        "check() with 1M decisions", "us/call", per_call, target=f"<= {CHECK_TARGET_US} us"
    )
    call.met = call.median <= CHECK_TARGET_US
    call.notes.update({"decisions": decisions, "probes_denied": denied, "probes": probes})
    memory = Figure(
        "memory of 1M decisions", "MB", [memory_mb], target=f"<= {MEMORY_TARGET_MB:.0f} MB"
    )
    memory.met = memory_mb <= MEMORY_TARGET_MB
    memory.notes["rss_after_load_mb"] = round(loaded, 1)
    return [call, memory]


def _measure_check(decisions: int, runs: int) -> tuple[list[float], float, float, int, int]:
    """(us per call per run, MB of the decisions, RSS after load, probes denied, probes). The
    decisions are loaded directly: verifying a million signatures from Kafka would measure the
    loading, not the check."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = _namespace(Path(tmp)).settings()
        view = DecisionsView(settings)
        before = _rss_mb()
        now = datetime.now(UTC).timestamp()
        kinds = (SubjectType.IP, SubjectType.CREDENTIAL, SubjectType.TOKEN_ID, SubjectType.USER)
        entries: dict[str, Entry] = {}
        for i in range(decisions):
            kind = kinds[i % 4]
            subject = (
                f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                if kind is SubjectType.IP
                else f"subject-{i:07d}"
            )
            entries[f"{kind.value}:{subject}"] = Entry(
                id=f"{i:032x}",
                action="block",
                issued=now,
                expires=now + 3600,
                reason="bench",
                rule="brute-force",
                issuer="restguard",
                offense=1,
            )
        view.view.load(entries)
        del entries
        loaded = _rss_mb()
        sdk = Enforcer(settings, decisions=view)
        tune_gc()
        probes = [
            _probe(
                f"10.{i % 200}.{i % 7}.{i % 250 + 1}",
                authorization="Basic " + ("YWxpY2U6czNjcmV0" if i % 2 else "Ym9iOnB3"),
            )
            for i in range(2000)
        ]
        for p in probes:  # warm the classifier's caches, as a running gateway has them
            sdk.check(p)
        per_call = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(25):
                for p in probes:
                    sdk.check(p)
            per_call.append((time.perf_counter() - start) / (25 * len(probes)) * 1e6)
        denied = sum(not sdk.check(p).allow for p in probes)
    return per_call, loaded - before, loaded, denied, len(probes)
