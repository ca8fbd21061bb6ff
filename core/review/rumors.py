"""Art. 11 (rumor refutation) and Art. 6 (no false news): a library of refuted rumors, fed live
from a compacted topic, and a matcher that finds them in text, in two ways.

Near-duplicates ("minhash"): a claim repeated with a few words changed, wrapped in "转发！",
spaced out or in full-width letters. Text goes through `keywords.normalize` (the same evasion
handling as the keyword library); then everything but letters and digits is dropped, and the
rest is cut into overlapping character shingles, with no word segmentation: 2-grams where a
shingle starts on a Han, kana or hangul character, 4-grams elsewhere (Latin 2-grams are too
common: "th", "in"). The score is the exact Jaccard similarity of the claim's shingles and the
best window of the text (exact, found by `window_jaccard`), so a rumor quoted in the middle of
an article scores as if it stood alone. Finding candidates is MinHash with one hash function:
each claim is indexed by its SKETCH_SIZE smallest shingle hashes (a bottom-k sketch, Broder
1997), looked up in a sorted array. A window with Jaccard >= t holds at least a share t of the
claim's shingles, and the sketch is a uniform sample of them, so its hits are hypergeometric: a
claim is a candidate when it has as many hits as one at the threshold reaches with probability
>= 1 - SKETCH_MISS (a claim of at most SKETCH_SIZE shingles is its own sketch and is checked
exactly), and every candidate is scored exactly. Unlike banded LSH over fixed windows
(datasketch's MinHashLSH), this needs no window alignment and reports a true Jaccard, not an
estimate; tests/review/test_rumors.py checks it against an exhaustive search.

Paraphrases ("embedding"): the claim reworded. Text is cut into sentence windows, each embedded
(synthguard.review.embeddings: multilingual-e5-small, one model for Chinese and English) and
compared by cosine with every claim, exactly. A rumor found both ways is reported once, as a
near-duplicate (the stronger evidence); both methods always run, since a text may repeat one
rumor and paraphrase another. The model costs about 20 ms a window on the 2-core development
machine, so `scan` is cheap without an embedder and dominated by the model with one
(bench/README.md).

Work is bounded for any input: near-duplicates are searched in the first MAX_TEXT_CHARS
characters, in blocks of BLOCK_SHINGLES shingles that overlap by OVERLAP_SHINGLES (a claim up
to that long is whole in some block); embeddings cover the first MAX_EMBED_WINDOWS windows.
`scan` says how much of a text was searched. Not thread-safe: updates and lookups belong on
one thread (the embedder itself may be shared).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from synthguard.errors import ValidationError
from synthguard.review.embeddings import Embedder, Vectors
from synthguard.review.keywords import OffsetMap, normalize

Hashes = npt.NDArray[np.uint64]
Rows = npt.NDArray[np.intp]

# Defaults, from bench/rumor_match.py on tests/data/rumors (110 Chinese and English claims,
# each with a paraphrase, a same-topic near miss and an unrelated sentence; bench/README.md has
# the sweeps). Jaccard 0.6: 98% of reposted near-duplicates found at precision 0.91 among
# 100,000 claims (0.5: 0.80; 0.7: recall 0.72). Cosine 0.70: paraphrases at precision 0.956,
# recall 0.982 among 2,110 claims (0.66: precision 0.89; 0.74: recall 0.945).
JACCARD_THRESHOLD: Final = 0.6
COSINE_THRESHOLD: Final = 0.7

SHINGLE_WIDE: Final = 2  # characters per shingle from a Han, kana or hangul character
SHINGLE_NARROW: Final = 4  # from any other letter or digit
SKETCH_SIZE: Final = 32
SKETCH_MISS: Final = 1e-4  # the most a claim at the threshold may be missed by its sketch
MAX_TEXT_CHARS: Final = 100_000
BLOCK_SHINGLES: Final = 1024
OVERLAP_SHINGLES: Final = 256
MAX_EMBED_WINDOWS: Final = 8
EMBED_WHOLE_CHARS: Final = 200  # a text this short is also embedded whole
EMBED_WINDOW_CHARS: Final = 200  # longer sentences are cut
EMBED_BATCH: Final = 64
EXCERPT_CHARS: Final = 160
DELTA_ROWS: Final = 1024  # rumors put since the last merge, found by a linear scan
_START_ROWS: Final = 128  # window starts scored at once by window_jaccard

_MIX1: Final = np.uint64(0xBF58476D1CE4E5B9)
_MIX2: Final = np.uint64(0x94D049BB133111EB)
_PRIME: Final = np.uint64(0x100000001B3)
_SENTENCE_END: Final = re.compile(r"[。！？!?；;]+[”’\"')）」』]*|\.(?=\s)|\n")
_UNIT: Final = re.compile(r"[^\W_]")


@dataclass(frozen=True, slots=True)
class Rumor:
    rumor_id: str
    claim: str
    refutation: str
    link: str
    authority: str
    refuted_at: int  # epoch ms


@dataclass(frozen=True, slots=True)
class RumorMatch:
    rumor_id: str
    method: str  # "minhash" or "embedding"
    score: float  # Jaccard or cosine
    threshold: float  # the one it passed
    excerpt: str  # the part of the text that matched, at most EXCERPT_CHARS


@dataclass(frozen=True, slots=True)
class RumorThresholds:
    jaccard: float
    cosine: float

    def __post_init__(self) -> None:
        for name, value in (("jaccard", self.jaccard), ("cosine", self.cosine)):
            if not 0 < value <= 1:
                raise ValidationError(f"rumor {name} threshold must be in (0, 1], not {value}")


DEFAULT_THRESHOLDS: Final = RumorThresholds(JACCARD_THRESHOLD, COSINE_THRESHOLD)


@dataclass(frozen=True, slots=True)
class RumorScan:
    matches: tuple[RumorMatch, ...]  # best first: near-duplicates, then paraphrases
    text_chars: int
    minhash_chars: int  # the first this many characters were searched for near-duplicates
    embedded_chars: int  # and this many by embedding (0 without an embedder)
    complete: bool  # the whole text was searched by every method the index has


def _mix(x: Hashes) -> Hashes:
    """splitmix64's finaliser: a bijection on 64 bits that spreads every input bit."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _is_wide(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Han (with extensions and compatibility ideographs), kana and hangul: scripts written
    without spaces, where a character carries about as much as a short Latin word."""
    return (
        ((codes >= 0x3040) & (codes <= 0x30FF))
        | ((codes >= 0x3400) & (codes <= 0x4DBF))
        | ((codes >= 0x4E00) & (codes <= 0x9FFF))
        | ((codes >= 0xAC00) & (codes <= 0xD7AF))
        | ((codes >= 0xF900) & (codes <= 0xFAFF))
        | ((codes >= 0x20000) & (codes <= 0x3134F))
    )


def _units(normed: str) -> tuple[npt.NDArray[np.uint32], Rows]:
    """Code points of the letters and digits of `normed` and their offsets in it."""
    # surrogatepass: a lone surrogate (JSON allows "\ud800") is no unit, not an error
    codes = np.frombuffer(normed.encode("utf-32-le", "surrogatepass"), np.uint32)
    distinct, inverse = np.unique(codes, return_inverse=True)
    keep = np.fromiter((chr(c).isalnum() for c in distinct.tolist()), bool, len(distinct))
    offsets = np.flatnonzero(keep[inverse.reshape(-1)])
    return codes[offsets], offsets


def _shingle(units: npt.NDArray[np.uint32]) -> tuple[Hashes, Rows, Rows]:
    """Hash, first unit and last unit of every shingle, in text order."""
    count = len(units)
    width = np.where(_is_wide(units), SHINGLE_WIDE, SHINGLE_NARROW)
    first = np.arange(count)
    last = first + width - 1
    padded = np.concatenate([units.astype(np.uint64), np.zeros(SHINGLE_NARROW, np.uint64)])
    acc = width.astype(np.uint64)  # seeded with the width: a 2-gram never equals a 4-gram
    for j in range(SHINGLE_NARROW):
        acc = np.where(j < width, acc * _PRIME + padded[j : j + count] + np.uint64(1), acc)
    whole = last < count
    return _mix(acc[whole]), first[whole], last[whole]


def shingles(text: str) -> Hashes:
    """Hashes of the shingles of `text`, in order (repeats kept): what near-duplicate matching
    compares, exposed for tests and benchmarks."""
    return _shingle(_units(normalize(text)[0])[0])[0]


def claim_shingles(claims: Sequence[str]) -> list[Hashes]:
    """Each claim's distinct shingle hashes, sorted: `np.unique(shingles(c))` for every c, in
    one vectorised pass (a bulk load of 100,000 claims takes seconds, not minutes)."""
    normed = [normalize(claim)[0] for claim in claims]
    units, offsets = _units("\0".join(normed))  # NUL is no unit: claims stay apart
    starts = np.cumsum([0] + [len(n) + 1 for n in normed[:-1]])
    owner = np.searchsorted(starts, offsets, "right") - 1
    hashes, first, last = _shingle(units)
    inside = owner[first] == owner[last]  # drop shingles that run from one claim into the next
    hashes, owner = hashes[inside], owner[first[inside]]
    order = np.lexsort((hashes, owner))
    hashes, owner = hashes[order], owner[order]
    fresh = np.ones(len(hashes), bool)
    fresh[1:] = (hashes[1:] != hashes[:-1]) | (owner[1:] != owner[:-1])
    hashes, owner = hashes[fresh], owner[fresh]
    bounds = np.searchsorted(owner, np.arange(len(claims) + 1)).tolist()
    return [hashes[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _member(values: Hashes, sorted_set: Hashes) -> npt.NDArray[np.bool_]:
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[at] == values)


def window_jaccard(hashes: Hashes, claim: Hashes, floor: float = 0.0) -> tuple[float, int, int]:
    """The best Jaccard similarity between `claim` (sorted distinct shingle hashes) and a window
    of `hashes` (a text's shingles in order, a block at most), with that window's first and
    last shingle; 0.0 and (0, -1) if they share none.

    Exact, repeats included, with one bound: windows longer than 4 * len(claim) / floor
    shingles are not tried (one reaches `floor` only if three quarters of its shingles repeat
    earlier ones in it). Trimming a window to start and end on shingles of the claim never
    lowers its Jaccard, so only such windows are scored: for each start, the distinct shingles
    and distinct shared shingles of every longer window are running counts of the positions
    whose shingle did not occur since that start.
    """
    return _best_window(hashes, _previous(hashes), claim, floor)


def _previous(hashes: Hashes) -> Rows:
    """For each position, the last earlier one with the same shingle, or -1."""
    order = np.argsort(hashes, kind="stable")
    repeat = hashes[order[1:]] == hashes[order[:-1]]
    previous = np.full(len(hashes), -1, np.intp)
    previous[order[1:][repeat]] = order[:-1][repeat]
    return previous


def _best_window(
    hashes: Hashes, previous: Rows, claim: Hashes, floor: float
) -> tuple[float, int, int]:
    member = _member(hashes, claim)
    at = np.flatnonzero(member)
    if not len(at):
        return 0.0, 0, -1
    count, size = len(hashes), len(claim)
    longest = count if floor <= 0 else min(count, math.ceil(4 * size / floor))
    best, first, last = 0.0, 0, -1
    for lo in range(0, len(at), _START_ROWS):  # bounded memory: rows x longest
        starts = at[lo : lo + _START_ROWS, None]
        position = starts + np.arange(min(longest, count - int(at[lo])))[None, :]
        inside = position < count
        position = np.minimum(position, count - 1)
        fresh = (previous[position] < starts) & inside
        distinct = np.cumsum(fresh, axis=1)
        shared = np.cumsum(fresh & member[position], axis=1)
        ends = inside & member[position]
        jaccard = np.where(ends, shared / np.maximum(distinct + size - shared, 1), -1.0)
        top = float(jaccard.max())
        if top > best:
            # the earliest start, then the longest window: repeats of shared shingles at its
            # end leave the score as it is and keep the excerpt whole
            row = int(np.argmax((jaccard == top).any(axis=1)))
            column = int(np.flatnonzero(jaccard[row] == top)[-1])
            best, first, last = top, int(starts[row, 0]), int(position[row, column])
    return best, first, last


def _min_hits(shingles: int, threshold: float) -> int:
    """Sketch hits to require of a claim with this many distinct shingles. A window at the
    threshold holds at least `held` of them, and the sketch is a uniform sample of SKETCH_SIZE
    (the smallest hashes), so its hits are hypergeometric: require the most that such a claim
    still reaches with probability >= 1 - SKETCH_MISS. A claim no larger than its sketch is
    checked exactly: its hits are its shingles in the text."""
    held = math.ceil(threshold * shingles - 1e-9)
    sample = min(shingles, SKETCH_SIZE)
    if sample == shingles:
        return max(held, 1)
    total = math.comb(shingles, sample)
    need, below = 1, 0.0
    for m in range(1, sample + 1):
        below += math.comb(held, m - 1) * math.comb(shingles - held, sample - m + 1) / total
        if below > SKETCH_MISS:
            break
        need = m
    return need


@dataclass(frozen=True, slots=True)
class _Text:
    """A text prepared for near-duplicate search: shingle hashes and the way back from each
    shingle to the original characters."""

    text: str
    origin: OffsetMap | list[int]
    offsets: Rows  # normalised offset of each unit
    hashes: Hashes
    first: Rows
    last: Rows

    @classmethod
    def of(cls, text: str) -> _Text:
        normed, origin = normalize(text)
        units, offsets = _units(normed)
        hashes, first, last = _shingle(units)
        return cls(text, origin, offsets, hashes, first, last)

    def excerpt(self, start: int, end: int) -> str:
        """The original text behind shingles start..end."""
        begin = self.origin[int(self.offsets[self.first[start]])]
        stop = self.origin[int(self.offsets[self.last[start : end + 1].max()])] + 1
        return _clip(self.text[begin:stop])


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for end in _SENTENCE_END.finditer(text):
        yield start, end.end()
        start = end.end()
    if start < len(text):
        yield start, len(text)


def _embedding_windows(text: str) -> tuple[list[tuple[int, int]], int]:
    """(start, end) windows of `text` to embed, and how far into it they reach: sentences, a
    short one joined to its neighbour, a long one cut; for a short text of several sentences
    the whole text as well, since a claim may span them. At most MAX_EMBED_WINDOWS."""
    windows: list[tuple[int, int]] = []
    pending = -1  # start of short sentences carried into the next window
    for start, end in _sentences(text):
        begin = start if pending < 0 else pending
        if end - begin < 10:  # "转发！", "Wow." say nothing alone
            if end < len(text):
                pending = begin
                continue
            if windows:
                windows[-1] = (windows[-1][0], end)
                break
        pending = -1
        for cut in range(begin, end, EMBED_WINDOW_CHARS):
            stop = min(cut + EMBED_WINDOW_CHARS, end)
            if _UNIT.search(text, cut, stop):
                windows.append((cut, stop))
                if len(windows) == MAX_EMBED_WINDOWS:
                    return windows, stop
    if len(windows) > 1 and len(text) <= EMBED_WHOLE_CHARS:
        windows.insert(0, (0, len(text)))
    return windows[:MAX_EMBED_WINDOWS], len(text)


class RumorIndex:
    """Refuted rumors by id; `put`/`remove` mirror the compacted registry topic and take effect
    at the next match. Rows [0, main) are in the sorted sketch index, later ones in a delta
    scanned linearly until DELTA_ROWS of them are merged in; removed and replaced rows are
    tombstoned and dropped when they reach a quarter of the rows."""

    def __init__(self, thresholds: RumorThresholds, embedder: Embedder | None = None) -> None:
        self._thresholds = thresholds
        self._embedder = embedder
        self._need: dict[int, int] = {}  # _min_hits by claim size, at this index's threshold
        self._rumors: dict[str, Rumor] = {}
        self._row_of: dict[str, int] = {}
        self._ids: list[str] = []
        self._claims: list[Hashes] = []  # sorted distinct shingle hashes per row
        self._sketches: list[Hashes] = []
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, bool)
        self._min: npt.NDArray[np.int16] = np.zeros(0, np.int16)  # sketch hits needed per row
        self._vectors: Vectors = np.zeros((0, 0), np.float32)
        self._dead = 0
        self._main = 0
        self._keys: Hashes = np.zeros(0, np.uint64)  # sketch hashes of rows < main, sorted
        self._key_rows: Rows = np.zeros(0, np.intp)
        self._delta: tuple[Hashes, Rows] | None = None  # the same for later rows, built lazily

    @property
    def thresholds(self) -> RumorThresholds:
        return self._thresholds

    def __len__(self) -> int:
        return len(self._rumors)

    def get(self, rumor_id: str) -> Rumor | None:
        return self._rumors.get(rumor_id)

    def describe(self) -> str:
        """What a text was matched against, for the compliance record."""
        count = len(self)
        text = (
            f"{count} rumor{'' if count == 1 else 's'}; near-duplicates: character-shingle MinHash"
            f" ({SHINGLE_WIDE}-gram Han/kana/hangul, {SHINGLE_NARROW}-gram other scripts;"
            f" bottom-{SKETCH_SIZE} sketches), Jaccard >= {self._thresholds.jaccard:.2f} over"
            f" claim-sized windows of the first {MAX_TEXT_CHARS:,} characters"
        )
        if self._embedder is None:
            return text + "; paraphrases: not matched (no embedding model)"
        # The Embedder protocol asks only for `embed`; E5Embedder also names its model.
        name = getattr(self._embedder, "name", type(self._embedder).__name__)
        return (
            f"{text}; paraphrases: {name} cosine >= {self._thresholds.cosine:.2f} over the first"
            f" {MAX_EMBED_WINDOWS} sentence windows"
        )

    def put(self, rumor: Rumor) -> None:
        """Add `rumor`, or replace the one with its id."""
        self.put_many([rumor])

    def put_many(self, rumors: Sequence[Rumor], *, embeddings: Vectors | None = None) -> None:
        """Bulk `put` (claims are embedded in batches); a later duplicate id wins. `embeddings`
        (one unit row per rumor, from this index's embedder) skips the model, e.g. for vectors
        kept from an earlier run. A bad rumor raises before anything changes."""
        claims = claim_shingles([rumor.claim for rumor in rumors])
        for rumor, hashes in zip(rumors, claims, strict=True):
            if not rumor.rumor_id:
                raise ValidationError("a rumor needs a rumor_id")
            if not len(hashes):
                raise ValidationError(f"rumor {rumor.rumor_id} has no claim to match")
        vectors = self._claim_vectors(rumors, embeddings)
        start = len(self._ids)
        self._reserve(start + len(rumors), 0 if vectors is None else vectors.shape[1])
        for row, (rumor, hashes) in enumerate(zip(rumors, claims, strict=True), start):
            self._tombstone(rumor.rumor_id)
            self._rumors[rumor.rumor_id] = rumor
            self._row_of[rumor.rumor_id] = row
            self._ids.append(rumor.rumor_id)
            self._claims.append(hashes)
            sketch = hashes[:SKETCH_SIZE]  # the smallest hashes: `hashes` is sorted
            self._sketches.append(sketch)
            self._alive[row] = True
            size = len(hashes)
            if size not in self._need:
                self._need[size] = _min_hits(size, self._thresholds.jaccard)
            self._min[row] = self._need[size]
        if vectors is not None:
            self._vectors[start : start + len(rumors)] = vectors
        self._delta = None
        self._maybe_merge()

    def remove(self, rumor_id: str) -> None:
        """Withdraw a rumor (a tombstone on the topic); an unknown id is a no-op."""
        if self._tombstone(rumor_id):
            self._maybe_merge()

    def match(self, text: str) -> list[RumorMatch]:
        """Rumors `text` repeats, best first, at most one match per rumor."""
        return list(self.scan(text).matches)

    def scan(self, text: str) -> RumorScan:
        """`match` with how much of the text was searched."""
        cut = text[:MAX_TEXT_CHARS]
        found = self._near_duplicates(_Text.of(cut)) if self._rumors else {}
        embedded = 0
        paraphrases: list[RumorMatch] = []
        if self._embedder is not None:
            windows, embedded = _embedding_windows(cut)
            if self._rumors and windows:
                paraphrases = [
                    m
                    for m in self._paraphrases(self._embedder, cut, windows)
                    if m.rumor_id not in found
                ]
        matches = sorted(found.values(), key=lambda m: (-m.score, m.rumor_id))
        paraphrases.sort(key=lambda m: (-m.score, m.rumor_id))
        complete = len(cut) == len(text) and (self._embedder is None or embedded == len(text))
        return RumorScan(tuple(matches + paraphrases), len(text), len(cut), embedded, complete)

    def _near_duplicates(self, text: _Text) -> dict[str, RumorMatch]:
        threshold = self._thresholds.jaccard
        found: dict[str, RumorMatch] = {}
        step = BLOCK_SHINGLES - OVERLAP_SHINGLES
        for lo in range(0, max(len(text.hashes) - OVERLAP_SHINGLES, 1), step):
            block = text.hashes[lo : lo + BLOCK_SHINGLES]
            rows = self._candidates(block, threshold).tolist()
            if not rows:
                continue
            previous = _previous(block)
            for row in rows:
                score, start, end = _best_window(block, previous, self._claims[row], threshold)
                rumor_id = self._ids[row]
                if score >= threshold and (rumor_id not in found or score > found[rumor_id].score):
                    excerpt = text.excerpt(lo + start, lo + end)
                    found[rumor_id] = RumorMatch(rumor_id, "minhash", score, threshold, excerpt)
        return found

    def _candidates(self, block: Hashes, threshold: float) -> Rows:
        """Rows with enough sketch hits in `block` that also hold a share `threshold` of their
        shingles in it (a window can hold no more than the block does)."""
        present = np.unique(block)
        if not len(present):
            return np.zeros(0, np.intp)
        lo = np.searchsorted(self._keys, present, "left")
        sizes = np.searchsorted(self._keys, present, "right") - lo
        # Concatenate the ranges [lo, lo + size) without a Python loop.
        ends = np.cumsum(sizes)
        total = int(ends[-1])
        at = np.repeat(lo - (ends - sizes), sizes) + np.arange(total)
        delta_keys, delta_rows = self._delta_index()
        hit_rows = np.concatenate([self._key_rows[at], delta_rows[_member(delta_keys, present)]])
        hits = np.bincount(hit_rows, minlength=len(self._ids))
        rows = np.flatnonzero((hits >= self._min[: len(self._ids)]) & self._alive[: len(hits)])
        if not len(rows):
            return rows
        claims = [self._claims[r] for r in rows.tolist()]
        sizes = np.fromiter(map(len, claims), np.intp, len(claims))
        inside = _member(np.concatenate(claims), present)
        held = np.add.reduceat(inside.astype(np.intp), np.cumsum(sizes) - sizes)
        return rows[held >= threshold * sizes]

    def _paraphrases(
        self, embedder: Embedder, text: str, windows: list[tuple[int, int]]
    ) -> list[RumorMatch]:
        queries = embedder.embed([normalize(text[s:e])[0] for s, e in windows])
        n = len(self._ids)
        if len(queries) == 1:
            # numpy's own loop, not BLAS: BLAS threads still spinning when the model runs next
            # cost 8 ms an artifact on 2 cores (36 ms against 28 for model and scan together).
            scores = np.einsum("ij,kj->ik", self._vectors[:n], queries)
        else:
            scores = self._vectors[:n] @ queries.T  # n x windows
        top = scores.max(axis=1)
        threshold = self._thresholds.cosine
        rows = np.flatnonzero((top >= threshold) & self._alive[:n])
        best = scores[rows].argmax(axis=1)
        return [
            RumorMatch(
                self._ids[r], "embedding", float(top[r]), threshold, _clip(text[slice(*windows[w])])
            )
            for r, w in zip(rows.tolist(), best.tolist(), strict=True)
        ]

    def _claim_vectors(self, rumors: Sequence[Rumor], given: Vectors | None) -> Vectors | None:
        if self._embedder is None:
            if given is not None:
                raise ValidationError("embeddings given to an index without an embedder")
            return None
        if given is not None:
            if given.ndim != 2 or len(given) != len(rumors):
                raise ValidationError(f"{len(rumors)} rumors but embeddings of shape {given.shape}")
            return given.astype(np.float32, copy=False)
        claims = [normalize(r.claim)[0] for r in rumors]
        parts = [
            self._embedder.embed(claims[i : i + EMBED_BATCH])
            for i in range(0, len(claims), EMBED_BATCH)
        ]
        return np.concatenate(parts) if parts else None

    def _tombstone(self, rumor_id: str) -> bool:
        row = self._row_of.pop(rumor_id, None)
        if row is None:
            return False
        del self._rumors[rumor_id]
        self._alive[row] = False
        self._dead += 1
        return True

    def _reserve(self, rows: int, dim: int) -> None:
        if rows > len(self._alive):
            capacity = max(rows, 2 * len(self._alive), 1024)
            alive = np.zeros(capacity, bool)
            alive[: len(self._ids)] = self._alive[: len(self._ids)]
            need = np.zeros(capacity, np.int16)
            need[: len(self._ids)] = self._min[: len(self._ids)]
            self._alive, self._min = alive, need
        held = self._vectors.shape[1]
        if dim and held not in (0, dim):
            raise ValidationError(f"embeddings of {dim} dimensions for an index of {held}")
        if dim and (rows > len(self._vectors) or not held):
            capacity = max(rows, 2 * len(self._vectors), 1024)
            vectors = np.zeros((capacity, dim), np.float32)
            if held:
                vectors[: len(self._ids)] = self._vectors[: len(self._ids)]
            self._vectors = vectors

    def _delta_index(self) -> tuple[Hashes, Rows]:
        if self._delta is None:
            sketches = self._sketches[self._main :]
            keys = np.concatenate([np.zeros(0, np.uint64), *sketches])
            rows = np.repeat(np.arange(self._main, len(self._ids)), [len(s) for s in sketches])
            order = np.argsort(keys, kind="stable")
            self._delta = keys[order], rows[order].astype(np.intp)
        return self._delta

    def _maybe_merge(self) -> None:
        n = len(self._ids)
        if self._dead > max(DELTA_ROWS, n // 4):
            self._compact()
            self._merge()
        elif n - self._main > DELTA_ROWS:
            self._merge()

    def _compact(self) -> None:
        """Drop tombstoned rows and renumber the rest."""
        keep = np.flatnonzero(self._alive[: len(self._ids)])
        rows = keep.tolist()
        self._ids = [self._ids[r] for r in rows]
        self._claims = [self._claims[r] for r in rows]
        self._sketches = [self._sketches[r] for r in rows]
        self._min = self._min[keep]
        self._alive = np.ones(len(keep), bool)
        if self._vectors.shape[1]:
            self._vectors = self._vectors[keep]
        self._row_of = dict(zip(self._ids, range(len(keep)), strict=True))
        self._dead = 0

    def _merge(self) -> None:
        """Index every row's sketch in the sorted arrays."""
        n = len(self._ids)
        keys = np.concatenate([np.zeros(0, np.uint64), *self._sketches])
        rows = np.repeat(np.arange(n), [len(s) for s in self._sketches])
        order = np.argsort(keys, kind="stable")
        self._keys, self._key_rows = keys[order], rows[order].astype(np.intp)
        self._main = n
        self._delta = None
