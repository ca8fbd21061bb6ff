"""Avro values in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, body.

Any standard Kafka consumer with a schema registry can read the report topics; ids come from
a `SchemaRegistry` whose default is the committed `schemas/registry.json` (every process reads
the same ids, with no service to run). A reader decodes with the writer's schema (looked up by
the id in the message) resolved into the latest schema of its subject, so old records stay
readable after a backward-compatible change.
"""

from __future__ import annotations

import copy
import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import fastavro
from fastavro.types import Schema

from synthguard.errors import ConfigError, DecodeError, ValidationError
from synthguard.schemas import schema_dir

MAGIC = 0
HEADER = struct.Struct(">bI")


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    subject: str
    version: int
    schema_id: int
    schema: Schema  # parsed


class SchemaRegistry(Protocol):
    def by_id(self, schema_id: int) -> SchemaVersion: ...

    def latest(self, subject: str) -> SchemaVersion: ...

    def versions(self, subject: str) -> list[SchemaVersion]: ...

    def subjects(self) -> list[str]: ...


class FileSchemaRegistry:
    """Reads `registry.json` and the .avsc files beside it; validates ids are unique."""

    def __init__(self, index: Mapping[str, Any] | None = None) -> None:
        folder = schema_dir()
        if index is None:
            index = json.loads(folder.joinpath("registry.json").read_text("utf-8"))
        self._by_id: dict[int, SchemaVersion] = {}
        self._by_subject: dict[str, list[SchemaVersion]] = {}
        for subject, entries in index["subjects"].items():
            versions = []
            for entry in sorted(entries, key=lambda e: int(e["version"])):
                raw = json.loads(folder.joinpath(entry["file"]).read_text("utf-8"))
                full_name = f"{raw.get('namespace', '')}.{raw['name']}".lstrip(".")
                if full_name != subject:
                    raise ConfigError(f"{entry['file']} defines {full_name}, not {subject}")
                sv = SchemaVersion(
                    subject,
                    int(entry["version"]),
                    int(entry["id"]),
                    fastavro.parse_schema(raw),  # parsed once: fastavro re-parses unhinted
                )
                if sv.schema_id in self._by_id:
                    raise ConfigError(f"schema id {sv.schema_id} used twice ({subject})")
                self._by_id[sv.schema_id] = sv
                versions.append(sv)
            self._by_subject[subject] = versions

    def by_id(self, schema_id: int) -> SchemaVersion:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise DecodeError(f"unknown schema id {schema_id}") from None

    def latest(self, subject: str) -> SchemaVersion:
        return self.versions(subject)[-1]

    def versions(self, subject: str) -> list[SchemaVersion]:
        try:
            return self._by_subject[subject]
        except KeyError:
            raise ConfigError(f"no schema registered for subject {subject!r}") from None

    def subjects(self) -> list[str]:
        return sorted(self._by_subject)


class AvroCodec:
    """Encodes one subject's records; decodes any registered version of it into the latest."""

    def __init__(self, subject: str, registry: SchemaRegistry) -> None:
        self.subject = subject
        self._registry = registry
        self._reader = registry.latest(subject)
        self._header = HEADER.pack(MAGIC, self._reader.schema_id)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            fastavro.schemaless_writer(buf, self._reader.schema, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"{self.subject}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER.size:
            raise DecodeError(f"{self.subject}: {len(data)} bytes is shorter than the header")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"{self.subject}: magic byte {magic}, expected {MAGIC}")
        writer = self._registry.by_id(schema_id)
        if writer.subject != self.subject:
            raise DecodeError(f"{self.subject}: schema id {schema_id} belongs to {writer.subject}")
        body = io.BytesIO(memoryview(data)[HEADER.size :])
        # Resolution only when the writer's version differs; it costs as much as the read.
        reader = None if writer is self._reader else self._reader.schema
        try:
            value = fastavro.schemaless_reader(body, writer.schema, reader)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise DecodeError(f"{self.subject}: {type(exc).__name__}: {exc}") from exc
        if body.tell() != len(data) - HEADER.size:
            raise DecodeError(
                f"{self.subject}: {len(data) - HEADER.size - body.tell()} trailing bytes"
            )
        if not isinstance(value, dict):
            raise DecodeError(f"{self.subject}: not a record")
        return value

    def with_defaults(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """`record` with the schema's defaults for the top-level fields it leaves out."""
        filled = dict(record)
        schema = cast(dict[str, Any], self._reader.schema)  # every subject is a record
        for field in schema["fields"]:
            if field["name"] not in filled and "default" in field:
                filled[field["name"]] = copy.deepcopy(field["default"])
        return filled

    def validate(self, record: Mapping[str, Any]) -> None:
        """Raise ValidationError naming the first bad field (used for JSON input)."""
        try:
            fastavro.validation.validate(record, self._reader.schema, raise_errors=True)
        except fastavro.validation.ValidationError as exc:
            raise ValidationError(f"{self.subject}: {exc}") from exc
