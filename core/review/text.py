"""Review stage for text: match the artifact's text fields against the keyword feature
library (Art. 10) and decide verdict, alert, regulator report and strike."""

from __future__ import annotations

import hashlib

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
    now_ms,
    regulator_report,
    violation,
)
from synthguard.review.keywords import KeywordHit, KeywordLibrary, Severity

STAGE = "review"
CONTEXT_CHARS = 12
# Art. 10 asks for review of users' input as well as the output.
REVIEWED_ATTRIBUTES = ("prompt",)
_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


def reviewed_fields(envelope: Record) -> dict[str, str]:
    fields = {"text": envelope.get("text") or "", "title": envelope.get("title") or ""}
    for name in REVIEWED_ATTRIBUTES:
        if name in envelope["attributes"]:
            fields[f"attributes.{name}"] = envelope["attributes"][name]
    return {name: value for name, value in fields.items() if value}


def quote(text: str, hit: KeywordHit) -> str:
    start, end = max(0, hit.start - CONTEXT_CHARS), hit.end + CONTEXT_CHARS
    return f"…{text[start:end]}…"


def review_text(state: Record, library: KeywordLibrary) -> StageOutput:
    env = state["envelope"]
    hits: list[tuple[str, KeywordHit, str]] = []
    for name, value in reviewed_fields(env).items():
        hits += [(name, hit, quote(value, hit)) for hit in library.match(value)]
    state["stages"][STAGE] = now_ms()
    if not hits:
        state["checks"].append(
            check(
                "Art. 10",
                "review.keywords",
                STAGE,
                Outcome.PASS,
                f"no match in {len(library)} keyword features (library v{library.version})",
            )
        )
        return StageOutput(
            forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, [])
        )

    worst = max((hit.severity for _, hit, _ in hits), key=_SEVERITY_RANK.__getitem__)
    evidence = [
        f"{name}: {hit.entry_id} {hit.term!r} ({hit.category}, {hit.severity.value}) {context}"
        for name, hit, context in hits
    ]
    summary = f"{len(hits)} keyword feature hit(s), worst {worst.value}"
    state["checks"].append(
        check("Art. 10", "review.keywords", STAGE, Outcome.FLAGGED, "; ".join(evidence))
    )
    alerts = [
        alert(
            AlertKind.FEATURE_LIBRARY_HIT,
            AlertSeverity(worst.value),
            "Art. 10",
            summary,
            artifact_id=env["artifact_id"],
            user_id=env["user_id"],
            evidence={f"hit{i}": line for i, line in enumerate(evidence)},
        )
    ]
    if worst is Severity.LOW:
        # Low-severity features hold the artifact for a person to decide; no strike yet.
        record = compliance_record(state, Verdict.HELD, [f"Art. 10: {summary}"])
        return StageOutput(compliance=record, alerts=alerts)

    record = compliance_record(state, Verdict.BLOCKED, [f"Art. 10: {summary}"])
    digest = hashlib.sha256((env.get("text") or "").encode("utf-8")).hexdigest()
    categories = sorted({hit.category for _, hit, _ in hits})
    return StageOutput(
        compliance=record,
        alerts=alerts,
        regulator=[
            regulator_report(
                env,
                article="Art. 10",
                category=",".join(categories),
                summary=summary,
                evidence=evidence,
                measures=["publication blocked", "strike recorded against the user"],
                content_sha256=digest,
            )
        ],
        violations=[violation(env, "Art. 10", summary)],
    )
