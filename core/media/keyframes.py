"""PDQ hashes of a video's keyframes, so Art. 10 review can match video against the image
feature library.

Keyframes decode on their own, so only they are decoded: a first pass lists them from the packets
(no decoding), the choice is made on their timestamps, and a second pass hands the decoder just
the chosen packets. Each chosen frame is converted to RGB once and hashed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np

from synthguard.errors import ValidationError
from synthguard.media.av_io import DEFAULT_LIMITS, MediaLimits, open_input, probe, video_stream
from synthguard.media.image_io import MediaError
from synthguard.review.pdq import PdqHash, pdq_hash


def keyframe_hashes(
    path: Path,
    *,
    max_frames: int = 64,
    min_gap_s: float = 1.0,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> list[tuple[float, PdqHash]]:
    """(time in seconds, PDQ hash) of keyframes of the first video stream, in time order: at
    most one per `min_gap_s`, and at most `max_frames` spread evenly over the video. Files
    `probe` refuses, and keyframes that do not decode, raise MediaError."""
    if max_frames < 1 or min_gap_s < 0:
        raise ValidationError("max_frames must be >= 1 and min_gap_s >= 0")
    if probe(path, limits).video is None:
        raise MediaError("no_stream", "no video stream to hash")
    with open_input(path) as container:
        stream, time_base = _first_video(container)
        pts = _keyframe_pts(container, stream)
    wanted = _choose(pts, time_base, max_frames, min_gap_s)
    with open_input(path) as container:
        hashes = _decode_and_hash(container, *_first_video(container), wanted)
    if not hashes:
        raise MediaError("truncated", "no keyframe of the video could be decoded")
    return sorted(hashes, key=lambda pair: pair[0])


def _first_video(container: av.container.InputContainer) -> tuple[av.VideoStream, Fraction]:
    stream = video_stream(container)
    if stream is None or stream.time_base is None:  # probe saw one: the file changed under us
        raise MediaError("no_stream", "no video stream to hash")
    return stream, stream.time_base


def _keyframe_pts(container: av.container.InputContainer, stream: av.VideoStream) -> list[int]:
    try:
        return sorted(
            packet.pts
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        )
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", f"the video cannot be read: {exc}") from exc


def _choose(pts: list[int], time_base: Fraction, max_frames: int, min_gap_s: float) -> set[int]:
    gap = min_gap_s / time_base  # in pts units, exact: no float drift over long videos
    spaced: list[int] = []
    for p in pts:
        if not spaced or p - spaced[-1] >= gap:
            spaced.append(p)
    n = len(spaced)
    if n <= max_frames:
        return set(spaced)
    # Centred even spacing: the k-th of max_frames equal slices contributes its middle keyframe,
    # so neither the opening (often a black fade) nor the credits are favoured.
    return {spaced[(2 * k + 1) * n // (2 * max_frames)] for k in range(max_frames)}


def _decode_and_hash(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    time_base: Fraction,
    wanted: set[int],
) -> list[tuple[float, PdqHash]]:
    # Only key packets are sent; NONKEY makes the decoder drop what is not really a keyframe
    # where a container flags packets wrongly, rather than decode it against missing references.
    stream.codec_context.skip_frame = "NONKEY"
    hashes: list[tuple[float, PdqHash]] = []

    def keep(frames: list[av.VideoFrame]) -> None:
        for frame in frames:
            # frame.time is NaN on frames drained at the end (PyAV leaves their time_base
            # unset); the stream's time base is the one the pts are in.
            if frame.pts is not None:
                rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)  # no copy
                hashes.append((float(frame.pts * time_base), pdq_hash(rgb)))

    try:
        for packet in container.demux(stream):
            if packet.pts in wanted:
                keep(stream.decode(packet))
        keep(stream.decode(None))  # frames the decoder still holds (reordering delay)
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", f"a keyframe cannot be decoded: {exc}") from exc
    return hashes
