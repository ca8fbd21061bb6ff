"""The image path after the Art. 9 gate: fetch the claim check, label what our provider
generated (Art. 16-18), or verify and re-label what a platform spreads (Art. 18; 2025
Labeling Measures Art. 6), and store the labeled file beside the original.

Pure apart from the blob store; the streams layer runs it in worker processes because
decoding, drawing and watermarking a photo is CPU work the event loop must not wait on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from synthguard.blobs import BlobRef, BlobStore
from synthguard.labeling import (
    EXPLICIT_LABEL_KINDS,
    PLATFORM_NOTICE,
    explicit_check,
    implicit_check,
    media_label,
    propagated_label,
    signature_check,
)
from synthguard.labels.aigc import AigcRecord
from synthguard.labels.audio import PropagatedAudio
from synthguard.labels.image import (
    Classification,
    LabeledImage,
    PropagatedImage,
    label_image,
    propagate_image,
)
from synthguard.labels.judge import VerifiedMedia
from synthguard.labels.signing import Keyring
from synthguard.labels.verify import LabelStatus
from synthguard.labels.video import PropagatedVideo
from synthguard.labels.visible import Corner
from synthguard.media.image_io import MIME_OF
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
    violation,
)
from synthguard.review.hashing import image_hashes
from synthguard.review.manual import hold

STAGE = "label"

# Stripping or altering a label is what Art. 18 forbids; "explicit only" means the implicit
# label and the watermark are both gone while our visible label remains.
TAMPERED: Final = frozenset(
    {LabelStatus.ALTERED, LabelStatus.WATERMARK_ONLY, LabelStatus.EXPLICIT_ONLY}
)


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    producer_id: str
    propagator_id: str
    keyring: Keyring
    notice: str
    corner: Corner
    max_pixels: int
    max_blob_bytes: int


def label_image_artifact(state: Record, policy: ImagePolicy, store: BlobStore) -> StageOutput:
    """An admitted IMAGE artifact's state in; its labels, checks and verdict out. Bad media
    raises MediaError / BlobError, which the streams layer dead-letters with the reason."""
    env = state["envelope"]
    ref = BlobRef.from_record(env["blob"])
    data = store.get(ref, max_bytes=policy.max_blob_bytes)
    state["media_hashes"] = image_hashes(data, declared_mime=ref.mime, max_pixels=policy.max_pixels)
    if env["origin"] == "REDISTRIBUTED":
        output = _propagate(state, data, ref, policy, store)
    else:
        output = _produce(state, data, ref, policy, store)
    state["stages"][STAGE] = now_ms()
    return output


def _produce(
    state: Record, data: bytes, ref: BlobRef, policy: ImagePolicy, store: BlobStore
) -> StageOutput:
    env = state["envelope"]
    kind = env["service_kind"]
    explicit = kind in EXPLICIT_LABEL_KINDS
    labeled = label_image(
        data,
        produce_id=env["artifact_id"],
        producer=policy.producer_id,
        keyring=policy.keyring,
        notice=policy.notice if explicit else None,
        corner=policy.corner,
        declared_mime=ref.mime,
        max_pixels=policy.max_pixels,
    )
    out = store.put(labeled.data, mime=labeled.mime, name=env["artifact_id"])
    state["label"] = _applied(labeled, out)
    record = labeled.record
    wm = labeled.watermark_id
    state["checks"] += [
        implicit_check(record, f"{labeled.format} metadata"),
        check(
            "Art. 16",
            "label.watermark",
            STAGE,
            Outcome.APPLIED if wm is not None else Outcome.NOT_APPLICABLE,
            f"invisible watermark ID {wm:016x} in luminance"
            if wm is not None
            else "image smaller than one 128x128 watermark tile; metadata label only",
        ),
        explicit_check(
            kind,
            f"visible label {policy.notice!r} at {policy.corner.value}, text height >= 5% of "
            "the shortest side (GB 45438-2025)"
            if explicit
            else None,
        ),
        signature_check(policy.keyring, f"the decoded pixels (sha256 {labeled.digest_hex[:16]}…)"),
    ]
    return StageOutput(forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, []))


def _applied(labeled: LabeledImage, out: BlobRef) -> Record:
    return media_label(
        labeled.record,
        explicit=labeled.explicit,
        notice=labeled.notice,
        digest_hex=labeled.digest_hex,
        blob=out,
        watermark_id=labeled.watermark_id,
    )


def _propagate(
    state: Record, data: bytes, ref: BlobRef, policy: ImagePolicy, store: BlobStore
) -> StageOutput:
    env = state["envelope"]
    result = propagate_image(
        data,
        propagator=policy.propagator_id,
        propagate_id=env["artifact_id"],
        keyring=policy.keyring,
        declared_ai=env["declared_ai"],
        notice=policy.notice,
        declared_mime=ref.mime,
        max_pixels=policy.max_pixels,
    )
    label = None if result.record is None else _propagated(result, result.record, store)
    return propagation_output(
        state, policy.propagator_id, result.incoming, result.classification, label, "image"
    )


def propagation_output(  # noqa: PLR0917 - one call per medium, each naming all six
    state: Record,
    propagator_id: str,
    incoming: VerifiedMedia,
    classification: Classification,
    label: Record | None,
    what: str,
) -> StageOutput:
    """The decision on content a platform spreads, for any medium: its incoming label checked
    (Art. 18), its classification and propagator fields recorded (Measures Art. 6), and a
    stripped or altered label held with a high-risk alert and a strike."""
    env = state["envelope"]
    found = incoming.verification
    tampered = found.status in TAMPERED
    state["checks"].append(
        check(
            "Art. 18",
            "label.incoming",
            STAGE,
            Outcome.FAIL if tampered else Outcome.PASS,
            f"incoming label {found.status.value}: {found.detail}",
        )
    )
    state["label"] = label
    state["checks"].append(
        check(
            "Art. 16",
            "label.propagation",
            STAGE,
            Outcome.APPLIED if label is not None else Outcome.NOT_APPLICABLE,
            f"{classification.value} AI-generated; ContentPropagator={propagator_id}, "
            f"platform prompt {PLATFORM_NOTICE[classification]!r}"
            if classification in PLATFORM_NOTICE
            else "no implicit label, no declaration, no trace of generation: not labeled",
        )
    )
    state["stages"][STAGE] = now_ms()
    if not tampered:
        return StageOutput(
            forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, [])
        )
    reason = f"Art. 18: label {found.status.value} ({found.detail})"
    return hold(
        state,
        [reason],
        [f"incoming label {found.status.value}: {found.detail}"],
        alerts=[
            alert(
                AlertKind.TAMPERED_LABEL,
                AlertSeverity.HIGH,
                "Art. 18",
                f"high risk: AI label {found.status.value} on redistributed {what}",
                artifact_id=env["artifact_id"],
                user_id=env["user_id"],
                evidence={
                    "status": found.status.value,
                    "detail": found.detail,
                    "watermark_found": str(incoming.watermark.found).lower(),
                },
            )
        ],
        violations=[violation(env, "Art. 18", reason)],
    )


def file_propagation_output(  # noqa: PLR0917 - the two file media, each naming all
    state: Record,
    propagator_id: str,
    result: PropagatedAudio | PropagatedVideo,
    dst: Path,
    store: BlobStore,
    mime: str,
    what: str,
) -> StageOutput:
    """`propagation_output` for audio and video, re-recorded into `dst`: stored and labeled
    when the propagation wrote it (it does not when nothing suggests generation)."""
    label = None
    if result.record is not None:
        out = store.put_file(dst, mime=mime, name=state["envelope"]["artifact_id"])
        label = propagated_label(
            result.record,
            result.classification,
            result.incoming,
            digest_hex=result.digest_hex,
            blob=out,
        )
    return propagation_output(
        state, propagator_id, result.incoming, result.classification, label, what
    )


def _propagated(result: PropagatedImage, record: AigcRecord, store: BlobStore) -> Record:
    out = store.put(result.data, mime=MIME_OF[result.incoming.format], name=record.propagate_id)
    return propagated_label(
        record, result.classification, result.incoming, digest_hex=result.digest_hex, blob=out
    )
