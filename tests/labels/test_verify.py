"""Art. 18 classification: intact, altered, explicit-only, unlabeled, unknown key, unverified."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from synthguard.labels.aigc import AigcRecord, LabelClass
from synthguard.labels.signing import Keyring, SigState, content_digest, sign_propagator
from synthguard.labels.text import (
    DEFAULT_NOTICE_EN,
    DEFAULT_NOTICE_ZH,
    LabeledText,
    NoticePosition,
    label_text,
    sidecar_path,
    write_labeled_file,
)
from synthguard.labels.verify import LabelStatus, Verification, verify_file, verify_text

BODY = "今天的天气预报：晴转多云 ☀️→⛅，气温 18–25℃。\n"


def _labeled(ring: Keyring, notice: str | None = DEFAULT_NOTICE_ZH) -> LabeledText:
    return label_text(
        BODY,
        produce_id="p-1",
        producer="ACME",
        keyring=ring,
        notice=notice,
        position=NoticePosition.START,
    )


def test_intact(ring: Keyring) -> None:
    labeled = _labeled(ring)
    result = verify_text(labeled.text, labeled.record, ring)
    assert result == Verification(
        LabelStatus.INTACT,
        labeled.record,
        True,
        "producer signature valid (key k1)",
        SigState.VALID,
        SigState.UNSIGNED,
    )


def test_notice_removed_is_altered(ring: Keyring) -> None:
    labeled = _labeled(ring)
    without_notice = labeled.text.removeprefix(f"{DEFAULT_NOTICE_ZH}\n")
    assert without_notice == BODY
    result = verify_text(without_notice, labeled.record, ring)
    assert (result.status, result.explicit) == (LabelStatus.ALTERED, False)
    assert result.detail == "producer signature mismatch (key k1): content or label fields altered"


def test_content_edited_is_altered(ring: Keyring) -> None:
    labeled = _labeled(ring)
    edited = labeled.text.replace("18", "28")
    assert verify_text(edited, labeled.record, ring).status is LabelStatus.ALTERED


@pytest.mark.parametrize(
    "change",
    [
        {"label": LabelClass.SUSPECTED},
        {"content_producer": "OTHER"},
        {"produce_id": "p-2"},
        {"reserved_code1": "sg1.k1.AAAAAAAAAAAAAAAAAAAAAA"},
    ],
)
def test_record_field_edited_is_altered(ring: Keyring, change: dict[str, Any]) -> None:
    labeled = _labeled(ring)
    tampered = dataclasses.replace(labeled.record, **change)
    assert verify_text(labeled.text, tampered, ring).status is LabelStatus.ALTERED


def test_record_stripped_with_notice_is_explicit_only(ring: Keyring) -> None:
    result = verify_text(_labeled(ring).text, None, ring)
    assert (result.status, result.record, result.explicit) == (
        LabelStatus.EXPLICIT_ONLY,
        None,
        True,
    )


def test_neither_record_nor_notice_is_unlabeled(ring: Keyring) -> None:
    result = verify_text(BODY, None, ring)
    assert (result.status, result.explicit) == (LabelStatus.UNLABELED, False)


def test_implicit_only_label_is_intact(ring: Keyring) -> None:
    labeled = _labeled(ring, notice=None)
    result = verify_text(labeled.text, labeled.record, ring)
    assert (result.status, result.explicit) == (LabelStatus.INTACT, False)


def test_key_rotation(ring: Keyring, rotated_ring: Keyring, ring_without_k1: Keyring) -> None:
    labeled = _labeled(ring)
    assert verify_text(labeled.text, labeled.record, rotated_ring).status is LabelStatus.INTACT
    unknown = verify_text(labeled.text, labeled.record, ring_without_k1)
    assert unknown.status is LabelStatus.UNKNOWN_KEY
    assert unknown.detail == "signed with key id 'k1', which this keyring lacks"


def test_propagated_label(ring: Keyring, rotated_ring: Keyring) -> None:
    labeled = _labeled(ring)
    digest = content_digest(labeled.text.encode())
    propagated = sign_propagator(labeled.record, digest, rotated_ring, "PLATFORM", "v-9")
    result = verify_text(labeled.text, propagated, rotated_ring)
    assert (result.status, result.propagator_status) == (LabelStatus.INTACT, SigState.VALID)
    assert result.detail == (
        "producer signature valid (key k1); propagator signature valid (key k2)"
    )
    moved = dataclasses.replace(propagated, propagate_id="v-10")
    altered = verify_text(labeled.text, moved, rotated_ring)
    assert altered.status is LabelStatus.ALTERED
    assert altered.detail.startswith("propagator signature mismatch (key k2)")


def test_propagator_signature_alone_proves_integrity(ring: Keyring) -> None:
    record = sign_propagator(
        AigcRecord(LabelClass.POSSIBLE, "", ""), content_digest(BODY.encode()), ring, "P", "v"
    )
    result = verify_text(BODY, record, ring)
    assert result.status is LabelStatus.INTACT
    assert result.detail == "propagator signature valid (key k1); producer signature absent"


@pytest.mark.parametrize(
    ("reserved_code1", "detail"),
    [
        ("", "producer absent, propagator absent"),
        ("e862483430d978cbf828b8b24296ef9328d843a0", "producer in a scheme we do not verify"),
    ],
)
def test_records_we_cannot_check_are_unverified(
    ring: Keyring, reserved_code1: str, detail: str
) -> None:
    record = AigcRecord(LabelClass.CONFIRMED, "OTHER", "x-1", reserved_code1)
    result = verify_text(BODY, record, ring)
    assert result.status is LabelStatus.UNVERIFIED
    assert detail in result.detail


def test_to_json_dict(ring: Keyring) -> None:
    labeled = _labeled(ring)
    payload = verify_text(labeled.text, labeled.record, ring).to_json_dict()
    assert json.loads(json.dumps(payload)) == {
        "status": "intact",
        "explicit": True,
        "detail": "producer signature valid (key k1)",
        "producer_signature": "valid",
        "propagator_signature": "unsigned",
        "record": labeled.record.to_fields(),
    }
    assert verify_text(BODY, None, ring).to_json_dict()["record"] is None


def _write(tmp_path: Path, name: str, ring: Keyring) -> Path:
    source, out = tmp_path / f"in-{name}", tmp_path / name
    source.write_bytes(BODY.encode())
    write_labeled_file(
        source,
        out,
        produce_id="p-1",
        producer="ACME",
        keyring=ring,
        notice=DEFAULT_NOTICE_EN,
        position=NoticePosition.BOTH,
    )
    return out


@pytest.mark.parametrize("name", ["out.txt", "out.md"])
def test_file_round_trip_is_intact(tmp_path: Path, ring: Keyring, name: str) -> None:
    result = verify_file(_write(tmp_path, name, ring), ring)
    assert (result.status, result.explicit) == (LabelStatus.INTACT, True)


@pytest.mark.parametrize("name", ["out.txt", "out.md"])
def test_file_edited_is_altered(tmp_path: Path, ring: Keyring, name: str) -> None:
    path = _write(tmp_path, name, ring)
    path.write_bytes(path.read_bytes().replace("晴".encode(), "雨".encode()))
    assert verify_file(path, ring).status is LabelStatus.ALTERED


def test_txt_with_sidecar_deleted_is_explicit_only(tmp_path: Path, ring: Keyring) -> None:
    path = _write(tmp_path, "out.txt", ring)
    sidecar_path(path).unlink()
    assert verify_file(path, ring).status is LabelStatus.EXPLICIT_ONLY


def test_md_with_front_matter_removed_is_explicit_only(tmp_path: Path, ring: Keyring) -> None:
    path = _write(tmp_path, "out.md", ring)
    document = path.read_text(encoding="utf-8")
    path.write_text(document.split("---\n", 2)[2], encoding="utf-8")
    assert verify_file(path, ring).status is LabelStatus.EXPLICIT_ONLY


def test_garbled_sidecar_is_altered_not_a_crash(tmp_path: Path, ring: Keyring) -> None:
    path = _write(tmp_path, "out.txt", ring)
    sidecar_path(path).write_bytes(b'{"AIGC": {"Label": "1", "ProduceID": ')
    result = verify_file(path, ring)
    assert (result.status, result.record, result.explicit) == (LabelStatus.ALTERED, None, True)
    assert result.detail.startswith("malformed AIGC record: ")
    assert "not valid JSON" in result.detail
