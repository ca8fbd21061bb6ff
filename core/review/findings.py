"""The Art. 10 decision on what review found, for any matcher (keywords, perceptual hashes,
audio fingerprints): nothing -> publishable; only low-severity features -> held for a person;
anything worse -> blocked, with an alert, a regulator report and a strike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synthguard.complaints.reopen import overrule, overruled
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
    content_sha256,
    now_ms,
    regulator_report,
    violation,
)
from synthguard.review.keywords import Severity
from synthguard.review.manual import hold

STAGE = "review"
_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One feature-library hit: where in the artifact, which entry, and how close."""

    where: str
    """"text", "attributes.prompt", "image", "keyframe at 12.0 s", "audio"."""
    entry_id: str
    what: str
    """The match itself: a quoted term, "PDQ distance 12 of 256", a bit error rate."""
    category: str
    severity: Severity

    def evidence(self) -> str:
        return f"{self.where}: {self.entry_id} {self.what} ({self.category}, {self.severity.value})"


def decide(state: Record, findings: Sequence[Finding], rule: str, searched: str) -> StageOutput:
    """`rule` names the check (review.keywords, review.media); `searched` says what was
    searched, for the record of a clean pass."""
    env = state["envelope"]
    state["stages"][STAGE] = now_ms()
    if not findings:
        state["checks"].append(
            check("Art. 10", rule, STAGE, Outcome.PASS, f"no match in {searched}")
        )
        return StageOutput(
            forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, [])
        )
    worst = max((f.severity for f in findings), key=_SEVERITY_RANK.__getitem__)
    evidence = [finding.evidence() for finding in findings]
    summary = f"{len(findings)} feature hit(s) in {searched}, worst {worst.value}"
    flagged = check("Art. 10", rule, STAGE, Outcome.FLAGGED, "; ".join(evidence))
    if note := overruled(env):
        # An upheld appeal (Art. 12): a person judged the hits harmless; the record keeps them.
        state["checks"].append(overrule(flagged, note))
        return StageOutput(
            forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, [])
        )
    state["checks"].append(flagged)
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
        return hold(state, [f"Art. 10: {summary}"], evidence, alerts=alerts)
    categories = sorted({finding.category for finding in findings})
    return StageOutput(
        compliance=compliance_record(state, Verdict.BLOCKED, [f"Art. 10: {summary}"]),
        alerts=alerts,
        regulator=[
            regulator_report(
                env,
                article="Art. 10",
                category=",".join(categories),
                summary=summary,
                evidence=evidence,
                measures=["publication blocked", "strike recorded against the user"],
                content_sha256=content_sha256(env),
            )
        ],
        violations=[violation(env, "Art. 10", summary)],
    )
