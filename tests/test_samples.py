"""The bundled samples exercise every path `synthguard run` promises (and stay valid)."""

from __future__ import annotations

from synthguard import samples
from synthguard.intake import validate_envelope
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.streams.client import envelope_from_json


def test_samples_are_valid_and_cover_each_path() -> None:
    artifacts = [envelope_from_json(a) for a in samples.load_artifacts()]
    realname = {e["user_id"]: e for e in samples.load_realname()}
    library = KeywordLibrary()
    for e in samples.load_keywords():
        library.put(KeywordEntry(e["entry_id"], e["term"], e["category"], Severity(e["severity"])))
    assert len({a["artifact_id"] for a in artifacts}) == len(artifacts) >= 36
    for artifact in artifacts:
        validate_envelope(artifact, 1_000_000)
    unverified = [
        a for a in artifacts if realname.get(a["user_id"], {}).get("status") != "VERIFIED"
    ]
    hits = [a for a in artifacts if a not in unverified and library.match(a["text"])]
    chinese = [a for a in artifacts if any("\u4e00" <= ch <= "\u9fff" for ch in a["text"])]
    assert len(unverified) >= 5
    assert len(hits) >= 6
    assert {h.severity for a in hits for h in library.match(a["text"])} >= {
        Severity.LOW,
        Severity.HIGH,
    }
    assert len(artifacts) / 3 < len(chinese) < len(artifacts)
    assert {a["service_kind"] for a in artifacts} >= {"DIALOGUE", "WRITING", "OTHER"}
