"""Video labels: producer labeling, verification and propagation (Art. 16-18; GB 45438-2025).

The same three labels as images, placed for video:

* visible (Art. 17; GB 45438 explicit label for video): a large notice on the start screen
  for the first `START_SCREEN_S` seconds, then a persistent corner notice around playback,
  text height >= 5% of the shortest side (twice that on the start screen);
* invisible: the 64-bit ID of the record in every frame's luminance (watermark.video), found
  again by accumulating sampled frames, so it outlives re-encoding, rescaling, frame-rate
  changes and cuts;
* implicit: the signed `AIGC` record in the MP4's metadata (moov/udta/meta keys), signed over
  `packet_digest`, the coded audio and video packets.

Labeling cuts the video at keyframes (media.segments); each segment is labeled and encoded
on its own, by whichever process or machine takes it, then the segments are joined without
another encode, the audio copied, and the record written last, over the final packets.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import numpy as np
import numpy.typing as npt

from synthguard.labels.aigc import AigcRecord, LabelClass
from synthguard.labels.image import LABEL_OF, Classification, classify_incoming, watermark_id
from synthguard.labels.judge import (
    RECORD_TAG,
    MediaVerdict,
    VerifiedMedia,
    judge,
    record_from_tags,
)
from synthguard.labels.overlay import FrameOverlay
from synthguard.labels.signing import Keyring, sign_producer, sign_propagator
from synthguard.labels.visible import DEFAULT_TEXT, MIN_HEIGHT_RATIO, Corner, find_label
from synthguard.media.av_io import (
    DEFAULT_LIMITS,
    MediaInfo,
    MediaLimits,
    open_input,
    packet_digest,
    probe,
)
from synthguard.media.image_io import MediaError
from synthguard.media.segments import (
    DEFAULT_ENCODE,
    SEGMENT_SECONDS,
    EncodeSettings,
    join_segments,
    remux,
    split_video,
    transcode_segment,
)
from synthguard.watermark.video import FrameMarker, VideoDetector, can_carry

START_SCREEN_S: Final = 2.0  # GB 45438: the start-screen notice lasts at least 2 s
START_SCALE: Final = 2.0
# Keyframes the verifier decodes, spread over the file, so a cut, a trimmed start or a
# re-timed stretch still leaves most of them marked.
SAMPLE_POINTS: Final = 32
MIN_FRAMES: Final = 16
FULL_DECODE_MAX_S: Final = 120.0

Plane = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """What every segment of one video needs to label its frames (small and picklable)."""

    width: int
    height: int
    watermark_id: int | None
    notice: str | None
    corner: Corner
    start_s: float  # presentation time of the video's first frame

    def labeler(self) -> Callable[[av.VideoFrame], None]:
        return FrameLabeler(self)


def planes(frame: av.VideoFrame) -> tuple[Plane, Plane, Plane]:
    """Writable views of a yuv420p frame's Y, U and V planes (rows padded to line size)."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        views.append(rows[:, : plane.width])
    y, u, v = views
    return y, u, v


class FrameLabeler:
    """Draws the notices and adds the watermark to each frame, in place."""

    def __init__(self, spec: FrameSpec) -> None:
        self._spec = spec
        self._marker = (
            FrameMarker(spec.width, spec.height, spec.watermark_id)
            if spec.watermark_id is not None
            else None
        )
        self._start = self._corner = None
        if spec.notice is not None:
            size = (spec.width, spec.height, spec.notice, spec.corner)
            self._start = FrameOverlay(*size, scale=START_SCALE)
            self._corner = FrameOverlay(*size)

    def __call__(self, frame: av.VideoFrame) -> None:
        y, u, v = planes(frame)
        if self._start is not None and self._corner is not None:
            on_start_screen = (frame.time or 0.0) - self._spec.start_s < START_SCREEN_S
            (self._start if on_start_screen else self._corner).apply(y, u, v)
        if self._marker is not None:
            self._marker.apply(y)


def frame_spec(
    info: MediaInfo,
    start_s: float,
    *,
    producer: str,
    produce_id: str,
    notice: str | None,
    corner: Corner,
) -> FrameSpec:
    if info.video is None:
        raise MediaError("no_stream", "no video stream")
    width, height = info.video.width, info.video.height
    # too small a frame carries no mark; the record and the notice still apply
    wm_id = watermark_id(producer, produce_id) if can_carry(width, height) else None
    return FrameSpec(width, height, wm_id, notice, corner, start_s)


def label_segment(segment: Path, dst: Path, spec: FrameSpec, settings: EncodeSettings) -> int:
    """One segment job: label and encode the frames of `segment` into `dst`."""
    return transcode_segment(segment, dst, spec.labeler(), settings)


@dataclass(frozen=True, slots=True)
class LabeledVideo:
    record: AigcRecord
    digest_hex: str
    watermark_id: int | None
    explicit: bool
    segments: int


def assemble(
    parts: list[Path],
    dst: Path,
    *,
    audio_from: Path,
    producer: str,
    produce_id: str,
    keyring: Keyring,
    workdir: Path,
) -> tuple[AigcRecord, bytes]:
    """Join labeled segments, then sign the joined packets and write the record (one remux)."""
    joined = workdir / "joined.mp4"
    join_segments(parts, joined, audio_from=audio_from)
    digest = packet_digest(joined)
    record = sign_producer(AigcRecord(LabelClass.CONFIRMED, producer, produce_id), digest, keyring)
    remux(joined, dst, {RECORD_TAG: record.fields_json()})
    joined.unlink()
    return record, digest


def label_video(
    src: Path,
    dst: Path,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    notice: str | None = DEFAULT_TEXT,
    corner: Corner = Corner.BOTTOM_RIGHT,
    settings: EncodeSettings = DEFAULT_ENCODE,
    limits: MediaLimits = DEFAULT_LIMITS,
    segment_seconds: float = SEGMENT_SECONDS,
    run: Callable[..., Iterable[int]] = map,
) -> LabeledVideo:
    """Label a video we produced, end to end, writing an MP4 to `dst`. `run` maps the segment
    jobs (``executor.map`` spreads them over processes)."""
    info = probe(src, limits)
    if info.video is None:
        raise MediaError("no_stream", "no video stream to label")
    settings = settings.for_source(info.video.codec)
    with tempfile.TemporaryDirectory(prefix="synthguard-video-") as tmp:
        work = Path(tmp)
        segments = split_video(src, work, seconds=segment_seconds)
        spec = frame_spec(
            info,
            segments[0].start_s,
            producer=producer,
            produce_id=produce_id,
            notice=notice,
            corner=corner,
        )
        parts = [work / f"labeled-{s.index:05d}.mp4" for s in segments]
        list(
            run(
                label_segment,
                [s.path for s in segments],
                parts,
                [spec] * len(parts),
                [settings] * len(parts),
            )
        )
        record, digest = assemble(
            parts,
            dst,
            audio_from=src,
            producer=producer,
            produce_id=produce_id,
            keyring=keyring,
            workdir=work,
        )
    return LabeledVideo(record, digest.hex(), spec.watermark_id, notice is not None, len(segments))


@dataclass(frozen=True, slots=True)
class VideoVerification(VerifiedMedia):
    verdict: MediaVerdict
    explicit_corner: Corner | None
    info: MediaInfo
    frames_checked: int

    def to_json_dict(self) -> dict[str, object]:
        video = self.info.video
        return self.report(
            {
                "format": self.info.format.split(",")[0],
                "video": None
                if video is None
                else f"{video.codec} {video.width}x{video.height} @ {float(video.fps):.3g} fps",
                "duration_s": round(self.info.duration_s, 3),
                "explicit_corner": self.explicit_corner and self.explicit_corner.value,
                "frames_checked": self.frames_checked,
            }
        )


def verify_video(
    path: Path,
    keyring: Keyring,
    *,
    notice: str = DEFAULT_TEXT,
    limits: MediaLimits = DEFAULT_LIMITS,
    keyframes_only: bool = False,
) -> VideoVerification:
    """Classify a video (Art. 18): intact, altered, watermark only, explicit only or none.

    `keyframes_only` skips the whole-file decode of short videos with few keyframes: right
    for our own fresh output (a keyframe every 2 s, no re-encode since), not for what
    others send."""
    info = probe(path, limits)
    detector = VideoDetector()
    corner = None
    for rgb, y in _sample(path, info, keyframes_only=keyframes_only):
        detector.add(y)
        if rgb is not None and corner is None:
            corner = _find_notice(rgb, notice)
    found = detector.result()
    verdict = judge(
        record_from_tags(info.tags), packet_digest(path), found, corner is not None, keyring
    )
    return VideoVerification(verdict, corner, info, detector.frames)


def _find_notice(rgb: Plane, notice: str) -> Corner | None:
    for ratio in (MIN_HEIGHT_RATIO * START_SCALE, MIN_HEIGHT_RATIO):
        if (corner := find_label(rgb, notice, min_height_ratio=ratio)) is not None:
            return corner
    return None


def _sample(
    path: Path, info: MediaInfo, *, keyframes_only: bool
) -> Iterator[tuple[Plane | None, Plane]]:
    """Y planes of frames spread over the video, with RGB where a notice must show: the start
    screen, and mid-way for the corner notice.

    Keyframes first: one pass over the packets (no decoding) finds them, then up to
    SAMPLE_POINTS of them, spread evenly, are sought and decoded alone, so an hour of video
    costs SAMPLE_POINTS frame decodes. A short video with few keyframes is then decoded whole,
    keeping every few frames, since a handful of frames may not hold the mark through a heavy
    re-encode."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        keys = [p.pts for p in container.demux(stream) if p.is_keyframe and p.pts is not None]
    step = max(1, -(-len(keys) // SAMPLE_POINTS))
    chosen = keys[::step]
    seen: set[int | None] = set()
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for i, pts in enumerate(chosen):
            container.seek(pts, stream=stream)
            for frame in container.decode(stream):
                if frame.pts not in seen:
                    seen.add(frame.pts)
                    yield _sampled(frame, rgb=i in (0, len(chosen) // 2))
                break
    enough = len(seen) >= MIN_FRAMES or info.duration_s > FULL_DECODE_MAX_S
    if keyframes_only or enough or info.video is None:
        return
    stride = max(1, int(info.duration_s * float(info.video.fps)) // SAMPLE_POINTS)
    with open_input(path) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n % stride == 0 and frame.pts not in seen:
                yield _sampled(frame, rgb=False)


def _sampled(frame: av.VideoFrame, *, rgb: bool) -> tuple[Plane | None, Plane]:
    yuv = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
    return (frame.to_ndarray(format="rgb24").astype(np.uint8) if rgb else None), planes(yuv)[0]


@dataclass(frozen=True, slots=True)
class PropagatedVideo:
    record: AigcRecord | None
    classification: Classification
    incoming: VideoVerification
    digest_hex: str


def propagate_video(
    src: Path,
    dst: Path,
    *,
    propagator: str,
    propagate_id: str,
    keyring: Keyring,
    declared_ai: bool,
    notice: str = DEFAULT_TEXT,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> PropagatedVideo:
    """Verify a video a platform spreads, classify it (2025 Measures Art. 6) and add the
    propagator's fields to its record by a remux: the coded frames are not touched."""
    incoming = verify_video(src, keyring, notice=notice, limits=limits)
    classification = classify_incoming(incoming.verification, declared_ai=declared_ai)
    digest = packet_digest(src)
    if classification is Classification.NONE:
        return PropagatedVideo(None, classification, incoming, digest.hex())
    base = incoming.verification.record or AigcRecord(LABEL_OF[classification], "", "")
    record = sign_propagator(base, digest, keyring, propagator, propagate_id)
    remux(src, dst, {RECORD_TAG: record.fields_json()})
    return PropagatedVideo(record, classification, incoming, digest.hex())
