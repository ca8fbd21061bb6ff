"""Review for text: match the artifact's text fields, and the prompt of any artifact (Art. 10
reviews users' input as well as the output), against the keyword feature library."""

from __future__ import annotations

from synthguard.records import Record, StageOutput
from synthguard.review.findings import Finding, decide
from synthguard.review.keywords import KeywordHit, KeywordLibrary

CONTEXT_CHARS = 12
REVIEWED_ATTRIBUTES = ("prompt",)


def reviewed_fields(envelope: Record) -> dict[str, str]:
    fields = {"text": envelope.get("text") or "", "title": envelope.get("title") or ""}
    for name in REVIEWED_ATTRIBUTES:
        if name in envelope["attributes"]:
            fields[f"attributes.{name}"] = envelope["attributes"][name]
    return {name: value for name, value in fields.items() if value}


def quote(text: str, hit: KeywordHit) -> str:
    start, end = max(0, hit.start - CONTEXT_CHARS), hit.end + CONTEXT_CHARS
    return f"…{text[start:end]}…"


def keyword_findings(envelope: Record, library: KeywordLibrary) -> list[Finding]:
    return [
        Finding(name, hit.entry_id, f"{hit.term!r} {quote(value, hit)}", hit.category, hit.severity)
        for name, value in reviewed_fields(envelope).items()
        for hit in library.match(value)
    ]


def searched(library: KeywordLibrary) -> str:
    return f"{len(library)} keyword features (library v{library.version})"


def review_text(state: Record, library: KeywordLibrary) -> StageOutput:
    findings = keyword_findings(state["envelope"], library)
    return decide(state, findings, "review.keywords", searched(library))
