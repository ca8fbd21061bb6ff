"""The audio path after the Art. 9 gate, in one media-process job: fetch the claim check,
label what our provider generated (the cue where Art. 17 asks for it, the watermark and the
signed record always: Art. 16), verify the result (Art. 18) and store it; or, for audio a
platform spreads, verify, classify and re-record it without re-encoding (Measures Art. 6).

Audio is labeled whole, streaming from file to file: unlike video it encodes at hundreds of
times real time, so cutting it into segments would cost more than it saves.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from synthguard.blobs import BlobRef, BlobStore
from synthguard.imagepath import STAGE, file_propagation_output
from synthguard.labeling import (
    EXPLICIT_LABEL_KINDS,
    explicit_check,
    implicit_check,
    media_label,
    signature_check,
)
from synthguard.labels.audio import label_audio, propagate_audio, verify_audio
from synthguard.labels.audio_cue import END_CUE_MIN_S
from synthguard.labels.judge import require_intact
from synthguard.records import (
    Outcome,
    Record,
    StageOutput,
    Verdict,
    check,
    compliance_record,
    now_ms,
)
from synthguard.review.hashing import audio_hashes
from synthguard.videopath import AVPolicy
from synthguard.watermark.audio import CONFIRM_MIN_S

# Where each output family carries the record (GB 45438 placement; labels.audio).
RECORD_PLACE = {
    "mp3": "an ID3v2 TXXX:AIGC frame",
    "m4a": "the M4A metadata (moov/udta/meta keys)",
    "flac": "a Vorbis comment AIGC",
    "wav": "an AIGC RIFF chunk",
}


def label_audio_artifact(state: Record, policy: AVPolicy, store: BlobStore) -> StageOutput:
    """An admitted AUDIO artifact's state in; its labels, checks and verdict out. Bad media
    raises MediaError / BlobError, which the streams layer dead-letters with the reason."""
    env = state["envelope"]
    source = BlobRef.from_record(env["blob"])
    with (
        store.open_file(source, max_bytes=policy.max_bytes) as src,
        tempfile.TemporaryDirectory(prefix="synthguard-audio-") as tmp,
    ):
        state["media_hashes"] = audio_hashes(src)
        if env["origin"] == "REDISTRIBUTED":
            return _propagate(state, src, Path(tmp), policy, store)
        return _produce(state, src, Path(tmp), policy, store)


def _produce(
    state: Record, src: Path, work: Path, policy: AVPolicy, store: BlobStore
) -> StageOutput:
    env = state["envelope"]
    kind = env["service_kind"]
    explicit = kind in EXPLICIT_LABEL_KINDS
    dst = work / "labeled"
    labeled = label_audio(
        src,
        dst,
        produce_id=env["artifact_id"],
        producer=policy.producer_id,
        keyring=policy.keyring,
        cue=explicit,
        limits=policy.limits,
    )
    found = verify_audio(dst, policy.keyring, limits=policy.limits)
    # Art. 16: the signed record is the required implicit label (2025 Measures Art. 5: file
    # metadata; a watermark is encouraged). A short clip may hold too little evidence to confirm
    # the mark just embedded, so it is published on the record; from CONFIRM_MIN_S a mark not
    # found is a defect.
    confirmable = labeled.duration_s >= CONFIRM_MIN_S
    require_intact(found, "audio", watermark=confirmable)
    out = store.put_file(dst, mime=labeled.mime, name=f"{env['artifact_id']}.{labeled.format}")
    record = labeled.record
    state["label"] = media_label(
        record,
        explicit=explicit,
        notice="rhythm cue short-long-short-short (Morse AI)" if explicit else None,
        digest_hex=labeled.digest_hex,
        blob=out,
        watermark_id=labeled.watermark_id,
    )
    where = "start and end" if labeled.end_cue else "start"
    state["checks"] += [
        implicit_check(record, RECORD_PLACE[labeled.format]),
        check(
            "Art. 16",
            "label.watermark",
            STAGE,
            Outcome.APPLIED,
            f"inaudible watermark ID {labeled.watermark_id:016x} in the samples; "
            + (
                f"found again in {found.seconds_checked:.0f} s of the output"
                if found.watermark.found
                else f"not confirmed in {labeled.duration_s:.1f} s of audio (required from "
                f"{CONFIRM_MIN_S:g} s); the signed record labels the file"
            ),
        ),
        explicit_check(
            kind,
            f"rhythm cue short-long-short-short (Morse 'AI') at the {where} (GB 45438 5.3; the "
            f"end too from {END_CUE_MIN_S:g} s)"
            if explicit
            else None,
        ),
        signature_check(
            policy.keyring, f"the coded audio packets (sha256 {labeled.digest_hex[:16]}…)"
        ),
        check(
            "Art. 18",
            "label.verified",
            STAGE,
            Outcome.PASS,
            f"{labeled.format} {labeled.sample_rate} Hz x{labeled.channels}, "
            f"{labeled.duration_s:.2f} s; label {found.status.value}",
        ),
    ]
    state["stages"][STAGE] = now_ms()
    return StageOutput(forward=state, compliance=compliance_record(state, Verdict.PUBLISHABLE, []))


def _propagate(
    state: Record, src: Path, work: Path, policy: AVPolicy, store: BlobStore
) -> StageOutput:
    env = state["envelope"]
    dst = work / "spread"
    result = propagate_audio(
        src,
        dst,
        propagator=policy.propagator_id,
        propagate_id=env["artifact_id"],
        keyring=policy.keyring,
        declared_ai=env["declared_ai"],
        limits=policy.limits,
    )
    mime = BlobRef.from_record(env["blob"]).mime
    return file_propagation_output(state, policy.propagator_id, result, dst, store, mime, "audio")
