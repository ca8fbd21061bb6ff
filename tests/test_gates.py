"""Each admission gate's pass and fail paths (Art. 6, 9, 14, 15, 19, 20), value in, value out."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import envelope

from synthguard.gates import GateViews, consent_gate, news_gate, service_gate, service_status
from synthguard.intake import admit
from synthguard.records import Record, now_ms

NOW = now_ms()  # `admit` reads the clock
DAY = 86_400_000
USER = "u-ok"
REALNAME = {USER: {"user_id": USER, "status": "VERIFIED", "method": "PHONE", "verified_at": 1}}


def service(**overrides: Any) -> Record:
    return {
        "service_id": "svc-test",
        "provider_id": "prov-test",
        "name": "test",
        "functions": ["BIOMETRIC_EDITING"],
        "assessments": [assessment("BIOMETRIC_EDITING")],
        "filing_number": None,
        "filing_status": "NONE",
        "updated_at": 1,
    } | overrides


def assessment(function: str, **overrides: Any) -> Record:
    return {
        "function": function,
        "reference": f"SA-{function}",
        "assessor": "SELF",
        "completed_at": NOW - DAY,
        "expires_at": None,
    } | overrides


def consent(**overrides: Any) -> Record:
    return {
        "consent_id": "c-1",
        "subject_id": "p-1",
        "user_id": USER,
        "features": ["FACE"],
        "uses": ["FACE_SWAP"],
        "granted_at": NOW - DAY,
        "expires_at": None,
        "revoked_at": None,
        "evidence_uri": None,
    } | overrides


FACE = [{"subject_id": "p-1", "feature": "FACE", "consent_id": "c-1"}]


def swap(subjects: list[Record] = FACE, **overrides: Any) -> Record:
    return envelope(
        "x",
        USER,
        service_kind="FACE_SWAP",
        tech_category="BIOMETRIC_IMAGE_VIDEO",
        biometric_subjects=subjects,
        **overrides,
    )


def test_a_consent_that_matches_person_feature_user_and_use_passes() -> None:
    result = consent_gate(swap(), {"c-1": consent()}, NOW)
    assert result.blocked is None and result.alert is None
    assert result.check["outcome"] == "PASS" and "p-1 (c-1)" in result.check["detail"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (None, "not in the registry"),
        (consent(revoked_at=NOW - 1), "revoked"),
        (consent(expires_at=NOW), "expired"),
        (consent(granted_at=NOW + DAY), "not yet granted"),
        (consent(uses=["FACE_MANIPULATION"]), "does not cover FACE_SWAP"),
        (consent(features=["VOICE"]), "covers VOICE"),
        (consent(user_id="u-other"), "given to u-other"),
        (consent(subject_id="p-2"), "given by p-2"),
    ],
)
def test_a_missing_or_unfit_consent_blocks_with_a_high_risk_alert(
    entry: Record | None, expected: str
) -> None:
    consents = {} if entry is None else {"c-1": entry}
    result = consent_gate(swap(), consents, NOW)
    assert result.blocked is not None and expected in result.blocked
    assert result.blocked.startswith("Art. 14")
    assert result.alert is not None
    assert (result.alert["kind"], result.alert["severity"]) == ("UNCONSENTED_BIOMETRIC", "HIGH")


def test_an_edit_that_names_no_person_or_no_consent_reference_is_blocked() -> None:
    assert "names no edited person" in (consent_gate(swap([]), {}, NOW).blocked or "")
    no_ref = [{"subject_id": "p-1", "feature": "FACE", "consent_id": None}]
    assert "no consent reference" in (consent_gate(swap(no_ref), {}, NOW).blocked or "")


def test_every_edited_person_needs_consent() -> None:
    two = [*FACE, {"subject_id": "p-9", "feature": "FACE", "consent_id": "c-9"}]
    result = consent_gate(swap(two), {"c-1": consent()}, NOW)
    assert result.blocked is not None
    assert "p-9" in result.blocked and "p-1" not in result.blocked


def test_consent_is_not_asked_of_content_that_edits_no_one() -> None:
    result = consent_gate(envelope("x", USER), {}, NOW)
    assert result.blocked is None and result.check["outcome"] == "NOT_APPLICABLE"


def test_a_biometric_service_with_a_valid_assessment_passes() -> None:
    result = service_gate(swap(), {"svc-test": service()}, NOW)
    assert result.blocked is None
    assert "BIOMETRIC_EDITING assessed (SA-BIOMETRIC_EDITING)" in result.check["detail"]


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ({}, "no security assessment on record for BIOMETRIC_EDITING"),
        ({"svc-test": service(assessments=[])}, "BIOMETRIC_EDITING missing"),
        (
            {"svc-test": service(assessments=[assessment("BIOMETRIC_EDITING", expires_at=NOW)])},
            "expired or not yet complete",
        ),
        ({"svc-test": service(provider_id="prov-other")}, "registered to provider prov-other"),
    ],
)
def test_biometric_work_without_an_assessment_is_blocked(
    services: dict[str, Record], expected: str
) -> None:
    result = service_gate(swap(), services, NOW)
    assert result.blocked is not None and expected in result.blocked
    assert result.alert is not None and result.alert["kind"] == "UNASSESSED_SERVICE"


def test_a_public_opinion_service_needs_assessment_and_filing_and_its_number_travels() -> None:
    opinion = service(functions=["PUBLIC_OPINION"], assessments=[assessment("PUBLIC_OPINION")])
    text = envelope("x", USER)
    unfiled = service_gate(text, {"svc-test": opinion}, NOW)
    assert unfiled.blocked is not None and "(Art. 19)" in unfiled.blocked
    assert unfiled.alert is not None and unfiled.alert["kind"] == "UNFILED_SERVICE"

    filed = opinion | {"filing_number": "网信算备-1", "filing_status": "FILED"}
    result = service_gate(text, {"svc-test": filed}, NOW)
    assert result.blocked is None and result.filing_number == "网信算备-1"
    cancelled = filed | {"filing_status": "CANCELLED"}
    assert service_gate(text, {"svc-test": cancelled}, NOW).blocked is not None

    out = admit(text, GateViews(realname=REALNAME, services={"svc-test": filed}), 1000, 1000)
    assert out.forward is not None and out.forward["filing_number"] == "网信算备-1"


def test_plain_text_from_an_unregistered_service_needs_nothing() -> None:
    result = service_gate(envelope("x", USER), {}, NOW)
    assert result.blocked is None and "no function that needs" in result.check["detail"]


def test_service_status_is_what_an_app_store_checks() -> None:
    status = service_status("svc-test", service(functions=["PUBLIC_OPINION"]), NOW).as_dict()
    assert status["registered"] and not status["compliant"]
    assert any("PUBLIC_OPINION missing" in p for p in status["problems"])
    assert any("(Art. 19)" in p for p in status["problems"])
    assert service_status("svc-x", None, NOW).as_dict()["registered"] is False


@pytest.mark.parametrize(
    ("source", "entry", "blocked"),
    [
        ("src-x", {"source_id": "src-x", "name": "X", "status": "APPROVED", "listed_at": 1}, False),
        ("src-x", {"source_id": "src-x", "name": "X", "status": "REVOKED", "listed_at": 1}, True),
        ("src-x", None, True),
        (None, None, True),
    ],
)
def test_news_is_reposted_only_from_approved_sources(
    source: str | None, entry: Record | None, blocked: bool
) -> None:
    news = envelope("x", USER, is_news=True, news_source=source)
    result = news_gate(news, {} if entry is None else {"src-x": entry})
    assert (result.blocked is not None) is blocked
    if blocked:
        assert result.alert is not None and result.alert["kind"] == "POSSIBLE_FALSE_NEWS"
        assert "possible false news" in (result.blocked or "")


def test_admit_lists_every_failed_gate_and_alert() -> None:
    bad = swap([], is_news=True, news_source=None) | {"user_id": "u-ghost"}
    out = admit(bad, GateViews(), 1000, 1000)
    assert out.compliance is not None and out.compliance["verdict"] == "BLOCKED"
    articles = sorted(reason.split(":")[0] for reason in out.compliance["reasons"])
    assert articles == ["Art. 14", "Art. 15, 19, 20", "Art. 6", "Art. 9"]
    assert len(out.alerts) == 4


def test_content_a_platform_spreads_is_not_held_to_the_producers_gates() -> None:
    spread = swap([], origin="REDISTRIBUTED")
    out = admit(spread, GateViews(realname=REALNAME), 1000, 1000)
    assert out.forward is not None
