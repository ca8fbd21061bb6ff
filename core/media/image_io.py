"""Safe decoding of untrusted image bytes: the pipeline's bad-input gate.

Checks run cheapest first and each failure is a `MediaError` whose `reason` is a machine code:
empty bytes, an unknown format (magic bytes), a declared MIME type that the bytes contradict,
then the image size read from the format's own header, and only then Pillow, restricted to the
sniffed format, opens and decodes the file once.

The pixel bound is ours and is checked before Pillow sees the file, so a decompression bomb is
refused without allocating anything. Pillow's process-wide ``MAX_IMAGE_PIXELS`` and
``LOAD_TRUNCATED_IMAGES`` are never changed: other code in the process relies on them, and a
truncated file must fail rather than be padded with grey.

EXIF orientation is not applied: pixels come back as stored. The implicit label's signature and
the invisible watermark live in stored pixel space; rotating here would make a verifier hash
other pixels than the labeler signed.

The bounded walkers over PNG chunks, JPEG marker segments and RIFF chunks are public because
`synthguard.labels.containers` edits files with them.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from PIL import Image

from synthguard.errors import ValidationError

MediaReason = Literal[
    "empty",
    "unknown_format",
    "mime_mismatch",
    "truncated",
    "corrupt",
    "too_many_pixels",
    "too_small",
    # audio and video (media.av_io)
    "no_stream",
    "unsupported_codec",
    "too_long",
    "bad_frame_rate",
    "bad_audio",
]


class MediaError(ValidationError):
    """Image bytes refused; `reason` is a short machine code, the message is for people."""

    def __init__(self, reason: MediaReason, message: str) -> None:
        super().__init__(message)
        self.reason: MediaReason = reason


MIME_OF: Final[dict[str, str]] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
# The formats whose containers can carry the implicit label (see labels.containers).
SUPPORTED_FORMATS: Final = frozenset({"PNG", "JPEG", "WEBP"})

# Unregistered or legacy names that clients still send for the same formats.
_MIME_ALIASES: Final = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/apng": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
}

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_MAGIC: Final = (
    (_PNG_SIGNATURE, "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

# Pillow modes that carry an alpha channel; anything else gets one only through `transparency`.
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_EXIF_HEADER: Final = b"Exif\x00\x00"


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """The first frame as stored (no EXIF rotation); `pixels` is read-only, HxWx3 or HxWx4."""

    format: str
    mime: str
    pixels: npt.NDArray[np.uint8]
    width: int
    height: int
    icc_profile: bytes | None
    # Pillow's form, b"Exif\0\0" + TIFF structure, whatever container it came from.
    exif: bytes | None
    frames: int


def sniff_format(data: bytes) -> str | None:
    """The format named by the magic bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return None


def decode_image(
    data: bytes,
    *,
    declared_mime: str | None = None,
    max_pixels: int = 50_000_000,
    min_side: int = 1,
) -> DecodedImage:
    """Decode the first frame to RGB (RGBA when the image has alpha), or raise MediaError."""
    fmt = _identify(data, declared_mime)
    _check_size(fmt, *_header_size(fmt, data), max_pixels=max_pixels, min_side=min_side)
    with _pillow_errors(fmt), Image.open(io.BytesIO(data), formats=[fmt]) as im:
        # Pillow's canvas can exceed the header's: a GIF frame may overhang its logical screen.
        _check_size(fmt, im.width, im.height, max_pixels=max_pixels, min_side=min_side)
        frames = int(getattr(im, "n_frames", 1))
        im.load()
        pixels = _rgb_pixels(im)
        icc = im.info.get("icc_profile")
        exif = im.info.get("exif")
    pixels.flags.writeable = False
    return DecodedImage(
        format=fmt,
        mime=MIME_OF[fmt],
        pixels=pixels,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
        exif=_pillow_exif(exif),
        frames=frames,
    )


def _identify(data: bytes, declared_mime: str | None) -> str:
    if not data:
        raise MediaError("empty", "no image bytes")
    fmt = sniff_format(data)
    if fmt is None:
        raise MediaError(
            "unknown_format",
            f"not a PNG, JPEG, WebP, GIF, BMP or TIFF file (starts with {data[:8].hex()})",
        )
    if declared_mime is not None and _normalise_mime(declared_mime) != MIME_OF[fmt]:
        raise MediaError(
            "mime_mismatch", f"declared {declared_mime!r} but the bytes are {fmt} ({MIME_OF[fmt]})"
        )
    return fmt


def _normalise_mime(mime: str) -> str:
    """`Image/JPG; charset=x` -> image/jpeg: case and parameters do not matter (RFC 2045 5.1)."""
    bare = mime.split(";", 1)[0].strip().lower()
    return _MIME_ALIASES.get(bare, bare)


def _check_size(fmt: str, width: int, height: int, *, max_pixels: int, min_side: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError("corrupt", f"{fmt} header gives a size of {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(
            "too_many_pixels",
            f"{fmt} image is {width}x{height} = {width * height} pixels (at most {max_pixels})",
        )
    if min(width, height) < min_side:
        raise MediaError(
            "too_small", f"{fmt} image is {width}x{height} (each side at least {min_side})"
        )


@contextmanager
def _pillow_errors(fmt: str) -> Iterator[None]:
    """Pillow's and zlib's exceptions on bad data, as MediaError."""
    try:
        yield
    except Image.DecompressionBombError as exc:
        # Only reachable when max_pixels is above Pillow's own limit, which we leave alone.
        raise MediaError("too_many_pixels", f"{fmt}: {exc}") from exc
    except EOFError as exc:
        raise MediaError("truncated", f"{fmt} data ends early: {exc}") from exc
    except (OSError, SyntaxError, ValueError, zlib.error, struct.error) as exc:
        # Pillow says "image file is truncated" / "Truncated File Read"; nothing more specific.
        reason: MediaReason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
        raise MediaError(reason, f"{fmt} data is {reason}: {exc}") from exc


def _rgb_pixels(im: Image.Image) -> npt.NDArray[np.uint8]:
    if im.mode.startswith("I;16"):
        # Pillow's convert() clips 16-bit grey at 255; the high byte keeps the whole range.
        # (A tRNS key colour on 16-bit grey is dropped: rare, and not worth a second path.)
        grey = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    target = "RGBA" if im.mode in _ALPHA_MODES or "transparency" in im.info else "RGB"
    return np.asarray(im if im.mode == target else im.convert(target))


def _pillow_exif(raw: object) -> bytes | None:
    """PNG and JPEG give b"Exif\\0\\0" + TIFF, WebP's chunk usually bare TIFF: one form out."""
    if not isinstance(raw, bytes) or not raw:
        return None
    return raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw


# --- Container walkers: every length is checked against the data before it is used. ---


class Chunk(NamedTuple):
    """A PNG chunk, JPEG marker segment or RIFF chunk: the unit is ``data[start:end]`` (header,
    CRC and padding included), its payload ``data[body_start:body_end]``. `kind` is the PNG chunk
    type, the RIFF FourCC or the one JPEG marker byte."""

    kind: bytes
    start: int
    body_start: int
    body_end: int
    end: int

    def body(self, data: bytes) -> bytes:
        return data[self.body_start : self.body_end]


def _truncated(what: str, offset: int, claimed: int, size: int) -> MediaError:
    return MediaError(
        "truncated", f"{what} at offset {offset} needs {claimed} bytes, the data ends at {size}"
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 over type and data (PNG spec 5.3)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> Iterator[Chunk]:
    """Chunks from IHDR to IEND; bytes after IEND are not read (PNG spec 5.2, 5.3)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise MediaError("corrupt", "not a PNG file (bad signature)")
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise _truncated("PNG chunk header", pos, pos + 12, len(data))
        length, kind = struct.unpack_from(">I4s", data, pos)
        # PNG spec 5.3: a chunk length is at most 2^31 - 1.
        if length > 0x7FFF_FFFF:
            raise MediaError("corrupt", f"PNG chunk {kind!r} at offset {pos} has length {length}")
        end = pos + 12 + length
        if end > len(data):
            raise _truncated(f"PNG chunk {kind!r}", pos, end, len(data))
        yield Chunk(kind, pos, pos + 8, end - 4, end)
        if kind == b"IEND":
            return
        pos = end


_JPEG_SOS: Final = 0xDA
_JPEG_EOI: Final = 0xD9
# ITU-T T.81 Table B.1: TEM, RST0-7, SOI and EOI stand alone; every other marker has a length.
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xDA)})
# SOF0-15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_segments(data: bytes) -> Iterator[Chunk]:
    """Marker segments after SOI up to and including SOS, or up to EOI (ITU-T T.81 B.1.1).

    The entropy-coded data after SOS is not walked: metadata lives in the header.
    """
    if not data.startswith(b"\xff\xd8"):
        raise MediaError("corrupt", "not a JPEG file (no SOI marker)")
    pos = 2
    while True:
        start = pos
        if pos >= len(data):
            raise _truncated("JPEG marker", pos, pos + 2, len(data))
        if data[pos] != 0xFF:
            raise MediaError("corrupt", f"JPEG: expected a marker at offset {pos}")
        # T.81 B.1.1.2: a marker may be preceded by any number of 0xFF fill bytes.
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 2 > len(data):
            raise _truncated("JPEG marker", pos, pos + 2, len(data))
        marker = data[pos + 1]
        if marker in _JPEG_STANDALONE:
            yield Chunk(bytes([marker]), start, pos + 2, pos + 2, pos + 2)
            if marker == _JPEG_EOI:
                return
            pos += 2
            continue
        if pos + 4 > len(data):
            raise _truncated(f"JPEG segment 0x{marker:02X}", pos, pos + 4, len(data))
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0x00 or length < 2:
            raise MediaError("corrupt", f"JPEG: bad marker segment 0x{marker:02X} at offset {pos}")
        end = pos + 2 + length
        if end > len(data):
            raise _truncated(f"JPEG segment 0x{marker:02X}", pos, end, len(data))
        yield Chunk(bytes([marker]), start, pos + 4, end, end)
        if marker == _JPEG_SOS:
            return
        pos = end


def riff_chunks(data: bytes) -> Iterator[Chunk]:
    """Chunks of a RIFF/WEBP file; bytes past the RIFF size are not read (RFC 9649 section 2)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MediaError("corrupt", "not a WebP file (no RIFF/WEBP header)")
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > len(data):
        raise _truncated("RIFF/WEBP data", 0, riff_end, len(data))
    pos = 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise _truncated("RIFF chunk header", pos, pos + 8, riff_end)
        kind, size = struct.unpack_from("<4sI", data, pos)
        body_end = pos + 8 + size
        if body_end > riff_end:
            raise _truncated(f"RIFF chunk {kind!r}", pos, body_end, riff_end)
        # Odd-sized payloads are followed by one padding byte, not counted in the size.
        end = min(body_end + (size & 1), riff_end)
        yield Chunk(kind, pos, pos + 8, body_end, end)
        pos = end


def webp_bitstream_size(kind: bytes, body: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha-in-bitstream of a 'VP8 ' or 'VP8L' chunk payload.

    VP8: RFC 6386 9.1 (key frame start code 9d 01 2a, then 14-bit sizes); VP8L: RFC 9649
    section 3 (signature 0x2f, 14-bit sizes minus one, the alpha hint, a 3-bit version 0).
    """
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        if width & 0x3FFF and height & 0x3FFF:
            return width & 0x3FFF, height & 0x3FFF, False
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        if bits >> 29 == 0:
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    raise MediaError("corrupt", f"WebP: bad {kind.decode('latin-1')!r} bitstream header")


# --- Header sizes: read before any decoder runs. ---


def _png_size(data: bytes) -> tuple[int, int]:
    # The whole chunk list is walked (headers only): a length past the end is caught here.
    ihdr, *_ = png_chunks(data)
    # PNG spec 11.2.2: IHDR comes first and is 13 bytes long.
    if ihdr.kind != b"IHDR" or ihdr.body_end - ihdr.body_start != 13:
        raise MediaError("corrupt", "PNG: the first chunk is not a 13-byte IHDR")
    width, height = struct.unpack_from(">II", data, ihdr.body_start)
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    for segment in jpeg_segments(data):
        if segment.kind[0] in _JPEG_SOF:
            # T.81 B.2.2: sample precision (1 byte), then Y (lines) and X (samples per line).
            if segment.body_end - segment.body_start < 6:
                raise MediaError("corrupt", "JPEG: frame header too short")
            height, width = struct.unpack_from(">HH", data, segment.body_start + 1)
            return int(width), int(height)
    raise MediaError("corrupt", "JPEG: no frame header (SOFn) before the scan")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunks = list(riff_chunks(data))  # walks every chunk header: sizes past the end fail here
    if not chunks:
        raise MediaError("corrupt", "WebP: no chunks")
    first = chunks[0]
    body = first.body(data)
    if first.kind == b"VP8X" and len(body) >= 10:
        # RFC 9649 VP8X chunk: flags, 3 reserved bytes, canvas width and height minus one (24 bits).
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    width, height, _ = webp_bitstream_size(first.kind, body)
    return width, height


def _gif_size(data: bytes) -> tuple[int, int]:
    # GIF89a 18, 19: the logical screen descriptor follows the 6-byte signature, then the global
    # colour table (3 * 2^(N+1) bytes) when its flag is set; the header ends there.
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    header_end = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    if len(data) < header_end:
        raise _truncated("GIF header", 0, header_end, len(data))
    return int(width), int(height)


def _bmp_size(data: bytes) -> tuple[int, int]:
    (dib_size,) = struct.unpack_from("<I", data, 14)
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
        width, height = struct.unpack_from("<HH", data, 18)
        return int(width), int(height)
    width, height = struct.unpack_from("<ii", data, 18)
    return int(width), abs(int(height))  # a negative height means top-down rows


def _tiff_size(data: bytes) -> tuple[int, int]:
    # TIFF 6.0 section 2: byte order, 42, offset of IFD0; tags 256/257 are SHORT or LONG.
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    size: dict[int, int] = {}
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        if tag in (256, 257) and kind in (3, 4):
            (size[tag],) = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, entry + 8)
    if len(size) != 2:
        raise MediaError("corrupt", "TIFF: IFD0 has no ImageWidth/ImageLength")
    return size[256], size[257]


_HEADER_SIZE: Final[dict[str, Callable[[bytes], tuple[int, int]]]] = {
    "PNG": _png_size,
    "JPEG": _jpeg_size,
    "WEBP": _webp_size,
    "GIF": _gif_size,
    "BMP": _bmp_size,
    "TIFF": _tiff_size,
}


def _header_size(fmt: str, data: bytes) -> tuple[int, int]:
    try:
        return _HEADER_SIZE[fmt](data)
    except struct.error as exc:  # a fixed-layout header runs past the data
        raise MediaError("truncated", f"{fmt} header cut short ({len(data)} bytes)") from exc
