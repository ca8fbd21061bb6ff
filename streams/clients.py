"""Client configuration for the three Kafka clients we use, from one Settings object, with
SASL/TLS passed through for real clusters."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from synthguard.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.security_protocol.endswith("SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None)
    return context


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.sasl_mechanism:
        kwargs |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password,
        }
    if (context := _ssl_context(settings)) is not None:
        kwargs["ssl_context"] = context
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """Faust's broker_credentials for the configured protocol (None for PLAINTEXT)."""
    context = _ssl_context(settings)
    if settings.sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def confluent_config(settings: Settings, bootstrap: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "security.protocol": settings.security_protocol,
        # A broker going away is reported as an error where it matters, not as log noise.
        "log.connection.close": False,
    }
    if settings.sasl_mechanism:
        config |= {
            "sasl.mechanism": settings.sasl_mechanism,
            "sasl.username": settings.sasl_username,
            "sasl.password": settings.sasl_password,
        }
    for ours, theirs in (
        ("ssl_cafile", "ssl.ca.location"),
        ("ssl_certfile", "ssl.certificate.location"),
        ("ssl_keyfile", "ssl.key.location"),
    ):
        if value := getattr(settings, ours):
            config[theirs] = value
    config.update(extra)
    return config


def producer_config(settings: Settings, bootstrap: str, **extra: Any) -> dict[str, Any]:
    # murmur2 is the Java and aiokafka default: keys land where Faust would put them, so
    # topics stay co-partitioned whichever client wrote them.
    return confluent_config(
        settings,
        bootstrap,
        **{"partitioner": "murmur2_random", "enable.idempotence": True, "linger.ms": 5} | extra,
    )
