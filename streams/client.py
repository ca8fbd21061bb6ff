"""Producing and reading topics from outside the workers: `submit`, `tail`, and the runner.

confluent-kafka, not Faust: these are plain clients any team could write against the schemas.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from synthguard.codecs.avro import AvroCodec, FileSchemaRegistry
from synthguard.errors import BrokerError, SynthguardError, ValidationError
from synthguard.records import Record, now_ms
from synthguard.settings import Settings
from synthguard.streams.catalog import ARTIFACTS_SUBMITTED, TopicSpec
from synthguard.streams.clients import confluent_config, producer_config


@functools.cache
def _schemas() -> FileSchemaRegistry:
    return FileSchemaRegistry()


@functools.cache
def codec_for(spec: TopicSpec) -> AvroCodec:
    """The codec for a topic's values (schemas are parsed once per process)."""
    return AvroCodec(spec.subject, _schemas())


class TopicWriter:
    """Encodes records with the topic's schema and produces them keyed by the catalog key."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self._producer: Producer | None = Producer(producer_config(settings, bootstrap))
        self._errors: list[str] = []
        self._last: tuple[int, int] | None = None

    def write(self, spec: TopicSpec, record: Record | None, key: str | None = None) -> None:
        """`record=None` writes a tombstone (compacted topics); then `key` is required."""
        if record is None:
            if key is None:
                raise ValueError("a tombstone needs a key")
            self.write_raw(spec.name, key.encode("utf-8"), None)
            return
        key = key if key is not None else spec.key_of(record)
        value = codec_for(spec).encode(record)
        self.write_raw(spec.name, None if key is None else key.encode("utf-8"), value)

    def write_and_wait(
        self, spec: TopicSpec, record: Record | None, key: str | None = None
    ) -> tuple[int, int]:
        """Write one record and wait for it: returns its (partition, offset)."""
        self.write(spec, record, key)
        self.flush()
        if self._last is None:
            raise BrokerError("no delivery report")
        return self._last

    def write_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._client().produce(topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:
                self._client().poll(0.1)
        self._client().poll(0)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err.str()}")
        else:
            self._last = (msg.partition() or 0, msg.offset() or 0)

    def flush(self, timeout_s: float = 60.0) -> None:
        if self._client().flush(timeout_s) or self._errors:
            raise BrokerError(f"not every record was delivered: {self._errors[:3]}")

    def _client(self) -> Producer:
        if self._producer is None:
            raise BrokerError("this writer is closed", retryable=False)
        return self._producer

    def close(self) -> None:
        """Flush, then let the client go before the broker does (idempotent)."""
        if self._producer is not None:
            self.flush()
            self._producer = None


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    error: str


def record_from_json(spec: TopicSpec, data: dict[str, Any]) -> Record:
    """A record as a user writes it in JSON: schema defaults filled, then validated."""
    codec = codec_for(spec)
    record = codec.with_defaults(data)
    codec.validate(record)
    return record


def envelope_from_json(data: dict[str, Any]) -> Record:
    return record_from_json(ARTIFACTS_SUBMITTED, {"submitted_at": now_ms(), **data})


def read_records(spec: TopicSpec, lines: Iterable[bytes]) -> tuple[list[Record], list[BadLine]]:
    """JSON Lines for `spec`'s topic: the good records, and each bad line with its number."""
    good, bad = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            if not isinstance(data, dict):
                raise ValidationError("a line must be one JSON object")
            if spec is ARTIFACTS_SUBMITTED:
                good.append(envelope_from_json(data))
            else:
                good.append(record_from_json(spec, data))
        except orjson.JSONDecodeError as exc:
            bad.append(BadLine(number, f"invalid JSON: {exc}"))
        except SynthguardError as exc:
            bad.append(BadLine(number, str(exc)))
    return good, bad


def read_record_file(spec: TopicSpec, path: Path) -> tuple[list[Record], list[BadLine]]:
    with path.open("rb") as fh:
        return read_records(spec, fh)


# A partition that reports neither records nor its end for this long is a broker fault.
END_TIMEOUT_S = 30.0


class TopicReader:
    """Reads topics without a consumer group (assign + offsets): many readers, no rebalance."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        topics: Iterable[str],
        *,
        from_beginning: bool = True,
    ) -> None:
        self._consumer = Consumer(
            confluent_config(
                settings,
                bootstrap,
                **{
                    "group.id": f"synthguard-reader-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 50,
                },
            )
        )
        start = -2 if from_beginning else -1  # OFFSET_BEGINNING / OFFSET_END
        partitions = []
        metadata = self._consumer.list_topics(timeout=30)
        for name in topics:
            if name not in metadata.topics:
                raise BrokerError(f"topic {name} does not exist; run `synthguard topics create`")
            partitions += [TopicPartition(name, p, start) for p in metadata.topics[name].partitions]
        self._consumer.assign(partitions)

    def messages(self, timeout_s: float | None) -> Iterator[Message]:
        """Yield messages until `timeout_s` passes with none (None: forever)."""
        idle_s = float("inf") if timeout_s is None else timeout_s
        deadline = time.monotonic() + idle_s
        while time.monotonic() < deadline:
            message = self._consumer.poll(0.2)
            if message is None:
                continue
            if (error := message.error()) is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise BrokerError(f"read failed: {error.str()}")
            deadline = time.monotonic() + idle_s
            yield message

    def close(self) -> None:
        self._consumer.close()


def decode_message(spec: TopicSpec, message: Message) -> Record | None:
    value = message.value()
    return None if value is None else codec_for(spec).decode(value)


def end_reader(settings: Settings, bootstrap: str) -> Consumer:
    """A group-less consumer for reads that stop at each partition's end (`read_to_end`)."""
    return Consumer(
        confluent_config(
            settings,
            bootstrap,
            **{
                "group.id": f"synthguard-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # An offset found by time but since deleted by retention: read what is left.
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 50,
            },
        )
    )


def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    topics = consumer.list_topics(timeout=30).topics
    if topic not in topics:
        raise BrokerError(f"topic {topic} does not exist; run `synthguard topics create`")
    return sorted(topics[topic].partitions)


def read_to_end(consumer: Consumer, starts: list[TopicPartition]) -> Iterator[Message]:
    """The messages of `starts` up to each partition's end as of the read: its fetch's
    PARTITION_EOF, not ListOffsets, which Tansu answers with the last batch's base offset + 1."""
    consumer.assign(starts)
    reading = {tp.partition for tp in starts}
    deadline = time.monotonic() + END_TIMEOUT_S
    while reading:
        message = consumer.poll(0.2)
        if message is None:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"partition(s) {sorted(reading)} of {starts[0].topic} reported no end"
                    f" within {END_TIMEOUT_S:g} s"
                )
            continue
        deadline = time.monotonic() + END_TIMEOUT_S
        if (error := message.error()) is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise BrokerError(f"{starts[0].topic}: read failed: {error.str()}")
            reading.discard(message.partition())
            continue
        yield message


def read_partition(
    settings: Settings, bootstrap: str, spec: TopicSpec, partition: int, start: int
) -> tuple[list[tuple[int, Record]], int]:
    """`spec`'s records on one partition from offset `start` to its end now, each with its
    offset, and the offset after the last one (`start` when there were none)."""
    consumer = end_reader(settings, bootstrap)
    found: list[tuple[int, Record]] = []
    end = start
    try:
        for message in read_to_end(consumer, [TopicPartition(spec.name, partition, start)]):
            offset = message.offset() or 0
            end = max(end, offset + 1)
            if (record := decode_message(spec, message)) is not None:
                found.append((offset, record))
    finally:
        consumer.close()
    return found, end


def read_registry(settings: Settings, bootstrap: str, spec: TopicSpec) -> dict[str, Record]:
    """A compacted registry topic as it stands now: key -> latest entry (tombstones drop)."""
    consumer = end_reader(settings, bootstrap)
    try:
        starts = [
            TopicPartition(spec.name, p, OFFSET_BEGINNING)
            for p in topic_partitions(consumer, spec.name)
        ]
        view: dict[str, Record] = {}
        for message in read_to_end(consumer, starts):
            key = (message.key() or b"").decode("utf-8")
            record = decode_message(spec, message)
            if record is None:
                view.pop(key, None)
            else:
                view[key] = record
        return view
    finally:
        consumer.close()
