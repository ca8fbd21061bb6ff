"""Label stage: implicit record on every artifact (Art. 16), visible notice where the public
could be confused (Art. 17), and a keyed signature so tampering is detectable (Art. 18)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from synthguard.blobs import BlobRef
from synthguard.labels.aigc import AigcRecord
from synthguard.labels.image import Classification
from synthguard.labels.judge import VerifiedMedia
from synthguard.labels.signing import Keyring
from synthguard.labels.text import NoticePosition, label_text
from synthguard.records import Outcome, Record, check, now_ms

STAGE = "label"

# Art. 17 (1)-(5): service kinds that "might cause confusion or mislead the public" and so
# must carry a conspicuous label. OTHER is the second paragraph: offer labeling, don't force it.
EXPLICIT_LABEL_KINDS = frozenset(
    {
        "DIALOGUE",
        "WRITING",
        "VOICE_SYNTHESIS",
        "VOICE_IMITATION",
        "FACE_GENERATION",
        "FACE_SWAP",
        "FACE_MANIPULATION",
        "POSTURE_MANIPULATION",
        "IMMERSIVE_SCENE",
        "OTHER_GENERATION",
    }
)


@dataclass(frozen=True, slots=True)
class LabelPolicy:
    producer_id: str
    keyring: Keyring
    notice_zh: str
    notice_en: str
    position: NoticePosition


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def mostly_cjk(text: str, sample: int = 400) -> bool:
    """Pick the notice language from the text itself: non-ASCII characters (Chinese, in
    practice) against Latin words, over a sample. A word reads about as long as a character."""
    head = text[:sample]
    wide = len(head) - len(head.encode("ascii", "ignore"))
    return wide > 0 and wide >= len(_LATIN_WORD.findall(head))


def label_text_artifact(state: Record, policy: LabelPolicy) -> Record:
    """Labels always apply; the state comes back with its label and three checks."""
    env = state["envelope"]
    text: str = env["text"]
    explicit = env["service_kind"] in EXPLICIT_LABEL_KINDS
    notice = (policy.notice_zh if mostly_cjk(text) else policy.notice_en) if explicit else None
    labeled = label_text(
        text,
        produce_id=env["artifact_id"],
        producer=policy.producer_id,
        keyring=policy.keyring,
        notice=notice,
        position=policy.position,
    )
    record = labeled.record
    state["label"] = {
        "record": record.to_fields(),
        "explicit": labeled.explicit,
        "notice": notice,
        "digest": labeled.digest_hex,
        "labeled_text": labeled.text,
    }
    kind = env["service_kind"]
    state["checks"] += [
        implicit_check(record),
        explicit_check(kind, f"notice {notice!r} at {policy.position.value}" if explicit else None),
        signature_check(policy.keyring, f"sha256 {labeled.digest_hex[:16]}…"),
    ]
    state["stages"][STAGE] = now_ms()
    return state


def media_label(
    record: AigcRecord,
    *,
    explicit: bool,
    notice: str | None,
    digest_hex: str,
    blob: BlobRef,
    watermark_id: int | None,
    classification: str = "confirmed",
    incoming: str | None = None,
) -> Record:
    """The state's `label` for a labeled media file (synthguard.AppliedLabel v2)."""
    return {
        "record": record.to_fields(),
        "explicit": explicit,
        "notice": notice,
        "digest": digest_hex,
        "labeled_text": None,
        "blob": blob.to_record(),
        "watermark_id": None if watermark_id is None else f"{watermark_id:016x}",
        "classification": classification,
        "incoming": incoming,
    }


# The prompt a platform shows beside content it spreads (Measures Art. 6 (1)-(3)); each holds
# GB 45438's AI element and generation element.
PLATFORM_NOTICE: Final = {
    Classification.CONFIRMED: "AI生成",
    Classification.POSSIBLY: "可能为AI生成",
    Classification.SUSPECTED: "疑似AI生成",
}


def propagated_label(
    record: AigcRecord,
    classification: Classification,
    incoming: VerifiedMedia,
    *,
    digest_hex: str,
    blob: BlobRef,
) -> Record:
    """The `label` of media a platform spreads: its record with our propagator fields."""
    mark = incoming.watermark
    return media_label(
        record,
        explicit=False,
        notice=PLATFORM_NOTICE[classification],
        digest_hex=digest_hex,
        blob=blob,
        watermark_id=mark.payload if mark.found else None,
        classification=classification.value,
        incoming=incoming.status.value,
    )


def implicit_check(record: AigcRecord, where: str = "") -> Record:
    """The Art. 16 check for the record just written (`where`: its place in the file)."""
    place = f" in {where}" if where else ""
    return check(
        "Art. 16",
        "label.implicit",
        STAGE,
        Outcome.APPLIED,
        f"AIGC record{place}, Label={record.label.value} ProduceID={record.produce_id}",
    )


def explicit_check(kind: str, applied: str | None) -> Record:
    """The Art. 17 check: `applied` says what visible label went on, None when `kind` is not
    one of Art. 17 (1)-(5)."""
    if applied is None:
        detail = f"{kind} is not an Art. 17 (1)-(5) service; visible label offered, not forced"
        return check("Art. 17", "label.explicit", STAGE, Outcome.NOT_APPLICABLE, detail)
    return check("Art. 17", "label.explicit", STAGE, Outcome.APPLIED, f"{applied} for {kind}")


def signature_check(keyring: Keyring, over: str) -> Record:
    """The Art. 18 check: which key signed, over what."""
    detail = f"signed with key {keyring.active} over {over}"
    return check("Art. 18", "label.signature", STAGE, Outcome.APPLIED, detail)
