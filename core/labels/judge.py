"""The Art. 18 verdict for any media file, from what its three labels say.

Images, audio and video differ in where the record lives, what the signature covers and how
the watermark is found; once those are read, the verdict is the same: a record checked
against the content digest, a watermark that must belong to that record, and a visible (or
audible) label that remains when the other two are gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthguard.labels.aigc import AigcRecord, MalformedRecordError
from synthguard.labels.signing import Keyring, check
from synthguard.labels.verify import LabelStatus, Verification, classify_signatures
from synthguard.watermark import Detection


@dataclass(frozen=True, slots=True)
class MediaVerdict:
    verification: Verification
    watermark: Detection
    expected_watermark_id: int | None

    def watermark_json(self) -> dict[str, object]:
        mark, expected = self.watermark, self.expected_watermark_id
        found = mark.found and mark.payload is not None
        return {
            "found": found,
            "id": f"{mark.payload:016x}" if found else None,
            "bits": f"{mark.payload:064b}" if found else None,
            "confidence": round(mark.confidence, 4),
            "matches_record": None if expected is None or not found else mark.payload == expected,
            "false_positive_bound": mark.false_positive_bound,
        }


def judge(
    record: AigcRecord | MalformedRecordError | None,
    digest: bytes,
    mark: Detection,
    explicit: bool,
    keyring: Keyring,
) -> MediaVerdict:
    """`record` as read from the file (None: there is none; an error: it cannot be read)."""
    # Imported here: labels.image imports this module for the same verdict.
    from synthguard.labels.image import watermark_id

    if isinstance(record, MalformedRecordError):
        verdict = Verification(
            LabelStatus.ALTERED, None, explicit, f"malformed AIGC record: {record}"
        )
        return MediaVerdict(verdict, mark, None)
    if record is None:
        return MediaVerdict(_unrecorded(mark, explicit), mark, None)
    signatures = check(record, digest, keyring)
    status, detail = classify_signatures(signatures)
    # A propagator-only record (possibly / suspected content) names no producer to tie to.
    expected = (
        watermark_id(record.content_producer, record.produce_id) if record.produce_id else None
    )
    if mark.found and expected is not None and mark.payload != expected:
        # Someone moved a record onto other generated content, or rewrote ProduceID.
        status = LabelStatus.ALTERED
        detail = f"watermark ID {mark.payload:016x} does not belong to this record; " + detail
    elif status is LabelStatus.ALTERED and mark.found:
        detail += "; the watermark still carries this record's ID (re-encoded or edited)"
    verdict = Verification(
        status, record, explicit, detail, signatures.producer, signatures.propagator
    )
    return MediaVerdict(verdict, mark, expected)


def _unrecorded(mark: Detection, explicit: bool) -> Verification:
    if mark.found:
        return Verification(
            LabelStatus.WATERMARK_ONLY,
            None,
            explicit,
            f"no AIGC record, but the invisible watermark {mark.payload:016x} is present "
            "(metadata stripped)",
        )
    if explicit:
        return Verification(
            LabelStatus.EXPLICIT_ONLY, None, True, "no AIGC record or watermark; visible label"
        )
    return Verification(
        LabelStatus.UNLABELED, None, False, "no AIGC record, no watermark, no visible label"
    )
