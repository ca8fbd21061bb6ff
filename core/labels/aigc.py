"""The implicit label record (Deep Synthesis Provisions Art. 16; GB 45438-2025 metadata `AIGC`).

One JSON object under the key ``AIGC`` with seven string elements, in the standard's order.
Values are restricted to printable ASCII so every container (XMP, PNG text, ID3, front matter)
can carry them unescaped; see STANDARD_NOTES.md for the wording this follows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from synthguard.errors import LabelError

# The standard's element names, in the standard's order; they are storage keys, never rename.
FIELD_NAMES: Final = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)
RECORD_KEY: Final = "AIGC"

# Our bound, not the standard's: it names no length, Tencent COS caps at 2048. 256 holds every
# producer code and foreign signature seen in the wild while keeping a record small.
MAX_FIELD_CHARS: Final = 256
# A well-formed record is at most ~2 KiB even with every quote escaped; refuse to parse more.
MAX_RECORD_JSON_BYTES: Final = 16 * 1024


class MalformedRecordError(LabelError):
    """A record is present but unreadable, in any container; verifiers report the label
    altered. `body` is the text content where there is one, so a text verifier can go on."""

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body


class LabelClass(StrEnum):
    """The Label element: 1 = AI-generated, 2 = possibly, 3 = suspected.

    Mapping the 2025 Labeling Measures' confirmed / possibly / suspected cases onto 1/2/3 is our
    reading of the standard's wording.
    """

    CONFIRMED = "1"
    POSSIBLE = "2"
    SUSPECTED = "3"


def _field_problem(value: object) -> str | None:
    """Why `value` cannot be an element value, or None when it can."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if len(value) > MAX_FIELD_CHARS:
        return f"is {len(value)} characters long (at most {MAX_FIELD_CHARS})"
    for index, char in enumerate(value):
        # GB 45438 allows 0x21, 0x23-0x5B, 0x5D-0x7E plus an escaped quote: no space, no
        # backslash, nothing outside ASCII. A quote stays legal because JSON writes it as \".
        if not ("\x21" <= char <= "\x7e") or char == "\\":
            return (
                f"has {char!r} at position {index} (allowed: printable ASCII 0x21-0x7E except '\\')"
            )
    return None


@dataclass(frozen=True, slots=True)
class AigcRecord:
    """One implicit label; construction validates, so every instance is writable as-is."""

    label: LabelClass
    content_producer: str
    produce_id: str
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.label, LabelClass):
            raise LabelError(f"Label must be a LabelClass, not {self.label!r}")
        for name, value in zip(FIELD_NAMES[1:], self._values()[1:], strict=True):
            problem = _field_problem(value)
            if problem is not None:
                raise LabelError(f"AIGC field {name} {problem}")

    def _values(self) -> tuple[str, ...]:
        return (
            self.label.value,
            self.content_producer,
            self.produce_id,
            self.reserved_code1,
            self.content_propagator,
            self.propagate_id,
            self.reserved_code2,
        )

    def to_fields(self) -> dict[str, str]:
        """The elements under their standard names, in the standard's order."""
        return dict(zip(FIELD_NAMES, self._values(), strict=True))

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> AigcRecord:
        """Build from standard-named elements; Label is required, absent others read as ""."""
        unknown = [key for key in fields if key not in FIELD_NAMES]
        if unknown:
            raise LabelError(f"unknown AIGC field(s): {', '.join(map(repr, unknown))}")
        if "Label" not in fields:
            raise LabelError("AIGC record has no Label")
        raw_label = fields["Label"]
        if not isinstance(raw_label, str):
            raise LabelError(f"AIGC field Label must be a string, not {type(raw_label).__name__}")
        try:
            label = LabelClass(raw_label)
        except ValueError:
            raise LabelError(
                f"AIGC field Label is {raw_label!r}, expected '1', '2' or '3'"
            ) from None
        values: list[str] = []
        for name in FIELD_NAMES[1:]:
            value = fields.get(name, "")
            if not isinstance(value, str):
                raise LabelError(f"AIGC field {name} must be a string, not {type(value).__name__}")
            values.append(value)
        return cls(label, *values)

    def fields_json(self) -> str:
        """The elements as a compact JSON object, for containers whose own key is already AIGC
        (Markdown front matter, an XMP property)."""
        return json.dumps(self.to_fields(), separators=(",", ":"))

    def to_json(self) -> str:
        """Compact ``{"AIGC":{...}}`` in the standard's key order (as the standard's example)."""
        return json.dumps({RECORD_KEY: self.to_fields()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> AigcRecord:
        """Parse ``{"AIGC":{...}}``; anything else (duplicate keys included) is a LabelError."""
        document = parse_json(data)
        if not isinstance(document, dict) or list(document) != [RECORD_KEY]:
            raise LabelError('AIGC record must be a JSON object with the single key "AIGC"')
        fields = document[RECORD_KEY]
        if not isinstance(fields, dict):
            raise LabelError('the "AIGC" value must be a JSON object')
        return cls.from_fields(fields)


def parse_json(data: str | bytes) -> object:
    """Strict, bounded JSON for label records: UTF-8, no duplicate keys, no NaN/Infinity."""
    if len(data) > MAX_RECORD_JSON_BYTES:
        raise LabelError(f"AIGC record is {len(data)} long (at most {MAX_RECORD_JSON_BYTES})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LabelError(f"AIGC record is not UTF-8: {exc}") from exc
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise LabelError(f"AIGC record is not valid JSON: {exc}") from exc


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Refuse duplicate keys: two readers taking different copies is a way to forge a label."""
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise LabelError(f"duplicate key {key!r} in AIGC record")
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise LabelError(f"AIGC record contains the non-JSON constant {name}")
