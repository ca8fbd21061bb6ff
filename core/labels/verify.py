"""Classify a piece of text by its labels (Art. 18: labels must not be deleted or altered)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from synthguard.labels.aigc import AigcRecord, MalformedRecordError
from synthguard.labels.signing import Keyring, SignatureCheck, SigState, check, content_digest
from synthguard.labels.text import (
    has_explicit_label,
    read_labeled_file,
    text_bytes,
)


class LabelStatus(StrEnum):
    INTACT = "intact"  # a signature we hold matches the content and the record
    ALTERED = "altered"  # a record is there but does not match (or cannot be read)
    # Media only: the record is gone (or never was) but our invisible watermark is in the pixels.
    WATERMARK_ONLY = "watermark_only"
    EXPLICIT_ONLY = "explicit_only"  # record stripped, the visible label is still there
    UNLABELED = "unlabeled"  # neither a record nor a visible label
    UNKNOWN_KEY = "unknown_key"  # signed with a key id we do not hold: cannot tell
    # A well-formed record with nothing we can check: ReservedCode1/2 empty, or another
    # provider's scheme. Not "intact" (nothing proves it) and not "altered" (nothing disproves).
    UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict and the reason, in words a regulator report or complaint answer can quote."""

    status: LabelStatus
    record: AigcRecord | None
    explicit: bool
    detail: str
    producer_status: SigState | None = None
    propagator_status: SigState | None = None

    def to_json_dict(self) -> dict[str, object]:
        """For the CLI's ``--json``: plain strings, the record under the standard's names."""
        return {
            "status": self.status.value,
            "explicit": self.explicit,
            "detail": self.detail,
            "producer_signature": self.producer_status and self.producer_status.value,
            "propagator_signature": self.propagator_status and self.propagator_status.value,
            "record": None if self.record is None else self.record.to_fields(),
        }


def verify_text(text: str, record: AigcRecord | None, keyring: Keyring) -> Verification:
    """Classify `text` (the exact labeled content) against its `record`, if it has one."""
    explicit = has_explicit_label(text)
    if record is None:
        if explicit:
            detail = "no AIGC record, but the visible AI label is present (record stripped?)"
            return Verification(LabelStatus.EXPLICIT_ONLY, None, True, detail)
        return Verification(
            LabelStatus.UNLABELED, None, False, "no AIGC record, no visible AI label"
        )
    signatures = check(record, content_digest(text_bytes(text)), keyring)
    status, detail = classify_signatures(signatures)
    return Verification(
        status, record, explicit, detail, signatures.producer, signatures.propagator
    )


def verify_file(path: Path, keyring: Keyring) -> Verification:
    """Read `path` (and its sidecar) and classify it; a non-UTF-8 file raises LabelError."""
    try:
        text, record = read_labeled_file(path)
    except MalformedRecordError as exc:
        return Verification(
            LabelStatus.ALTERED, None, has_explicit_label(exc.body), f"malformed AIGC record: {exc}"
        )
    return verify_text(text, record, keyring)


def classify_signatures(signatures: SignatureCheck) -> tuple[LabelStatus, str]:
    """The verdict a record's two reserved codes give, for any modality."""
    producer, propagator = signatures.producer, signatures.propagator
    producer_key, propagator_key = signatures.producer_kid, signatures.propagator_kid
    # Any mismatch wins: one valid signature does not excuse an altered other half.
    if producer is SigState.INVALID:
        return LabelStatus.ALTERED, _mismatch("producer", producer_key)
    if propagator is SigState.INVALID:
        return LabelStatus.ALTERED, _mismatch("propagator", propagator_key)
    if producer is SigState.VALID:
        detail = f"producer signature valid (key {producer_key})"
        if propagator is not SigState.UNSIGNED:
            detail += f"; propagator signature {_describe(propagator, propagator_key)}"
        return LabelStatus.INTACT, detail
    if propagator is SigState.VALID:
        # The propagator's MAC covers the content and every other field, producer's included.
        return LabelStatus.INTACT, (
            f"propagator signature valid (key {propagator_key}); "
            f"producer signature {_describe(producer, producer_key)}"
        )
    if SigState.UNKNOWN_KEY in (producer, propagator):
        kid = producer_key if producer is SigState.UNKNOWN_KEY else propagator_key
        return LabelStatus.UNKNOWN_KEY, f"signed with key id {kid!r}, which this keyring lacks"
    return LabelStatus.UNVERIFIED, (
        f"no signature this keyring can check (producer {_describe(producer, producer_key)}, "
        f"propagator {_describe(propagator, propagator_key)})"
    )


def _mismatch(role: str, kid: str | None) -> str:
    if kid is None:
        return f"{role} signature malformed"
    return f"{role} signature mismatch (key {kid}): content or label fields altered"


def _describe(state: SigState, kid: str | None) -> str:
    words = {
        SigState.VALID: "valid",
        SigState.INVALID: "mismatch",
        SigState.UNSIGNED: "absent",
        SigState.UNKNOWN_KEY: "by a key this keyring lacks",
        SigState.FOREIGN: "in a scheme we do not verify",
    }[state]
    return f"{words} (key {kid})" if kid else words
