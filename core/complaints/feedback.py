"""ComplaintFeedback records: what the complainant is told at each status change."""

from __future__ import annotations

import datetime as dt

from synthguard.complaints.policy import Queue, Status
from synthguard.records import Record, new_id, now_ms


def feedback(
    complaint: Record,
    status: Status,
    message: str,
    *,
    queue: Queue | str | None = None,
    deadline_at: int | None = None,
    reviewer: str | None = None,
    duplicate_of: str | None = None,
) -> Record:
    return {
        "feedback_id": new_id("feedback"),
        "complaint": complaint,
        "status": status.value,
        "message": message,
        "queue": None if queue is None else str(queue),
        "deadline_at": deadline_at,
        "reviewer": reviewer,
        "duplicate_of": duplicate_of,
        "at": now_ms(),
    }


def utc(ms: int) -> str:
    """Epoch milliseconds as the time people read: 2026-11-23 22:10 UTC."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
