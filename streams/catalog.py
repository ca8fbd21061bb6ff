"""The topic catalog: the one contract between stages. Nothing else names a topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


WEEK_MS = 7 * 24 * 3600 * 1000
# Report topics are the audit trail downstream teams rebuild from (Art. 16 log keeping):
# keep them longer than working topics. Production overrides retention per cluster.
REPORT_RETENTION_MS = 26 * WEEK_MS


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    """Dotted path of the field the key is taken from; it decides ordering and co-partitioning."""
    subject: str
    """Value schema subject in the registry."""
    cleanup: Cleanup = Cleanup.DELETE
    retention_ms: int = WEEK_MS
    doc: str = ""

    def key_of(self, record: Mapping[str, Any]) -> str | None:
        value: Any = record
        for part in self.key.split("."):
            value = value[part]
        return None if value is None else str(value)

    def config(self) -> dict[str, str]:
        config = {"cleanup.policy": self.cleanup.value}
        if self.cleanup is Cleanup.DELETE:
            config["retention.ms"] = str(self.retention_ms)
        return config


STATE = "synthguard.ArtifactState"
STATE_KEY = "envelope.artifact_id"

ARTIFACTS_SUBMITTED = TopicSpec(
    "artifacts.submitted",
    "artifact_id",
    "synthguard.ArtifactEnvelope",
    doc="Every generated artifact, as the platform submits it.",
)
ARTIFACTS_REVIEWED = TopicSpec(
    "artifacts.reviewed", STATE_KEY, STATE, doc="Publishable: admitted, labeled, reviewed."
)
REPORTS_COMPLIANCE = TopicSpec(
    "reports.compliance",
    "artifact_id",
    "synthguard.ComplianceRecord",
    retention_ms=REPORT_RETENTION_MS,
    doc="Exactly one record per artifact.",
)
REPORTS_ALERTS = TopicSpec(
    "reports.alerts",
    "alert_id",
    "synthguard.Alert",
    retention_ms=REPORT_RETENTION_MS,
    doc="High-risk content and events.",
)
REPORTS_REGULATOR = TopicSpec(
    "reports.regulator",
    "report_id",
    "synthguard.RegulatorReport",
    retention_ms=REPORT_RETENTION_MS,
    doc="Reports owed to the cyberspace administration.",
)
USERS_VIOLATIONS = TopicSpec(
    "users.violations",
    "user_id",
    "synthguard.UserViolation",
    doc="Strikes, keyed by user so one worker owns each user's count.",
)
USERS_ACTIONS = TopicSpec(
    "users.actions",
    "user_id",
    "synthguard.UserAction",
    retention_ms=REPORT_RETENTION_MS,
    doc="Measures against users (Art. 10).",
)
REGISTRY_REALNAME = TopicSpec(
    "registry.realname",
    "user_id",
    "synthguard.RealNameEntry",
    cleanup=Cleanup.COMPACT,
    doc="Real-identity status per user (Art. 9).",
)
REGISTRY_KEYWORDS = TopicSpec(
    "registry.keywords",
    "entry_id",
    "synthguard.KeywordEntry",
    cleanup=Cleanup.COMPACT,
    doc="Keyword feature library (Art. 10); tombstone removes.",
)
REGISTRY_CONSENTS = TopicSpec(
    "registry.consents",
    "consent_id",
    "synthguard.ConsentEntry",
    cleanup=Cleanup.COMPACT,
    doc="Separate consents of people whose face or voice is edited (Art. 14).",
)
REGISTRY_SERVICES = TopicSpec(
    "registry.services",
    "service_id",
    "synthguard.ServiceEntry",
    cleanup=Cleanup.COMPACT,
    doc="Services' security assessments and algorithm filings (Art. 13, 15, 19, 20).",
)
REGISTRY_NEWS_SOURCES = TopicSpec(
    "registry.news_sources",
    "source_id",
    "synthguard.NewsSourceEntry",
    cleanup=Cleanup.COMPACT,
    doc="Approved internet news sources: news may only be reposted from these (Art. 6).",
)
REGISTRY_MEDIA_FEATURES = TopicSpec(
    "registry.media_features",
    "entry_id",
    "synthguard.MediaFeatureEntry",
    cleanup=Cleanup.COMPACT,
    doc="Perceptual-hash and audio-fingerprint feature library (Art. 10); tombstone removes.",
)
REGISTRY_RUMORS = TopicSpec(
    "registry.rumors",
    "rumor_id",
    "synthguard.RumorEntry",
    cleanup=Cleanup.COMPACT,
    doc="Refuted rumors with their refutations (Art. 11); a tombstone withdraws one.",
)
REVIEW_REQUESTS = TopicSpec(
    "review.requests",
    "artifact_id",
    "synthguard.ReviewRequest",
    retention_ms=REPORT_RETENTION_MS,
    doc="Artifacts held for a person to decide (Art. 10 manual review).",
)
REVIEW_DECISIONS = TopicSpec(
    "review.decisions",
    "artifact_id",
    "synthguard.ReviewDecision",
    retention_ms=REPORT_RETENTION_MS,
    doc="Reviewers' decisions, applied by the worker that holds the artifact.",
)
AUDIT_LOG = TopicSpec(
    "audit.log",
    "artifact_id",
    "synthguard.AuditRecord",
    doc="Every decision, label and action, append-only (Art. 10, 16, 21); `topics create`"
    " sets its retention from the `audit_retention_days` setting.",
)
COMPLAINTS_SUBMITTED = TopicSpec(
    "complaints.submitted",
    "submitter_id",
    "synthguard.Complaint",
    retention_ms=REPORT_RETENTION_MS,
    doc="Appeals, complaints and reports as filed (Art. 12); keyed by submitter, so one"
    " worker counts each submitter's rate and duplicates.",
)
COMPLAINTS_ACCEPTED = TopicSpec(
    "complaints.accepted",
    "target",
    "synthguard.ComplaintTicket",
    doc="Internal: tickets past the rate limit, re-keyed by target (artifact or user) so the"
    " worker that owns the target routes, tracks and decides them.",
)
COMPLAINT_QUEUES: Mapping[str, TopicSpec] = {
    queue: TopicSpec(
        f"complaints.queue.{queue.lower()}",
        "target",
        "synthguard.ComplaintTicket",
        retention_ms=REPORT_RETENTION_MS,
        doc=f"Open {queue.lower()} tickets with their published deadline, for that team.",
    )
    for queue in ("APPEALS", "LABELING", "RUMORS", "LIKENESS", "ILLEGAL")
}
COMPLAINTS_OUTCOMES = TopicSpec(
    "complaints.outcomes",
    "target",
    "synthguard.ComplaintOutcome",
    retention_ms=REPORT_RETENTION_MS,
    doc="Reviewers' decisions on tickets, applied by the worker that owns the target.",
)
COMPLAINTS_TIMERS = TopicSpec(
    "complaints.timers",
    "target",
    "synthguard.DeadlineTick",
    retention_ms=2 * 24 * 3600 * 1000,
    doc="Internal: a worker's timer found a ticket at its warning time or past its deadline.",
)
COMPLAINTS_FEEDBACK = TopicSpec(
    "complaints.feedback",
    "complaint.complaint_id",
    "synthguard.ComplaintFeedback",
    retention_ms=REPORT_RETENTION_MS,
    doc="What each complainant is told, at every status change; the latest is the status.",
)
MEDIA_SEGMENTS = TopicSpec(
    "media.segments",
    "job_id",
    "synthguard.SegmentJob",
    retention_ms=2 * 24 * 3600 * 1000,
    doc="Video segments to label, for any watermark worker; keyed per segment to spread them.",
)
MEDIA_ASSEMBLY = TopicSpec(
    "media.assembly",
    "artifact_id",
    "synthguard.AssemblyEvent",
    retention_ms=2 * 24 * 3600 * 1000,
    doc="A video's opening and its labeled segments, keyed by video for its reassembler.",
)
DLQ = TopicSpec(
    "dlq",
    "topic",
    "synthguard.DeadLetter",
    retention_ms=REPORT_RETENTION_MS,
    doc="Anything that could not be decoded or processed.",
)

CATALOG: tuple[TopicSpec, ...] = (
    ARTIFACTS_SUBMITTED,
    ARTIFACTS_REVIEWED,
    REPORTS_COMPLIANCE,
    REPORTS_ALERTS,
    REPORTS_REGULATOR,
    USERS_VIOLATIONS,
    USERS_ACTIONS,
    REGISTRY_REALNAME,
    REGISTRY_KEYWORDS,
    REGISTRY_CONSENTS,
    REGISTRY_SERVICES,
    REGISTRY_NEWS_SOURCES,
    REGISTRY_MEDIA_FEATURES,
    REGISTRY_RUMORS,
    REVIEW_REQUESTS,
    REVIEW_DECISIONS,
    AUDIT_LOG,
    COMPLAINTS_SUBMITTED,
    COMPLAINTS_ACCEPTED,
    *COMPLAINT_QUEUES.values(),
    COMPLAINTS_OUTCOMES,
    COMPLAINTS_TIMERS,
    COMPLAINTS_FEEDBACK,
    MEDIA_SEGMENTS,
    MEDIA_ASSEMBLY,
    DLQ,
)
BY_NAME = {spec.name: spec for spec in CATALOG}
if len(BY_NAME) != len(CATALOG):
    raise RuntimeError("duplicate topic name in the catalog")


def topic(name: str) -> TopicSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(BY_NAME))
        raise KeyError(f"unknown topic {name!r}; known: {known}") from None
