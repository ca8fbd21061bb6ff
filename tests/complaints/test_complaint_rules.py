"""The published process (Art. 12) as pure rules: deadlines, validation, duplicates and the
rate limit, ticket state and deadline alerts, the effects of a decision."""

from __future__ import annotations

import uuid
from typing import Any

import helpers
import pytest

from synthguard.complaints.board import ComplaintBoard
from synthguard.complaints.feedback import feedback
from synthguard.complaints.intake import Admission, admit, new_submitter
from synthguard.complaints.policy import (
    DEFAULT_DEADLINES,
    Category,
    ComplaintPolicy,
    Status,
    parse_deadlines,
)
from synthguard.complaints.reopen import (
    OVERRULE,
    REOPENED_BY,
    overruled,
    reopened_envelope,
    reopening,
    verify_reserved,
)
from synthguard.complaints.tracker import decide, due_ticks, open_ticket, revoked_consents, tick
from synthguard.errors import ConfigError, ValidationError
from synthguard.labeling import label_text_artifact
from synthguard.records import Record, new_state
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.review.ladder import Ladder
from synthguard.review.text import review_text
from synthguard.users import apply_violation, lift_action, new_user_state

HOUR = 3600 * 1000
POLICY = ComplaintPolicy(parse_deadlines(DEFAULT_DEADLINES), rate_limit=3, rate_window_s=3600)
T0 = 1_800_000_000_000


def complaint(category: str = "ILLEGAL_CONTENT", **fields: Any) -> Record:
    record: Record = {
        "complaint_id": f"complaint-{uuid.uuid4().hex[:8]}",
        "type": "APPEAL" if category in {"BLOCK", "USER_ACTION"} else "REPORT",
        "category": category,
        "submitter_id": "p-1",
        "artifact_id": "a-1",
        "action_id": None,
        "subject_id": None,
        "text": "看这里",
        "contact": None,
        "submitted_at": T0,
    }
    return record | fields


def final(verdict: str = "PUBLISHABLE", *, labeled: bool = True, user: str = "u-1") -> Record:
    envelope = helpers.envelope("一段文字", user, artifact_id="a-1", attributes={"prompt": "p"})
    return {"verdict": verdict, "envelope": envelope, "labeled": labeled, "reopened": None}


def test_deadlines_parse_units_and_every_category_must_have_one() -> None:
    deadlines = parse_deadlines(
        "BLOCK=7d,USER_ACTION=7d,UNLABELED_AI=72h,RUMOR=90m,LIKENESS=2d,ILLEGAL_CONTENT=30s"
    )
    assert deadlines[Category.RUMOR] == 5400
    assert deadlines[Category.ILLEGAL_CONTENT] == 30
    with pytest.raises(ConfigError, match="miss LIKENESS"):
        parse_deadlines("BLOCK=7d,USER_ACTION=7d,UNLABELED_AI=72h,RUMOR=1d,ILLEGAL_CONTENT=1d")
    with pytest.raises(ConfigError, match="expected CATEGORY="):
        parse_deadlines("BLOCK=soon")
    with pytest.raises(ConfigError, match="expected CATEGORY="):
        parse_deadlines("SPAM=1d")
    assert ("RUMOR", "RUMORS", "1 day") in POLICY.published()


def test_a_ticket_carries_its_queue_deadline_and_warning_time() -> None:
    ticket = POLICY.ticket(complaint("RUMOR"), T0)
    assert (ticket["queue"], ticket["target"]) == ("RUMORS", "a-1")
    assert ticket["deadline_at"] == T0 + 24 * HOUR
    assert ticket["warn_at"] == T0 + 18 * HOUR
    appeal = POLICY.ticket(complaint("USER_ACTION", artifact_id=None, action_id="x"), T0)
    assert appeal["target"] == "p-1"  # keyed by the appellant: the worker owning their strikes


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "  "}, "the text is empty"),
        ({"text": "x" * 2001}, "2,001 characters, over the 2,000 limit"),
        ({"artifact_id": None}, "needs artifact_id"),
        ({"category": "LIKENESS"}, "needs subject_id"),
        ({"type": "APPEAL"}, "APPEAL cannot be about ILLEGAL_CONTENT"),
        ({"category": "BLOCK", "type": "REPORT"}, "REPORT cannot be about BLOCK"),
        ({"submitter_id": " "}, "submitter_id must be"),
    ],
)
def test_bad_complaints_are_rejected_with_a_reason(fields: Record, message: str) -> None:
    admission = admit(new_submitter(), complaint(**fields), POLICY, T0)
    assert admission.ticket is None
    assert admission.feedback is not None
    assert admission.feedback["status"] == "REJECTED"
    assert message in admission.feedback["message"]


def test_duplicates_redeliveries_and_the_rate_limit() -> None:
    state = new_submitter()
    first = complaint()
    admission = admit(state, first, POLICY, T0)
    assert admission.ticket is not None and admission.feedback is None
    state = admission.state
    assert admit(state, first, POLICY, T0 + 1) == Admission(state)  # redelivered
    dup = admit(state, complaint(), POLICY, T0 + 2)
    assert dup.feedback is not None and dup.feedback["status"] == "DUPLICATE"
    assert dup.feedback["duplicate_of"] == first["complaint_id"]
    for i in (2, 3):
        admission = admit(state, complaint(artifact_id=f"a-{i}"), POLICY, T0 + i)
        assert admission.ticket is not None
        state = admission.state
    flood = admit(state, complaint(artifact_id="a-4"), POLICY, T0 + 10)
    assert flood.feedback is not None and flood.ticket is None
    assert "at most 3 per 1 hour" in flood.feedback["message"]
    # The window slides: an hour after the first, one more is accepted.
    later = admit(flood.state, complaint(artifact_id="a-5"), POLICY, T0 + HOUR + 1)
    assert later.ticket is not None


def test_opening_checks_the_target() -> None:
    def opened(category: str, fin: Record | None, user: Record | None = None, **f: Any) -> Any:
        return open_ticket(POLICY.ticket(complaint(category, **f), T0), fin, user)

    state, fb = opened("ILLEGAL_CONTENT", final())
    assert state is not None and fb["status"] == "OPEN" and "1 day" in fb["message"]
    assert opened("ILLEGAL_CONTENT", None)[1]["message"].startswith("no artifact a-1 on record")
    assert "is not blocked" in opened("BLOCK", final(), submitter_id="u-1")[1]["message"]
    assert "only the user" in opened("BLOCK", final("BLOCKED"), submitter_id="x")[1]["message"]
    assert opened("BLOCK", final("BLOCKED"), submitter_id="u-1")[0] is not None
    assert "already carries" in opened("UNLABELED_AI", final())[1]["message"]
    assert opened("UNLABELED_AI", final(labeled=False))[0] is not None
    user = {"strikes": 1, "seen": [], "actions": [{"action_id": "act-1", "lifted": False}]}
    assert opened("USER_ACTION", None, user, action_id="act-1", artifact_id=None)[0] is not None
    refused = opened("USER_ACTION", None, user, action_id="act-2", artifact_id=None)[1]
    assert refused["message"] == "no measure act-2 on record for p-1"


def test_deadline_ticks_alert_once_each_and_not_early() -> None:
    state, _ = open_ticket(POLICY.ticket(complaint(), T0), final(), None)
    assert state is not None
    early, alert = tick(state, "WARNING", T0 + HOUR)
    assert alert is None and early == state
    warned, alert = tick(state, "WARNING", T0 + 18 * HOUR)
    assert alert is not None and (alert["kind"], alert["severity"]) == ("COMPLAINT_DUE", "MEDIUM")
    assert tick(warned, "WARNING", T0 + 19 * HOUR)[1] is None
    breached, alert = tick(warned, "BREACH", T0 + 24 * HOUR)
    assert alert is not None and alert["kind"] == "SLA_BREACH" and alert["article"] == "Art. 12"
    assert tick(breached, "BREACH", T0 + 25 * HOUR)[1] is None


def test_a_timer_sends_each_due_tick_once_and_expires_decided_tickets() -> None:
    state, _ = open_ticket(POLICY.ticket(complaint(), T0), final(), None)  # a 24 h RUMOR
    assert state is not None
    week = POLICY.ticket_retention_s * 1000
    assert due_ticks(state, T0 + HOUR, POLICY.ticket_retention_s) == []
    assert due_ticks(state, T0 + 18 * HOUR, POLICY.ticket_retention_s) == ["WARNING"]
    assert due_ticks(state, T0 + 30 * HOUR, POLICY.ticket_retention_s) == ["WARNING", "BREACH"]
    warned = tick(state, "WARNING", T0 + 30 * HOUR)[0]
    assert due_ticks(warned, T0 + 30 * HOUR, POLICY.ticket_retention_s) == ["BREACH"]
    # Decided: no more deadline ticks, however late; forgotten once the retention has passed
    # (long after any redelivery of its ticket or outcome).
    done = state | {"decided": "DISMISSED", "decided_at": T0 + 2 * HOUR}
    assert due_ticks(done, T0 + 2 * HOUR + week - 1, POLICY.ticket_retention_s) == []
    assert tick(done, "BREACH", T0 + 30 * HOUR) == (done, None)  # a late tick alerts no more
    assert due_ticks(done, T0 + 2 * HOUR + week, POLICY.ticket_retention_s) == ["EXPIRED"]


def outcome(decision: str = "UPHELD", **fields: Any) -> Record:
    base = {"reviewer": "rev-1", "note": "", "refutation": None, "decided_at": T0 + HOUR}
    return base | {"complaint_id": "c", "target": "a-1", "decision": decision} | fields


def ticket_state(category: str, **fields: Any) -> Record:
    return {"ticket": POLICY.ticket(complaint(category, **fields), T0), "warned": False}


def test_each_upheld_category_has_its_effect() -> None:
    dismissed = decide(ticket_state("BLOCK"), outcome("DISMISSED", note="ok"), final("BLOCKED"))
    assert dismissed.feedback["status"] == "DISMISSED" and dismissed.resubmit is None
    appeal = decide(ticket_state("BLOCK"), outcome(), final("BLOCKED"))
    assert appeal.reopen is not None and appeal.reopen["overrule"]
    assert appeal.resubmit is not None and overruled(appeal.resubmit) is not None
    unlabeled = decide(ticket_state("UNLABELED_AI"), outcome(), final(labeled=False))
    assert unlabeled.resubmit is not None and unlabeled.resubmit["declared_ai"] is True
    assert overruled(unlabeled.resubmit) is None  # labeling again overrules nothing
    with pytest.raises(ValidationError, match="needs the refutation"):
        decide(ticket_state("RUMOR"), outcome(), final())
    refutation = {"claim": "c", "refutation": "r", "link": "l", "authority": "a"}
    rumor = decide(ticket_state("RUMOR"), outcome(refutation=refutation), final())
    assert rumor.rumor is not None and rumor.rumor["refuted_at"] == T0 + HOUR
    likeness = decide(ticket_state("LIKENESS", subject_id="p-9"), outcome(), final())
    assert likeness.revoke_subject == "p-9" and likeness.block is not None
    assert likeness.block.compliance is not None
    assert likeness.block.compliance["verdict"] == "BLOCKED"
    assert likeness.block.alerts[0]["kind"] == "UNCONSENTED_BIOMETRIC"
    illegal = decide(ticket_state("ILLEGAL_CONTENT"), outcome(), final())
    assert illegal.block is not None and illegal.block.regulator[0]["article"] == "Art. 10"
    assert decide(ticket_state("ILLEGAL_CONTENT"), outcome(), final("BLOCKED")).block is None
    lift = decide(ticket_state("USER_ACTION", action_id="act-1", artifact_id=None), outcome(), None)
    assert lift.lift == "act-1"


def test_reserved_attributes_cannot_be_forged() -> None:
    envelope = final()["envelope"]
    reopen = reopening("c-1", "rev-1", "appeal c-1 upheld", overrule=True)
    resubmitted = reopened_envelope(envelope, reopen)
    verify_reserved(resubmitted, reopen)  # as the tracker wrote it
    verify_reserved(envelope, None)  # nothing reserved
    with pytest.raises(ValidationError, match="reserved"):
        verify_reserved(resubmitted, None)  # a platform sending the attributes itself
    forged = {**envelope, "attributes": {REOPENED_BY: "c-2", OVERRULE: "true"}}
    with pytest.raises(ValidationError, match="reserved"):
        verify_reserved(forged, reopen)


def test_revoking_touches_only_that_persons_live_consents_to_that_user() -> None:
    def consent(cid: str, subject: str, user: str, revoked: int | None = None) -> Record:
        return {"consent_id": cid, "subject_id": subject, "user_id": user, "revoked_at": revoked}

    consents = {
        "c1": consent("c1", "p-9", "u-1"),
        "c2": consent("c2", "p-9", "u-2"),
        "c3": consent("c3", "p-8", "u-1"),
        "c4": consent("c4", "p-9", "u-1", revoked=5),
    }
    [revoked] = revoked_consents(consents, "p-9", "u-1", T0)
    assert (revoked["consent_id"], revoked["revoked_at"]) == ("c1", T0)


def test_lifting_a_measure_withdraws_its_strike_once() -> None:
    ladder = Ladder.parse("1:WARNING,2:SUSPENSION")
    state = new_user_state()
    actions = []
    for i in range(2):
        violation = {
            "violation_id": f"v{i}",
            "user_id": "u-1",
            "artifact_id": f"a-{i}",
            "article": "Art. 10",
            "reason": "hit",
        }
        state, action = apply_violation(state, violation, ladder)
        assert action is not None
        actions.append(action)
    state, lifted = lift_action(state, "u-1", actions[1]["action_id"], "appeal upheld", ladder)
    assert lifted is not None
    assert (lifted["action"], lifted["strikes"], lifted["lifts"]) == (
        "LIFTED",
        1,
        actions[1]["action_id"],
    )
    assert lifted["artifact_id"] == "a-1"
    assert lift_action(state, "u-1", actions[1]["action_id"], "again", ladder)[1] is None
    assert lift_action(state, "u-1", "unknown", "x", ladder)[1] is None


def test_the_board_keeps_the_latest_status_and_the_open_queues_by_deadline() -> None:
    board = ComplaintBoard()
    late, soon = complaint(), complaint(artifact_id="a-2")
    opened_late = feedback(late, Status.OPEN, "open", queue="ILLEGAL", deadline_at=T0 + 9)
    opened_soon = feedback(soon, Status.OPEN, "open", queue="ILLEGAL", deadline_at=T0 + 1)
    for record in (opened_late, opened_soon, opened_soon):  # the last one redelivered
        board.apply(record["complaint"]["complaint_id"], record)
    assert [f["complaint"]["complaint_id"] for f in board.open_by_queue()["ILLEGAL"]] == [
        soon["complaint_id"],
        late["complaint_id"],
    ]
    upheld = feedback(late, Status.UPHELD, "upheld")
    board.apply(late["complaint_id"], upheld)
    assert board.get(late["complaint_id"]) == upheld
    assert len(board.history[soon["complaint_id"]]) == 1
    assert [f["complaint"]["complaint_id"] for f in board.open_by_queue()["ILLEGAL"]] == [
        soon["complaint_id"]
    ]


def test_an_overruling_appeal_turns_blocking_findings_into_flagged_checks() -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("kw-1", "违禁词", "test", Severity.HIGH))
    source = helpers.envelope("这里有违禁词。", "u-1")
    blocked = review_text(label_text_artifact(new_state(source), helpers.POLICY), library)
    assert blocked.compliance is not None and blocked.compliance["verdict"] == "BLOCKED"

    reopen = reopening("c-1", "rev-1", "appeal c-1 upheld", overrule=True)
    again = reopened_envelope(source, reopen)
    output = review_text(label_text_artifact(new_state(again), helpers.POLICY), library)
    assert output.compliance is not None and output.compliance["verdict"] == "PUBLISHABLE"
    assert not output.alerts and not output.violations and not output.regulator
    [hit] = [c for c in output.compliance["checks"] if c["rule"] == "review.keywords"]
    assert hit["outcome"] == "FLAGGED"
    assert "违禁词" in hit["detail"] and "appeal c-1 upheld by rev-1" in hit["detail"]
