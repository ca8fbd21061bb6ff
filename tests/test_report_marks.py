"""A partition's mark never passes a compliance record whose `finalized` entry is not written:
the property that lets the next owner start reading there (synthguard.report_marks)."""

from __future__ import annotations

import random

import pytest

from synthguard.report_marks import ReportMarks


def test_mark_moves_past_settled_records_only() -> None:
    marks = ReportMarks()
    marks.begin(0, 10)
    first, second = marks.sending(0), marks.sending(0)
    marks.acked(0, first, 10)
    marks.acked(0, second, 11)
    assert marks.settle(0, second) is None  # 10 has no entry yet: the mark stays at 10
    assert marks.settle(0, first) == 11  # 11's entry was written before: both covered now
    third = marks.sending(0)
    marks.acked(0, third, 12)
    assert marks.settle(0, third) == 13


def test_a_record_without_its_offset_holds_the_mark() -> None:
    marks = ReportMarks()
    unknown, known = marks.sending(3), marks.sending(3)
    marks.acked(3, known, 0)
    assert marks.settle(3, known) is None  # `unknown` may have landed at offset 0 or 1
    marks.acked(3, unknown, 1)
    assert marks.settle(3, unknown) == 2


def test_partitions_are_independent() -> None:
    marks = ReportMarks()
    stuck = marks.sending(1)
    marks.acked(1, stuck, 5)
    moving = marks.sending(2)
    marks.acked(2, moving, 7)
    assert marks.settle(2, moving) == 8


def test_settling_before_the_ack_is_a_bug() -> None:
    marks = ReportMarks()
    token = marks.sending(0)
    with pytest.raises(ValueError, match="before its ack"):
        marks.settle(0, token)


def test_any_crash_point_leaves_no_unwritten_entry_below_the_last_mark() -> None:
    """Concurrent emits in random order, a crash after each step: every record below the
    last mark written must have its entry written before that mark."""
    rng = random.Random(8)
    for _ in range(200):
        marks = ReportMarks()
        marks.begin(0, 0)
        log: list[tuple[str, int]] = []  # the changelog: ("entry", offset) / ("mark", offset)
        next_offset, tokens, acked = 0, [], []
        for _ in range(60):
            step = rng.random()
            if step < 0.4:
                tokens.append(marks.sending(0))
            elif step < 0.7 and tokens:
                token = tokens.pop(rng.randrange(len(tokens)))  # appended in any order
                marks.acked(0, token, next_offset)
                acked.append((token, next_offset))
                next_offset += 1
            elif acked:
                token, offset = acked.pop(rng.randrange(len(acked)))
                log.append(("entry", offset))
                if (mark := marks.settle(0, token)) is not None:
                    log.append(("mark", mark))
        for crash in range(len(log) + 1):
            kept = log[:crash]
            last_mark = max((o for kind, o in kept if kind == "mark"), default=0)
            entries = {o for kind, o in kept if kind == "entry"}
            assert set(range(last_mark)) <= entries, (kept, last_mark)
