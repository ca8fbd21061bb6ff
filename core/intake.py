"""Intake: envelope rules the schema cannot express, then the admission gates (Art. 6, 9,
14, 15, 19, 20; synthguard.gates)."""

from __future__ import annotations

from typing import Final

from synthguard.complaints.reopen import overrule, overruled
from synthguard.errors import ValidationError
from synthguard.gates import STAGE, GateViews, run_gates
from synthguard.records import (
    Outcome,
    Record,
    StageOutput,
    Verdict,
    compliance_record,
    new_state,
    now_ms,
)

SUPPORTED_MODALITIES = frozenset({"TEXT", "IMAGE", "AUDIO", "VIDEO"})
# Modalities that ride by claim check, with the mime family their blob must have.
MEDIA_MIME: Final = {"IMAGE": "image/", "AUDIO": "audio/", "VIDEO": "video/"}
MAX_ID_LENGTH = 128


def validate_envelope(
    envelope: Record, max_text_bytes: int, max_blob_bytes: int, max_av_bytes: int | None = None
) -> None:
    """Raise ValidationError (not retryable: dead-lettered) for envelopes no stage can use.
    Images are capped at `max_blob_bytes`, audio and video at `max_av_bytes` (default: the
    same)."""
    for name in ("artifact_id", "provider_id", "service_id", "user_id"):
        value = envelope[name]
        if not value.strip() or len(value) > MAX_ID_LENGTH:
            raise ValidationError(f"{name} must be 1-{MAX_ID_LENGTH} non-blank characters")
        if not value.isprintable():  # control characters: keys of our own in tables use NUL
            raise ValidationError(f"{name} must not contain control characters")
    modality = envelope["modality"]
    if modality not in SUPPORTED_MODALITIES:
        raise ValidationError(f"modality {modality} is not handled by this pipeline version")
    if modality in MEDIA_MIME:
        cap = max_blob_bytes if modality == "IMAGE" else (max_av_bytes or max_blob_bytes)
        _validate_blob(envelope.get("blob"), modality, cap)
        return
    text = envelope.get("text")
    if text is None:
        raise ValidationError("a TEXT artifact needs inline text")
    if not text.strip():
        raise ValidationError("text is empty")
    size = len(text.encode("utf-8"))
    if size > max_text_bytes:
        raise ValidationError(
            f"text is {size} bytes, over the {max_text_bytes}-byte limit (max_text_bytes)"
        )


def _validate_blob(blob: Record | None, modality: str, cap: int) -> None:
    # Media rides by claim check: the envelope names where it lies, never carries it.
    if blob is None:
        raise ValidationError(
            f"an {modality} artifact needs a blob reference (uri, sha256, size, mime)"
        )
    family = MEDIA_MIME[modality]
    if not blob["mime"].lower().startswith(family):
        raise ValidationError(
            f"an {modality} artifact's blob has mime {blob['mime']!r}, not {family}*"
        )
    if not 0 < blob["size"] <= cap:
        setting = "max_blob_bytes" if modality == "IMAGE" else "max_av_bytes"
        raise ValidationError(f"blob size {blob['size']} is outside 1..{cap} bytes ({setting})")


def admit(
    envelope: Record,
    views: GateViews,
    max_text_bytes: int,
    max_blob_bytes: int,
    max_av_bytes: int | None = None,
) -> StageOutput:
    """Validate, then run every admission gate against the live registry views; a failed gate
    blocks the artifact with its reasons and alerts (synthguard.gates)."""
    validate_envelope(envelope, max_text_bytes, max_blob_bytes, max_av_bytes)
    state = new_state(envelope)
    results = run_gates(envelope, views, now_ms())
    state["checks"] += [result.check for result in results]
    state["stages"][STAGE] = now_ms()
    state["filing_number"] = next((r.filing_number for r in results if r.filing_number), None)
    reasons = [result.blocked for result in results if result.blocked]
    if reasons and (note := overruled(envelope)):
        # An upheld appeal (Art. 12): the reviewer overruled the block; the record keeps why.
        state["checks"] = [
            overrule(c, note) if c["outcome"] == Outcome.FAIL else c for c in state["checks"]
        ]
        return StageOutput(forward=state)
    if not reasons:
        return StageOutput(forward=state)
    return StageOutput(
        compliance=compliance_record(state, Verdict.BLOCKED, reasons),
        alerts=[result.alert for result in results if result.alert is not None],
    )
