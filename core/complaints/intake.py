"""The first hop, keyed by submitter: the shape rules, duplicates and the rate limit. One
worker owns each submitter's state (a Faust table), so counting needs no coordination."""

from __future__ import annotations

from dataclasses import dataclass

from synthguard.complaints.feedback import feedback, utc
from synthguard.complaints.policy import (
    Category,
    ComplaintPolicy,
    Rejected,
    Status,
    describe_seconds,
    validate,
)
from synthguard.records import Record

# Complaints remembered per submitter for duplicate detection and redelivery.
REMEMBERED = 256


@dataclass(frozen=True, slots=True)
class Admission:
    state: Record
    """The submitter's new state."""
    ticket: Record | None = None
    """Accepted: route it on, keyed by its target."""
    feedback: Record | None = None
    """Refused (rejected or a duplicate): tell the submitter why."""


def new_submitter() -> Record:
    return {"recent": [], "filed": []}


def dedup_key(complaint: Record) -> str:
    """Same submitter, same category, same target: the same complaint."""
    parts = [complaint["category"], complaint["artifact_id"], complaint["action_id"]]
    if complaint["category"] == Category.LIKENESS:
        parts.append(complaint["subject_id"])
    return "|".join(str(part) for part in parts)


def admit(submitter: Record, complaint: Record, policy: ComplaintPolicy, now: int) -> Admission:
    filed: list[list[str]] = submitter["filed"]
    if any(cid == complaint["complaint_id"] for _, cid in filed):
        return Admission(submitter)  # redelivered: already answered
    try:
        validate(complaint, policy.max_chars)
    except Rejected as exc:
        return Admission(submitter, feedback=feedback(complaint, Status.REJECTED, str(exc)))
    key = dedup_key(complaint)
    if original := next((cid for k, cid in filed if k == key), None):
        message = f"you already filed this as {original}; follow that one for its status"
        return Admission(
            submitter,
            feedback=feedback(complaint, Status.DUPLICATE, message, duplicate_of=original),
        )
    recent = [at for at in submitter["recent"] if at > now - policy.rate_window_s * 1000]
    if len(recent) >= policy.rate_limit:
        retry = min(recent) + policy.rate_window_s * 1000
        message = (
            f"too many submissions: at most {policy.rate_limit} per"
            f" {describe_seconds(policy.rate_window_s)} from one submitter;"
            f" you can file again after {utc(retry)}"
        )
        return Admission(
            {**submitter, "recent": recent},
            feedback=feedback(complaint, Status.REJECTED, message),
        )
    state = {
        "recent": [*recent, now],
        "filed": [*filed, [key, complaint["complaint_id"]]][-REMEMBERED:],
    }
    return Admission(state, ticket=policy.ticket(complaint, now))
