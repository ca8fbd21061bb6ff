"""Labels for virtual scenes and digital humans in glTF 2.0 (Art. 17(4), Art. 23(6); GB 45438).

GB 45438 asks for an explicit prompt on a virtual scene's start screen and an implicit label in
the file's metadata. A glTF file has no start screen, so it carries the prompt for the viewer
that shows one; both labels live in the asset's extras::

    "asset": {"version": "2.0", "extras": {
        "AIGC": {"Label": "1", "ContentProducer": "...", "ProduceID": "...", ...},
        "AIGC_explicit": {"startScreenPrompt": "本场景由人工智能生成", "locale": "zh-CN"}}}

"AIGC" holds the record's seven elements under the standard's names; "AIGC_explicit" is ours.

The signature (ReservedCode1) covers a digest of the scene, not of its bytes: SHA-256 over the
canonical JSON (sorted keys, no whitespace, integral numbers written as integers) without
asset.extras.AIGC (a MAC cannot cover its own slot) and without data: URIs of buffers, followed
by every buffer's bytes (the GLB BIN chunk or the decoded data: URI). Editing a mesh, a material,
the record or the start-screen prompt is caught (Art. 18: labels must not be altered); writing
the same scene again with other whitespace, key order or number spelling, or converting it
between .gltf and .glb, is not. External buffer files are out of scope: only their URI is
signed, not the bytes it points to. Images are covered as their JSON (URI or bufferView).

The container is read here, not with pygltflib: its loader is unbounded on hostile input and
rebuilds the JSON through its dataclasses, which would rewrite parts of the file we only label.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from synthguard.errors import LabelError
from synthguard.labels.aigc import RECORD_KEY, AigcRecord, LabelClass
from synthguard.labels.signing import Keyring, check, sign_producer
from synthguard.labels.text import is_explicit_notice
from synthguard.labels.verify import LabelStatus, Verification, classify_signatures

EXPLICIT_KEY: Final = "AIGC_explicit"
PROMPT_KEY: Final = "startScreenPrompt"
LOCALE_KEY: Final = "locale"
DEFAULT_PROMPT: Final = "本场景由人工智能生成"
DEFAULT_LOCALE: Final = "zh-CN"

# Our bounds. The JSON of a .gltf embeds its buffers as base64, hence the generous JSON bound.
MAX_SCENE_BYTES: Final = 256 * 1024 * 1024
MAX_JSON_BYTES: Final = 64 * 1024 * 1024
MAX_GLB_CHUNKS: Final = 64
MAX_PROMPT_CHARS: Final = 200

_GLB_MAGIC: Final = b"glTF"
_GLB_HEADER: Final = struct.Struct("<4sII")  # magic, version, total length
_CHUNK_HEADER: Final = struct.Struct("<II")  # length, type
_CHUNK_JSON: Final = 0x4E4F534A  # "JSON"
_CHUNK_BIN: Final = 0x004E4942  # "BIN\0"
_DIGEST_DOMAIN: Final = b"synthguard/gltf/v1"
_GLTF_VERSION = re.compile(r"2\.[0-9]+")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")
# Integral floats are written as integers so "1.0" and "1" sign alike; past 2**53 a double no
# longer holds every integer, so those stay floats.
_EXACT_INT_LIMIT: Final = 2**53

JsonObject = dict[str, object]


@dataclass(frozen=True, slots=True)
class LabeledScene:
    """The labeled file's bytes and the signed record; digest_hex is what the record signs."""

    data: bytes
    record: AigcRecord
    digest_hex: str


@dataclass(slots=True)
class _Scene:
    document: JsonObject
    binary: bytes | None  # the GLB BIN chunk
    glb: bool
    extra_chunks: bytes  # GLB chunks after JSON and BIN, kept verbatim (readers ignore them)


def label_scene(
    data: bytes,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    prompt: str | None = DEFAULT_PROMPT,
    locale: str = DEFAULT_LOCALE,
    glb: bool | None = None,
    replace: bool = False,
    label: LabelClass = LabelClass.CONFIRMED,
) -> LabeledScene:
    """Add the start-screen prompt (None: keep whatever prompt the file has) and the signed
    record. `glb`: True writes .glb, False .gltf, None the input's format. Every other property,
    extras included, is kept."""
    scene = _parse(data)
    extras = _writable_extras(scene.document)
    if RECORD_KEY in extras and not replace:
        # GB 45438 6.1 c): one implicit label per file.
        raise LabelError("the scene already has an AIGC record; pass replace=True to replace it")
    if prompt is not None:
        extras[EXPLICIT_KEY] = _explicit_entry(prompt, locale)
    if scene.glb and glb is False:
        _inline_binary(scene)
    digest = _digest(scene)
    record = sign_producer(AigcRecord(label, producer, produce_id), digest, keyring)
    extras[RECORD_KEY] = record.to_fields()
    return LabeledScene(_serialize(scene, scene.glb if glb is None else glb), record, digest.hex())


def read_scene(data: bytes) -> tuple[AigcRecord | None, str | None, bytes]:
    """The record (None when absent), the start-screen prompt as written, and the digest a
    signature must cover. A record that is there but unreadable raises LabelError."""
    scene = _parse(data)
    return _record(scene.document), _prompt(scene.document), _digest(scene)


def verify_scene(data: bytes, keyring: Keyring) -> Verification:
    """Classify a glTF scene by its labels; input that is not glTF raises LabelError."""
    scene = _parse(data)
    prompt = _prompt(scene.document)
    explicit = prompt is not None and _is_valid_prompt(prompt)
    digest = _digest(scene)
    try:
        record = _record(scene.document)
    except LabelError as exc:
        return Verification(LabelStatus.ALTERED, None, explicit, f"malformed AIGC record: {exc}")
    if record is None:
        if explicit:
            detail = "no AIGC record, but the start-screen AI prompt is present (record stripped?)"
            return Verification(LabelStatus.EXPLICIT_ONLY, None, True, detail)
        detail = "no AIGC record, no start-screen AI prompt"
        return Verification(LabelStatus.UNLABELED, None, False, detail)
    signatures = check(record, digest, keyring)
    status, detail = classify_signatures(signatures)
    return Verification(
        status, record, explicit, detail, signatures.producer, signatures.propagator
    )


def _explicit_entry(prompt: str, locale: str) -> JsonObject:
    # Art. 17(4); GB 45438: a virtual scene's explicit label is a prompt on its start screen.
    if not _is_valid_prompt(prompt):
        raise LabelError(
            f"start-screen prompt {prompt!r} must be one line of at most {MAX_PROMPT_CHARS} "
            "characters with GB 45438's elements: 'AI' or '人工智能' plus '生成' or '合成'"
        )
    if not _LOCALE.fullmatch(locale):
        raise LabelError(f"locale {locale!r} is not a language tag such as 'zh-CN'")
    return {PROMPT_KEY: prompt, LOCALE_KEY: locale}


def _is_valid_prompt(prompt: str) -> bool:
    return (
        len(prompt) <= MAX_PROMPT_CHARS
        and len(prompt.splitlines()) == 1
        and is_explicit_notice(prompt)
    )


# --- Reading the labels ---


def _extras(document: JsonObject) -> JsonObject | None:
    extras = _dict(document["asset"], "asset").get("extras")
    return extras if isinstance(extras, dict) else None


def _writable_extras(document: JsonObject) -> JsonObject:
    extras = _dict(document["asset"], "asset").setdefault("extras", {})
    if not isinstance(extras, dict):
        # glTF allows any JSON value here; replacing it would destroy someone's data.
        raise LabelError(
            f"asset.extras is a JSON {type(extras).__name__}, not an object: cannot add labels"
        )
    return extras


def _record(document: JsonObject) -> AigcRecord | None:
    extras = _extras(document)
    if extras is None or RECORD_KEY not in extras:
        return None
    fields = extras[RECORD_KEY]
    if not isinstance(fields, dict):
        raise LabelError("asset.extras.AIGC must be an object of the standard's elements")
    return AigcRecord.from_fields(fields)


def _prompt(document: JsonObject) -> str | None:
    extras = _extras(document)
    entry = extras.get(EXPLICIT_KEY) if extras is not None else None
    prompt = entry.get(PROMPT_KEY) if isinstance(entry, dict) else None
    return prompt if isinstance(prompt, str) else None


# --- The digest ---


def _digest(scene: _Scene) -> bytes:
    canonical = _dumps(_canonical(scene.document), canonical=True)
    digest = hashlib.sha256(_DIGEST_DOMAIN)
    # Length-prefix every part so no two splits of the same bytes can digest alike.
    for part in (canonical, *_buffer_bytes(scene)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _canonical(document: JsonObject) -> JsonObject:
    """`document` without the record and without data: URIs (their bytes are digested apart)."""
    canonical = dict(document)
    asset = dict(_dict(document["asset"], "asset"))
    extras = asset.get("extras")
    if isinstance(extras, dict):
        rest = {key: value for key, value in extras.items() if key != RECORD_KEY}
        if rest:
            asset["extras"] = rest
        else:
            del asset["extras"]  # empty extras, ours or left behind, mean nothing
    canonical["asset"] = asset
    buffers = document.get("buffers")
    if isinstance(buffers, list):
        canonical["buffers"] = [
            {k: v for k, v in buffer.items() if not (k == "uri" and _is_data_uri(v))}
            if isinstance(buffer, dict)
            else buffer
            for buffer in buffers
        ]
    return canonical


def _buffer_bytes(scene: _Scene) -> Iterator[bytes | memoryview]:
    """Each buffer's bytes, in order; empty for an external file (its URI is in the JSON)."""
    buffers = scene.document.get("buffers", [])
    if not isinstance(buffers, list):
        raise LabelError("glTF buffers must be an array")
    for index, entry in enumerate(buffers):
        buffer = _dict(entry, f"buffers[{index}]")
        length = buffer.get("byteLength")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise LabelError(f"buffers[{index}].byteLength must be a non-negative integer")
        uri = buffer.get("uri")
        if uri is None:
            if index != 0 or scene.binary is None:
                raise LabelError(f"buffers[{index}] has no uri and no GLB BIN chunk to hold it")
            data: bytes = scene.binary
        elif not isinstance(uri, str):
            raise LabelError(f"buffers[{index}].uri must be a string")
        elif _is_data_uri(uri):
            data = _decode_data_uri(uri, index)
        else:
            yield b""
            continue
        if len(data) < length:
            raise LabelError(f"buffers[{index}] holds {len(data)} bytes, byteLength is {length}")
        yield memoryview(data)[:length]  # BIN chunks may be padded past byteLength


def _is_data_uri(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith("data:")


def _decode_data_uri(uri: str, index: int) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma:
        raise LabelError(f"buffers[{index}].uri is a data: URI without a comma")
    if not header.endswith(";base64"):
        return urllib.parse.unquote_to_bytes(payload)
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise LabelError(f"buffers[{index}].uri has invalid base64: {exc}") from None


def _inline_binary(scene: _Scene) -> None:
    """Move the BIN chunk into buffer 0's data: URI, for writing .gltf; other chunks cannot go."""
    buffers = scene.document.get("buffers")
    if scene.binary is not None and isinstance(buffers, list) and buffers:
        first = _dict(buffers[0], "buffers[0]")
        if "uri" not in first:
            encoded = base64.b64encode(scene.binary).decode("ascii")
            first["uri"] = f"data:application/octet-stream;base64,{encoded}"
    scene.binary, scene.glb, scene.extra_chunks = None, False, b""


# --- The container ---


def _parse(data: bytes) -> _Scene:
    if len(data) > MAX_SCENE_BYTES:
        raise LabelError(f"scene is {len(data)} bytes (at most {MAX_SCENE_BYTES})")
    if data[:4] == _GLB_MAGIC:
        return _parse_glb(data)
    return _Scene(_parse_document(data, "glTF JSON"), None, glb=False, extra_chunks=b"")


def _parse_glb(data: bytes) -> _Scene:
    if len(data) < _GLB_HEADER.size:
        raise LabelError(f"truncated GLB: {len(data)} bytes, the header alone is 12")
    _, version, length = _GLB_HEADER.unpack_from(data)
    if version != 2:
        raise LabelError(f"GLB version {version} is not supported (glTF 2.0 only)")
    if length != len(data):
        raise LabelError(f"GLB header says {length} bytes but the file has {len(data)}")
    chunks: list[tuple[int, int, int]] = []  # type, start, end
    offset = _GLB_HEADER.size
    while offset < length:
        if len(chunks) == MAX_GLB_CHUNKS:
            raise LabelError(f"GLB has more than {MAX_GLB_CHUNKS} chunks")
        if length - offset < _CHUNK_HEADER.size:
            raise LabelError(f"truncated GLB: chunk header at offset {offset}")
        size, kind = _CHUNK_HEADER.unpack_from(data, offset)
        offset += _CHUNK_HEADER.size
        if size > length - offset:
            raise LabelError(
                f"GLB chunk {len(chunks)} claims {size} bytes but only {length - offset} remain"
            )
        chunks.append((kind, offset, offset + size))
        offset += size
    kinds = [kind for kind, _, _ in chunks]
    if not kinds or kinds[0] != _CHUNK_JSON or kinds.count(_CHUNK_JSON) != 1:
        raise LabelError("GLB must start with its one JSON chunk")
    has_bin = len(kinds) > 1 and kinds[1] == _CHUNK_BIN
    if kinds.count(_CHUNK_BIN) != int(has_bin):
        raise LabelError("GLB may hold one BIN chunk, right after the JSON chunk")
    _, json_start, json_end = chunks[0]
    document = _parse_document(data[json_start:json_end], "GLB JSON chunk")
    binary = data[chunks[1][1] : chunks[1][2]] if has_bin else None
    rest = chunks[1 + has_bin][1] - _CHUNK_HEADER.size if len(chunks) > 1 + has_bin else length
    return _Scene(document, binary, glb=True, extra_chunks=data[rest:length])


def _parse_document(raw: bytes, what: str) -> JsonObject:
    if len(raw) > MAX_JSON_BYTES:
        raise LabelError(f"{what} is {len(raw)} bytes (at most {MAX_JSON_BYTES})")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise LabelError(
            f"not glTF: {what} is not UTF-8 (and the data does not start with GLB's magic 'glTF')"
        ) from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_number,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long ints, deep nesting
        raise LabelError(f"not glTF: {what} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise LabelError(f"not glTF: {what} is a JSON {type(document).__name__}, not an object")
    asset = document.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version, str) or not _GLTF_VERSION.fullmatch(version):
        raise LabelError(f"not a glTF 2.0 document: {what} has no asset.version '2.x'")
    return document


def _unique_keys(pairs: list[tuple[str, object]]) -> JsonObject:
    """Refuse duplicate keys: two readers taking different copies is a way to forge a label."""
    result: JsonObject = {}
    for key, value in pairs:
        if key in result:
            raise LabelError(f"duplicate key {key!r} in the glTF JSON")
        result[key] = value
    return result


def _number(text: str) -> int | float:
    value = float(text)
    if math.isinf(value):
        raise LabelError(f"number {text[:40]} in the glTF JSON is out of range")
    return int(value) if value.is_integer() and abs(value) < _EXACT_INT_LIMIT else value


def _reject_constant(name: str) -> object:
    raise LabelError(f"the glTF JSON contains the non-JSON constant {name}")


def _dict(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise LabelError(f"glTF {where} must be an object")
    return value


def _serialize(scene: _Scene, glb: bool) -> bytes:
    text = _dumps(scene.document, canonical=False)
    if glb:
        body = _chunk(_CHUNK_JSON, text, b" ")
        if scene.binary is not None:
            body += _chunk(_CHUNK_BIN, scene.binary, b"\0")
        body += scene.extra_chunks
        out = _GLB_HEADER.pack(_GLB_MAGIC, 2, _GLB_HEADER.size + len(body)) + body
    else:
        out = text
    limit = MAX_SCENE_BYTES if glb else MAX_JSON_BYTES
    if len(out) > limit:
        # Never write what read_scene would refuse.
        raise LabelError(f"the labeled scene would be {len(out)} bytes (at most {limit})")
    return out


def _dumps(document: JsonObject, *, canonical: bool) -> bytes:
    """Compact JSON; canonical: sorted keys and ASCII only, so equal documents give equal bytes."""
    try:
        text = json.dumps(
            document,
            sort_keys=canonical,
            ensure_ascii=canonical,
            separators=(",", ":"),
            allow_nan=False,
        )
    except RecursionError:  # parsed near the interpreter's limit, one frame too deep to write
        raise LabelError("the glTF JSON nests too deeply") from None
    return text.encode("utf-8")


def _chunk(kind: int, payload: bytes, filler: bytes) -> bytes:
    """A GLB chunk padded to 4 bytes, as the container requires."""
    padded = payload + filler * (-len(payload) % 4)
    return _CHUNK_HEADER.pack(len(padded), kind) + padded
