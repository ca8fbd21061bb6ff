"""What the portal makes of a filed form or JSON object and of a reviewer's decision
(synthguard.streams.web): records the topics accept, or the message the person sees."""

from __future__ import annotations

from typing import Any

import pytest

from synthguard.complaints.feedback import feedback
from synthguard.complaints.policy import Rejected, Status
from synthguard.records import Record
from synthguard.streams.web import complaint_from, outcome_from

NOW = 1_800_000_000_000


def form(**fields: Any) -> dict[str, Any]:
    return {
        "type": "APPEAL",
        "category": "BLOCK",
        "submitter_id": " u-1 ",
        "artifact_id": "t-1",
        "action_id": "",
        "subject_id": "",
        "text": "line one\r\nline two",
        "contact": "",
    } | fields


def test_a_form_becomes_a_complaint_with_blanks_as_none() -> None:
    record = complaint_from(form(), 2000, NOW)
    assert record["complaint_id"].startswith("complaint-")
    assert (record["submitter_id"], record["artifact_id"]) == ("u-1", "t-1")
    assert record["action_id"] is None and record["contact"] is None
    assert record["text"] == "line one\nline two"  # as the textarea's maxlength counted it
    assert record["submitted_at"] == NOW


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "PETITION"}, "type must be one of APPEAL, COMPLAINT, REPORT"),
        ({"category": "<x>"}, "category must be one of BLOCK"),
        ({"category": "RUMOR"}, "an APPEAL cannot be about RUMOR"),
        ({"artifact_id": " "}, "needs artifact_id"),
        ({"text": "x" * 2001}, "over the 2,000 limit"),
        ({"subject_id": "s" * 129}, "subject_id is over 128 characters"),
        ({"submitter_id": 7}, "submitter_id must be a string"),
    ],
)
def test_a_form_that_cannot_be_a_complaint_says_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(Rejected, match=message):
        complaint_from(form(**fields), 2000, NOW)


def test_a_json_object_may_leave_optional_fields_out() -> None:
    data = {"type": "REPORT", "category": "ILLEGAL_CONTENT", "submitter_id": "p-1"}
    record = complaint_from(data | {"artifact_id": "t-2", "text": "违法", "contact": None}, 50, NOW)
    assert (record["subject_id"], record["contact"]) == (None, None)


def opened(**fields: Any) -> Record:
    complaint = {
        "complaint_id": "complaint-1",
        "type": "REPORT",
        "category": "RUMOR",
        "submitter_id": "p-1",
        "artifact_id": "t-1",
        "action_id": None,
        "subject_id": None,
        "text": "rumor",
        "contact": None,
        "submitted_at": NOW,
    } | fields
    return feedback(complaint, Status.OPEN, "routed", queue="RUMORS", deadline_at=NOW + 1)


REFUTATION = {
    "claim": "停水一个月",
    "refutation": "供水正常",
    "link": "https://example.org/r",
    "authority": "市供水公司",
}


def test_an_upheld_rumor_carries_its_refutation() -> None:
    fields = {"decision": "UPHELD", "reviewer": " ann ", "note": "ok\r\n"} | REFUTATION
    outcome = outcome_from(fields, opened(), NOW)
    assert outcome == {
        "complaint_id": "complaint-1",
        "target": "t-1",
        "decision": "UPHELD",
        "reviewer": "ann",
        "note": "ok",
        "refutation": REFUTATION,
        "decided_at": NOW,
    }
    dismissed = outcome_from({"decision": "DISMISSED", "reviewer": "ann"}, opened(), NOW)
    assert dismissed["refutation"] is None


def test_a_user_action_appeal_targets_the_appellant() -> None:
    latest = opened(type="APPEAL", category="USER_ACTION", artifact_id=None, action_id="a-1")
    outcome = outcome_from({"decision": "UPHELD", "reviewer": "ann"}, latest, NOW)
    assert (outcome["target"], outcome["refutation"]) == ("p-1", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"decision": "MAYBE", "reviewer": "ann"}, "decision must be one of UPHELD, DISMISSED"),
        ({"decision": "DISMISSED", "reviewer": " "}, "reviewer: your name"),
        ({"decision": "UPHELD", "reviewer": "ann"}, "needs the refutation: claim, refutation"),
        (
            {"decision": "UPHELD", "reviewer": "ann"} | REFUTATION | {"link": "javascript:x"},
            "must be an http",
        ),
    ],
)
def test_a_decision_that_cannot_be_applied_says_why(fields: dict[str, str], message: str) -> None:
    with pytest.raises(Rejected, match=message):
        outcome_from(fields, opened(), NOW)
