"""decode_image on real photographs (skimage.data) and on hostile bytes crafted by hand."""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import skimage.data
from PIL import Image, ImageFile

from synthguard.errors import ValidationError
from synthguard.media.image_io import (
    MIME_OF,
    MediaError,
    decode_image,
    png_chunk,
    png_chunks,
    sniff_format,
)
from synthguard.samples.images import png_header_only

SAMPLES = Path(skimage.data.__file__).parent
Pixels = npt.NDArray[np.uint8]


@functools.cache
def photo(name: str) -> Pixels:
    """A skimage.data photograph (shipped with the wheel, no download); callers must not write."""
    loader: Callable[[], Pixels] = getattr(skimage.data, name)
    return loader()


def encode(pixels: npt.NDArray[Any], fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def pillow_pixels(data: bytes, mode: str = "RGB") -> Pixels:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode))


def reason_of(data: bytes, **options: Any) -> str:
    with pytest.raises(MediaError) as raised:
        decode_image(data, **options)
    return raised.value.reason


LOSSLESS = [
    ("PNG", {}),
    ("WEBP", {"lossless": True, "quality": 0}),
    ("BMP", {}),
    ("TIFF", {}),
]
LOSSY = [
    ("JPEG", {"quality": 85}),
    ("WEBP", {"quality": 80}),
]


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize(("fmt", "options"), LOSSLESS)
def test_lossless_formats_decode_to_the_exact_source_pixels(
    name: str, fmt: str, options: dict[str, Any]
) -> None:
    source = photo(name)
    image = decode_image(encode(source, fmt, **options))
    assert np.array_equal(image.pixels, source)
    assert (image.format, image.mime) == (fmt, MIME_OF[fmt])
    assert (image.height, image.width) == source.shape[:2]
    assert image.frames == 1


@pytest.mark.parametrize(("fmt", "options"), LOSSY)
def test_lossy_formats_decode_like_pillow_and_near_the_source(
    fmt: str, options: dict[str, Any]
) -> None:
    source = photo("coffee")
    data = encode(source, fmt, **options)
    image = decode_image(data)
    assert np.array_equal(image.pixels, pillow_pixels(data))
    error = np.abs(image.pixels.astype(int) - source.astype(int)).mean()
    assert 0 < error < 8  # really lossy, and still the same photograph


def test_real_jpeg_exposes_exif_and_icc_as_pillow_reads_them() -> None:
    data = (SAMPLES / "hubble_deep_field.jpg").read_bytes()
    image = decode_image(data)
    with Image.open(io.BytesIO(data)) as im:
        assert image.icc_profile == im.info["icc_profile"]
        assert image.exif == im.info["exif"]
    exif = Image.Exif()
    exif.load(image.exif or b"")
    assert exif[305] == "Adobe Photoshop CS5 Macintosh"  # Software


def test_webp_exif_comes_back_in_the_same_form_as_jpeg() -> None:
    exif = Image.Exif()
    exif[271] = "Canon"
    raw = encode(photo("chelsea"), "WEBP", exif=exif.tobytes())
    image = decode_image(raw)
    assert image.exif is not None and image.exif.startswith(b"Exif\x00\x00")
    parsed = Image.Exif()
    parsed.load(image.exif)
    assert parsed[271] == "Canon"


def test_exif_orientation_is_not_applied() -> None:
    source = photo("chelsea")  # 300 x 451: a rotation would swap the sides
    exif = Image.Exif()
    exif[274] = 6  # "rotate 90 CW to display"
    image = decode_image(encode(source, "PNG", exif=exif.tobytes()))
    assert np.array_equal(image.pixels, source)


def test_alpha_is_kept_as_rgba() -> None:
    data = (SAMPLES / "logo.png").read_bytes()
    image = decode_image(data)
    assert image.pixels.shape == (500, 500, 4)
    assert np.array_equal(image.pixels, pillow_pixels(data, "RGBA"))


def test_palette_with_transparency_becomes_rgba() -> None:
    palette = Image.fromarray(photo("chelsea")).quantize(16)
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    image = decode_image(out.getvalue())
    assert image.pixels.shape[2] == 4
    assert set(np.unique(image.pixels[..., 3])) == {0, 255}


def test_sixteen_bit_grey_keeps_the_high_byte() -> None:
    grey = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    image = decode_image(encode(grey, "PNG"))
    assert image.pixels.shape == (64, 64, 3)
    assert np.array_equal(image.pixels[..., 0], (grey >> 8).astype(np.uint8))
    assert np.array_equal(image.pixels[..., 0], image.pixels[..., 2])


def test_cmyk_jpeg_becomes_rgb() -> None:
    out = io.BytesIO()
    Image.fromarray(photo("coffee")).convert("CMYK").save(out, "JPEG")
    assert decode_image(out.getvalue()).pixels.shape == (400, 600, 3)


def test_animated_gif_gives_its_first_frame_and_frame_count() -> None:
    data = (SAMPLES / "no_time_for_that_tiny.gif").read_bytes()
    image = decode_image(data)
    assert image.frames == 24
    assert np.array_equal(
        image.pixels, pillow_pixels(data, "RGBA" if image.pixels.shape[2] == 4 else "RGB")
    )


@pytest.mark.parametrize(
    ("fmt", "options"), [("PNG", {}), ("WEBP", {"lossless": True, "quality": 0})]
)
def test_animated_png_and_webp_give_their_first_frame(fmt: str, options: dict[str, Any]) -> None:
    source = photo("chelsea")
    frames = [Image.fromarray(np.roll(source, 40 * i, axis=1)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], **options)
    image = decode_image(out.getvalue())
    assert image.frames == 3
    assert np.array_equal(image.pixels[..., :3], source)


def test_pixels_are_read_only() -> None:
    image = decode_image(encode(photo("chelsea"), "PNG"))
    with pytest.raises(ValueError, match="read-only"):
        image.pixels[0, 0, 0] = 1


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {}), ("TIFF", {})],
)
def test_sniff_names_each_format(fmt: str, options: dict[str, Any]) -> None:
    assert sniff_format(encode(photo("chelsea"), fmt, **options)) == fmt


def test_sniff_refuses_other_riff_and_garbage() -> None:
    assert sniff_format(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert sniff_format(b"<html><body>not an image</body></html>") is None
    assert sniff_format(b"") is None


# --- Bad input ---


def test_empty_bytes() -> None:
    assert reason_of(b"") == "empty"


def test_garbage_is_an_unknown_format_and_a_validation_error() -> None:
    with pytest.raises(ValidationError) as raised:
        decode_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 not an image at all")
    assert isinstance(raised.value, MediaError)
    assert raised.value.reason == "unknown_format"


def test_declared_mime_that_lies_names_both_types() -> None:
    data = encode(photo("chelsea"), "PNG")
    with pytest.raises(MediaError, match=r"image/jpeg.*PNG \(image/png\)") as raised:
        decode_image(data, declared_mime="image/jpeg")
    assert raised.value.reason == "mime_mismatch"


@pytest.mark.parametrize("declared", ["image/jpg", "IMAGE/JPEG", "image/jpeg; charset=binary"])
def test_declared_mime_is_normalised(declared: str) -> None:
    image = decode_image(encode(photo("chelsea"), "JPEG"), declared_mime=declared)
    assert image.mime == "image/jpeg"


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("JPEG", {}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True, "quality": 0}),
        ("GIF", {}),
        ("BMP", {}),
    ],
)
def test_a_file_cut_in_half_is_truncated(fmt: str, options: dict[str, Any]) -> None:
    data = encode(photo("chelsea"), fmt, **options)
    assert reason_of(data[: len(data) // 2]) == "truncated"
    assert reason_of(data[:20]) == "truncated"
    # Pillow's global stays off: a truncated file fails instead of being padded with grey.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_huge_png_header_is_refused_before_any_decoder_runs() -> None:
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 100
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(MediaError, match="100000x100000") as raised:
        decode_image(bomb)
    assert raised.value.reason == "too_many_pixels"
    # Our own check, not a translated DecompressionBombError, and Pillow's limit is untouched.
    assert raised.value.__context__ is None
    assert limit == Image.MAX_IMAGE_PIXELS


def test_pixel_bound_is_ours_below_pillows() -> None:
    # 25 Mpx is far under Pillow's bomb limit: only our max_pixels can refuse it.
    assert reason_of(png_header_only(5000, 5000), max_pixels=1_000_000) == "too_many_pixels"


def _patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _jpeg_sof_offset(data: bytes) -> int:
    return data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1): then height, width


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF", "BMP"])
def test_huge_header_in_every_format_is_refused(fmt: str) -> None:
    if fmt == "WEBP":  # extended layout: the VP8X canvas is the size
        data = encode(photo("chelsea"), "WEBP", exif=b"MM\x00*\x00\x00\x00\x08\x00\x00")
        bomb = _patched(data, 24, b"\xff\x3f\x00\xff\x3f\x00")  # 16384 x 16384
    elif fmt == "JPEG":
        data = encode(photo("chelsea"), "JPEG")
        bomb = _patched(data, _jpeg_sof_offset(data), struct.pack(">HH", 60_000, 60_000))
    elif fmt == "GIF":
        bomb = _patched(encode(photo("chelsea"), "GIF"), 6, struct.pack("<HH", 65535, 65535))
    else:
        bomb = _patched(encode(photo("chelsea"), "BMP"), 18, struct.pack("<ii", 40_000, -40_000))
    with pytest.raises(MediaError) as raised:
        decode_image(bomb)
    assert raised.value.reason == "too_many_pixels"
    assert raised.value.__context__ is None


def test_too_small() -> None:
    tiny = encode(np.zeros((4, 8, 3), np.uint8), "PNG")
    assert reason_of(tiny, min_side=16) == "too_small"
    assert decode_image(tiny, min_side=4).pixels.shape == (4, 8, 3)


def test_jpeg_segment_shorter_than_its_length_field_is_corrupt() -> None:
    data = encode(photo("chelsea"), "JPEG")
    assert data[2:4] == b"\xff\xe0"  # APP0 (JFIF) right after SOI
    assert reason_of(_patched(data, 4, b"\x00\x01")) == "corrupt"


def test_damaged_compressed_data_is_corrupt() -> None:
    data = encode(photo("chelsea"), "PNG")
    idat = next(chunk for chunk in png_chunks(data) if chunk.kind == b"IDAT")
    body = bytearray(idat.body(data))
    body[2:40] = bytes(38)  # wreck the deflate stream, keep the chunk CRC right
    broken = data[: idat.start] + png_chunk(b"IDAT", bytes(body)) + data[idat.end :]
    assert reason_of(broken) == "corrupt"


def test_chunk_length_past_the_end_is_a_clean_error() -> None:
    data = encode(photo("chelsea"), "PNG")
    idat = next(chunk for chunk in png_chunks(data) if chunk.kind == b"IDAT")
    broken = _patched(data, idat.start, struct.pack(">I", 0x7FFF_0000))
    assert reason_of(broken) == "truncated"
