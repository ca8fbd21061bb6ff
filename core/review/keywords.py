"""Art. 10 feature library, keyword part: entries fed live from a compacted topic, matched with
an Aho-Corasick automaton (pyahocorasick).

Matching runs on a normalised copy of the text, and hits are mapped back to offsets in the
original so a report can quote the context. Terms go through the same normalisation.
- Each character is put through NFKC (full-width letters, digits and punctuation become ASCII)
  and casefold, one character at a time so every output character keeps its source offset.
- Zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are dropped.
- A run of separators (whitespace and `* . - _ · • | / \\ ~`) between two Han characters is
  dropped, so "代 开 发 票" and "代*开*发*票" match 代开发票; elsewhere it becomes one space,
  so "fake-passport" and "FAKE   PASSPORT" match "fake passport". Commas (including "，") are
  not separators: Chinese clauses are joined by them, and "网络，赌博" is not 网络赌博.
- Terms that start or end with an ASCII letter or digit match on word boundaries only ("gun"
  does not hit "begun"); CJK terms match anywhere.
Spaced-out Latin letters ("f a k e") are not rejoined: that would merge ordinary words.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
SEPARATORS = frozenset("*.-_·•|/\\~")


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True, slots=True)
class KeywordEntry:
    entry_id: str
    term: str
    category: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class KeywordHit:
    entry_id: str
    term: str
    category: str
    severity: Severity
    start: int
    end: int
    """Offsets into the original text (end exclusive)."""


# Bounded: texts are untrusted and could parade the whole of Unicode past the cache.
@lru_cache(maxsize=1 << 16)
def _norm_char(ch: str) -> str:
    return "" if ch in ZERO_WIDTH else unicodedata.normalize("NFKC", ch).casefold()


def _is_separator(normed: str) -> bool:
    return all(c.isspace() or c in SEPARATORS for c in normed)


def _is_han(ch: str) -> bool:
    return (
        "\u4e00" <= ch <= "\u9fff"
        or "\u3400" <= ch <= "\u4dbf"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U0003134f"
    )


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


_SEPARATOR_RUN = re.compile("[\\s" + re.escape("".join(sorted(SEPARATORS))) + "]+")


class OffsetMap:
    """Original offset of each normalised character, kept as (normalised start, original
    start) per unbroken chunk: texts have few separator runs, so this stays small."""

    def __init__(self, chunks: Sequence[tuple[int, int]]) -> None:
        self._norm = [n for n, _ in chunks]
        self._orig = [o for _, o in chunks]

    def __getitem__(self, index: int) -> int:
        k = bisect.bisect_right(self._norm, index) - 1
        return self._orig[k] + index - self._norm[k]


def normalize(text: str) -> tuple[str, OffsetMap | list[int]]:
    """The normalised text and the original offset of each of its characters."""
    table: dict[int, str] = {}
    for ch in set(text):
        normed = _norm_char(ch)
        if len(normed) != 1:
            return _normalize_per_char(text)  # a character vanishes or expands
        if normed != ch:
            table[ord(ch)] = normed
    # Fast path: folding kept every character in place, so only separator runs move offsets.
    folded = text.translate(table) if table else text
    parts: list[str] = []
    chunks: list[tuple[int, int]] = []
    size = pos = 0
    for run in _SEPARATOR_RUN.finditer(folded):
        start, end = run.span()
        if start > pos:
            chunks.append((size, pos))
            parts.append(folded[pos:start])
            size += start - pos
        if parts and end < len(folded) and not (_is_han(parts[-1][-1]) and _is_han(folded[end])):
            chunks.append((size, start))
            parts.append(" ")
            size += 1
        pos = end
    if pos < len(folded):
        chunks.append((size, pos))
        parts.append(folded[pos:])
    return "".join(parts), OffsetMap(chunks or [(0, 0)])


def _normalize_per_char(text: str) -> tuple[str, list[int]]:
    chars: list[str] = []
    origin: list[int] = []
    separator_at = -1  # original offset where a pending separator run began
    for i, ch in enumerate(text):
        normed = _norm_char(ch)
        if not normed:
            continue
        if _is_separator(normed):
            if separator_at < 0:
                separator_at = i
            continue
        if separator_at >= 0:
            if chars and not (_is_han(chars[-1]) and _is_han(normed[0])):
                chars.append(" ")
                origin.append(separator_at)
            separator_at = -1
        chars.extend(normed)
        origin.extend([i] * len(normed))
    return "".join(chars), origin


class KeywordLibrary:
    """Keyword features by entry id; `put`/`remove` mirror the compacted registry topic."""

    def __init__(self) -> None:
        self._entries: dict[str, KeywordEntry] = {}
        self._automaton: ahocorasick.Automaton | None = None
        self._version = 0

    @property
    def version(self) -> int:
        """Bumped on every change, so a compliance record can name the library it saw."""
        return self._version

    def put(self, entry: KeywordEntry) -> None:
        """Add `entry`, or replace the one with its entry_id."""
        if not normalize(entry.term)[0]:
            raise ValueError(f"keyword {entry.entry_id} has an empty term")
        self._entries[entry.entry_id] = entry
        self._changed()

    def remove(self, entry_id: str) -> None:
        """Drop an entry (a tombstone); an unknown id is a no-op."""
        if self._entries.pop(entry_id, None) is not None:
            self._changed()

    def _changed(self) -> None:
        # Rebuilt lazily at the next match: a burst of registry updates costs one build.
        self._automaton = None
        self._version += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _build(self) -> ahocorasick.Automaton:
        by_term: dict[str, list[KeywordEntry]] = {}
        for entry in self._entries.values():
            by_term.setdefault(normalize(entry.term)[0], []).append(entry)
        automaton = ahocorasick.Automaton()
        for term, entries in by_term.items():
            automaton.add_word(term, (term, tuple(entries)))
        automaton.make_automaton()
        return automaton

    def match(self, text: str) -> list[KeywordHit]:
        """Every occurrence of every entry, overlaps included, ordered by start offset."""
        if not self._entries or not text:
            return []
        if self._automaton is None:
            self._automaton = self._build()
        normed, origin = normalize(text)
        hits = []
        for last, (term, entries) in self._automaton.iter(normed):
            first = last - len(term) + 1
            if _is_word_char(term[0]) and first > 0 and _is_word_char(normed[first - 1]):
                continue
            if (
                _is_word_char(term[-1])
                and last + 1 < len(normed)
                and _is_word_char(normed[last + 1])
            ):
                continue
            start, end = origin[first], origin[last] + 1
            hits += [
                KeywordHit(e.entry_id, e.term, e.category, e.severity, start, end) for e in entries
            ]
        hits.sort(key=lambda h: (h.start, h.end, h.entry_id))
        return hits
