"""glTF scene labels: real files built with pygltflib, .gltf and .glb, tampering and bad input."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pygltflib as gl
import pytest
from helpers import POINTS, triangle_scene

from synthguard.errors import LabelError
from synthguard.labels.scene import (
    DEFAULT_PROMPT,
    EXPLICIT_KEY,
    MAX_GLB_CHUNKS,
    LabeledScene,
    label_scene,
    read_scene,
    verify_scene,
)
from synthguard.labels.signing import Keyring, SigState
from synthguard.labels.verify import LabelStatus

FORMATS = ("gltf", "glb")


def _label(data: bytes, ring: Keyring, **options: Any) -> LabeledScene:
    return label_scene(
        data, produce_id="scene-0001", producer="PRODUCER01", keyring=ring, **options
    )


# --- Editing helpers: JSON via the standard library, the GLB container by hand. ---


def _split(data: bytes) -> tuple[dict[str, object], bytes | None]:
    if data[:4] != b"glTF":
        return json.loads(data), None
    json_length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + json_length])
    return document, data[28 + json_length :] if len(data) > 20 + json_length else None


def _join(document: dict[str, object], binary: bytes | None, *, indent: int | None = None) -> bytes:
    text = json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8")
    if binary is None:
        return text
    text += b" " * (-len(text) % 4)
    body = (
        struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(binary), b"BIN\0")
    )
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body) + len(binary)) + body + binary


def _edit_json(data: bytes, edit: object) -> bytes:
    document, binary = _split(data)
    edit(document)  # type: ignore[operator]
    return _join(document, binary)


def _extras(document: dict[str, object]) -> dict[str, object]:
    asset = document["asset"]
    assert isinstance(asset, dict)
    extras = asset["extras"]
    assert isinstance(extras, dict)
    return extras


def _move_vertex(data: bytes) -> bytes:
    moved = POINTS.copy()
    moved[2, 1] = 1.5
    if data[:4] == b"glTF":
        return data.replace(POINTS.tobytes(), moved.tobytes())
    document, _ = _split(data)
    buffers = document["buffers"]
    assert isinstance(buffers, list)
    header, _, payload = buffers[0]["uri"].partition(",")
    blob = base64.b64decode(payload).replace(POINTS.tobytes(), moved.tobytes())
    buffers[0]["uri"] = f"{header},{base64.b64encode(blob).decode('ascii')}"
    return _join(document, None)


# --- Round trip ---


@pytest.mark.parametrize("fmt", FORMATS)
def test_label_read_verify_intact(fmt: str, ring: Keyring) -> None:
    labeled = _label(triangle_scene(fmt), ring)
    assert labeled.data[:4] == b"glTF" if fmt == "glb" else labeled.data[:1] == b"{"
    record, prompt, digest = read_scene(labeled.data)
    assert record == labeled.record and record.produce_id == "scene-0001"
    assert prompt == DEFAULT_PROMPT
    assert digest.hex() == labeled.digest_hex
    verdict = verify_scene(labeled.data, ring)
    assert verdict.status is LabelStatus.INTACT
    assert verdict.explicit and verdict.producer_status is SigState.VALID
    document, _ = _split(labeled.data)
    extras = _extras(document)
    assert extras["tool"] == "unit-test"  # existing extras kept
    assert extras[EXPLICIT_KEY] == {"startScreenPrompt": DEFAULT_PROMPT, "locale": "zh-CN"}
    assert extras["AIGC"] == labeled.record.to_fields()
    assert document["nodes"] == [{"mesh": 0, "extras": {"rig": "head"}}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_labeled_file_loads_in_pygltflib_with_mesh_intact(fmt: str, ring: Keyring) -> None:
    labeled = _label(triangle_scene(fmt), ring).data
    if fmt == "glb":
        model = gl.GLTF2.load_from_bytes(labeled)
        blob = model.binary_blob()
    else:
        model = gl.GLTF2.from_json(labeled.decode("utf-8"))
        blob = gl.GLTF2.decode_data_uri(model.buffers[0].uri)
    assert model.asset.extras["AIGC"]["ProduceID"] == "scene-0001"
    assert np.array_equal(np.frombuffer(blob[8:44], dtype=np.float32).reshape(3, 3), POINTS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_resaving_the_same_content_stays_intact(fmt: str, ring: Keyring) -> None:
    labeled = _label(triangle_scene(fmt), ring).data
    document, binary = _split(labeled)
    # Other whitespace and key order, and "1.0" where we wrote "1".
    shuffled = dict(reversed(list(document.items())))
    shuffled["accessors"][0]["count"] = 3.0  # type: ignore[index]
    respelled = _join(shuffled, binary, indent=2)
    assert b'"count": 3.0' in respelled
    assert respelled != labeled
    assert verify_scene(respelled, ring).status is LabelStatus.INTACT
    # And a round trip through pygltflib, another writer entirely.
    model = gl.GLTF2.load_from_bytes(labeled) if fmt == "glb" else gl.GLTF2.from_json(labeled)
    resaved = b"".join(model.save_to_bytes()) if fmt == "glb" else model.gltf_to_json().encode()
    assert verify_scene(resaved, ring).status is LabelStatus.INTACT


def test_output_format_follows_input_or_the_flag(ring: Keyring) -> None:
    from_gltf = _label(triangle_scene("gltf"), ring, glb=True)
    from_glb = _label(triangle_scene("glb"), ring, glb=False)
    assert from_gltf.data[:4] == b"glTF" and from_glb.data[:1] == b"{"
    # The digest is of the scene, not the container: both forms of the same triangle agree.
    assert (
        from_gltf.digest_hex
        == from_glb.digest_hex
        == _label(triangle_scene("glb"), ring).digest_hex
    )
    for data in (from_gltf.data, from_glb.data):
        assert verify_scene(data, ring).status is LabelStatus.INTACT


# --- Tampering ---


@pytest.mark.parametrize("fmt", FORMATS)
def test_moving_a_vertex_is_altered(fmt: str, ring: Keyring) -> None:
    labeled = _label(triangle_scene(fmt), ring).data
    edited = _move_vertex(labeled)
    assert edited != labeled
    verdict = verify_scene(edited, ring)
    assert verdict.status is LabelStatus.ALTERED and verdict.producer_status is SigState.INVALID


@pytest.mark.parametrize("fmt", FORMATS)
def test_changing_a_material_is_altered(fmt: str, ring: Keyring) -> None:
    def recolour(document: dict[str, object]) -> None:
        document["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"][0] = 0.9  # type: ignore[index]

    edited = _edit_json(_label(triangle_scene(fmt), ring).data, recolour)
    assert verify_scene(edited, ring).status is LabelStatus.ALTERED


@pytest.mark.parametrize("fmt", FORMATS)
def test_changing_the_produce_id_is_altered(fmt: str, ring: Keyring) -> None:
    def rename(document: dict[str, object]) -> None:
        _extras(document)["AIGC"]["ProduceID"] = "scene-0002"  # type: ignore[index]

    verdict = verify_scene(_edit_json(_label(triangle_scene(fmt), ring).data, rename), ring)
    assert verdict.status is LabelStatus.ALTERED
    assert verdict.record is not None and verdict.record.produce_id == "scene-0002"


@pytest.mark.parametrize("fmt", FORMATS)
def test_stripping_labels(fmt: str, ring: Keyring) -> None:
    labeled = _label(triangle_scene(fmt), ring).data

    def strip(*keys: str) -> bytes:
        return _edit_json(labeled, lambda d: [_extras(d).pop(k) for k in keys])

    only_prompt = verify_scene(strip("AIGC"), ring)
    assert only_prompt.status is LabelStatus.EXPLICIT_ONLY and only_prompt.explicit
    assert only_prompt.record is None
    neither = verify_scene(strip("AIGC", EXPLICIT_KEY), ring)
    assert neither.status is LabelStatus.UNLABELED and not neither.explicit
    # The prompt is signed with the scene: removing it alone breaks the record (Art. 18).
    only_record = verify_scene(strip(EXPLICIT_KEY), ring)
    assert only_record.status is LabelStatus.ALTERED and not only_record.explicit


def test_replacing_the_prompt_with_a_non_notice_is_altered_and_not_explicit(ring: Keyring) -> None:
    def reword(document: dict[str, object]) -> None:
        _extras(document)[EXPLICIT_KEY] = {
            "startScreenPrompt": "欢迎来到虚拟展厅",
            "locale": "zh-CN",
        }

    verdict = verify_scene(_edit_json(_label(triangle_scene("glb"), ring).data, reword), ring)
    assert verdict.status is LabelStatus.ALTERED and not verdict.explicit


def test_malformed_record_is_altered_on_verify_and_an_error_on_read(ring: Keyring) -> None:
    def garble(document: dict[str, object]) -> None:
        _extras(document)["AIGC"] = {"Label": "9", "ProduceID": "x"}

    edited = _edit_json(_label(triangle_scene("gltf"), ring).data, garble)
    verdict = verify_scene(edited, ring)
    assert verdict.status is LabelStatus.ALTERED and "malformed" in verdict.detail
    assert verdict.explicit
    with pytest.raises(LabelError, match="Label"):
        read_scene(edited)


def test_unsigned_record_is_unverified(ring: Keyring) -> None:
    def unsign(document: dict[str, object]) -> None:
        _extras(document)["AIGC"]["ReservedCode1"] = ""  # type: ignore[index]

    verdict = verify_scene(_edit_json(_label(triangle_scene("glb"), ring).data, unsign), ring)
    assert verdict.status is LabelStatus.UNVERIFIED


# --- Keys ---


def test_key_rotation(ring: Keyring, rotated_ring: Keyring, ring_without_k1: Keyring) -> None:
    old = _label(triangle_scene("glb"), ring)
    assert verify_scene(old.data, rotated_ring).status is LabelStatus.INTACT
    assert verify_scene(old.data, ring_without_k1).status is LabelStatus.UNKNOWN_KEY
    new = _label(triangle_scene("glb"), rotated_ring)
    verdict = verify_scene(new.data, rotated_ring)
    assert verdict.status is LabelStatus.INTACT and verdict.record is not None
    assert verdict.record.reserved_code1.startswith("sg1.k2.")
    assert verify_scene(new.data, ring).status is LabelStatus.UNKNOWN_KEY


# --- Labeling rules ---


def test_one_record_per_file_unless_replace(ring: Keyring, rotated_ring: Keyring) -> None:
    labeled = _label(triangle_scene("gltf"), ring).data
    with pytest.raises(LabelError, match="already has"):
        _label(labeled, rotated_ring)
    replaced = _label(labeled, rotated_ring, replace=True, prompt="本虚拟人由AI合成")
    record, prompt, _ = read_scene(replaced.data)
    assert record == replaced.record and prompt == "本虚拟人由AI合成"
    assert verify_scene(replaced.data, rotated_ring).status is LabelStatus.INTACT
    assert _split(replaced.data)[0]["asset"]["extras"]["tool"] == "unit-test"  # type: ignore[index]


def test_no_prompt_writes_no_explicit_entry(ring: Keyring) -> None:
    labeled = _label(triangle_scene("glb"), ring, prompt=None)
    _, prompt, _ = read_scene(labeled.data)
    assert prompt is None
    verdict = verify_scene(labeled.data, ring)
    assert verdict.status is LabelStatus.INTACT and not verdict.explicit


@pytest.mark.parametrize("extras", [None, {}])
def test_scene_without_asset_extras_and_no_prompt(extras: object, ring: Keyring) -> None:
    document, binary = _split(triangle_scene("glb"))
    del document["asset"]["extras"]  # type: ignore[attr-defined]
    if extras is not None:
        document["asset"]["extras"] = extras  # type: ignore[index]
    original = _join(document, binary)
    labeled = _label(original, ring, prompt=None)
    assert verify_scene(labeled.data, ring).status is LabelStatus.INTACT
    # Stripping the record leaves the scene as it was, digest included.
    stripped = _edit_json(labeled.data, lambda d: _extras(d).pop("AIGC"))
    assert verify_scene(stripped, ring).status is LabelStatus.UNLABELED
    assert read_scene(stripped)[2] == read_scene(original)[2] == bytes.fromhex(labeled.digest_hex)


@pytest.mark.parametrize(
    "options",
    [
        {"prompt": "欢迎来到虚拟展厅"},
        {"prompt": "AI"},
        {"prompt": "本场景由\n人工智能生成"},
        {"prompt": "本场景由人工智能生成" + "。" * 200},
        {"locale": "zh CN"},
        {"locale": ""},
    ],
)
def test_bad_prompt_or_locale_is_refused(options: dict[str, object], ring: Keyring) -> None:
    with pytest.raises(LabelError):
        _label(triangle_scene("gltf"), ring, **options)


def test_extras_that_are_not_an_object_are_not_overwritten(ring: Keyring) -> None:
    document, _ = _split(triangle_scene("gltf"))
    document["asset"]["extras"] = "keep me"  # type: ignore[index]
    with pytest.raises(LabelError, match="not an object"):
        _label(_join(document, None), ring)


# --- Bad input ---


def _glb(*chunks: tuple[bytes, bytes], version: int = 2, length: int | None = None) -> bytes:
    body = b"".join(struct.pack("<I", len(data)) + kind + data for kind, data in chunks)
    total = 12 + len(body) if length is None else length
    return struct.pack("<4sII", b"glTF", version, total) + body


_ASSET = b'{"asset":{"version":"2.0"}}'
BAD_INPUTS = {
    "empty": b"",
    "png": b"\x89PNG\r\n\x1a\n" + bytes(64),
    "text": b"hello, world",
    "not utf-8": b"\xff\xfe{}",
    "json array": b"[1, 2, 3]",
    "json string": b'"glTF"',
    "no asset": b'{"scenes": []}',
    "glTF 1.0": b'{"asset": {"version": "1.0"}}',
    "duplicate asset": b'{"asset":{"version":"2.0"},"asset":{"version":"2.0"}}',
    "NaN": b'{"asset":{"version":"2.0"},"x":NaN}',
    "huge number": b'{"asset":{"version":"2.0"},"x":1e999}',
    "huge integer": b'{"asset":{"version":"2.0"},"x":' + b"9" * 5000 + b"}",
    "deep nesting": b'{"asset":{"version":"2.0"},"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "glb magic only": b"glTF",
    "glb truncated header": b"glTF\x02\x00\x00\x00",
    "glb version 1": _glb((b"JSON", _ASSET), version=1),
    "glb length too long": _glb((b"JSON", _ASSET), length=4096),
    "glb length too short": _glb((b"JSON", _ASSET), length=20),
    "glb trailing bytes": _glb((b"JSON", _ASSET + b" ")) + b"\0" * 4,
    "glb huge json chunk": struct.pack("<4sII", b"glTF", 2, 40)
    + struct.pack("<I4s", 0xFFFF_FFF0, b"JSON")
    + bytes(20),
    "glb truncated chunk header": _glb((b"JSON", _ASSET), length=12 + 8 + len(_ASSET) + 2)
    + b"\0\0",
    "glb bin first": _glb((b"BIN\0", b"\0" * 4), (b"JSON", _ASSET)),
    "glb two bin": _glb((b"JSON", _ASSET), (b"BIN\0", b"\0" * 4), (b"BIN\0", b"\0" * 4)),
    "glb no chunks": _glb(),
    "glb json not object": _glb((b"JSON", b"[]  ")),
    "glb many chunks": _glb((b"JSON", _ASSET), *[(b"XTRA", b"")] * (MAX_GLB_CHUNKS + 1)),
    "bad base64 buffer": b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":4,'
    b'"uri":"data:application/octet-stream;base64,!!!!"}]}',
    "buffer shorter than byteLength": b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":9,'
    b'"uri":"data:application/octet-stream;base64,AAAA"}]}',
    "buffer without uri outside glb": b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":4}]}',
    "buffer length not integer": b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":"4"}]}',
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_a_label_error(name: str, ring: Keyring) -> None:
    data = BAD_INPUTS[name]
    for call in (read_scene, lambda d: verify_scene(d, ring), lambda d: _label(d, ring)):
        with pytest.raises(LabelError):
            call(data)


def test_unknown_glb_chunks_are_kept(ring: Keyring) -> None:
    extra = struct.pack("<I4s", 4, b"XTRA") + b"abcd"
    original = triangle_scene("glb")
    data = original[:8] + struct.pack("<I", len(original) + len(extra)) + original[12:] + extra
    labeled = _label(data, ring).data
    assert labeled.endswith(extra)
    assert verify_scene(labeled, ring).status is LabelStatus.INTACT
