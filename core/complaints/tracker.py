"""The second hop, keyed by target: open a ticket against what is on record for its artifact
or user, raise deadline alerts, and turn a reviewer's decision into effects.

Effects are returned as data (`Decision`); the streams layer sends them to the topics and
tables that own them, on the worker that owns the target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from synthguard.audit import COMPLAINTS_STAGE
from synthguard.complaints.feedback import feedback, utc
from synthguard.complaints.policy import ARTICLE_OF, Category, Status, describe_seconds
from synthguard.complaints.reopen import reopened_envelope, reopening
from synthguard.errors import ValidationError
from synthguard.records import (
    AlertKind,
    AlertSeverity,
    Outcome,
    Record,
    StageOutput,
    Verdict,
    alert,
    check,
    compliance_record,
    content_sha256,
    new_state,
    regulator_report,
    violation,
)

STAGE = COMPLAINTS_STAGE


@dataclass(frozen=True, slots=True)
class Decision:
    feedback: Record
    reopen: Record | None = None
    """Written into the artifact's `finalized` entry before `resubmit` or `block` goes out."""
    resubmit: Record | None = None
    """An envelope to send back through the pipeline."""
    block: StageOutput | None = None
    """A second compliance record, BLOCKED, naming the reviewer."""
    rumor: Record | None = None
    """A RumorEntry for registry.rumors (Art. 11)."""
    revoke_subject: str | None = None
    """Revoke this person's consents to the artifact's user (Art. 14)."""
    lift: str | None = None
    """Lift this user action (users.lift_action)."""


def open_ticket(
    ticket: Record, final: Record | None, user: Record | None
) -> tuple[Record | None, Record]:
    """(the ticket's state, or None when refused; the feedback). `final` is the artifact's
    `finalized` entry (verdict, envelope, labeled), `user` the appellant's strike state."""
    complaint = ticket["complaint"]
    category = Category(complaint["category"])
    try:
        _check_target(complaint, category, final, user)
    except ValidationError as exc:
        return None, feedback(complaint, Status.REJECTED, str(exc))
    window = (ticket["deadline_at"] - ticket["accepted_at"]) // 1000
    message = (
        f"received and routed to the {ticket['queue'].lower()} queue; the answer is due by"
        f" {utc(ticket['deadline_at'])} ({describe_seconds(window)}, our published deadline"
        f" for {category.value})"
    )
    # decided: the reviewer's decision; decided_at: when it was applied (the retention's start)
    state = {
        "ticket": ticket,
        "warned": False,
        "breached": False,
        "decided": None,
        "decided_at": None,
    }
    return state, feedback(
        complaint,
        Status.OPEN,
        message,
        queue=ticket["queue"],
        deadline_at=ticket["deadline_at"],
    )


def _check_target(
    complaint: Record, category: Category, final: Record | None, user: Record | None
) -> None:
    if category is Category.USER_ACTION:
        action_id = complaint["action_id"]
        actions = {a["action_id"]: a for a in (user or {}).get("actions", [])}
        if action_id not in actions:
            raise ValidationError(
                f"no measure {action_id} on record for {complaint['submitter_id']}"
            )
        if actions[action_id].get("lifted"):
            raise ValidationError(f"measure {action_id} has already been lifted")
        return
    artifact_id = complaint["artifact_id"]
    if final is None:
        raise ValidationError(f"no artifact {artifact_id} on record: check the id")
    verdict = final["verdict"]
    if category is Category.BLOCK:
        if verdict != Verdict.BLOCKED:
            raise ValidationError(f"artifact {artifact_id} is not blocked (it is {verdict})")
        if final["envelope"]["user_id"] != complaint["submitter_id"]:
            raise ValidationError(f"only the user who submitted {artifact_id} can appeal its block")
    if category is Category.UNLABELED_AI:
        if verdict == Verdict.BLOCKED:
            raise ValidationError(f"artifact {artifact_id} is blocked, not published")
        if final["labeled"]:
            raise ValidationError(
                f"artifact {artifact_id} already carries an AI label; if it was removed"
                " where you saw it, report where"
            )


def due_ticks(state: Record, now: int, retention_s: int) -> list[str]:
    """The ticks a timer sends for a ticket's table state: WARNING and BREACH, once each, for
    an open ticket past its warning time or deadline; EXPIRED for a ticket decided more than
    `retention_s` ago, which the tracker then forgets (the table holds open tickets and recent
    decisions, not every complaint ever filed, and the timer scans it every tick)."""
    return ["EXPIRED"] if expired(state, now, retention_s) else _deadline_ticks(state, now)


def expired(state: Record, now: int, retention_s: int) -> bool:
    return state["decided"] is not None and now >= state["decided_at"] + retention_s * 1000


def _deadline_ticks(state: Record, now: int) -> list[str]:
    if state["decided"] is not None:
        return []
    ticket = state["ticket"]
    due = (("WARNING", ticket["warn_at"], "warned"), ("BREACH", ticket["deadline_at"], "breached"))
    return [kind for kind, at, flag in due if now >= at and not state[flag]]


def tick(state: Record, kind: str, now: int) -> tuple[Record, Record | None]:
    """A timer's WARNING or BREACH for an open ticket: one alert each, at most, none once it
    is decided."""
    if kind not in _deadline_ticks(state, now):
        return state, None
    ticket = state["ticket"]
    complaint = ticket["complaint"]
    what = f"{complaint['category']} {complaint['type'].lower()} {complaint['complaint_id']}"
    where = f"in the {ticket['queue'].lower()} queue"
    deadline = utc(ticket["deadline_at"])
    if kind == "WARNING":
        summary = f"{what} {where} is due by {deadline} and still open"
        kind_, severity, flag = AlertKind.COMPLAINT_DUE, AlertSeverity.MEDIUM, "warned"
    else:
        summary = f"{what} {where} missed its published response deadline, {deadline}"
        kind_, severity, flag = AlertKind.SLA_BREACH, AlertSeverity.HIGH, "breached"
    record = alert(
        kind_,
        severity,
        "Art. 12",
        summary,
        artifact_id=complaint["artifact_id"],
        user_id=complaint["submitter_id"] if complaint["category"] == "USER_ACTION" else None,
        evidence={
            "complaint_id": complaint["complaint_id"],
            "queue": ticket["queue"],
            "deadline_at": str(ticket["deadline_at"]),
        },
    )
    return {**state, flag: True}, record


def decide(state: Record, outcome: Record, final: Record | None) -> Decision:
    """The effects of a reviewer's decision on an open ticket."""
    complaint = state["ticket"]["complaint"]
    reviewer, cid = outcome["reviewer"], complaint["complaint_id"]
    note = f" Reviewer's note: {outcome['note']}" if outcome["note"].strip() else ""
    if outcome["decision"] != "UPHELD":
        message = f"dismissed by {reviewer}: nothing changes.{note}"
        return Decision(feedback(complaint, Status.DISMISSED, message, reviewer=reviewer))
    category = Category(complaint["category"])

    def upheld(effect: str) -> Record:
        return feedback(
            complaint, Status.UPHELD, f"upheld by {reviewer}: {effect}.{note}", reviewer=reviewer
        )

    if category is Category.USER_ACTION:
        return Decision(
            upheld(f"the measure {complaint['action_id']} is lifted and its strike withdrawn"),
            lift=complaint["action_id"],
        )
    if category is Category.RUMOR:
        refutation = outcome["refutation"]
        if refutation is None:
            raise ValidationError(
                f"upholding RUMOR complaint {cid} needs the refutation: claim, refutation,"
                " link and authority"
            )
        rumor = {"rumor_id": f"complaint-{cid}", **refutation, "refuted_at": outcome["decided_at"]}
        return Decision(
            upheld(
                "the claim is added to the refuted-rumor database; copies are held with the"
                " refutation"
            ),
            rumor=rumor,
        )
    if final is None:  # opened against it, so only a deleted changelog gets here
        raise ValidationError(f"artifact {complaint['artifact_id']} is no longer on record")
    envelope = final["envelope"]
    if category is Category.BLOCK:
        reopen = reopening(cid, reviewer, f"appeal {cid} upheld", overrule=True)
        return Decision(
            upheld("the block is lifted; the artifact is labeled again and published"),
            reopen=reopen,
            resubmit=reopened_envelope(envelope, reopen),
        )
    if category is Category.UNLABELED_AI:
        # Declared AI, a spread artifact is labeled as possibly AI-generated (Measures Art. 6).
        reopen = reopening(cid, reviewer, f"unlabeled-AI complaint {cid} upheld", overrule=False)
        return Decision(
            upheld("the artifact goes back through labeling and is republished with its AI label"),
            reopen=reopen,
            resubmit=reopened_envelope(envelope, reopen, declared_ai=True),
        )
    article = ARTICLE_OF[category]
    reopen = reopening(cid, reviewer, f"{category.value} complaint {cid} upheld", overrule=False)
    if category is Category.LIKENESS:
        effect = (
            f"the artifact is blocked and {complaint['subject_id']}'s consents to its user are"
            " revoked"
        )
    else:
        effect = "the artifact is blocked and reported to the regulator"
    block = (
        None
        if final["verdict"] == Verdict.BLOCKED
        else blocked(envelope, complaint, reviewer, article)
    )
    return Decision(
        upheld(effect),
        reopen=reopen if block else None,
        block=block,
        revoke_subject=complaint["subject_id"] if category is Category.LIKENESS else None,
    )


def blocked(envelope: Record, complaint: Record, reviewer: str, article: str) -> StageOutput:
    """An upheld likeness or illegal-content complaint: blocked, reported, and a strike."""
    cid, category = complaint["complaint_id"], complaint["category"]
    state = new_state(envelope)
    reason = f"{article}: {category} complaint {cid} upheld by {reviewer}"
    state["checks"].append(check(article, "complaint.upheld", STAGE, Outcome.FAIL, reason))
    alerts = []
    if category == Category.LIKENESS:
        alerts.append(
            alert(
                AlertKind.UNCONSENTED_BIOMETRIC,
                AlertSeverity.HIGH,
                article,
                f"{complaint['subject_id']}'s face or voice used without consent ({cid})",
                artifact_id=envelope["artifact_id"],
                user_id=envelope["user_id"],
                evidence={"complaint_id": cid, "subject_id": complaint["subject_id"]},
            )
        )
    return StageOutput(
        compliance=compliance_record(state, Verdict.BLOCKED, [reason], reviewer=reviewer),
        alerts=alerts,
        regulator=[
            regulator_report(
                envelope,
                article=article,
                category=category,
                summary=reason,
                evidence=[complaint["text"]],
                measures=["publication blocked", "strike recorded against the user"],
                content_sha256=content_sha256(envelope),
            )
        ],
        violations=[violation(envelope, article, reason)],
    )


def revoked_consents(
    consents: Mapping[str, Record], subject_id: str, user_id: str, now: int
) -> list[Record]:
    """The person's live consents to this user, revoked (Art. 14: the use is withdrawn)."""
    return [
        {**entry, "revoked_at": now}
        for entry in consents.values()
        if entry["subject_id"] == subject_id
        and entry["user_id"] == user_id
        and entry["revoked_at"] is None
    ]
