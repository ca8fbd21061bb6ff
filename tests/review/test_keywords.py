"""The keyword library against a brute-force matcher on seeded data, plus evasions."""

from __future__ import annotations

import random
import time
import unicodedata

import pytest

from synthguard.review.keywords import (
    KeywordEntry,
    KeywordHit,
    KeywordLibrary,
    Severity,
    _normalize_per_char,
    normalize,
)

# The documented rules, restated here so the oracle does not share the module's code.
REF_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
REF_SEPARATORS = "*.-_·•|/\\~"


def ref_normalize(text: str) -> list[tuple[str, int]]:
    """(normalised character, original offset) pairs, the slow obvious way."""
    out: list[tuple[str, int]] = []
    pending: int | None = None
    for i, ch in enumerate(text):
        if ch in REF_ZERO_WIDTH:
            continue
        normed = unicodedata.normalize("NFKC", ch).casefold()
        if normed and all(c.isspace() or c in REF_SEPARATORS for c in normed):
            pending = i if pending is None else pending
            continue
        if pending is not None and out:
            han_pair = unicodedata.name(out[-1][0], "").startswith("CJK UNIFIED")
            han_pair = han_pair and unicodedata.name(normed[0], "").startswith("CJK UNIFIED")
            if not han_pair:
                out.append((" ", pending))
        pending = None
        out += [(c, i) for c in normed]
    return out


def brute_force(entries: list[KeywordEntry], text: str) -> set[tuple[str, int, int]]:
    """Every (entry, start, end) found by comparing the term at each normalised position."""
    pairs = ref_normalize(text)
    normed = "".join(c for c, _ in pairs)

    def word(ch: str) -> bool:
        return ch.isascii() and ch.isalnum()

    found = set()
    for entry in entries:
        term = "".join(c for c, _ in ref_normalize(entry.term))
        for i in range(len(normed) - len(term) + 1):
            j = i + len(term)
            if normed[i:j] != term:
                continue
            if word(term[0]) and i > 0 and word(normed[i - 1]):
                continue
            if word(term[-1]) and j < len(normed) and word(normed[j]):
                continue
            found.add((entry.entry_id, pairs[i][1], pairs[j - 1][1] + 1))
    return found


def as_set(hits: list[KeywordHit]) -> set[tuple[str, int, int]]:
    return {(h.entry_id, h.start, h.end) for h in hits}


def library_of(*entries: KeywordEntry) -> KeywordLibrary:
    library = KeywordLibrary()
    for entry in entries:
        library.put(entry)
    return library


# Han, ASCII and full-width letters, separators of every kind, zero-width, a comma, and
# characters NFKC or casefold expand ("ß" -> "ss", "ﬁ" -> "fi"), which take the slow path.
TEXT_ALPHABET = [*"代开发票赌博枪支出售abgunsABＡＢ  \u3000\t*-._·，,\u200b", "ß", "ﬁ"]
TERM_ALPHABET = [*"代开发票赌博abgunsＡ ", "ss", "fi"]


@pytest.mark.parametrize("seed", range(25))
def test_matches_equal_brute_force_on_seeded_texts(seed: int) -> None:
    rng = random.Random(seed)
    entries = []
    for i in range(15):
        term = "".join(rng.choice(TERM_ALPHABET) for _ in range(rng.randint(1, 4)))
        if ref_normalize(term):
            entries.append(KeywordEntry(f"e{i}", term, "c", Severity.HIGH))
    library = library_of(*entries)
    for _ in range(40):
        text = "".join(rng.choice(TEXT_ALPHABET) for _ in range(rng.randint(0, 80)))
        assert as_set(library.match(text)) == brute_force(entries, text), repr(text)


@pytest.mark.parametrize("seed", range(10))
def test_fast_normalisation_agrees_with_the_per_character_one(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "代开发票ＡＢab1 　\t*.-_·,，。！Ｆx"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        fast, fast_map = normalize(text)
        slow, slow_map = _normalize_per_char(text)
        assert fast == slow, text
        assert [fast_map[i] for i in range(len(fast))] == list(slow_map), text


@pytest.mark.parametrize(
    "text",
    [
        "长期代开发票",
        "代 开 发 票",
        "代*开*发*票",
        "代\u200b开\u200b发\u200b票",
        "代·开-发_票",
        "代　开　发　票",  # ideographic spaces
        "代\n开\t发 . 票",
    ],
)
def test_chinese_evasions_match_and_offsets_point_into_the_original(text: str) -> None:
    library = library_of(KeywordEntry("kw-1", "代开发票", "fraud", Severity.HIGH))
    [hit] = library.match(text)
    assert text[hit.start] == "代" and text[hit.end - 1] == "票"
    assert hit.term == "代开发票"


def test_commas_are_clause_breaks_not_evasions() -> None:
    library = library_of(KeywordEntry("g", "网络赌博", "gambling", Severity.HIGH))
    assert library.match("我们的网络，赌博是违法的") == []


def test_full_width_and_case_and_word_boundaries() -> None:
    library = library_of(
        KeywordEntry("p", "fake passport", "fraud", Severity.HIGH),
        KeywordEntry("g", "gun", "weapons", Severity.HIGH),
    )
    text = "we sell ＦＡＫＥ ＰＡＳＳＰＯＲＴ here"
    [hit] = library.match(text)
    assert (hit.entry_id, text[hit.start : hit.end]) == ("p", "ＦＡＫＥ ＰＡＳＳＰＯＲＴ")
    assert [h.entry_id for h in library.match("ＦＡＫＥ　ＰＡＳＳＰＯＲＴ")] == ["p"]
    assert [h.entry_id for h in library.match("a Fake-Passport!")] == ["p"]
    assert [h.entry_id for h in library.match("fake\u200b passport")] == ["p"]
    assert library.match("fakepassport") == []
    assert library.match("it has begun") == []
    assert library.match("guns") == []
    assert library.match("gun2") == []
    assert [h.entry_id for h in library.match("a gun.")] == ["g"]
    assert [h.entry_id for h in library.match("买gun")] == ["g"]  # Han is a word boundary


def test_live_updates_replace_and_remove() -> None:
    library = library_of(KeywordEntry("k", "赌博", "gambling", Severity.LOW))
    v1 = library.version
    assert library.match("网络赌博")[0].severity is Severity.LOW
    library.put(KeywordEntry("k", "赌博", "fraud", Severity.HIGH))
    [hit] = library.match("网络赌博")
    assert (hit.category, hit.severity) == ("fraud", Severity.HIGH)
    library.put(KeywordEntry("k", "枪支", "weapons", Severity.HIGH))  # the term changes too
    assert library.match("网络赌博") == []
    assert [h.entry_id for h in library.match("枪支")] == ["k"]
    library.remove("k")
    library.remove("missing")  # no-op, no version bump
    assert library.match("网络赌博枪支") == []
    assert library.version == v1 + 3
    assert len(library) == 0


def test_a_burst_of_puts_builds_the_automaton_once(monkeypatch: pytest.MonkeyPatch) -> None:
    library = KeywordLibrary()
    builds = []
    real_build = KeywordLibrary._build

    def counting_build(self: KeywordLibrary) -> object:
        builds.append(1)
        return real_build(self)

    monkeypatch.setattr(KeywordLibrary, "_build", counting_build)
    for i in range(1000):
        library.put(KeywordEntry(f"k{i}", f"term{i}", "c", Severity.LOW))
    assert len(library) == 1000 and builds == []
    assert [h.entry_id for h in library.match("a term42 b")] == ["k42"]
    library.match("again")
    assert len(builds) == 1


def test_overlapping_terms_all_hit_sorted_by_start() -> None:
    library = library_of(
        KeywordEntry("a", "出售枪支", "weapons", Severity.HIGH),
        KeywordEntry("b", "枪支", "weapons", Severity.MEDIUM),
        KeywordEntry("c", "出售", "x", Severity.LOW),
        KeywordEntry("d", "出售枪支", "dup", Severity.LOW),  # same term, both reported
    )
    hits = library.match("出售枪支")
    assert [(h.entry_id, h.start, h.end) for h in hits] == [
        ("c", 0, 2),
        ("a", 0, 4),
        ("d", 0, 4),
        ("b", 2, 4),
    ]


def test_empty_text_empty_library_and_empty_terms() -> None:
    assert KeywordLibrary().match("出售枪支") == []
    library = library_of(KeywordEntry("a", "枪支", "weapons", Severity.HIGH))
    assert library.match("") == []
    assert library.match(" \u200b ") == []
    with pytest.raises(ValueError, match="empty term"):
        library.put(KeywordEntry("c", " * \u200b", "x", Severity.LOW))
    assert len(library) == 1


@pytest.mark.parametrize("suffix", ["", "\u200b"])  # the second forces the per-character path
def test_one_megabyte_text(suffix: str) -> None:
    library = library_of(
        KeywordEntry("k", "出售冰毒", "drugs", Severity.HIGH),
        KeywordEntry("e", "fake passport", "fraud", Severity.HIGH),
    )
    filler = "正常内容，天气不错。Nothing to see here! "
    text = (
        filler * ((1 << 20) // len(filler.encode()) + 1) + "出 售 冰 毒 and FAKE-passport" + suffix
    )
    assert len(text.encode()) > 1 << 20
    began = time.perf_counter()
    hits = library.match(text)
    assert time.perf_counter() - began < 10
    assert [(h.entry_id, text[h.start : h.end]) for h in hits] == [
        ("k", "出 售 冰 毒"),
        ("e", "FAKE-passport"),
    ]
