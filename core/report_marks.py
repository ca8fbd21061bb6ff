"""Exactly one compliance record per artifact across worker crashes, without transactions.

A worker emits an artifact's compliance record, waits for the broker's ack, and only then writes
the artifact's `finalized` entry, whose changelog partition is the record's partition. A worker
killed between the two leaves a record with no entry; the artifact, never committed, comes back
to the partition's next owner, which would emit it again. Kafka transactions would make the two
writes one, but the embedded broker (Tansu 0.6) has none, so the next owner reads what is
already on `reports.compliance` instead and writes the entries that are missing first.

It starts reading at the partition's *mark*: an offset below which every record's entry was
written before the mark itself. The mark is written into the same changelog partition after
those entries, so whatever prefix of the changelog survives, a mark in it never claims an
entry that did not. This class computes marks for one worker; it knows nothing of Kafka.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Partition:
    mark: int = 0
    # records being emitted: token -> offset once acked, None before
    pending: dict[int, int | None] = field(default_factory=dict)


class ReportMarks:
    def __init__(self) -> None:
        self._partitions: dict[int, _Partition] = {}
        self._tokens = itertools.count()

    def _of(self, partition: int) -> _Partition:
        return self._partitions.setdefault(partition, _Partition())

    def begin(self, partition: int, read_to: int) -> None:
        """A new owner has read the partition's records up to `read_to` and written every
        missing entry: the mark starts there."""
        self._of(partition).mark = read_to

    def sending(self, partition: int) -> int:
        """A record is about to be emitted; returns its token."""
        token = next(self._tokens)
        self._of(partition).pending[token] = None
        return token

    def acked(self, partition: int, token: int, offset: int) -> None:
        self._of(partition).pending[token] = offset

    def settle(self, partition: int, token: int) -> int | None:
        """The record of `token` (acked) has its entry written now: the mark to write after it,
        or None where the mark has not moved. A record still pending below holds the mark
        back, and so does one whose offset is not known yet (it may lie below). A record
        that never settles (its emit failed) holds it until the partition changes owner."""
        part = self._of(partition)
        offset = part.pending.pop(token)
        if offset is None:
            raise ValueError(f"record {token} settled before its ack")
        others = list(part.pending.values())
        if None in others:
            return None
        mark = min([offset + 1, *(o for o in others if o is not None)])
        if mark <= part.mark:
            return None
        part.mark = mark
        return mark
