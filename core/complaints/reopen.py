"""Sending a decided artifact back through the pipeline on an upheld complaint.

The tracker records the reopening in the artifact's `finalized` entry and resubmits the
envelope with reserved attributes. Intake accepts those attributes only when that entry
confirms them, so a platform cannot forge an overruling; downstream stages read them from
the envelope, which travels with the artifact's state."""

from __future__ import annotations

from synthguard.errors import ValidationError
from synthguard.records import Outcome, Record

RESERVED = "synthguard."
REOPENED_BY = "synthguard.reopened_by"
REVIEWER = "synthguard.reviewer"
OVERRULE = "synthguard.overrule"


def reopening(complaint_id: str, reviewer: str, reason: str, *, overrule: bool) -> Record:
    """What the tracker writes into the artifact's `finalized` entry."""
    return {
        "complaint_id": complaint_id,
        "reviewer": reviewer,
        "reason": reason,
        "overrule": overrule,
    }


def reopened_envelope(envelope: Record, reopened: Record, **changes: object) -> Record:
    attributes = {k: v for k, v in envelope["attributes"].items() if not k.startswith(RESERVED)}
    attributes[REOPENED_BY] = reopened["complaint_id"]
    attributes[REVIEWER] = reopened["reviewer"]
    if reopened["overrule"]:
        attributes[OVERRULE] = "true"
    return {**envelope, **changes, "attributes": attributes}


def verify_reserved(envelope: Record, reopened: Record | None) -> None:
    """Reserved attributes only as the tracker wrote them for this artifact's reopening."""
    reserved = {k: v for k, v in envelope["attributes"].items() if k.startswith(RESERVED)}
    if not reserved:
        return
    expected = {} if reopened is None else reopened_envelope(envelope, reopened)["attributes"]
    if any(expected.get(k) != v for k, v in reserved.items()):
        raise ValidationError(
            f"attributes {', '.join(sorted(reserved))} are reserved for synthguard's own"
            " reopening of an artifact after an upheld complaint"
        )


def overruled(envelope: Record) -> str | None:
    """The note a blocking finding carries when an upheld appeal overrules it, else None."""
    attributes = envelope["attributes"]
    if attributes.get(OVERRULE) != "true":
        return None
    return f"overruled: appeal {attributes[REOPENED_BY]} upheld by {attributes[REVIEWER]} (Art. 12)"


def overrule(check: Record, note: str) -> Record:
    """A failed or flagged check the reviewer overruled: kept, FLAGGED, with the note."""
    return {**check, "outcome": Outcome.FLAGGED.value, "detail": f"{check['detail']}; {note}"}
