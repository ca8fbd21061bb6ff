"""Admission gates after the envelope is valid: who may publish (Art. 9), whose face or voice
may be edited (Art. 14), which services may run assessed functions (Art. 15, 19, 20) and where
news may come from (Art. 6).

Pure: each gate takes the envelope and its live registry view (a mapping fed from a compacted
topic) and returns a GateResult, a value that says why. `intake.admit` runs them all, so a
blocked artifact's record lists every gate it failed, not just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from synthguard.labeling import EXPLICIT_LABEL_KINDS
from synthguard.records import AlertKind, AlertSeverity, Outcome, Record, alert, check

STAGE = "intake"


class Function(StrEnum):
    """ServiceFunction in schemas/service_entry.v1.avsc."""

    BIOMETRIC_EDITING = "BIOMETRIC_EDITING"  # Art. 15 (1)
    SENSITIVE_SCENES = "SENSITIVE_SCENES"  # Art. 15 (2)
    PUBLIC_OPINION = "PUBLIC_OPINION"  # Art. 19, 20
    SOCIAL_MOBILIZATION = "SOCIAL_MOBILIZATION"  # Art. 19, 20


# Functions with public-opinion attributes or social-mobilisation capacity need a filing too.
FILED_FUNCTIONS = frozenset({Function.PUBLIC_OPINION, Function.SOCIAL_MOBILIZATION})
ARTICLE_OF = {
    Function.BIOMETRIC_EDITING: "Art. 15",
    Function.SENSITIVE_SCENES: "Art. 15",
    Function.PUBLIC_OPINION: "Art. 20",
    Function.SOCIAL_MOBILIZATION: "Art. 20",
}
# Service kinds that generate or edit faces or voices (Art. 17 (2), (3)): Art. 15 (1) asks
# for an assessment.
BIOMETRIC_KINDS = frozenset(
    kind for kind in EXPLICIT_LABEL_KINDS if kind.startswith(("VOICE_", "FACE_", "POSTURE_"))
)
BIOMETRIC_CATEGORIES = frozenset({"VOICE_GENERATION", "BIOMETRIC_IMAGE_VIDEO"})
# Kinds that edit a real person's face or voice: Art. 14 asks for that person's consent.
EDITED_FEATURE = {
    "FACE_SWAP": "FACE",
    "FACE_MANIPULATION": "FACE",
    "POSTURE_MANIPULATION": "FACE",
    "VOICE_IMITATION": "VOICE",
}


@dataclass(frozen=True, slots=True)
class GateResult:
    check: Record
    blocked: str | None = None
    """The reason, when the artifact may not pass."""
    alert: Record | None = None
    filing_number: str | None = None


@dataclass(frozen=True, slots=True)
class GateViews:
    """The live registry views the gates read (RegistryReader keeps them current)."""

    realname: Mapping[str, Record] = field(default_factory=dict)
    consents: Mapping[str, Record] = field(default_factory=dict)
    services: Mapping[str, Record] = field(default_factory=dict)
    news_sources: Mapping[str, Record] = field(default_factory=dict)


def run_gates(envelope: Record, views: GateViews, now: int) -> list[GateResult]:
    results = [realname_gate(envelope, views.realname), news_gate(envelope, views.news_sources)]
    if envelope["origin"] == "GENERATED":
        # Art. 14, 15, 19, 20 bind the provider whose service made the content; content a
        # platform spreads is checked for its labels instead (Art. 18).
        results += [
            service_gate(envelope, views.services, now),
            consent_gate(envelope, views.consents, now),
        ]
    return results


def realname_gate(envelope: Record, realname: Mapping[str, Record]) -> GateResult:
    """Art. 9: no publication for users whose real identity is not verified."""
    user_id = envelope["user_id"]
    entry = realname.get(user_id)
    status = entry["status"] if entry else "UNKNOWN"
    if entry is not None and status == "VERIFIED":
        detail = f"verified by {entry['method']}"
        return GateResult(check("Art. 9", "realname.verified", STAGE, Outcome.PASS, detail))
    reason = (
        f"user {user_id} has no real-name record"
        if entry is None
        else f"user {user_id} real-name status is {status}"
    )
    return _blocked(
        envelope,
        "Art. 9",
        "realname.verified",
        reason,
        AlertKind.UNVERIFIED_USER,
        AlertSeverity.MEDIUM,
        {"realname_status": status},
    )


def exercised_functions(envelope: Record) -> set[Function]:
    """What the artifact itself shows the service doing."""
    biometric = (
        envelope["service_kind"] in BIOMETRIC_KINDS
        or envelope["tech_category"] in BIOMETRIC_CATEGORIES
        or bool(envelope["biometric_subjects"])
    )
    return {Function.BIOMETRIC_EDITING} if biometric else set()


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What an app distribution platform checks (Art. 13) and what the gate enforces."""

    service_id: str
    registered: bool
    problems: tuple[str, ...]
    assessed: dict[str, str]
    """function -> assessment reference, for the valid ones."""
    filing_number: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "registered": self.registered,
            "compliant": not self.problems,
            "problems": list(self.problems),
            "assessments": self.assessed,
            "filing_number": self.filing_number,
        }


def service_status(
    service_id: str,
    entry: Record | None,
    now: int,
    also_needs: set[Function] | None = None,
    provider_id: str | None = None,
) -> ServiceStatus:
    """Art. 15, 20: a valid security assessment for every function offered (and for
    `also_needs`, what an artifact shows it doing); Art. 19: a filing for public-opinion or
    social-mobilisation functions; and, given `provider_id`, that the service is that
    provider's."""
    needs = set(also_needs or ())
    if entry is None:
        problems = [
            f"no security assessment on record for {function.value} ({ARTICLE_OF[function]})"
            for function in sorted(needs)
        ]
        return ServiceStatus(service_id, False, tuple(problems), {}, None)
    needs |= {Function(name) for name in entry["functions"]}
    valid = {
        a["function"]: a["reference"]
        for a in entry["assessments"]
        if a["completed_at"] <= now and (a["expires_at"] is None or a["expires_at"] > now)
    }
    problems = []
    if provider_id is not None and entry["provider_id"] != provider_id:
        problems.append(f"registered to provider {entry['provider_id']}, not {provider_id}")
    for function in sorted(needs):
        if function.value not in valid:
            expired = any(a["function"] == function.value for a in entry["assessments"])
            problems.append(
                f"security assessment for {function.value} "
                f"{'expired or not yet complete' if expired else 'missing'} "
                f"({ARTICLE_OF[function]})"
            )
    filed = entry["filing_status"] == "FILED" and bool(entry["filing_number"])
    if needs & FILED_FUNCTIONS and not filed:
        problems.append(f"no algorithm filing (status {entry['filing_status']}) (Art. 19)")
    assessed = {name: ref for name, ref in valid.items() if Function(name) in needs}
    return ServiceStatus(
        service_id, True, tuple(problems), assessed, entry["filing_number"] if filed else None
    )


def service_gate(envelope: Record, services: Mapping[str, Record], now: int) -> GateResult:
    service_id = envelope["service_id"]
    entry = services.get(service_id)
    status = service_status(
        service_id, entry, now, exercised_functions(envelope), envelope["provider_id"]
    )
    if not status.problems:
        detail = (
            "; ".join(f"{name} assessed ({ref})" for name, ref in sorted(status.assessed.items()))
            or "no function that needs an assessment"
        )
        if status.filing_number:
            detail += f"; filing {status.filing_number}"
        return GateResult(
            check("Art. 15, 19, 20", "service.assessed", STAGE, Outcome.PASS, detail),
            filing_number=status.filing_number,
        )
    unfiled = any("(Art. 19)" in problem for problem in status.problems)
    return _blocked(
        envelope,
        "Art. 15, 19, 20",
        "service.assessed",
        f"service {service_id}: " + "; ".join(status.problems),
        AlertKind.UNFILED_SERVICE if unfiled else AlertKind.UNASSESSED_SERVICE,
        AlertSeverity.HIGH,
        {"registered": str(status.registered).lower()},
    )


def consent_gate(envelope: Record, consents: Mapping[str, Record], now: int) -> GateResult:
    """Art. 14: every person whose face or voice is edited gave separate consent, to this user,
    for this use, still in force."""
    kind = envelope["service_kind"]
    subjects = envelope["biometric_subjects"]
    if not subjects:
        if kind not in EDITED_FEATURE:
            return GateResult(
                check("Art. 14", "consent.biometric", STAGE, Outcome.NOT_APPLICABLE, "no one")
            )
        problems = [f"a {kind} artifact names no edited person, so no consent can be checked"]
    else:
        problems = [
            problem
            for subject in subjects
            if (problem := _consent_problem(envelope, subject, consents, now))
        ]
    if not problems:
        detail = ", ".join(f"{s['subject_id']} ({s['consent_id']})" for s in subjects)
        return GateResult(
            check("Art. 14", "consent.biometric", STAGE, Outcome.PASS, f"consent of {detail}")
        )
    return _blocked(
        envelope,
        "Art. 14",
        "consent.biometric",
        "; ".join(problems),
        AlertKind.UNCONSENTED_BIOMETRIC,
        AlertSeverity.HIGH,
        {"subjects": ",".join(s["subject_id"] for s in subjects), "service_kind": kind},
    )


def _consent_problem(
    envelope: Record, subject: Record, consents: Mapping[str, Record], now: int
) -> str:
    who = f"{subject['feature'].lower()} of {subject['subject_id']}"
    if subject["consent_id"] is None:
        return f"{who}: no consent reference"
    consent = consents.get(subject["consent_id"])
    if consent is None:
        return f"{who}: consent {subject['consent_id']} not in the registry"
    kind = envelope["service_kind"]
    expected_feature = EDITED_FEATURE.get(kind, subject["feature"])
    for broken, why in (
        (consent["subject_id"] != subject["subject_id"], f"given by {consent['subject_id']}"),
        (consent["user_id"] != envelope["user_id"], f"given to {consent['user_id']}"),
        (
            subject["feature"] not in consent["features"]
            or expected_feature not in consent["features"],
            f"covers {'/'.join(consent['features']) or 'nothing'}",
        ),
        (kind not in consent["uses"], f"does not cover {kind}"),
        (consent["granted_at"] > now, "not yet granted"),
        (consent["revoked_at"] is not None and consent["revoked_at"] <= now, "revoked"),
        (consent["expires_at"] is not None and consent["expires_at"] <= now, "expired"),
    ):
        if broken:
            return f"{who}: consent {consent['consent_id']} {why}"
    return ""


def news_gate(envelope: Record, sources: Mapping[str, Record]) -> GateResult:
    """Art. 6: news is reposted only from units on the state news source list."""
    if not envelope["is_news"]:
        return GateResult(
            check("Art. 6", "news.source", STAGE, Outcome.NOT_APPLICABLE, "not marked as news")
        )
    source_id = envelope["news_source"]
    entry = sources.get(source_id or "")
    if entry is not None and entry["status"] == "APPROVED":
        detail = f"reposted from {entry['name']} ({source_id})"
        return GateResult(check("Art. 6", "news.source", STAGE, Outcome.PASS, detail))
    why = (
        "names no source"
        if not source_id
        else f"source {source_id} is {'not on the list' if entry is None else entry['status']}"
    )
    return _blocked(
        envelope,
        "Art. 6",
        "news.source",
        f"possible false news: news {why} of approved news sources",
        AlertKind.POSSIBLE_FALSE_NEWS,
        AlertSeverity.MEDIUM,
        {"news_source": source_id or ""},
    )


def _blocked(  # noqa: PLR0917 - one call per gate, each naming all of these
    envelope: Record,
    article: str,
    rule: str,
    reason: str,
    kind: AlertKind,
    severity: AlertSeverity,
    evidence: dict[str, str],
) -> GateResult:
    return GateResult(
        check(article, rule, STAGE, Outcome.FAIL, reason),
        blocked=f"{article}: {reason}",
        alert=alert(
            kind,
            severity,
            article,
            f"publication blocked: {reason}",
            artifact_id=envelope["artifact_id"],
            user_id=envelope["user_id"],
            evidence=evidence,
        ),
    )
