"""Art. 11 on a stage output: a text repeating a refuted rumor is held with the refutation
attached, reported, alerted and struck; anything else passes with the check on record."""

from __future__ import annotations

from helpers import POLICY, envelope

from synthguard.records import new_state
from synthguard.review.keywords import KeywordLibrary
from synthguard.review.rumors import DEFAULT_THRESHOLDS, Rumor, RumorIndex
from synthguard.textpath import process_text

WATER = Rumor(
    "rm-1",
    "某地自来水检出大量致癌物，喝了会得癌症，请大家这几天不要喝自来水。",
    "经水务部门检测，自来水各项指标均符合国家标准，网传消息系谣言。",
    "https://piyao.example/1",
    "示例辟谣平台",
    1,
)


def index() -> RumorIndex:
    rumors = RumorIndex(DEFAULT_THRESHOLDS)
    rumors.put(WATER)
    return rumors


def test_a_repeated_rumor_is_held_with_its_refutation_and_reported() -> None:
    text = "转发！某地自来水检出大量致癌物，喝了会得癌症，这几天大家千万不要喝自来水！！"
    out = process_text(
        new_state(envelope(text, "u-1")), policy=POLICY, library=KeywordLibrary(), rumors=index()
    )
    assert out.compliance is not None and out.compliance["verdict"] == "HELD"
    assert out.forward is None and out.hold is not None and len(out.review) == 1
    [notice] = out.compliance["notices"]
    assert notice["rumor_id"] == "rm-1" and notice["link"] == WATER.link
    assert notice["refutation"] == WATER.refutation and notice["method"] == "minhash"
    assert notice["score"] >= notice["threshold"] == DEFAULT_THRESHOLDS.jaccard
    check = out.compliance["checks"][-1]
    assert (check["article"], check["rule"], check["outcome"]) == (
        "Art. 11",
        "rumor.refuted",
        "FLAGGED",
    )
    assert f">= {DEFAULT_THRESHOLDS.jaccard:.2f}" in check["detail"]  # the threshold is stated
    [alert] = out.alerts
    assert (alert["kind"], alert["severity"]) == ("RUMOR_HIT", "HIGH")
    [report] = out.regulator
    assert report["article"] == "Art. 11" and "refutation attached" in " ".join(report["measures"])
    [strike] = out.violations
    assert strike["violation_id"].endswith(":Art. 11")


def test_other_text_passes_with_the_search_on_record() -> None:
    out = process_text(
        new_state(envelope("今天天气很好，适合去公园散步。", "u-1")),
        policy=POLICY,
        library=KeywordLibrary(),
        rumors=index(),
    )
    assert out.compliance is not None and out.compliance["verdict"] == "PUBLISHABLE"
    assert out.compliance["notices"] == []
    check = out.compliance["checks"][-1]
    assert (check["rule"], check["outcome"]) == ("rumor.refuted", "PASS")
    assert "1 rumor" in check["detail"]


def test_a_caption_repeats_a_rumor_as_surely_as_a_post() -> None:
    env = envelope("配图", "u-1", attributes={"caption": WATER.claim})
    out = process_text(new_state(env), policy=POLICY, library=KeywordLibrary(), rumors=index())
    assert out.compliance is not None and out.compliance["verdict"] == "HELD"
    assert "attributes.caption: rm-1" in out.compliance["checks"][-1]["detail"]
