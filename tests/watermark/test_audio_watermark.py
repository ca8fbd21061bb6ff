"""The audio watermark on a real soundtrack: streaming, silence, codecs, resampling, offsets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sounds import RATE, SPEECH_RATE, Samples, bunny_sound, lossy, reading, resample

from synthguard.watermark.audio import (
    FALSE_POSITIVE_BOUND,
    MATCH_AGREE,
    MATCH_FALSE_POSITIVE_BOUND,
    AudioDetector,
    AudioMarker,
    detect,
    embed,
)
from synthguard.watermark.image import match

PAYLOAD = 0x5EED_0BAD_CAFE_F00D
SECONDS = 8.0


@pytest.fixture(scope="module")
def sound() -> Samples:
    return bunny_sound(SECONDS)


@pytest.fixture(scope="module")
def marked(sound: Samples) -> Samples:
    return embed(sound, RATE, PAYLOAD)


def snr_db(clean: Samples, marked: Samples) -> float:
    noise = (marked.astype(np.float64) - clean) ** 2
    return float(10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise)))


def test_streaming_in_any_block_sizes_gives_the_same_samples(
    sound: Samples, marked: Samples
) -> None:
    marker = AudioMarker(PAYLOAD, RATE, 2)
    rng = np.random.default_rng(7)
    parts, at = [], 0
    while at < sound.shape[1]:
        size = int(rng.integers(1, 30_000))
        parts.append(marker.push(sound[:, at : at + size]))
        at += size
    parts.append(marker.flush())
    streamed = np.concatenate(parts, axis=1)
    assert streamed.shape == sound.shape
    np.testing.assert_array_equal(streamed, marked)


def test_the_mark_sits_well_under_the_content(sound: Samples, marked: Samples) -> None:
    assert 18.0 < snr_db(sound, marked) < 30.0
    # multiplicative in each band: the loudest sample moves by a fraction of itself
    assert np.max(np.abs(marked)) < 1.5 * np.max(np.abs(sound))


def test_digital_silence_stays_silent(sound: Samples) -> None:
    """No hiss where there is nothing: the mark only re-weights content."""
    quiet = np.concatenate([np.zeros((2, 2 * RATE), np.float32), sound[:, : 3 * RATE]], axis=1)
    out = embed(quiet, RATE, PAYLOAD)
    assert not np.any(out[:, : 2 * RATE - RATE // 20])  # up to one window before the content
    assert not detect(np.zeros((2, 5 * RATE), np.float32), RATE).found


ATTACKS: dict[str, Callable[[Samples], tuple[Samples, int]]] = {
    "none": lambda s: (s, RATE),
    "mp3 128k": lambda s: (lossy(s, RATE, "libmp3lame"), RATE),
    "aac 128k": lambda s: (lossy(s, RATE, "aac"), RATE),
    "48 -> 16 kHz": lambda s: (resample(s, RATE, 16_000), 16_000),
    "mp3 128k + 16 kHz": lambda s: (resample(lossy(s, RATE, "libmp3lame"), RATE, 16_000), 16_000),
    # a cut anywhere (an encoder's priming, an edit): the blind sync finds the grid again
    "cut 1234 samples + aac": lambda s: (lossy(s[:, 1234:], RATE, "aac"), RATE),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_exact_id_survives(marked: Samples, attack: str) -> None:
    samples, rate = ATTACKS[attack](marked)
    found = detect(samples, rate)
    assert found.found and found.payload == PAYLOAD
    assert found.bit_accuracy_hint >= 0.95
    assert found.false_positive_bound == FALSE_POSITIVE_BOUND < 1e-6


def test_mono_and_a_single_channel_of_stereo_carry_it(marked: Samples) -> None:
    mono = bunny_sound(SECONDS, layout="mono")
    found = detect(lossy(embed(mono, RATE, PAYLOAD), RATE, "libmp3lame"), RATE)
    assert found.found and found.payload == PAYLOAD
    assert detect(marked[1], RATE).payload == PAYLOAD  # every channel has the same gains


def test_unmarked_audio_is_not_reported(sound: Samples) -> None:
    noise = np.random.default_rng(3).normal(0, 0.1, (2, 6 * RATE)).astype(np.float32)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(6 * RATE) / RATE).astype(np.float32)
    for unmarked in (sound, noise, tone):
        assert not detect(unmarked, RATE).found
    other = detect(embed(sound, RATE, 0x1234), RATE)
    assert other.found and other.payload == 0x1234


def known_id(samples: Samples, rate: int, expected: int) -> bool:
    detector = AudioDetector(rate)
    detector.push(samples)
    found = detector.result(expected)
    return found.found and found.payload == expected


def test_a_named_id_is_confirmed_where_blind_decoding_needs_more() -> None:
    speech = lossy(embed(reading()[:, : 5 * SPEECH_RATE], SPEECH_RATE, PAYLOAD), SPEECH_RATE, "aac")
    assert not detect(speech, SPEECH_RATE).found  # 5 s of speech: too little to decode blind
    detector = AudioDetector(SPEECH_RATE)
    detector.push(speech)
    found = detector.result(PAYLOAD)
    assert found.found and found.payload == PAYLOAD
    assert found.false_positive_bound == MATCH_FALSE_POSITIVE_BOUND < FALSE_POSITIVE_BOUND
    music = lossy(embed(bunny_sound(1.5), RATE, PAYLOAD), RATE, "libmp3lame")
    assert known_id(music, RATE, PAYLOAD)


def test_a_named_id_is_not_confirmed_on_audio_without_it(sound: Samples) -> None:
    ids = np.random.default_rng(7).integers(0, 2**63, 300, dtype=np.int64).tolist()
    other = embed(sound, RATE, 0x1234)  # marked, but with another ID
    for samples, rate in ((sound, RATE), (other, RATE), (reading(), SPEECH_RATE)):
        detector = AudioDetector(rate)
        detector.push(samples)
        candidates = detector.candidates()  # once: the test then runs per ID
        assert not any(match(candidates, i, MATCH_AGREE, MATCH_FALSE_POSITIVE_BOUND) for i in ids)


def test_the_detector_reads_a_bounded_stretch(marked: Samples) -> None:
    detector = AudioDetector(RATE, max_seconds=4.0)
    for at in range(0, marked.shape[1], 4800):
        detector.push(marked[:, at : at + 4800])
    assert detector.full and detector.seconds == pytest.approx(4.0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 50"):
        AudioMarker(PAYLOAD, 11_025, 2)
    with pytest.raises(ValueError, match="64-bit"):
        AudioMarker(2**64, RATE, 2)
    with pytest.raises(ValueError, match=r"\(2, n\)"):
        AudioMarker(PAYLOAD, RATE, 2).push(np.zeros((1, 100)))
