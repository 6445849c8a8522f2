"""The one place Kafka connections are configured: kafka-python keyword arguments and Faust
credentials from KafkaSettings, and a description of them for people that holds no secret."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from kafka import KafkaConsumer

from pipeline.errors import ConfigError, HiddenStr, scrub
from pipeline.settings import read_secret, secret_source
from schemas.settings import KafkaSettings

# Loggers that, at DEBUG, write every request: the SASL login with PLAIN's password included.
WIRE_LOGGERS = ("kafka.protocol.parser", "kafka.net.connection", "aiokafka.conn")


class _NoSecrets(logging.Filter):
    """Drops the SASL login and raw byte dumps from the client libraries' DEBUG logs, and masks
    any secret in use in the rest. (Loggers filter only what passes their level: no cost unless
    DEBUG is on.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).endswith(("Send: %r", "Recv: %r")):
            return False
        text = record.getMessage()
        if "SaslAuthenticate" in text:
            return False
        clean = scrub(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


for _name in WIRE_LOGGERS:
    logging.getLogger(_name).addFilter(_NoSecrets())


def sasl_password(settings: KafkaSettings) -> HiddenStr | None:
    """The SASL password, from kafka.sasl_password or kafka.sasl_password_file."""
    return read_secret(settings.sasl_password, settings.sasl_password_file, "kafka.sasl_password")


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL: the brokers' certificates are always verified
    (against ssl_cafile, else the system's CAs); only the host name check can be turned off."""
    if not settings.tls:
        return None
    cafile = settings.ssl_cafile
    try:
        ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError("kafka.ssl_cafile", f"{cafile} is no PEM CA certificate: {err}") from err
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile is not None:
        try:
            ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(
                "kafka.ssl_certfile", f"{settings.ssl_certfile} (and its key) unusable: {err}"
            ) from err
    return ctx


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """bootstrap_servers and the security options, for every kafka-python client we create."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    ctx = ssl_context(settings)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if settings.sasl:
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = sasl_password(settings)
    return kwargs


def faust_credentials(settings: KafkaSettings) -> Any:
    """Faust's `broker_credentials` (aiokafka underneath): None, SSLCredentials or
    SASLCredentials (with the TLS context for SASL_SSL)."""
    from faust.auth import SASLCredentials, SSLCredentials  # the worker's import, not the CLI's

    ctx = ssl_context(settings)
    if settings.sasl:
        return SASLCredentials(
            username=settings.sasl_username,
            password=sasl_password(settings),
            ssl_context=ctx,
            mechanism=settings.sasl_mechanism,
        )
    if ctx is not None:
        return SSLCredentials(ctx)
    return None


def consumer(settings: KafkaSettings, **options: Any) -> KafkaConsumer:
    """A kafka-python consumer with our connection settings and the given options."""
    return KafkaConsumer(**client_kwargs(settings), **options)


def describe(settings: KafkaSettings) -> str:
    """The connection security in words, e.g. `SASL_SSL, SCRAM-SHA-512 as user restguard,
    password from file /x (not shown); TLS, CA /ca.pem, host names checked`."""
    parts: list[str] = [settings.security_protocol]
    if settings.sasl:
        source = secret_source(
            settings.sasl_password, settings.sasl_password_file, "kafka.sasl_password"
        )
        parts.append(
            f"{settings.sasl_mechanism} as user {settings.sasl_username}, "
            f"password from {source} (not shown)"
        )
    else:
        parts.append("no authentication")
    if settings.tls:
        tls = f"TLS, CA {settings.ssl_cafile}" if settings.ssl_cafile else "TLS, system CAs"
        tls += ", host names checked" if settings.ssl_check_hostname else ", host names NOT checked"
        if settings.ssl_certfile is not None:
            tls += f", client certificate {settings.ssl_certfile}"
        return ", ".join(parts) + "; " + tls
    return ", ".join(parts) + "; not encrypted"
