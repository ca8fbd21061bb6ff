"""Opening audio and video with PyAV: what a file is, whether we accept it, and the digest
the label signatures cover.

Every refusal is a `MediaError` with a short reason code (shared with images), raised from
the container header or the first decoded frame, before any real work is spent on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import av
import av.container

from synthguard.media.image_io import MediaError

Kind = Literal["video", "audio"]


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What a platform accepts; absurd values are refused from the header alone."""

    max_duration_s: float = 3 * 3600.0
    max_pixels: int = 8192 * 4320  # 8K
    max_fps: float = 240.0
    max_sample_rate: int = 384_000
    max_channels: int = 32


DEFAULT_LIMITS: Final = MediaLimits()


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: Fraction
    pix_fmt: str


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class MediaInfo:
    format: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float
    video: VideoInfo | None
    audio: AudioInfo | None
    tags: dict[str, str]

    @property
    def kind(self) -> Kind:
        return "video" if self.video is not None else "audio"


@contextmanager
def open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """av.open with FFmpeg's errors turned into MediaError reasons."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError("empty", f"cannot read {path.name}: {exc.strerror}") from None
    if size == 0:
        raise MediaError("empty", "the file is empty")
    try:
        container = av.open(str(path), "r")
    except av.error.InvalidDataError as exc:
        if _known_magic(path):  # a container we know, cut short (an MP4 without its moov)
            raise MediaError("truncated", f"container cannot be read: {exc}") from None
        raise MediaError("unknown_format", f"not an audio or video file: {exc}") from None
    except av.error.FFmpegError as exc:
        # A missing moov atom or an end-of-file inside the header: cut off in transit.
        raise MediaError("truncated", f"container cannot be opened: {exc}") from None
    try:
        yield container
    finally:
        container.close()


# File signatures of the containers we take: MP4/MOV (ftyp at 4), Matroska/WebM, RIFF (WAV,
# AVI), MP3 (ID3 or a frame sync), Ogg, FLAC, FLV.
_MAGIC: Final = (b"\x1a\x45\xdf\xa3", b"RIFF", b"ID3", b"OggS", b"fLaC", b"FLV")


def _known_magic(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(12)
    return head[4:8] == b"ftyp" or head.startswith(_MAGIC) or head[:2] in (b"\xff\xfb", b"\xff\xf3")


def probe_kind(path: Path) -> Kind | None:
    """ "video" or "audio" when FFmpeg finds such a stream in a file we recognise, else None
    (the caller decides what else the file may be)."""
    if not _known_magic(path):
        return None
    try:
        with open_input(path) as container:
            if video_stream(container) is not None:
                return "video"
            return "audio" if container.streams.audio else None
    except MediaError:
        return None


def video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art is no video
            return stream
    return None


def probe(path: Path, limits: MediaLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Read the header and decode the first frame of each stream we will use."""
    with open_input(path) as container:
        vstream = video_stream(container)
        astream = container.streams.audio[0] if container.streams.audio else None
        if vstream is None and astream is None:
            raise MediaError("no_stream", "no audio or video stream in the file")
        duration = _duration(container, vstream or astream)
        if duration > limits.max_duration_s:
            limit = limits.max_duration_s
            raise MediaError("too_long", f"{duration:.0f} s is over the {limit:.0f} s limit")
        video = _video_info(vstream, limits) if vstream is not None else None
        audio = _audio_info(astream, limits) if astream is not None else None
        _first_frames(container, [s for s in (vstream, astream) if s is not None])
        tags = {str(k): str(v) for k, v in container.metadata.items()}
        return MediaInfo(container.format.name, duration, video, audio, tags)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream | None) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _codec_name(stream: av.stream.Stream) -> str:
    name = stream.codec_context.name if stream.codec_context else None
    if not name:
        raise MediaError("unsupported_codec", f"no decoder for the {stream.type} stream")
    return name


def _video_info(stream: av.VideoStream, limits: MediaLimits) -> VideoInfo:
    codec = _codec_name(stream)
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    if width <= 0 or height <= 0:
        raise MediaError("corrupt", f"video size {width}x{height} is invalid")
    if width * height > limits.max_pixels:
        raise MediaError(
            "too_many_pixels",
            f"{width}x{height} video exceeds the {limits.max_pixels:,}-pixel limit",
        )
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not fps or fps <= 0 or fps > limits.max_fps:
        raise MediaError(
            "bad_frame_rate", f"frame rate {fps} is outside (0, {limits.max_fps:g}] fps"
        )
    return VideoInfo(codec, width, height, Fraction(fps), ctx.format.name if ctx.format else "")


def _audio_info(stream: av.AudioStream, limits: MediaLimits) -> AudioInfo:
    codec = _codec_name(stream)
    ctx = stream.codec_context
    rate, channels = ctx.sample_rate, ctx.channels
    if not 0 < rate <= limits.max_sample_rate:
        raise MediaError("bad_audio", f"sample rate {rate} Hz is outside the accepted range")
    if not 0 < channels <= limits.max_channels:
        raise MediaError("bad_audio", f"{channels} audio channels is outside the accepted range")
    return AudioInfo(codec, rate, channels)


def _first_frames(container: av.container.InputContainer, streams: list[av.stream.Stream]) -> None:
    """Decode until every stream we use has given one frame: a header alone proves nothing."""
    waiting = {s.index: s for s in streams}
    try:
        for packet in container.demux(streams):
            if packet.stream.index in waiting and packet.decode():
                del waiting[packet.stream.index]
                if not waiting:
                    return
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", f"the file cannot be decoded: {exc}") from None
    kinds = " and ".join(s.type for s in waiting.values())
    raise MediaError("truncated", f"the {kinds} stream holds no decodable frame")


def packet_digest(path: Path) -> bytes:
    """SHA-256 over each audio/video stream's packet payloads, stream by stream.

    This is what audio and video label signatures cover: it changes with any re-encode or
    edit of the coded content, survives a remux into another container, ignores metadata
    (where the record itself lives) and needs no decoding, so checking an hour of video
    reads the file once.
    """
    with open_input(path) as container:
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        hashes = {s.index: (s.type, hashlib.sha256()) for s in streams}
        for packet in container.demux(streams):
            if packet.size:
                hashes[packet.stream_index][1].update(bytes(packet))
    # (stream objects must not be touched once the container is closed: PyAV segfaults)
    outer = hashlib.sha256(b"synthguard/av-packets/v1")
    for kind, digest in hashes.values():
        outer.update(f"{kind}:".encode() + digest.digest())
    return outer.digest()
