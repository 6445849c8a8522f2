"""Secure connections: Kafka SASL/TLS and Elasticsearch TLS + API key or basic auth settings,
the client options built from them, and secrets that never show (repr, errors, doctor)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from elastic_transport import TlsError
from elasticsearch import AuthenticationException
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from pipeline.errors import (
    ConfigError,
    ElasticsearchUnavailableError,
    HiddenStr,
    KafkaUnavailableError,
    hide_secret,
    scrub,
)
from pipeline.es.client import async_client, connection_kwargs, sync_client
from pipeline.es.client import describe as describe_es
from pipeline.es.query import AuditFilter, count_audit
from pipeline.kafka.security import client_kwargs, faust_credentials
from pipeline.kafka.security import describe as describe_kafka
from pipeline.services.tls import TlsFiles, local_tls
from pipeline.settings import load_settings
from schemas.settings import ElasticsearchSettings, KafkaSettings

REPO = Path(__file__).resolve().parents[2]
KAFKA_PASSWORD = "kafka-pw-Zq81-never-shown"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("RESTGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return local_tls(tmp_path_factory.mktemp("tls"))


def kafka(**values: Any) -> KafkaSettings:
    return KafkaSettings.model_validate(values)


def config_error(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ConfigError:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value


class TestKafkaValidation:
    @pytest.mark.parametrize(
        ("env", "says"),
        [
            ({"SECURITY_PROTOCOL": "SASL_SSL"}, "needs a sasl_mechanism"),
            (
                {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512"},
                "needs a sasl_username",
            ),
            (
                {
                    "SECURITY_PROTOCOL": "SASL_SSL",
                    "SASL_MECHANISM": "PLAIN",
                    "SASL_USERNAME": "rg",
                },
                "give the SASL password once",
            ),
            ({"SASL_USERNAME": "rg"}, "does not use SASL"),
            ({"SECURITY_PROTOCOL": "SSL", "SASL_MECHANISM": "PLAIN"}, "does not use SASL"),
            ({"SECURITY_PROTOCOL": "SSL", "SASL_PASSWORD": KAFKA_PASSWORD}, "does not use SASL"),
            (
                {
                    "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                    "SASL_MECHANISM": "PLAIN",
                    "SASL_USERNAME": "rg",
                    "SASL_PASSWORD": KAFKA_PASSWORD,
                    "BOOTSTRAP_SERVERS": '["kafka.example.com:9092"]',
                },
                "in clear text to kafka.example.com:9092",
            ),
        ],
    )
    def test_bad_combinations(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
    ) -> None:
        """A combination that cannot work is one ConfigError that says what is missing."""
        err = config_error(monkeypatch, {f"RESTGUARD_KAFKA__{k}": v for k, v in env.items()})
        assert err.setting == "kafka"
        assert says in err.problem
        assert KAFKA_PASSWORD not in str(err)

    def test_tls_files_need_tls(self, tls: TlsFiles) -> None:
        """A CA file with PLAINTEXT is refused (it would be silently unused)."""
        with pytest.raises(ValueError, match="does not use TLS"):
            kafka(ssl_cafile=tls.ca)

    def test_key_needs_certificate(self, tls: TlsFiles) -> None:
        """A client key alone is refused."""
        with pytest.raises(ValueError, match="ssl_keyfile needs the ssl_certfile"):
            kafka(security_protocol="SSL", ssl_keyfile=tls.key)

    @pytest.mark.parametrize("name", ["ssl_cafile", "ssl_certfile", "sasl_password_file"])
    def test_missing_file(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        """A file setting naming no file is an error naming that setting."""
        env = {
            "RESTGUARD_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "RESTGUARD_KAFKA__SASL_MECHANISM": "SCRAM-SHA-256",
            "RESTGUARD_KAFKA__SASL_USERNAME": "rg",
            f"RESTGUARD_KAFKA__{name.upper()}": "/nonexistent/file.pem",
        }
        if name != "sasl_password_file":
            env["RESTGUARD_KAFKA__SASL_PASSWORD"] = KAFKA_PASSWORD
        err = config_error(monkeypatch, env)
        assert err.setting == f"kafka.{name}"
        assert "/nonexistent/file.pem does not exist" in err.problem

    def test_scram_may_cross_plaintext(self) -> None:
        """SCRAM never sends the password, so SASL_PLAINTEXT to a remote broker is allowed."""
        s = kafka(
            bootstrap_servers=["kafka.example.com:9092"],
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="rg",
            sasl_password=KAFKA_PASSWORD,
        )
        assert client_kwargs(s)["security_protocol"] == "SASL_PLAINTEXT"


class TestKafkaClientOptions:
    def test_plaintext(self) -> None:
        """The default is the local PLAINTEXT broker, with no TLS or SASL options at all."""
        assert client_kwargs(KafkaSettings()) == {
            "bootstrap_servers": ["127.0.0.1:29092"],
            "security_protocol": "PLAINTEXT",
        }
        assert faust_credentials(KafkaSettings()) is None

    def test_sasl_ssl_from_environment(
        self, monkeypatch: pytest.MonkeyPatch, tls: TlsFiles
    ) -> None:
        """SASL_SSL from the environment: mechanism, user, password and a verifying TLS context."""
        monkeypatch.setenv("RESTGUARD_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_USERNAME", "restguard")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_PASSWORD", KAFKA_PASSWORD)
        monkeypatch.setenv("RESTGUARD_KAFKA__SSL_CAFILE", str(tls.ca))
        kw = client_kwargs(load_settings().kafka)
        assert kw["security_protocol"] == "SASL_SSL"
        assert kw["sasl_mechanism"] == "SCRAM-SHA-512"
        assert kw["sasl_plain_username"] == "restguard"
        assert kw["sasl_plain_password"] == KAFKA_PASSWORD
        ctx = kw["ssl_context"]
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.check_hostname
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        assert KAFKA_PASSWORD not in repr(kw)  # kafka-python logs its admin config at DEBUG

    def test_password_file(self, tmp_path: Path) -> None:
        """The password file's content (without its line end) is the password."""
        (tmp_path / "pw").write_text(KAFKA_PASSWORD + "\n")
        s = kafka(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="rg",
            sasl_password_file=tmp_path / "pw",
        )
        assert client_kwargs(s)["sasl_plain_password"] == KAFKA_PASSWORD

    def test_empty_password_file(self, tmp_path: Path) -> None:
        """An empty password file is an error, not an empty password."""
        (tmp_path / "pw").write_text("\n")
        s = kafka(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="rg",
            sasl_password_file=tmp_path / "pw",
        )
        with pytest.raises(ConfigError, match="is empty") as info:
            client_kwargs(s)
        assert info.value.setting == "kafka.sasl_password_file"

    def test_ssl_with_client_certificate(self, tls: TlsFiles) -> None:
        """SSL alone: no SASL options; host names unchecked on request, certificates still
        verified; the client certificate and key are loaded."""
        s = kafka(
            security_protocol="SSL",
            ssl_cafile=tls.ca,
            ssl_certfile=tls.cert,
            ssl_keyfile=tls.key,
            ssl_check_hostname=False,
        )
        kw = client_kwargs(s)
        assert "sasl_mechanism" not in kw
        assert not kw["ssl_context"].check_hostname
        assert kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED

    def test_not_a_ca(self, tmp_path: Path) -> None:
        """A CA file that is no certificate is an error naming the setting."""
        (tmp_path / "ca.pem").write_text("not a certificate\n")
        with pytest.raises(ConfigError) as info:
            client_kwargs(kafka(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem"))
        assert info.value.setting == "kafka.ssl_cafile"


class TestFaustCredentials:
    """What aiokafka receives from Faust's broker_credentials (faust's own translation)."""

    def test_sasl_ssl(self, tls: TlsFiles) -> None:
        """SASL_SSL: SASLCredentials carrying the TLS context."""
        creds = faust_credentials(
            kafka(
                security_protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-256",
                sasl_username="rg",
                sasl_password=KAFKA_PASSWORD,
                ssl_cafile=tls.ca,
            )
        )
        assert isinstance(creds, SASLCredentials)
        auth = credentials_to_aiokafka_auth(creds)
        assert auth["security_protocol"] == "SASL_SSL"
        assert auth["sasl_mechanism"] == "SCRAM-SHA-256"
        assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("rg", KAFKA_PASSWORD)
        assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED
        assert KAFKA_PASSWORD not in repr(creds)

    def test_sasl_plaintext(self) -> None:
        """SASL_PLAINTEXT: no TLS context."""
        auth = credentials_to_aiokafka_auth(
            faust_credentials(
                kafka(
                    security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism="PLAIN",
                    sasl_username="rg",
                    sasl_password=KAFKA_PASSWORD,
                )
            )
        )
        assert auth["security_protocol"] == "SASL_PLAINTEXT"
        assert auth["ssl_context"] is None

    def test_ssl(self, tls: TlsFiles) -> None:
        """SSL: SSLCredentials with our verifying context."""
        creds = faust_credentials(kafka(security_protocol="SSL", ssl_cafile=tls.ca))
        assert isinstance(creds, SSLCredentials)
        auth = credentials_to_aiokafka_auth(creds)
        assert auth["security_protocol"] == "SSL"
        assert auth["ssl_context"].check_hostname


class TestElasticsearchValidation:
    @pytest.mark.parametrize(
        ("values", "says"),
        [
            ({"api_key": API_KEY, "username": "u", "password": "p"}, "choose one"),
            ({"password": "p"}, "needs its username"),
            ({"username": "u"}, "needs a password"),
            ({"hosts": ["http://es.example.com:9200"], "api_key": API_KEY}, "clear text"),
            ({"hosts": ["https://es:9200"], "client_key": "CERT"}, "client_key needs"),
            ({"hosts": ["http://127.0.0.1:9200"], "ca_certs": "CERT"}, "not every host"),
        ],
    )
    def test_bad_combinations(self, tls: TlsFiles, values: dict[str, Any], says: str) -> None:
        """Conflicting or incomplete authentication, TLS files without https, and credentials
        sent in clear text to a remote host are refused."""
        values = {k: (tls.cert if v == "CERT" else v) for k, v in values.items()}
        with pytest.raises(ValueError, match=says):
            ElasticsearchSettings.model_validate(values)

    def test_credentials_in_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A password in a host URL is refused, and the error does not repeat it."""
        err = config_error(
            monkeypatch,
            {"RESTGUARD_ELASTICSEARCH__HOSTS": '["https://elastic:Sup3rSecretPw@es:9200"]'},
        )
        assert err.setting == "elasticsearch.hosts"
        assert "Sup3rSecretPw" not in str(err)

    def test_missing_key_file(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An API key file that does not exist is an error naming the setting."""
        err = config_error(monkeypatch, {"RESTGUARD_ELASTICSEARCH__API_KEY_FILE": "/nope/key"})
        assert err.setting == "elasticsearch.api_key_file"


class TestElasticsearchClientOptions:
    def test_local_default(self) -> None:
        """The local default: plain http, no authentication, no TLS options."""
        assert connection_kwargs(ElasticsearchSettings()) == {"hosts": ["http://127.0.0.1:29200"]}

    def test_api_key_and_tls(self, tls: TlsFiles, tmp_path: Path) -> None:
        """An encoded API key from a file, the CA and a client certificate."""
        (tmp_path / "key").write_text(API_KEY + "\n")
        s = ElasticsearchSettings(
            hosts=["https://es.example.com:9200"],
            api_key_file=tmp_path / "key",
            ca_certs=tls.ca,
            client_cert=tls.cert,
            client_key=tls.key,
        )
        assert connection_kwargs(s) == {
            "hosts": ["https://es.example.com:9200"],
            "api_key": API_KEY,
            "verify_certs": True,
            "ca_certs": str(tls.ca),
            "client_cert": str(tls.cert),
            "client_key": str(tls.key),
        }

    def test_id_and_key(self) -> None:
        """An API key given as id:key is passed as the pair (the client encodes it)."""
        s = ElasticsearchSettings(hosts=["https://es:9200"], api_key="VuaCfGcB:ui2lp2axTNms")
        assert connection_kwargs(s)["api_key"] == ("VuaCfGcB", "ui2lp2axTNms")

    def test_basic_auth(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A user and a password from the environment become basic auth."""
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__HOSTS", '["https://es:9200"]')
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__USERNAME", "restguard")
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__PASSWORD", "es-pw-never-shown")
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__VERIFY_CERTS", "false")
        kw = connection_kwargs(load_settings().elasticsearch)
        assert kw["basic_auth"] == ("restguard", "es-pw-never-shown")
        assert kw["verify_certs"] is False


# --- a real TLS server in front of a fake Elasticsearch ---------------------------------------


class _FakeElasticsearch(BaseHTTPRequestHandler):
    """Answers like Elasticsearch when the right key comes, else 401 echoing the credentials
    (as a careless proxy might): our errors must still not show them."""

    expected = f"ApiKey {API_KEY}"

    def _answer(self) -> None:
        got = self.headers.get("Authorization", "")
        body: dict[str, Any]
        if got == self.expected:
            status = 200
            body = {"name": "fake", "cluster_name": "c", "version": {"number": "8.19.0"}}
            if self.path.endswith("/_count"):
                body = {"count": 7}
        else:
            reason = f"unable to authenticate with [{got}]"
            status = 401
            body = {
                "error": {
                    "type": "security_exception",
                    "reason": reason,
                    "root_cause": [{"type": "security_exception", "reason": reason}],
                },
                "status": 401,
            }
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake_es(tls: TlsFiles) -> Iterator[str]:
    """https://127.0.0.1:<port>, serving a certificate signed by the test CA."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeElasticsearch)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.cert, tls.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class TestElasticsearchOverTls:
    def test_sync_client(self, fake_es: str, tls: TlsFiles) -> None:
        """The sync client verifies the server against ca_certs and sends the API key."""
        client = sync_client(
            ElasticsearchSettings(hosts=[fake_es], api_key=API_KEY, ca_certs=tls.ca)
        )
        try:
            assert client.info()["name"] == "fake"
        finally:
            client.close()

    def test_async_client(self, fake_es: str, tls: TlsFiles) -> None:
        """The async client (the worker's) does the same."""

        async def info() -> Any:
            client = async_client(
                ElasticsearchSettings(hosts=[fake_es], api_key=API_KEY, ca_certs=tls.ca)
            )
            try:
                return await client.info()
            finally:
                await client.close()

        assert asyncio.run(info())["name"] == "fake"

    def test_untrusted_certificate(self, fake_es: str, tmp_path: Path) -> None:
        """A server certificate from another CA is refused."""
        other = local_tls(tmp_path / "other")
        client = sync_client(
            ElasticsearchSettings(hosts=[fake_es], api_key=API_KEY, ca_certs=other.ca)
        )
        try:
            with pytest.raises(TlsError) as info:
                client.info()
            assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
        finally:
            client.close()

    def test_wrong_host_name(self, tmp_path: Path) -> None:
        """A certificate for another host name is refused even from the trusted CA."""
        elsewhere = local_tls(tmp_path / "elsewhere", hosts=("elsewhere.invalid",))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeElasticsearch)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(elsewhere.cert, elsewhere.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client = sync_client(
            ElasticsearchSettings(
                hosts=[f"https://localhost:{server.server_address[1]}"],
                api_key=API_KEY,
                ca_certs=elsewhere.ca,
            )
        )
        try:
            with pytest.raises(TlsError) as info:
                client.info()
            assert "Hostname mismatch" in info.value.message
        finally:
            client.close()
            server.shutdown()
            server.server_close()

    def test_refused_key_not_in_error(self, fake_es: str, tls: TlsFiles) -> None:
        """A refused API key echoed back by the server is masked in our error."""
        wrong = "d3JvbmdrZXlpZDp3cm9uZ2tleXNlY3JldHZhbHVl"
        s = ElasticsearchSettings(hosts=[fake_es], api_key=wrong, ca_certs=tls.ca)
        client = sync_client(s)
        try:
            with pytest.raises(AuthenticationException) as raw:
                client.info()
            assert wrong in str(raw.value)  # the server did echo it: the test can fail
            with pytest.raises(ElasticsearchUnavailableError) as ours:
                count_audit(client, s, AuditFilter())
        finally:
            client.close()
        assert wrong not in str(ours.value)
        assert "***" in str(ours.value)

    def test_refused_basic_auth_not_in_error(self, fake_es: str, tls: TlsFiles) -> None:
        """Basic auth is masked too, in the encoded form the header carries."""
        s = ElasticsearchSettings(
            hosts=[fake_es], username="restguard", password="basic-pw-47", ca_certs=tls.ca
        )
        encoded = base64.b64encode(b"restguard:basic-pw-47").decode()
        client = sync_client(s)
        try:
            with pytest.raises(ElasticsearchUnavailableError) as ours:
                count_audit(client, s, AuditFilter())
        finally:
            client.close()
        assert isinstance(ours.value.__cause__, AuthenticationException)
        assert encoded in str(ours.value.__cause__)
        assert encoded not in str(ours.value)
        assert "basic-pw-47" not in str(ours.value)


class TestNeverShown:
    def test_scrub(self) -> None:
        """A secret in use is masked in any message; its repr is masked too."""
        secret = hide_secret("scrub-me-0b1c2d")
        assert isinstance(secret, HiddenStr)
        assert secret == "scrub-me-0b1c2d"
        assert "scrub-me-0b1c2d" not in repr({"sasl_plain_password": secret})
        assert scrub("login failed for scrub-me-0b1c2d!") == "login failed for ***!"
        err = KafkaUnavailableError("k:9092", "auth failed: scrub-me-0b1c2d")
        assert "scrub-me-0b1c2d" not in str(err)
        assert "scrub-me-0b1c2d" not in err.detail

    def test_not_in_settings_output(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """repr, str and model_dump of the settings never show a password or an API key."""
        monkeypatch.setenv("RESTGUARD_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_USERNAME", "rg")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_PASSWORD", KAFKA_PASSWORD)
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__API_KEY", API_KEY)
        s = load_settings()
        for text in (repr(s), str(s), str(s.model_dump()), s.model_dump_json()):
            assert KAFKA_PASSWORD not in text
            assert API_KEY not in text
        assert s.kafka.sasl_password is not None
        assert s.kafka.sasl_password.get_secret_value() == KAFKA_PASSWORD

    def test_not_in_validation_traceback(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A settings error beside a password shows neither in its message nor its traceback
        (pydantic's own error would repeat the input)."""
        monkeypatch.setenv("RESTGUARD_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
        monkeypatch.setenv("RESTGUARD_KAFKA__SASL_PASSWORD", KAFKA_PASSWORD)
        with pytest.raises(ConfigError) as info:
            load_settings()
        shown = "".join(traceback.format_exception(info.value))
        assert "needs a sasl_mechanism" in shown
        assert KAFKA_PASSWORD not in shown

    def test_descriptions(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The descriptions name the protocol, user and where the secret comes from."""
        (tmp_path / "pw").write_text(KAFKA_PASSWORD)
        s = kafka(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="restguard",
            sasl_password_file=tmp_path / "pw",
        )
        assert describe_kafka(s) == (
            "SASL_SSL, SCRAM-SHA-512 as user restguard, password from file "
            f"{tmp_path / 'pw'} (not shown); TLS, system CAs, host names checked"
        )
        assert describe_kafka(KafkaSettings()) == "PLAINTEXT, no authentication; not encrypted"
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__API_KEY", API_KEY)
        monkeypatch.setenv("RESTGUARD_ELASTICSEARCH__HOSTS", '["https://es:9200"]')
        assert describe_es(load_settings().elasticsearch) == (
            "https, certificates verified against the system CAs; "
            "API key from $RESTGUARD_ELASTICSEARCH__API_KEY (not shown)"
        )

    def test_doctor(self, tmp_path: Path) -> None:
        """`restguard doctor` reports the security in use, and no secret anywhere in its output,
        even when both services fail."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTGUARD_")}
        env.update(
            {
                "RESTGUARD_KAFKA__BOOTSTRAP_SERVERS": '["127.0.0.1:1"]',
                "RESTGUARD_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                "RESTGUARD_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
                "RESTGUARD_KAFKA__SASL_USERNAME": "restguard",
                "RESTGUARD_KAFKA__SASL_PASSWORD": KAFKA_PASSWORD,
                "RESTGUARD_ELASTICSEARCH__HOSTS": '["https://127.0.0.1:1"]',
                "RESTGUARD_ELASTICSEARCH__API_KEY": API_KEY,
                "RESTGUARD_SECRETS__FINGERPRINT_SECRET": "f" * 32,
            }
        )
        out = subprocess.run(
            [sys.executable, "-m", "pipeline", "-v", "doctor"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        shown = out.stdout + out.stderr
        assert out.returncode == 1, shown
        assert (
            "ok   kafka security: SASL_SSL, SCRAM-SHA-512 as user restguard, password from "
            "$RESTGUARD_KAFKA__SASL_PASSWORD (not shown); TLS, system CAs, host names checked"
        ) in out.stdout
        assert "API key from $RESTGUARD_ELASTICSEARCH__API_KEY (not shown)" in out.stdout
        assert "FAIL kafka: 127.0.0.1:1 does not answer" in out.stdout
        assert KAFKA_PASSWORD not in shown
        assert API_KEY not in shown
