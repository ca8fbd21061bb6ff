"""`synthguard topics create`: the whole catalog from its one definition; idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from synthguard.errors import BrokerError
from synthguard.settings import Settings
from synthguard.streams.catalog import AUDIT_LOG, CATALOG, TopicSpec
from synthguard.streams.clients import confluent_config

TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    created: bool
    partitions: int
    note: str = ""


def topic_config(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    config = spec.config()
    if spec is AUDIT_LOG:  # Art. 16 log keeping: the operator sets how long
        config["retention.ms"] = str(settings.audit_retention_days * 24 * 3600 * 1000)
    return config


def create_topics(
    settings: Settings, bootstrap: str, specs: tuple[TopicSpec, ...] = CATALOG
) -> list[TopicResult]:
    """Create missing topics; leave existing ones as they are and say so if they differ."""
    admin = AdminClient(confluent_config(settings, bootstrap))
    try:
        existing = admin.list_topics(timeout=TIMEOUT_S).topics
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics at {bootstrap}: {exc}") from exc
    missing = [spec for spec in specs if spec.name not in existing]
    futures = (
        admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    settings.partitions,
                    settings.replication,
                    config=topic_config(settings, spec),
                )
                for spec in missing
            ],
            request_timeout=TIMEOUT_S,
        )
        if missing
        else {}
    )
    results = []
    for spec in specs:
        if spec.name in futures:
            try:
                futures[spec.name].result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # lost a race: fine
                    raise BrokerError(f"cannot create {spec.name}: {exc}") from exc
            results.append(TopicResult(spec.name, True, settings.partitions))
        else:
            count = len(existing[spec.name].partitions)
            note = (
                f"has {count} partitions, catalog asks {settings.partitions}"
                if count != settings.partitions
                else ""
            )
            results.append(TopicResult(spec.name, False, count, note))
    return results
