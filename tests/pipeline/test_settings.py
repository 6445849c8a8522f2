"""Settings: file + environment, clear errors, secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import ensure_secret_file, fingerprint_secret, load_settings
from schemas.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RESTGUARD_"):
            monkeypatch.delenv(name)


class TestLoad:
    def test_defaults(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a file or variables, the local defaults apply."""
        monkeypatch.chdir(tmp_path)
        s = load_settings()
        assert s.kafka.bootstrap == "127.0.0.1:29092"
        assert s.elasticsearch.hosts == ["http://127.0.0.1:29200"]

    def test_file_then_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The TOML file sets values; the environment wins over it."""
        f = tmp_path / "rg.toml"
        f.write_text('[kafka]\nbootstrap_servers = ["k1:9092"]\n[topics]\npartitions = 8\n')
        monkeypatch.setenv("RESTGUARD_TOPICS__PARTITIONS", "12")
        s = load_settings(f)
        assert s.kafka.bootstrap == "k1:9092"
        assert s.topics.partitions == 12

    def test_env_names_the_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """$RESTGUARD_CONFIG points at the file."""
        f = tmp_path / "x.toml"
        f.write_text('[worker]\napp_id = "other"\n')
        monkeypatch.setenv("RESTGUARD_CONFIG", str(f))
        assert load_settings().worker.app_id == "other"

    @pytest.mark.parametrize(
        ("text", "setting"),
        [
            ("[local]\nkafka_heap = 'lots'\n", "local.kafka_heap"),
            ("[topics]\npartitions = 0\n", "topics.partitions"),
            ("[kafka]\nbogus = 1\n", "kafka.bogus"),
            ("[classifier]\ntrusted_proxies = ['not-a-net']\n", "classifier.trusted_proxies.0"),
        ],
    )
    def test_errors_name_the_setting(self, tmp_path: Path, text: str, setting: str) -> None:
        """A bad value is one ConfigError that names the setting, not a stack trace."""
        f = tmp_path / "bad.toml"
        f.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_settings(f)
        assert info.value.setting == setting

    def test_broken_toml(self, tmp_path: Path) -> None:
        """A file that is not TOML is a ConfigError naming the file."""
        f = tmp_path / "bad.toml"
        f.write_text("[kafka\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_settings(f)

    def test_missing_file(self, tmp_path: Path) -> None:
        """An explicit file that does not exist is an error."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_settings(tmp_path / "nope.toml")


class TestSecret:
    def test_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """RESTGUARD_SECRETS__FINGERPRINT_SECRET gives the key directly."""
        monkeypatch.setenv("RESTGUARD_SECRETS__FINGERPRINT_SECRET", "x" * 32)
        assert fingerprint_secret(load_settings()) == b"x" * 32

    def test_missing_file_explains(self, tmp_path: Path) -> None:
        """A missing secret file says how to create one."""
        s = Settings.model_validate({"secrets": {"fingerprint_secret_file": tmp_path / "k"}})
        with pytest.raises(ConfigError, match="secrets init"):
            fingerprint_secret(s)

    def test_too_short(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A short secret is refused."""
        monkeypatch.setenv("RESTGUARD_SECRETS__FINGERPRINT_SECRET", "short")
        with pytest.raises(ConfigError, match="at least 16"):
            fingerprint_secret(load_settings())

    def test_created_private(self, tmp_path: Path) -> None:
        """A created secret file is random, private (0600) and never overwritten."""
        path = tmp_path / "s" / "k"
        assert ensure_secret_file(path)
        first = path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not ensure_secret_file(path)
        assert path.read_bytes() == first
        assert len(first.strip()) >= 48

    def test_secret_not_in_repr(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Printing the settings never shows the secret."""
        monkeypatch.setenv("RESTGUARD_SECRETS__FINGERPRINT_SECRET", "very-secret-value-123")
        assert "very-secret-value-123" not in repr(load_settings())
