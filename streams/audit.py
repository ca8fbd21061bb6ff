"""Reading the audit trail (audit.log) for `synthguard audit`: one artifact's history from the
one partition its key lands on, and an inspection export (Art. 21) across all partitions.

Plain confluent-kafka with assigned partitions, no consumer group. A read ends where each
partition's fetch reports its end (PARTITION_EOF), not at ListOffsets: Tansu answers
ListOffsets with the last batch's base offset + 1, but its fetch high-water mark is exact.
"""

from __future__ import annotations

from typing import BinaryIO

import orjson
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    TopicPartition,
)

from synthguard.audit import history, in_window
from synthguard.records import Record
from synthguard.settings import Settings
from synthguard.streams.catalog import AUDIT_LOG
from synthguard.streams.client import decode_message, end_reader, read_to_end, topic_partitions

# Seek by time this much before --since: a record's `at` comes from the host that decided,
# the Kafka timestamp from the host that produced, and their clocks may disagree.
SEEK_SLACK_MS = 3600 * 1000


def partition_for(artifact_id: str, partitions: list[int]) -> int:
    """The partition of `artifact_id`'s records: murmur2 of the key, as the workers' Faust
    (aiokafka) producer and TopicWriter's murmur2_random partitioner both place it."""
    return int(DefaultPartitioner()(artifact_id.encode("utf-8"), sorted(partitions), []))


def artifact_history(settings: Settings, bootstrap: str, artifact_id: str) -> list[Record]:
    """Every audit record of `artifact_id`, once each, in order (empty if none)."""
    consumer = end_reader(settings, bootstrap)
    try:
        partition = partition_for(artifact_id, topic_partitions(consumer, AUDIT_LOG.name))
        key = artifact_id.encode("utf-8")
        start = TopicPartition(AUDIT_LOG.name, partition, OFFSET_BEGINNING)
        return history(
            record
            for message in read_to_end(consumer, [start])
            if message.key() == key and (record := decode_message(AUDIT_LOG, message))
        )
    finally:
        consumer.close()


def export(settings: Settings, bootstrap: str, since_ms: int, until_ms: int, out: BinaryIO) -> int:
    """Write every audit record with `at` in [since_ms, until_ms) to `out` as JSON Lines,
    once each, in order of `at`; returns how many. The window is held in memory to sort it
    (records arrive in partition order, not time order)."""
    consumer = end_reader(settings, bootstrap)
    try:
        starts = _starts(
            consumer, topic_partitions(consumer, AUDIT_LOG.name), max(since_ms - SEEK_SLACK_MS, 0)
        )
        window = history(
            record
            for message in read_to_end(consumer, starts)
            if (record := decode_message(AUDIT_LOG, message))
            and in_window(record, since_ms, until_ms)
        )
    finally:
        consumer.close()
    for record in window:
        out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    return len(window)


def _starts(consumer: Consumer, partitions: list[int], at_ms: int) -> list[TopicPartition]:
    """Where each partition's records produced from `at_ms` on begin (ListOffsets by time);
    from the beginning where the broker cannot say; partitions with none that late left out."""
    beginning = [TopicPartition(AUDIT_LOG.name, p, OFFSET_BEGINNING) for p in partitions]
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(AUDIT_LOG.name, p, at_ms) for p in partitions], timeout=30
        )
    except KafkaException:
        return beginning
    return [
        start if tp.error is not None else tp
        for start, tp in zip(beginning, found, strict=True)
        if tp.error is not None or tp.offset >= 0  # OFFSET_END: nothing at or after at_ms
    ]
