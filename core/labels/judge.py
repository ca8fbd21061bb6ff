"""The Art. 18 verdict for any media file, from what its three labels say.

Images, audio and video differ in where the record lives, what the signature covers and how
the watermark is found; once those are read, the verdict is the same: a record checked
against the content digest, a watermark that must belong to that record, and a visible (or
audible) label that remains when the other two are gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from synthguard.errors import LabelError
from synthguard.labels.aigc import AigcRecord, MalformedRecordError, parse_json
from synthguard.labels.signing import Keyring, check
from synthguard.labels.verify import LabelStatus, Verification, classify_signatures
from synthguard.watermark import Detection

# Audio and video carry the record as one container tag, `AIGC`, holding the seven fields as a
# JSON object (MP4 moov/udta/meta keys, MP3 ID3v2 TXXX, FLAC/Vorbis comments).
RECORD_TAG: Final = "AIGC"


def record_from_tags(tags: Mapping[str, str]) -> AigcRecord | MalformedRecordError | None:
    """The record in a container's tags: None when there is none, an error when unreadable."""
    raw = tags.get(RECORD_TAG)
    if raw is None:
        return None
    try:
        fields = parse_json(raw)
        if not isinstance(fields, dict):
            raise LabelError("the AIGC tag must hold a JSON object")
        return AigcRecord.from_fields(fields)
    except LabelError as exc:
        return MalformedRecordError(str(exc), body=raw)


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


class VerifiedMedia:
    """What every medium's verification shares; subclasses are dataclasses holding `verdict`
    and what only their medium can tell."""

    __slots__ = ()
    verdict: MediaVerdict

    @property
    def verification(self) -> Verification:
        return self.verdict.verification

    @property
    def watermark(self) -> Detection:
        return self.verdict.watermark

    @property
    def status(self) -> LabelStatus:
        return self.verification.status

    def report(self, medium: dict[str, object]) -> dict[str, object]:
        """The CLI's `--json`: the verdict, then `medium`'s own fields, then the watermark."""
        return {
            **self.verification.to_json_dict(),
            **medium,
            "watermark": self.verdict.watermark_json(),
        }


def require_intact(found: VerifiedMedia, what: str, *, watermark: bool = True) -> None:
    """Our own fresh output must verify intact, with its watermark unless `watermark` is False
    (media too short to confirm it): anything else is a defect, never published (LabelError)."""
    if found.status is not LabelStatus.INTACT or (watermark and not found.watermark.found):
        raise LabelError(f"labeled {what} failed verification: {found.verification.detail}")


def expected_watermark(record: AigcRecord | MalformedRecordError | None) -> int | None:
    """The watermark ID a readable record names; None for a propagator-only record (possibly
    or suspected content names no producer to tie to) or no record."""
    # Imported here: labels.image imports this module for the same verdict.
    from synthguard.labels.image import watermark_id

    if not isinstance(record, AigcRecord) or not record.produce_id:
        return None
    return watermark_id(record.content_producer, record.produce_id)


def judge(
    record: AigcRecord | MalformedRecordError | None,
    digest: bytes,
    mark: Detection,
    explicit: bool,
    keyring: Keyring,
) -> MediaVerdict:
    """`record` as read from the file (None: there is none; an error: it cannot be read)."""
    if isinstance(record, MalformedRecordError):
        verdict = Verification(
            LabelStatus.ALTERED, None, explicit, f"malformed AIGC record: {record}"
        )
        return MediaVerdict(verdict, mark, None)
    if record is None:
        return MediaVerdict(_unrecorded(mark, explicit), mark, None)
    signatures = check(record, digest, keyring)
    status, detail = classify_signatures(signatures)
    expected = expected_watermark(record)
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
            LabelStatus.EXPLICIT_ONLY,
            None,
            True,
            "no AIGC record or watermark; the explicit (visible or audible) label remains",
        )
    return Verification(
        LabelStatus.UNLABELED, None, False, "no AIGC record, no watermark, no explicit label"
    )
