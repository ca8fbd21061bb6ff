"""The audit trail (Art. 10, 16, 21): every check, label, verdict, alert, regulator report,
strike, user action, review and dead letter as one append-only AuditRecord
(schemas/audit_record.v1.avsc, topic audit.log, keyed by artifact_id), and the reading side:
an artifact's history and an inspection window.

Pure: records in, records out. Audit ids are derived from what was decided, never from the
random alert, report, action or request ids, so a redelivered step (at-least-once) repeats
its ids and readers keep one copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from synthguard.errors import ValidationError
from synthguard.records import Record, StageOutput, now_ms, stable_id
from synthguard.review.manual import STAGE as MANUAL_REVIEW_STAGE

# The stage that acts on users' strikes (the act_on_user agent's).
USERS_STAGE = "users"
COMPLAINTS_STAGE = "complaints"
LABEL_RULE_PREFIX = "label."
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


class AuditEvent(StrEnum):
    CHECK = "CHECK"
    LABEL = "LABEL"
    VERDICT = "VERDICT"
    ALERT = "ALERT"
    REGULATOR_REPORT = "REGULATOR_REPORT"
    VIOLATION = "VIOLATION"
    USER_ACTION = "USER_ACTION"
    REVIEW_REQUESTED = "REVIEW_REQUESTED"
    REVIEW_DECIDED = "REVIEW_DECIDED"
    DEAD_LETTER = "DEAD_LETTER"


def audit_id(artifact_id: str | None, event: AuditEvent, stage: str, *parts: str) -> str:
    """The same decision about the same artifact at the same stage always gets the same id."""
    return stable_id("audit", artifact_id or "", event.value, stage, *parts)


def _event(
    event: AuditEvent,
    *,
    artifact_id: str | None,
    user_id: str | None,
    article: str | None,
    stage: str,
    summary: str,
    detail: dict[str, str | None],
    at: int,
    key: Iterable[str],
) -> Record:
    return {
        "audit_id": audit_id(artifact_id, event, stage, *key),
        "artifact_id": artifact_id,
        "user_id": user_id,
        "event": event.value,
        "article": article,
        "stage": stage,
        "summary": summary,
        # The schema's detail is a map of strings: absent values are left out.
        "detail": {name: value for name, value in detail.items() if value is not None},
        "at": at,
    }


def output_events(output: StageOutput, stage: str) -> list[Record]:
    """Audit records for one stage output: its checks (label rules as LABEL), the label
    applied, the verdict, alerts, regulator reports, strikes and review requests.

    Checks keep the stage that ran them, so a check carried again in a later output (the
    intake gate in the final record, the checks of a held artifact once a reviewer decides)
    repeats its audit id."""
    events: list[Record] = []
    record = output.compliance or output.forward
    if record is not None:
        # A compliance record names the artifact; a forwarded state carries its envelope.
        subject = record.get("envelope", record)
        artifact_id, user_id = subject["artifact_id"], subject["user_id"]
        events += [_check_event(c, artifact_id, user_id) for c in record["checks"]]
        if record["label"]:
            events.append(_label_event(record, artifact_id, user_id, stage))
    if output.compliance is not None:
        events.append(_verdict_event(output.compliance, stage))
    events += [_alert_event(a, stage) for a in output.alerts]
    events += [_report_event(r, stage) for r in output.regulator]
    events += [_violation_event(v, stage) for v in output.violations]
    events += [_review_event(r, stage) for r in output.review]
    return events


def _check_event(check: Record, artifact_id: str, user_id: str) -> Record:
    rule, outcome, text = check["rule"], check["outcome"], check["detail"]
    labeled = rule.startswith(LABEL_RULE_PREFIX)
    return _event(
        AuditEvent.LABEL if labeled else AuditEvent.CHECK,
        artifact_id=artifact_id,
        user_id=user_id,
        article=check["article"],
        stage=check["stage"],
        summary=f"{rule} {outcome}: {text}",
        detail={"rule": rule, "outcome": outcome, "detail": text},
        at=check["at"],
        key=(rule, outcome, text),
    )


def _label_event(record: Record, artifact_id: str, user_id: str, stage: str) -> Record:
    """The label as applied: the implicit record's fields and the visible notice, never the
    labeled content. Dated and staged by the first label check, which was written with it."""
    label = record["label"]
    fields = label["record"]
    blob = label.get("blob") or {}
    marks = [c for c in record["checks"] if c["rule"].startswith(LABEL_RULE_PREFIX)]
    if marks:
        stage, at = marks[0]["stage"], marks[0]["at"]
    else:
        at = record.get("emitted_at") or now_ms()
    notice = label.get("notice")
    summary = f"Label={fields['Label']} ProduceID={fields['ProduceID']}" + (
        f", notice {notice!r}" if notice else ", no visible notice"
    )
    return _event(
        AuditEvent.LABEL,
        artifact_id=artifact_id,
        user_id=user_id,
        article="Art. 16",
        stage=stage,
        summary=summary,
        detail={
            **{name: str(value) for name, value in fields.items() if value},
            "explicit": str(label["explicit"]).lower(),
            "notice": notice,
            "digest": label["digest"],
            "watermark_id": label.get("watermark_id"),
            "classification": label.get("classification"),
            "incoming": label.get("incoming"),
            "blob_uri": blob.get("uri"),
            "blob_sha256": blob.get("sha256"),
        },
        at=at,
        key=(label["digest"],),
    )


def _verdict_event(compliance: Record, stage: str) -> Record:
    verdict, reasons = compliance["verdict"], compliance["reasons"]
    reviewer = compliance.get("reviewer")
    return _event(
        AuditEvent.VERDICT,
        artifact_id=compliance["artifact_id"],
        user_id=compliance["user_id"],
        article=None,  # a verdict weighs every article; its reasons name them
        stage=stage,
        summary=f"{verdict}: {'; '.join(reasons)}" if reasons else verdict,
        detail={
            "verdict": verdict,
            "reasons": "; ".join(reasons),
            "modality": compliance["modality"],
            "service_kind": compliance["service_kind"],
            "provider_id": compliance["provider_id"],
            "service_id": compliance["service_id"],
            "filing_number": compliance.get("filing_number"),
            "reviewer": reviewer,
        },
        at=compliance["emitted_at"],
        key=(verdict, reviewer or ""),
    )


def _alert_event(alert: Record, stage: str) -> Record:
    kind, severity, summary = alert["kind"], alert["severity"], alert["summary"]
    evidence = {f"evidence.{name}": value for name, value in alert["evidence"].items()}
    return _event(
        AuditEvent.ALERT,
        artifact_id=alert["artifact_id"],
        user_id=alert["user_id"],
        article=alert["article"],
        stage=stage,
        summary=f"{kind} {severity}: {summary}",
        detail={"alert_id": alert["alert_id"], "kind": kind, "severity": severity, **evidence},
        at=alert["at"],
        key=(kind, severity, alert["article"], summary),
    )


def _report_event(report: Record, stage: str) -> Record:
    category, summary = report["category"], report["summary"]
    return _event(
        AuditEvent.REGULATOR_REPORT,
        artifact_id=report["artifact_id"],
        user_id=report["user_id"],
        article=report["article"],
        stage=stage,
        summary=f"reported ({category}): {summary}",
        detail={
            "report_id": report["report_id"],
            "category": category,
            "measures": "; ".join(report["measures"]),
            "content_sha256": report["content_sha256"],
        },
        at=report["at"],
        key=(report["article"], category, summary, report["content_sha256"]),
    )


def _violation_event(violation: Record, stage: str) -> Record:
    return _event(
        AuditEvent.VIOLATION,
        artifact_id=violation["artifact_id"],
        user_id=violation["user_id"],
        article=violation["article"],
        stage=stage,
        summary=f"strike: {violation['reason']}",
        detail={"violation_id": violation["violation_id"], "reason": violation["reason"]},
        at=violation["at"],
        key=(violation["violation_id"],),
    )


def _review_event(request: Record, stage: str) -> Record:
    # The request carries the text for the reviewer; the audit trail keeps only references.
    reasons = "; ".join(request["reasons"])
    return _event(
        AuditEvent.REVIEW_REQUESTED,
        artifact_id=request["artifact_id"],
        user_id=request["user_id"],
        article="Art. 10",
        stage=stage,
        summary=f"held for manual review: {reasons}",
        detail={
            "request_id": request["request_id"],
            "reasons": reasons,
            "modality": request["modality"],
            "content_uri": request["content_uri"],
        },
        at=request["requested_at"],
        key=(reasons,),
    )


def action_event(action: Record) -> Record:
    """USER_ACTION for a users.actions record (Art. 10 measures ladder)."""
    kind, strikes = action["action"], action["strikes"]
    return _event(
        AuditEvent.USER_ACTION,
        artifact_id=action["artifact_id"],
        user_id=action["user_id"],
        article=action["article"],
        stage=USERS_STAGE,
        summary=f"{kind} after {strikes} strike(s): {action['reason']}",
        detail={
            "action_id": action["action_id"],
            "action": kind,
            "strikes": str(strikes),
            "reason": action["reason"],
            "ladder": action["ladder"],
        },
        at=action["at"],
        # One action per strike count: the ladder counts each violation once per user.
        key=(action["user_id"], kind, str(strikes)),
    )


def complaint_decision_event(complaint: Record, outcome: Record) -> Record:
    """REVIEW_DECIDED for a reviewer's decision on an appeal, complaint or report (Art. 12),
    on the artifact's history when it names one."""
    cid, decision, reviewer = complaint["complaint_id"], outcome["decision"], outcome["reviewer"]
    what = f"{complaint['category']} {complaint['type'].lower()} {cid}"
    return _event(
        AuditEvent.REVIEW_DECIDED,
        artifact_id=complaint["artifact_id"],
        user_id=complaint["submitter_id"] if complaint["category"] == "USER_ACTION" else None,
        article="Art. 12",
        stage=COMPLAINTS_STAGE,
        summary=f"{what} {decision} by {reviewer}"
        + (f": {outcome['note']}" if outcome["note"] else ""),
        detail={
            "complaint_id": cid,
            "category": complaint["category"],
            "decision": decision,
            "reviewer": reviewer,
            "note": outcome["note"],
            "action_id": complaint["action_id"],
        },
        at=outcome["decided_at"],
        key=(cid, decision),
    )


def decision_event(decision: Record, verdict: str) -> Record:
    """REVIEW_DECIDED for a ReviewDecision applied to a held artifact, with the verdict it led
    to and who decided."""
    reviewer, outcome = decision["reviewer_id"], decision["decision"]
    note = "; ".join(part for part in (decision["category"], decision["note"]) if part)
    return _event(
        AuditEvent.REVIEW_DECIDED,
        artifact_id=decision["artifact_id"],
        user_id=None,
        article="Art. 10",
        stage=MANUAL_REVIEW_STAGE,
        summary=f"{outcome} by reviewer {reviewer} -> {verdict}" + (f": {note}" if note else ""),
        detail={
            "decision_id": decision["decision_id"],
            "reviewer": reviewer,
            "decision": outcome,
            "verdict": verdict,
            "strike": str(decision["strike"]).lower(),
            "category": decision["category"],
            "note": decision["note"],
        },
        at=decision["decided_at"],
        key=(decision["decision_id"], verdict),
    )


def dead_letter_event(record: Record, artifact_id: str | None = None) -> Record:
    """DEAD_LETTER for a dlq record. `artifact_id`: the letter's key when its source topic is
    keyed by artifact (the caller knows the catalog); the payload excerpt stays on the dlq."""
    stage, topic = record["stage"], record["topic"]
    partition, offset = str(record["partition"]), str(record["offset"])
    return _event(
        AuditEvent.DEAD_LETTER,
        artifact_id=artifact_id,
        user_id=None,
        article=None,
        stage=stage,
        summary=f"{record['error_type']}: {record['error']}",
        detail={
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": record["key"],
            "error_type": record["error_type"],
            "retryable": str(record["retryable"]).lower(),
            "payload_size": str(record["payload_size"]),
        },
        at=record["at"],
        key=(topic, partition, offset),
    )


def history(records: Iterable[Record]) -> list[Record]:
    """One copy of each audit id (the first read), in order of `at`, then of arrival."""
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["audit_id"] not in seen:
            seen.add(record["audit_id"])
            unique.append(record)
    return sorted(unique, key=lambda record: record["at"])  # stable: arrival breaks ties


def in_window(record: Record, since_ms: int, until_ms: int) -> bool:
    """`since` included, `until` excluded, so adjacent windows never share a record."""
    at: int = record["at"]
    return since_ms <= at < until_ms


def parse_time(text: str, name: str) -> int:
    """Epoch ms of an ISO-8601 date (midnight UTC) or date-time with Z or an offset. A
    date-time without one is refused: an inspection window eight hours off is a wrong
    answer, not a rounding."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return _ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{name} {text!r} is not an ISO-8601 date or date-time"
            " (e.g. 2026-11-01, 2026-11-23T12:00:00Z, 2026-11-23T20:00:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        raise ValidationError(
            f"{name} {text!r} has no time zone: add Z for UTC or an offset such as +08:00"
        )
    return _ms(moment)


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def parse_window(since: str, until: str) -> tuple[int, int]:
    """[since, until) in epoch ms, from the --since and --until arguments."""
    since_ms, until_ms = parse_time(since, "--since"), parse_time(until, "--until")
    if since_ms >= until_ms:
        raise ValidationError(f"--since {since} is not before --until {until}")
    return since_ms, until_ms


def format_time(at_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as the history and messages show times."""
    moment = EPOCH + at_ms * MILLISECOND  # exact, unlike a float of seconds
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history_table(records: Iterable[Record]) -> str:
    """The history for people: time, event, article, stage, summary."""
    rows = [("time", "event", "article", "stage", "summary")] + [
        (format_time(r["at"]), r["event"], r["article"] or "-", r["stage"], r["summary"])
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]])
        for row in rows
    )
