"""Art. 11 (and Art. 6: no spreading false news): text that repeats a refuted rumor is held
from publication with the refutation attached to show beside it, reported to the regulator
and alerted, and the user's strike counted on the Art. 10 ladder."""

from __future__ import annotations

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
from synthguard.review.manual import hold
from synthguard.review.rumors import RumorIndex, RumorMatch

STAGE = "rumor"
# The artifact's own words, whatever its medium: a video's caption or transcript repeats a
# rumor as surely as a post does.
RUMOR_FIELDS = ("text", "title")
RUMOR_ATTRIBUTES = ("caption", "transcript")


def rumor_fields(envelope: Record) -> dict[str, str]:
    fields = {name: envelope[name] or "" for name in RUMOR_FIELDS}
    for name in RUMOR_ATTRIBUTES:
        fields[f"attributes.{name}"] = envelope["attributes"].get(name, "")
    return {name: value for name, value in fields.items() if value.strip()}


def check_rumors(output: StageOutput, rumors: RumorIndex) -> StageOutput:
    """Decide an output review found publishable; anything held or blocked stays as it is."""
    state = output.forward
    if state is None or output.compliance is None:
        return output
    env = state["envelope"]
    found: dict[str, tuple[str, RumorMatch]] = {}
    for name, text in rumor_fields(env).items():
        for match in rumors.match(text):
            if match.rumor_id not in found or match.score > found[match.rumor_id][1].score:
                found[match.rumor_id] = (name, match)
    state["stages"][STAGE] = now_ms()
    if not found:
        state["checks"].append(
            check(
                "Art. 11", "rumor.refuted", STAGE, Outcome.PASS, f"no match in {rumors.describe()}"
            )
        )
        return StageOutput(
            forward=state,
            compliance=compliance_record(state, Verdict.PUBLISHABLE, []),
            alerts=output.alerts,
            regulator=output.regulator,
            violations=output.violations,
        )
    evidence: list[str] = []
    notices: list[Record] = []
    for name, match in sorted(found.values(), key=lambda pair: -pair[1].score):
        rumor = rumors.get(match.rumor_id)
        if rumor is None:
            continue
        evidence.append(
            f"{name}: {rumor.rumor_id} {match.method} {match.score:.2f} >= {match.threshold:.2f}"
            f" «{match.excerpt}» refuted by {rumor.authority}: {rumor.link}"
        )
        notices.append(
            {
                "rumor_id": rumor.rumor_id,
                "refutation": rumor.refutation,
                "link": rumor.link,
                "authority": rumor.authority,
                "method": match.method,
                "score": match.score,
                "threshold": match.threshold,
            }
        )
    state["notices"] = notices
    state["checks"].append(
        check("Art. 11", "rumor.refuted", STAGE, Outcome.FLAGGED, "; ".join(evidence))
    )
    ids = ", ".join(str(notice["rumor_id"]) for notice in notices)
    summary = f"repeats {len(notices)} refuted rumor(s): {ids}"
    reason = f"Art. 11: {summary}"
    return hold(
        state,
        [reason],
        evidence,
        alerts=[
            *output.alerts,
            alert(
                AlertKind.RUMOR_HIT,
                AlertSeverity.HIGH,
                "Art. 11",
                f"held from publication: {summary}",
                artifact_id=env["artifact_id"],
                user_id=env["user_id"],
                evidence={f"hit{i}": line for i, line in enumerate(evidence)},
            ),
        ],
        regulator=[
            *output.regulator,
            regulator_report(
                env,
                article="Art. 11",
                category="refuted rumor",
                summary=summary,
                evidence=evidence,
                measures=[
                    "publication held",
                    "refutation attached to show beside the content",
                    "strike recorded against the user",
                ],
                content_sha256=content_sha256(env),
            ),
        ],
        violations=[*output.violations, violation(env, "Art. 11", summary)],
    )
