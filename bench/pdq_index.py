"""Benchmark of the PDQ feature library index (synthguard.review.pdq.PdqIndex) at 1,000,000
hashes, beside a brute-force numpy popcount over the same library in the same run.

Run: .venv/bin/python bench/pdq_index.py   (about 3 minutes on 2 cores)

The library (seeded):
- 880,000 uniform random 256-bit hashes;
- 100,000 in 5,000 clusters of 20: a random centre and 19 copies with 1-48 random bits
  flipped (near-duplicates inside and outside the match threshold);
- 20,000 real PDQ hashes: random crops (40-100% a side, a fifth mirrored) of the 20
  scikit-image photographs (first scaled to at most 512 px), each scaled to at most 256 px.
  Real hashes are not uniform: neighbouring crops share most bits.

1,000 queries at the match threshold (31), each timed on the index and then on brute force:
500 near-duplicates of library entries (0-31 bits flipped, half at random positions and half
dealt evenly over the 16 chunks, the index's worst case) and 500 that should not match (250
fresh random hashes, 250 library entries with 40-64 bits flipped). Prints load time, memory,
median and p99 latency of both and their ratio, and whether they gave the same answers; then
times 20,000 live updates (new near-duplicates, replacements, removals) one by one, and runs the
same queries against the updated library.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import skimage.data
from PIL import Image

from synthguard.review.pdq import (
    PDQ_MATCH_DISTANCE,
    PdqHash,
    PdqIndex,
    PdqMatch,
    Words,
    brute_force_matches,
    hash_words,
    pdq_hash,
)

SEED = 2026
UNIFORM = 880_000
CLUSTERS, CLUSTER_SIZE = 5_000, 20
REAL = 20_000
QUERIES = 1_000
UPDATES = 20_000
PHOTOS = [
    "astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "moon",
    "page", "retina", "rocket", "text",
]  # fmt: skip


def flip_random(words: Words, bits: npt.NDArray[np.int64], rng: np.random.Generator) -> Words:
    """Each row with bits[i] distinct random bits flipped."""
    out = words.copy()
    for start in range(0, len(words), 20_000):
        part = slice(start, start + 20_000)
        # the ranks of a random permutation: those below k mark k distinct random bits
        ranks = rng.random((len(out[part]), 256)).argsort(axis=1)
        mask = np.packbits(ranks < bits[part, None], axis=1, bitorder="little")
        out[part] ^= mask.view(np.uint64)
    return out


def flip_spread(words: Words, bits: npt.NDArray[np.int64], rng: np.random.Generator) -> Words:
    """Each row with bits[i] bits flipped, dealt evenly over the 16 two-byte chunks."""
    out = words.copy()
    view = out.view(np.uint8)
    for i, count in enumerate(bits.tolist()):
        shares = rng.permutation([count // 16 + (c < count % 16) for c in range(16)])
        for chunk, share in enumerate(shares.tolist()):
            for bit in rng.choice(16, share, replace=False).tolist():
                view[i, 2 * chunk + bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def real_hashes(count: int, rng: np.random.Generator) -> Words:
    photos = []
    for name in PHOTOS:
        pixels = getattr(skimage.data, name)()
        image = Image.fromarray(np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels[..., :3])
        image.thumbnail((512, 512))  # crops of the large ones cost the same as the rest
        photos.append(np.asarray(image))
    hashes = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        height, width = photo.shape[:2]
        h, w = (int(side * rng.uniform(0.4, 1.0)) for side in (height, width))
        y, x = rng.integers(height - h + 1), rng.integers(width - w + 1)
        crop = Image.fromarray(np.ascontiguousarray(photo[y : y + h, x : x + w]))
        crop.thumbnail((256, 256))
        pixels = np.asarray(crop)
        hashes.append(pdq_hash(pixels[:, ::-1] if rng.random() < 0.2 else pixels))
    return hash_words(hashes)


def library(rng: np.random.Generator) -> Words:
    uniform = rng.integers(0, 2**64, (UNIFORM, 4), dtype=np.uint64, endpoint=False)
    centres = rng.integers(0, 2**64, (CLUSTERS, 4), dtype=np.uint64, endpoint=False)
    copies = np.repeat(centres, CLUSTER_SIZE - 1, axis=0)
    copies = flip_random(copies, rng.integers(1, 49, len(copies)), rng)
    real = real_hashes(REAL, rng)
    words = np.concatenate([uniform, centres, copies, real])
    return words[rng.permutation(len(words))]


def queries(words: Words, rng: np.random.Generator) -> tuple[list[PdqHash], list[str]]:
    half = QUERIES // 2
    quarter = QUERIES // 4
    picks = words[rng.integers(len(words), size=QUERIES)]
    near_random = flip_random(picks[:quarter], rng.integers(0, 32, quarter), rng)
    near_spread = flip_spread(picks[quarter:half], rng.integers(0, 32, half - quarter), rng)
    fresh = rng.integers(0, 2**64, (quarter, 4), dtype=np.uint64, endpoint=False)
    far = flip_random(picks[half + quarter :], rng.integers(40, 65, QUERIES - half - quarter), rng)
    found = np.concatenate([near_random, near_spread, fresh, far])
    kinds = ["near, random bits"] * quarter + ["near, spread bits"] * (half - quarter)
    kinds += ["fresh random"] * quarter + ["40-64 bits off"] * (QUERIES - half - quarter)
    return [PdqHash(row.tobytes(), 100) for row in found], kinds


def brute(
    words: Words, alive: npt.NDArray[np.bool_] | None, ids: list[str]
) -> Callable[[PdqHash], list[PdqMatch]]:
    def run(query: PdqHash) -> list[PdqMatch]:
        rows, distances = brute_force_matches(words, query, PDQ_MATCH_DISTANCE)
        found = [
            PdqMatch(ids[row], distance)
            for row, distance in zip(rows.tolist(), distances.tolist(), strict=True)
            if alive is None or alive[row]
        ]
        return sorted(found, key=lambda m: (m.distance, m.entry_id))

    return run


def timed(f: Callable[[PdqHash], list[PdqMatch]], query: PdqHash) -> tuple[float, list[PdqMatch]]:
    start = time.perf_counter()
    found = f(query)
    return time.perf_counter() - start, found


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def compare(
    index: PdqIndex,
    baseline: Callable[[PdqHash], list[PdqMatch]],
    queries: list[PdqHash],
    kinds: list[str],
) -> None:
    def lookup(query: PdqHash) -> list[PdqMatch]:
        return index.matches(query, PDQ_MATCH_DISTANCE)

    for query in queries[:20]:  # warm-up
        lookup(query)
        baseline(query)
    ours, found = zip(*(timed(lookup, q) for q in queries), strict=True)
    theirs, expected = zip(*(timed(baseline, q) for q in queries), strict=True)
    # Each lookup right after a scan that has streamed the library through the caches: closer
    # to a worker that does other work between lookups.
    cold = []
    for query in queries:
        baseline(query)
        cold.append(timed(lookup, query)[0])
    for kind in dict.fromkeys(kinds):
        counts = [len(e) for e, k in zip(expected, kinds, strict=True) if k == kind]
        with_match = sum(c > 0 for c in counts)
        print(f"  {kind:18s} {with_match:4d} of {len(counts)} with a match, {sum(counts)} matches")
    rows = [("PdqIndex", ours), ("PdqIndex, cold", cold), ("brute force", theirs)]
    for name, times in rows:
        print(
            f"  {name:15s} median {statistics.median(times) * 1e3:7.3f} ms   "
            f"p99 {percentile(list(times), 99) * 1e3:7.3f} ms   max {max(times) * 1e3:7.3f} ms"
        )
    brute_median = statistics.median(theirs)
    differ = sum(a != b for a, b in zip(found, expected, strict=True))
    print(
        f"  brute force / PdqIndex, medians: {brute_median / statistics.median(ours):.0f}x, "
        f"{brute_median / statistics.median(cold):.0f}x cold; answers differ on {differ} queries"
    )


def main() -> None:
    print(f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    words = library(rng)
    ids = [f"pdq-{i:07d}" for i in range(len(words))]
    print(f"library: {len(words):,} hashes built in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    index = PdqIndex()
    index.put_many(ids, words)
    load_s = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()  # a second load, traced: tracing slows allocation down
    traced = PdqIndex()
    traced.put_many(ids, words)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    print(
        f"load (put_many): {load_s:.2f} s; index memory {current / 2**20:.0f} MiB, peak while "
        f"loading {peak / 2**20:.0f} MiB (the id strings themselves not counted); the "
        f"brute-force matrix alone is {words.nbytes / 2**20:.0f} MiB"
    )

    query_list, kinds = queries(words, rng)
    print(f"== {QUERIES} lookups at distance {PDQ_MATCH_DISTANCE}, after a bulk load")
    compare(index, brute(words, None, ids), query_list, kinds)

    print(f"== {UPDATES:,} live updates (60% new near-duplicates, 20% replacements, 20% removals)")
    all_words = np.concatenate([words, np.empty((UPDATES, 4), np.uint64)])
    all_ids = ids + [""] * UPDATES
    alive = np.concatenate([np.ones(len(words), bool), np.zeros(UPDATES, bool)])
    row_of = {entry_id: row for row, entry_id in enumerate(ids)}
    put_times, remove_times = [], []
    for step, roll in enumerate(rng.random(UPDATES).tolist()):
        row = len(words) + step
        if roll < 0.8:
            if roll < 0.6:
                entry_id = f"new-{step}"
                base = all_words[rng.integers(row)]
            else:
                entry_id = all_ids[rng.integers(row)]
                base = rng.integers(0, 2**64, 4, dtype=np.uint64, endpoint=False)
            value = flip_random(base.reshape(1, 4), rng.integers(0, 32, 1), rng)[0]
            if entry_id in row_of:
                alive[row_of[entry_id]] = False
            all_words[row], all_ids[row], alive[row] = value, entry_id, True
            row_of[entry_id] = row
            start = time.perf_counter()
            index.put(entry_id, PdqHash(value.tobytes(), 100))
            put_times.append(time.perf_counter() - start)
        else:
            entry_id = all_ids[rng.integers(row)]
            gone = row_of.pop(entry_id, None)
            if gone is not None:
                alive[gone] = False
            start = time.perf_counter()
            index.remove(entry_id)
            remove_times.append(time.perf_counter() - start)
    print(
        f"  put: mean {statistics.fmean(put_times) * 1e6:.0f} us (merges included), "
        f"median {statistics.median(put_times) * 1e6:.0f} us, max {max(put_times) * 1e3:.0f} ms"
        f"; remove: mean {statistics.fmean(remove_times) * 1e6:.0f} us, "
        f"max {max(remove_times) * 1e3:.0f} ms; {len(index):,} entries"
    )
    print("  lookups after the updates (some rows in the delta, tombstones in the index):")
    compare(index, brute(all_words, alive, all_ids), query_list, kinds)


if __name__ == "__main__":
    main()
