"""Text labels: the visible notice (Art. 17) and the signed implicit record (Art. 16, 18).

The explicit-label rule is GB 45438's element rule: a text prompt that contains both an AI
element ("AI" or "人工智能") and a generation element ("生成" and/or "合成"). The standard lets
the prompt sit at the start, the end or "an appropriate position in the middle"; we look only at
the first and last non-blank line, because a notice in the middle cannot be told apart from
prose that merely discusses AI, and our own labeler never puts one there.

Files: Markdown carries the record in front matter (``AIGC: {json}``, which is YAML and JSON at
once); plain text has no defined place, so the record goes into a sidecar ``<file>.aigc.json``.
The digest always covers the exact UTF-8 bytes of the labeled text (the Markdown body after the
front matter), so removing the visible notice counts as altering the content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from synthguard.errors import LabelError
from synthguard.labels.aigc import (
    MAX_RECORD_JSON_BYTES,
    AigcRecord,
    LabelClass,
    MalformedRecordError,
    parse_json,
)
from synthguard.labels.signing import Keyring, content_digest, sign_producer

DEFAULT_NOTICE_ZH: Final = "【本内容由人工智能生成】"
# Recognised by our detector via "generated"; GB 45438's wording names only 生成/合成, so for
# content served in China prefer the Chinese notice (see STANDARD_NOTES.md).
DEFAULT_NOTICE_EN: Final = "[AI-generated content]"

# How much of the first / last non-blank line counts as "the start" / "the end" of the text.
EXPLICIT_WINDOW_CHARS: Final = 200

MARKDOWN_SUFFIXES: Final = frozenset({".md", ".markdown"})
SIDECAR_SUFFIX: Final = ".aigc.json"

# "AI" only as a token of its own, so "SAID", "AIM", "OpenAI" or "AIGC" do not count; "AI生成"
# and "AI-generated" do. Uppercase only, as the standard writes it.
_AI_ELEMENT = re.compile(r"人工智能|(?<![A-Za-z0-9])AI(?![A-Za-z0-9])")
# The standard's generation element, plus English equivalents for the English notice.
_GENERATION_ELEMENT = re.compile(
    r"生成|合成|(?<![A-Za-z])(?i:generated|synthesi[sz]ed)(?![A-Za-z])"
)
_BOM: Final = "\ufeff"


class NoticePosition(StrEnum):
    START = "start"
    END = "end"
    BOTH = "both"


def is_explicit_notice(prompt: str) -> bool:
    """True when `prompt` has both the AI element and the generation element."""
    # NFKC so full-width "ＡＩ" and the like count as the ASCII letters they display as.
    normalized = unicodedata.normalize("NFKC", prompt)
    return bool(_AI_ELEMENT.search(normalized) and _GENERATION_ELEMENT.search(normalized))


def find_explicit_label(text: str) -> NoticePosition | None:
    """Where a visible AI label sits: START, END, BOTH, or None when neither end has one."""
    stripped = text.strip()
    if not stripped:
        return None
    # Only the first and last non-blank lines count, and only a window of each: slice before
    # splitting so a long text costs no more than a short one.
    span = 4 * EXPLICIT_WINDOW_CHARS
    first = stripped[:span].splitlines()[0].strip()[:EXPLICIT_WINDOW_CHARS]
    last = stripped[-span:].splitlines()[-1].strip()[-EXPLICIT_WINDOW_CHARS:]
    at_start = is_explicit_notice(first)
    at_end = is_explicit_notice(last)
    if at_start and at_end:
        return NoticePosition.BOTH
    if at_start:
        return NoticePosition.START
    return NoticePosition.END if at_end else None


def has_explicit_label(text: str) -> bool:
    return find_explicit_label(text) is not None


def apply_notice(text: str, notice: str, position: NoticePosition) -> str:
    """Put `notice` on its own line before and/or after `text`, keeping its trailing newline."""
    if not is_explicit_notice(notice):
        raise LabelError(
            f"notice {notice!r} lacks GB 45438's elements: 'AI' or '人工智能' plus '生成' or '合成'"
        )
    if len(notice.splitlines()) != 1:
        raise LabelError("notice must be a single line")
    if position in (NoticePosition.START, NoticePosition.BOTH):
        text = f"{notice}\n{text}"
    if position in (NoticePosition.END, NoticePosition.BOTH):
        if text.endswith("\n"):
            text = f"{text}{notice}\n"
        else:
            text = f"{text}\n{notice}" if text else notice
    return text


def text_bytes(text: str) -> bytes:
    """The UTF-8 bytes a label's digest covers; lone surrogates cannot be labeled."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabelError(f"text is not encodable as UTF-8 at position {exc.start}") from exc


@dataclass(frozen=True, slots=True)
class LabeledText:
    """The final labeled content and the signed record that speaks for its exact bytes."""

    text: str
    record: AigcRecord
    explicit: bool
    digest_hex: str


def label_text(
    text: str,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    notice: str | None,
    position: NoticePosition,
    label: LabelClass = LabelClass.CONFIRMED,
) -> LabeledText:
    """Add the notice (None: the service kind needs none under Art. 17) and sign the record."""
    final = text if notice is None else apply_notice(text, notice, position)
    digest = content_digest(text_bytes(final))
    record = sign_producer(AigcRecord(label, producer, produce_id), digest, keyring)
    # apply_notice has checked the notice; without one, the text may carry its own.
    explicit = notice is not None or has_explicit_label(final)
    return LabeledText(final, record, explicit, digest.hex())


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def is_markdown(path: Path) -> bool:
    return path.suffix.lower() in MARKDOWN_SUFFIXES


def read_text_file(path: Path) -> str:
    """The file's exact text: strict UTF-8 and no newline translation (the digest depends on it)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelError(
            f"{path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from exc


def write_labeled_file(
    path_in: Path,
    path_out: Path,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    notice: str | None,
    position: NoticePosition,
    label: LabelClass = LabelClass.CONFIRMED,
) -> LabeledText:
    """Label `path_in` into `path_out`: front matter for Markdown, a sidecar for anything else."""
    # A leading BOM is dropped so the notice really comes first.
    source = read_text_file(path_in).removeprefix(_BOM)
    front: list[str] = []
    body = source
    if is_markdown(path_in) and is_markdown(path_out):
        split = _split_front_matter(source)
        if split is not None:
            front, body = split
            if any(_AIGC_KEY.fullmatch(line.rstrip("\r\n")) for line in front):
                raise LabelError(f"{path_in} already has an AIGC record (GB 45438 allows one)")
    labeled = label_text(
        body,
        produce_id=produce_id,
        producer=producer,
        keyring=keyring,
        notice=notice,
        position=position,
        label=label,
    )
    if is_markdown(path_out):
        record_line = f"AIGC: {labeled.record.fields_json()}\n"
        path_out.write_bytes(f"---\n{record_line}{''.join(front)}---\n{labeled.text}".encode())
    else:
        path_out.write_bytes(labeled.text.encode("utf-8"))
        sidecar_path(path_out).write_text(labeled.record.to_json(), encoding="ascii")
    return labeled


def read_labeled_file(path: Path) -> tuple[str, AigcRecord | None]:
    """The labeled text and its record, or None when the file carries none.

    Raises MalformedRecordError when a record is there but unreadable (the verifier reports that
    as altered), and LabelError when the file itself is not UTF-8 text.
    """
    document = read_text_file(path)
    if is_markdown(path):
        split = _split_front_matter(document.removeprefix(_BOM))
        if split is None:
            return document, None
        front, body = split
        try:
            return body, _record_from_front_matter(front)
        except LabelError as exc:
            raise MalformedRecordError(f"{path}: {exc}", body=body) from exc
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return document, None
    try:
        if sidecar.stat().st_size > MAX_RECORD_JSON_BYTES:
            raise LabelError(f"larger than {MAX_RECORD_JSON_BYTES} bytes")
        return document, AigcRecord.from_json(sidecar.read_bytes())
    except LabelError as exc:
        raise MalformedRecordError(f"{sidecar}: {exc}", body=document) from exc


# --- Markdown front matter: the YAML subset that labelers actually write. ---

_FENCE_OPEN: Final = "---"
_FENCE_CLOSE: Final = frozenset({"---", "..."})
_AIGC_KEY = re.compile(r"""(?:AIGC|"AIGC"|'AIGC')[ \t]*:(.*)""")
_BLOCK_ENTRY = re.compile(r"[ \t]+([A-Za-z0-9]+)[ \t]*:(.*)")


def _split_front_matter(document: str) -> tuple[list[str], str] | None:
    """(lines between the fences, body after them), or None when there is no front matter."""
    lines = document.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != _FENCE_OPEN:
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in _FENCE_CLOSE:
            return lines[1:index], "".join(lines[index + 1 :])
    return None  # never closed: a thematic break, not front matter


def _record_from_front_matter(front: list[str]) -> AigcRecord | None:
    """Read ``AIGC: {json}`` (ours) or the block mapping other labelers write.

    Block form, as seen in the wild::

        AIGC:
          Label: '1'
          ContentProducer: 001191110102MAD55U9H0F10002
    """
    keys = [
        (index, match)
        for index, line in enumerate(front)
        if (match := _AIGC_KEY.fullmatch(line.rstrip("\r\n")))
    ]
    if not keys:
        return None
    if len(keys) > 1:
        raise LabelError("front matter has more than one AIGC record (GB 45438 allows one)")
    start, match = keys[0]
    inline = match.group(1).strip()
    if inline:
        value = parse_json(inline)
        if not isinstance(value, dict):
            raise LabelError("the AIGC value in front matter is not a JSON object")
        return AigcRecord.from_fields(value)
    fields: dict[str, object] = {}
    for line in front[start + 1 :]:
        content = line.rstrip("\r\n")
        if not content.strip() or content.lstrip().startswith("#"):
            continue
        entry = _BLOCK_ENTRY.fullmatch(content)
        if entry is None:
            if content[0] in " \t":
                raise LabelError(f"cannot read front matter line {content!r} under AIGC")
            break  # next top-level key: the block has ended
        name, raw = entry.groups()
        if name in fields:
            raise LabelError(f"duplicate key {name!r} in AIGC record")
        fields[name] = _yaml_scalar(raw)
    return AigcRecord.from_fields(fields)


def _yaml_scalar(raw: str) -> str:
    """A quoted or plain YAML scalar, read as a string (Label: 1 and Label: '1' both mean "1")."""
    raw = raw.strip()
    if raw.startswith("'"):
        if len(raw) < 2 or not raw.endswith("'"):
            raise LabelError(f"unterminated quoted value {raw!r} in front matter")
        return raw[1:-1].replace("''", "'")
    if raw.startswith('"'):
        value = parse_json(raw)  # YAML double-quoted escapes are a superset of JSON's
        if not isinstance(value, str):
            raise LabelError(f"cannot read value {raw!r} in front matter")
        return value
    return raw.split(" #", 1)[0].rstrip()  # " #" starts a comment after a plain scalar
