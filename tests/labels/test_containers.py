"""The AIGC record in real PNG/JPEG/WebP photographs: byte-level edits, pixels untouched."""

from __future__ import annotations

import functools
import io
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import skimage.data
from PIL import Image, ImageCms, PngImagePlugin

from synthguard.errors import LabelError
from synthguard.labels.aigc import AigcRecord, LabelClass, MalformedRecordError
from synthguard.labels.containers import (
    MAX_XMP_BYTES,
    XMP_NAMESPACE,
    insert_record,
    read_record,
    strip_record,
)
from synthguard.media.image_io import (
    MediaError,
    decode_image,
    jpeg_segments,
    png_chunk,
    png_chunks,
    riff_chunks,
)

SAMPLES = Path(skimage.data.__file__).parent
FIRST = AigcRecord(LabelClass.CONFIRMED, "P-0011911101", "img-0001", 'sig:"a&b<c>"')
SECOND = AigcRecord(LabelClass.POSSIBLE, "P-0022", "img-0002", "", "platform-9", "share-7")
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
Pixels = npt.NDArray[np.uint8]


@functools.cache
def photo(name: str) -> Pixels:
    loader: Callable[[], Pixels] = getattr(skimage.data, name)
    return loader()


def encode(pixels: Pixels, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def cutout() -> Pixels:
    """Chelsea with a real alpha channel: a transparent left edge fading in."""
    rgb = photo("chelsea")
    alpha = np.broadcast_to(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), rgb.shape[:2])
    return np.dstack([rgb, alpha])


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[271] = "Canon"  # Make
    exif[272] = "Canon EOS 5D Mark IV"  # Model
    exif[274] = 1  # Orientation
    exif[306] = "2024:05:01 10:20:30"  # DateTime
    return exif.tobytes()


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

# Each is a different container layout the writer has to handle.
LAYOUTS: dict[str, Callable[[], bytes]] = {
    "png": lambda: encode(photo("astronaut"), "PNG"),
    "jpeg-lossy": lambda: encode(photo("coffee"), "JPEG", quality=80),
    "jpeg-exif-icc": lambda: encode(photo("chelsea"), "JPEG", exif=camera_exif(), icc_profile=SRGB),
    "jpeg-photoshop": (SAMPLES / "hubble_deep_field.jpg").read_bytes,
    "jpeg-jfif-comment": (SAMPLES / "rocket.jpg").read_bytes,
    "webp-lossy": lambda: encode(photo("chelsea"), "WEBP", quality=75),
    "webp-lossless": lambda: encode(photo("astronaut"), "WEBP", lossless=True, quality=0),
    "webp-lossless-alpha": lambda: encode(cutout(), "WEBP", lossless=True, quality=0),
    "webp-lossy-alpha": lambda: encode(cutout(), "WEBP", quality=70),
    "webp-exif-icc": lambda: encode(photo("coffee"), "WEBP", exif=camera_exif(), icc_profile=SRGB),
}


@functools.cache
def sample_file(name: str) -> bytes:
    return LAYOUTS[name]()


@pytest.fixture(params=sorted(LAYOUTS))
def sample(request: pytest.FixtureRequest) -> bytes:
    return sample_file(request.param)


def pixels(data: bytes) -> Pixels:
    return decode_image(data).pixels


def xmp_of(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        xmp = im.info["xmp"]
    assert isinstance(xmp, bytes)
    return xmp


def tc260_values(packet: bytes) -> list[str]:
    """An independent reader: ElementTree over our own output (never over untrusted input)."""
    root = ET.fromstring(packet.decode("utf-8"))
    elements = [node.text or "" for node in root.iter(f"{{{XMP_NAMESPACE}}}AIGC")]
    attributes = [
        value
        for node in root.iter()
        for key, value in node.attrib.items()
        if key == f"{{{XMP_NAMESPACE}}}AIGC"
    ]
    return elements + attributes


def png_with(data: bytes, kind: bytes, body: bytes) -> bytes:
    """`data` with one more chunk right after IHDR (offset 33)."""
    return data[:33] + png_chunk(kind, body) + data[33:]


def jpeg_with_xmp(data: bytes, packet: bytes) -> bytes:
    body = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def xmp_packet(description: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">{description}'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


# --- Round trips on every layout ---


def test_round_trip_keeps_every_decoded_pixel(sample: bytes) -> None:
    assert read_record(sample) is None
    labeled = insert_record(sample, FIRST)
    assert labeled != sample
    assert read_record(labeled) == FIRST
    # Lossy JPEG and WebP included: the pixel data was copied, not re-encoded.
    assert np.array_equal(pixels(labeled), pixels(sample))


def test_replacing_leaves_exactly_one_record(sample: bytes) -> None:
    twice = insert_record(insert_record(sample, FIRST), SECOND)
    assert read_record(twice) == SECOND
    assert b"img-0001" not in twice
    assert twice.count(b"img-0002") == 1
    assert np.array_equal(pixels(twice), pixels(sample))


def test_strip_removes_the_record_and_keeps_the_pixels(sample: bytes) -> None:
    stripped = strip_record(insert_record(sample, FIRST))
    assert read_record(stripped) is None
    assert b"img-0001" not in stripped
    assert np.array_equal(pixels(stripped), pixels(sample))


def test_strip_of_an_unlabeled_file_changes_nothing(sample: bytes) -> None:
    assert strip_record(sample) == sample


@pytest.mark.parametrize("name", ["png", "jpeg-lossy", "jpeg-exif-icc", "jpeg-photoshop"])
def test_strip_undoes_insert_byte_for_byte(name: str) -> None:
    original = sample_file(name)
    assert strip_record(insert_record(original, FIRST)) == original


# --- Pillow, an independent reader, sees the record where the standard puts it ---


def test_png_record_is_an_itxt_chunk_before_the_image_data() -> None:
    labeled = insert_record(sample_file("png"), FIRST)
    kinds = [chunk.kind for chunk in png_chunks(labeled)]
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")
    with Image.open(io.BytesIO(labeled)) as im:
        assert im.info["AIGC"] == FIRST.to_json()
        assert isinstance(im, PngImagePlugin.PngImageFile)
        assert im.text["AIGC"] == FIRST.to_json()


@pytest.mark.parametrize("name", ["jpeg-lossy", "jpeg-photoshop", "webp-lossy", "webp-lossless"])
def test_jpeg_and_webp_record_is_the_tc260_xmp_property(name: str) -> None:
    labeled = insert_record(sample_file(name), FIRST)
    packet = xmp_of(labeled)
    assert XMP_NAMESPACE.encode() in packet
    assert tc260_values(packet) == [FIRST.fields_json()]


def test_existing_xmp_packet_is_reused_not_duplicated() -> None:
    original = sample_file("jpeg-photoshop")

    def xmp_segments(data: bytes) -> int:
        header = b"http://ns.adobe.com/xap/1.0/\x00"
        return sum(
            1
            for seg in jpeg_segments(data)
            if seg.kind == b"\xe1" and seg.body(data).startswith(header)
        )

    labeled = insert_record(original, FIRST)
    assert xmp_segments(original) == xmp_segments(labeled) == 1
    packet = xmp_of(labeled)
    assert b'xmp:CreatorTool="Adobe Photoshop CS5 Macintosh"' in packet  # Photoshop's data stays
    assert tc260_values(packet) == [FIRST.fields_json()]


def test_new_jpeg_xmp_goes_after_jfif_and_exif() -> None:
    original = sample_file("jpeg-exif-icc")
    labeled = insert_record(original, FIRST)
    markers = [seg.kind[0] for seg in jpeg_segments(labeled)]
    bodies = [seg.body(labeled)[:6] for seg in jpeg_segments(labeled)]
    assert markers[:4] == [0xE0, 0xE1, 0xE1, 0xE2]  # JFIF, Exif, our XMP, ICC
    assert bodies[1] == b"Exif\x00\x00"
    assert bodies[2] == b"http:/"


@pytest.mark.parametrize("name", ["jpeg-exif-icc", "jpeg-photoshop", "webp-exif-icc"])
def test_exif_and_icc_survive(name: str) -> None:
    original = sample_file(name)
    before, after = decode_image(original), decode_image(insert_record(original, FIRST))
    assert before.exif is not None and before.icc_profile is not None
    assert (after.exif, after.icc_profile) == (before.exif, before.icc_profile)


def test_png_exif_and_icc_survive() -> None:
    original = encode(photo("chelsea"), "PNG", exif=camera_exif(), icc_profile=SRGB)
    labeled = insert_record(original, FIRST)
    with Image.open(io.BytesIO(labeled)) as im:
        assert im.info["icc_profile"] == SRGB
        assert im.getexif()[272] == "Canon EOS 5D Mark IV"


# --- WebP layout ---


@pytest.mark.parametrize(
    ("name", "bitstream", "alpha"),
    [
        ("webp-lossy", b"VP8 ", False),
        ("webp-lossless", b"VP8L", False),
        ("webp-lossless-alpha", b"VP8L", True),
    ],
)
def test_simple_webp_becomes_extended(name: str, bitstream: bytes, alpha: bool) -> None:
    original = sample_file(name)
    assert [chunk.kind for chunk in riff_chunks(original)] == [bitstream]
    labeled = insert_record(original, FIRST)
    chunks = list(riff_chunks(labeled))
    assert [chunk.kind for chunk in chunks] == [b"VP8X", bitstream, b"XMP "]
    vp8x = chunks[0].body(labeled)
    assert vp8x[0] == 0x04 | (0x10 if alpha else 0)  # XMP flag, and alpha for an RGBA image
    height, width = decode_image(original).pixels.shape[:2]
    canvas = (int.from_bytes(vp8x[4:7], "little") + 1, int.from_bytes(vp8x[7:10], "little") + 1)
    assert canvas == (width, height)
    assert int.from_bytes(labeled[4:8], "little") == len(labeled) - 8  # RIFF size


def test_extended_webp_keeps_chunk_order_and_flags() -> None:
    original = sample_file("webp-exif-icc")
    labeled = insert_record(original, FIRST)
    assert [chunk.kind for chunk in riff_chunks(labeled)] == [
        b"VP8X",
        b"ICCP",
        b"VP8 ",
        b"EXIF",
        b"XMP ",
    ]
    assert labeled[20] == original[20] | 0x04
    stripped = strip_record(labeled)
    assert b"XMP " not in [chunk.kind for chunk in riff_chunks(stripped)]
    assert stripped[20] == original[20]  # the XMP flag goes with the chunk


@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("WEBP", {"lossless": True})])
def test_animations_stay_animated(fmt: str, options: dict[str, Any]) -> None:
    frames = [Image.fromarray(np.roll(photo("chelsea"), 40 * i, axis=1)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], **options)
    labeled = insert_record(out.getvalue(), FIRST)
    assert read_record(labeled) == FIRST
    image = decode_image(labeled)
    assert image.frames == 3
    assert np.array_equal(image.pixels, decode_image(out.getvalue()).pixels)


# --- Records written by others, and one record per file (GB 45438-2025 6.1 c) ---

DOUBAO_STYLE = (
    f'<rdf:Description rdf:about="" xmlns:TC260="{XMP_NAMESPACE}"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>image/png</dc:format>'
    f"<TC260:AIGC>{SECOND.fields_json().replace('&', '&amp;')}</TC260:AIGC></rdf:Description>"
)


def test_png_record_in_xmp_is_read_and_replaced_by_the_chunk() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(DOUBAO_STYLE).decode())
    out = io.BytesIO()
    Image.fromarray(photo("chelsea")).save(out, "PNG", pnginfo=info)
    assert read_record(out.getvalue()) == SECOND
    labeled = insert_record(out.getvalue(), FIRST)
    assert read_record(labeled) == FIRST
    with Image.open(io.BytesIO(labeled)) as im:
        packet = im.info["XML:com.adobe.xmp"].encode()
    assert tc260_values(packet) == []
    assert b"<dc:format>image/png</dc:format>" in packet  # the rest of the packet stays


def test_attribute_form_is_read_and_replaced() -> None:
    # The Adobe XMP toolkit writes simple properties as attributes.
    value = SECOND.fields_json().replace('"', "&quot;")
    packet = xmp_packet(
        f'<rdf:Description rdf:about="" xmlns:T="{XMP_NAMESPACE}"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5" T:AIGC="{value}"/>'
    )
    original = jpeg_with_xmp(sample_file("jpeg-lossy"), packet)
    assert read_record(original) == SECOND
    labeled = insert_record(original, FIRST)
    assert tc260_values(xmp_of(labeled)) == [FIRST.fields_json()]
    assert b'xmp:Rating="5"' in xmp_of(labeled)
    assert b'xmp:Rating="5"/>' in xmp_of(strip_record(labeled))


def test_compressed_text_records_are_read_and_replaced() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("AIGC", SECOND.to_json(), zip=True)
    out = io.BytesIO()
    Image.fromarray(photo("chelsea")).save(out, "PNG", pnginfo=info)
    assert b"zTXt" in out.getvalue()
    assert read_record(out.getvalue()) == SECOND
    labeled = insert_record(out.getvalue(), FIRST)
    assert [chunk.kind for chunk in png_chunks(labeled)].count(b"zTXt") == 0
    assert read_record(labeled) == FIRST


def test_two_different_records_are_malformed_until_rewritten() -> None:
    base = sample_file("png")
    both = png_with(base, b"tEXt", b"AIGC\x00" + FIRST.to_json().encode())
    both = png_with(
        both, b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_packet(DOUBAO_STYLE)
    )
    with pytest.raises(MalformedRecordError, match="2 different AIGC records"):
        read_record(both)
    assert read_record(insert_record(both, FIRST)) == FIRST


def test_identical_copies_read_as_one_record() -> None:
    once = png_with(sample_file("png"), b"tEXt", b"AIGC\x00" + SECOND.to_json().encode())
    twice = png_with(
        once, b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_packet(DOUBAO_STYLE)
    )
    assert read_record(twice) == SECOND


# --- Records present but unreadable ---


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (b'{"AIGC":{"Label":"1",', "not valid JSON"),
        (b'{"AIGC":{"Label":"9","ContentProducer":"p","ProduceID":"i"}}', "Label is '9'"),
        (b'{"AIGC":{"Label":"1","Label":"3"}}', "duplicate key"),
        (b'{"AIGC":{"Label":"1","Owner":"x"}}', "unknown AIGC field"),
    ],
)
def test_bad_record_text_is_malformed(text: bytes, complaint: str) -> None:
    data = png_with(sample_file("png"), b"iTXt", b"AIGC\x00\x00\x00\x00\x00" + text)
    with pytest.raises(MalformedRecordError, match=complaint):
        read_record(data)


def test_bad_crc_on_the_record_chunk_is_malformed() -> None:
    data = insert_record(sample_file("png"), FIRST)
    at = data.index(b"P-0011911101")
    tampered = data[:at] + b"X" + data[at + 1 :]
    with pytest.raises(MalformedRecordError, match="bad CRC"):
        read_record(tampered)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
    f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
    f'<rdf:Description rdf:about="" xmlns:TC260="{XMP_NAMESPACE}">'
    "<TC260:AIGC>&e;&e;&e;</TC260:AIGC>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
).encode()


@pytest.mark.parametrize("action", [read_record, strip_record, lambda d: insert_record(d, FIRST)])
def test_xmp_with_a_doctype_is_refused_unparsed(action: Callable[[bytes], object]) -> None:
    data = jpeg_with_xmp(sample_file("jpeg-lossy"), BILLION_LAUGHS)
    with pytest.raises(MalformedRecordError, match="DOCTYPE"):
        action(data)


def test_xmp_that_is_not_xml_is_malformed() -> None:
    data = jpeg_with_xmp(sample_file("jpeg-lossy"), xmp_packet("<rdf:Description>")[:-30])
    with pytest.raises(MalformedRecordError, match="not well-formed"):
        read_record(data)


def test_markup_inside_the_property_is_malformed() -> None:
    packet = xmp_packet(
        f'<rdf:Description xmlns:TC260="{XMP_NAMESPACE}"><TC260:AIGC><rdf:Alt/></TC260:AIGC>'
        "</rdf:Description>"
    )
    with pytest.raises(MalformedRecordError, match="markup"):
        read_record(jpeg_with_xmp(sample_file("jpeg-lossy"), packet))


def test_oversized_xmp_is_refused_before_parsing() -> None:
    original = encode(photo("chelsea"), "WEBP", xmp=xmp_packet(" " * MAX_XMP_BYTES))
    with pytest.raises(MalformedRecordError, match="at most 65536"):
        read_record(original)


def test_compressed_record_that_inflates_too_far_is_malformed() -> None:
    bomb = zlib.compress(b" " * 1_000_000, 9)  # ~1 KB that inflates to 1 MB
    data = png_with(sample_file("png"), b"zTXt", b"AIGC\x00\x00" + bomb)
    with pytest.raises(MalformedRecordError, match="inflates past"):
        read_record(data)


# --- Broken containers and unsupported formats: clean errors, no crash ---


def _with_length(data: bytes, offset: int, length: bytes) -> bytes:
    return data[:offset] + length + data[offset + len(length) :]


def test_png_chunk_length_past_the_end() -> None:
    data = sample_file("png")
    idat = next(chunk for chunk in png_chunks(data) if chunk.kind == b"IDAT")
    broken = _with_length(data, idat.start, struct.pack(">I", 0x7000_0000))
    for action in (read_record, strip_record, lambda d: insert_record(d, FIRST)):
        with pytest.raises(MediaError, match="the data ends at") as raised:
            action(broken)
        assert raised.value.reason == "truncated"


def test_jpeg_segment_length_past_the_end() -> None:
    data = sample_file("jpeg-lossy")
    broken = _with_length(data[:200], 4, b"\xff\xf0")  # APP0 claims 65 KB in a 200-byte file
    with pytest.raises(MediaError) as raised:
        read_record(broken)
    assert raised.value.reason == "truncated"


def test_webp_chunk_size_past_the_end() -> None:
    data = sample_file("webp-lossy")
    broken = _with_length(data, 16, struct.pack("<I", len(data) * 4))
    with pytest.raises(MediaError) as raised:
        insert_record(broken, FIRST)
    assert raised.value.reason == "truncated"


def test_half_a_png_is_truncated() -> None:
    data = sample_file("png")
    with pytest.raises(MediaError) as raised:
        read_record(data[: len(data) // 2])
    assert raised.value.reason == "truncated"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plain text, not an image",
        encode(np.zeros((8, 8, 3), np.uint8), "GIF"),
        encode(np.zeros((8, 8, 3), np.uint8), "BMP"),
    ],
)
def test_unsupported_data_is_a_label_error(data: bytes) -> None:
    for action in (read_record, strip_record, lambda d: insert_record(d, FIRST)):
        with pytest.raises(LabelError, match="PNG, JPEG or WebP only") as raised:
            action(data)
        assert not isinstance(raised.value, MalformedRecordError)
