"""Art. 10 feature library, keyword part: entries fed live from a compacted topic, matched with
an Aho-Corasick automaton (pyahocorasick).

Matching runs on a normalised copy of the text, and hits are mapped back to offsets in the
original so a report can quote the context:
- NFKC (full-width letters and digits become ASCII) and casefold;
- zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are dropped;
- a run of separators (whitespace and `* . - _ · • | / \\ ~ ,`) between two Han characters is
  dropped, so "代 开 发 票" and "代*开*发*票" match 代开发票; elsewhere it becomes one space, so
  "fake-passport" and "fake   passport" match "fake passport";
- terms that start or end with an ASCII letter or digit match on word boundaries only ("gun"
  does not hit "begun"); CJK terms match anywhere.
Spaced-out Latin letters ("f a k e") are not rejoined: that would merge ordinary words.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
SEPARATORS = frozenset("*.-_·•|/\\~,")


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


_char_cache: dict[str, str] = {}


def _norm_char(ch: str) -> str:
    out = _char_cache.get(ch)
    if out is None:
        out = "" if ch in ZERO_WIDTH else unicodedata.normalize("NFKC", ch).casefold()
        _char_cache[ch] = out
    return out


def _is_separator(normed: str) -> bool:
    return all(c.isspace() or c in SEPARATORS for c in normed)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def normalize(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the original offset."""
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


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class KeywordLibrary:
    def __init__(self) -> None:
        self._entries: dict[str, KeywordEntry] = {}
        self._automaton: ahocorasick.Automaton | None = None
        self.version = 0

    def put(self, entry: KeywordEntry) -> None:
        if not normalize(entry.term)[0].strip():
            raise ValueError(f"keyword {entry.entry_id} has an empty term")
        self._entries[entry.entry_id] = entry
        self._changed()

    def remove(self, entry_id: str) -> None:
        if self._entries.pop(entry_id, None) is not None:
            self._changed()

    def _changed(self) -> None:
        # Rebuilt lazily at the next match: a burst of registry updates costs one build.
        self._automaton = None
        self.version += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _build(self) -> ahocorasick.Automaton:
        by_term: dict[str, list[KeywordEntry]] = {}
        for entry in self._entries.values():
            by_term.setdefault(normalize(entry.term)[0].strip(), []).append(entry)
        automaton = ahocorasick.Automaton()
        for term, entries in by_term.items():
            automaton.add_word(term, (term, tuple(entries)))
        if by_term:
            automaton.make_automaton()
        return automaton

    def match(self, text: str) -> list[KeywordHit]:
        if not self._entries:
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
