"""What the media workers take from an artifact for review (Art. 10): PDQ of an image, PDQ of
a video's keyframes, a Chromaprint fingerprint of audio. The records (synthguard.MediaHash)
ride in the artifact's state to the worker's event loop, which matches them against the live
library (synthguard.review.media)."""

from __future__ import annotations

from pathlib import Path

from synthguard.media.image_io import decode_image
from synthguard.media.keyframes import keyframe_hashes
from synthguard.records import Record
from synthguard.review.audio_fp import fingerprint_file
from synthguard.review.pdq import PdqHash, pdq_hash


def _pdq(value: PdqHash, source: str) -> Record:
    return {"signal": "PDQ", "value": value.hex(), "source": source, "quality": value.quality}


def image_hashes(data: bytes, *, declared_mime: str | None, max_pixels: int) -> list[Record]:
    pixels = decode_image(data, declared_mime=declared_mime, max_pixels=max_pixels).pixels
    return [_pdq(pdq_hash(pixels[..., :3]), "image")]


def video_hashes(path: Path) -> list[Record]:
    return [_pdq(value, f"keyframe at {at:.1f} s") for at, value in keyframe_hashes(path)]


def audio_hashes(path: Path) -> list[Record]:
    fingerprint = fingerprint_file(path)
    return [
        {"signal": "CHROMAPRINT", "value": fingerprint.encode(), "source": "audio", "quality": 100}
    ]
