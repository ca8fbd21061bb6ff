"""The audio rhythm cue (GB 45438 §5.3): its shape, and finding it after codecs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sounds import RATE, bunny_sound, lossy, resample

from synthguard.labels.audio_cue import (
    CUE_HZ,
    PAD_S,
    PEAK,
    UNIT_S,
    cue_samples,
    cue_seconds,
    find_cue,
)


def runs(mono: np.ndarray, rate: int) -> list[tuple[bool, float]]:
    """(sounding, seconds) runs of a signal, from its 5 ms envelope."""
    hop = rate // 200
    env = np.abs(mono[: len(mono) // hop * hop]).reshape(-1, hop).max(axis=1) > PEAK / 10
    edges = np.flatnonzero(np.diff(env.astype(int))) + 1
    bounds = [0, *edges.tolist(), len(env)]
    return [(bool(env[a]), (b - a) * hop / rate) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(("rate", "channels"), [(48_000, 2), (44_100, 1), (16_000, 6)])
def test_the_cue_is_short_long_short_short(rate: int, channels: int) -> None:
    cue = cue_samples(rate, channels)
    assert cue.shape == (channels, round(cue_seconds() * rate)) and cue.dtype == np.float32
    assert all(np.array_equal(cue[0], ch) for ch in cue)
    assert np.max(np.abs(cue)) == pytest.approx(PEAK, rel=0.01)
    tones = [round(s / UNIT_S) for on, s in runs(cue[0], rate) if on]
    assert tones == [1, 3, 1, 1]  # 短长短短: Morse "AI"
    shape = runs(cue[0], rate)
    assert not shape[0][0] and shape[0][1] == pytest.approx(PAD_S, abs=0.02)
    assert not shape[-1][0] and shape[-1][1] == pytest.approx(PAD_S, abs=0.02)
    spectrum = np.abs(np.fft.rfft(cue[0]))
    assert np.fft.rfftfreq(cue.shape[1], 1 / rate)[np.argmax(spectrum)] == pytest.approx(CUE_HZ)


def test_the_cue_is_found_where_it_starts() -> None:
    found = find_cue(cue_samples(RATE, 2), RATE)
    assert found is not None and found.at_s == pytest.approx(PAD_S, abs=0.011)
    # after 1.5 s of real sound, and with the sound going on under it
    sound = bunny_sound(4.0)
    late = np.concatenate([sound[:, : 3 * RATE // 2], sound[:, : cue_samples(RATE, 2).shape[1]]], 1)
    late[:, 3 * RATE // 2 :] += cue_samples(RATE, 2)
    found = find_cue(late, RATE)
    assert found is not None and found.at_s == pytest.approx(1.5 + PAD_S, abs=0.011)


@pytest.mark.parametrize("attack", ["mp3", "aac", "16 kHz", "mp3 + 16 kHz"])
def test_the_cue_survives_codecs_and_resampling(attack: str) -> None:
    signal = np.concatenate([cue_samples(RATE, 2), bunny_sound(2.0)], axis=1)
    rate = RATE
    if "mp3" in attack:
        signal = lossy(signal, RATE, "libmp3lame")
    if "aac" in attack:
        signal = lossy(signal, RATE, "aac")
    if "16 kHz" in attack:
        signal, rate = resample(signal, RATE, 16_000), 16_000
    found = find_cue(signal, rate)
    assert found is not None and found.at_s == pytest.approx(PAD_S, abs=0.03)


def test_sound_without_the_cue_does_not_match() -> None:
    t = np.arange(4 * RATE) / RATE
    steady = 0.25 * np.sin(2 * np.pi * CUE_HZ * t)
    noise = np.random.default_rng(5).normal(0, 0.05, 4 * RATE)
    # the right tone in the wrong rhythm: Morse "N" (long-short), twice
    unit = round(UNIT_S * RATE)
    keyed = np.zeros(4 * RATE)
    for start, units in ((0, 3), (4, 1), (8, 3), (12, 1)):
        keyed[(start + 3) * unit : (start + 3 + units) * unit] = 1.0
    for signal in (bunny_sound(4.0), steady, noise, keyed * steady, np.zeros(4 * RATE)):
        assert find_cue(signal, RATE) is None
    assert find_cue(cue_samples(RATE, 1)[:, : RATE // 2], RATE) is None  # cut short
