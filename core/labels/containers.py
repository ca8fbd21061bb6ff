"""The GB 45438 implicit label (the AIGC record) inside image files, written without re-encoding.

The producer's signature covers the decoded pixels, and re-encoding a JPEG or lossy WebP to add
metadata would change them. So the record goes in by editing the container: every byte that
carries pixels is copied as it was.

Where we write it:

* PNG: an iTXt chunk, keyword ``AIGC``, uncompressed, text ``{"AIGC":{...}}``, before the first
  IDAT, where readers that stop at the image data (Pillow's ``info``) still see it.
* JPEG: the property ``TC260:AIGC`` (namespace ``http://www.tc260.org.cn/ns/AIGC/1.0/``,
  registered under the TC260 practice guide TC260-PG-20258A), value the seven elements as JSON,
  in the standard XMP packet (APP1). An existing packet is edited in place; otherwise a new APP1
  goes right after SOI and any APP0 (JFIF) / Exif APP1 segments.
* WebP: the same XMP packet in the ``XMP `` chunk; a simple (VP8/VP8L) file is first given the
  extended layout (a VP8X chunk).

GB 45438-2025 6.1 c): one implicit label per file. Writing first removes every record already
there, wherever other writers put one: a PNG tEXt/zTXt/iTXt ``AIGC`` chunk, or TC260:AIGC as an
element or an attribute in any XMP packet (Doubao, for one, writes PNG records as XMP). Reading
looks in all those places. Identical copies read as one record; different ones are
MalformedRecordError, because two readers taking different copies is a way to forge a label.

Errors: LabelError when the data is not PNG, JPEG or WebP; MalformedRecordError when a record's
container is there but unreadable (bad JSON or fields, a bad CRC, XMP that is not well-formed);
MediaError (media.image_io) when the file's own structure is broken: that is bad input, not a
label problem.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal, NoReturn
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from synthguard.errors import LabelError
from synthguard.labels.aigc import (
    MAX_RECORD_JSON_BYTES,
    RECORD_KEY,
    AigcRecord,
    MalformedRecordError,
    parse_json,
)
from synthguard.media.image_io import (
    SUPPORTED_FORMATS,
    Chunk,
    MediaError,
    jpeg_segments,
    png_chunk,
    png_chunks,
    riff_chunks,
    sniff_format,
    webp_bitstream_size,
)

XMP_NAMESPACE: Final = "http://www.tc260.org.cn/ns/AIGC/1.0/"
XMP_PREFIX: Final = "TC260"
# JPEG's APP1 cannot hold more than 65,502 bytes of packet; PNG and WebP are held to about the
# same bound, so every format parses the same worst case.
MAX_XMP_BYTES: Final = 64 * 1024


def insert_record(data: bytes, record: AigcRecord) -> bytes:
    """`data` carrying `record` as its one implicit label; pixel bytes are copied unchanged."""
    return _WRITERS[_label_format(data)](data, record)


def strip_record(data: bytes) -> bytes:
    """`data` without any AIGC record; other metadata stays."""
    return _WRITERS[_label_format(data)](data, None)


def read_record(data: bytes) -> AigcRecord | None:
    """The file's AIGC record, or None when it carries none."""
    distinct = list(dict.fromkeys(_READERS[_label_format(data)](data)))
    if len(distinct) > 1:
        raise MalformedRecordError(
            f"{len(distinct)} different AIGC records in one file (GB 45438-2025 6.1 c) allows one)"
        )
    return distinct[0] if distinct else None


def _label_format(data: bytes) -> str:
    fmt = sniff_format(data)
    if fmt is None or fmt not in SUPPORTED_FORMATS:
        raise LabelError(
            f"cannot carry an AIGC record in {fmt or 'unrecognised'} data (PNG, JPEG or WebP only)"
        )
    return fmt


def _record(text: bytes | str, where: str, *, wrapped: bool) -> AigcRecord:
    """Parse `{"AIGC":{...}}` (`wrapped`) or the bare element object, as MalformedRecordError."""
    try:
        if wrapped:
            return AigcRecord.from_json(text)
        fields = parse_json(text)
        if not isinstance(fields, dict):
            raise LabelError("the value is not a JSON object")
        return AigcRecord.from_fields(fields)
    except LabelError as exc:
        raise MalformedRecordError(f"{where}: {exc}") from exc


_Edit = tuple[int, int, bytes]


def _splice(data: bytes, edits: Iterable[_Edit]) -> bytes:
    """`data` with each [start, end) replaced by its bytes; the edits must not overlap."""
    parts: list[bytes] = []
    pos = 0
    for start, end, new in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        parts += [data[pos:start], new]
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


# --- XMP: the packet is edited as bytes, so everything around our property stays as written. ---

_RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RDF_RDF: Final = f"{_RDF} RDF"
_RDF_DESCRIPTION: Final = f"{_RDF} Description"
_RDF_ABOUT: Final = f"{_RDF} about"
_OURS: Final = f"{XMP_NAMESPACE} AIGC"
# rdf:Description attributes that are RDF syntax, not XMP properties.
_SYNTAX_ATTRIBUTES: Final = frozenset(
    {_RDF_ABOUT, f"{_RDF} ID", f"{_RDF} nodeID", "http://www.w3.org/XML/1998/namespace lang"}
)
_XML_SPACE: Final = b" \t\r\n"
# XMP spec Part 1: the packet wrapper, with the fixed id the spec gives.
_XPACKET_BEGIN: Final = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END: Final = '<?xpacket end="w"?>'


def _expanded(name: str) -> str:
    """expat's "uri local prefix" without the prefix; namespace URIs hold no spaces."""
    return name.rsplit(" ", 1)[0] if name.count(" ") == 2 else name


def _qualified(name: str) -> str:
    """expat's "uri local prefix" as written in the tag, "prefix:local"."""
    _, local, prefix = name.split(" ")
    return f"{prefix}:{local}"


def _refuse_doctype(*_: object) -> NoReturn:
    # A DTD is where billion-laughs and external-entity payloads are declared, and XMP has no
    # use for one, so the parse stops at the DOCTYPE, before any entity is defined.
    raise MalformedRecordError("XMP packet declares a DOCTYPE (refused: entity expansion)")


def _tag_end(packet: bytes, start: int) -> int:
    """Offset just past the tag opening at `start`; a quoted attribute value may contain '>'."""
    pos = start
    while True:
        close = packet.index(b">", pos)
        quotes = [
            at for at in (packet.find(b'"', pos, close), packet.find(b"'", pos, close)) if at >= 0
        ]
        if not quotes:
            return close + 1
        opening = min(quotes)
        pos = packet.index(packet[opening : opening + 1], opening + 1) + 1


def _element_end(packet: bytes, start: int, end_index: int) -> int:
    """Offset just past the element that starts at `start`; expat's `end_index` is its end tag."""
    tag_end = _tag_end(packet, start)
    if packet[tag_end - 2 : tag_end] == b"/>":  # an empty-element tag is both start and end
        return tag_end
    return packet.index(b">", end_index) + 1


def _attribute_span(packet: bytes, tag_start: int, qname: str) -> tuple[int, int]:
    """The bytes of attribute `qname`, with the white space before it, in the tag at `tag_start`.

    expat has accepted the tag, so it is a name then `name = "value"` pairs after white space.
    """
    target = qname.encode()
    pos = tag_start + 1
    while packet[pos] not in _XML_SPACE:
        pos += 1
    while True:
        gap = pos
        while packet[pos] in _XML_SPACE:
            pos += 1
        equals = packet.index(b"=", pos)
        quote = equals + 1
        while packet[quote] in _XML_SPACE:
            quote += 1
        close = packet.index(packet[quote : quote + 1], quote + 1)
        if packet[pos:equals].rstrip(_XML_SPACE) == target:
            return gap, close + 1
        pos = close + 1


@dataclass
class _Description:
    start: int
    properties: int = 0  # properties other than ours
    ours: list[tuple[int, int]] = field(default_factory=list)


class _XmpScan:
    """One expat pass over a packet: every TC260:AIGC value and the bytes that remove it."""

    def __init__(self, packet: bytes) -> None:
        self.packet = packet
        self.values: list[str] = []
        self.removals: list[tuple[int, int]] = []
        self.other_properties = 0
        self.rdf_end: int | None = None  # just past the rdf:RDF start tag
        self.about: str | None = None  # rdf:about of the first rdf:Description
        # Open elements: expanded name, start offset, whether it is a Description's property.
        self._open: list[tuple[str, int, bool]] = []
        self._descriptions: list[_Description] = []
        self._text: list[str] | None = None  # the value of an open TC260:AIGC element
        self._parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
        self._parser.namespace_prefixes = True
        self._parser.buffer_text = True
        self._parser.StartDoctypeDeclHandler = _refuse_doctype
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._characters

    def run(self) -> _XmpScan:
        try:
            self._parser.Parse(self.packet, True)
        except expat.ExpatError as exc:
            raise MalformedRecordError(f"XMP packet is not well-formed XML: {exc}") from exc
        return self

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        start = self._parser.CurrentByteIndex
        if self._text is not None:
            raise MalformedRecordError("TC260:AIGC holds markup, not a JSON string")
        element = _expanded(name)
        is_property = bool(self._open) and self._open[-1][0] == _RDF_DESCRIPTION
        if is_property and element != _OURS:
            self._descriptions[-1].properties += 1
        if element == _RDF_RDF and self.rdf_end is None:
            self.rdf_end = _tag_end(self.packet, start)
        description = _Description(start) if element == _RDF_DESCRIPTION else None
        for key, value in attrs.items():
            attribute = _expanded(key)
            if attribute == _OURS:
                self.values.append(value)
                span = _attribute_span(self.packet, start, _qualified(key))
                (self.removals if description is None else description.ours).append(span)
            elif description is not None and attribute not in _SYNTAX_ATTRIBUTES:
                description.properties += 1
        if description is not None:
            if self.about is None:
                self.about = next((v for k, v in attrs.items() if _expanded(k) == _RDF_ABOUT), "")
            self._descriptions.append(description)
        if element == _OURS:
            self._text = []
        self._open.append((element, start, is_property))

    def _end(self, _name: str) -> None:
        element, start, is_property = self._open.pop()
        end = _element_end(self.packet, start, self._parser.CurrentByteIndex)
        if element == _OURS:
            self.values.append("".join(self._text or []))
            self._text = None
            (self._descriptions[-1].ours if is_property else self.removals).append((start, end))
        elif element == _RDF_DESCRIPTION:
            description = self._descriptions.pop()
            self.other_properties += description.properties
            # A Description that held only records goes whole: replacing leaves no empty ones.
            if description.ours and description.properties == 0:
                self.removals.append((description.start, end))
            else:
                self.removals += description.ours

    def _characters(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)


def _scan_xmp(packet: bytes) -> _XmpScan:
    # Bounded before parsing, so a hostile file cannot have us parse megabytes of XML.
    if len(packet) > MAX_XMP_BYTES:
        raise MalformedRecordError(f"XMP packet is {len(packet)} bytes (at most {MAX_XMP_BYTES})")
    return _XmpScan(packet).run()


def _xmp_records(packet: bytes, where: str) -> list[AigcRecord]:
    return [_record(value, where, wrapped=False) for value in _scan_xmp(packet).values]


def _description(record: AigcRecord, about: str) -> bytes:
    # It declares its own prefixes, so it is right whatever prefixes the packet around it uses.
    return (
        f'<rdf:Description xmlns:rdf="{_RDF}" xmlns:{XMP_PREFIX}="{XMP_NAMESPACE}"'
        f" rdf:about={quoteattr(about)}>"
        f"<{XMP_PREFIX}:AIGC>{escape(record.fields_json())}</{XMP_PREFIX}:AIGC>"
        "</rdf:Description>"
    ).encode()


def _new_packet(record: AigcRecord) -> bytes:
    head = f'{_XPACKET_BEGIN}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{_RDF}">'
    tail = f"</rdf:RDF></x:xmpmeta>{_XPACKET_END}"
    return head.encode() + _description(record, "") + tail.encode()


def _edit_xmp(packet: bytes, record: AigcRecord | None) -> bytes | None:
    """`packet` without any TC260:AIGC and with `record` added (when given); None when the
    packet held nothing but records, so the caller drops it."""
    scan = _scan_xmp(packet)
    edits: list[_Edit] = [(start, end, b"") for start, end in scan.removals]
    if record is not None:
        if scan.rdf_end is None:
            raise MalformedRecordError("XMP packet has no rdf:RDF element to hold the record")
        # XMP Part 1: all rdf:Description elements of a packet describe the same resource.
        edits.append((scan.rdf_end, scan.rdf_end, _description(record, scan.about or "")))
    elif edits and scan.other_properties == 0:
        return None
    return _splice(packet, edits)


# --- PNG (W3C PNG spec, 2nd ed.) ---

_PNG_TEXT: Final = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_PNG_RECORD_KEYWORD: Final = RECORD_KEY.encode()
_PNG_XMP_KEYWORD: Final = b"XML:com.adobe.xmp"  # XMP spec Part 3, 1.1.5
# The record goes before the image data; APNG's acTL/fcTL come before the first IDAT too.
_PNG_IMAGE_START: Final = frozenset({b"IDAT", b"acTL", b"fcTL"})
_PngRole = Literal["record", "xmp"]


def _png_itxt(keyword: bytes, text: bytes) -> bytes:
    # PNG spec 11.3.4.5: keyword, NUL, compression flag 0 and method 0, then an empty language
    # tag and translated keyword, each NUL-terminated, then the UTF-8 text.
    return png_chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + text)


def _png_role(data: bytes, chunk: Chunk) -> _PngRole | None:
    if chunk.kind not in _PNG_TEXT:
        return None
    # PNG spec 11.3.4.2: a keyword is 1-79 bytes, then NUL.
    nul = data.find(b"\x00", chunk.body_start, min(chunk.body_end, chunk.body_start + 80))
    keyword = data[chunk.body_start : nul] if nul >= 0 else b""
    if keyword == _PNG_RECORD_KEYWORD:
        return "record"
    return "xmp" if keyword == _PNG_XMP_KEYWORD else None


def _png_text(data: bytes, chunk: Chunk, limit: int) -> bytes:
    """The text of a tEXt/zTXt/iTXt chunk (PNG spec 11.3.4.3-5), CRC checked; compressed text
    is inflated to at most `limit` bytes (the parsers bound plain text themselves)."""
    if zlib.crc32(data[chunk.start + 4 : chunk.body_end]) != int.from_bytes(
        data[chunk.body_end : chunk.end], "big"
    ):
        raise MalformedRecordError(f"PNG {chunk.kind.decode()} chunk has a bad CRC")
    body = chunk.body(data)
    rest = body[body.index(b"\x00") + 1 :]
    if chunk.kind == b"tEXt":
        return rest
    if chunk.kind == b"zTXt":
        return _inflate(rest[1:], limit)
    fields = rest[2:].split(b"\x00", 2)  # language tag, translated keyword, text
    if len(rest) < 2 or len(fields) != 3:
        raise MalformedRecordError("PNG iTXt chunk is cut short")
    return _inflate(fields[2], limit) if rest[0] else fields[2]


def _inflate(data: bytes, limit: int) -> bytes:
    """Inflate at most `limit` bytes: a larger text is refused, not inflated (zip bombs)."""
    try:
        text = zlib.decompressobj().decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedRecordError(f"PNG compressed text is corrupt: {exc}") from exc
    if len(text) > limit:
        raise MalformedRecordError(f"PNG compressed text inflates past {limit} bytes")
    return text


def _png_read(data: bytes) -> list[AigcRecord]:
    records: list[AigcRecord] = []
    for chunk in png_chunks(data):
        role = _png_role(data, chunk)
        if role == "record":
            text = _png_text(data, chunk, MAX_RECORD_JSON_BYTES)
            records.append(_record(text, "PNG AIGC chunk", wrapped=True))
        elif role == "xmp":
            records += _xmp_records(_png_text(data, chunk, MAX_XMP_BYTES), "PNG XMP")
    return records


def _png_write(data: bytes, record: AigcRecord | None) -> bytes:
    edits: list[_Edit] = []
    image_start: int | None = None
    for chunk in png_chunks(data):
        if image_start is None and chunk.kind in _PNG_IMAGE_START:
            image_start = chunk.start
        role = _png_role(data, chunk)
        if role == "record":
            edits.append((chunk.start, chunk.end, b""))
        elif role == "xmp":
            packet = _png_text(data, chunk, MAX_XMP_BYTES)
            edited = _edit_xmp(packet, None)
            if edited != packet:
                new = b"" if edited is None else _png_itxt(_PNG_XMP_KEYWORD, edited)
                edits.append((chunk.start, chunk.end, new))
    if record is not None:
        if image_start is None:
            raise MediaError("corrupt", "PNG has no IDAT chunk")
        new = _png_itxt(_PNG_RECORD_KEYWORD, record.to_json().encode())
        edits.append((image_start, image_start, new))
    return _splice(data, edits)


# --- JPEG (ITU-T T.81; XMP spec Part 3, 1.1.3) ---
# Extended XMP (a packet split over several APP1 segments) is neither read nor written: the
# record is a small simple property and belongs in the standard packet.

_JPEG_APP0: Final = 0xE0
_JPEG_APP1: Final = 0xE1
_JPEG_XMP_HEADER: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXIF_HEADER: Final = b"Exif\x00\x00"


def _jpeg_app1(data: bytes, segment: Chunk, header: bytes) -> bool:
    return segment.kind[0] == _JPEG_APP1 and data.startswith(header, segment.body_start)


def _jpeg_xmp_segment(packet: bytes) -> bytes:
    body = _JPEG_XMP_HEADER + packet
    # T.81 B.1.1.4: the 16-bit segment length counts itself.
    if len(body) + 2 > 0xFFFF:
        raise LabelError(f"XMP packet of {len(packet)} bytes does not fit one JPEG APP1 segment")
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def _jpeg_read(data: bytes) -> list[AigcRecord]:
    records: list[AigcRecord] = []
    for segment in jpeg_segments(data):
        if _jpeg_app1(data, segment, _JPEG_XMP_HEADER):
            packet = data[segment.body_start + len(_JPEG_XMP_HEADER) : segment.body_end]
            records += _xmp_records(packet, "JPEG XMP")
    return records


def _jpeg_write(data: bytes, record: AigcRecord | None) -> bytes:
    edits: list[_Edit] = []
    pending = record  # goes into the first XMP packet, or a new one
    after_leading = 2  # just past SOI, then past the leading APP0 / Exif APP1 segments
    leading = True
    for segment in jpeg_segments(data):
        leading = leading and (
            segment.kind[0] == _JPEG_APP0 or _jpeg_app1(data, segment, _JPEG_EXIF_HEADER)
        )
        if leading:
            after_leading = segment.end
        if _jpeg_app1(data, segment, _JPEG_XMP_HEADER):
            packet = data[segment.body_start + len(_JPEG_XMP_HEADER) : segment.body_end]
            edited = _edit_xmp(packet, pending)
            pending = None
            if edited != packet:
                new = b"" if edited is None else _jpeg_xmp_segment(edited)
                edits.append((segment.start, segment.end, new))
    if pending is not None:
        edits.append((after_leading, after_leading, _jpeg_xmp_segment(_new_packet(pending))))
    return _splice(data, edits)


# --- WebP (RFC 9649 section 2, the RIFF container) ---

# VP8X flags byte, MSB first: Rsv Rsv ICC Alpha EXIF XMP Animation Rsv.
_VP8X_ICC: Final = 0x20
_VP8X_ALPHA: Final = 0x10
_VP8X_EXIF: Final = 0x08
_VP8X_XMP: Final = 0x04


def _webp_read(data: bytes) -> list[AigcRecord]:
    records: list[AigcRecord] = []
    for chunk in riff_chunks(data):
        if chunk.kind == b"XMP ":
            records += _xmp_records(chunk.body(data), "WebP XMP")
    return records


def _webp_write(data: bytes, record: AigcRecord | None) -> bytes:
    # Rebuilt from the chunk list when anything changes (sizes and padding must be rewritten
    # anyway); bytes past the RIFF size, which the spec forbids, are not carried over.
    chunks = [(chunk.kind, chunk.body(data)) for chunk in riff_chunks(data)]
    pending = record
    edited: list[tuple[bytes, bytes]] = []
    for kind, body in chunks:
        if kind != b"XMP ":
            edited.append((kind, body))
            continue
        packet = _edit_xmp(body, pending)
        pending = None
        if packet is not None:
            edited.append((kind, packet))
    if pending is not None:
        # The spec's order ends with EXIF then XMP; unknown chunks keep their places before.
        edited.append((b"XMP ", _new_packet(pending)))
    if edited == chunks:
        return data
    return _riff(_with_vp8x(edited))


def _with_vp8x(chunks: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """VP8X flags that match the chunks; a simple file with XMP gets a VP8X first."""
    kinds = {kind for kind, _ in chunks}
    first_kind, first_body = chunks[0]
    if first_kind == b"VP8X":
        if len(first_body) < 10:
            raise MediaError("corrupt", "WebP: VP8X chunk shorter than 10 bytes")
        flags = first_body[0] & ~_VP8X_XMP | (_VP8X_XMP if b"XMP " in kinds else 0)
        return [(b"VP8X", bytes([flags]) + first_body[1:]), *chunks[1:]]
    if b"XMP " not in kinds:
        return chunks
    # Simple format: the canvas is the bitstream's size, the alpha flag the bitstream's hint.
    width, height, alpha = webp_bitstream_size(first_kind, first_body)
    flags = _VP8X_XMP
    flags |= _VP8X_ALPHA if alpha or b"ALPH" in kinds else 0
    flags |= _VP8X_ICC if b"ICCP" in kinds else 0
    flags |= _VP8X_EXIF if b"EXIF" in kinds else 0
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return [(b"VP8X", bytes([flags, 0, 0, 0]) + canvas), *chunks]


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    # RIFF: FourCC, little-endian size, payload, a padding byte after odd-sized payloads.
    body = b"".join(
        kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
        for kind, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


_WRITERS: Final[dict[str, Callable[[bytes, AigcRecord | None], bytes]]] = {
    "PNG": _png_write,
    "JPEG": _jpeg_write,
    "WEBP": _webp_write,
}
_READERS: Final[dict[str, Callable[[bytes], list[AigcRecord]]]] = {
    "PNG": _png_read,
    "JPEG": _jpeg_read,
    "WEBP": _webp_read,
}
