"""Image watermark: real photos, real JPEG/resize/crop attacks, unmarked images stay unmarked."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from skimage import data

from synthguard.watermark import Detection, detect, embed
from synthguard.watermark.image import FALSE_POSITIVE_BOUND

PAYLOAD = 0xC0FF_EE00_DEAD_BEEF
Img = npt.NDArray[np.uint8]


def _photo(name: str) -> Img:
    img = getattr(data, name)()
    return np.ascontiguousarray(img[:, :, :3])


def _jpeg(a: Img, quality: int) -> Img:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _luma(a: Img) -> npt.NDArray[np.float64]:
    y: npt.NDArray[np.float64] = a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return y


def _generated(seed: int, h: int = 300, w: int = 420) -> Img:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / rng.uniform(8, 40)) * np.cos(yy / rng.uniform(8, 40))
    noise = rng.normal(0, rng.uniform(2, 20), (h, w, 3))
    img: Img = np.clip(base[:, :, None] + noise, 0, 255).astype(np.uint8)
    return img


def _found(d: Detection) -> bool:
    return d.found and d.payload == PAYLOAD


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_round_trip_photo_is_invisible_and_decodes(name: str) -> None:
    img = _photo(name)
    marked = embed(img, PAYLOAD)
    assert marked.shape == img.shape and marked.dtype == np.uint8
    mse = np.mean((_luma(marked) - _luma(img)) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 38.0
    d = detect(marked)
    assert _found(d)
    assert d.confidence > 0.5
    assert d.false_positive_bound == FALSE_POSITIVE_BOUND < 1e-6
    assert not detect(img).found


def test_round_trip_generated_image() -> None:
    img = _generated(7)
    assert detect(embed(img, 12345)).payload == 12345


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_survives_jpeg_75_and_50(name: str) -> None:
    marked = embed(_photo(name), PAYLOAD)
    assert _found(detect(_jpeg(marked, 75)))
    assert _found(detect(_jpeg(marked, 50)))


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_survives_ten_percent_crop(name: str) -> None:
    marked = embed(_photo(name), PAYLOAD)
    h, w = marked.shape[:2]
    # 10 % off each dimension at an offset that is not a multiple of the tile
    cropped = marked[int(0.07 * h) : int(0.07 * h) + int(0.9 * h), int(0.03 * w) : int(0.93 * w)]
    assert _found(detect(cropped))
    assert _found(detect(_jpeg(cropped, 75)))


def test_survives_resize_and_brightness() -> None:
    marked = embed(_photo("astronaut"), PAYLOAD)
    h, w = marked.shape[:2]
    small = Image.fromarray(marked).resize((w // 2, h // 2), Image.Resampling.BILINEAR)
    back = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))
    assert _found(detect(back))
    adjusted = np.clip(marked.astype(np.float64) * 1.15 - 12, 0, 255).astype(np.uint8)
    assert _found(detect(adjusted))


def test_metadata_stripped_png_jpeg_png() -> None:
    marked = embed(_photo("chelsea"), PAYLOAD)
    buf = io.BytesIO()
    Image.fromarray(_jpeg(marked, 80)).save(buf, "PNG")
    assert _found(detect(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))))


def test_unmarked_images_are_not_detected() -> None:
    rng = np.random.default_rng(2025)
    photos = [_photo(n) for n in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")]
    hits = 0
    for i in range(200):
        if i % 4 == 0:
            img = _generated(i, int(rng.integers(128, 260)), int(rng.integers(128, 260)))
        else:
            src = photos[i % len(photos)]
            h, w = src.shape[:2]
            ch, cw = int(rng.integers(128, min(h, 300))), int(rng.integers(128, min(w, 300)))
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            img = np.ascontiguousarray(src[y0 : y0 + ch, x0 : x0 + cw])
        hits += detect(img).found
    assert hits == 0


def test_grayscale_and_rgba_inputs() -> None:
    gray = data.camera()  # type: ignore[no-untyped-call]
    marked = embed(gray, PAYLOAD)
    assert marked.shape == gray.shape
    assert _found(detect(marked))
    assert _found(detect(marked[:, :, None]))
    rgba = np.dstack([_photo("coffee"), np.full((400, 600), 200, np.uint8)])
    marked_rgba = embed(rgba, PAYLOAD)
    assert (marked_rgba[:, :, 3] == 200).all()
    assert _found(detect(marked_rgba))


@pytest.mark.parametrize("shape", [(32, 32, 3), (1, 1, 3), (127, 500, 3), (0, 0, 3)])
def test_tiny_images_never_crash(shape: tuple[int, int, int]) -> None:
    img = np.full(shape, 128, np.uint8)
    assert detect(img).found is False
    with pytest.raises(ValueError, match="smaller than"):
        embed(img, PAYLOAD)


def test_odd_sizes_and_flat_images() -> None:
    img = _generated(3, 131, 257)
    assert _found(detect(embed(img, PAYLOAD)))
    for value in (0, 255):
        flat = np.full((200, 200, 3), value, np.uint8)
        assert detect(flat).found is False
        detect(embed(flat, PAYLOAD))  # clipped to nothing at the extremes: must not crash


def test_bad_inputs_give_clear_errors() -> None:
    img = _photo("coffee")
    with pytest.raises(ValueError, match="64-bit"):
        embed(img, 2**64)
    with pytest.raises(TypeError, match="uint8"):
        detect(img.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        detect(np.zeros((200, 200, 2), np.uint8))
