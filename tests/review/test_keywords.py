"""The keyword library against a brute-force matcher on seeded data, plus evasions."""

from __future__ import annotations

import random

import pytest

from synthguard.review.keywords import (
    KeywordEntry,
    KeywordHit,
    KeywordLibrary,
    Severity,
    normalize,
)


def brute_force(entries: list[KeywordEntry], text: str) -> set[tuple[str, int, int]]:
    """Every (entry, start, end) by scanning each position of the normalised text."""
    normed, origin = normalize(text)
    found = set()
    for entry in entries:
        term = normalize(entry.term)[0].strip()
        for i in range(len(normed) - len(term) + 1):
            if normed[i : i + len(term)] != term:
                continue
            before = normed[i - 1] if i else ""
            after = normed[i + len(term) : i + len(term) + 1]
            if term[0].isascii() and term[0].isalnum() and before.isascii() and before.isalnum():
                continue
            if term[-1].isascii() and term[-1].isalnum() and after.isascii() and after.isalnum():
                continue
            found.add((entry.entry_id, origin[i], origin[i + len(term) - 1] + 1))
    return found


def as_set(hits: list[KeywordHit]) -> set[tuple[str, int, int]]:
    return {(h.entry_id, h.start, h.end) for h in hits}


@pytest.mark.parametrize("seed", range(20))
def test_matches_equal_brute_force_on_seeded_texts(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "代开发票赌博枪支出售ab c-*. 　\u200b"
    entries = [
        KeywordEntry(
            f"e{i}",
            "".join(rng.choice("代开发票赌博ab") for _ in range(rng.randint(1, 4))),
            "c",
            Severity.HIGH,
        )
        for i in range(15)
    ]
    entries = [e for e in entries if e.term.strip()]
    library = KeywordLibrary()
    for entry in entries:
        library.put(entry)
    for _ in range(30):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert as_set(library.match(text)) == brute_force(entries, text), text


@pytest.mark.parametrize(
    "text",
    ["长期代开发票", "代 开 发 票", "代*开*发*票", "代\u200b开\u200b发\u200b票", "代·开-发_票"],
)
def test_chinese_evasions_match_and_offsets_point_into_the_original(text: str) -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("kw-1", "代开发票", "fraud", Severity.HIGH))
    [hit] = library.match(text)
    assert text[hit.start] == "代" and text[hit.end - 1] == "票"


def test_full_width_and_case_and_word_boundaries() -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("p", "fake passport", "fraud", Severity.HIGH))
    library.put(KeywordEntry("g", "gun", "weapons", Severity.HIGH))
    assert [h.entry_id for h in library.match("ＦＡＫＥ　ＰＡＳＳＰＯＲＴ here")] == ["p"]
    assert [h.entry_id for h in library.match("a Fake-Passport!")] == ["p"]
    assert library.match("it has begun") == []
    assert library.match("guns") == []
    assert [h.entry_id for h in library.match("a gun.")] == ["g"]


def test_live_updates_replace_and_remove() -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("k", "赌博", "gambling", Severity.LOW))
    v1 = library.version
    assert library.match("网络赌博")[0].severity is Severity.LOW
    library.put(KeywordEntry("k", "赌博", "gambling", Severity.HIGH))
    assert library.match("网络赌博")[0].severity is Severity.HIGH
    library.remove("k")
    library.remove("missing")  # no-op
    assert library.match("网络赌博") == []
    assert library.version == v1 + 2
    assert len(library) == 0


def test_overlapping_terms_all_hit_and_empty_terms_are_refused() -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("a", "出售枪支", "weapons", Severity.HIGH))
    library.put(KeywordEntry("b", "枪支", "weapons", Severity.MEDIUM))
    assert [h.entry_id for h in library.match("出售枪支")] == ["a", "b"]
    with pytest.raises(ValueError, match="empty term"):
        library.put(KeywordEntry("c", " * ", "x", Severity.LOW))
    assert library.match("") == []


def test_one_megabyte_text() -> None:
    library = KeywordLibrary()
    library.put(KeywordEntry("k", "出售冰毒", "drugs", Severity.HIGH))
    text = "正常内容。" * 200_000 + "出售冰毒"
    [hit] = library.match(text)
    assert hit.start == len(text) - 4
