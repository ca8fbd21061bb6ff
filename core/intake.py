"""Intake gates: envelope rules the schema cannot express, then real-name verification.

Art. 9: no information publication service for users whose real identity is not verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from synthguard.errors import ValidationError
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
    new_state,
    now_ms,
)

STAGE = "intake"
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
    realname: Mapping[str, Record],
    max_text_bytes: int,
    max_blob_bytes: int,
    max_av_bytes: int | None = None,
) -> StageOutput:
    """Art. 9 gate. `realname` is the live registry view: user_id -> RealNameEntry."""
    validate_envelope(envelope, max_text_bytes, max_blob_bytes, max_av_bytes)
    state = new_state(envelope)
    user_id = envelope["user_id"]
    entry = realname.get(user_id)
    status = entry["status"] if entry else "UNKNOWN"
    if status == "VERIFIED":
        state["checks"].append(
            check(
                "Art. 9",
                "realname.verified",
                STAGE,
                Outcome.PASS,
                f"verified by {entry and entry['method']}",
            )
        )
        state["stages"][STAGE] = now_ms()
        return StageOutput(forward=state)

    reason = (
        f"user {user_id} has no real-name record"
        if entry is None
        else f"user {user_id} real-name status is {status}"
    )
    state["checks"].append(check("Art. 9", "realname.verified", STAGE, Outcome.FAIL, reason))
    state["stages"][STAGE] = now_ms()
    return StageOutput(
        compliance=compliance_record(state, Verdict.BLOCKED, [f"Art. 9: {reason}"]),
        alerts=[
            alert(
                AlertKind.UNVERIFIED_USER,
                AlertSeverity.MEDIUM,
                "Art. 9",
                f"publication blocked: {reason}",
                artifact_id=envelope["artifact_id"],
                user_id=user_id,
                evidence={"realname_status": status},
            )
        ],
    )
