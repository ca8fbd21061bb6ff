"""The bundled samples exercise every path `synthguard run` promises (and stay valid).

Exact counts on purpose: an edited sample that stops (or starts) hitting a keyword, or moves
to another user, must fail here rather than quietly change what `synthguard run` shows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from helpers import sample_rumors, sample_views

from synthguard import samples
from synthguard.intake import admit, validate_envelope
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.streams import catalog
from synthguard.streams.client import envelope_from_json, record_from_json

# Only the samples that exercise the news and biometric gates carry these.
OPTIONAL_FIELDS = {"is_news", "news_source", "biometric_subjects"}
ARTIFACT_FIELDS = [
    "artifact_id",
    "provider_id",
    "service_id",
    "user_id",
    "modality",
    "tech_category",
    "service_kind",
    "declared_ai",
    "title",
    "text",
]
# Users the artifacts name but the real-name registry lacks: Art. 9 refuses them.
MISSING_USERS = {"u-3001", "u-3002"}
EXPECTED_ARTIFACTS = 55
EXPECTED_KEYWORD_HITS = 8  # all from verified users, so review (not intake) catches them
EXPECTED_UNVERIFIED = 6  # UNVERIFIED, REVOKED or absent from the registry
# Verified users, stopped by another gate: article -> artifacts it blocks
EXPECTED_GATE_BLOCKS = {"Art. 6": 2, "Art. 15, 19, 20": 2, "Art. 14": 1}
EXPECTED_RUMORS = 2  # verified users repeating a refuted rumor (Art. 11)
EXPECTED_CLEAN = 35


def library() -> KeywordLibrary:
    lib = KeywordLibrary()
    for e in samples.load_keywords():
        lib.put(KeywordEntry(e["entry_id"], e["term"], e["category"], Severity(e["severity"])))
    return lib


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture(scope="module")
def artifacts() -> list[dict[str, Any]]:
    return samples.load_artifacts()


def test_registries_are_well_formed() -> None:
    keywords = samples.load_keywords()
    assert 25 <= len(keywords) == len({e["entry_id"] for e in keywords})
    assert len({e["term"] for e in keywords}) == len(keywords)
    for e in keywords:
        assert set(e) == {"entry_id", "term", "category", "severity"}
        Severity(e["severity"])
    assert {is_chinese(e["term"]) for e in keywords} == {True, False}

    realname = samples.load_realname()
    assert len(realname) == len({e["user_id"] for e in realname})
    statuses = [e["status"] for e in realname]
    assert set(statuses) == {"VERIFIED", "UNVERIFIED", "REVOKED"}
    assert statuses.count("UNVERIFIED") >= 2 and statuses.count("REVOKED") >= 1
    for e in realname:
        verified = e["status"] != "UNVERIFIED"
        assert e["method"] in (
            {"PHONE", "ID_CARD", "SOCIAL_CREDIT_CODE", "PUBLIC_ID_SERVICE"}
            if verified
            else {"NONE"}
        )
        assert (e["verified_at"] is not None) == verified


def test_artifacts_are_valid_envelopes(artifacts: list[dict[str, Any]]) -> None:
    assert len(artifacts) == EXPECTED_ARTIFACTS
    assert len({a["artifact_id"] for a in artifacts}) == len(artifacts)
    for artifact in artifacts:
        fields = [name for name in artifact if name not in OPTIONAL_FIELDS]
        assert fields == ARTIFACT_FIELDS, artifact["artifact_id"]
        assert artifact["modality"] == "TEXT" and artifact["text"].strip()
        validate_envelope(envelope_from_json(artifact), 1_000_000, 1_000_000)


def test_artifacts_cover_each_path_in_the_expected_numbers(
    artifacts: list[dict[str, Any]],
) -> None:
    realname = {e["user_id"]: e["status"] for e in samples.load_realname()}
    lib = library()
    assert {a["user_id"] for a in artifacts} - realname.keys() == MISSING_USERS

    unverified = [a for a in artifacts if realname.get(a["user_id"]) != "VERIFIED"]
    views = sample_views()
    reasons = {
        a["artifact_id"]: (admit(envelope_from_json(a), views, 10**6, 10**6).compliance or {}).get(
            "reasons", []
        )
        for a in artifacts
        if a not in unverified
    }
    gated = [a for a in artifacts if reasons.get(a["artifact_id"])]
    blocks = Counter(r.split(":")[0] for a in gated for r in reasons[a["artifact_id"]])
    assert blocks == EXPECTED_GATE_BLOCKS
    hits = {a["artifact_id"]: lib.match(a["text"]) for a in artifacts}
    flagged = [a for a in artifacts if hits[a["artifact_id"]]]
    rumored = [a for a in artifacts if sample_rumors().match(a["text"])]
    assert len(rumored) == EXPECTED_RUMORS
    assert not [a for a in rumored if a in unverified + gated + flagged]
    clean = [a for a in artifacts if a not in unverified + gated + flagged + rumored]
    assert len(unverified) == EXPECTED_UNVERIFIED
    assert {realname.get(a["user_id"], "ABSENT") for a in unverified} == {
        "UNVERIFIED",
        "REVOKED",
        "ABSENT",
    }
    assert len(flagged) == EXPECTED_KEYWORD_HITS
    assert not [a for a in flagged if a in unverified + gated]
    assert len(clean) == EXPECTED_CLEAN
    # Both review outcomes (held for LOW, blocked above) and at least one evasion appear.
    severities = {h.severity for a in flagged for h in hits[a["artifact_id"]]}
    assert severities >= {Severity.LOW, Severity.HIGH}
    evasions = [
        a for a in flagged for h in hits[a["artifact_id"]] if a["text"][h.start : h.end] != h.term
    ]
    assert len(evasions) >= 3


def test_artifacts_are_varied(artifacts: list[dict[str, Any]]) -> None:
    chinese = [a for a in artifacts if is_chinese(a["text"])]
    assert len(artifacts) / 2 < len(chinese) < len(artifacts) * 0.8
    assert {a["service_kind"] for a in artifacts} == {
        "DIALOGUE",
        "WRITING",
        "OTHER_GENERATION",
        "OTHER",
        "VOICE_IMITATION",
    }
    assert any(ord(ch) >= 0x1F300 for a in artifacts for ch in a["text"])  # emoji
    assert any(is_chinese(a["text"]) and re.search("[A-Za-z]{4,}", a["text"]) for a in artifacts)


@pytest.mark.parametrize(
    ("spec", "load"),
    [
        (catalog.REGISTRY_SERVICES, samples.load_services),
        (catalog.REGISTRY_CONSENTS, samples.load_consents),
        (catalog.REGISTRY_NEWS_SOURCES, samples.load_news_sources),
        (catalog.REGISTRY_MEDIA_FEATURES, samples.load_media_features),
        (catalog.REGISTRY_RUMORS, samples.load_rumors),
    ],
)
def test_gate_and_media_registries_match_their_schemas(
    spec: catalog.TopicSpec, load: Callable[[], list[dict[str, Any]]]
) -> None:
    entries = load()
    keys = [spec.key_of(record_from_json(spec, entry)) for entry in entries]
    assert entries and len(set(keys)) == len(keys)
