"""Every schema round-trips, and every version reads data written by every older version."""

from __future__ import annotations

import io
import json
import random
import struct
from typing import Any

import fastavro
import pytest

from synthguard.codecs.avro import HEADER, AvroCodec, FileSchemaRegistry
from synthguard.errors import ConfigError, DecodeError, ValidationError
from synthguard.schemas import schema_dir
from synthguard.streams.catalog import CATALOG

REGISTRY = FileSchemaRegistry()


def named_types(schema: Any, names: dict[str, Any]) -> dict[str, Any]:
    """Every named type defined anywhere in a parsed schema, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, names)
    elif isinstance(schema, dict):
        if schema["type"] in ("record", "enum", "fixed"):
            names[schema["name"]] = schema
        for field in schema.get("fields", []):
            named_types(field["type"], names)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], names)
    return names


def random_record(schema: Any, rng: random.Random) -> Any:
    return sample(schema, rng, named_types(schema, {}))


def sample(schema: Any, rng: random.Random, names: dict[str, Any]) -> Any:
    """A random valid value for a parsed schema (fastavro's parsed form)."""
    if isinstance(schema, str):
        if schema in names:
            return sample(names[schema], rng, names)
        return {
            "null": None,
            "boolean": rng.random() < 0.5,
            "int": rng.randint(-(2**31), 2**31 - 1),
            "long": rng.randint(-(2**63), 2**63 - 1),
            "float": rng.random(),
            "double": rng.random(),
            "bytes": rng.randbytes(rng.randint(0, 8)),
            "string": rng.choice(["", "ascii", "中文内容", "emoji 🙂", "x" * 50]),
        }[schema]
    if isinstance(schema, list):
        return sample(rng.choice(schema), rng, names)
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: sample(f["type"], rng, names) for f in schema["fields"]}
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        return [sample(schema["items"], rng, names) for _ in range(rng.randint(0, 3))]
    if kind == "map":
        return {f"k{i}": sample(schema["values"], rng, names) for i in range(rng.randint(0, 3))}
    return sample(kind, rng, names)


@pytest.mark.parametrize("subject", REGISTRY.subjects())
def test_every_schema_round_trips_random_records(subject: str) -> None:
    codec = AvroCodec(subject, REGISTRY)
    rng = random.Random(subject)
    for _ in range(50):
        record = random_record(REGISTRY.latest(subject).schema, rng)
        data = codec.encode(record)
        assert data[0] == 0
        assert struct.unpack(">I", data[1:5])[0] == REGISTRY.latest(subject).schema_id
        assert codec.decode(data) == record


@pytest.mark.parametrize("subject", REGISTRY.subjects())
def test_each_version_reads_every_older_version(subject: str) -> None:
    """Backward compatibility: reader = newer, writer = older, via schema resolution."""
    versions = REGISTRY.versions(subject)
    for i, writer in enumerate(versions):
        for reader in versions[i:]:
            reads_old_data(writer.schema, reader.schema, random.Random(f"compat-{subject}"))


def reads_old_data(writer: Any, reader: Any, rng: random.Random) -> None:
    for _ in range(20):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, random_record(writer, rng))
        buf.seek(0)
        fastavro.schemaless_reader(buf, writer, reader)


def test_the_compatibility_check_catches_a_breaking_change() -> None:
    old = REGISTRY.latest("synthguard.KeywordEntry").schema
    raw = json.loads(schema_dir().joinpath("keyword_entry.v1.avsc").read_text("utf-8"))
    raw["fields"].append({"name": "added_without_default", "type": "string"})
    new = fastavro.parse_schema(raw)
    with pytest.raises(fastavro.read.SchemaResolutionError):
        reads_old_data(old, new, random.Random(1))
    raw["fields"][-1]["default"] = ""
    reads_old_data(old, fastavro.parse_schema(raw), random.Random(1))


def test_every_topic_has_a_registered_schema() -> None:
    for spec in CATALOG:
        assert spec.subject in REGISTRY.subjects(), spec.name


def test_every_schema_file_is_registered_once() -> None:
    files = {p.name for p in schema_dir().iterdir() if p.name.endswith(".avsc")}
    index = json.loads(schema_dir().joinpath("registry.json").read_text("utf-8"))
    registered = [e["file"] for versions in index["subjects"].values() for e in versions]
    assert sorted(registered) == sorted(files)
    ids = [e["id"] for versions in index["subjects"].values() for e in versions]
    assert len(ids) == len(set(ids))


def test_registry_rejects_reused_ids_and_mismatched_subjects() -> None:
    index = json.loads(schema_dir().joinpath("registry.json").read_text("utf-8"))
    subjects = index["subjects"]
    first, second = list(subjects)[:2]
    clash = {
        "subjects": {
            first: subjects[first],
            second: [dict(subjects[second][0], id=subjects[first][0]["id"])],
        }
    }
    with pytest.raises(ConfigError, match="used twice"):
        FileSchemaRegistry(clash)
    wrong = {"subjects": {first: subjects[second]}}
    with pytest.raises(ConfigError, match="defines"):
        FileSchemaRegistry(wrong)


def test_decode_errors_name_the_problem() -> None:
    codec = AvroCodec("synthguard.RealNameEntry", REGISTRY)
    good = codec.encode({"user_id": "u", "status": "VERIFIED", "method": "PHONE", "verified_at": 1})
    with pytest.raises(DecodeError, match="shorter than the header"):
        codec.decode(b"\x00\x01")
    with pytest.raises(DecodeError, match="magic byte"):
        codec.decode(b"\x01" + good[1:])
    with pytest.raises(DecodeError, match="unknown schema id"):
        codec.decode(HEADER.pack(0, 999_999) + good[5:])
    other = AvroCodec("synthguard.KeywordEntry", REGISTRY)
    with pytest.raises(DecodeError, match=r"belongs to synthguard\.RealNameEntry"):
        other.decode(good)
    with pytest.raises(DecodeError, match="trailing bytes"):
        codec.decode(good + b"\x00")
    with pytest.raises(DecodeError):
        codec.decode(good[:-3])


def test_encode_rejects_records_that_break_the_schema() -> None:
    codec = AvroCodec("synthguard.RealNameEntry", REGISTRY)
    with pytest.raises(ValidationError):
        codec.encode({"user_id": "u", "status": "MAYBE", "method": "PHONE", "verified_at": None})
    with pytest.raises(ValidationError):
        codec.encode({"user_id": 7, "status": "VERIFIED", "method": "PHONE", "verified_at": None})
    with pytest.raises(ValidationError):
        codec.validate({"user_id": "u"})
