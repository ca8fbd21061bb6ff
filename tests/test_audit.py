"""The audit trail's pure side: events built from real stage output, deterministic ids,
history order and dedupe, and the inspection window."""

from __future__ import annotations

import copy

import orjson
import pytest
from helpers import POLICY, envelope

from synthguard.audit import (
    AuditEvent,
    action_event,
    dead_letter_event,
    decision_event,
    history,
    history_table,
    in_window,
    output_events,
    parse_time,
    parse_window,
)
from synthguard.codecs.avro import AvroCodec, FileSchemaRegistry
from synthguard.dlq import DeadLetter, decide
from synthguard.errors import ValidationError
from synthguard.labeling import label_text_artifact
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
    new_state,
)
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.review.ladder import Ladder
from synthguard.review.manual import apply_decision
from synthguard.review.text import review_text
from synthguard.users import apply_violation, new_user_state

AUDIT = AvroCodec("synthguard.AuditRecord", FileSchemaRegistry())
DECISION = AvroCodec("synthguard.ReviewDecision", FileSchemaRegistry())
DAY_MS = 24 * 3600 * 1000


def admitted(text: str, artifact_id: str = "a-1") -> Record:
    state = new_state(envelope(text, "u-1", artifact_id=artifact_id))
    state["checks"].append(
        check("Art. 9", "realname.verified", "intake", Outcome.PASS, "verified by PHONE")
    )
    return state


def reviewed(text: str, severity: Severity, artifact_id: str = "a-1") -> StageOutput:
    """The text path's real output: labeled, then reviewed against a one-term library."""
    library = KeywordLibrary()
    library.put(KeywordEntry("kw-1", "代开发票", "fraud", severity))
    return review_text(label_text_artifact(admitted(text, artifact_id), POLICY), library)


def decision(verdict: str = "BLOCK", **overrides: object) -> Record:
    return DECISION.with_defaults(
        {
            "decision_id": "d-1",
            "artifact_id": "a-1",
            "reviewer_id": "rev-7",
            "decision": verdict,
            "strike": True,
            "category": "fraud",
            "decided_at": 1_000,
        }
        | overrides
    )


def every_kind() -> list[Record]:
    blocked = reviewed("可以代开发票", Severity.HIGH)
    held = reviewed("可以代开发票", Severity.LOW)
    [strike] = blocked.violations
    _, action = apply_violation(new_user_state(), strike, Ladder.parse("1:WARNING"))
    assert action is not None
    letter = decide(
        ValidationError("bad envelope"),
        1,
        stage="artifact",
        topic="artifacts.submitted",
        partition=2,
        offset=41,
        key=b"a-1",
        payload=b"{}",
    )
    assert isinstance(letter, DeadLetter)
    return [
        *output_events(blocked, "artifact"),
        *output_events(held, "artifact"),
        action_event(action),
        decision_event(decision(), "BLOCKED"),
        dead_letter_event(letter.record, artifact_id="a-1"),
    ]


def test_every_event_kind_is_a_valid_audit_record() -> None:
    events = every_kind()
    assert {e["event"] for e in events} == set(AuditEvent)
    for event in events:
        AUDIT.validate(event)
        assert AUDIT.decode(AUDIT.encode(event)) == event


def test_a_blocked_text_tells_its_whole_story() -> None:
    out = reviewed("可以代开发票", Severity.HIGH)
    events = output_events(out, "artifact")
    kinds = [(e["event"], e["stage"], e["article"]) for e in events]
    assert kinds[0] == ("CHECK", "intake", "Art. 9")
    assert ("LABEL", "label", "Art. 16") in kinds and ("LABEL", "label", "Art. 18") in kinds
    assert ("CHECK", "review", "Art. 10") in kinds
    [verdict] = [e for e in events if e["event"] == "VERDICT"]
    assert verdict["summary"].startswith("BLOCKED: Art. 10: 1 feature hit(s)")
    assert verdict["stage"] == "artifact" and verdict["detail"]["verdict"] == "BLOCKED"
    assert out.compliance is not None and verdict["at"] == out.compliance["emitted_at"]
    [alert_event] = [e for e in events if e["event"] == "ALERT"]
    assert alert_event["summary"].startswith("FEATURE_LIBRARY_HIT HIGH")
    assert alert_event["detail"]["alert_id"] == out.alerts[0]["alert_id"]
    [report] = [e for e in events if e["event"] == "REGULATOR_REPORT"]
    assert report["detail"]["category"] == "fraud"
    [strike] = [e for e in events if e["event"] == "VIOLATION"]
    assert strike["detail"]["violation_id"] == "a-1:Art. 10"
    assert {e["artifact_id"] for e in events} == {"a-1"} and {e["user_id"] for e in events} == {
        "u-1"
    }


def test_the_applied_label_is_summarised_without_the_content() -> None:
    text = "一段生成的文字"
    out = reviewed(text, Severity.HIGH)
    assert out.forward is not None and out.compliance is not None
    [applied] = [e for e in output_events(out, "artifact") if e["summary"].startswith("Label=")]
    label = out.compliance["label"]
    assert applied["event"] == "LABEL" and applied["article"] == "Art. 16"
    assert applied["detail"]["ProduceID"] == "a-1"
    assert applied["detail"]["digest"] == label["digest"]
    assert applied["detail"]["notice"] == "【本内容由人工智能生成】"
    assert applied["detail"]["explicit"] == "true"
    first_label_check = next(c for c in out.compliance["checks"] if c["rule"] == "label.implicit")
    assert (applied["stage"], applied["at"]) == ("label", first_label_check["at"])
    # The forwarded state carries the labeled text; the audit trail does not.
    assert text not in orjson.dumps(output_events(out, "artifact")).decode()


def test_a_forwarded_state_without_a_record_yields_its_checks() -> None:
    state = label_text_artifact(admitted("你好"), POLICY)
    events = output_events(StageOutput(forward=state), "artifact")
    assert [e["event"] for e in events] == ["CHECK", "LABEL", "LABEL", "LABEL", "LABEL"]
    assert "VERDICT" not in {e["event"] for e in events}


def test_a_redelivered_step_repeats_every_audit_id() -> None:
    """Fresh timestamps change; the audit ids do not."""
    first = output_events(reviewed("可以代开发票", Severity.HIGH), "artifact")
    again = output_events(reviewed("可以代开发票", Severity.HIGH), "artifact")
    assert [e["audit_id"] for e in first] == [e["audit_id"] for e in again]
    assert len({e["audit_id"] for e in first}) == len(first)
    other = output_events(reviewed("可以代开发票", Severity.HIGH, "a-2"), "artifact")
    assert not {e["audit_id"] for e in first} & {e["audit_id"] for e in other}
    assert action_event(_action())["audit_id"] == action_event(_action())["audit_id"]


def output_ids(output: StageOutput) -> list[str]:
    return [
        *(a["alert_id"] for a in output.alerts),
        *(r["report_id"] for r in output.regulator),
        *(q["request_id"] for q in output.review),
    ]


@pytest.mark.parametrize("severity", [Severity.HIGH, Severity.LOW])
def test_a_redelivered_step_repeats_its_output_ids(severity: Severity) -> None:
    """Alerts, regulator reports (HIGH: blocked) and review requests (LOW: held) are named by
    what they say, so a consumer can drop the copies an artifact redelivered after a crash
    makes; user actions likewise for a redelivered violation."""
    first = reviewed("可以代开发票", severity)
    assert output_ids(first) == output_ids(reviewed("可以代开发票", severity))
    assert len(set(output_ids(first))) == len(output_ids(first)) >= 2
    other = reviewed("可以代开发票", severity, "a-2")
    assert not set(output_ids(first)) & set(output_ids(other))
    assert _action()["action_id"] == _action()["action_id"]


def _action() -> Record:
    blocked = reviewed("可以代开发票", Severity.HIGH)
    _, action = apply_violation(new_user_state(), blocked.violations[0], Ladder.parse("1:WARNING"))
    assert action is not None
    return action


def test_a_check_carried_into_a_later_record_keeps_its_id() -> None:
    """The Art. 9 check forwarded by intake and repeated in the final record is one event;
    a reviewer's verdict on a held artifact is a second verdict, with the reviewer."""
    state = admitted("可以代开发票")
    intake = output_events(StageOutput(forward=copy.deepcopy(state)), "artifact")
    held = reviewed("可以代开发票", Severity.LOW)
    held_events = output_events(held, "artifact")  # before the decision adds its check
    assert held.hold is not None
    decided = apply_decision(held.hold, decision())
    decided_events = output_events(decided, "manual_review")
    assert intake[0]["audit_id"] == held_events[0]["audit_id"]
    merged = history([*intake, *held_events, *decided_events])
    verdicts = [e for e in merged if e["event"] == "VERDICT"]
    assert [v["detail"]["verdict"] for v in verdicts] == ["HELD", "BLOCKED"]
    assert verdicts[1]["detail"]["reviewer"] == "rev-7"
    assert "reviewer" not in verdicts[0]["detail"]
    checks = [e for e in merged if e["event"] in {"CHECK", "LABEL"}]
    assert len(checks) == len({(e["stage"], e["summary"]) for e in checks})
    assert [e["summary"].split(" ")[0] for e in checks][-1] == "review.manual"


def test_review_request_and_decision_events() -> None:
    held = reviewed("可以代开发票", Severity.LOW)
    [request] = held.review
    [requested] = [e for e in output_events(held, "artifact") if e["event"] == "REVIEW_REQUESTED"]
    assert requested["detail"]["request_id"] == request["request_id"]
    assert requested["summary"].startswith("held for manual review: Art. 10:")
    assert "text" not in requested["detail"] and requested["at"] == request["requested_at"]

    decided = decision_event(decision(note="invoice fraud"), "BLOCKED")
    assert decided["stage"] == "manual_review" and decided["at"] == 1_000
    assert decided["summary"] == "BLOCK by reviewer rev-7 -> BLOCKED: fraud; invoice fraud"
    assert decided["detail"]["reviewer"] == "rev-7" and decided["detail"]["strike"] == "true"
    assert decision_event(decision(), "BLOCKED")["audit_id"] == decided["audit_id"]
    assert decision_event(decision(decision_id="d-2"), "BLOCKED")["audit_id"] != decided["audit_id"]


def test_user_action_and_dead_letter_events() -> None:
    action = _action()
    event = action_event(action)
    assert (event["event"], event["stage"], event["user_id"]) == ("USER_ACTION", "users", "u-1")
    assert event["summary"].startswith("WARNING after 1 strike(s): ")
    assert event["detail"]["action_id"] == action["action_id"] and event["at"] == action["at"]

    letter = decide(
        ValueError("boom"),
        1,
        stage="registry",
        topic="registry.realname",
        partition=0,
        offset=7,
        key=b"u-9",
        payload=b"x" * 5000,
    )
    assert isinstance(letter, DeadLetter)
    dead = dead_letter_event(letter.record)
    assert dead["artifact_id"] is None and dead["summary"] == "ValueError: boom"
    assert dead["detail"]["offset"] == "7" and dead["detail"]["payload_size"] == "5000"
    assert "payload_excerpt" not in dead["detail"]
    assert dead_letter_event(letter.record, artifact_id="a-9")["artifact_id"] == "a-9"


def test_alerts_of_one_kind_about_different_things_stay_apart() -> None:
    alerts = [
        alert(
            AlertKind.UNCONSENTED_BIOMETRIC,
            AlertSeverity.HIGH,
            "Art. 14",
            f"no consent from {who}",
            artifact_id="a-1",
            user_id="u-1",
        )
        for who in ("person-a", "person-b")
    ]
    events = output_events(StageOutput(alerts=alerts), "artifact")
    assert len(history(events)) == 2


def audit(audit_id: str, at: int) -> Record:
    return {
        "audit_id": audit_id,
        "artifact_id": "a-1",
        "user_id": None,
        "event": "CHECK",
        "article": None,
        "stage": "s",
        "summary": audit_id,
        "detail": {},
        "at": at,
    }


def test_history_keeps_the_first_copy_in_order_of_time_then_arrival() -> None:
    records = [audit("c", 30), audit("a", 10), audit("b", 10), audit("a", 5), audit("d", 20)]
    merged = history(records)
    assert [(r["audit_id"], r["at"]) for r in merged] == [
        ("a", 10),
        ("b", 10),
        ("d", 20),
        ("c", 30),
    ]
    assert history([]) == []


def test_history_table_lists_time_event_article_stage_summary() -> None:
    records = [audit("x", 1_795_435_200_123) | {"article": "Art. 9", "summary": "passed"}]
    header, row = history_table(records).splitlines()
    assert header.split() == ["time", "event", "article", "stage", "summary"]
    assert row.split() == ["2026-11-23T12:00:00.123Z", "CHECK", "Art.", "9", "s", "passed"]


def test_window_includes_since_and_excludes_until() -> None:
    since, until = parse_window("2026-11-01", "2026-11-23T12:00:00Z")
    assert since == 1_793_491_200_000 and until == 1_795_435_200_000
    assert in_window(audit("a", since), since, until)
    assert in_window(audit("a", until - 1), since, until)
    assert not in_window(audit("a", since - 1), since, until)
    assert not in_window(audit("a", until), since, until)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", 1_793_491_200_000),
        ("2026-11-01T00:00:00Z", 1_793_491_200_000),
        ("2026-11-01T08:00:00+08:00", 1_793_491_200_000),
        ("2026-11-01T00:00:00.250Z", 1_793_491_200_250),
        ("2026-11-01T00:00:00.250999Z", 1_793_491_200_250),
    ],
)
def test_times_parse_to_epoch_milliseconds(text: str, expected: int) -> None:
    assert parse_time(text, "--since") == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", "2026-11-02", "--since 'yesterday' is not an ISO-8601 date"),
        ("2026-11-01", "2026-13-01", "--until '2026-13-01' is not an ISO-8601 date"),
        ("2026-11-01T10:00", "2026-11-02", "has no time zone: add Z"),
        ("2026-11-02", "2026-11-01", "--since 2026-11-02 is not before --until 2026-11-01"),
        ("2026-11-01", "2026-11-01T00:00:00Z", "is not before"),
    ],
)
def test_bad_windows_are_refused_clearly(since: str, until: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_window(since, until)


def test_a_record_without_label_checks_dates_its_label_by_the_record() -> None:
    state = label_text_artifact(admitted("你好"), POLICY)
    state["checks"] = []
    record = compliance_record(state, Verdict.PUBLISHABLE, [])
    label = output_events(StageOutput(compliance=record), "artifact")[0]
    assert (label["event"], label["stage"], label["at"]) == (
        "LABEL",
        "artifact",
        record["emitted_at"],
    )
