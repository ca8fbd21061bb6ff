"""The video path after the Art. 9 gate, in three steps that may run on different machines:

1. `open_video` (the worker that took the artifact): fetch the claim check, refuse bad
   media from its header, cut it at keyframes (no decode) and store the pieces as blobs;
   it returns one segment job per piece, for media.segments.
2. `label_segment_job` (any watermark worker): label and encode one piece (Art. 16, 17).
3. `assemble_video` (the worker holding the video's assembly): join the labeled pieces in
   order, keep the audio, sign and write the AIGC record, verify the result (Art. 18), store
   it and decide.

Content a platform spreads (REDISTRIBUTED) is not re-encoded: `propagate_video_artifact`
verifies, classifies and rewrites the record in one step, like images.
Pure apart from the blob store; the streams layer runs these in media processes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from synthguard.blobs import BlobRef, BlobStore
from synthguard.imagepath import STAGE, file_propagation_output
from synthguard.labeling import (
    EXPLICIT_LABEL_KINDS,
    explicit_check,
    implicit_check,
    media_label,
    signature_check,
)
from synthguard.labels.judge import require_intact
from synthguard.labels.signing import Keyring
from synthguard.labels.video import (
    START_SCREEN_S,
    FrameSpec,
    assemble,
    frame_spec,
    label_segment,
    propagate_video,
    verify_video,
)
from synthguard.labels.visible import Corner
from synthguard.media.av_io import MediaLimits, probe
from synthguard.media.segments import EncodeSettings, split_video
from synthguard.records import (
    Outcome,
    Record,
    StageOutput,
    Verdict,
    check,
    compliance_record,
    now_ms,
)
from synthguard.review.hashing import video_hashes

SEGMENT_MIME: Final = "video/x-matroska"
LABELED_MIME: Final = "video/mp4"
_U64: Final = 1 << 64


@dataclass(frozen=True, slots=True)
class AVPolicy:
    """What the audio and video paths need from the settings (one per media process)."""

    producer_id: str
    propagator_id: str
    keyring: Keyring
    notice: str
    corner: Corner
    limits: MediaLimits
    encode: EncodeSettings
    segment_seconds: float
    max_bytes: int


def hash_video(state: Record, policy: AVPolicy, store: BlobStore) -> list[Record]:
    """The keyframe hashes review matches (Art. 10), taken from the source once, before the
    video is cut: the parts never come together again until the labeled whole."""
    env = state["envelope"]
    with store.open_file(BlobRef.from_record(env["blob"]), max_bytes=policy.max_bytes) as src:
        probe(src, policy.limits)
        return video_hashes(src)


def open_video(state: Record, policy: AVPolicy, store: BlobStore) -> list[Record]:
    """Step 1: the segment jobs (synthguard.SegmentJob) of an admitted, GENERATED video.
    Bad media raises MediaError before anything is stored."""
    env = state["envelope"]
    with store.open_file(BlobRef.from_record(env["blob"]), max_bytes=policy.max_bytes) as src:
        info = probe(src, policy.limits)
        with tempfile.TemporaryDirectory(prefix="synthguard-split-") as tmp:
            segments = split_video(src, Path(tmp), seconds=policy.segment_seconds)
            explicit = env["service_kind"] in EXPLICIT_LABEL_KINDS
            spec = frame_spec(
                info,
                segments[0].start_s,
                producer=policy.producer_id,
                produce_id=env["artifact_id"],
                notice=policy.notice if explicit else None,
                corner=policy.corner,
            )
            return [
                segment_job(
                    env["artifact_id"],
                    seg.index,
                    len(segments),
                    source=store.put_file(seg.path, mime=SEGMENT_MIME),
                    spec=spec,
                    encode=policy.encode.for_source(info.video.codec if info.video else ""),
                )
                for seg in segments
            ]


def segment_job(
    artifact_id: str,
    index: int,
    count: int,
    *,
    source: BlobRef,
    spec: FrameSpec,
    encode: EncodeSettings,
) -> Record:
    wm = spec.watermark_id
    return {
        "job_id": f"{artifact_id}/{index}",
        "artifact_id": artifact_id,
        "index": index,
        "count": count,
        "source": source.to_record(),
        "width": spec.width,
        "height": spec.height,
        # Avro has no unsigned long: the ID travels as its two's-complement bits.
        "watermark_id": None if wm is None else (wm - _U64 if wm >= _U64 // 2 else wm),
        "notice": spec.notice,
        "corner": spec.corner.value,
        "start_s": spec.start_s,
        "codec": encode.codec,
        "crf": encode.crf,
        "preset": encode.preset,
    }


def label_segment_job(job: Mapping[str, Any], store: BlobStore, max_bytes: int) -> BlobRef:
    """Step 2: one labeled, encoded segment, stored; the same job always gives a valid part,
    so a redelivered job after a crash is simply done again."""
    wm = job["watermark_id"]
    spec = FrameSpec(
        job["width"],
        job["height"],
        None if wm is None else wm % _U64,
        job["notice"],
        Corner(job["corner"]),
        job["start_s"],
    )
    encode = EncodeSettings(job["codec"], job["crf"], job["preset"])
    source = BlobRef.from_record(job["source"])
    with (
        store.open_file(source, max_bytes=max_bytes) as src,
        tempfile.TemporaryDirectory(prefix="synthguard-segment-") as tmp,
    ):
        dst = Path(tmp) / f"part-{job['index']:05d}.mp4"
        label_segment(src, dst, spec, encode)
        return store.put_file(dst, mime=LABELED_MIME)


def assemble_video(
    state: Record, parts: list[BlobRef], policy: AVPolicy, store: BlobStore
) -> StageOutput:
    """Step 3: join, sign, verify and store the labeled video; decide."""
    env = state["envelope"]
    source = BlobRef.from_record(env["blob"])
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="synthguard-join-")))
        local = [stack.enter_context(store.open_file(r, max_bytes=policy.max_bytes)) for r in parts]
        src = stack.enter_context(store.open_file(source, max_bytes=policy.max_bytes))
        dst = work / "labeled.mp4"
        record, digest = assemble(
            local,
            dst,
            audio_from=src,
            producer=policy.producer_id,
            produce_id=env["artifact_id"],
            keyring=policy.keyring,
            workdir=work,
        )
        found = verify_video(
            dst, policy.keyring, notice=policy.notice, limits=policy.limits, keyframes_only=True
        )
        require_intact(found, "video")
        out = store.put_file(dst, mime=LABELED_MIME, name=f"{env['artifact_id']}.mp4")
    kind = env["service_kind"]
    explicit = kind in EXPLICIT_LABEL_KINDS
    wm = found.verdict.expected_watermark_id
    state["label"] = media_label(
        record,
        explicit=explicit,
        notice=policy.notice if explicit else None,
        digest_hex=digest.hex(),
        blob=out,
        watermark_id=wm,
    )
    state["checks"] += [
        implicit_check(record, "the MP4 metadata (moov/udta/meta keys)"),
        check(
            "Art. 16",
            "label.watermark",
            STAGE,
            Outcome.APPLIED,
            f"invisible watermark ID {wm:016x} in the luminance of every frame; found again in "
            f"{found.frames_checked} sampled frames of the output",
        ),
        explicit_check(
            kind,
            f"start-screen notice {policy.notice!r} for the first {START_SCREEN_S:g} s, then "
            f"at {policy.corner.value} throughout; text height >= 5% of the shortest side "
            "(GB 45438-2025)"
            if explicit
            else None,
        ),
        signature_check(
            policy.keyring, f"the coded audio and video packets (sha256 {digest.hex()[:16]}…)"
        ),
        check(
            "Art. 18",
            "label.verified",
            STAGE,
            Outcome.PASS,
            f"{len(parts)} segments joined, {found.info.duration_s:.2f} s; "
            f"label {found.status.value}",
        ),
    ]
    state["stages"][STAGE] = now_ms()
    return StageOutput(forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, []))


def propagate_video_artifact(state: Record, policy: AVPolicy, store: BlobStore) -> StageOutput:
    """A REDISTRIBUTED video: checked, classified and re-recorded without re-encoding."""
    env = state["envelope"]
    with (
        store.open_file(BlobRef.from_record(env["blob"]), max_bytes=policy.max_bytes) as src,
        tempfile.TemporaryDirectory(prefix="synthguard-propagate-") as tmp,
    ):
        state["media_hashes"] = video_hashes(src)
        dst = Path(tmp) / f"{env['artifact_id']}.mp4"
        result = propagate_video(
            src,
            dst,
            propagator=policy.propagator_id,
            propagate_id=env["artifact_id"],
            keyring=policy.keyring,
            declared_ai=env["declared_ai"],
            notice=policy.notice,
            limits=policy.limits,
        )
        return file_propagation_output(
            state, policy.propagator_id, result, dst, store, LABELED_MIME, "video"
        )
