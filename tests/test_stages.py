"""The pure stage functions, value in, value out (no Kafka, no Faust)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from helpers import KEYRING, POLICY, envelope

from synthguard.dlq import MAX_ATTEMPTS, DeadLetter, Retry, decide
from synthguard.errors import BrokerError, DecodeError, ValidationError
from synthguard.gates import GateViews
from synthguard.intake import admit
from synthguard.labeling import label_text_artifact, mostly_cjk
from synthguard.labels.aigc import AigcRecord
from synthguard.labels.text import has_explicit_label
from synthguard.labels.verify import LabelStatus, verify_text
from synthguard.records import Record

REALNAME = GateViews(
    realname={
        "u-ok": {"user_id": "u-ok", "status": "VERIFIED", "method": "PHONE", "verified_at": 1},
        "u-no": {"user_id": "u-no", "status": "UNVERIFIED", "method": "NONE", "verified_at": None},
    }
)


def test_verified_user_is_admitted_with_a_passing_art9_check() -> None:
    out = admit(envelope("你好", "u-ok"), REALNAME, 1000, 1000)
    assert out.compliance is None and out.alerts == []
    assert out.forward is not None
    check, *others = out.forward["checks"]
    assert (check["article"], check["outcome"]) == ("Art. 9", "PASS")
    assert {c["outcome"] for c in others} <= {"PASS", "NOT_APPLICABLE"}
    assert "PHONE" in check["detail"]


@pytest.mark.parametrize(("user", "status"), [("u-no", "UNVERIFIED"), ("u-ghost", "UNKNOWN")])
def test_unverified_or_unknown_user_is_blocked_with_reason_and_alert(
    user: str, status: str
) -> None:
    out = admit(envelope("你好", user), REALNAME, 1000, 1000)
    assert out.forward is None
    assert out.compliance is not None
    assert out.compliance["verdict"] == "BLOCKED"
    assert user in out.compliance["reasons"][0]
    [alert] = out.alerts
    assert alert["kind"] == "UNVERIFIED_USER"
    assert alert["evidence"] == {"realname_status": status}


def _blob(*, mime: str = "image/png", size: int = 10) -> Record:
    return {"uri": "file:///tmp/x.png", "sha256": "0" * 64, "size": size, "mime": mime}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"text": None}, "needs inline text"),
        ({"text": " \n\t"}, "empty"),
        ({"text": "长" * 400}, "over the 1000-byte limit"),
        ({"modality": "SCENE"}, "SCENE is not handled"),
        ({"modality": "VIDEO"}, "VIDEO artifact needs a blob reference"),
        ({"modality": "IMAGE"}, "needs a blob reference"),
        ({"modality": "IMAGE", "blob": _blob(mime="text/plain")}, "not image/"),
        ({"modality": "IMAGE", "blob": _blob(size=0)}, r"outside 1\.\.1000 bytes"),
        ({"modality": "IMAGE", "blob": _blob(size=1001)}, r"outside 1\.\.1000 bytes"),
        ({"modality": "AUDIO", "blob": _blob(mime="video/mp4")}, "not audio/"),
        ({"modality": "VIDEO", "blob": _blob(mime="video/mp4", size=3000)}, r"max_av_bytes"),
        ({"artifact_id": "  "}, "artifact_id"),
        ({"user_id": "u" * 200}, "user_id"),
        ({"artifact_id": "\x00report-mark/0"}, "control characters"),
    ],
)
def test_invalid_envelopes_raise_validation_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        admit(envelope("x", "u-ok") | overrides, REALNAME, 1000, 1000, 2000)


def _admitted(text: str, kind: str) -> Record:
    out = admit(envelope(text, "u-ok", service_kind=kind), REALNAME, 10_000, 10_000)
    assert out.forward is not None
    return out.forward


@pytest.mark.parametrize("kind", ["DIALOGUE", "WRITING", "OTHER_GENERATION"])
def test_art17_kinds_get_a_visible_notice_in_the_texts_language(kind: str) -> None:
    for text, notice in (("今天的天气很好。", POLICY.notice_zh), ("A fine day.", POLICY.notice_en)):
        state = label_text_artifact(_admitted(text, kind), POLICY)
        assert state is not None
        label = state["label"]
        assert label["explicit"] and label["notice"] == notice
        assert label["labeled_text"].startswith(notice)
        assert has_explicit_label(label["labeled_text"])
        record = AigcRecord.from_fields(label["record"])
        assert verify_text(label["labeled_text"], record, KEYRING).status is LabelStatus.INTACT


def test_other_kind_gets_the_implicit_record_only() -> None:
    state = label_text_artifact(_admitted("会议纪要。", "OTHER"), POLICY)
    assert state is not None
    assert state["label"]["labeled_text"] == "会议纪要。"
    assert not state["label"]["explicit"]
    outcomes = {c["rule"]: c["outcome"] for c in state["checks"]}
    assert outcomes["label.explicit"] == "NOT_APPLICABLE"
    assert outcomes["label.implicit"] == outcomes["label.signature"] == "APPLIED"


def test_labeling_is_deterministic_so_redelivery_relabels_identically() -> None:
    admitted = _admitted("同一内容", "DIALOGUE")
    first = label_text_artifact(copy.deepcopy(admitted), POLICY)
    again = label_text_artifact(copy.deepcopy(admitted), POLICY)
    assert first is not None and again is not None
    assert first["label"]["record"]["ReservedCode1"].startswith("sg1.k1.")
    assert first["label"] == again["label"]


def test_language_detection() -> None:
    assert mostly_cjk("今天天气很好 ok")
    assert not mostly_cjk("The weather is fine 好")
    assert not mostly_cjk("12345 !!!")


def test_decode_errors_are_dead_lettered_at_once_with_context() -> None:
    decision = decide(
        DecodeError("bad"),
        1,
        stage="intake",
        topic="t",
        partition=2,
        offset=9,
        key=b"k\xff",
        payload=b"x" * 5000,
    )
    assert isinstance(decision, DeadLetter)
    letter = decision.record
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("t", 2, 9)
    assert letter["key"] == "k\ufffd"
    assert letter["payload_size"] == 5000 and len(letter["payload_excerpt"]) == 1024
    assert (letter["error_type"], letter["retryable"]) == ("DecodeError", False)


def test_retryable_errors_are_retried_with_backoff_then_dead_lettered() -> None:
    delays = []
    for attempt in range(1, MAX_ATTEMPTS):
        decision = decide(
            BrokerError("down"),
            attempt,
            stage="s",
            topic="t",
            partition=0,
            offset=0,
            key=None,
            payload=None,
        )
        assert isinstance(decision, Retry)
        delays.append(decision.delay_s)
    assert delays == sorted(delays) and delays[0] > 0
    last = decide(
        BrokerError("down"),
        MAX_ATTEMPTS,
        stage="s",
        topic="t",
        partition=0,
        offset=0,
        key=None,
        payload=None,
    )
    assert isinstance(last, DeadLetter) and last.record["retryable"]


def test_unexpected_errors_are_dead_lettered_not_retried() -> None:
    decision = decide(
        KeyError("field"), 1, stage="s", topic="t", partition=0, offset=0, key=None, payload=b""
    )
    assert isinstance(decision, DeadLetter)
    assert decision.record["error_type"] == "KeyError"
