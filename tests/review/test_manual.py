"""Manual review: what a hold asks of a reviewer, and each decision applied (Art. 10)."""

from __future__ import annotations

from helpers import POLICY, envelope

from synthguard.records import Record, new_state
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.review.manual import apply_decision
from synthguard.review.rumors import DEFAULT_THRESHOLDS, RumorIndex
from synthguard.textpath import process_text


def held_text() -> tuple[Record, Record]:
    """A text that hits a low-severity feature: the output's hold state and review request."""
    library = KeywordLibrary()
    library.put(KeywordEntry("kw-1", "代购", "grey-market", Severity.LOW))
    state = new_state(envelope("海外代购奶粉，价格从优。", "u-1"))
    rumors = RumorIndex(DEFAULT_THRESHOLDS)
    out = process_text(state, policy=POLICY, library=library, rumors=rumors)
    assert out.compliance is not None and out.compliance["verdict"] == "HELD"
    assert out.forward is None and out.hold is not None
    [request] = out.review
    return out.hold, request


def decision(kind: str, *, strike: bool = False) -> Record:
    return {
        "decision_id": "d-1",
        "artifact_id": "x",
        "reviewer_id": "rev-42",
        "decision": kind,
        "strike": strike,
        "category": "grey-market",
        "note": "checked by hand",
        "decided_at": 1,
    }


def test_a_hold_sends_the_reviewer_the_labeled_text_the_reasons_and_the_evidence() -> None:
    state, request = held_text()
    assert request["artifact_id"] == state["envelope"]["artifact_id"]
    assert request["text"] is not None and request["text"].startswith("【本内容由人工智能生成】")
    assert request["reasons"] == [
        "Art. 10: 1 feature hit(s) in 1 keyword features (library v1), worst LOW"
    ]
    assert "kw-1 '代购'" in request["evidence"][0]
    assert state["label"] is not None  # publishing later needs no second labeling


def test_publish_forwards_the_labeled_state_with_the_reviewer_on_record() -> None:
    state, _ = held_text()
    out = apply_decision(state, decision("PUBLISH"))
    assert out.forward is not None and out.compliance is not None
    assert (out.compliance["verdict"], out.compliance["reviewer"]) == ("PUBLISHABLE", "rev-42")
    manual = out.compliance["checks"][-1]
    assert (manual["rule"], manual["outcome"]) == ("review.manual", "PASS")
    assert "rev-42" in manual["detail"] and "checked by hand" in manual["detail"]
    assert out.regulator == [] and out.violations == []


def test_block_reports_and_strikes_only_when_asked() -> None:
    state, _ = held_text()
    out = apply_decision(state, decision("BLOCK", strike=True))
    assert out.forward is None and out.compliance is not None
    assert (out.compliance["verdict"], out.compliance["reviewer"]) == ("BLOCKED", "rev-42")
    [report] = out.regulator
    assert report["category"] == "grey-market" and "strike" in report["measures"][-1]
    [strike] = out.violations
    assert strike["user_id"] == "u-1"

    state, _ = held_text()
    quiet = apply_decision(state, decision("BLOCK"))
    assert quiet.violations == [] and len(quiet.regulator) == 1
