"""Elasticsearch over TLS with basic auth or an API key, against the real node.

The local node runs without security (its x-pack is not among the published jars), so a real
nginx terminates TLS in front of it and admits only the configured credentials: what is
tested is restguard's side of it, the client built from the settings (CA verification, basic
auth, API key) doing real work, and refused credentials or certificates never echoing a secret."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elastic_transport import TlsError
from elasticsearch import ApiError

from pipeline.es.client import sync_client
from pipeline.es.indices import install_templates
from pipeline.services.tls import local_tls
from schemas.settings import ElasticsearchSettings, Settings
from tests.integration.harness import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "es-Pa55-never-shown-7f3c"
KEY_ID, KEY = "rg-key-1", "es-api-key-never-shown-91d2"

CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    access_log off;
    map_hash_bucket_size 256;
    map $http_authorization $admitted {{
        "Basic {basic}" 1;
        "ApiKey {apikey}" 1;
        default 0;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            if ($admitted = 0) {{ return 401; }}
            proxy_set_header Authorization "";
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def secure_es(
    local_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """https://127.0.0.1:<port> in front of the local node; yields (url, CA file)."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    work = tmp_path_factory.mktemp("secure-es")
    tls = local_tls(work / "tls")
    port = _free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        CONF.format(
            dir=work,
            port=port,
            cert=tls.cert,
            key=tls.key,
            upstream=local_settings.local.elasticsearch_http_port,
            basic=base64.b64encode(f"restguard:{PASSWORD}".encode()).decode(),
            apikey=base64.b64encode(f"{KEY_ID}:{KEY}".encode()).decode(),
        )
    )
    with (work / "nginx.out").open("wb") as out:
        proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(work)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"https://127.0.0.1:{port}"

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, 30, "nginx up", lambda: (work / "nginx.out").read_text())
        yield url, tls.ca
    finally:
        proc.terminate()
        proc.wait(10)


def _settings(url: str, **kwargs: Any) -> ElasticsearchSettings:
    return ElasticsearchSettings.model_validate(
        {"hosts": [url], "index_prefix": f"rgtls-{time.monotonic_ns()}", **kwargs}
    )


@pytest.mark.parametrize(
    "auth",
    [{"username": "restguard", "password": PASSWORD}, {"api_key": f"{KEY_ID}:{KEY}"}],
    ids=["basic-auth", "api-key"],
)
def test_client_works_over_tls_with_each_kind_of_credential(
    secure_es: tuple[str, Path], auth: dict[str, str]
) -> None:
    url, ca = secure_es
    settings = _settings(url, ca_certs=str(ca), **auth)
    client = sync_client(settings)
    try:
        assert client.cluster.health()["status"] in {"green", "yellow"}
        names = install_templates(client, settings)
        assert names
        for name in names:
            client.indices.delete_index_template(name=name)
    finally:
        client.close()


def test_wrong_password_is_refused_without_echoing_it(secure_es: tuple[str, Path]) -> None:
    url, ca = secure_es
    wrong = "wrong-" + PASSWORD
    client = sync_client(_settings(url, ca_certs=str(ca), username="restguard", password=wrong))
    try:
        with pytest.raises(ApiError) as caught:
            client.cluster.health()
    finally:
        client.close()
    assert caught.value.status_code == 401
    assert wrong not in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_an_untrusted_certificate_is_refused(secure_es: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = secure_es
    other_ca = local_tls(tmp_path / "other").ca  # another CA: the server's is not trusted
    client = sync_client(_settings(url, ca_certs=str(other_ca), api_key=f"{KEY_ID}:{KEY}"))
    try:
        with pytest.raises(TlsError) as caught:
            client.cluster.health()
    finally:
        client.close()
    assert "CERTIFICATE_VERIFY_FAILED" in repr(caught.value)
    assert KEY not in repr(caught.value)
