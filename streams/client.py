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
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

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
