"""The AIGC record: GB 45438's names, order, character range, and strict parsing."""

from __future__ import annotations

import json

import pytest

from synthguard.errors import LabelError
from synthguard.labels.aigc import (
    FIELD_NAMES,
    MAX_FIELD_CHARS,
    AigcRecord,
    LabelClass,
)

RECORD = AigcRecord(
    LabelClass.CONFIRMED,
    "001191110102MAD55U9H0F10002",
    "ccf40794-0e83-4b96-8243-72a3fa70f06e",
    "sg1.k1.MoA_1sPG1bntKmlEq4nFCA",
    "PLATFORM",
    "v-9",
    "",
)


def test_to_json_is_compact_with_the_standards_key_order() -> None:
    assert RECORD.to_json() == (
        '{"AIGC":{"Label":"1","ContentProducer":"001191110102MAD55U9H0F10002",'
        '"ProduceID":"ccf40794-0e83-4b96-8243-72a3fa70f06e",'
        '"ReservedCode1":"sg1.k1.MoA_1sPG1bntKmlEq4nFCA","ContentPropagator":"PLATFORM",'
        '"PropagateID":"v-9","ReservedCode2":""}}'
    )
    assert list(json.loads(RECORD.to_json())["AIGC"]) == list(FIELD_NAMES)
    assert RECORD.to_json() == '{"AIGC":' + RECORD.fields_json() + "}"


def test_field_names_are_the_standards() -> None:
    assert FIELD_NAMES == (
        "Label",
        "ContentProducer",
        "ProduceID",
        "ReservedCode1",
        "ContentPropagator",
        "PropagateID",
        "ReservedCode2",
    )


@pytest.mark.parametrize("as_bytes", [False, True])
def test_json_round_trip(as_bytes: bool) -> None:
    data = RECORD.to_json()
    assert AigcRecord.from_json(data.encode() if as_bytes else data) == RECORD


def test_fields_round_trip_and_absent_optional_fields_read_as_empty() -> None:
    assert AigcRecord.from_fields(RECORD.to_fields()) == RECORD
    minimal = AigcRecord.from_fields({"Label": "3", "ContentProducer": "X", "ProduceID": "1"})
    assert minimal == AigcRecord(LabelClass.SUSPECTED, "X", "1")
    assert minimal.to_fields()["ReservedCode2"] == ""


def test_a_quote_is_allowed_and_written_escaped() -> None:
    record = AigcRecord(LabelClass.POSSIBLE, 'a"b', "1")
    assert '"ContentProducer":"a\\"b"' in record.to_json()
    assert AigcRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    ("producer", "complaint"),
    [
        ("公司名", "'公' at position 0"),
        ("ACME Corp", "' ' at position 4"),  # the standard's range starts at 0x21
        ("a\\b", "'\\\\' at position 1"),
        ("tab\there", "'\\t' at position 3"),
        ("x" * (MAX_FIELD_CHARS + 1), f"is {MAX_FIELD_CHARS + 1} characters long"),
    ],
)
def test_out_of_range_field_is_rejected_with_its_name(producer: str, complaint: str) -> None:
    with pytest.raises(LabelError, match="ContentProducer") as raised:
        AigcRecord(LabelClass.CONFIRMED, producer, "1")
    assert complaint in str(raised.value)


def test_longest_allowed_field_is_accepted() -> None:
    record = AigcRecord(LabelClass.CONFIRMED, "P", "9" * MAX_FIELD_CHARS)
    assert len(record.produce_id) == MAX_FIELD_CHARS


def test_label_must_be_the_enum_not_a_bare_string() -> None:
    with pytest.raises(LabelError, match="Label"):
        AigcRecord("1", "P", "1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"Label": "4", "ContentProducer": "P", "ProduceID": "1"}, "Label is '4'"),
        ({"Label": 1, "ContentProducer": "P", "ProduceID": "1"}, "Label must be a string"),
        ({"Label": "1", "ContentProducer": 7, "ProduceID": "1"}, "ContentProducer must be"),
        ({"Label": "1", "ProduceID": None}, "ProduceID must be a string"),
        ({"ContentProducer": "P"}, "no Label"),
        ({"Label": "1", "Extra": "x"}, "unknown AIGC field"),
        ({"Label": "1", "PropagateID": "中文"}, "PropagateID"),
    ],
)
def test_from_fields_is_strict(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(LabelError, match=complaint):
        AigcRecord.from_fields(fields)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ("not json", "not valid JSON"),
        ('{"Label":"1"}', "single key"),  # the fields without the AIGC wrapper
        ('{"AIGC":{"Label":"1"},"Other":1}', "single key"),
        ('{"AIGC":"{\\"Label\\":\\"1\\"}"}', "must be a JSON object"),
        ('{"AIGC":{"Label":"1","Label":"3"}}', "duplicate key 'Label'"),
        ('{"AIGC":{"Label":NaN}}', "NaN"),
        ("[]", "single key"),
        (b'{"AIGC":{"Label":"\xff"}}', "not UTF-8"),
        ('{"AIGC":{"Label":"1","ProduceID":"' + "x" * 20_000 + '"}}', "at most"),
    ],
)
def test_from_json_rejects_malformed_records(data: str | bytes, complaint: str) -> None:
    with pytest.raises(LabelError, match=complaint):
        AigcRecord.from_json(data)


def test_record_is_immutable() -> None:
    with pytest.raises(AttributeError):
        RECORD.produce_id = "other"  # type: ignore[misc]
