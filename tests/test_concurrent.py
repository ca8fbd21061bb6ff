"""each_concurrently: events run side by side, acked in the order read per partition, so a
commit never passes an event that is still running (streams/concurrent.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from faust.types import TP

from synthguard.streams.concurrent import each_concurrently


@dataclass
class _Message:
    tp: TP
    offset: int


@dataclass
class _Event:
    message: _Message


@dataclass
class _Stream:
    """Faust's stream as each_concurrently uses it: noack(), events(), ack()."""

    sent: list[_Event]
    acked: list[tuple[int, int]] = field(default_factory=list)

    def noack(self) -> _Stream:
        return self

    async def events(self) -> AsyncIterator[_Event]:
        for event in self.sent:
            yield event
        await asyncio.Event().wait()  # a topic has no end: the agent waits for more

    async def ack(self, event: _Event) -> None:
        self.acked.append((event.message.tp.partition, event.message.offset))


def _events(partitions: int, per_partition: int) -> list[_Event]:
    return [
        _Event(_Message(TP("t", p), offset))
        for offset in range(per_partition)
        for p in range(partitions)
    ]


def test_runs_side_by_side_and_acks_in_order_per_partition() -> None:
    stream = _Stream(_events(2, 6))
    running = peak = 0

    async def handle(event: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (6 - event.message.offset))  # later offsets finish first
        running -= 1

    async def main() -> None:
        task = asyncio.create_task(each_concurrently(stream, 4, handle))
        while len(stream.acked) < 12:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(main())
    assert peak == 4
    for p in range(2):
        assert [o for q, o in stream.acked if q == p] == list(range(6))


def test_an_unfinished_event_holds_back_the_acks_behind_it() -> None:
    stream = _Stream(_events(1, 4))

    async def handle(event: Any) -> None:
        if event.message.offset == 1:
            await asyncio.Event().wait()  # never done

    async def main() -> None:
        task = asyncio.create_task(each_concurrently(stream, 4, handle))
        await asyncio.sleep(0.05)
        assert stream.acked == [(0, 0)]  # 2 and 3 are done, but 1 is not: no ack past it
        task.cancel()  # the worker stops: 1, 2 and 3 will be delivered again

    asyncio.run(main())
    assert stream.acked == [(0, 0)]


def test_a_failing_handler_stops_the_agent() -> None:
    stream = _Stream(_events(1, 10))

    async def handle(event: Any) -> None:
        if event.message.offset == 2:
            raise RuntimeError("dead-letter queue unreachable")
        await asyncio.sleep(0.001)

    with pytest.raises(RuntimeError, match="unreachable"):
        asyncio.run(asyncio.wait_for(each_concurrently(stream, 1, handle), 10))
    assert stream.acked == [(0, 0), (0, 1)]
