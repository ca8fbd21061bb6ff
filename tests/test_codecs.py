"""The Faust codecs speak the Confluent wire format that plain Kafka clients read."""

from __future__ import annotations

import pytest
from faust.serializers import codecs

from synthguard.codecs.avro import HEADER, FileSchemaRegistry
from synthguard.codecs.faust import codec_name, register_codecs
from synthguard.errors import DecodeError, ValidationError

REGISTRY = FileSchemaRegistry()
AVRO = register_codecs(REGISTRY)
ENTRY = {"entry_id": "kw-1", "term": "代开发票", "category": "fraud", "severity": "HIGH"}


def test_every_subject_has_a_faust_codec_writing_the_wire_format() -> None:
    for subject in REGISTRY.subjects():
        assert codecs.get_codec(codec_name(subject)) is not None
    data = codecs.dumps(codec_name("synthguard.KeywordEntry"), ENTRY)
    magic, schema_id = HEADER.unpack_from(data)
    assert (magic, schema_id) == (0, REGISTRY.latest("synthguard.KeywordEntry").schema_id)
    assert AVRO["synthguard.KeywordEntry"].decode(data) == ENTRY
    assert codecs.loads(codec_name("synthguard.KeywordEntry"), data) == ENTRY


def test_faust_codecs_refuse_bad_records_and_bytes() -> None:
    with pytest.raises(ValidationError):
        codecs.dumps(codec_name("synthguard.KeywordEntry"), {**ENTRY, "severity": "EXTREME"})
    with pytest.raises(DecodeError):
        codecs.loads(codec_name("synthguard.KeywordEntry"), b"\x00\x00\x00\x00")
