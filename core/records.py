"""Builders for the wire records every stage emits (shapes fixed by schemas/*.avsc).

Records are plain dicts, the form fastavro writes; the builders are the one place their
shapes are spelled out in code, so stages cannot drift from the schemas.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

Record = dict[str, Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def stable_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id."""
    return f"{prefix}-" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def content_id(prefix: str, body: Record) -> str:
    """An output's id from what it says (`body`: the record without its id and timestamp).
    Everything but the compliance record is at least once: an artifact redelivered after a
    crash repeats its alerts, reports and review requests with the same ids, so consumers
    drop the copies."""
    return stable_id(prefix, orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode())


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    FLAGGED = "FLAGGED"
    APPLIED = "APPLIED"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Verdict(StrEnum):
    PUBLISHABLE = "PUBLISHABLE"
    BLOCKED = "BLOCKED"
    HELD = "HELD"


class AlertKind(StrEnum):
    UNVERIFIED_USER = "UNVERIFIED_USER"
    FEATURE_LIBRARY_HIT = "FEATURE_LIBRARY_HIT"
    UNCONSENTED_BIOMETRIC = "UNCONSENTED_BIOMETRIC"
    TAMPERED_LABEL = "TAMPERED_LABEL"
    RUMOR_HIT = "RUMOR_HIT"
    SLA_BREACH = "SLA_BREACH"
    INVALID_ARTIFACT = "INVALID_ARTIFACT"
    UNASSESSED_SERVICE = "UNASSESSED_SERVICE"
    UNFILED_SERVICE = "UNFILED_SERVICE"
    POSSIBLE_FALSE_NEWS = "POSSIBLE_FALSE_NEWS"
    COMPLAINT_DUE = "COMPLAINT_DUE"


class AlertSeverity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


def check(article: str, rule: str, stage: str, outcome: Outcome, detail: str) -> Record:
    return {
        "article": article,
        "rule": rule,
        "stage": stage,
        "outcome": outcome.value,
        "detail": detail,
        "at": now_ms(),
    }


def new_state(envelope: Record) -> Record:
    return {
        "envelope": envelope,
        "checks": [],
        "stages": {},
        "label": None,
        "filing_number": None,
        "media_hashes": [],
        "notices": [],
    }


def compliance_record(
    state: Record, verdict: Verdict, reasons: list[str], reviewer: str | None = None
) -> Record:
    env = state["envelope"]
    return {
        "artifact_id": env["artifact_id"],
        "user_id": env["user_id"],
        "provider_id": env["provider_id"],
        "service_id": env["service_id"],
        "modality": env["modality"],
        "service_kind": env["service_kind"],
        "verdict": verdict.value,
        "reasons": reasons,
        "checks": state["checks"],
        "stages": state["stages"],
        # Reports carry ids, digests and label fields, never the content itself.
        "label": state["label"] and {**state["label"], "labeled_text": None},
        "submitted_at": env["submitted_at"],
        "emitted_at": now_ms(),
        "filing_number": state.get("filing_number"),
        "reviewer": reviewer,
        "notices": state.get("notices", []),
    }


def alert(
    kind: AlertKind,
    severity: AlertSeverity,
    article: str,
    summary: str,
    *,
    artifact_id: str | None = None,
    user_id: str | None = None,
    evidence: dict[str, str] | None = None,
) -> Record:
    body = {
        "kind": kind.value,
        "severity": severity.value,
        "article": article,
        "artifact_id": artifact_id,
        "user_id": user_id,
        "summary": summary,
        "evidence": evidence or {},
    }
    return {"alert_id": content_id("alert", body), **body, "at": now_ms()}


def regulator_report(
    envelope: Record,
    *,
    article: str,
    category: str,
    summary: str,
    evidence: list[str],
    measures: list[str],
    content_sha256: str,
) -> Record:
    body = {
        "article": article,
        "category": category,
        "artifact_id": envelope["artifact_id"],
        "user_id": envelope["user_id"],
        "provider_id": envelope["provider_id"],
        "service_id": envelope["service_id"],
        "summary": summary,
        "evidence": evidence,
        "measures": measures,
        "content_sha256": content_sha256,
    }
    return {"report_id": content_id("report", body), **body, "at": now_ms()}


def content_sha256(envelope: Record) -> str:
    """What a report names the content by: the blob's digest, or the text's."""
    if envelope["blob"] is not None:
        return str(envelope["blob"]["sha256"])
    return hashlib.sha256((envelope["text"] or "").encode("utf-8")).hexdigest()


def violation(envelope: Record, article: str, reason: str) -> Record:
    # Deterministic id: a redelivered artifact yields the same violation, counted once.
    return {
        "violation_id": f"{envelope['artifact_id']}:{article}",
        "user_id": envelope["user_id"],
        "artifact_id": envelope["artifact_id"],
        "article": article,
        "reason": reason,
        "at": now_ms(),
    }


@dataclass(slots=True)
class StageOutput:
    """What one stage decided for one input; the streams layer maps fields to topics."""

    forward: Record | None = None
    compliance: Record | None = None
    alerts: list[Record] = field(default_factory=list)
    regulator: list[Record] = field(default_factory=list)
    violations: list[Record] = field(default_factory=list)
    review: list[Record] = field(default_factory=list)
    """Review requests: the artifact waits for a person (Art. 10 manual review)."""
    hold: Record | None = None
    """The held artifact's labeled state, kept until a reviewer decides."""
