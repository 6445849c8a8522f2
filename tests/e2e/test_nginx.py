"""End to end with a real nginx (Debian's package) in front of a stand-in Jira, nginx asking
`restguard enforce serve` about every request (auth_request), its access log tailed into Kafka
by `restguard ingest`, a worker detecting, the real Kafka and Elasticsearch behind."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, search_audit
from tests.integration.harness import REPO, Namespace, Worker, audit_count, wait_for
from tests.integration.test_enforcement import free_port
from tests.integration.test_validation import cli

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
USERS = {"alice": "s3cret", "svc-ci": "ci-pass"}


class StandInJira:
    """Answers like Jira's REST API: 200 for good Basic credentials or any API key (the
    gateway vouches for those), 401 for wrong passwords."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _answer(self) -> None:
                auth = self.headers.get("Authorization", "")
                ok = bool(self.headers.get("X-API-Key"))
                if auth.startswith("Basic "):
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    ok = USERS.get(user) == pw
                status = 200 if ok else 401
                body = json.dumps({"ok": ok}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    # The test speaks for many clients through X-Forwarded-For from loopback.
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    # Headers are logged so restguard sees every scheme: treat this log like a secret.
    log_format restguard escape=json '{{"time_iso8601":"$time_iso8601",'
        '"remote_addr":"$remote_addr","request_method":"$request_method",'
        '"request_uri":"$request_uri","status":$status,"body_bytes_sent":$body_bytes_sent,'
        '"request_time":$request_time,"http_user_agent":"$http_user_agent",'
        '"http_authorization":"$http_authorization","http_x_api_key":"$http_x_api_key",'
        '"request_id":"$request_id"}}';
    access_log {dir}/access.log restguard;
    server {{
        listen 127.0.0.1:{port};
        location = /_restguard {{
            internal;
            proxy_pass http://127.0.0.1:{enforce}/authz;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Real-IP $remote_addr;
        }}
        location / {{
            auth_request /_restguard;
            auth_request_set $restguard_reason $upstream_http_x_restguard_reason;
            auth_request_set $restguard_rule $upstream_http_x_restguard_rule;
            add_header X-Restguard-Reason $restguard_reason always;
            add_header X-Restguard-Rule $restguard_rule always;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""


class Stack:
    """nginx + enforce serve + ingest (tailing nginx's log) + a worker, on one namespace."""

    def __init__(self, ns: Namespace, workdir: Path, start_worker: Callable[..., Worker]) -> None:
        self.ns = ns
        self.dir = workdir
        self.port, self.enforce_port = free_port(), free_port()
        self.upstream = StandInJira()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        ns.extra = {
            "enforce": {"port": self.enforce_port},
            "policy": {"schemes": {"basic": "flag"}},
            "detection": {
                "brute_force": {"threshold": 8, "window_s": 60},
                "block_durations_s": [6.0],
            },
        }
        try:
            self._start(start_worker)
        except BaseException:
            self.stop()
            raise

    def _start(self, start_worker: Callable[..., Worker]) -> None:
        start_worker()
        self.start_enforce()
        conf = self.dir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                dir=self.dir, port=self.port, enforce=self.enforce_port, upstream=self.upstream.port
            )
        )
        (self.dir / "access.log").touch()
        self._spawn("nginx", [NGINX, "-c", str(conf), "-p", str(self.dir)])
        wait_for(lambda: self.get("/status")[0] != 0, 30, "nginx up", self.logs)
        tail = subprocess.Popen(
            ["tail", "-n", "+1", "-F", str(self.dir / "access.log")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.procs["tail"] = tail
        self._spawn(
            "ingest",
            [
                sys.executable,
                "-m",
                "pipeline",
                "ingest",
                "-",
                "--format",
                "nginx",
                "--source",
                "nginx-e2e",
            ],
            stdin=tail.stdout,
        )
        assert tail.stdout is not None
        tail.stdout.close()  # the ingest process holds the pipe now

    def _spawn(self, name: str, argv: list[str], stdin: Any = None) -> None:
        env = {**self.ns.env(), "PATH": "/usr/sbin:/usr/bin:/bin"}
        with (self.dir / f"{name}.out").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, env=env, cwd=REPO, stdin=stdin, stdout=log, stderr=subprocess.STDOUT
            )

    def start_enforce(self) -> None:
        old = self.procs.pop("enforce", None)
        if old is not None:
            old.terminate()
            old.wait(20)
        self._spawn("enforce", [sys.executable, "-m", "pipeline", "enforce", "serve"])
        url = f"http://127.0.0.1:{self.enforce_port}/healthz"
        wait_for(lambda: _status(url) == 200, 60, "enforce serve up", self.logs)

    def get(self, path: str, ip: str = "10.0.0.10", **headers: str) -> tuple[int, str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"X-Forwarded-For": ip, **headers}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, ""
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("X-Restguard-Rule", "")
        except OSError:
            return 0, ""

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.dir.glob("*.out"))
        )

    def stop(self) -> None:
        for name in ("ingest", "tail", "nginx", "enforce", "old-enforce"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.upstream.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def stack(namespace: Namespace, workers: Callable[..., Worker], tmp_path: Path) -> Iterator[Stack]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    s = Stack(namespace, tmp_path, workers)
    yield s
    s.stop()


def test_nginx_in_front_of_jira_with_restguard_enforcing(stack: Stack) -> None:
    """Basic passes while the policy only flags it and is refused once it blocks it; a key
    revoked with the CLI is refused by nginx moments later; an address that brute-forces is
    blocked after the threshold and let in again after expiry; Elasticsearch shows each step."""
    good = basic("alice", "s3cret")

    # 1. Basic is flagged (report-only): it passes, and the audit says it would be flagged.
    assert stack.get("/rest/api/2/myself", Authorization=good)[0] == 200

    # 2. A key issued with the CLI passes; revoked with the CLI, nginx refuses it (401).
    issued = cli(stack.ns, "keys", "issue", "--user", "svc-ci", "--expires", "1d")
    key = issued.stdout.decode().strip()
    assert stack.get("/rest/api/2/search", **{"X-API-Key": key})[0] == 200
    key_id = "_".join(key.split("_")[:2])
    revoked_at = time.monotonic()
    assert cli(stack.ns, "keys", "revoke", key_id).returncode == 0
    wait_for(
        lambda: stack.get("/rest/api/2/search", **{"X-API-Key": key})[0] == 401,
        10,
        "the revoked key refused",
        stack.logs,
    )
    assert time.monotonic() - revoked_at < 10

    # 3. Brute force from one address: blocked (403) after the threshold, then let in again.
    attacker = "203.0.113.50"
    for i in range(10):
        assert (
            stack.get("/rest/auth/1/session", attacker, Authorization=basic("admin", f"x{i}"))[0]
            == 401
        )
    wait_for(
        lambda: stack.get("/rest/api/2/myself", attacker)[1] == "brute-force",
        60,
        "the brute forcer blocked",
        stack.logs,
    )
    assert stack.get("/rest/api/2/myself", "10.0.0.11", Authorization=good)[0] == 200
    wait_for(
        lambda: stack.get("/rest/api/2/myself", attacker, Authorization=good)[0] == 200,
        30,
        "the block to expire",
        stack.logs,
    )

    # 4. Basic blocked by policy: the same good credential is now refused (403).
    stack.ns.extra["policy"] = {"schemes": {"basic": "block"}}
    stack.start_enforce()
    status, rule = stack.get("/rest/api/2/myself", Authorization=good)
    assert (status, rule) == (403, "scheme:basic")

    # 5. The audit trail in Elasticsearch shows every step.
    settings = stack.ns.settings()
    wait_for(lambda: audit_count(settings) >= 17, 60, "the steps audited", stack.logs)
    client = sync_client(settings.elasticsearch)
    try:
        docs = search_audit(client, settings.elasticsearch, AuditFilter(), 1000)
    finally:
        client.close()

    def seen(**want: Any) -> bool:
        return any(all(_field(d, k) == v for k, v in want.items()) for d in docs)

    assert seen(
        **{
            "restguard.scheme": "basic",
            "restguard.verdict": "flag",
            "http.response.status_code": 200,
        }
    )
    assert seen(
        **{
            "restguard.scheme": "api-key",
            "restguard.validation.outcome": "revoked",
            "http.response.status_code": 401,
        }
    )
    assert seen(**{"source.ip": attacker, "http.response.status_code": 403})
    assert seen(
        **{"restguard.scheme": "basic", "user.name": "alice", "http.response.status_code": 403}
    )


def _field(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0
