"""The explicit audio label (Art. 17; GB 45438-2025 §5.3): the rhythm cue "短长短短".

GB 45438 §5.3 c) makes the audio rhythm label short-long-short-short, the Morse code for
"AI" (·- ··); §5.3 d) places it at one or more of the start, the end and a suitable place in
the middle. The standard names no tone, tempo, level or length threshold; ours:

* standard Morse timing on a 100 ms unit: tones of 1 and 3 units, 1 unit between the tones of
  a letter, 3 between the letters (1.1 s);
* a 1 kHz sine at -12 dBFS peak, 10 ms raised-cosine edges (no clicks), the same in every
  channel, with 0.3 s of silence either side so it stands apart from the content;
* at the start of every labeled file, and also at the end when the content is longer than
  ``END_CUE_MIN_S``: a listener who skips past the start of a long recording still hears it.

:func:`find_cue` finds the cue in the first seconds of decoded audio, after MP3 or AAC coding
and resampling (a tone survives both): it matches the on/off rhythm of a dominant 1 kHz tone
frame by frame, so speech or music that happens to contain 1 kHz does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

CUE_HZ: Final = 1000.0
UNIT_S: Final = 0.1
PEAK: Final = 0.25  # -12 dBFS
RAMP_S: Final = 0.01
PAD_S: Final = 0.3
# Morse "AI" as (tone on, length in units): ·- then ·· with the gaps between them.
RHYTHM: Final = ((True, 1), (False, 1), (True, 3), (False, 3), (True, 1), (False, 1), (True, 1))
END_CUE_MIN_S: Final = 60.0
SEARCH_S: Final = 4.0  # how far into the audio find_cue looks for the start of the cue

_STEP_S: Final = 0.01
_WINDOW_S: Final = 0.02
_BAND_HZ: Final = 100.0  # half-width of the band read as "the tone"
_EDGE_S: Final = 0.03  # frames this close to an on/off edge are not judged (codec smearing)
_MIN_TONE_DBFS: Final = -45.0
_MIN_PURITY: Final = 0.8  # share of a frame's energy in the tone band while the tone is on
_GAP_DB: Final = 20.0  # how far below the tone the gaps must be
MIN_SCORE: Final = 0.9


def cue_seconds() -> float:
    return 2 * PAD_S + UNIT_S * sum(units for _, units in RHYTHM)


def cue_samples(rate: int, channels: int) -> npt.NDArray[np.float32]:
    """The cue with its silence either side, as (channels, n) float32 at `rate`."""
    total = round(cue_seconds() * rate)
    mono = np.zeros(total)
    ramp_n = max(1, round(RAMP_S * rate))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / ramp_n)
    for start, stop in _tones():
        a, b = round(start * rate), round(stop * rate)
        envelope = np.ones(b - a)
        envelope[:ramp_n] = ramp
        envelope[-ramp_n:] = ramp[::-1]
        mono[a:b] = PEAK * envelope * np.sin(2 * np.pi * CUE_HZ * np.arange(a, b) / rate)
    return np.repeat(mono[None, :].astype(np.float32), channels, axis=0)


def _runs() -> list[tuple[bool, float, float]]:
    """(tone on, start, stop) in seconds from the first tone's start."""
    out, t = [], 0
    for on, units in RHYTHM:
        out.append((on, t * UNIT_S, (t + units) * UNIT_S))
        t += units
    return out


def _tones() -> list[tuple[float, float]]:
    return [(PAD_S + a, PAD_S + b) for on, a, b in _runs() if on]


@dataclass(frozen=True, slots=True)
class CueMatch:
    at_s: float  # where the first tone starts
    score: float  # share of judged frames that fit the rhythm, in [MIN_SCORE, 1]


def find_cue(samples: npt.ArrayLike, rate: int) -> CueMatch | None:
    """The cue in the first ``SEARCH_S`` seconds of (channels, n) or (n,) samples, or None."""
    arr = np.asarray(samples, dtype=np.float64)
    mono = arr if arr.ndim == 1 else arr.mean(axis=0)
    mono = mono[: round((SEARCH_S + cue_seconds()) * rate)]
    n = round(_WINDOW_S * rate)
    starts = np.floor(np.arange(0, (len(mono) - n) / rate / _STEP_S) * _STEP_S * rate + 0.5)
    if len(starts) == 0:
        return None
    frames = mono[starts.astype(np.intp)[:, None] + np.arange(n)] * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    tone = power[:, np.abs(freqs - CUE_HZ) <= _BAND_HZ].sum(axis=1)
    total = power.sum(axis=1) + 1e-20
    tone_db = 10 * np.log10(tone * 2.0 / np.sum(np.hanning(n)) ** 2 + 1e-20)
    on_ok = (tone / total >= _MIN_PURITY) & (tone_db >= _MIN_TONE_DBFS)
    on_at, off_at = _judged_frames()
    span = max(on_at.max(), off_at.max()) + 1
    offsets = np.arange(len(starts) - span + 1)
    offsets = offsets[offsets * _STEP_S <= SEARCH_S]
    if len(offsets) == 0:
        return None
    on_idx, off_idx = offsets[:, None] + on_at, offsets[:, None] + off_at
    level = np.median(tone_db[on_idx], axis=1, keepdims=True)
    off_ok = tone_db[off_idx] <= level - _GAP_DB
    score = np.minimum(on_ok[on_idx].mean(axis=1), off_ok.mean(axis=1))
    top = float(score.max())
    if top < MIN_SCORE:
        return None
    # the edge margins let a few neighbouring offsets fit as well: take the middle one
    fits = offsets[score == top]
    return CueMatch(at_s=float(fits[len(fits) // 2] * _STEP_S), score=top)


def _judged_frames() -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Frame offsets (from the first tone's start) that lie clear of every edge, on and off."""
    on: list[int] = []
    off: list[int] = []
    for is_on, a, b in _runs():
        first = int(np.ceil((a + _EDGE_S) / _STEP_S - 1e-6))
        last = int(np.floor((b - _EDGE_S - _WINDOW_S) / _STEP_S + 1e-6))
        (on if is_on else off).extend(range(first, last + 1))
    return np.array(on, np.intp), np.array(off, np.intp)
