"""The published process (Art. 12): what may be filed, which queue takes it, how long the
platform has to answer, and how often one submitter may file. `Settings.complaint_policy()`
builds it; the README's "Complaints and appeals" section publishes the defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from synthguard.errors import ConfigError
from synthguard.records import Record


class ComplaintType(StrEnum):
    APPEAL = "APPEAL"
    COMPLAINT = "COMPLAINT"
    REPORT = "REPORT"


class Category(StrEnum):
    BLOCK = "BLOCK"
    USER_ACTION = "USER_ACTION"
    UNLABELED_AI = "UNLABELED_AI"
    RUMOR = "RUMOR"
    LIKENESS = "LIKENESS"
    ILLEGAL_CONTENT = "ILLEGAL_CONTENT"


class Queue(StrEnum):
    APPEALS = "APPEALS"
    LABELING = "LABELING"
    RUMORS = "RUMORS"
    LIKENESS = "LIKENESS"
    ILLEGAL = "ILLEGAL"


class Status(StrEnum):
    OPEN = "OPEN"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"
    UPHELD = "UPHELD"
    DISMISSED = "DISMISSED"


APPEAL_CATEGORIES = frozenset({Category.BLOCK, Category.USER_ACTION})
QUEUE_OF: Mapping[Category, Queue] = {
    Category.BLOCK: Queue.APPEALS,
    Category.USER_ACTION: Queue.APPEALS,
    Category.UNLABELED_AI: Queue.LABELING,
    Category.RUMOR: Queue.RUMORS,
    Category.LIKENESS: Queue.LIKENESS,
    Category.ILLEGAL_CONTENT: Queue.ILLEGAL,
}
# What the article each category serves says, for the complainant and the alert.
ARTICLE_OF: Mapping[Category, str] = {
    Category.BLOCK: "Art. 12",
    Category.USER_ACTION: "Art. 12",
    Category.UNLABELED_AI: "Art. 16, 17",
    Category.RUMOR: "Art. 11",
    Category.LIKENESS: "Art. 14",
    Category.ILLEGAL_CONTENT: "Art. 10",
}
DEFAULT_DEADLINES = (
    "ILLEGAL_CONTENT=24h,RUMOR=24h,LIKENESS=48h,UNLABELED_AI=72h,BLOCK=7d,USER_ACTION=7d"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
MAX_ID_LENGTH = 128


class Rejected(Exception):
    """A complaint that cannot be taken, with the message its submitter is shown."""


def parse_deadlines(spec: str) -> dict[Category, int]:
    """`CATEGORY=<n><s|m|h|d>,...` -> category -> seconds; every category must have one."""
    deadlines: dict[Category, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        match = _DURATION.match(value.strip())
        if name.strip() not in Category.__members__ or match is None:
            raise ConfigError(
                f"complaint deadline {part!r}: expected CATEGORY=<number><s|m|h|d>,"
                f" CATEGORY one of {', '.join(Category)}"
            )
        seconds = round(float(match[1]) * _UNITS[match[2]])
        if seconds < 1:
            raise ConfigError(f"complaint deadline {part!r} is under a second")
        deadlines[Category(name.strip())] = seconds
    if missing := [c.value for c in Category if c not in deadlines]:
        raise ConfigError(f"complaint deadlines miss {', '.join(missing)}")
    return deadlines


def describe_seconds(seconds: int) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit if seconds != size else unit[:-1]}"
    return f"{seconds} seconds"


@dataclass(frozen=True, slots=True)
class ComplaintPolicy:
    deadlines: Mapping[Category, int]
    """Seconds from acceptance to the published response deadline."""
    warn_at: float = 0.75
    """Share of the window after which an open ticket raises a warning alert."""
    rate_limit: int = 5
    rate_window_s: int = 3600
    max_chars: int = 2000
    ticket_retention_s: int = 7 * 86400
    """How long the tracker keeps a decided ticket, to recognise a redelivered ticket or
    outcome; then it forgets it (the complainant's history lives on complaints.feedback)."""

    def __post_init__(self) -> None:
        if not 0 < self.warn_at < 1:
            raise ConfigError("complaint_warn_at must be between 0 and 1")
        limits = (self.rate_limit, self.rate_window_s, self.max_chars, self.ticket_retention_s)
        if min(limits) < 1:
            raise ConfigError(
                "complaint_rate_limit, complaint_rate_window_s, complaint_max_chars and "
                "complaint_ticket_retention_s must be >= 1"
            )

    def ticket(self, complaint: Record, now: int) -> Record:
        """The ticket for an accepted complaint: its target, queue and deadline."""
        category = Category(complaint["category"])
        window_ms = self.deadlines[category] * 1000
        return {
            "complaint": complaint,
            "target": target_of(complaint),
            "queue": QUEUE_OF[category].value,
            "accepted_at": now,
            "warn_at": now + round(window_ms * self.warn_at),
            "deadline_at": now + window_ms,
        }

    def published(self) -> list[tuple[str, str, str]]:
        """(category, queue, deadline) rows: the process Art. 12 asks us to publish."""
        return [
            (category.value, QUEUE_OF[category].value, describe_seconds(self.deadlines[category]))
            for category in Category
        ]


def target_of(complaint: Record) -> str:
    """What the ticket is keyed by: the artifact, or the appellant for a user action, so the
    worker that owns the artifact's (or the user's) state decides it."""
    if complaint["category"] == Category.USER_ACTION:
        return str(complaint["submitter_id"])
    return str(complaint["artifact_id"])


def validate(complaint: Record, max_chars: int) -> None:
    """Raise Rejected with a message for the submitter; the schema has already checked types."""
    kind, category = ComplaintType(complaint["type"]), Category(complaint["category"])
    if (kind is ComplaintType.APPEAL) != (category in APPEAL_CATEGORIES):
        allowed = "BLOCK or USER_ACTION" if kind is ComplaintType.APPEAL else "not an appeal"
        article = "an" if kind is ComplaintType.APPEAL else "a"
        raise Rejected(f"{article} {kind.value} cannot be about {category.value} ({allowed})")
    for name in ("complaint_id", "submitter_id"):
        if not complaint[name].strip() or len(complaint[name]) > MAX_ID_LENGTH:
            raise Rejected(f"{name} must be 1-{MAX_ID_LENGTH} non-blank characters")
    needs = {"artifact_id"} if category is not Category.USER_ACTION else {"action_id"}
    if category is Category.LIKENESS:
        needs.add("subject_id")
    for name in sorted(needs):
        value = complaint.get(name)
        if not value or not value.strip() or len(value) > MAX_ID_LENGTH:
            raise Rejected(f"a {category.value} complaint needs {name} (1-{MAX_ID_LENGTH} chars)")
    text = complaint["text"]
    if not text.strip():
        raise Rejected("say what is wrong: the text is empty")
    if len(text) > max_chars:
        raise Rejected(f"the text is {len(text):,} characters, over the {max_chars:,} limit")
