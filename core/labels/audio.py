"""Audio labels: producer labeling, verification and propagation (Art. 16-18; GB 45438-2025;
2025 Labeling Measures).

The three labels, placed for audio:

* explicit (Art. 17; GB 45438 §5.3): the rhythm cue short-long-short-short (Morse "AI") at the
  start, and at the end of long audio (labels.audio_cue);
* invisible: the record's 64-bit ID in the samples (watermark.audio), which outlives metadata
  stripping, MP3/AAC re-encoding and resampling;
* implicit: the signed ``AIGC`` record, signed over ``packet_digest`` (the coded packets), in
  the place each format has: an ID3v2 ``TXXX:AIGC`` frame in MP3, a ``moov/udta/meta`` key in
  M4A, a Vorbis comment in FLAC, and an ``AIGC`` RIFF chunk (before ``data``) in WAV. The
  value is the seven elements as JSON, as in video (the tag's own name is AIGC).

Labeling decodes and encodes as a stream (memory stays at a few seconds of audio whatever the
length), in the source's family: MP3 stays MP3 (at least 128 kb/s), WAV stays WAV (16-bit
PCM), FLAC stays FLAC, and AAC/M4A and anything else decodable becomes M4A (AAC). A video
stream in the source is not carried over (video goes through labels.video). The encoded file
is signed, then the record is written by a remux (or, for WAV, by adding the chunk), which
keeps every coded packet: the signature covers exactly what a reader decodes.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Final, Literal

import av
import av.container
import numpy as np
import numpy.typing as npt

from synthguard.errors import LabelError
from synthguard.labels.aigc import (
    MAX_RECORD_JSON_BYTES,
    AigcRecord,
    LabelClass,
    MalformedRecordError,
)
from synthguard.labels.audio_cue import (
    END_CUE_MIN_S,
    SEARCH_S,
    CueMatch,
    cue_samples,
    cue_seconds,
    find_cue,
)
from synthguard.labels.image import LABEL_OF, Classification, classify_incoming, watermark_id
from synthguard.labels.judge import (
    RECORD_TAG,
    MediaVerdict,
    VerifiedMedia,
    expected_watermark,
    judge,
    record_from_tags,
)
from synthguard.labels.signing import Keyring, sign_producer, sign_propagator
from synthguard.media.av_io import (
    DEFAULT_LIMITS,
    MediaInfo,
    MediaLimits,
    open_input,
    packet_digest,
    probe,
)
from synthguard.media.image_io import MediaError
from synthguard.media.segments import remux
from synthguard.watermark import Detection
from synthguard.watermark.audio import MIN_RATE_STEP, AudioDetector, AudioMarker

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """An output family: what we encode labeled audio into."""

    name: str  # also the file extension
    muxer: str
    codec: Literal["libmp3lame", "aac", "pcm_s16le", "flac"]
    mime: str
    rates: frozenset[int] | None  # None: any rate


MP3: Final = AudioFormat(
    "mp3",
    "mp3",
    "libmp3lame",
    "audio/mpeg",
    frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
)
M4A: Final = AudioFormat(
    "m4a",
    "mp4",
    "aac",
    "audio/mp4",
    frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000}),
)
WAV: Final = AudioFormat("wav", "wav", "pcm_s16le", "audio/wav", None)
FLAC: Final = AudioFormat("flac", "flac", "flac", "audio/flac", None)
_FAMILY_OF_DEMUXER: Final = {"mp3": MP3, "wav": WAV, "flac": FLAC}

MIN_LOSSY_BITRATE: Final = 128_000
MAX_MP3_BITRATE: Final = 320_000
FALLBACK_RATE: Final = 48_000  # for rates the watermark's grid or the encoder cannot take
_AAC_LAYOUTS: Final = frozenset({"mono", "stereo", "5.1", "5.1(side)"})
# Container bookkeeping the muxer writes itself; everything else in the source's tags is kept.
_MUXER_TAGS: Final = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})

# WAV: a bounded walk over the RIFF chunk headers (a WAV has a handful of chunks).
_RIFF_CHUNK_LIMIT: Final = 64
_WAV_CHUNK: Final = RECORD_TAG.encode("ascii")
_COPY_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class LabeledAudio:
    record: AigcRecord
    format: str  # "mp3", "m4a", "wav" or "flac": the file's family and extension
    mime: str
    digest_hex: str
    watermark_id: int
    explicit: bool  # the cue is at the start
    end_cue: bool  # and at the end (content longer than END_CUE_MIN_S)
    sample_rate: int
    channels: int
    duration_s: float  # of the labeled file, cues included


def output_format(info: MediaInfo) -> AudioFormat:
    """The family labeled audio is written in, from the source's demuxer."""
    demuxer = info.format.split(",")[0]
    return _FAMILY_OF_DEMUXER.get(demuxer, M4A)


def label_audio(
    src: Path,
    dst: Path,
    *,
    produce_id: str,
    producer: str,
    keyring: Keyring,
    cue: bool = True,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> LabeledAudio:
    """Label audio we produced into `dst`: the cue (when `cue`), the watermark and the signed
    record. Raises MediaError for bad input, LabelError otherwise."""
    info = probe(src, limits)
    if info.audio is None:
        raise MediaError("no_stream", "no audio stream to label")
    fmt = output_format(info)
    wm_id = watermark_id(producer, produce_id)
    tags = {k: v for k, v in info.tags.items() if k not in _MUXER_TAGS and not _is_record_key(k)}
    with _scratch(dst) as encoded:
        plan, seconds, end_cue = _encode(
            src, encoded, fmt, wm_id, cue=cue, tags=tags, limits=limits
        )
        digest = packet_digest(encoded)
        unsigned = AigcRecord(LabelClass.CONFIRMED, producer, produce_id)
        record = sign_producer(unsigned, digest, keyring)
        _publish(encoded, dst, record, digest, {})
    return LabeledAudio(
        record=record,
        format=fmt.name,
        mime=fmt.mime,
        digest_hex=digest.hex(),
        watermark_id=wm_id,
        explicit=cue,
        end_cue=end_cue,
        sample_rate=plan.rate,
        channels=plan.channels,
        duration_s=seconds,
    )


@contextmanager
def _scratch(dst: Path) -> Iterator[Path]:
    """A temporary file beside `dst`: on the same disk, so an hour of audio needs no /tmp."""
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _is_record_key(key: str) -> bool:
    return key.upper() == RECORD_TAG


@dataclass(frozen=True, slots=True)
class _Plan:
    """How the labeled stream is encoded."""

    rate: int
    layout: str
    channels: int
    bit_rate: int | None
    sample_format: str | None


def _plan(fmt: AudioFormat, source: av.AudioStream) -> _Plan:
    ctx = source.codec_context
    rate = ctx.sample_rate
    if rate % MIN_RATE_STEP or (fmt.rates is not None and rate not in fmt.rates):
        rate = FALLBACK_RATE
    channels, layout = ctx.channels, ctx.layout.name
    if fmt is MP3 or (fmt is M4A and layout not in _AAC_LAYOUTS) or (fmt is FLAC and channels > 8):
        layout = "mono" if channels == 1 else "stereo"
    channels = len(av.AudioLayout(layout).channels)
    source_rate = source.bit_rate or ctx.bit_rate or 0
    bit_rate: int | None = None
    sample_format: str | None = None
    if fmt is MP3:
        ceiling = MAX_MP3_BITRATE if rate >= 32_000 else 160_000  # MPEG-2 tops out at 160
        bit_rate = min(max(source_rate, MIN_LOSSY_BITRATE), ceiling)
    elif fmt is M4A:
        bit_rate = max(source_rate, MIN_LOSSY_BITRATE * max(1, channels // 2))
    elif fmt is WAV:
        sample_format = "s16"
    else:  # FLAC keeps 24-bit sources at 24 bits
        sample_format = "s16" if ctx.format.bytes <= 2 else "s32"
    return _Plan(rate, layout, channels, bit_rate, sample_format)


def _encode(
    src: Path,
    dst: Path,
    fmt: AudioFormat,
    wm_id: int,
    *,
    cue: bool,
    tags: dict[str, str],
    limits: MediaLimits,
) -> tuple[_Plan, float, bool]:
    """Decode, cue, mark and encode, one block at a time; (plan, seconds written, end cue)."""
    with open_input(src) as container:
        source = container.streams.audio[0]
        plan = _plan(fmt, source)
        with av.open(str(dst), "w", format=fmt.muxer) as out:
            for key, value in tags.items():
                out.metadata[key] = value
            stream = out.add_stream(fmt.codec, rate=plan.rate, layout=plan.layout)
            if plan.bit_rate is not None:
                stream.bit_rate = plan.bit_rate
            if plan.sample_format is not None:
                stream.format = plan.sample_format
            sink = _Sink(out, stream, plan)
            if cue:  # before the marker: the cue stays a clean tone
                sink.write(cue_samples(plan.rate, plan.channels))
            marker = AudioMarker(wm_id, plan.rate, plan.channels)
            limit = limits.max_duration_s * plan.rate
            content = 0
            with closing(_decoded(container, source, plan.layout, plan.rate)) as blocks:
                for block in blocks:
                    content += block.shape[1]
                    if content > limit:
                        raise MediaError(
                            "too_long",
                            f"the audio runs past the {limits.max_duration_s:.0f} s limit",
                        )
                    sink.write(marker.push(block))
            sink.write(marker.flush())
            end_cue = cue and content > END_CUE_MIN_S * plan.rate
            if end_cue:
                sink.write(cue_samples(plan.rate, plan.channels))
            sink.close()
    return plan, sink.samples / plan.rate, end_cue


def _decoded(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    layout: str,
    rate: int,
    sample_format: str = "fltp",
) -> Generator[Samples, None, None]:
    """The stream's samples as (channels, n) float32 blocks, converted once, here."""
    resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    yield np.asarray(out.to_ndarray(), np.float32)
        for out in resampler.resample(None):
            yield np.asarray(out.to_ndarray(), np.float32)
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", f"the audio cannot be decoded: {exc}") from None


class _Sink:
    """(channels, n) float blocks in, encoded packets muxed out; clipped to full scale here,
    the one place samples become the encoder's."""

    def __init__(
        self, out: av.container.OutputContainer, stream: av.AudioStream, plan: _Plan
    ) -> None:
        self._out, self._stream, self._plan = out, stream, plan
        self.samples = 0

    def write(self, block: Samples) -> None:
        if not block.shape[1]:
            return
        clipped = np.ascontiguousarray(np.clip(block, -1.0, 1.0), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(clipped, format="fltp", layout=self._plan.layout)
        frame.sample_rate = self._plan.rate
        frame.pts, frame.time_base = self.samples, Fraction(1, self._plan.rate)
        self.samples += block.shape[1]
        self._out.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._out.mux(self._stream.encode(None))


def _publish(
    src: Path, dst: Path, record: AigcRecord, digest: bytes, old_tags: dict[str, str]
) -> None:
    """Copy `src` to `dst` with `record` as its one AIGC record (GB 45438: one per file),
    every coded packet untouched; refuse, leaving no `dst`, when the copy did not keep both."""
    text = record.fields_json()
    with src.open("rb") as f:
        chunks = _riff_chunks(f)
    try:
        if chunks is not None:
            _copy_wav(src, dst, chunks, text.encode("ascii"))
        else:
            # other spellings of the key (a Matroska or hand-made tag) go; ours replaces them
            stale: dict[str, str | None] = {k: None for k in old_tags if _is_record_key(k)}
            remux(src, dst, {**stale, RECORD_TAG: text})
        if packet_digest(dst) != digest:
            raise LabelError("writing the record changed the coded audio; the signature fails")
        if read_audio_record(dst, probe(dst)) != record:
            raise LabelError(f"{dst.name}: the container did not keep the AIGC record")
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def read_audio_record(path: Path, info: MediaInfo) -> AigcRecord | MalformedRecordError | None:
    """The record in the file's tags (ID3v2 TXXX, MP4 keys, Vorbis comments, any spelling of
    the key) or its WAV ``AIGC`` chunk; copies that differ are a malformed label."""
    try:
        chunk = _wav_record(path)
    except MalformedRecordError as exc:
        return exc
    values = {v for k, v in info.tags.items() if _is_record_key(k)}
    if chunk is not None:
        values.add(chunk)
    if len(values) > 1:
        return MalformedRecordError(f"{len(values)} different AIGC records in one file")
    if not values:
        return None
    return record_from_tags({RECORD_TAG: values.pop()})


# --- WAV: the AIGC chunk, which FFmpeg's muxer cannot write ---


def _riff_chunks(f: BinaryIO) -> list[tuple[bytes, int, int]] | None:
    """(FourCC, header offset, body size) of each chunk of a RIFF/WAVE file, reading headers
    only; None when `f` is not one."""
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    end = min(size, 8 + int.from_bytes(head[4:8], "little"))
    chunks: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos + 8 <= end:
        if len(chunks) == _RIFF_CHUNK_LIMIT:
            raise MediaError("corrupt", f"more than {_RIFF_CHUNK_LIMIT} RIFF chunks")
        f.seek(pos)
        header = f.read(8)
        body = int.from_bytes(header[4:], "little")
        chunks.append((header[:4], pos, body))
        pos += 8 + body + (body & 1)
    return chunks


def _wav_record(path: Path) -> str | None:
    with path.open("rb") as f:
        chunks = _riff_chunks(f)
        bodies: set[str] = set()
        for kind, pos, size in chunks or []:
            if kind != _WAV_CHUNK:
                continue
            if size > MAX_RECORD_JSON_BYTES:
                raise MalformedRecordError(f"the AIGC chunk is {size} bytes long")
            f.seek(pos + 8)
            body = f.read(size)
            if len(body) < size:
                raise MalformedRecordError("the AIGC chunk is cut off")
            try:
                bodies.add(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise MalformedRecordError("the AIGC chunk is not UTF-8") from None
    if len(bodies) > 1:
        raise MalformedRecordError(f"{len(bodies)} different AIGC chunks in one file")
    return bodies.pop() if bodies else None


def _copy_wav(src: Path, dst: Path, chunks: list[tuple[bytes, int, int]], body: bytes) -> None:
    """`src` with every AIGC chunk dropped and one with `body` before ``data``."""
    if not any(kind == b"data" for kind, _, _ in chunks):
        raise MediaError("corrupt", "the WAV file has no data chunk")
    with src.open("rb") as inp, dst.open("wb") as out:
        out.write(b"RIFF\0\0\0\0WAVE")
        for kind, pos, size in chunks:
            if kind == _WAV_CHUNK:
                continue
            if kind == b"data":
                out.write(_WAV_CHUNK + len(body).to_bytes(4, "little") + body)
                out.write(b"\0" * (len(body) & 1))
            inp.seek(pos)
            left = 8 + size
            while left:
                piece = inp.read(min(left, _COPY_BYTES))
                if not piece:
                    raise MediaError("truncated", f"the {kind!r} chunk is cut off")
                out.write(piece)
                left -= len(piece)
            if size & 1:  # the pad byte, which some writers leave out of a last chunk
                out.write(inp.read(1) or b"\0")
        riff = out.tell() - 8
        if riff > 0xFFFF_FFFF:
            raise LabelError("the labeled WAV would exceed the 4 GiB RIFF limit")
        out.seek(4)
        out.write(riff.to_bytes(4, "little"))


# --- verification and propagation ---


@dataclass(frozen=True, slots=True)
class AudioVerification(VerifiedMedia):
    """The shared media verdict plus what only the sound can tell."""

    verdict: MediaVerdict
    cue: CueMatch | None
    info: MediaInfo
    seconds_checked: float  # of audio the watermark detector read (at most MAX_DETECT_S)

    def to_json_dict(self) -> dict[str, object]:
        audio = self.info.audio
        return self.report(
            {
                "format": self.info.format.split(",")[0],
                "audio": None
                if audio is None
                else f"{audio.codec} {audio.sample_rate} Hz, {audio.channels} ch",
                "duration_s": round(self.info.duration_s, 3),
                "cue_at_s": None if self.cue is None else round(self.cue.at_s, 3),
                "seconds_checked": round(self.seconds_checked, 2),
            }
        )


def verify_audio(
    path: Path, keyring: Keyring, *, limits: MediaLimits = DEFAULT_LIMITS
) -> AudioVerification:
    """Classify audio (Art. 18): intact, altered, watermark only, cue only or unlabeled.
    Reads the start of the audio (at most MAX_DETECT_S s) and the coded packets."""
    return _verify(path, keyring, limits)[0]


def _verify(path: Path, keyring: Keyring, limits: MediaLimits) -> tuple[AudioVerification, bytes]:
    info = probe(path, limits)
    if info.audio is None:
        raise MediaError("no_stream", "no audio stream")
    record = read_audio_record(path, info)
    mark, cue, seconds = _scan(path, expected_watermark(record))
    digest = packet_digest(path)
    verdict = judge(record, digest, mark, cue is not None, keyring)
    return AudioVerification(verdict, cue, info, seconds), digest


def _scan(path: Path, expected: int | None) -> tuple[Detection, CueMatch | None, float]:
    """Decode the start of the audio once, for the watermark (`expected`: the ID the record
    names, for the known-ID test) and the cue."""
    with open_input(path) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        detector = AudioDetector(rate)  # reads at most MAX_DETECT_S seconds
        head: list[Samples] = []
        head_wanted = round((SEARCH_S + cue_seconds()) * rate)
        held = 0
        with closing(_decoded(container, stream, "mono", rate, "flt")) as blocks:
            for block in blocks:
                detector.push(block)
                if held < head_wanted:
                    head.append(block)
                    held += block.shape[1]
                elif detector.full:
                    break
    cue = find_cue(np.concatenate(head, axis=1), rate) if head else None
    return detector.result(expected), cue, detector.seconds


@dataclass(frozen=True, slots=True)
class PropagatedAudio:
    record: AigcRecord | None  # None when nothing suggests generation (dst not written)
    classification: Classification
    incoming: AudioVerification
    digest_hex: str


def propagate_audio(
    src: Path,
    dst: Path,
    *,
    propagator: str,
    propagate_id: str,
    keyring: Keyring,
    declared_ai: bool,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> PropagatedAudio:
    """Verify audio a platform spreads, classify it (2025 Measures Art. 6) and write it to `dst`
    with ContentPropagator, PropagateID and our ReservedCode2 added to its record, rewriting
    the metadata only: the coded audio is copied as it is."""
    incoming, digest = _verify(src, keyring, limits)  # one digest: the check and the signature
    classification = classify_incoming(incoming.verification, declared_ai=declared_ai)
    if classification is Classification.NONE:
        return PropagatedAudio(None, classification, incoming, digest.hex())
    base = incoming.verification.record or AigcRecord(LABEL_OF[classification], "", "")
    record = sign_propagator(base, digest, keyring, propagator, propagate_id)
    _publish(src, dst, record, digest, incoming.info.tags)
    return PropagatedAudio(record, classification, incoming, digest.hex())
