"""Faust's aiokafka driver with two changes.

The consumer's fetch wait comes from our settings. Faust fixes `fetch_max_wait_ms` at
1,500 ms: when a partition has nothing new, the broker holds the fetch that long, which at
low rates adds up to that much latency to every hop (measured: p50 ~380 ms at 100 events/s).
The wait is set after construction because Faust builds the consumer with a literal; aiokafka
reads the attribute when the consumer starts.

Seeking back to the committed offsets survives a partition revoked midway. When a rebalance
stops the flow, Faust drops the records it had fetched and seeks every assigned partition back
to its committed offset; aiokafka's `seek_to_committed` awaits each partition's offset in
turn, and one revoked meanwhile raises IllegalStateError and ends the loop, so the partitions
after it keep their fetch position past the dropped records, which are then never processed
("exception performing seek when flow not active", seen before artifacts went missing in the
worker-kill test). Each partition is seeked on its own here, and a revoked one is skipped:
its next owner starts from the committed offset anyway.

Records fetched but never delivered are fetched again. After a worker died and its partitions
moved, the survivor was seen to take the first batch of an inherited partition and then
nothing more, its fetch position at the partition's end (`tests/test_audit_restart.py`, 3 runs
in 5; like the `label_segments` stalls in docs/ARCHITECTURE.md): Faust drops fetched
records in some rebalance races without seeking back. When a worker is idle (every delivered
record acked) and a partition's fetch position stays past its committed offset for two checks
in a row, the partition is sought back to the committed offset, with a warning. A partition
stalled while others keep the worker busy is not caught.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from mode import Service

log = logging.getLogger(__name__)

# How often partitions are checked for records fetched but never delivered (two checks in a
# row must agree before a partition is sought back).
LOST_FETCH_CHECK_S = 5.0


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(App, self.app).fetch_max_wait_ms
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_each_to_committed))

    async def _seek_each_to_committed(self) -> dict[Any, int]:
        consumer = self._ensure_consumer()
        offsets: dict[Any, int] = {}
        for tp in consumer.assignment():
            try:
                offsets.update(await consumer.seek_to_committed(tp))
            except IllegalStateError:
                continue  # revoked since the loop began
        return offsets

    async def positions(self) -> dict[TP, int]:
        """The fetch position of every assigned partition the consumer is not pausing."""
        return cast(dict[TP, int], await self.call_thread(self._positions))

    async def _positions(self) -> dict[TP, int]:
        consumer = self._ensure_consumer()
        paused = consumer.paused()
        positions: dict[TP, int] = {}
        for tp in consumer.assignment() - paused:
            try:
                positions[TP(tp.topic, tp.partition)] = await consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile
        return positions


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __post_init__(self) -> None:
        super().__post_init__()
        # partition -> (committed, position) at the last check, where the one was behind
        self._behind: dict[TP, tuple[int, int]] = {}

    @Service.timer(LOST_FETCH_CHECK_S)
    async def _refetch_undelivered(self) -> None:
        # Only when idle: a busy worker has fetched records on their way to its streams.
        if not self.flow_active or self._unacked_messages:
            self._behind.clear()
            return
        thread = cast(_ConsumerThread, self._thread)
        behind: dict[TP, tuple[int, int]] = {}
        for tp, position in (await thread.positions()).items():
            if not self.app.topics.acks_enabled_for(tp.topic):
                continue  # table changelogs: read by recovery, never committed
            committed = self._committed_offset.get(tp) or 0
            if position <= committed:
                continue
            behind[tp] = (committed, position)
            if self._behind.get(tp) == behind[tp] and not self._unacked_messages:
                log.warning(
                    "%s[%s]: fetched up to %s but nothing from %s on was delivered; refetching",
                    tp.topic,
                    tp.partition,
                    position,
                    committed,
                )
                await self.seek(tp, committed)
                del behind[tp]
        self._behind = behind


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose consumers wait at most `fetch_max_wait_ms` for new records."""

    def __init__(self, id: str, *, fetch_max_wait_ms: int, **options: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(id, **options)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
