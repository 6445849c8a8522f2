"""Loading the settings (file + environment) with clear errors, and reading the secrets."""

from __future__ import annotations

import os
import secrets as _secrets
import tomllib
from pathlib import Path

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from pipeline.errors import ConfigError, HiddenStr, hide_secret
from pipeline.keyfiles import write_new_private
from schemas.settings import Settings

CONFIG_ENV = "RESTGUARD_CONFIG"
DEFAULT_CONFIG = Path("restguard.toml")
MIN_SECRET_BYTES = 16


def config_path(explicit: Path | None = None) -> Path | None:
    """The settings file to read: explicit, $RESTGUARD_CONFIG, or ./restguard.toml if present."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate every setting; any problem is one ConfigError naming the settings."""
    file = config_path(path)
    try:
        if file is None:
            return Settings()
        if not file.is_file():
            raise ConfigError("config file", f"{file} does not exist")
        try:
            with file.open("rb") as fh:
                tomllib.load(fh)  # fail early with the TOML parser's own message
        except tomllib.TOMLDecodeError as err:
            raise ConfigError("config file", f"{file} is not valid TOML: {err}") from err

        class _FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=file)

        return _FromFile()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()
        )
        # from None: a ValidationError repeats the inputs, a password given beside the bad setting
        # included; the messages above name every problem.
        raise ConfigError(_first_loc(err), problems) from None


def _first_loc(err: ValidationError) -> str:
    errors = err.errors()
    return ".".join(str(p) for p in errors[0]["loc"]) if errors else "(root)"


def fingerprint_secret(settings: Settings) -> bytes:
    """The HMAC key for credential fingerprints, from the environment value or its file."""
    value = settings.secrets.fingerprint_secret
    if value is not None:
        raw = value.get_secret_value().encode()
        setting = "secrets.fingerprint_secret"
    else:
        file = settings.secrets.fingerprint_secret_file
        setting = "secrets.fingerprint_secret_file"
        try:
            raw = file.read_bytes().strip()
        except FileNotFoundError as err:
            raise ConfigError(
                setting,
                f"{file} does not exist; create one with `restguard secrets init` "
                "or set RESTGUARD_SECRETS__FINGERPRINT_SECRET",
            ) from err
        except OSError as err:
            raise ConfigError(setting, f"{file} cannot be read: {err.strerror}") from err
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigError(setting, f"the secret must be at least {MIN_SECRET_BYTES} bytes")
    return raw


def read_secret(value: SecretStr | None, file: Path | None, setting: str) -> HiddenStr | None:
    """A secret from its value (environment or settings file), else from its file; None if
    neither is set. It is remembered, so error messages mask it (pipeline.errors.scrub)."""
    if value is not None:
        raw = value.get_secret_value()
    elif file is not None:
        try:
            raw = file.read_text().strip()
        except FileNotFoundError as err:
            raise ConfigError(f"{setting}_file", f"{file} does not exist") from err
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{setting}_file", f"{file} cannot be read: {err}") from err
        if not raw:
            raise ConfigError(f"{setting}_file", f"{file} is empty")
    else:
        return None
    return hide_secret(raw)


def secret_source(value: SecretStr | None, file: Path | None, setting: str) -> str:
    """Where a secret comes from, said without its value: `$VARIABLE`, the file, or a path."""
    if value is not None:
        env = "RESTGUARD_" + setting.upper().replace(".", "__")
        return f"${env}" if env in os.environ else "the settings file"
    return f"file {file}"


def ensure_secret_file(path: Path) -> bool:
    """Create a random secret file (mode 0600) if it is missing; True if one was created."""
    if path.exists():
        return False
    write_new_private(path, (_secrets.token_urlsafe(48) + "\n").encode())
    return True
