"""The local Elasticsearch: a real 8.x node from Elastic's Maven Central jars, started by our own
small launcher (deploy/local/elasticsearch/src, see its README for why)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from pipeline.errors import ServiceError
from pipeline.services.layout import DEPLOY_LOCAL, cache_root
from pipeline.services.process import ManagedProcess, Progress, fetch_with_maven, port_open
from schemas.settings import LocalServiceSettings

MAIN_CLASS = "restguard.es.RestguardEsNode"
SRC = DEPLOY_LOCAL / "elasticsearch" / "src"
_NODE_SOURCES = (SRC / "RestguardEsNode.java",)
_ROOT_SOURCES = (SRC / "root" / "RestguardRootPlugin.java",)


class LocalElasticsearch:
    """Fetch, build the launcher, start, health-check and stop the local node."""

    name = "elasticsearch"

    def __init__(self, settings: LocalServiceSettings) -> None:
        self.settings = settings
        self.home = settings.home.resolve() / "elasticsearch"
        self.process = ManagedProcess("elasticsearch", self.home, marker=f"--home {self.home} ")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.elasticsearch_http_port}"

    def _cache(self) -> Path:
        return cache_root(self.settings) / f"elasticsearch-{self.settings.elasticsearch_version}"

    def fetch(self, progress: Progress) -> Path:
        return fetch_with_maven(
            DEPLOY_LOCAL / "elasticsearch" / "pom.xml",
            self._cache() / "lib",
            {"es.version": self.settings.elasticsearch_version},
            progress,
        )

    def build(self, lib: Path, progress: Progress) -> tuple[Path, Path]:
        """Compile the launcher and the `GET /` stand-in once per source version."""
        digest = hashlib.sha256(
            b"".join(p.read_bytes() for p in (*_NODE_SOURCES, *_ROOT_SOURCES))
        ).hexdigest()[:16]
        out = self._cache() / f"launcher-{digest}"
        classes, root_jar = out / "classes", out / "restguard-rest-root.jar"
        if (out / ".complete").is_file():
            return classes, root_jar
        progress("elasticsearch: compiling the launcher (once)")
        shutil.rmtree(out, ignore_errors=True)
        root_classes = out / "root-classes"
        steps = [
            [
                "javac",
                "--release",
                "17",
                "-d",
                str(classes),
                "-cp",
                f"{lib}/*",
                *map(str, _NODE_SOURCES),
            ],
            [
                "javac",
                "--release",
                "17",
                "-d",
                str(root_classes),
                "-cp",
                f"{lib}/*",
                *map(str, _ROOT_SOURCES),
            ],
            ["jar", "--create", "--file", str(root_jar), "-C", str(root_classes), "."],
        ]
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
            if result.returncode != 0:
                raise ServiceError("elasticsearch", f"{argv[0]} failed:\n{result.stderr[-3000:]}")
        (out / ".complete").write_text("ok\n")
        return classes, root_jar

    def _argv(self, lib: Path, classes: Path, root_jar: Path) -> list[str]:
        # Netty and transport-netty4 are loaded as a module by the launcher: keep them off the
        # class path or the server's jar-hell check refuses to start.
        jars = sorted(
            str(j)
            for j in lib.glob("*.jar")
            if not j.name.startswith(("netty-", "transport-netty4-"))
        )
        heap = self.settings.elasticsearch_heap
        tmp = self.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return [
            "java",
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            f"-XX:ErrorFile={self.home}/hs_err_%p.log",
            "-Dfile.encoding=UTF-8",
            f"-Djava.io.tmpdir={tmp}",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dlog4j2.disable.jmx=true",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-cp",
            ":".join([str(classes), *jars]),
            MAIN_CLASS,
            "--home",
            str(self.home),
            "--lib",
            str(lib),
            "--rest-root-jar",
            str(root_jar),
            "--http-port",
            str(self.settings.elasticsearch_http_port),
            "--transport-port",
            str(self.settings.elasticsearch_transport_port),
            "--cluster-name",
            "restguard",
            "--node-name",
            "restguard-local-1",
            "--pid-file",
            str(self.home / "ready.pid"),
        ]

    def healthy(self) -> bool:
        """True when the cluster health is yellow or green."""
        url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - our own loopback URL
                status = orjson.loads(resp.read()).get("status")
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return status in ("yellow", "green")

    def start(self, progress: Progress) -> str:
        if self.process.pid() is not None:
            return "already running"
        for port in (
            self.settings.elasticsearch_http_port,
            self.settings.elasticsearch_transport_port,
        ):
            if port_open("127.0.0.1", port):
                raise ServiceError(
                    "elasticsearch",
                    f"port {port} is taken by another program; set local.elasticsearch_http_port",
                )
        lib = self.fetch(progress)
        classes, root_jar = self.build(lib, progress)
        progress(f"elasticsearch: starting on {self.url}")
        self.process.start(self._argv(lib, classes, root_jar))
        took = self.process.wait_healthy(self.healthy, self.settings.start_timeout_s, progress)
        return f"started in {took:.1f}s"

    def stop(self) -> bool:
        return self.process.stop()

    def status(self) -> tuple[bool, str]:
        pid = self.process.pid()
        if pid is None:
            return False, "stopped"
        return self.healthy(), f"pid {pid}, {self.url}"
