"""What every agent shares: topics, codecs, the emit/route helpers and the per-event error
policy. Agents stay thin: decode, call a pure stage function, route its StageOutput."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust
from faust.types import EventT, RecordMetadata, TableT

from synthguard.audit import dead_letter_event, output_events
from synthguard.codecs.avro import AvroCodec, FileSchemaRegistry, SchemaRegistry
from synthguard.codecs.faust import codec_name, register_codecs
from synthguard.dlq import DeadLetter, Retry, decide
from synthguard.errors import DecodeError
from synthguard.records import Record, StageOutput, Verdict
from synthguard.report_marks import ReportMarks
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.catalog import TopicSpec
from synthguard.streams.client import read_partition
from synthguard.streams.metrics import StageMetrics

log = logging.getLogger(__name__)


# The `finalized` key of a partition's mark (synthguard.report_marks); no artifact id can
# hold a NUL character (ids are checked at intake).
MARK_KEY = "\x00report-mark/{}"


class Context:
    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        bootstrap: str,
        registry: SchemaRegistry | None = None,
    ):
        self.app = app
        self.settings = settings
        self.bootstrap = bootstrap
        self.schemas = registry or FileSchemaRegistry()
        self.codecs = register_codecs(self.schemas)
        # Read as raw bytes and decoded in `process`, so a bad message reaches the DLQ with its
        # partition and offset instead of vanishing inside the consumer; sent through the
        # `avro:<subject>` Faust codecs.
        self.topics = {
            spec.name: app.topic(
                spec.name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.partitions,
            )
            for spec in catalog.CATALOG
        }
        self.metrics = StageMetrics()
        # artifact_id -> (lock, handlers holding or awaiting it), while in flight (`exclusive`)
        self._inflight: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        # Exactly one compliance record per artifact (`reconcile`): partitions read since
        # their last assignment, one read at a time per partition.
        self.marks = ReportMarks()
        self._reconciled: set[int] = set()
        self._reconciling: dict[int, asyncio.Lock] = {}
        app.on_partitions_revoked.connect(self._on_revoked)

    def open_tables(self) -> None:
        """Declare the pipeline's tables; Faust needs them before the worker starts. A group
        whose agents use none of them (the watermark group) skips this and keeps no changelog
        to recover."""
        for table in (self.finalized, self.held, self.strikes):
            log.debug("table %s declared", table.name)

    @functools.cached_property
    def finalized(self) -> TableT[str, Any]:
        """artifact_id -> its final entry (`final`: verdict, envelope, whether labeled, and a
        reopening after an upheld complaint), on the same partitions as the artifact topics: a
        redelivered artifact never gets a second compliance record, and the complaint tracker
        (same key, same partitions) finds what it needs to reopen or block it."""
        return self.app.Table("finalized", partitions=self.settings.partitions)

    @functools.cached_property
    def held(self) -> TableT[str, Any]:
        """artifact_id -> labeled state of an artifact HELD for a reviewer (Art. 10), until
        their decision (review.decisions, same key and partitions) is applied."""
        return self.app.Table("held_for_review", partitions=self.settings.partitions)

    @functools.cached_property
    def strikes(self) -> TableT[str, Any]:
        """user_id -> strikes and measures (synthguard.users), on the users.violations
        partitions; the complaint tracker lifts a measure when an appeal is upheld."""
        return self.app.Table("strikes", partitions=self.settings.partitions)

    @contextlib.asynccontextmanager
    async def exclusive(self, artifact_id: str) -> AsyncIterator[None]:
        """One handler at a time per artifact in this worker. Concurrent actors may hold a
        redelivered copy while the first is still in flight; without this both would pass
        the `finalized` check in `route` and publish two compliance records."""
        lock, users = self._inflight.setdefault(artifact_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._inflight[artifact_id]

    def codec(self, spec: TopicSpec) -> AvroCodec:
        return self.codecs[spec.subject]

    def source(self, spec: TopicSpec) -> faust.TopicT:
        return self.topics[spec.name]

    async def emit(
        self, spec: TopicSpec, record: Record, partition: int | None = None
    ) -> Awaitable[RecordMetadata]:
        """Queue `record` for `spec`'s topic; await the result for the broker's ack."""
        if spec is catalog.REPORTS_ALERTS:
            self.metrics.alert(record["kind"], record["severity"])
        key = spec.key_of(record)
        return await self.topics[spec.name].send(
            key=None if key is None else key.encode("utf-8"),
            value=record,
            partition=partition,
            value_serializer=codec_name(spec.subject),
        )

    def final(self, artifact_id: str) -> Record | None:
        """The artifact's final entry, or None before its compliance record."""
        entry = self.finalized.get(artifact_id)
        if isinstance(entry, str):  # a changelog written before entries kept the envelope
            return {"verdict": entry, "envelope": None, "labeled": False, "reopened": None}
        return entry

    def is_final(self, artifact_id: str) -> bool:
        """Decided and not reopened: a redelivered copy must not be processed again."""
        entry = self.final(artifact_id)
        return entry is not None and entry["reopened"] is None

    async def route(
        self, output: StageOutput, forward_to: TopicSpec | None, stage: str, envelope: Record
    ) -> None:
        """Emit a stage's output, the compliance record last and only once the rest is acked:
        a crash before it redoes the whole output (audit ids repeat, readers keep one); once
        it is on the broker, the whole output is."""
        compliance = output.compliance
        partition = _event_partition()
        if compliance is not None:
            artifact_id = compliance["artifact_id"]
            await self.reconcile(partition)
            previous = self.final(artifact_id)
            # A HELD artifact gets one more record: the reviewer's decision; a reopened one
            # (an upheld complaint) gets one more too, naming the reviewer (Art. 12).
            if (
                previous is not None
                and previous["reopened"] is None
                and (previous["verdict"] != Verdict.HELD or compliance["verdict"] == Verdict.HELD)
            ):
                log.info("artifact %s already finalized; duplicate output dropped", artifact_id)
                self.metrics.count("duplicates", "finalize")
                if previous["envelope"] is None:  # an entry `reconcile` wrote from its record
                    self.finalized[artifact_id] = {**previous, "envelope": envelope}
                held = output.hold is not None and previous["verdict"] == Verdict.HELD
                if held and artifact_id not in self.held:
                    # still awaiting its reviewer; the held state's own write may have been lost
                    self.held[artifact_id] = output.hold
                return
            if previous is not None and (reopened := previous["reopened"]) is not None:
                compliance = output.compliance = {
                    **compliance,
                    "reviewer": compliance["reviewer"] or reopened["reviewer"],
                    "reasons": [*compliance["reasons"], reopened["reason"]],
                }
        sent: list[Awaitable[RecordMetadata]] = []
        if output.forward is not None:
            if forward_to is None:
                raise RuntimeError("stage forwarded a record but has no next topic")
            sent.append(await self.emit(forward_to, output.forward))
        for spec, records in (
            (catalog.REPORTS_ALERTS, output.alerts),
            (catalog.REPORTS_REGULATOR, output.regulator),
            (catalog.USERS_VIOLATIONS, output.violations),
            (catalog.REVIEW_REQUESTS, output.review),
            (catalog.AUDIT_LOG, output_events(output, stage)),
        ):
            sent += [await self.emit(spec, record) for record in records]
        if output.hold is not None:
            self.held[output.hold["envelope"]["artifact_id"]] = output.hold
        if compliance is not None:
            # The compliance record marks the output done: `reconcile` drops an artifact
            # whose record it finds, so everything else must be on the broker first.
            await asyncio.gather(*sent)
            # On the changelog's partition, acked before the entry: see synthguard.report_marks.
            token = self.marks.sending(partition)
            reported = await self.emit(catalog.REPORTS_COMPLIANCE, compliance, partition)
            offset = (await reported).offset
            self.marks.acked(partition, token, offset)
            self.finalized[compliance["artifact_id"]] = _entry(compliance, envelope, offset)
            if (mark := self.marks.settle(partition, token)) is not None:
                self.finalized[MARK_KEY.format(partition)] = mark

    async def reconcile(self, partition: int) -> None:
        """Once per assignment, before the first compliance record on `partition`: read the
        records emitted since the partition's mark and write the `finalized` entries a dead
        worker did not (synthguard.report_marks), so none of them is emitted twice."""
        if partition in self._reconciled:
            return
        async with self._reconciling.setdefault(partition, asyncio.Lock()):
            if partition in self._reconciled:
                return
            start = self.finalized.get(MARK_KEY.format(partition), 0)
            found, end = await asyncio.to_thread(
                read_partition,
                self.settings,
                self.bootstrap,
                catalog.REPORTS_COMPLIANCE,
                partition,
                start,
            )
            missing = 0
            for offset, record in found:
                entry = self.final(record["artifact_id"])
                if entry is None or entry.get("offset", offset) < offset:
                    envelope = None if entry is None else entry["envelope"]
                    self.finalized[record["artifact_id"]] = _entry(record, envelope, offset)
                    missing += 1
            if end > start:
                self.finalized[MARK_KEY.format(partition)] = end
            self.marks.begin(partition, end)
            self._reconciled.add(partition)
            # Records found without an entry are a dead worker's: worth an operator's eye.
            log.log(
                logging.WARNING if missing else logging.INFO,
                "reports.compliance[%s] read from %s to %s: %s record(s) had no entry",
                partition,
                start,
                end,
                missing,
            )

    async def _on_revoked(self, *args: Any, **kwargs: Any) -> None:
        # Read again at the next assignment: another owner may have written in between.
        self._reconciled.clear()

    async def process(
        self,
        event: EventT[Any],
        stage: str,
        source: TopicSpec,
        handle: Callable[[Record], Awaitable[None]],
    ) -> None:
        """Decode one event and run `handle` on it, retrying or dead-lettering on failure."""
        message = event.message
        payload: bytes | None = event.value
        started = asyncio.get_running_loop().time()
        attempt = 0
        while True:
            attempt += 1
            try:
                if payload is None:
                    raise DecodeError(f"{source.name}: empty value (tombstone) on a data topic")
                record = self.codec(source).decode(payload)
                await handle(record)
            except Exception as exc:  # noqa: BLE001 - one policy for every failure: synthguard.dlq
                decision = decide(
                    exc,
                    attempt,
                    stage=stage,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=event.key,
                    payload=payload,
                )
                if isinstance(decision, Retry):
                    log.warning("%s: retrying offset %s: %s", stage, message.offset, exc)
                    await asyncio.sleep(decision.delay_s)
                    continue
                log.warning(
                    "%s: dead-lettered %s[%s]@%s: %s: %s",
                    stage,
                    message.topic,
                    message.partition,
                    message.offset,
                    type(exc).__name__,
                    exc,
                )
                await self.emit_dead_letter(decision)
                self.metrics.count("dlq", stage)
            else:
                self.metrics.count("processed", stage)
            self.metrics.observe(stage, asyncio.get_running_loop().time() - started)
            return

    async def emit_dead_letter(self, decision: DeadLetter) -> None:
        await self.emit(catalog.DLQ, decision.record)
        record = decision.record
        self.metrics.dead_letter(record["topic"], record["stage"])
        source = catalog.BY_NAME.get(record["topic"])
        keyed_by_artifact = source is not None and source.key in {"artifact_id", catalog.STATE_KEY}
        artifact_id = record["key"] if keyed_by_artifact else None
        await self.emit(catalog.AUDIT_LOG, dead_letter_event(record, artifact_id=artifact_id))


def _entry(compliance: Record, envelope: Record | None, offset: int) -> Record:
    """A `finalized` entry: the record's verdict at `offset`, the envelope (for complaints)."""
    return {
        "verdict": compliance["verdict"],
        "envelope": envelope,
        "labeled": compliance["label"] is not None,
        "reopened": None,
        "offset": offset,
    }


def _event_partition() -> int:
    """The partition of the event being handled: an artifact's compliance record goes where
    its `finalized` entry's changelog goes (Faust writes a table to the event's partition)."""
    event = faust.current_event()
    if event is None:
        raise RuntimeError("compliance records are routed from an agent's event")
    return int(event.message.partition)
