"""Manual review (Art. 10: "technical measures or manual methods"): an artifact a machine
cannot decide is held, a request goes to the reviewers' topic, and their decision is applied
here: publish, or block with an optional strike on the user's measures ladder."""

from __future__ import annotations

from synthguard.records import (
    Outcome,
    Record,
    StageOutput,
    Verdict,
    check,
    compliance_record,
    content_id,
    content_sha256,
    now_ms,
    regulator_report,
    violation,
)

STAGE = "manual_review"


def hold(
    state: Record,
    reasons: list[str],
    evidence: list[str],
    *,
    alerts: list[Record] | None = None,
    violations: list[Record] | None = None,
    regulator: list[Record] | None = None,
) -> StageOutput:
    """HELD: the record says why, the reviewers get a request, and the labeled state waits in
    `hold` for their decision."""
    env = state["envelope"]
    label = state["label"] or {}
    blob = label.get("blob") or env["blob"]
    body = {
        "artifact_id": env["artifact_id"],
        "user_id": env["user_id"],
        "provider_id": env["provider_id"],
        "service_id": env["service_id"],
        "modality": env["modality"],
        "reasons": reasons,
        "evidence": evidence,
        "content_uri": blob and blob["uri"],
        "text": label.get("labeled_text") or env["text"],
    }
    request = {"request_id": content_id("review", body), **body, "requested_at": now_ms()}
    return StageOutput(
        compliance=compliance_record(state, Verdict.HELD, reasons),
        alerts=alerts or [],
        violations=violations or [],
        regulator=regulator or [],
        review=[request],
        hold=state,
    )


def apply_decision(state: Record, decision: Record) -> StageOutput:
    """The reviewer's decision on a held artifact's state; the reviewer is on the record."""
    env = state["envelope"]
    reviewer = decision["reviewer_id"]
    note = "; ".join(part for part in (decision["category"], decision["note"]) if part)
    detail = f"{decision['decision']} by reviewer {reviewer}" + (f": {note}" if note else "")
    state["stages"][STAGE] = now_ms()
    if decision["decision"] == "PUBLISH":
        state["checks"].append(check("Art. 10", "review.manual", STAGE, Outcome.PASS, detail))
        return StageOutput(
            forward=state,
            compliance=compliance_record(state, Verdict.PUBLISHABLE, [], reviewer=reviewer),
        )
    state["checks"].append(check("Art. 10", "review.manual", STAGE, Outcome.FAIL, detail))
    reason = f"Art. 10: {detail}"
    measures = ["publication blocked after manual review"]
    if decision["strike"]:
        measures.append("strike recorded against the user")
    return StageOutput(
        compliance=compliance_record(state, Verdict.BLOCKED, [reason], reviewer=reviewer),
        regulator=[
            regulator_report(
                env,
                article="Art. 10",
                category=decision["category"] or "manual review",
                summary=reason,
                evidence=[f"decision {decision['decision_id']}"],
                measures=measures,
                content_sha256=content_sha256(env),
            )
        ],
        violations=[violation(env, "Art. 10", reason)] if decision["strike"] else [],
    )
