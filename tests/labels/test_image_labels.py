"""Image labels on real photographs: label, verify every Art. 18 class, propagate (Measures)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from synthguard.labels.aigc import LabelClass
from synthguard.labels.containers import insert_record, read_record, strip_record
from synthguard.labels.image import (
    Classification,
    label_image,
    pixel_digest,
    propagate_image,
    verify_image,
    watermark_id,
)
from synthguard.labels.signing import Keyring, SigState
from synthguard.labels.verify import LabelStatus
from synthguard.labels.visible import Corner, draw_label
from synthguard.media.image_io import MediaError, decode_image
from synthguard.samples.images import encode

KEYS = Keyring({"k1": b"0123456789abcdef0123"}, "k1")
OTHER_KEYS = Keyring({"x9": b"another-producer-key"}, "x9")


def _label(name: str = "coffee", fmt: str = "JPEG", notice: str | None = "AI生成") -> bytes:
    return label_image(
        encode(name, fmt), produce_id="p-1", producer="prov", keyring=KEYS, notice=notice
    ).data


def _reencode(data: bytes, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, fmt, **options)  # drops metadata
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "fmt"), [("coffee", "JPEG"), ("astronaut", "PNG"), ("chelsea", "WEBP")]
)
def test_labeled_photo_verifies_intact_in_every_format(name: str, fmt: str) -> None:
    source = encode(name, fmt)
    labeled = label_image(source, produce_id="p-1", producer="prov", keyring=KEYS)
    assert decode_image(labeled.data).format == fmt == labeled.format
    assert labeled.watermark_id == watermark_id("prov", "p-1")
    found = verify_image(labeled.data, KEYS)
    assert found.status is LabelStatus.INTACT, found.verification.detail
    assert found.verification.record == labeled.record
    assert found.verification.producer_status is SigState.VALID
    assert found.watermark.found and found.watermark.payload == labeled.watermark_id
    assert found.explicit_corner is Corner.BOTTOM_RIGHT
    report = found.to_json_dict()
    assert report["status"] == "intact" and report["record"] == labeled.record.to_fields()
    assert report["watermark"] == {
        "found": True,
        "id": f"{labeled.watermark_id:016x}",
        "bits": f"{labeled.watermark_id:064b}",
        "confidence": pytest.approx(found.watermark.confidence, abs=1e-4),
        "matches_record": True,
        "false_positive_bound": found.watermark.false_positive_bound,
    }


def test_the_signature_covers_the_decoded_pixels_of_a_lossy_file() -> None:
    labeled = label_image(encode("rocket", "JPEG"), produce_id="p", producer="prov", keyring=KEYS)
    assert pixel_digest(decode_image(labeled.data).pixels).hex() == labeled.digest_hex


def test_without_notice_there_is_no_visible_label_but_watermark_and_record() -> None:
    found = verify_image(_label(notice=None), KEYS)
    assert found.status is LabelStatus.INTACT
    assert found.explicit_corner is None and not found.verification.explicit


def test_metadata_stripped_but_watermark_present() -> None:
    found = verify_image(strip_record(_label()), KEYS)
    assert found.status is LabelStatus.WATERMARK_ONLY
    assert found.watermark.payload == watermark_id("prov", "p-1")
    assert found.verification.record is None


def test_re_encoding_drops_metadata_and_the_watermark_survives() -> None:
    found = verify_image(_reencode(_label(fmt="PNG"), "JPEG", quality=75), KEYS)
    assert found.status is LabelStatus.WATERMARK_ONLY


def test_an_edited_record_is_altered() -> None:
    labeled = _label()
    record = read_record(labeled)
    assert record is not None
    forged = insert_record(labeled, dataclasses.replace(record, produce_id="p-2"))
    found = verify_image(forged, KEYS)
    assert found.status is LabelStatus.ALTERED
    assert "does not belong to this record" in found.verification.detail


def test_edited_pixels_with_the_record_kept_are_altered() -> None:
    labeled = _label(fmt="PNG")
    record = read_record(labeled)
    assert record is not None
    pixels = decode_image(labeled).pixels.copy()
    pixels[:40, :40] = 0  # a local edit: the watermark still reads, the signature does not
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    found = verify_image(insert_record(buf.getvalue(), record), KEYS)
    assert found.status is LabelStatus.ALTERED
    assert found.verification.producer_status is SigState.INVALID
    assert "still carries this record's ID" in found.verification.detail


def test_a_record_moved_onto_another_generated_image_is_altered() -> None:
    record = read_record(_label("coffee"))
    other = label_image(encode("chelsea", "JPEG"), produce_id="p-7", producer="prov", keyring=KEYS)
    assert record is not None
    found = verify_image(insert_record(other.data, record), KEYS)
    assert found.status is LabelStatus.ALTERED


def test_explicit_label_only_and_no_label() -> None:
    # Our visible label painted onto an unmarked photo: no record, no watermark.
    pixels = draw_label(decode_image(encode("astronaut", "PNG")).pixels)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    assert verify_image(buf.getvalue(), KEYS).status is LabelStatus.EXPLICIT_ONLY
    plain = verify_image(encode("astronaut", "PNG"), KEYS)
    assert plain.status is LabelStatus.UNLABELED
    assert not plain.watermark.found and plain.watermark.payload is None


def test_a_key_we_do_not_hold_is_unknown_not_altered() -> None:
    labeled = label_image(
        encode("coffee", "JPEG"), produce_id="f", producer="x", keyring=OTHER_KEYS
    )
    assert verify_image(labeled.data, KEYS).status is LabelStatus.UNKNOWN_KEY


def test_images_under_one_tile_get_metadata_but_no_watermark() -> None:
    small = io.BytesIO()
    Image.fromarray(decode_image(encode("coffee", "PNG")).pixels[:100, :100]).save(small, "PNG")
    labeled = label_image(
        small.getvalue(), produce_id="s", producer="prov", keyring=KEYS, notice=None
    )
    assert labeled.watermark_id is None
    assert verify_image(labeled.data, KEYS).status is LabelStatus.INTACT


@pytest.mark.parametrize(
    ("make", "declared", "classification", "incoming"),
    [
        (_label, False, Classification.CONFIRMED, LabelStatus.INTACT),
        (
            lambda: strip_record(_label()),
            False,
            Classification.SUSPECTED,
            LabelStatus.WATERMARK_ONLY,
        ),
        (lambda: strip_record(_label()), True, Classification.POSSIBLY, LabelStatus.WATERMARK_ONLY),
        (lambda: encode("coffee", "JPEG"), True, Classification.POSSIBLY, LabelStatus.UNLABELED),
        (lambda: encode("coffee", "JPEG"), False, Classification.NONE, LabelStatus.UNLABELED),
    ],
)
def test_propagation_classifies_as_the_measures_describe(
    make: Callable[[], bytes], declared: bool, classification: Classification, incoming: LabelStatus
) -> None:
    source = make()
    result = propagate_image(
        source, propagator="plat", propagate_id="share-1", keyring=KEYS, declared_ai=declared
    )
    assert result.classification is classification
    assert result.incoming.status is incoming
    if classification is Classification.NONE:
        assert result.record is None and result.data == source
        return
    assert result.record is not None
    assert result.record.content_propagator == "plat" and result.record.propagate_id == "share-1"
    expected = {"confirmed": "1", "possibly": "2", "suspected": "3"}[classification.value]
    assert result.record.label is LabelClass(expected)
    # pixels untouched, record replaced (one per file), both signatures verify
    assert np.array_equal(decode_image(result.data).pixels, decode_image(source).pixels)
    assert read_record(result.data) == result.record
    after = verify_image(result.data, KEYS)
    assert after.status is LabelStatus.INTACT
    assert after.verification.propagator_status is SigState.VALID


def test_propagating_an_altered_label_keeps_it_altered() -> None:
    labeled = _label()
    record = read_record(labeled)
    assert record is not None
    forged = insert_record(labeled, dataclasses.replace(record, produce_id="p-2"))
    result = propagate_image(
        forged, propagator="plat", propagate_id="s", keyring=KEYS, declared_ai=False
    )
    assert result.classification is Classification.CONFIRMED
    assert result.incoming.status is LabelStatus.ALTERED
    assert verify_image(result.data, KEYS).status is LabelStatus.ALTERED


def test_bad_input_raises_media_errors_with_reasons() -> None:
    with pytest.raises(MediaError) as empty:
        label_image(b"", produce_id="p", producer="prov", keyring=KEYS)
    assert empty.value.reason == "empty"
    with pytest.raises(MediaError) as lying:
        verify_image(encode("camera", "PNG"), KEYS, declared_mime="image/jpeg")
    assert lying.value.reason == "mime_mismatch"
