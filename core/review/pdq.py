"""Art. 10 feature library, image part: Meta's PDQ perceptual hash and an index that finds every
library hash within a Hamming distance of a query.

`pdq_hash` wraps the `pdqhash` bindings of Meta's C++ reference code. Hashes are kept as Meta
writes them: 32 bytes, most significant bit first, so `hex()` is ThreatExchange's 64-digit form.

`PdqIndex` is multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
Multi-Index Hashing", CVPR 2012). The 256 bits are cut into 16 chunks of 16 bits; a hash within
distance r of the query agrees with it to within r // 16 bits on at least one chunk
(pigeonhole), so only rows whose chunk value lies in that ball around the query's chunk are
candidates, and each candidate is checked with an exact popcount. Per chunk the rows are kept
grouped by chunk value (a CSR layout: one array of row ids, bucket bounds per value), so a
lookup is a few vectorised gathers. The index is fed live from a compacted topic: new rows go to
a small delta scanned by brute force and are merged into the chunk index when it fills;
removed or replaced rows are tombstoned and dropped at the next rebuild.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped,unused-ignore]

from synthguard.errors import ValidationError

PDQ_MATCH_DISTANCE: Final = 31  # ThreatExchange's threshold for "the same image", of 256 bits
PDQ_BITS: Final = 256

Words = npt.NDArray[np.uint64]  # hashes as rows of 4 uint64 (the bytes of `PdqHash.bits`)

_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class PdqHash:
    bits: bytes  # 32 bytes, Meta's order: the first hex digit is the top 4 bits of bits[0]
    quality: int  # 0-100; Meta advises against matching below 50 (flat or tiny images)

    def __post_init__(self) -> None:
        if len(self.bits) != PDQ_BITS // 8:
            raise ValidationError(f"a PDQ hash has 32 bytes, not {len(self.bits)}")
        if not 0 <= self.quality <= 100:
            raise ValidationError(f"PDQ quality {self.quality} is outside 0-100")

    @classmethod
    def from_hex(cls, text: str, *, quality: int = 100) -> PdqHash:
        """Meta's 64-digit hex form. Shared hashes carry no quality of their own: a library
        entry was judged good enough where it was made, hence the default."""
        if not isinstance(text, str) or not _HEX.fullmatch(text):
            raise ValidationError(f"a PDQ hash is 64 hex digits, got {text!r:.80}")
        return cls(bytes.fromhex(text), quality)

    def hex(self) -> str:
        return self.bits.hex()

    def distance(self, other: PdqHash) -> int:
        """Hamming distance in bits, 0-256."""
        return (int.from_bytes(self.bits) ^ int.from_bytes(other.bits)).bit_count()


@dataclass(frozen=True, slots=True)
class PdqMatch:
    entry_id: str
    distance: int  # of 256 bits


def pdq_hash(rgb: npt.NDArray[np.uint8]) -> PdqHash:
    """PDQ of an H x W x 3 RGB image."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise ValidationError("pdq_hash takes an H x W x 3 uint8 RGB array")
    if rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValidationError(f"pdq_hash takes an H x W x 3 RGB array, got {rgb.shape}")
    vector, quality = pdqhash.compute(rgb)
    # The bindings list bit 255 first, which is also the first bit of Meta's hex.
    return PdqHash(np.packbits(vector.astype(np.uint8)).tobytes(), int(quality))


def hash_words(hashes: Iterable[PdqHash]) -> Words:
    """N x 4 uint64 rows for `PdqIndex.put_many` and `brute_force_matches`."""
    raw = b"".join(h.bits for h in hashes)
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 4).copy()


def _query_words(query: PdqHash) -> Words:
    return np.frombuffer(query.bits, dtype=np.uint64)


def brute_force_matches(
    words: Words, query: PdqHash, max_distance: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int16]]:
    """Rows of `words` within `max_distance` of `query` and their distances, nearest first
    (ties by row): the reference the index is checked against."""
    rows, distances = _scan(words, _query_words(query), max_distance)
    order = np.argsort(distances, kind="stable")
    return rows[order], distances[order]


def _distances(words: Words, q: Words) -> npt.NDArray[np.int16]:
    counts: npt.NDArray[np.uint8] = np.bitwise_count(words ^ q)  # N x 4
    # Adding the columns is about twice as fast as numpy's reduction along an axis of 4.
    return counts[:, 0].astype(np.int16) + counts[:, 1] + counts[:, 2] + counts[:, 3]


def _scan(
    words: Words, q: Words, max_distance: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int16]]:
    distances = _distances(words, q)
    rows = np.flatnonzero(distances <= max_distance)
    return rows, distances[rows]


_CHUNKS: Final = 16  # 16-bit chunks: a bucket table of 65,536 values per chunk
_VALUES: Final = 1 << 16
_ALL_VALUES: Final = np.arange(_VALUES, dtype=np.uint16)
# Probing every value within s bits of the query's chunk costs sum(C(16, i), i <= s) buckets per
# chunk: 17 for s = 1 (the match threshold), 697 for s = 3. Past that a full scan is cheaper.
_MAX_PROBE_RADIUS: Final = 3
# Row c of the bucket bounds starts at c * (_VALUES + 1) in their flattened form.
_BOUNDS_ROW: Final = np.arange(_CHUNKS, dtype=np.intp)[:, None] * (_VALUES + 1)
_FLIPS: Final = tuple(
    _ALL_VALUES[np.bitwise_count(_ALL_VALUES) <= s].astype(np.intp)
    for s in range(_MAX_PROBE_RADIUS + 1)
)


class PdqIndex:
    """Every hash within a distance of a query, exact (checked against brute force).

    Rows [0, main) are in the chunk index and rows [main, n) form the delta. `delta_limit` bounds
    the delta: a lookup scans at most that many rows by brute force, and a merge (cost
    proportional to the library) happens at most once per that many puts. Not thread-safe:
    updates and lookups belong on one thread.
    """

    def __init__(self, *, delta_limit: int = 4096) -> None:
        if delta_limit < 1:
            raise ValidationError("delta_limit must be at least 1")
        self._delta_limit = delta_limit
        self._words: Words = np.empty((0, 4), np.uint64)  # capacity rows; n in use
        self._ids: npt.NDArray[np.object_] = np.empty(0, object)
        self._alive: npt.NDArray[np.bool_] = np.empty(0, bool)
        self._row_of: dict[str, int] = {}
        self._n = 0
        self._main = 0
        self._dead = 0
        # Chunk c's rows, grouped by chunk value, lie at [c * main, (c + 1) * main) of
        # `_postings`; bucket v of chunk c is _postings[_bounds[c, v]:_bounds[c, v + 1]].
        self._postings: npt.NDArray[np.int32] = np.empty(0, np.int32)
        self._bounds: npt.NDArray[np.int64] = np.zeros((_CHUNKS, _VALUES + 1), np.int64)

    def __len__(self) -> int:
        return len(self._row_of)

    def put(self, entry_id: str, value: PdqHash) -> None:
        """Add an entry, or replace the one with the same id."""
        self.put_many([entry_id], _query_words(value).reshape(1, 4))

    def put_many(self, entry_ids: Sequence[str], words: Words) -> None:
        """Bulk `put`: ids and N x 4 uint64 rows (see `hash_words`); a later duplicate id wins."""
        if words.dtype != np.uint64 or words.ndim != 2 or words.shape[1] != 4:
            raise ValidationError("put_many takes N x 4 uint64 rows (see hash_words)")
        if len(entry_ids) != len(words):
            raise ValidationError(f"{len(entry_ids)} ids for {len(words)} hashes")
        start, count = self._n, len(words)
        self._reserve(start + count)
        self._words[start : start + count] = words
        self._ids[start : start + count] = entry_ids
        self._alive[start : start + count] = True
        for row, entry_id in enumerate(entry_ids, start):
            old = self._row_of.get(entry_id)
            if old is not None:
                self._alive[old] = False
                self._dead += 1
            self._row_of[entry_id] = row
        self._n += count
        self._maybe_merge()

    def remove(self, entry_id: str) -> None:
        """Drop an entry (a tombstone on the compacted topic); absent ids are ignored."""
        row = self._row_of.pop(entry_id, None)
        if row is not None:
            self._alive[row] = False
            self._dead += 1
            self._maybe_merge()

    def matches(self, query: PdqHash, max_distance: int) -> list[PdqMatch]:
        """Every entry within `max_distance` bits, nearest first (ties by id)."""
        if max_distance < 0:
            return []
        q = _query_words(query)
        rows, distances = self._search_main(q, max_distance)
        delta_rows, delta_distances = _scan(self._words[self._main : self._n], q, max_distance)
        rows = np.concatenate([rows, delta_rows + self._main])
        distances = np.concatenate([distances, delta_distances])
        live = self._alive[rows]
        found = zip(self._ids[rows[live]].tolist(), distances[live].tolist(), strict=True)
        return sorted(
            (PdqMatch(entry_id, distance) for entry_id, distance in found),
            key=lambda m: (m.distance, m.entry_id),
        )

    def nearest(self, query: PdqHash, max_distance: int) -> PdqMatch | None:
        found = self.matches(query, max_distance)
        return found[0] if found else None

    def _search_main(
        self, q: Words, max_distance: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int16]]:
        radius = max_distance // _CHUNKS
        if radius > _MAX_PROBE_RADIUS or self._main == 0:
            return _scan(self._words[: self._main], q, max_distance)
        # Buckets to probe: per chunk, every value within `radius` bits of the query's.
        values = q.view(np.uint16).astype(np.intp)[:, None] ^ _FLIPS[radius][None, :]
        keys = (values + _BOUNDS_ROW).ravel()
        bounds = self._bounds.ravel()
        lo = np.take(bounds, keys)
        sizes = np.take(bounds, keys + 1) - lo
        # Concatenate the ranges [lo, lo + size) without a Python loop.
        ends = np.cumsum(sizes)
        at = np.repeat(lo - (ends - sizes), sizes) + np.arange(ends[-1])
        candidates = np.take(self._postings, at)
        # np.take, not fancy indexing: several times faster for gathering rows.
        distances = _distances(np.take(self._words, candidates, axis=0), q)
        near = distances <= max_distance
        # A row found through several chunks is reported once.
        rows, first = np.unique(candidates[near], return_index=True)
        return rows.astype(np.intp), distances[near][first]

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._words):
            return
        capacity = max(rows, 2 * len(self._words), 1024)
        words = np.empty((capacity, 4), np.uint64)
        ids = np.empty(capacity, object)
        alive = np.zeros(capacity, bool)
        words[: self._n] = self._words[: self._n]
        ids[: self._n] = self._ids[: self._n]
        alive[: self._n] = self._alive[: self._n]
        self._words, self._ids, self._alive = words, ids, alive

    def _maybe_merge(self) -> None:
        delta = self._n - self._main
        # Tombstones cost lookups little (they are filtered after the popcount), so they are
        # dropped only once they are a sizeable share of the rows; re-sorting a library costs
        # 16 radix sorts, folding a small delta into it one copy of the postings.
        if self._dead > max(self._delta_limit, self._n // 4):
            self._rebuild()
        elif delta > self._delta_limit:
            if delta > self._main // 4:
                self._rebuild()
            else:
                self._fold_delta()

    def _rebuild(self) -> None:
        """Drop tombstones, renumber rows, and index every row."""
        if self._dead:
            keep = np.flatnonzero(self._alive[: self._n])
            self._words = self._words[keep]
            self._ids = self._ids[keep]
            self._alive = np.ones(len(keep), bool)
            self._row_of = dict(zip(self._ids.tolist(), range(len(keep)), strict=True))
            self._n, self._dead = len(keep), 0
        n = self._n
        chunks = self._words[:n].view(np.uint16)
        postings = np.empty(_CHUNKS * n, np.int32)
        bounds = np.empty((_CHUNKS, _VALUES + 1), np.int64)
        for c in range(_CHUNKS):
            column = np.ascontiguousarray(chunks[:, c])
            postings[c * n : (c + 1) * n] = np.argsort(column, kind="stable")  # radix sort
            bounds[c, 0] = c * n
            np.cumsum(np.bincount(column, minlength=_VALUES), out=bounds[c, 1:])
            bounds[c, 1:] += c * n
        self._postings, self._bounds, self._main = postings, bounds, n

    def _fold_delta(self) -> None:
        """Insert the delta rows into their buckets; row ids stay as they are."""
        main, n = self._main, self._n
        count = n - main
        chunks = self._words[main:n].view(np.uint16).astype(np.intp)  # count x 16
        chunk = np.repeat(np.arange(_CHUNKS), count)
        values = chunks.T.ravel()
        rows = np.tile(np.arange(main, n, dtype=np.int32), _CHUNKS)
        # Each new row goes at the end of its bucket. Neighbouring buckets that are empty share
        # that position, and np.insert keeps the given order among equal positions: hence the
        # sort by (chunk, value).
        order = np.lexsort((values, chunk))
        self._postings = np.insert(
            self._postings, self._bounds[chunk, values + 1][order], rows[order]
        )
        for c in range(_CHUNKS):
            added = np.bincount(values[c * count : (c + 1) * count], minlength=_VALUES)
            self._bounds[c, 1:] += np.cumsum(added)
            self._bounds[c] += c * count
        self._main = n
