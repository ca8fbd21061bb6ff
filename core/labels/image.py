"""Image labels: producer labeling, verification and propagation (Art. 16-18; GB 45438-2025;
2025 Labeling Measures).

Three labels, each surviving what the one before it does not:

* the implicit record (GB 45438 ``AIGC``) in the file's metadata, signed over the *decoded
  pixels*, so a lossless re-save keeps it intact while any pixel edit shows;
* an invisible watermark carrying a 64-bit ID derived from ContentProducer and ProduceID, so
  the label outlives metadata stripping, re-encoding and crops, and ties back to the record;
* the visible label (Art. 17) for the service kinds that could confuse the public.

The pixels are encoded once; the record then goes into the container without re-encoding
(``containers.insert_record``), so the signature covers exactly the pixels a reader decodes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from synthguard.errors import LabelError
from synthguard.labels.aigc import AigcRecord, LabelClass, MalformedRecordError
from synthguard.labels.containers import insert_record, read_record
from synthguard.labels.judge import MediaVerdict, VerifiedMedia, judge
from synthguard.labels.signing import Keyring, sign_producer, sign_propagator
from synthguard.labels.verify import LabelStatus, Verification
from synthguard.labels.visible import DEFAULT_TEXT, Corner, draw_label, find_label
from synthguard.media.image_io import MIME_OF, SUPPORTED_FORMATS, DecodedImage, decode_image
from synthguard.watermark import detect, embed
from synthguard.watermark.image import TILE

Pixels = npt.NDArray[np.uint8]

DEFAULT_MAX_PIXELS: Final = 50_000_000
JPEG_QUALITY: Final = 92
WEBP_QUALITY: Final = 90
# Level 3 is ~3x faster than Pillow's default 6 on photos for ~5% more bytes; labeling sits on
# the publication path, so time matters more than the last few percent of size.
PNG_COMPRESS_LEVEL: Final = 3
_WATERMARK_DOMAIN: Final = b"synthguard/watermark-id/v1"


class Classification(StrEnum):
    """2025 Labeling Measures Art. 6: what a propagating platform may say about content."""

    CONFIRMED = "confirmed"  # the file's metadata carries an implicit label
    POSSIBLY = "possibly"  # no implicit label, but the user declares it AI-generated
    SUSPECTED = "suspected"  # neither, but the platform finds explicit labels or other traces
    NONE = "none"  # no sign of generation: nothing to label


LABEL_OF: Final = {
    Classification.CONFIRMED: LabelClass.CONFIRMED,
    Classification.POSSIBLY: LabelClass.POSSIBLE,
    Classification.SUSPECTED: LabelClass.SUSPECTED,
}


def watermark_id(producer: str, produce_id: str) -> int:
    """The 64-bit ID the pixels carry: a keyless hash of the record's identity fields, so any
    verifier holding the record can check that watermark and record belong together."""
    digest = hashlib.sha256(
        b"\0".join((_WATERMARK_DOMAIN, producer.encode(), produce_id.encode()))
    ).digest()
    return int.from_bytes(digest[:8], "big")


def pixel_digest(pixels: Pixels) -> bytes:
    """SHA-256 over shape and raw decoded pixels: what the signatures cover for images."""
    arr = np.ascontiguousarray(pixels)
    header = "x".join(str(n) for n in arr.shape).encode()
    return hashlib.sha256(header + b"\0" + arr.tobytes()).digest()


def encode_image(pixels: Pixels, fmt: str, source: DecodedImage | None = None) -> bytes:
    """Encode with Pillow, keeping the source's ICC profile and EXIF (colour and camera data
    are not ours to drop)."""
    if fmt not in SUPPORTED_FORMATS:
        raise LabelError(f"cannot write {fmt}; labeled images are PNG, JPEG or WebP")
    image = Image.fromarray(pixels)
    options: dict[str, object] = {}
    if source is not None and source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if source is not None and source.exif:
        options["exif"] = source.exif
    if fmt == "JPEG":
        if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white, as viewers would
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        options["quality"] = JPEG_QUALITY
    elif fmt == "WEBP":
        options["quality"] = WEBP_QUALITY
    else:
        options["compress_level"] = PNG_COMPRESS_LEVEL
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class LabeledImage:
    data: bytes
    record: AigcRecord
    format: str
    mime: str
    digest_hex: str
    watermark_id: int | None  # None: image smaller than one watermark tile
    explicit: bool
    notice: str | None


def label_image(
    data: bytes,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    notice: str | None = DEFAULT_TEXT,
    corner: Corner = Corner.BOTTOM_RIGHT,
    declared_mime: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LabeledImage:
    """Label an image we produced: visible label when `notice` is set (Art. 17), watermark and
    signed record always (Art. 16, 18). Raises MediaError for bad input, LabelError otherwise."""
    source = decode_image(data, declared_mime=declared_mime, max_pixels=max_pixels)
    pixels = source.pixels
    if notice is not None:
        pixels = draw_label(pixels, notice, corner)
    wm_id: int | None = None
    if min(source.width, source.height) >= TILE:
        wm_id = watermark_id(producer, produce_id)
        pixels = embed(pixels, wm_id)
    # Written back as it came; anything else decodable (GIF, BMP, TIFF) becomes PNG.
    fmt = source.format if source.format in SUPPORTED_FORMATS else "PNG"
    encoded = encode_image(pixels, fmt, source)
    # Lossy formats: sign what a reader will decode, not what we handed the encoder.
    final = pixels if fmt == "PNG" else decode_image(encoded, max_pixels=max_pixels).pixels
    digest = pixel_digest(final)
    record = sign_producer(AigcRecord(LabelClass.CONFIRMED, producer, produce_id), digest, keyring)
    return LabeledImage(
        data=insert_record(encoded, record),
        record=record,
        format=fmt,
        mime=MIME_OF[fmt],
        digest_hex=digest.hex(),
        watermark_id=wm_id,
        explicit=notice is not None,
        notice=notice,
    )


@dataclass(frozen=True, slots=True)
class ImageVerification(VerifiedMedia):
    """The shared media verdict plus what only pixels can tell."""

    verdict: MediaVerdict
    explicit_corner: Corner | None
    format: str

    def to_json_dict(self) -> dict[str, object]:
        return self.report(
            {
                "format": self.format,
                "explicit_corner": self.explicit_corner and self.explicit_corner.value,
            }
        )


def verify_image(
    data: bytes,
    keyring: Keyring,
    *,
    notice: str = DEFAULT_TEXT,
    declared_mime: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageVerification:
    """Classify an image (Art. 18): intact, metadata altered, metadata stripped but watermark
    present, explicit label only, or no label. Raises MediaError when it cannot be decoded."""
    decoded = decode_image(data, declared_mime=declared_mime, max_pixels=max_pixels)
    return _verify_decoded(data, decoded, pixel_digest(decoded.pixels), keyring, notice)


def _verify_decoded(
    data: bytes, decoded: DecodedImage, digest: bytes, keyring: Keyring, notice: str
) -> ImageVerification:
    pixels = decoded.pixels
    corner = find_label(pixels, notice)
    record: AigcRecord | MalformedRecordError | None
    try:
        record = read_record(data)
    except MalformedRecordError as exc:
        record = exc
    verdict = judge(record, digest, detect(pixels), corner is not None, keyring)
    return ImageVerification(verdict, corner, decoded.format)


def classify_incoming(found: Verification, *, declared_ai: bool) -> Classification:
    """2025 Labeling Measures Art. 6 (1)-(3), in that order of precedence."""
    if found.record is not None or found.status is LabelStatus.ALTERED:
        return Classification.CONFIRMED
    if declared_ai:
        return Classification.POSSIBLY
    if found.status in (LabelStatus.WATERMARK_ONLY, LabelStatus.EXPLICIT_ONLY):
        return Classification.SUSPECTED
    return Classification.NONE


@dataclass(frozen=True, slots=True)
class PropagatedImage:
    data: bytes
    record: AigcRecord | None  # None when nothing suggests generation
    classification: Classification
    incoming: ImageVerification
    digest_hex: str


def propagate_image(
    data: bytes,
    *,
    propagator: str,
    propagate_id: str,
    keyring: Keyring,
    declared_ai: bool,
    notice: str = DEFAULT_TEXT,
    declared_mime: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PropagatedImage:
    """Verify content a platform spreads, classify it, and add ContentPropagator, PropagateID
    and our ReservedCode2 to its record (GB 45438: the propagator's own elements), leaving the
    pixels untouched. The visible label a platform shows is its UI's job (Measures Art. 6)."""
    decoded = decode_image(data, declared_mime=declared_mime, max_pixels=max_pixels)
    digest = pixel_digest(decoded.pixels)  # one hash serves the check and the new signature
    incoming = _verify_decoded(data, decoded, digest, keyring, notice)
    classification = classify_incoming(incoming.verification, declared_ai=declared_ai)
    if classification is Classification.NONE:
        return PropagatedImage(data, None, classification, incoming, digest.hex())
    base = incoming.verification.record or AigcRecord(LABEL_OF[classification], "", "")
    record = sign_propagator(base, digest, keyring, propagator, propagate_id)
    return PropagatedImage(
        insert_record(data, record), record, classification, incoming, digest.hex()
    )
