"""Visible image label: GB 45438 text height, legibility, detection after JPEG, no false alarms."""

from __future__ import annotations

import importlib.util
import io
import math
import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from skimage import data

from synthguard.errors import LabelError, MissingDependencyError
from synthguard.labels import visible
from synthguard.labels.visible import (
    DEFAULT_TEXT,
    Corner,
    draw_label,
    find_label,
    label_geometry,
    text_for_locale,
)

Img = npt.NDArray[np.uint8]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")
SIZES = ((128, 128), (640, 480), (1920, 1080), (4000, 300), (300, 4000))


def _photo(name: str) -> Img:
    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[:, :, :3])


def _flat(value: int, width: int = 640, height: int = 480) -> Img:
    return np.full((height, width, 3), value, dtype=np.uint8)


def _roundtrip(img: Img, fmt: str, **options: int) -> Img:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **options)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _png_jpeg_png(img: Img) -> Img:
    return _roundtrip(_roundtrip(_roundtrip(img, "PNG"), "JPEG", quality=75), "PNG")


def _luma(img: Img) -> npt.NDArray[np.float64]:
    y: npt.NDArray[np.float64] = img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return y


def _contrast(a: float, b: float) -> float:
    """WCAG 2 contrast ratio between two grey levels (0-255, sRGB)."""

    def relative(v: float) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    hi, lo = sorted((relative(a), relative(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _box(img: Img, g: visible.LabelGeometry) -> Img:
    return img[g.y0 : g.y1, g.x0 : g.x1]


def _glyph_heights(ink: npt.NDArray[np.bool_]) -> list[int]:
    """Ink height of each glyph, glyphs being runs of columns with ink between empty columns."""
    columns = np.flatnonzero(ink.any(axis=0))
    runs = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
    heights = []
    for run in runs:
        rows = np.flatnonzero(ink[:, run[0] : run[-1] + 1].any(axis=1))
        heights.append(int(rows[-1] - rows[0] + 1))
    return heights


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_glyph_ink_is_at_least_5_percent_of_the_shortest_side(width: int, height: int) -> None:
    target = math.ceil(0.05 * min(width, height))
    labeled = draw_label(_flat(0, width, height))
    geometry = label_geometry(width, height)
    assert geometry.text_height >= target
    # Measured independently, on the white-on-black label: the tallest glyph, counting pixels
    # at least half covered.
    tallest = max(_glyph_heights(_luma(_box(labeled, geometry)) >= 128))
    assert tallest >= target
    # Not absurdly larger than asked for (the 10 px floor aside).
    assert tallest <= max(target, visible.MIN_TEXT_PX) * 1.25


@pytest.mark.parametrize("corner", list(Corner))
def test_label_sits_in_its_corner_and_nothing_else_changes(corner: Corner) -> None:
    img = _photo("coffee")
    labeled = draw_label(img, corner=corner)
    g = label_geometry(img.shape[1], img.shape[0], corner=corner)
    assert labeled.shape == img.shape and labeled.dtype == np.uint8
    changed = np.argwhere((labeled != img).any(axis=-1))
    assert changed[:, 0].min() >= g.y0 and changed[:, 0].max() < g.y1
    assert changed[:, 1].min() >= g.x0 and changed[:, 1].max() < g.x1
    # Margin from the edge, proportional to the text: at least a third of its height.
    gap = min(g.x0, g.y0, img.shape[1] - g.x1, img.shape[0] - g.y1)
    assert gap >= g.text_height / 3
    assert not np.array_equal(labeled, img)


def test_input_is_not_modified_and_rgba_transparency_still_shows_the_label() -> None:
    img = np.zeros((200, 300, 4), dtype=np.uint8)  # fully transparent
    labeled = draw_label(img)
    assert not img.any()
    g = label_geometry(300, 200)
    assert _box(labeled, g)[..., 3].min() >= round(0.7 * 255)  # the plate is at least 70% opaque
    assert labeled[0, 0, 3] == 0


@pytest.mark.parametrize("background", [255, 0, 128])
def test_text_contrasts_with_plate_on_flat_images(background: int) -> None:
    img = _flat(background)
    g = label_geometry(640, 480)
    box = _luma(_box(draw_label(img), g))
    text, plate = float(box.max()), float(np.median(box))  # the plate is most of the box
    assert _contrast(text, plate) >= 7.0  # WCAG AAA for normal text
    if background == 255:
        assert _contrast(plate, background) >= 3.0  # the plate itself stands out on white


@pytest.mark.parametrize("name", ["astronaut", "coffee", "hubble_deep_field"])
def test_text_contrasts_with_plate_on_photos(name: str) -> None:
    img = _photo(name)
    for corner in Corner:
        g = label_geometry(img.shape[1], img.shape[0], corner=corner)
        box = _luma(_box(draw_label(img, corner=corner), g))
        assert _contrast(float(np.percentile(box, 99)), float(np.median(box))) >= 7.0


@pytest.mark.parametrize("corner", list(Corner))
@pytest.mark.parametrize("source", ["astronaut", "chelsea", "white", "black", "panorama"])
def test_find_label_survives_jpeg_50_and_png_jpeg_png(source: str, corner: Corner) -> None:
    flats = {"white": _flat(255), "black": _flat(0), "panorama": _flat(90, 4000, 300)}
    img = flats[source] if source in flats else _photo(source)
    labeled = draw_label(img, corner=corner)
    assert find_label(labeled) is corner
    assert find_label(_roundtrip(labeled, "JPEG", quality=50)) is corner
    assert find_label(_png_jpeg_png(labeled)) is corner


def test_find_label_reads_the_text_it_is_given() -> None:
    labeled = draw_label(_photo("rocket"), "AI-generated", Corner.TOP_LEFT)
    assert find_label(_roundtrip(labeled, "JPEG", quality=50), "AI-generated") is Corner.TOP_LEFT
    assert find_label(labeled) is None  # a different text is a different template


def _crops(img: Img, count: int, seed: int) -> list[Img]:
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    crops = [img]
    for _ in range(count):
        ch, cw = int(rng.integers(min(h, 80), h + 1)), int(rng.integers(min(w, 80), w + 1))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crops.append(np.ascontiguousarray(img[y : y + ch, x : x + cw]))
    return crops


def test_find_label_does_not_fire_on_unlabeled_photos_and_crops() -> None:
    images = [crop for i, name in enumerate(PHOTOS) for crop in _crops(_photo(name), 9, i)]
    assert len(images) >= 50
    hits = [(i, img.shape) for i, img in enumerate(images) if find_label(img) is not None]
    assert hits == []
    scores = [max(visible.corner_scores(img).values(), default=0.0) for img in images]
    assert max(scores) < visible.MATCH_THRESHOLD - 0.2  # margin, not just a miss


def test_find_label_on_images_too_small_for_a_label_is_none() -> None:
    assert find_label(_flat(255, 30, 20)) is None
    assert find_label(_flat(0)) is None


@pytest.mark.parametrize(
    "text", ["hello", "AI", "生成", "AIGC生成", "AI生成\n第二行", "", "   ", "AI生成" * 20]
)
def test_text_without_both_elements_or_not_one_short_line_is_refused(text: str) -> None:
    with pytest.raises(LabelError):
        draw_label(_flat(255), text)
    with pytest.raises(LabelError):
        find_label(_flat(255), text)


def test_locale_texts_are_valid_labels() -> None:
    assert text_for_locale("zh-CN") == DEFAULT_TEXT == "AI生成"
    assert text_for_locale("en-US") == "AI-generated"
    assert text_for_locale("fr") == DEFAULT_TEXT
    for text in visible.LOCALE_TEXTS.values():
        assert find_label(draw_label(_flat(200), text), text) is Corner.BOTTOM_RIGHT
    assert find_label(draw_label(_flat(200), "本图由人工智能合成"), "本图由人工智能合成")


def test_ratio_below_5_percent_and_tiny_images_are_refused() -> None:
    with pytest.raises(LabelError, match=r"0\.05"):
        draw_label(_flat(255), min_height_ratio=0.04)
    with pytest.raises(LabelError, match="too small"):
        draw_label(_flat(255, 40, 20))
    with pytest.raises(LabelError, match="at most 1024"):
        label_geometry(100_000, 100_000)
    with pytest.raises(LabelError, match="corner"):
        draw_label(_flat(255), corner="middle")  # type: ignore[arg-type]
    g = label_geometry(1000, 1000, min_height_ratio=0.1)
    assert g.text_height >= 100


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((100, 100), dtype=np.uint8),
        np.zeros((100, 100, 2), dtype=np.uint8),
        np.zeros((100, 100, 3), dtype=np.float32),
        [[[0, 0, 0]]],
    ],
)
def test_non_image_arrays_are_refused(pixels: object) -> None:
    with pytest.raises(LabelError, match="uint8"):
        draw_label(pixels)  # type: ignore[arg-type]


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    visible._font_path.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match="pip install mplfonts"):
            visible._font_path()
    finally:
        monkeypatch.undo()
        visible._font_path.cache_clear()
    assert visible._font_path().name == "NotoSansCJKsc-Regular.otf"


def test_font_is_found_without_importing_mplfonts() -> None:
    code = (
        "import sys, numpy as np\n"
        "from synthguard.labels.visible import draw_label\n"
        "draw_label(np.zeros((64, 64, 3), np.uint8))\n"
        "assert 'mplfonts' not in sys.modules and 'matplotlib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
