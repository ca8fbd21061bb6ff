"""Cutting a video at keyframes, re-encoding the pieces independently, and joining them.

Why segments: a re-encode is ~75% of the cost of labeling a video and runs at 20-50 fps on
one core, so an hour of video must be spread over many processes (and machines), and no
process may hold more than a few seconds of it. `split_video` copies the coded packets into
segment files that each start on a keyframe (no decode); `transcode_segment` decodes one,
lets the caller edit each frame's planes in place, and encodes it with fixed settings into
an MP4 (Matroska, used for the cut, stores no decode timestamps, which the join needs);
`join_segments` concatenates the encoded segments by copying packets (no second encode),
adds the source's audio track and writes an MP4.

Every segment is encoded with the same settings and starts with an IDR frame, so the
segments share one set of codec parameters and can follow each other in one stream.
Frames keep the source's timestamps, so the joined timeline is the source's.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, TypeAlias

import av
import av.container

from synthguard.errors import LabelError
from synthguard.media.av_io import open_input
from synthguard.media.image_io import MediaError

SEGMENT_SECONDS: Final = 4.0
# Audio codecs an MP4 carries as they are; anything else is re-encoded to AAC.
_MP4_AUDIO: Final = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
_AAC_BITRATE: Final = 128_000

FrameEditor = Callable[[av.VideoFrame], None]


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    """One encoder configuration for all segments of a video (they must match to join).

    `threads=1`: parallelism comes from segments across processes, which scales better than
    x264's threads and keeps a segment's cost on the core that runs it.
    """

    codec: str = "libx264"
    crf: int = 20
    preset: str = "veryfast"
    threads: int = 1
    keyframe_s: float = 2.0  # a keyframe at least every 2 s, as streaming players expect

    def options(self) -> dict[str, str]:
        options = {"crf": str(self.crf), "preset": self.preset}
        if self.codec == "libx265":
            options["x265-params"] = "log-level=error"  # x265 prints its stats otherwise
        return options

    def for_source(self, codec: str) -> EncodeSettings:
        """These settings with the encoder of the source's codec family: HEVC stays HEVC;
        everything else (H.264, and what we have no fast encoder in kind for) is H.264."""
        return replace(self, codec=ENCODER_IN_KIND.get(codec, "libx264"))


# Source codec -> the encoder that keeps it in its family (x264 and x265 take the same
# CRF and preset options, so one EncodeSettings serves both).
ENCODER_IN_KIND: Final = {"h264": "libx264", "hevc": "libx265"}


DEFAULT_ENCODE: Final = EncodeSettings()


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    path: Path
    start_s: float  # presentation time of its first frame in the source
    packets: int


def split_video(src: Path, out_dir: Path, *, seconds: float = SEGMENT_SECONDS) -> list[Segment]:
    """Copy the video stream into `seg-NNNNN.mkv` files of at least `seconds`, each starting
    on a keyframe. Reads packets one at a time: memory does not grow with the file."""
    segments: list[Segment] = []
    with open_input(src) as container:
        stream = _video(container)
        tb = stream.time_base or Fraction(1, 90_000)
        out: av.container.OutputContainer | None = None
        start = count = 0
        try:
            for packet in container.demux(stream):
                if not packet.size:  # the demuxer's end-of-stream marker
                    continue
                # Matroska stores no dts; a stream without pts (raw AVI) falls back to dts.
                pts = packet.pts if packet.pts is not None else (packet.dts or 0)
                if out is None and not packet.is_keyframe:
                    continue  # leading frames that cannot be decoded on their own
                if packet.is_keyframe and (out is None or (pts - start) * tb >= seconds):
                    if out is not None:
                        out.close()
                        segments.append(_segment(segments, out_dir, start, tb, count))
                    out = av.open(str(_seg_path(out_dir, len(segments))), "w", format="matroska")
                    packet_stream = out.add_stream_from_template(stream)
                    start, count = pts, 0
                if out is not None:
                    packet.stream = packet_stream
                    out.mux(packet)
                count += 1
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"video packets cannot be read: {exc}") from None
        finally:
            if out is not None:
                out.close()
        if out is not None:
            segments.append(_segment(segments, out_dir, start, tb, count))
    if not segments:
        raise MediaError("corrupt", "the video stream has no keyframe to start from")
    return segments


def _seg_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"seg-{index:05d}.mkv"


def _segment(done: list[Segment], out_dir: Path, start: int, tb: Fraction, n: int) -> Segment:
    index = len(done)
    return Segment(index, _seg_path(out_dir, index), float(start * tb), n)


def _video(container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        raise MediaError("no_stream", "no video stream")
    return container.streams.video[0]


def transcode_segment(
    src: Path, dst: Path, edit: FrameEditor | None, settings: EncodeSettings
) -> int:
    """Decode `src`, apply `edit` to every frame (yuv420p, in place), encode to `dst` (MP4,
    which keeps decode timestamps for the join). Returns the number of frames written."""
    with open_input(src) as container, av.open(str(dst), "w", format="mp4") as out:
        stream = _video(container)
        ctx = stream.codec_context
        ostream = out.add_stream(settings.codec, options=settings.options())
        if not isinstance(ostream, av.VideoStream):
            raise LabelError(f"{settings.codec} is not a video encoder")
        if settings.codec == "libx265":
            ostream.codec_tag = "hvc1"  # the HEVC tag Apple's players require in MP4
        ostream.width, ostream.height, ostream.pix_fmt = ctx.width, ctx.height, "yuv420p"
        tb = stream.time_base or Fraction(1, 90_000)
        ostream.time_base = ostream.codec_context.time_base = tb
        ostream.codec_context.thread_count = settings.threads
        if stream.average_rate:
            ostream.codec_context.framerate = stream.average_rate
            ostream.codec_context.gop_size = max(
                1, round(stream.average_rate * settings.keyframe_s)
            )
        frames = 0
        try:
            for decoded in container.decode(stream):
                frame = decoded
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                if edit is not None:
                    # A decoded frame may share its buffer with the decoder's reference
                    # pictures: edited in place, the edit would leak into every later frame.
                    frame.make_writable()
                    edit(frame)
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder picks types
                out.mux(ostream.encode(frame))
                frames += 1
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"segment cannot be decoded: {exc}") from None
        out.mux(ostream.encode(None))
    return frames


def join_segments(
    parts: Sequence[Path],
    dst: Path,
    *,
    audio_from: Path | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Concatenate encoded segments (in order) into an MP4 by copying packets, interleaved
    with the audio of `audio_from` (copied when MP4 can carry it, else AAC)."""
    if not parts:
        raise LabelError("no segments to join")
    with av.open(str(dst), "w", format="mp4", options=_mp4_options()) as out:
        for key, value in (tags or {}).items():
            out.metadata[key] = value
        with open_input(parts[0]) as first:
            template = _video(first)
            extradata = template.codec_context.extradata
            vout = out.add_stream_from_template(template)
            vout.codec_tag = template.codec_tag  # e.g. HEVC's hvc1, which the muxer would drop
        # One part open at a time: an hour of video is ~900 parts, too many files to hold open.
        video = itertools.chain.from_iterable(_video_packets(p, extradata) for p in parts)
        sources: list[Iterator[_Item]] = [video]
        if audio_from is not None:
            with open_input(audio_from) as probe_audio:
                has_audio = bool(probe_audio.streams.audio)
            if has_audio:
                sources.append(_audio_packets(audio_from, out))
        for _, _, packet, ostream in heapq.merge(*sources, key=lambda item: item[:2]):
            packet.stream = ostream if ostream is not None else vout
            out.mux(packet)


_Item: TypeAlias = "tuple[float, int, av.Packet[Any], av.stream.Stream | None]"


def _video_packets(part: Path, extradata: bytes | None) -> Iterator[_Item]:
    with open_input(part) as container:
        stream = _video(container)
        if stream.codec_context.extradata != extradata:
            raise LabelError(f"{part.name} was encoded with other codec parameters")
        for packet in container.demux(stream):
            if packet.dts is None or not packet.size:
                continue
            yield float(packet.dts * packet.time_base), 0, packet, None


def _audio_packets(src: Path, out: av.container.OutputContainer) -> Iterator[_Item]:
    """The source's first audio track: packets copied, or decoded and encoded to AAC.

    The output stream is added before the first packet is written, as the muxer requires."""
    container = av.open(str(src), "r")
    try:
        stream = container.streams.audio[0]
        if stream.codec_context.name in _MP4_AUDIO:
            ostream = out.add_stream_from_template(stream)
            packets: Iterator[av.Packet[Any]] = (
                p for p in container.demux(stream) if p.dts is not None and p.size
            )
        else:
            ostream = out.add_stream("aac", rate=stream.codec_context.sample_rate)
            ostream.bit_rate = _AAC_BITRATE
            packets = _encoded(container.decode(stream), ostream)
        return _timed(packets, ostream, container)
    except BaseException:
        container.close()
        raise


def _encoded(frames: Iterator[av.AudioFrame], ostream: av.AudioStream) -> Iterator[av.Packet[Any]]:
    for frame in frames:
        frame.pts = None  # the encoder keeps its own sample clock
        yield from ostream.encode(frame)
    yield from ostream.encode(None)


def _timed(
    packets: Iterator[av.Packet[Any]], ostream: av.stream.Stream, container: av.container.Container
) -> Iterator[_Item]:
    try:
        for packet in packets:
            tb = packet.time_base or ostream.time_base or Fraction(1)
            yield float((packet.dts or 0) * tb), 1, packet, ostream
    finally:
        container.close()


def _mp4_options() -> dict[str, str]:
    # use_metadata_tags: without it FFmpeg drops our AIGC key silently (GB 45438 placement:
    # moov.udta.meta keys/ilst); faststart: moov first, so players start before the download ends.
    return {"movflags": "+use_metadata_tags+faststart"}


def remux(src: Path, dst: Path, tags: Mapping[str, str | None]) -> None:
    """Copy every stream of `src` to `dst` unchanged, with its tags updated (None deletes one).

    The coded packets, and so `packet_digest`, stay the same: this is how a record is
    written after the content it signs."""
    with open_input(src) as container:
        fmt = container.format.name.split(",")[0]
        fmt = "mp4" if fmt == "mov" else fmt
        options = _mp4_options() if fmt == "mp4" else {}
        with av.open(str(dst), "w", format=fmt, options=options) as out:
            merged = {str(k): str(v) for k, v in container.metadata.items()}
            for key, value in tags.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            for key, value in merged.items():
                out.metadata[key] = value
            streams = [s for s in container.streams if s.type in ("audio", "video")]
            mapping = {}
            for stream in streams:
                copy = mapping[stream.index] = out.add_stream_from_template(stream)
                # keeps an MP3's cover picture a picture (attached_pic), not a video, and
                # HEVC's hvc1 tag, which the muxer would otherwise replace
                copy.disposition = stream.disposition
                if stream.type == "video":
                    copy.codec_tag = stream.codec_tag
            for packet in container.demux(streams):
                if not packet.size:  # end-of-stream markers; a cover picture has no dts
                    continue
                packet.stream = mapping[packet.stream_index]
                out.mux(packet)
