"""Cut at keyframes, encode the pieces apart, join them: the same timeline, every frame, the
audio kept, and one stream a player can decode from start to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from clips import bunny_clip

from synthguard.errors import LabelError
from synthguard.media.segments import (
    EncodeSettings,
    join_segments,
    split_video,
    transcode_segment,
)

FAST = EncodeSettings(preset="ultrafast")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 6 s of real footage with a keyframe every second
    return bunny_clip(tmp_path_factory.mktemp("seg") / "bunny.mp4", frames=150, gop=25)


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time or 0.0) for f in container.decode(video=0)]


def test_split_cuts_on_keyframes_without_losing_packets(clip: Path, tmp_path: Path) -> None:
    segments = split_video(clip, tmp_path, seconds=2.0)
    assert [s.start_s for s in segments] == [0.0, 2.0, 4.0]
    assert sum(s.packets for s in segments) == 150
    for seg in segments:
        with av.open(str(seg.path)) as container:
            first = next(container.demux(video=0))
            assert first.is_keyframe  # each piece decodes on its own


def test_segments_encoded_apart_join_into_the_source_timeline(clip: Path, tmp_path: Path) -> None:
    segments = split_video(clip, tmp_path, seconds=2.0)
    parts = []
    for seg in segments:
        part = tmp_path / f"part-{seg.index}.mp4"
        assert transcode_segment(seg.path, part, None, FAST) == seg.packets
        parts.append(part)
    joined = tmp_path / "joined.mp4"
    join_segments(parts, joined, audio_from=clip, tags={"title": "joined"})
    assert frame_times(joined) == pytest.approx(frame_times(clip))
    with av.open(str(joined)) as container:
        assert container.metadata["title"] == "joined"
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 48_000
        samples = sum(f.samples for f in container.decode(audio=0))
    assert samples / 48_000 == pytest.approx(6.0, abs=0.1)


def test_edit_sees_every_frame_in_place(clip: Path, tmp_path: Path) -> None:
    seg = split_video(clip, tmp_path, seconds=2.0)[1]
    seen = []

    def darken(frame: av.VideoFrame) -> None:
        y = np.frombuffer(memoryview(frame.planes[0]), np.uint8)
        y[:] = 16  # black
        seen.append(frame.time)

    out = tmp_path / "dark.mp4"
    transcode_segment(seg.path, out, darken, FAST)
    assert len(seen) == seg.packets
    with av.open(str(out)) as container:
        for frame in container.decode(video=0):
            assert frame.to_ndarray(format="gray").mean() < 20


def test_an_edit_applies_once_per_frame_not_once_per_reference(clip: Path, tmp_path: Path) -> None:
    # Decoded frames share buffers with the decoder's reference pictures; an in-place edit
    # without a private copy would add up frame after frame through the P-frames.
    seg = split_video(clip, tmp_path, seconds=2.0)[0]

    def brighten(frame: av.VideoFrame) -> None:
        y = np.frombuffer(memoryview(frame.planes[0]), np.uint8)
        np.add(y, 8, out=y, where=y < 200)

    plain, bright = tmp_path / "plain.mp4", tmp_path / "bright.mp4"
    transcode_segment(seg.path, plain, None, FAST)
    transcode_segment(seg.path, bright, brighten, FAST)
    with av.open(str(plain)) as a, av.open(str(bright)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        gains = [
            float(fb.to_ndarray(format="gray").mean()) - float(fa.to_ndarray(format="gray").mean())
            for fa, fb in pairs
        ]
    assert min(gains) > 4 and max(gains) < 10  # +8 luma (a little less in full-range gray)


def test_segments_with_other_codec_parameters_are_not_joined(clip: Path, tmp_path: Path) -> None:
    segments = split_video(clip, tmp_path, seconds=2.0)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    transcode_segment(segments[0].path, a, None, FAST)
    transcode_segment(segments[1].path, b, None, EncodeSettings(preset="ultrafast", crf=40))
    with pytest.raises(LabelError, match="other codec parameters"):
        join_segments([a, b], tmp_path / "joined.mp4")


def test_join_holds_one_part_open_at_a_time(tmp_path: Path) -> None:
    # 50 one-frame parts joined under a 40-descriptor limit: an hour of video is ~900 parts.
    clip = bunny_clip(tmp_path / "keys.mp4", frames=50, gop=1, audio=False)
    parts = []
    for seg in split_video(clip, tmp_path, seconds=0.01):
        part = tmp_path / f"part-{seg.index:03d}.mp4"
        transcode_segment(seg.path, part, None, FAST)
        parts.append(str(part))
    assert len(parts) == 50
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from synthguard.media.segments import join_segments\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))\n"
        "join_segments([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]))\n"
    )
    joined = tmp_path / "joined.mp4"
    done = subprocess.run(
        [sys.executable, "-c", script, str(joined), *parts], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(frame_times(joined)) == 50
