"""PDQ against Meta's reference hashes and real photographs; PdqIndex against brute force on
seeded data, through live puts, replacements, removals and merges."""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import skimage.data
from PIL import Image

from synthguard.errors import ValidationError
from synthguard.review.pdq import (
    PDQ_MATCH_DISTANCE,
    PdqHash,
    PdqIndex,
    PdqMatch,
    brute_force_matches,
    hash_words,
    pdq_hash,
)

DATA = Path(__file__).parents[1] / "data" / "pdq"
Pixels = npt.NDArray[np.uint8]

# Meta's pdq-photo-hasher on these files (see data/pdq/README.md).
META_HASHES = {
    "lima.jpg": "0f3a64e05392ed6b32c4c71374f9cb873378c5c5745f11796c05733ae4c99646",
    "luesma.jpg": "d83acfc7bc386ecd3263359c4263bd1cd9a30af83c0f60f03747c03ccf72a08b",
    "moscow.jpg": "36ce692904162be3c9a524f8356f1e12cadbd4f839a5a41ab247d3d858bb69a7",
}


def rgb_of(data: bytes) -> Pixels:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("name", sorted(META_HASHES))
def test_pdq_hash_is_metas(name: str) -> None:
    value = pdq_hash(rgb_of((DATA / name).read_bytes()))
    assert value.hex() == META_HASHES[name]
    assert value.quality == 100


# --- real photographs: edits a re-share makes stay close, other photos stay far ---

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"]


@functools.cache
def photo(name: str) -> Pixels:
    loader: Callable[[], Pixels] = getattr(skimage.data, name)
    return np.ascontiguousarray(loader()[..., :3])


def jpeg(pixels: Pixels, quality: int) -> Pixels:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return rgb_of(out.getvalue())


def resized(pixels: Pixels, scale: float) -> Pixels:
    height, width = pixels.shape[:2]
    size = (round(width * scale), round(height * scale))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def cropped(pixels: Pixels, share: float) -> Pixels:
    height, width = pixels.shape[:2]
    dy, dx = round(height * share), round(width * share)
    return pixels[dy : height - dy, dx : width - dx]


EDITS: dict[str, Callable[[Pixels], Pixels]] = {
    "half size": lambda p: resized(p, 0.5),
    "quarter size": lambda p: resized(p, 0.25),
    "JPEG 50": lambda p: jpeg(p, 50),
    "JPEG 20": lambda p: jpeg(p, 20),
    "1% cropped off each side": lambda p: cropped(p, 0.01),
    "half size, then JPEG 75": lambda p: jpeg(resized(p, 0.5), 75),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("name", PHOTOS)
def test_edited_photo_stays_within_the_threshold(name: str, edit: str) -> None:
    original = pdq_hash(photo(name))
    assert original.distance(pdq_hash(EDITS[edit](photo(name)))) <= PDQ_MATCH_DISTANCE


def test_different_photos_are_far_apart() -> None:
    hashes = [pdq_hash(photo(name)) for name in PHOTOS]
    distances = [a.distance(b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > 3 * PDQ_MATCH_DISTANCE  # unrelated hashes sit near 128 of 256


def test_crop_beyond_a_few_percent_is_not_a_match() -> None:
    # PDQ is not crop-invariant; the review must not claim more than it does.
    value = pdq_hash(photo("rocket"))
    assert value.distance(pdq_hash(cropped(photo("rocket"), 0.05))) > PDQ_MATCH_DISTANCE


def test_strided_rgb_view_hashes_like_a_copy() -> None:
    rgba = np.dstack([photo("coffee"), np.full(photo("coffee").shape[:2], 255, np.uint8)])
    assert pdq_hash(rgba[..., :3]) == pdq_hash(photo("coffee"))


def test_flat_image_has_quality_zero() -> None:
    assert pdq_hash(np.full((64, 64, 3), 128, np.uint8)).quality == 0


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((0, 8, 3), np.uint8),
    ],
    ids=["gray", "rgba", "float", "empty"],
)
def test_pdq_hash_refuses_what_is_not_rgb(pixels: npt.NDArray[np.generic]) -> None:
    with pytest.raises(ValidationError):
        pdq_hash(pixels)  # type: ignore[arg-type]


# --- the value type ---


def test_hex_round_trips_and_distance_counts_bits() -> None:
    text = META_HASHES["lima.jpg"]
    value = PdqHash.from_hex(text.upper())
    assert value.hex() == text and value.quality == 100
    flipped = bytearray(value.bits)
    flipped[0] ^= 0b1000_0001
    flipped[31] ^= 0b0000_0100
    assert value.distance(PdqHash(bytes(flipped), 100)) == 3
    assert value.distance(value) == 0


@pytest.mark.parametrize(
    "text",
    ["", "0" * 63, "0" * 65, "g" + "0" * 63, "0x" + "0" * 62, " " + "0" * 63, "0" * 64 + "\n"],
)
def test_from_hex_refuses_what_is_not_64_hex_digits(text: str) -> None:
    with pytest.raises(ValidationError):
        PdqHash.from_hex(text)


def test_from_hex_refuses_bytes_and_hash_refuses_bad_fields() -> None:
    with pytest.raises(ValidationError):
        PdqHash.from_hex(b"0" * 64)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PdqHash(bytes(31), 100)
    with pytest.raises(ValidationError):
        PdqHash(bytes(32), 101)


# --- the index against brute force ---


def random_hash(rng: random.Random) -> PdqHash:
    return PdqHash(rng.randbytes(32), 100)


def flipped(value: PdqHash, bits: int, rng: random.Random) -> PdqHash:
    """`value` with exactly `bits` distinct bits flipped."""
    number = int.from_bytes(value.bits)
    for bit in rng.sample(range(256), bits):
        number ^= 1 << bit
    return PdqHash(number.to_bytes(32), value.quality)


def spread(value: PdqHash, bits: int, rng: random.Random) -> PdqHash:
    """`value` with `bits` bits flipped, dealt evenly over the 16 two-byte chunks: the case the
    pigeonhole bound is tight for (at 31 bits, one chunk differs in 1 bit, the rest in 2)."""
    raw = bytearray(value.bits)
    shares = [bits // 16 + (i < bits % 16) for i in range(16)]
    rng.shuffle(shares)
    for chunk, share in enumerate(shares):
        for bit in rng.sample(range(16), share):
            raw[2 * chunk + bit // 8] ^= 1 << (bit % 8)
    return PdqHash(bytes(raw), value.quality)


NEAR: list[Callable[[PdqHash, int, random.Random], PdqHash]] = [flipped, spread]


def test_brute_force_agrees_with_bit_counting() -> None:
    rng = random.Random(7)
    hashes = [random_hash(rng) for _ in range(50)]
    query = hashes[0]
    hashes += [flipped(query, bits, rng) for bits in range(0, 140, 7)]
    rows, distances = brute_force_matches(hash_words(hashes), query, 120)
    expected = sorted(
        ((query.distance(h), row) for row, h in enumerate(hashes) if query.distance(h) <= 120)
    )
    assert list(zip(distances.tolist(), rows.tolist(), strict=True)) == expected


def expected_matches(truth: dict[str, PdqHash], query: PdqHash, radius: int) -> list[PdqMatch]:
    ids = list(truth)
    rows, distances = brute_force_matches(hash_words(truth.values()), query, radius)
    found = [
        PdqMatch(ids[row], d) for row, d in zip(rows.tolist(), distances.tolist(), strict=True)
    ]
    return sorted(found, key=lambda m: (m.distance, m.entry_id))


# Distances just under, at and over where the chunk radius changes (16, 32, 48, 64) and the
# match threshold (31).
EDGE_DISTANCES = [0, 1, 2, 14, 15, 16, 17, 30, 31, 32, 33, 46, 47, 48, 49, 62, 63, 64, 65, 80]
RADII = [0, 1, 15, 16, 30, 31, 32, 47, 48, 63, 64, 100]


def clustered_library(rng: random.Random, size: int, centres: int) -> dict[str, PdqHash]:
    """Uniform hashes plus clusters: near-duplicates at EDGE_DISTANCES from each centre, the bits
    flipped at random and dealt evenly over the chunks."""
    truth = {f"u{i}": random_hash(rng) for i in range(size)}
    for c in range(centres):
        centre = random_hash(rng)
        truth[f"c{c}"] = centre
        for d in EDGE_DISTANCES:
            truth[f"c{c}-{d}"] = flipped(centre, d, rng)
            truth[f"c{c}-{d}s"] = spread(centre, d, rng)
    return truth


def queries_for(truth: dict[str, PdqHash], rng: random.Random, count: int) -> Iterator[PdqHash]:
    values = list(truth.values())
    for _ in range(count):
        yield rng.choice(NEAR)(rng.choice(values), rng.choice(EDGE_DISTANCES), rng)
    yield random_hash(rng)


def check(index: PdqIndex, truth: dict[str, PdqHash], rng: random.Random, count: int) -> int:
    """Compare every radius for `count` queries; returns how many matches were compared."""
    assert len(index) == len(truth)
    compared = 0
    for query in queries_for(truth, rng, count):
        for radius in RADII:
            expected = expected_matches(truth, query, radius)
            assert index.matches(query, radius) == expected, (query.hex(), radius)
            compared += len(expected)
        nearest = expected_matches(truth, query, PDQ_MATCH_DISTANCE)
        assert index.nearest(query, PDQ_MATCH_DISTANCE) == (nearest[0] if nearest else None)
    return compared


def test_bulk_loaded_index_agrees_with_brute_force() -> None:
    rng = random.Random(1)
    truth = clustered_library(rng, 3000, 20)
    index = PdqIndex()
    index.put_many(list(truth), hash_words(truth.values()))
    assert check(index, truth, rng, 40) > 200  # the queries do find things


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each merge path ran, so a test can show that it crossed them."""
    counts = {"_fold_delta": 0, "_rebuild": 0}

    def counted(name: str) -> Callable[[PdqIndex], None]:
        original: Callable[[PdqIndex], None] = getattr(PdqIndex, name)

        def run(index: PdqIndex) -> None:
            counts[name] += 1
            original(index)

        return run

    for name in counts:
        monkeypatch.setattr(PdqIndex, name, counted(name))
    return counts


def test_live_updates_agree_with_brute_force(merges: dict[str, int]) -> None:
    rng = random.Random(2)
    truth = clustered_library(rng, 400, 8)
    index = PdqIndex(delta_limit=25)
    index.put_many(list(truth), hash_words(truth.values()))
    ids = list(truth)
    for step in range(600):
        roll = rng.random()
        if roll < 0.45:  # a new entry, often a near-duplicate of one already there
            base = truth.get(rng.choice(ids)) or random_hash(rng)
            entry_id = f"n{step}"
            ids.append(entry_id)
            truth[entry_id] = rng.choice(NEAR)(base, rng.choice(EDGE_DISTANCES), rng)
            index.put(entry_id, truth[entry_id])
        elif roll < 0.7:  # a replacement: the same id, another hash
            entry_id = rng.choice(ids)
            truth[entry_id] = flipped(truth.get(entry_id, random_hash(rng)), 40, rng)
            index.put(entry_id, truth[entry_id])
        else:  # a removal, sometimes of an id already gone
            entry_id = rng.choice(ids)
            truth.pop(entry_id, None)
            index.remove(entry_id)
        if step % 50 == 0:
            check(index, truth, rng, 3)
    check(index, truth, rng, 30)
    assert merges["_fold_delta"] >= 5 and merges["_rebuild"] >= 2


def test_each_side_of_the_merge_boundary(merges: dict[str, int]) -> None:
    rng = random.Random(3)
    truth = {f"u{i}": random_hash(rng) for i in range(100)}
    index = PdqIndex(delta_limit=8)
    index.put_many(list(truth), hash_words(truth.values()))  # a rebuild
    centre = random_hash(rng)
    for i, d in enumerate(EDGE_DISTANCES):  # a fold at the 9th and the 18th put
        truth[f"e{i}"] = spread(centre, d, rng)
        index.put(f"e{i}", truth[f"e{i}"])
        for radius in (15, 16, 31, 32, 64):
            assert index.matches(centre, radius) == expected_matches(truth, centre, radius)
    assert merges == {"_rebuild": 1, "_fold_delta": 2}


def test_fold_into_mostly_empty_buckets(merges: dict[str, int]) -> None:
    # One hash 100 times fills a single bucket per chunk, so every new row is inserted at the
    # same place in a chunk's postings and must still land in its own bucket.
    rng = random.Random(6)
    truth = {f"z{i}": PdqHash(bytes(32), 100) for i in range(100)}
    index = PdqIndex(delta_limit=8)
    index.put_many(list(truth), hash_words(truth.values()))
    for i in range(20):  # a fold at the 9th and the 18th put
        truth[f"r{i}"] = random_hash(rng)
        index.put(f"r{i}", truth[f"r{i}"])
        for j in range(i + 1):
            value = truth[f"r{j}"]
            assert index.matches(value, 0) == [PdqMatch(f"r{j}", 0)]
            query = spread(value, PDQ_MATCH_DISTANCE, rng)
            assert index.nearest(query, PDQ_MATCH_DISTANCE) == PdqMatch(f"r{j}", 31)
    assert merges == {"_rebuild": 1, "_fold_delta": 2}


def test_put_replaces_and_remove_forgets() -> None:
    rng = random.Random(4)
    index = PdqIndex(delta_limit=2)
    first, second = random_hash(rng), random_hash(rng)
    index.put("a", first)
    index.put("b", flipped(first, 10, rng))
    index.put("a", second)  # replaced: first no longer matches under "a"
    index.put("c", random_hash(rng))
    assert len(index) == 3
    assert index.matches(first, PDQ_MATCH_DISTANCE) == [PdqMatch("b", 10)]
    assert index.nearest(second, 0) == PdqMatch("a", 0)
    index.remove("a")
    index.remove("a")
    index.remove("never there")
    assert len(index) == 2
    assert index.nearest(second, PDQ_MATCH_DISTANCE) is None
    assert index.matches(second, -1) == []


def test_put_many_last_duplicate_wins_and_bad_input_is_refused() -> None:
    rng = random.Random(5)
    values = [random_hash(rng) for _ in range(3)]
    index = PdqIndex()
    index.put_many(["x", "y", "x"], hash_words(values))
    assert len(index) == 2
    assert index.nearest(values[0], 0) is None
    assert index.nearest(values[2], 0) == PdqMatch("x", 0)
    with pytest.raises(ValidationError):
        index.put_many(["z"], hash_words(values))
    with pytest.raises(ValidationError):
        index.put_many(["z"], np.zeros((1, 8), np.uint32))
    with pytest.raises(ValidationError):
        PdqIndex(delta_limit=0)
