"""Art. 10 feature library, audio part: Chromaprint fingerprints of known illegal audio, fed
live from a compacted topic, and a matcher that finds them in uploads after re-encoding,
resampling, a volume change, or cut down to an excerpt.

Chromaprint (libchromaprint through pyacoustid's ctypes binding) turns audio into one 32-bit
sub-fingerprint ("item") every ITEM_S seconds, each summarising the chroma (energy per pitch
class) of the 2.7 s around it. Matching two fingerprints is ours: an inverted index over the
items' top bits proposes (entry, offset) alignments, and each is scored by bit error rate
(BER) over the items where query and entry overlap. The longest stretch whose smoothed BER
stays under the threshold is the match, so an excerpt embedded in longer audio is found too.

Two properties of Chromaprint shape the matcher (measured with Chromaprint 1.5.1):
- Steady sound (silence, a held tone) repeats one item, and noise drifts slowly near one; two
  unrelated noises agree to a BER of 0.12-0.15, any two held tones exactly. So an item equal to
  the one before is not indexed, and a match must agree far better than its entry agrees with
  itself a few seconds later (SELF_LAG_RATIO): silence, hum or noise never match by themselves.
- Chromaprint's own decoder (chromaprint_decode_fingerprint) crashes the process on malformed
  input (it aborted or segfaulted within a few thousand fuzzed strings), so `decode`, which
  reads what others publish, parses the compressed form here with bounds checks instead.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

import av
import numpy as np
import numpy.typing as npt

from synthguard.errors import ConfigError, ValidationError
from synthguard.media.av_io import open_input, probe
from synthguard.media.image_io import MediaError

Items = npt.NDArray[np.uint32]

CHROMAPRINT_RATE: Final = 11_025  # Chromaprint works at this rate: we resample once, to it
ALGORITHM: Final = 1  # Chromaprint's default (TEST2), the one AcoustID uses
_HOP: Final = 1365  # samples between items: 4096-sample frames overlapping by two thirds
# Audio behind one item, 2.7 s: 20 frames (a 16-frame classifier over a 5-tap chroma filter).
_ITEM_SPAN: Final = 4096 + 19 * _HOP
ITEM_S: Final = _HOP / CHROMAPRINT_RATE  # 0.124 s

# Thresholds, measured on real audio (tests/review/test_audio_fp.py holds the cases): a
# LibriVox reading and the Big Buck Bunny soundtrack, as MP3 and AAC at 128 kb/s, resampled to
# 16 and 8 kHz, at 30% volume, and 10 s excerpts cut at any sample (worst: half an item off
# the grid). Same audio: BER 0.000-0.094. Unrelated audio (those two and the project's
# synthesised music, against each other, noise and silence): no 7.5 s stretch of any alignment
# under 0.37. 0.15 sits between, leaving room for harsher encoders. (Two noises come to 0.146:
# SELF_LAG_RATIO stops them.)
MATCH_MAX_BER: Final = 0.15
# Over 4 s windows unrelated speech and soundtrack already come within BER 0.30 of each other;
# 7.5 s still finds a 10 s excerpt.
MIN_MATCH_S: Final = 7.5
# The entry's stretch against itself 22 items (2.7 s, one item's audio) later: BER 0.37-0.56
# for speech, soundtrack and music, 0.15-0.26 for white noise, 0 for held sound. A real match
# stays under 0.23 of it; two unrelated noises agree to 0.77 of it.
SELF_LAG_RATIO: Final = 0.5
_SELF_LAG_ITEMS: Final = 22
KEY_BITS: Final = 14  # index on the top bits: the next two flip most (8-11%) under AAC/MP3
_SMOOTH_ITEMS: Final = 16  # 2 s: per-item errors are too noisy to cut a segment on
_MIN_VOTES: Final = 4  # items agreeing on an alignment before it is scored
_ALIGNMENTS_PER_ENTRY: Final = 3  # the best-voted offsets per entry that get scored

_APT_COMMAND: Final = "apt-get install -y --no-install-recommends libchromaprint1"


@functools.cache
def _chromaprint() -> ModuleType:
    """pyacoustid's binding; it loads libchromaprint when imported."""
    try:
        return importlib.import_module("chromaprint")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"pyacoustid is missing: run `{sys.executable} -m pip install pyacoustid==1.3.1`"
        ) from exc
    except ImportError as exc:  # the binding found no libchromaprint.so.1
        raise ConfigError(f"libchromaprint is missing: run `{_APT_COMMAND}` as root") from exc


def _span_s(items: int) -> float:
    """Seconds of audio behind `items` consecutive items."""
    return ((items - 1) * _HOP + _ITEM_SPAN) / CHROMAPRINT_RATE if items else 0.0


def _items_for(seconds: float) -> int:
    """The fewest consecutive items that cover `seconds` of audio."""
    return max(1, math.ceil((seconds * CHROMAPRINT_RATE - _ITEM_SPAN) / _HOP - 1e-9) + 1)


@dataclass(frozen=True, slots=True)
class AudioFingerprint:
    """Chromaprint's raw items (read-only) and the seconds of audio they were computed from."""

    values: Items
    duration_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.values, np.ndarray) or self.values.dtype != np.uint32:
            raise ValidationError("fingerprint values must be a numpy uint32 array")
        if self.values.ndim != 1:
            raise ValidationError(f"fingerprint values must be 1-D, not {self.values.ndim}-D")
        frozen = self.values.copy()
        frozen.flags.writeable = False  # a value: the index keeps it as it was put
        object.__setattr__(self, "values", frozen)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AudioFingerprint):
            return NotImplemented
        return self.duration_s == other.duration_s and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash((self.values.tobytes(), self.duration_s))

    def encode(self) -> str:
        """Chromaprint's compressed, URL-safe base64 form (what AcoustID exchanges)."""
        signed = self.values.view(np.int32).tolist()  # the binding fills a C int array
        return bytes(_chromaprint().encode_fingerprint(signed, ALGORITHM)).decode("ascii")

    @classmethod
    def decode(cls, text: str, *, duration_s: float | None = None) -> AudioFingerprint:
        """Parse `encode()`'s form. The form has no duration: pass the one sent beside it,
        or get the span the items cover."""
        values = _decompress(_unbase64(text))
        return cls(values, _span_s(len(values)) if duration_s is None else duration_s)


def _unbase64(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise ValidationError("fingerprint is not ASCII base64 text")
    try:  # Chromaprint writes URL-safe base64 without padding
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValidationError(f"fingerprint is not base64: {exc}") from None


def _unpack(data: bytes, width: int) -> npt.NDArray[np.int64]:
    """The little-endian `width`-bit integers packed in `data` (Chromaprint's PackIntNArray)."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    groups = bits[: len(bits) // width * width].reshape(-1, width).astype(np.int64)
    return groups @ (1 << np.arange(width, dtype=np.int64))


def _decompress(raw: bytes) -> Items:
    """Chromaprint's compressed fingerprint: a header (algorithm, 24-bit item count); per item
    the gaps between set bits of its XOR with the previous item, as 3-bit values ended by a 0
    (7 means "add the next 5-bit exception value"); then the 5-bit exception values."""
    if len(raw) < 4:
        raise ValidationError("fingerprint is shorter than its 4-byte header")
    if raw[0] != ALGORITHM:
        raise ValidationError(f"fingerprint uses Chromaprint algorithm {raw[0]}, not {ALGORITHM}")
    count = int.from_bytes(raw[1:4], "big")
    normal = _unpack(raw[4:], 3)
    ends = np.flatnonzero(normal == 0)
    if len(ends) < count:
        raise ValidationError(f"fingerprint is cut short: {len(ends)} of {count} items")
    normal = normal[: ends[count - 1] + 1] if count else normal[:0]
    normal_bytes = -(-len(normal) * 3 // 8)
    wide = np.flatnonzero(normal == 7)
    exceptions = _unpack(raw[4 + normal_bytes :], 5)
    if len(exceptions) < len(wide) or len(raw) != 4 + normal_bytes + -(-len(wide) * 5 // 8):
        raise ValidationError("fingerprint length does not match its contents")
    gaps = normal.copy()
    gaps[wide] += exceptions[: len(wide)]
    item = np.cumsum(gaps == 0) - (gaps == 0)  # which item each value belongs to
    set_bits = gaps != 0
    position = np.cumsum(gaps)  # bit positions restart with each item
    starts = np.concatenate(([0], position[ends[: max(count - 1, 0)]]))
    position = position - starts[item]
    if np.any(position[set_bits] > 32):
        raise ValidationError("fingerprint sets a bit past the 32 of an item")
    deltas = np.zeros(count, np.uint32)
    np.bitwise_or.at(deltas, item[set_bits], (1 << (position[set_bits] - 1)).astype(np.uint32))
    return np.bitwise_xor.accumulate(deltas) if count else deltas


class _Fingerprinter:
    """Audio frames in, resampled once to Chromaprint's mono s16, an AudioFingerprint out."""

    def __init__(self, max_seconds: float = math.inf) -> None:
        self._chromaprint = _chromaprint().Fingerprinter(ALGORITHM)
        self._chromaprint.start(CHROMAPRINT_RATE, 1)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=CHROMAPRINT_RATE)
        self._limit = max_seconds * CHROMAPRINT_RATE
        self.samples = 0

    @property
    def full(self) -> bool:
        return self.samples >= self._limit

    def push(self, frame: av.AudioFrame | None) -> None:
        for out in self._resampler.resample(frame):
            pcm = out.to_ndarray()[0]
            room = self._limit - self.samples
            if len(pcm) > room:
                pcm = pcm[: max(0, int(room))]
            self._chromaprint.feed(pcm.tobytes())
            self.samples += len(pcm)

    def finish(self) -> AudioFingerprint:
        self.push(None)
        values = _decompress(_unbase64(bytes(self._chromaprint.finish()).decode("ascii")))
        return AudioFingerprint(values, self.samples / CHROMAPRINT_RATE)


def fingerprint_file(path: Path, *, max_seconds: float = 120.0) -> AudioFingerprint:
    """The fingerprint of the first `max_seconds` of `path`'s first audio stream.

    Raises MediaError when the file is no audio we can decode (the reasons of media.av_io)."""
    info = probe(path)
    if info.audio is None:
        raise MediaError("no_stream", "no audio stream to fingerprint")
    fingerprinter = _Fingerprinter(max_seconds)
    with open_input(path) as container:
        try:
            for frame in container.decode(container.streams.audio[0]):
                fingerprinter.push(frame)
                if fingerprinter.full:
                    break
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"the audio cannot be decoded: {exc}") from None
    return fingerprinter.finish()


def fingerprint_samples(
    samples: npt.NDArray[np.float32] | npt.NDArray[np.int16], rate: int
) -> AudioFingerprint:
    """The fingerprint of in-memory audio: (n,) or (channels, n), float in [-1, 1] or int16."""
    if samples.dtype != np.int16 and not np.issubdtype(samples.dtype, np.floating):
        raise ValidationError(f"samples must be float or int16, not {samples.dtype}")
    if rate <= 0:
        raise ValidationError(f"sample rate {rate} Hz is not positive")
    if samples.ndim not in (1, 2):
        raise ValidationError(f"samples must be (n,) or (channels, n), not {samples.shape}")
    scale = 1 / 32768 if samples.dtype == np.int16 else 1.0
    mono = np.atleast_2d(samples).astype(np.float32).mean(axis=0, keepdims=True) * scale
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono), format="fltp", layout="mono")
    frame.sample_rate = rate
    fingerprinter = _Fingerprinter()
    fingerprinter.push(frame)
    return fingerprinter.finish()


@dataclass(frozen=True, slots=True)
class AudioMatch:
    """Query audio found in a library entry: how close, where and for how long.

    The entry's time is the query's time plus `offset_s` (negative when the entry starts
    inside the query); the match covers `matched_s` seconds of audio from `query_start_s`."""

    entry_id: str
    bit_error_rate: float
    offset_s: float
    matched_s: float
    query_start_s: float = 0.0


@dataclass(frozen=True, slots=True)
class _Postings:
    """Every indexed item, sorted by key: which entry (slot) and where."""

    ids: tuple[str, ...]
    keys: npt.NDArray[np.uint32]
    slots: npt.NDArray[np.int64]
    positions: npt.NDArray[np.int64]


class AudioFingerprintIndex:
    """Library entries by id, matched by inverted index over their items' top KEY_BITS bits.

    The sorted postings are rebuilt on the first match after a change: a replayed topic costs
    one build, and the library changes far less often than uploads arrive."""

    def __init__(self, *, min_match_s: float = MIN_MATCH_S) -> None:
        if min_match_s < MIN_MATCH_S:
            raise ConfigError(
                f"min_match_s {min_match_s:g} s is under {MIN_MATCH_S:g} s,"
                " where unrelated audio starts to coincide"
            )
        self._min_match_s = min_match_s
        self._min_items = _items_for(min_match_s)
        self._entries: dict[str, Items] = {}
        self._postings: _Postings | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entry_id: str, fingerprint: AudioFingerprint) -> None:
        """Add or replace an entry; one too short to ever match is refused."""
        if len(fingerprint.values) < self._min_items:
            raise ValidationError(
                f"audio entry {entry_id!r} covers {_span_s(len(fingerprint.values)):.1f} s,"
                f" under the {self._min_match_s:g} s a match needs"
            )
        self._entries[entry_id] = fingerprint.values
        self._postings = None

    def remove(self, entry_id: str) -> None:
        """Drop an entry (a tombstone); unknown ids are fine, tombstones repeat."""
        if self._entries.pop(entry_id, None) is not None:
            self._postings = None

    def match(self, query: AudioFingerprint, max_ber: float = MATCH_MAX_BER) -> list[AudioMatch]:
        """Entries found in `query`, at most one per entry, lowest bit error rate first."""
        postings = self._build()
        found = []
        for slot, offset in _candidates(postings, query.values):
            entry_id = postings.ids[slot]
            hit = _segment(self._entries[entry_id], query.values, offset, max_ber, self._min_items)
            if hit is not None:
                start, length, ber = hit
                found.append(
                    AudioMatch(entry_id, ber, offset * ITEM_S, _span_s(length), start * ITEM_S)
                )
        best: dict[str, AudioMatch] = {}
        for m in sorted(found, key=lambda m: (m.bit_error_rate, -m.matched_s)):
            best.setdefault(m.entry_id, m)
        return list(best.values())

    def _build(self) -> _Postings:
        if self._postings is None:
            ids = tuple(self._entries)
            values = [self._entries[i] for i in ids]
            lengths = [len(v) for v in values]
            every = np.concatenate([np.zeros(0, np.uint32), *values])
            slots = np.repeat(np.arange(len(ids)), lengths)
            positions = np.arange(len(every)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            keep = np.concatenate([_changes(v) for v in values] or [np.zeros(0, bool)])
            keys = every[keep] >> (32 - KEY_BITS)
            order = np.argsort(keys, kind="stable")
            self._postings = _Postings(ids, keys[order], slots[keep][order], positions[keep][order])
        return self._postings


def _changes(values: Items) -> npt.NDArray[np.bool_]:
    """Items unlike the one before: a held sound would otherwise vote for every offset."""
    return np.concatenate(([True], values[1:] != values[:-1]))[: len(values)]


def _candidates(postings: _Postings, query: Items) -> list[tuple[int, int]]:
    """(slot, offset) alignments that enough query items vote for, the best few per entry;
    offset is the entry item that lines up with the query's first item."""
    at = np.flatnonzero(_changes(query))
    keys = query[at] >> (32 - KEY_BITS)
    lo = np.searchsorted(postings.keys, keys, "left")
    counts = np.searchsorted(postings.keys, keys, "right") - lo
    total = int(counts.sum())
    if total == 0:
        return []
    # every (query item, posting) pair with equal keys, without a Python loop
    first = np.repeat(np.cumsum(counts) - counts, counts)
    hits = np.repeat(lo, counts) + np.arange(total) - first
    offsets = postings.positions[hits] - np.repeat(at, counts)
    span = int(postings.positions.max()) + len(query) + 1
    codes = postings.slots[hits] * span + (offsets + len(query))
    pairs, votes = np.unique(codes, return_counts=True)
    strong = votes >= _MIN_VOTES
    pairs, votes = pairs[strong], votes[strong]
    slots, shifted = np.divmod(pairs, span)
    order = np.lexsort((-votes, slots))  # by entry, most votes first
    slots, shifted = slots[order], shifted[order]
    rank = np.arange(len(slots)) - np.searchsorted(slots, slots, "left")
    keep = rank < _ALIGNMENTS_PER_ENTRY
    return [(int(s), int(o) - len(query)) for s, o in zip(slots[keep], shifted[keep], strict=True)]


def _segment(
    entry: Items, query: Items, offset: int, max_ber: float, min_items: int
) -> tuple[int, int, float] | None:
    """The longest stretch of this alignment whose smoothed BER stays within `max_ber`, as
    (first query item, items, BER), or None when it is too short, too far or too steady."""
    q0 = max(0, -offset)
    n = min(len(query) - q0, len(entry) - q0 - offset)
    if n < min_items:
        return None
    ours = entry[q0 + offset : q0 + offset + n]
    errors = np.bitwise_count(ours ^ query[q0 : q0 + n]).astype(np.float64)
    sums = np.concatenate(([0.0], np.cumsum(errors)))
    half = _SMOOTH_ITEMS // 2
    lo = np.maximum(np.arange(n) - half, 0)
    hi = np.minimum(np.arange(n) + half + 1, n)
    good = (sums[hi] - sums[lo]) / (hi - lo) <= 32 * max_ber
    edges = np.flatnonzero(np.diff(np.concatenate(([False], good, [False])).astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    if len(starts) == 0:
        return None
    longest = int(np.argmax(stops - starts))
    start, stop = int(starts[longest]), int(stops[longest])
    if stop - start < min_items:
        return None
    ber = float(errors[start:stop].mean()) / 32
    stretch = ours[start:stop]
    lag = _SELF_LAG_ITEMS
    self_ber = float(np.bitwise_count(stretch[:-lag] ^ stretch[lag:]).mean()) / 32
    # strictly under: a held sound (self BER 0) never matches, not even the same held sound
    if ber > max_ber or not ber < SELF_LAG_RATIO * self_ber:
        return None
    return q0 + start, stop - start, ber
