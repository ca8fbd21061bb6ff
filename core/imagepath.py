"""The image path after the Art. 9 gate: fetch the claim check, label what our provider
generated (Art. 16-18), or verify and re-label what a platform spreads (Art. 18; 2025
Labeling Measures Art. 6), and store the labeled file beside the original.

Pure apart from the blob store; the streams layer runs it in worker processes because
decoding, drawing and watermarking a photo is CPU work the event loop must not wait on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from synthguard.blobs import BlobRef, BlobStore
from synthguard.labeling import EXPLICIT_LABEL_KINDS, explicit_check, signature_check
from synthguard.labels.aigc import AigcRecord
from synthguard.labels.image import (
    Classification,
    LabeledImage,
    PropagatedImage,
    label_image,
    propagate_image,
)
from synthguard.labels.signing import Keyring
from synthguard.labels.verify import LabelStatus
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

STAGE = "label"

# Stripping or altering a label is what Art. 18 forbids; "explicit only" means the implicit
# label and the watermark are both gone while our visible label remains.
TAMPERED: Final = frozenset(
    {LabelStatus.ALTERED, LabelStatus.WATERMARK_ONLY, LabelStatus.EXPLICIT_ONLY}
)
# The prompt a platform shows beside content it spreads (Measures Art. 6 (1)-(3)); each holds
# GB 45438's AI element and generation element.
PLATFORM_NOTICE: Final = {
    Classification.CONFIRMED: "AI生成",
    Classification.POSSIBLY: "可能为AI生成",
    Classification.SUSPECTED: "疑似AI生成",
}


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
        check(
            "Art. 16",
            "label.implicit",
            STAGE,
            Outcome.APPLIED,
            f"AIGC record in {labeled.format} metadata, Label={record.label.value} "
            f"ProduceID={record.produce_id}",
        ),
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
    return {
        "record": labeled.record.to_fields(),
        "explicit": labeled.explicit,
        "notice": labeled.notice,
        "digest": labeled.digest_hex,
        "labeled_text": None,
        "blob": out.to_record(),
        "watermark_id": None if labeled.watermark_id is None else f"{labeled.watermark_id:016x}",
        "classification": Classification.CONFIRMED.value,
        "incoming": None,
    }


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
    found = result.incoming.verification
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
    state["label"] = None if result.record is None else _propagated(result, result.record, store)
    classification = result.classification
    state["checks"].append(
        check(
            "Art. 16",
            "label.propagation",
            STAGE,
            Outcome.APPLIED if result.record is not None else Outcome.NOT_APPLICABLE,
            f"{classification.value} AI-generated; ContentPropagator={policy.propagator_id}, "
            f"platform prompt {PLATFORM_NOTICE[classification]!r}"
            if classification in PLATFORM_NOTICE
            else "no implicit label, no declaration, no trace of generation: not labeled",
        )
    )
    if not tampered:
        return StageOutput(
            forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, [])
        )
    reason = f"Art. 18: label {found.status.value} ({found.detail})"
    return StageOutput(
        compliance=compliance_record(state, Verdict.HELD, [reason]),
        alerts=[
            alert(
                AlertKind.TAMPERED_LABEL,
                AlertSeverity.HIGH,
                "Art. 18",
                f"high risk: AI label {found.status.value} on redistributed image",
                artifact_id=env["artifact_id"],
                user_id=env["user_id"],
                evidence={
                    "status": found.status.value,
                    "detail": found.detail,
                    "watermark_found": str(result.incoming.watermark.found).lower(),
                },
            )
        ],
        violations=[violation(env, "Art. 18", reason)],
    )


def _propagated(result: PropagatedImage, record: AigcRecord, store: BlobStore) -> Record:
    out = store.put(result.data, mime=MIME_OF[result.incoming.format], name=record.propagate_id)
    mark = result.incoming.watermark
    return {
        "record": record.to_fields(),
        "explicit": False,
        "notice": PLATFORM_NOTICE[result.classification],
        "digest": result.digest_hex,
        "labeled_text": None,
        "blob": out.to_record(),
        "watermark_id": f"{mark.payload:016x}" if mark.found and mark.payload is not None else None,
        "classification": result.classification.value,
        "incoming": result.incoming.status.value,
    }
