"""Benchmark of the video labeling path against its transcode floor, and its scaling.

Run: make bench-video   (or .venv/bin/python bench/video_label.py [--seconds S] [--workers 1,2])

For 720p and 1080p H.264 clips made from real footage (Big Buck Bunny, scaled, looped, a
keyframe every second), in the same run:

* floor: a plain PyAV decode + libx264 re-encode of the whole clip, one process, with the
  encoder settings the labeling path uses (veryfast, CRF 20, one thread);
* path: `label_video` with one segment process (cut at keyframes, start-screen and corner
  notices, watermark, encode, join with the audio, packet digest, signed record), then the
  same plus `verify_video` of the output;
* scaling: `label_video` with N segment processes; speed-up over N = 1;
* peak RSS of each segment process (ru_maxrss), for a clip and one four times as long:
  memory follows the segment, not the file.

Prints frames per second, the ratio to the floor (median of --rounds runs) and speed-ups.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clips import bunny_clip

from synthguard.labels.signing import Keyring
from synthguard.labels.video import (
    FrameSpec,
    frame_spec,
    label_segment,
    label_video,
    verify_video,
)
from synthguard.labels.visible import DEFAULT_TEXT, Corner
from synthguard.media.av_io import probe
from synthguard.media.segments import EncodeSettings, split_video, transcode_segment

SETTINGS = EncodeSettings()  # what the pipeline uses: libx264 veryfast CRF 20, one thread
KEYS = Keyring({"bench": b"b" * 32}, "bench")
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def floor(src: Path, dst: Path) -> int:
    """Decode + re-encode with the same encoder settings, nothing else: the segment encoder
    run over the whole file with no frame edit."""
    return transcode_segment(src, dst, None, SETTINGS)


def _segment_rss(segment: Path, dst: Path, spec: FrameSpec, settings: EncodeSettings) -> int:
    label_segment(segment, dst, spec, settings)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def label(src: Path, dst: Path, run: Callable[..., Iterable[int]] = map) -> None:
    label_video(src, dst, produce_id="bench", producer="bench", keyring=KEYS, run=run)


def verify_own(path: Path) -> None:
    verify_video(path, KEYS, keyframes_only=True)


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return container.streams.video[0].frames


def _warm() -> None:
    """Imports the labeling modules in a pool process before the clock starts."""
    import synthguard.labels.video  # noqa: F401


def measure(name: str, src: Path, work: Path, rounds: int, workers: list[int]) -> None:
    n = frames_of(src)
    floors, paths, verified = [], [], []
    for _ in range(rounds):
        floors.append(timed(floor, src, work / "floor.mp4"))
        paths.append(timed(label, src, work / "labeled.mp4"))
        # the pipeline's check of its own output: keyframes only (labels.video.verify_video)
        verified.append(paths[-1] + timed(verify_own, work / "labeled.mp4"))
    f, p, v = (statistics.median(x) for x in (floors, paths, verified))
    print(
        f"{name}: {n} frames | floor {n / f:6.1f} fps | labeling path {n / p:6.1f} fps "
        f"(ratio {f / p:.2f}) | with verify {n / v:6.1f} fps (ratio {f / v:.2f})"
    )
    spawn = multiprocessing.get_context("spawn")
    base = None
    for count in workers:
        with ProcessPoolExecutor(count, mp_context=spawn) as pool:
            for future in [pool.submit(_warm) for _ in range(count)]:
                future.result()
            spent = statistics.median(
                timed(label, src, work / "scaled.mp4", pool.map) for _ in range(rounds)
            )
        base = base or spent
        print(
            f"  {count:2d} processes: {n / spent:6.1f} fps, speed-up {base / spent:.2f} "
            f"({base / spent / count:.2f} x N)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=16, help="clip length (default 16)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="process counts for the scaling table")
    parser.add_argument("--sizes", default="720p,1080p")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} encoder={SETTINGS}")
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.sizes.split(","):
            src = bunny_clip(work / f"{name}.mp4", size=SIZES[name], frames=25 * args.seconds)
            measure(name, src, work, args.rounds, workers)
        _rss(work, multiprocessing.get_context("spawn"), args.seconds)


def _rss(work: Path, spawn: multiprocessing.context.SpawnContext, seconds: int) -> None:
    for factor in (1, 4):
        frames = 25 * seconds * factor
        src = bunny_clip(work / f"rss{factor}.mp4", size=SIZES["1080p"], frames=frames, audio=False)
        pieces = work / f"rss{factor}"
        pieces.mkdir()
        segments = split_video(src, pieces)
        spec = frame_spec(
            probe(src),
            0.0,
            producer="b",
            produce_id="b",
            notice=DEFAULT_TEXT,
            corner=Corner.BOTTOM_RIGHT,
        )
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            peaks = list(
                pool.map(
                    _segment_rss,
                    [s.path for s in segments],
                    [pieces / f"out{s.index}.mp4" for s in segments],
                    [spec] * len(segments),
                    [SETTINGS] * len(segments),
                )
            )
        print(
            f"1080p {seconds * factor:3d} s ({len(segments)} segments): peak RSS of the segment "
            f"process {max(peaks) / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    main()
