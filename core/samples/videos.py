"""Sample videos for `synthguard run`: a slow pan and zoom over scikit-image's photographs
(public domain / CC0, in the wheel), encoded with PyAV as H.264 with a keyframe every second,
put into the blob store with envelopes for generated videos, a platform's redistributed ones
(one with its record stripped) and broken files the pipeline must refuse without stopping.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import numpy as np
from PIL import Image
from skimage import data as photos

from synthguard.blobs import BlobStore
from synthguard.labels.judge import RECORD_TAG
from synthguard.labels.signing import Keyring
from synthguard.labels.video import label_video
from synthguard.media.segments import remux
from synthguard.records import Record
from synthguard.samples.images import PARTNER, FileSample, file_artifacts

FPS: Final = 25
SIZE: Final = (640, 360)


def pan(photo: str, dst: Path, *, seconds: float = 6.0, fps: int = FPS) -> Path:
    """A Ken Burns pan over a photo: real image content that moves, a keyframe each second."""
    still = Image.fromarray(np.ascontiguousarray(getattr(photos, photo)())[..., :3])
    frames = int(seconds * fps)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.codec_context.gop_size = fps
        aspect = SIZE[0] / SIZE[1]
        full = min(still.width, still.height * aspect)  # the widest box of the frame's shape
        for i in range(frames):
            bw = full * (1.0 - 0.25 * i / frames)  # from the whole photo towards its centre
            bh = bw / aspect
            cx, cy = still.width / 2, still.height / 2
            box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            image = still.resize(SIZE, Image.Resampling.BILINEAR, box=box)
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def _labeled(photo: str, work: Path, keyring: Keyring, *, strip: bool) -> Path:
    labeled = work / f"{photo}-labeled.mp4"
    label_video(
        pan(photo, work / f"{photo}.mp4"),
        labeled,
        produce_id=f"partner-{photo}",
        producer=PARTNER,
        keyring=keyring,
    )
    if not strip:
        return labeled
    stripped = work / f"{photo}-stripped.mp4"
    remux(labeled, stripped, {RECORD_TAG: None})
    return stripped


def _truncated(work: Path) -> Path:
    whole = pan("coffee", work / "whole.mp4", seconds=2.0)
    cut = work / "truncated.mp4"
    cut.write_bytes(whole.read_bytes()[:3000])
    return cut


def too_fast(path: Path) -> Path:
    """A clip whose header claims 1,000 frames per second (the limit is max_frame_rate)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


SAMPLES: Final[list[FileSample]] = [
    ("vid-astronaut", "u-1001", "GENERATED", "FACE_SWAP", "video/mp4",
     lambda w, k: pan("astronaut", w / "astronaut.mp4")),
    ("vid-rocket", "u-1004", "GENERATED", "OTHER", "video/mp4",
     lambda w, k: pan("rocket", w / "rocket.mp4", seconds=3.0)),
    ("redist-vid-intact", "u-1006", "REDISTRIBUTED", "OTHER", "video/mp4",
     lambda w, k: _labeled("chelsea", w, k, strip=False)),
    ("redist-vid-stripped", "u-1008", "REDISTRIBUTED", "OTHER", "video/mp4",
     lambda w, k: _labeled("coffee", w, k, strip=True)),
    ("bad-vid-truncated", "u-1002", "GENERATED", "OTHER", "video/mp4",
     lambda w, k: _truncated(w)),
    ("bad-vid-framerate", "u-1003", "GENERATED", "OTHER", "video/mp4",
     lambda w, k: too_fast(w / "fast.mp4")),
]  # fmt: skip


# The face swapped into vid-astronaut is p-3001's, who consented (core/samples/consents.jsonl).
SUBJECTS: Final = {
    "vid-astronaut": [{"subject_id": "p-3001", "feature": "FACE", "consent_id": "c-3001"}]
}


def video_artifacts(store: BlobStore, keyring: Keyring) -> list[Record]:
    """Put every sample into `store`; return their envelopes (JSON form, for the codec)."""
    envelopes = file_artifacts(store, keyring, SAMPLES, modality="VIDEO")
    for envelope in envelopes:
        envelope["biometric_subjects"] = SUBJECTS.get(envelope["artifact_id"], [])
    return envelopes
